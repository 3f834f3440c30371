//! Which files a sweep checks: those that may have changed, and a share of the others.
//!
//! A mirror's copy of a repository can only fall behind when the upstream publishes a new
//! version of it; otherwise it goes wrong only by breaking (down, rolled back, deleted,
//! corrupted). So each sweep of a (mirror, family) checks:
//!
//! - **every unsettled file**: one whose last check was not a good copy of the upstream's
//!   current version — never checked, failed, not found, skipped, data files missing, or a
//!   copy of anything but the current version while that version is younger than
//!   `freshness.stale_after` (a copy behind the current version for longer is stale either
//!   way, and waits for the rotation like a settled one);
//! - **its share of the rotation**: file `i` of the plan in sweep `k` when
//!   `i mod R = k mod R`, with `R = probe.rotation()` = ⌊`full_every` / `interval`⌋, so that
//!   every file is checked at least once per `full_every`, spread evenly;
//! - **at least one file**, so that reachability and latency are measured every interval.
//!
//! A task's first sweep checks every file: after a start or a reload the copies kept may be
//! old. A settled file not checked keeps its copy, verdict and the time it was checked
//! ([`super::FileResult::NotDue`]).
//!
//! A sample can be too small to say a mirror is down: one file may be missing or broken on
//! its own. So a sweep whose due files get no answer at all (no file fetched, not modified
//! or not found) fetches the others too, in the same sweep ([`super::sweep()`]), and is
//! failed or not on all of them, as before there were samples. A dead host costs no more:
//! after three timeouts or refused connections the rest are skipped.
//!
//! A settled file in its slot is *verified* ([`Due::Verify`]): a HEAD without conditional
//! headers, whose ETag (or, without one, Last-Modified) is compared with the one kept. The
//! same evidence a 304 gives, for a smaller request: a conditional GET carries the ETag
//! back to the server. When they differ, or the answer says nothing, the file is fetched
//! with a conditional GET as any other.
//!
//! Worst-case detection, from when the fault can be seen: a copy going current or stale
//! after an upstream change, one interval after the upstream poll saw the change (the
//! changed files are unsettled on every mirror that does not yet serve them); down, one
//! interval (every sweep checks a file); a rollback, deletion or corruption of a settled
//! copy, `full_every` (its rotation slot). `full_every` = `interval` checks every file in
//! every sweep.

use std::num::NonZeroU32;
use std::time::Duration;

use super::context::UpstreamDigests;
use super::plan::SweepPlan;
use super::report::{FileResult, SweepReport};
use super::validators::Validators;

/// What a sweep does with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Left for a later sweep.
    No,
    /// Settled and in its rotation slot: a HEAD, compared with the validators kept.
    Verify,
    /// A conditional GET.
    Fetch,
}

/// One (mirror, family) task's rotation: where it is, and which files must be checked again
/// whatever their slot.
#[derive(Debug)]
pub struct Rotation {
    slots: u64,
    sweeps: u64,
    /// `freshness.stale_after`: how long after an upstream change a copy not yet serving it
    /// is checked in every sweep.
    hot_for: Duration,
    /// Whether each file's last check was evidence of a copy (fetched or not modified):
    /// false for a failure, a 404, a skip, and before the first check.
    checked_ok: Vec<bool>,
}

impl Rotation {
    /// The rotation of a plan of `files` files over `slots` sweeps.
    pub fn new(files: usize, slots: NonZeroU32, hot_for: Duration) -> Rotation {
        Rotation {
            slots: u64::from(slots.get()),
            sweeps: 0,
            hot_for,
            checked_ok: vec![false; files],
        }
    }

    /// What the next sweep does with each file of `plan` (in plan order), given the
    /// validators kept (`previous`, in plan order), what the upstream has shown and the time
    /// (Unix seconds).
    pub fn next(
        &mut self,
        plan: &SweepPlan,
        previous: &[Option<Validators>],
        upstream: &UpstreamDigests,
        check_data_files: bool,
        now: i64,
    ) -> Vec<Due> {
        let sweep = self.sweeps;
        self.sweeps += 1;
        let n = plan.len();
        if sweep == 0 || self.slots == 1 {
            return vec![Due::Fetch; n];
        }
        let known = upstream.read();
        let hot_for = i64::try_from(self.hot_for.as_secs()).unwrap_or(i64::MAX);
        let settled = |i: usize| {
            let (Some(true), Some(Some(copy)), Some(key)) =
                (self.checked_ok.get(i), previous.get(i), plan.key(i))
            else {
                return false;
            };
            let Some(upstream) = known.get(key) else {
                return false;
            };
            let (Some(current), Some(mine)) = (upstream.current(), copy.sha256()) else {
                return false;
            };
            if mine != current {
                // Not (yet) serving the current version: checked every sweep until it
                // does, or until it has been behind long enough to be stale anyway.
                return now.saturating_sub(upstream.current_since) >= hot_for;
            }
            copy.complete() || !check_data_files
        };
        let slot = sweep % self.slots;
        let mut due: Vec<Due> = (0..n)
            .map(|i| match (settled(i), (i as u64) % self.slots == slot) {
                (false, _) => Due::Fetch,
                (true, true) => Due::Verify,
                (true, false) => Due::No,
            })
            .collect();
        if n > 0 && due.iter().all(|d| *d == Due::No) {
            // More slots than files: one file still measures reachability and latency.
            if let Some(d) = due.get_mut(usize::try_from(sweep % n as u64).unwrap_or(0)) {
                *d = Due::Verify;
            }
        }
        due
    }

    /// Take in what a sweep found (its files in plan order).
    pub fn note(&mut self, report: &SweepReport) {
        for (ok, file) in self.checked_ok.iter_mut().zip(&report.files) {
            match file.result {
                FileResult::Fetched { .. } | FileResult::NotModified => *ok = true,
                FileResult::NotDue => {}
                FileResult::NotFound | FileResult::Failed { .. } | FileResult::Skipped => {
                    *ok = false
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::config::{Config, IpFamily};
    use crate::probe::context::UpstreamVersions;
    use crate::probe::report::FileReport;
    use crate::probe::validators::Next;
    use crate::scheduler::Planner;

    const NOW: i64 = 1_800_000_000;
    const DAY: Duration = Duration::from_secs(86_400);

    /// One mirror of 3 repos × 4 arches: 12 files.
    fn plan() -> SweepPlan {
        let yaml = "upstream:\n  urls: [\"https://upstream.example.org/\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {\"9\": [x86_64, aarch64, ppc64le, s390x]}\n  repos:\n    - {name: a, path: A/$basearch/os/}\n    - {name: b, path: B/$basearch/os/}\n    - {name: c, path: C/$basearch/os/}\nmirrors:\n  - {name: m, address: {https: \"https://m.example.org/\"}}\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mirrors.yaml");
        std::fs::write(&path, yaml).unwrap();
        let config: Arc<Config> = Arc::new(crate::config::load(&path).unwrap().config);
        let mirror = &config.mirrors[0];
        Planner::new(config.clone())
            .plan(mirror, IpFamily::Ipv4)
            .unwrap()
    }

    fn sha(n: u8) -> [u8; 32] {
        [n; 32]
    }

    /// Every file's upstream at version `n`, current since `since`.
    fn upstream(plan: &SweepPlan, n: u8, since: i64) -> UpstreamDigests {
        let digests = UpstreamDigests::default();
        digests.set(
            plan.keys()
                .map(|k| {
                    let known = UpstreamVersions {
                        sha256: vec![sha(1), sha(n)],
                        current_since: since,
                    };
                    (k.to_string(), known)
                })
                .collect::<HashMap<_, _>>(),
        );
        digests
    }

    /// Copies of version `n`, data files all found.
    fn copies(plan: &SweepPlan, n: u8) -> Vec<Option<Validators>> {
        let hex = hex::encode(sha(n));
        (0..plan.len())
            .map(|_| Some(Validators::new(Some("\"e\""), None, Some(&hex), true)))
            .collect()
    }

    /// A report of `plan` with `result` for each file due.
    fn report(plan: &SweepPlan, due: &[Due], result: impl Fn(usize) -> FileResult) -> SweepReport {
        let mut report = SweepReport::new(plan, NOW);
        report.files = (0..plan.len())
            .map(|i| FileReport {
                key: plan.key(i).unwrap().to_string(),
                result: if due[i] == Due::No {
                    FileResult::NotDue
                } else {
                    result(i)
                },
                next: Next::Kept,
            })
            .collect();
        report
    }

    fn indices(due: &[Due]) -> Vec<usize> {
        (0..due.len()).filter(|&i| due[i] != Due::No).collect()
    }

    #[test]
    fn settled_files_are_each_checked_once_per_rotation() {
        let plan = plan();
        assert_eq!(plan.len(), 12);
        let (previous, upstream) = (copies(&plan, 2), upstream(&plan, 2, NOW - 60));
        let mut rotation = Rotation::new(plan.len(), NonZeroU32::new(4).unwrap(), DAY);
        let first = rotation.next(&plan, &previous, &upstream, true, NOW);
        assert_eq!(first, vec![Due::Fetch; 12], "the first sweep fetches all");
        rotation.note(&report(&plan, &first, |_| FileResult::NotModified));
        let mut seen = vec![0; 12];
        for sweep in 0..8 {
            let due = rotation.next(&plan, &previous, &upstream, true, NOW);
            assert_eq!(indices(&due).len(), 3, "sweep {sweep}: {due:?}");
            // Settled: verified, not fetched.
            assert!(due.iter().all(|d| *d != Due::Fetch), "{due:?}");
            for i in indices(&due) {
                seen[i] += 1;
            }
            rotation.note(&report(&plan, &due, |_| FileResult::NotModified));
        }
        assert_eq!(seen, vec![2; 12], "every file twice in two rotations");
    }

    #[test]
    fn changed_failed_and_incomplete_files_are_checked_every_sweep() {
        let plan = plan();
        let mut previous = copies(&plan, 2);
        let mut rotation = Rotation::new(plan.len(), NonZeroU32::new(4).unwrap(), DAY);
        let first = rotation.next(&plan, &previous, &upstream(&plan, 2, NOW), true, NOW);
        // File 5 is not found, file 6 failed.
        rotation.note(&report(&plan, &first, |i| match i {
            5 => FileResult::NotFound,
            6 => FileResult::Failed {
                reason: crate::probe::FailureReason::Timeout,
                detail: String::new(),
            },
            _ => FileResult::NotModified,
        }));
        // The upstream publishes version 3 of everything: each copy of 2 is due until it is
        // seen at 3, for as long as version 3 is younger than the window.
        let changed = upstream(&plan, 3, NOW);
        for _ in 0..4 {
            let due = rotation.next(&plan, &previous, &changed, true, NOW + 60);
            assert_eq!(indices(&due).len(), 12);
        }
        // Files 0..4 are now seen at version 3, and file 7, with data files missing; the
        // rest stay behind.
        for copy in previous.iter_mut().take(4) {
            *copy = Some(Validators::new(
                None,
                None,
                Some(&hex::encode(sha(3))),
                true,
            ));
        }
        previous[7] = Some(Validators::new(
            None,
            None,
            Some(&hex::encode(sha(3))),
            false,
        ));
        let due = rotation.next(&plan, &previous, &changed, true, NOW + 120);
        assert!(
            indices(&due).ends_with(&[4, 5, 6, 7, 8, 9, 10, 11]),
            "{due:?}"
        );
        // A day on, a copy still behind is stale whatever is checked: it waits for its
        // slot. The failed, missing and incomplete ones are still checked every sweep.
        let later = NOW + DAY.as_secs() as i64;
        let due = rotation.next(&plan, &previous, &changed, true, later);
        let rotation_only: Vec<usize> = indices(&due)
            .into_iter()
            .filter(|i| ![5, 6, 7].contains(i))
            .collect();
        assert!(rotation_only.len() <= 3, "{due:?}");
        let fetch = |i: usize| due[i] == Due::Fetch;
        assert!(fetch(5) && fetch(6) && fetch(7), "{due:?}");
        // Without data-file checks, an incomplete copy is settled.
        let due = rotation.next(&plan, &previous, &changed, false, later);
        assert!(
            due[5] == Due::Fetch
                && due[6] == Due::Fetch
                && due[7] != Due::Fetch
                && indices(&due).len() <= 5,
            "{due:?}"
        );
    }

    #[test]
    fn a_sweep_checks_one_file_at_least_and_nothing_is_settled_without_an_upstream() {
        let plan = plan();
        let previous = copies(&plan, 2);
        let mut rotation = Rotation::new(plan.len(), NonZeroU32::new(100).unwrap(), DAY);
        let known = upstream(&plan, 2, NOW);
        let first = rotation.next(&plan, &previous, &known, true, NOW);
        rotation.note(&report(&plan, &first, |_| FileResult::NotModified));
        for _ in 0..30 {
            let due = rotation.next(&plan, &previous, &known, true, NOW);
            assert_eq!(indices(&due).len(), 1, "{due:?}");
        }
        let none = UpstreamDigests::default();
        let due = rotation.next(&plan, &previous, &none, true, NOW);
        assert_eq!(indices(&due).len(), 12);
        // One slot: every file in every sweep, as before the planner.
        let mut every = Rotation::new(plan.len(), NonZeroU32::new(1).unwrap(), DAY);
        every.note(&report(&plan, &first, |_| FileResult::NotModified));
        for _ in 0..3 {
            assert_eq!(
                indices(&every.next(&plan, &previous, &known, true, NOW)).len(),
                12
            );
        }
    }
}
