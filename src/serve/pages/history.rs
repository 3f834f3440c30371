//! The little history the status pages draw: per mirror its lag after each sweep and its
//! last state changes, and the latest upstream changes with how far each has spread. A
//! snapshot only knows the present, so [`History::record`] is fed every published snapshot
//! and keeps what the charts need, bounded: [`LAG_SAMPLES`] samples and [`STATE_CHANGES`]
//! changes per mirror, [`UPSTREAM_CHANGES`] upstream changes of [`SPREAD_POINTS`] points each.
//! It is saved beside the state file (see [`super::recorder`]) so a restart keeps the charts.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::freshness::Verdict;
use crate::health::State;
use crate::state::{MirrorSnapshot, Snapshot};

/// Lag samples kept per mirror: one per sweep (two hours at a 60 s interval).
pub const LAG_SAMPLES: usize = 120;
/// State changes kept per mirror.
pub const STATE_CHANGES: usize = 20;
/// Upstream changes kept, newest last.
pub const UPSTREAM_CHANGES: usize = 8;
/// Points of spread kept per upstream change.
pub const SPREAD_POINTS: usize = 60;
/// The spread of the changes kept is measured at most this often, seconds.
const SPREAD_EVERY: i64 = 10;
/// New versions of a repository's arches seen this close together are one change, seconds.
const SAME_CHANGE: u64 = 600;

/// Everything the charts need. The serde form is the history file's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct History {
    pub mirrors: BTreeMap<String, MirrorHistory>,
    /// The latest upstream changes, oldest first.
    pub changes: VecDeque<UpstreamChange>,
    /// The current upstream sha256 of each repository directory: a different one is a change.
    pub upstream: BTreeMap<String, String>,
    /// When the spread was last measured.
    pub spread_at: i64,
    /// Each recent upstream version's propagation, per directory (absent in files written
    /// before it was kept).
    pub propagation: crate::serve::propagation::Propagation,
}

/// One mirror's past.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MirrorHistory {
    /// After each sweep: when, and the largest lag of any repo in seconds (0: everything
    /// current), or `None` when no family answered. Oldest first.
    pub lag: VecDeque<LagSample>,
    /// Changes of the mirror's overall state, oldest first.
    pub states: VecDeque<StateChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LagSample {
    pub at: i64,
    pub lag: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub at: i64,
    pub from: State,
    pub to: State,
}

/// A new upstream version of one repository (its arches published together), and its
/// spread over time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamChange {
    pub version: String,
    pub repo: String,
    /// (arch, sha256 of its new repomd.xml), in the order upstream showed them.
    pub arches: Vec<(String, String)>,
    /// When upstream started serving it.
    pub at: i64,
    /// (when, share of the (mirror, arch) copies with a verdict that are current), oldest
    /// first.
    pub spread: VecDeque<(i64, f64)>,
}

impl UpstreamChange {
    /// The latest share of copies current, if measured.
    pub fn share(&self) -> Option<f64> {
        self.spread.back().map(|(_, share)| *share)
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, bound: usize) {
    queue.push_back(item);
    while queue.len() > bound {
        queue.pop_front();
    }
}

/// The newest sweep of any family of `mirror`.
fn last_sweep(mirror: &MirrorSnapshot) -> Option<i64> {
    mirror.families.iter().filter_map(|f| f.last_sweep).max()
}

/// The largest lag of any repo over the families that answered (0: all current); `None`
/// when none did.
pub fn lag_of(mirror: &MirrorSnapshot) -> Option<u64> {
    mirror
        .families
        .iter()
        .filter(|f| matches!(f.state, State::Up | State::Degraded))
        .map(|f| f.max_lag().unwrap_or(0))
        .max()
}

impl History {
    /// Folds in one published snapshot.
    pub fn record(&mut self, snapshot: &Snapshot) {
        let now = snapshot.generated_at;
        for mirror in &snapshot.mirrors {
            let past = self.mirrors.entry(mirror.name.clone()).or_default();
            if let Some(swept) = last_sweep(mirror) {
                if past.lag.back().is_none_or(|s| s.at < swept) {
                    let sample = LagSample {
                        at: swept,
                        lag: lag_of(mirror),
                    };
                    push_bounded(&mut past.lag, sample, LAG_SAMPLES);
                }
            }
            let last = past.states.back().map_or(State::Unknown, |c| c.to);
            if mirror.state != last {
                let change = StateChange {
                    at: now,
                    from: last,
                    to: mirror.state,
                };
                push_bounded(&mut past.states, change, STATE_CHANGES);
            }
        }
        // Mirrors removed from the configuration take their history (and their part of
        // the propagation) with them.
        let configured: std::collections::HashSet<&str> = snapshot
            .config
            .mirrors
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        self.mirrors
            .retain(|name, _| configured.contains(name.as_str()));

        let mut changed = false;
        for target in &snapshot.upstream {
            let Some(current) = &target.current else {
                continue;
            };
            let seen = self.upstream.get(&target.dir);
            if seen.is_some_and(|sha| *sha != current.sha256) {
                self.propagation.changed(target, current);
                let arch = (target.arch.clone(), current.sha256.clone());
                // The arches of one repository published together make one change.
                let same = self.changes.iter_mut().rev().find(|c| {
                    c.version == target.version
                        && c.repo == target.repo
                        && c.at.abs_diff(current.first_seen) <= SAME_CHANGE
                        && c.arches.iter().all(|(a, _)| *a != target.arch)
                });
                match same {
                    Some(change) => change.arches.push(arch),
                    None => {
                        let change = UpstreamChange {
                            version: target.version.clone(),
                            repo: target.repo.clone(),
                            arches: vec![arch],
                            at: current.first_seen,
                            spread: VecDeque::new(),
                        };
                        push_bounded(&mut self.changes, change, UPSTREAM_CHANGES);
                    }
                }
                changed = true;
            }
            if seen != Some(&current.sha256) {
                self.upstream
                    .insert(target.dir.clone(), current.sha256.clone());
            }
        }
        self.propagation.fold(snapshot, &configured);
        if changed || now - self.spread_at >= SPREAD_EVERY {
            self.spread_at = now;
            for change in &mut self.changes {
                if let Some(share) = share_current(snapshot, change) {
                    push_bounded(&mut change.spread, (now, share), SPREAD_POINTS);
                }
            }
        }
    }
}

/// The share of the (mirror, arch) copies of the change with a verdict (other than missing)
/// that are current in some family: `None` when none has one. Arches upstream has moved on
/// from since are left out (their share would measure the newer change).
fn share_current(snapshot: &Snapshot, change: &UpstreamChange) -> Option<f64> {
    let live: Vec<&str> = change
        .arches
        .iter()
        .filter(|(arch, sha)| {
            snapshot.upstream.iter().any(|t| {
                t.version == change.version
                    && t.repo == change.repo
                    && t.arch == *arch
                    && t.current.as_ref().is_some_and(|c| c.sha256 == *sha)
            })
        })
        .map(|(arch, _)| arch.as_str())
        .collect();
    let (mut judged, mut current) = (0u32, 0u32);
    for mirror in &snapshot.mirrors {
        for arch in &live {
            let verdicts: Vec<&Verdict> = mirror
                .families
                .iter()
                .filter_map(|f| f.verdict(&change.version, &change.repo, arch))
                .collect();
            if verdicts.iter().all(|v| matches!(v, Verdict::Missing)) {
                continue;
            }
            judged += 1;
            if verdicts.iter().any(|v| matches!(v, Verdict::Current)) {
                current += 1;
            }
        }
    }
    (judged > 0).then(|| f64::from(current) / f64::from(judged))
}
