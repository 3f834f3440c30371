//! How each upstream release spreads over the mirrors: for every new upstream version of a
//! (version, repo, arch), when upstream first showed it and when each mirror was first seen
//! serving it, and from that the time it took to reach 50, 90, 99 and 100 % of the mirrors
//! expected to carry it.
//!
//! The rules, all from published snapshots:
//! - A change is a new current upstream `repomd.xml` (by sha256) for a directory already
//!   known, as the status page history tells ([`Propagation::changed`]: it keeps each
//!   directory's current version); the first version ever seen is not a release. Its time is
//!   the version's
//!   `first_seen`, the upstream poll that saw it (at most one `freshness.upstream_interval`
//!   after upstream published it).
//! - A mirror *reached* a version at the start of the first sweep that saw it serve that
//!   version or a newer one: `current`, `behind` by versions that are newer than it, or
//!   `unknown` and newer than upstream. A copy that is incomplete has not reached it.
//! - The mirrors *expected* to carry it are those that answered for that directory (a
//!   verdict other than missing or a failed probe) in a sweep since the change. A mirror
//!   down the whole time is not expected: it would hold 100 % back forever for a reason the
//!   down alerts already give; it counts again from its first answer, not yet reached.
//! - The time to reach a share q is the time from the change to the moment the ⌈q × n⌉-th
//!   of the n expected mirrors reached it; `None` until that many have.
//!
//! Bounded: the latest [`CHANGES_KEPT`] changes. Kept in the status page history file, so a
//! restart keeps them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::freshness::{UpstreamVersion, Verdict};
use crate::state::{MirrorSnapshot, Snapshot, UpstreamTarget};

/// Upstream changes kept, all repositories together: a point release changes every
/// directory at once (136 for AlmaLinux), and the one before it should still be there.
pub const CHANGES_KEPT: usize = 256;

/// The shares of the expected mirrors reported.
pub const SHARES: [(f64, &str); 4] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99"), (1.0, "1")];

/// The changes kept and the current upstream version of each directory. Mirrors are
/// numbered (their names in `mirrors`), so that a change costs 12 bytes per mirror: at
/// AlmaLinux's 530 mirrors the 256 changes kept take at most 1.7 MB, at 10,000 about 31 MB.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Propagation {
    /// Oldest first.
    pub changes: VecDeque<Change>,
    /// Mirror names, by number.
    pub mirrors: Vec<String>,
    /// Per mirror number, the sum of its families' sweep times when last folded in, so each
    /// sweep is read once.
    pub folded: Vec<i64>,
    /// Name → number, rebuilt from `mirrors` when empty.
    #[serde(skip)]
    numbers: HashMap<String, u32>,
}

/// One new upstream version of one directory and who has it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Change {
    pub version: String,
    pub repo: String,
    pub arch: String,
    pub dir: String,
    pub sha256: String,
    /// When upstream first showed it (unix seconds).
    pub at: i64,
    /// The mirrors that answered for the directory since, by number, sorted: the expected
    /// ones.
    pub expected: Vec<u32>,
    /// (mirror number, seconds after `at` it was first seen serving it or something newer),
    /// sorted by number; every one of them is expected.
    pub reached: Vec<(u32, u32)>,
}

impl Change {
    /// Seconds from the change until ⌈share × expected⌉ mirrors had it; `None` until then.
    pub fn time_to(&self, share: f64) -> Option<i64> {
        let n = self.expected.len();
        if n == 0 {
            return None;
        }
        let need = ((share * n as f64).ceil() as usize).clamp(1, n);
        let mut times: Vec<u32> = self.reached.iter().map(|(_, s)| *s).collect();
        times.sort_unstable();
        times.get(need - 1).map(|s| i64::from(*s))
    }

    fn reached_by(&self, mirror: u32) -> Option<usize> {
        self.reached.binary_search_by_key(&mirror, |(m, _)| *m).ok()
    }

    /// The expected mirrors (numbers) that have not reached it yet.
    pub fn behind(&self) -> impl Iterator<Item = u32> + '_ {
        self.expected
            .iter()
            .copied()
            .filter(|m| self.reached_by(*m).is_none())
    }

    /// Mirror `m` answered at `swept`, and served it or something newer when `reached`.
    fn note(&mut self, m: u32, swept: i64, reached: bool) {
        if let Err(at) = self.expected.binary_search(&m) {
            self.expected.insert(at, m);
        }
        if !reached {
            return;
        }
        let after = u32::try_from((swept - self.at).max(0)).unwrap_or(u32::MAX);
        match self.reached.binary_search_by_key(&m, |(n, _)| *n) {
            Ok(i) => self.reached[i].1 = self.reached[i].1.min(after),
            Err(i) => self.reached.insert(i, (m, after)),
        }
    }

    /// Forgets mirror `m` (no longer configured).
    fn forget(&mut self, m: u32) {
        self.expected.retain(|n| *n != m);
        self.reached.retain(|(n, _)| *n != m);
    }
}

/// The latest change of one repository name (any version and arch), in brief: what the
/// metrics export.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub repo: String,
    pub at: i64,
    /// Seconds to reach each of [`SHARES`].
    pub times: [Option<i64>; 4],
    pub behind: usize,
}

impl Propagation {
    /// Per repository name, its latest change.
    pub fn latest_per_repo(&self) -> Vec<Latest> {
        let mut latest: BTreeMap<&str, &Change> = BTreeMap::new();
        for change in &self.changes {
            let slot = latest.entry(change.repo.as_str()).or_insert(change);
            if change.at >= slot.at {
                *slot = change;
            }
        }
        latest
            .into_values()
            .map(|c| Latest {
                repo: c.repo.clone(),
                at: c.at,
                times: SHARES.map(|(share, _)| c.time_to(share)),
                behind: c.behind().count(),
            })
            .collect()
    }

    /// When `name` was first seen serving each of the kept changes it reached, distinct
    /// and oldest first: the moments its content moved to a newer upstream version, as
    /// precise as its sweeps.
    pub fn syncs_of(&self, name: &str) -> Vec<i64> {
        let Some(m) = (0u32..)
            .zip(&self.mirrors)
            .find(|(_, n)| *n == name)
            .map(|(i, _)| i)
        else {
            return Vec::new();
        };
        let mut times: Vec<i64> = self
            .changes
            .iter()
            .filter_map(|c| c.reached_by(m).map(|i| c.at + i64::from(c.reached[i].1)))
            .collect();
        times.sort_unstable();
        times.dedup();
        times
    }

    /// The name of mirror number `m`.
    pub fn name(&self, m: u32) -> &str {
        self.mirrors.get(m as usize).map_or("", String::as_str)
    }

    /// The number of mirror `name`, given one if it has none.
    fn number(&mut self, name: &str) -> u32 {
        if self.numbers.is_empty() {
            self.numbers = (0u32..)
                .zip(&self.mirrors)
                .filter(|(_, n)| !n.is_empty())
                .map(|(i, n)| (n.clone(), i))
                .collect();
        }
        if let Some(m) = self.numbers.get(name) {
            return *m;
        }
        let m = u32::try_from(self.mirrors.len()).unwrap_or(u32::MAX);
        self.mirrors.push(name.to_string());
        self.folded.push(i64::MIN);
        self.numbers.insert(name.to_string(), m);
        m
    }

    /// `target`'s upstream moved to `current` (the history tells: it keeps each directory's
    /// current version).
    pub fn changed(&mut self, target: &UpstreamTarget, current: &UpstreamVersion) {
        if self.changes.len() >= CHANGES_KEPT {
            self.changes.pop_front();
        }
        self.changes.push_back(Change {
            version: target.version.clone(),
            repo: target.repo.clone(),
            arch: target.arch.clone(),
            dir: target.dir.clone(),
            sha256: current.sha256.clone(),
            at: current.first_seen,
            ..Change::default()
        });
    }

    /// Folds in the sweeps of one published snapshot not read yet; mirrors outside
    /// `configured` leave every change.
    pub fn fold(&mut self, snapshot: &Snapshot, configured: &HashSet<&str>) {
        self.forget_removed(configured);
        if self.changes.is_empty() {
            return;
        }
        let upstream: BTreeMap<&str, &UpstreamTarget> = snapshot
            .upstream
            .iter()
            .map(|t| (t.dir.as_str(), t))
            .collect();
        for mirror in &snapshot.mirrors {
            // Any family's new sweep changes the sum of their sweep times.
            let swept: i64 = mirror.families.iter().filter_map(|f| f.last_sweep).sum();
            let m = self.number(&mirror.name);
            let Some(folded) = self.folded.get_mut(m as usize) else {
                continue;
            };
            if swept == 0 || *folded == swept {
                continue;
            }
            *folded = swept;
            let found: Vec<(usize, i64, bool)> = (0..self.changes.len())
                .filter_map(|i| {
                    let target = upstream.get(self.changes[i].dir.as_str())?;
                    observe(&self.changes, i, target, mirror)
                })
                .collect();
            for (i, at, reached) in found {
                self.changes[i].note(m, at, reached);
            }
        }
    }

    /// Mirrors no longer configured leave every change (their numbers stay taken).
    fn forget_removed(&mut self, configured: &HashSet<&str>) {
        let live = self.mirrors.iter().filter(|n| !n.is_empty()).count();
        if live <= configured.len() {
            return;
        }
        let gone: Vec<u32> = (0u32..)
            .zip(&self.mirrors)
            .filter(|(_, n)| !n.is_empty() && !configured.contains(n.as_str()))
            .map(|(i, _)| i)
            .collect();
        for m in gone {
            for change in &mut self.changes {
                change.forget(m);
            }
            // An empty name marks a number no longer in use; a mirror added back gets a
            // new one.
            if let Some(n) = self.mirrors.get_mut(m as usize) {
                n.clear();
            }
        }
        self.numbers.clear();
    }
}

/// What `mirror`'s latest sweeps say of change `i`: `None` when no family answered for its
/// directory since the change; else the earliest such sweep that showed it reached (or the
/// latest answer, with `false`).
fn observe(
    changes: &VecDeque<Change>,
    i: usize,
    target: &UpstreamTarget,
    mirror: &MirrorSnapshot,
) -> Option<(usize, i64, bool)> {
    let change = &changes[i];
    let mut out: Option<(usize, i64, bool)> = None;
    for family in &mirror.families {
        let Some(swept) = family.last_sweep.filter(|s| *s >= change.at) else {
            continue;
        };
        let Some(verdict) = family.verdict(&change.version, &change.repo, &change.arch) else {
            continue;
        };
        if matches!(verdict, Verdict::Missing | Verdict::Error { .. }) {
            continue;
        }
        let reached = match serves(verdict, target) {
            Serves::CurrentOrNewer => true,
            // Reached when the version it serves came out with this change or later.
            Serves::Older(sha) => changes
                .iter()
                .any(|c| c.dir == change.dir && c.sha256 == sha && c.at >= change.at),
            Serves::Unknown => false,
        };
        out = Some(match out {
            Some((_, at, true)) if reached => (i, at.min(swept), true),
            Some(prev @ (_, _, true)) => prev,
            _ => (i, swept, reached),
        });
    }
    out
}

/// Which upstream version a copy serves, as far as the verdict tells.
enum Serves<'a> {
    CurrentOrNewer,
    /// An older upstream version, by sha256.
    Older(&'a str),
    Unknown,
}

fn serves<'a>(verdict: &Verdict, target: &'a UpstreamTarget) -> Serves<'a> {
    match verdict {
        Verdict::Current | Verdict::Unknown { newer: true, .. } => Serves::CurrentOrNewer,
        // `alternates` are the older versions, newest first: `k` back is index k - 1.
        Verdict::Behind {
            versions: Some(k),
            estimated: false,
            ..
        } => usize::try_from(k.get() - 1)
            .ok()
            .and_then(|i| target.alternates.get(i))
            .map_or(Serves::Unknown, |v| Serves::Older(v.sha256.as_str())),
        _ => Serves::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::config::IpFamily;
    use crate::freshness::{ErrorReason, UpstreamVersion};
    use crate::health::State;
    use crate::probe::FailureReason;
    use crate::state::{FamilySnapshot, RepoVerdict};

    const DIR: &str = "9.8/BaseOS/x86_64/os/";

    fn version(sha: &str, first_seen: i64) -> UpstreamVersion {
        UpstreamVersion {
            sha256: sha.repeat(64),
            sha512: None,
            sha1: None,
            md5: None,
            size: 1000,
            revision: None,
            timestamp: None,
            first_seen,
        }
    }

    fn mirror(name: &str, swept: i64, verdict: Verdict) -> Arc<MirrorSnapshot> {
        Arc::new(MirrorSnapshot {
            name: name.into(),
            state: State::Up,
            score: 90.0,
            families: vec![FamilySnapshot {
                family: IpFamily::Ipv4,
                state: State::Up,
                address: None,
                protocols: BTreeMap::new(),
                last_sweep: Some(swept),
                last_success: Some(swept),
                last_failure: None,
                phases: None,
                tls_not_after: None,
                time_file: None,
                success_ratio: None,
                latency_p50: None,
                latency_p90: None,
                latency_p99: None,
                repos: vec![RepoVerdict::new("9.8", "baseos", "x86_64", verdict)],
                log: Vec::new(),
            }],
        })
    }

    /// A snapshot at `now` whose upstream is at `current` (with `older` as alternates).
    fn snapshot(
        now: i64,
        current: UpstreamVersion,
        older: Vec<UpstreamVersion>,
        mirrors: Vec<Arc<MirrorSnapshot>>,
    ) -> Snapshot {
        let mut yaml = String::from(
            "upstream:\n  urls: [\"https://upstream.example.org/\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {\"9\": [x86_64]}\n  repos:\n    - {name: baseos, path: BaseOS/$basearch/os/}\nmirrors:\n",
        );
        for name in ["fast", "slow", "dead"] {
            yaml.push_str(&format!(
                "  - name: {name}\n    address: {{https: \"https://{name}.example.org/\"}}\n"
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mirrors.yaml");
        std::fs::write(&path, yaml).unwrap();
        let config = Arc::new(crate::config::load(&path).unwrap().config);
        let mut snap = Snapshot::empty(config, now);
        snap.upstream = vec![UpstreamTarget {
            version: "9.8".into(),
            repo: "baseos".into(),
            arch: "x86_64".into(),
            dir: DIR.into(),
            up: true,
            current: Some(current),
            alternates: older,
            versions_seen: 2,
            last_success: Some(now),
            last_error: None,
        }];
        snap.mirrors = mirrors;
        snap
    }

    fn down() -> Verdict {
        Verdict::Error {
            reason: ErrorReason::from(FailureReason::Connect),
        }
    }

    #[test]
    fn reach_times_count_only_mirrors_that_answered() {
        // Mirrors are numbered as first seen: fast 0, slow 1, dead 2.
        let names = |p: &Propagation, c: &Change| -> Vec<String> {
            c.behind().map(|m| p.name(m).to_string()).collect()
        };
        // Fed as the daemon feeds it: through the status page history.
        let mut h = crate::serve::pages::History::default();
        // The first version seen is not a change.
        h.record(&snapshot(100, version("a", 50), vec![], vec![]));
        assert!(h.propagation.changes.is_empty());
        // Version b appears at 1000; mirrors swept at 1010: one has it, one lags a
        // version, one is down.
        let b = || version("b", 1000);
        let a = || version("a", 50);
        h.record(&snapshot(
            1010,
            b(),
            vec![a()],
            vec![
                mirror("fast", 1010, Verdict::Current),
                mirror("slow", 1010, Verdict::behind(1, 10)),
                mirror("dead", 1010, down()),
            ],
        ));
        let c = &h.propagation.changes[0];
        assert_eq!((c.at, c.expected.len(), c.reached.len()), (1000, 2, 1));
        assert_eq!(c.time_to(0.5), Some(10));
        assert_eq!(c.time_to(1.0), None);
        assert_eq!(names(&h.propagation, c), ["slow"]);
        // The slow one syncs, seen at 1100; the dead one stays down and is not waited for.
        h.record(&snapshot(
            1100,
            b(),
            vec![a()],
            vec![
                mirror("fast", 1100, Verdict::Current),
                mirror("slow", 1100, Verdict::Current),
                mirror("dead", 1100, down()),
            ],
        ));
        let c = &h.propagation.changes[0];
        assert_eq!(
            c.reached[0],
            (0, 10),
            "fast: the first sweep that saw it counts"
        );
        assert_eq!(c.time_to(1.0), Some(100));
        assert_eq!(c.behind().count(), 0);
        // A mirror that skips straight to the next version reached this one too, and one
        // behind by a version that came out with this change or later has it.
        let c2 = version("c", 2000);
        h.record(&snapshot(
            2050,
            c2,
            vec![b(), a()],
            vec![
                mirror("fast", 2050, Verdict::behind(1, 50)),
                mirror("slow", 2050, Verdict::behind(2, 50)),
                mirror("dead", 2050, Verdict::Current),
            ],
        ));
        assert_eq!(h.propagation.changes.len(), 2);
        assert_eq!(h.propagation.changes[0].reached[2], (2, 1050), "dead");
        let c = &h.propagation.changes[1];
        assert_eq!(c.sha256, "c".repeat(64));
        assert_eq!(c.reached, [(2, 50)]);
        assert_eq!(names(&h.propagation, c), ["fast", "slow"]);
        // Kept through the history file's serde form.
        let text = serde_json::to_string(&h.propagation).unwrap();
        let back: Propagation = serde_json::from_str(&text).unwrap();
        assert_eq!(back.changes[1].reached, h.propagation.changes[1].reached);
        assert_eq!(back.latest_per_repo(), h.propagation.latest_per_repo());
    }
}
