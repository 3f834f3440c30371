//! A mirror's declared sync schedule (`update_frequency`) against its lag: a mirror is
//! *behind schedule* when the largest lag of any repository copy, over any IP family,
//! exceeds twice the declared frequency plus one upstream poll.
//!
//! Why that margin: a mirror that syncs every F lags by up to F (plus its sync's own
//! duration) just before each sync, and mirrorwatch dates an upstream release up to one
//! `freshness.upstream_interval` late. Twice F leaves a whole missed sync of room before
//! the flag, so a mirror that keeps its word is never flagged and one that silently syncs
//! at half its declared pace, or stopped, is flagged within about one more period.
//!
//! Only lags count: a mirror that cannot be reached has no lag to judge (its down alerts
//! say so), and a mirror that declares no frequency has no schedule.

use std::time::Duration;

use serde::Serialize;

use crate::config::Mirror;
use crate::state::MirrorSnapshot;

/// A declared schedule and how the mirror keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// `update_frequency`, seconds.
    pub declared_seconds: u64,
    /// The largest lag allowed: 2 × declared + one upstream poll.
    pub allowed_lag_seconds: u64,
    /// The largest lag of any copy over any family; `None` when no copy has one.
    pub max_lag_seconds: Option<u64>,
    pub behind: bool,
}

/// `mirror`'s schedule, judged on `status`; `None` when it declares none.
pub fn schedule(
    mirror: &Mirror,
    status: Option<&MirrorSnapshot>,
    upstream_interval: Duration,
) -> Option<Schedule> {
    let declared = mirror.update_frequency?.as_secs();
    let allowed = declared
        .saturating_mul(2)
        .saturating_add(upstream_interval.as_secs());
    let max_lag = status
        .into_iter()
        .flat_map(|s| &s.families)
        .filter_map(|f| f.max_lag())
        .max();
    Some(Schedule {
        declared_seconds: declared,
        allowed_lag_seconds: allowed,
        max_lag_seconds: max_lag,
        behind: max_lag.is_some_and(|lag| lag > allowed),
    })
}
