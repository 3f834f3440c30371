//! The immutable picture every reader uses: metrics, the JSON API, the mirror list and
//! `mirrorwatch check`. Built by the state writer, shared as `Arc<Snapshot>`, never mutated.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, IpFamily, Protocol};
use crate::freshness::{UpstreamVersion, Verdict, VerdictKind};
use crate::health::State;
use crate::probe::FailureReason;

use super::records::{FailureNote, LogEntry, Phases};
use crate::subnets::Published;

/// Everything known at `generated_at`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub generated_at: i64,
    pub config: Arc<Config>,
    /// Every enabled mirror has been swept at least once over every family.
    pub ready: bool,
    pub upstream: Vec<UpstreamTarget>,
    pub mirrors: Vec<Arc<MirrorSnapshot>>,
    pub stats: EngineStats,
    /// The subnet lists mirrors publish at a URL, as last fetched.
    pub subnets: Arc<Published>,
}

impl Snapshot {
    /// The snapshot before anything has been probed.
    pub fn empty(config: Arc<Config>, now: i64) -> Snapshot {
        Snapshot {
            generated_at: now,
            config,
            ready: false,
            upstream: Vec::new(),
            mirrors: Vec::new(),
            // The configuration in force loaded fine, or the daemon would not be running.
            stats: EngineStats {
                config_reload_ok: true,
                config_reload_at: Some(now),
                started_at: now,
                ..EngineStats::default()
            },
            subnets: Arc::default(),
        }
    }

    pub fn mirror(&self, name: &str) -> Option<&MirrorSnapshot> {
        self.mirrors
            .iter()
            .map(AsRef::as_ref)
            .find(|m| m.name == name)
    }

    /// Whether every target of the upstream answered its last poll.
    pub fn upstream_up(&self) -> bool {
        !self.upstream.is_empty() && self.upstream.iter().all(|u| u.up)
    }
}

/// One upstream (version, repo, arch).
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamTarget {
    pub version: String,
    pub repo: String,
    pub arch: String,
    /// `9.8/BaseOS/x86_64/os/`
    pub dir: String,
    /// The last poll succeeded.
    pub up: bool,
    pub current: Option<UpstreamVersion>,
    /// Older versions still inside `serve.max_lag` (replaced less than that long ago), newest
    /// first: a metalink lists them as alternates, so a mirror that far behind is accepted.
    pub alternates: Vec<UpstreamVersion>,
    /// Distinct versions remembered (the current one included).
    pub versions_seen: usize,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
}

/// One mirror: its overall state and one entry per probed IP family.
#[derive(Debug, Clone, Serialize)]
pub struct MirrorSnapshot {
    pub name: String,
    pub state: State,
    /// 0–100, see [`crate::health::score`].
    pub score: f64,
    pub families: Vec<FamilySnapshot>,
}

impl MirrorSnapshot {
    pub fn family(&self, family: IpFamily) -> Option<&FamilySnapshot> {
        self.families.iter().find(|f| f.family == family)
    }
}

/// One (mirror, family).
#[derive(Debug, Clone, Serialize)]
pub struct FamilySnapshot {
    pub family: IpFamily,
    pub state: State,
    /// The address probed (the first the resolver gave).
    pub address: Option<IpAddr>,
    /// Whether each configured protocol answered in the last sweep.
    pub protocols: BTreeMap<Protocol, bool>,
    pub last_sweep: Option<i64>,
    pub last_success: Option<i64>,
    pub last_failure: Option<FailureNote>,
    pub phases: Option<Phases>,
    pub tls_not_after: Option<i64>,
    /// The epoch in the mirror's `TIME` file (when `probe.time_file` is on).
    pub time_file: Option<i64>,
    pub success_ratio: Option<f64>,
    /// Sweep latency quantiles over the health window, seconds.
    pub latency_p50: Option<f64>,
    pub latency_p90: Option<f64>,
    pub latency_p99: Option<f64>,
    /// One verdict per expected (version, repo, arch), in layout order.
    pub repos: Vec<RepoVerdict>,
    /// The last sweeps, newest last.
    pub log: Vec<LogEntry>,
}

impl FamilySnapshot {
    /// Counts by verdict kind, every kind present.
    pub fn counts(&self) -> BTreeMap<VerdictKind, u32> {
        let mut counts: BTreeMap<VerdictKind, u32> =
            VerdictKind::ALL.iter().map(|v| (*v, 0)).collect();
        for repo in &self.repos {
            *counts.entry(repo.verdict.kind()).or_default() += 1;
        }
        counts
    }

    /// Repos whose lag exceeds `stale_after`.
    pub fn stale(&self, stale_after: Duration) -> u32 {
        let n = self
            .repos
            .iter()
            .filter(|r| r.verdict.is_stale(stale_after))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The largest lag of any repo, seconds.
    pub fn max_lag(&self) -> Option<u64> {
        self.repos
            .iter()
            .filter_map(|r| r.verdict.lag_seconds())
            .max()
    }

    /// The verdicts of every arch of (version, repo), in layout order.
    pub fn arch_verdicts<'a>(
        &'a self,
        version: &'a str,
        repo: &'a str,
    ) -> impl Iterator<Item = &'a Verdict> + 'a {
        self.repos
            .iter()
            .filter(move |r| r.version() == version && r.repo() == repo)
            .map(|r| &r.verdict)
    }

    pub fn verdict(&self, version: &str, repo: &str, arch: &str) -> Option<&Verdict> {
        self.repos
            .iter()
            .find(|r| r.version() == version && r.repo() == repo && r.arch() == arch)
            .map(|r| &r.verdict)
    }
}

/// One (version, repo, arch) of the layout in force. The state writer makes one per target
/// when a configuration comes into force and every verdict about that target shares it, so a
/// verdict costs a pointer for its names instead of three strings.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TargetName {
    pub version: String,
    pub repo: String,
    pub arch: String,
}

/// The verdict for one (version, repo, arch) of one (mirror, family). Serialized as
/// `{"version": …, "repo": …, "arch": …, "verdict": {…}, "checked_at": …}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoVerdict {
    target: Arc<TargetName>,
    pub verdict: Verdict,
    /// When the copy the verdict is about was last checked (Unix seconds; 0: never). A sweep
    /// need not check every file ([`crate::probe::due`]): this is the verdict's evidence's
    /// age.
    pub checked_at: i64,
}

// Two snapshots can be alive at once, each with one of these per (mirror, family, target).
const _: () = assert!(std::mem::size_of::<RepoVerdict>() == 40);

impl RepoVerdict {
    /// A verdict about a shared target name (what the state writer builds).
    pub fn for_target(target: Arc<TargetName>, verdict: Verdict, checked_at: i64) -> RepoVerdict {
        RepoVerdict {
            target,
            verdict,
            checked_at,
        }
    }

    /// A verdict with its own copy of the names (for snapshots built by hand).
    pub fn new(
        version: impl Into<String>,
        repo: impl Into<String>,
        arch: impl Into<String>,
        verdict: Verdict,
    ) -> RepoVerdict {
        RepoVerdict {
            target: Arc::new(TargetName {
                version: version.into(),
                repo: repo.into(),
                arch: arch.into(),
            }),
            verdict,
            checked_at: 0,
        }
    }

    pub fn version(&self) -> &str {
        &self.target.version
    }

    pub fn repo(&self) -> &str {
        &self.target.repo
    }

    pub fn arch(&self) -> &str {
        &self.target.arch
    }

    pub fn target(&self) -> &Arc<TargetName> {
        &self.target
    }
}

impl Serialize for RepoVerdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("RepoVerdict", 5)?;
        s.serialize_field("version", self.version())?;
        s.serialize_field("repo", self.repo())?;
        s.serialize_field("arch", self.arch())?;
        s.serialize_field("verdict", &self.verdict)?;
        s.serialize_field(
            "checked_at",
            &(self.checked_at > 0).then_some(self.checked_at),
        )?;
        s.end()
    }
}

/// Counters about the engine itself.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineStats {
    /// Fetches by failure reason; `None` counts the successes.
    pub probes: BTreeMap<Option<FailureReason>, u64>,
    pub sweeps: u64,
    /// Duration of the last complete round over all mirrors, seconds.
    pub last_round_seconds: Option<f64>,
    pub config_reload_ok: bool,
    pub config_reload_at: Option<i64>,
    pub started_at: i64,
    /// The state file's saves; `None` without a state file, or before the first save.
    pub state_save: Option<StateSave>,
}

/// How saving the state file went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StateSave {
    /// Whether the last save succeeded. A failed one leaves the previous file intact.
    pub ok: bool,
    /// When a save last succeeded, Unix time.
    pub last_success_at: Option<i64>,
    /// The file's size after that save, bytes.
    pub file_size: Option<u64>,
}
