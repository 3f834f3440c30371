//! The parts of a snapshot built from the records: each upstream target and each mirror
//! (its families, verdicts and score). Verdicts are derived here, at snapshot time, because
//! an upstream change alters every mirror's verdict.

use std::collections::HashSet;

use super::super::snapshot::{FamilySnapshot, MirrorSnapshot, RepoVerdict, UpstreamTarget};
use super::StateWriter;
use crate::config::Mirror;
use crate::freshness::{verdict, ErrorReason, UpstreamHistory};
use crate::health::score;

impl StateWriter {
    /// What the snapshot says of each upstream file: its current version, the alternates still
    /// inside `serve.max_lag`, and whether the upstream answers.
    pub(super) fn upstream_targets(&self, now: i64) -> Vec<UpstreamTarget> {
        let max_lag = i64::try_from(self.config.serve.max_lag.as_secs()).unwrap_or(i64::MAX);
        let layout = &self.config.layout;
        let mut seen = HashSet::new();
        layout
            .targets()
            .filter(|t| seen.insert(t.dir()))
            .map(|t| {
                let dir = t.dir();
                let record = self.records.upstream.get(&dir);
                let history = record.map(|r| &r.history);
                UpstreamTarget {
                    version: t.version.name.clone(),
                    repo: t.repo.name.clone(),
                    arch: t.arch.as_str().to_string(),
                    up: history.is_some_and(UpstreamHistory::upstream_up),
                    current: history.and_then(|h| h.current().cloned()),
                    alternates: history.map_or_else(Vec::new, |h| {
                        // versions() is oldest first: each version was replaced when the
                        // next one was first seen.
                        let v = h.versions();
                        let mut out: Vec<_> = v
                            .windows(2)
                            .filter(|w| now.saturating_sub(w[1].first_seen) <= max_lag)
                            .map(|w| w[0].clone())
                            .collect();
                        out.reverse();
                        out
                    }),
                    versions_seen: history.map_or(0, |h| h.versions().len()),
                    last_success: history.and_then(UpstreamHistory::last_success),
                    last_error: history.and_then(|h| h.last_error().map(str::to_string)),
                    dir,
                }
            })
            .collect()
    }

    /// One mirror's snapshot: per family its health, phases and every repo's verdict.
    pub(super) fn build_mirror(&self, mirror: &Mirror, now: i64) -> MirrorSnapshot {
        let record = self.records.mirrors.get(&mirror.name);
        let window = self.config.health.window;
        let mut families = Vec::with_capacity(self.config.probe.ip_families.len());
        for &family in &self.config.probe.ip_families {
            let Some(record) = record else { break };
            let (Some(fr), Some(health)) =
                (record.families.get(&family), record.health.family(family))
            else {
                continue;
            };
            if fr.absent {
                continue;
            }
            let layout = &self.config.layout;
            // Sized exactly: a filtered iterator would grow the vector by doubling, and the
            // slack (up to half of it) would stay for the life of the snapshot.
            let mut repos = Vec::with_capacity(layout.targets_for(mirror).count());
            repos.extend(layout.indexed_targets_for(mirror).filter_map(|(index, _)| {
                let (name, dir) = self.targets.get(index)?;
                let history = self
                    .records
                    .upstream
                    .get(dir)
                    .map_or(&self.empty_history, |u| &u.history);
                let copy = fr.copies.get(dir);
                let judged = match copy {
                    Some(copy) => verdict(history, &copy.as_copy(), now),
                    // Never fetched: the sweep itself failed (DNS, connect) or has not run.
                    None => crate::freshness::Verdict::Error {
                        reason: fr
                            .last_failure
                            .as_ref()
                            .map_or(ErrorReason::NotFetchedYet, |n| n.reason.into()),
                    },
                };
                let checked_at = copy.map_or(0, |c| c.at);
                Some(RepoVerdict::for_target(name.clone(), judged, checked_at))
            }));
            let q = |q: f64| {
                health
                    .latency_quantile(q, now, window)
                    .map(|d| d.as_secs_f64())
            };
            families.push(FamilySnapshot {
                family,
                state: health.state(),
                address: fr.address,
                protocols: fr.protocols.clone(),
                last_sweep: fr.last_sweep,
                last_success: health.last_success(),
                last_failure: fr.last_failure.clone(),
                phases: fr.phases,
                tls_not_after: fr.tls_not_after,
                time_file: fr.time_file,
                success_ratio: health.success_ratio(now, window),
                latency_p50: q(0.5),
                latency_p90: q(0.9),
                latency_p99: q(0.99),
                repos,
                log: fr.log.iter().cloned().collect(),
            });
        }
        let state = record.map(|r| r.health.overall()).unwrap_or_default();
        let stale_after = self.config.freshness.stale_after;
        let best = families.iter().map(|f| {
            let p50 = f.latency_p50.map(std::time::Duration::from_secs_f64);
            score(f.max_lag(), stale_after, f.success_ratio, p50)
        });
        MirrorSnapshot {
            name: mirror.name.clone(),
            state,
            score: best.fold(0.0, f64::max),
            families,
        }
    }
}
