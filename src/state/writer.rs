//! The single writer: the only code that changes state. It folds events (upstream polls,
//! sweeps, configuration reloads) into [`Records`] and builds the immutable [`Snapshot`].
//! Mirror snapshots are cached and rebuilt only when their mirror (or the upstream) changed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::records::Records;
use super::snapshot::{EngineStats, MirrorSnapshot, Snapshot, StateSave, TargetName};
use tokio::sync::oneshot;

use crate::config::{Config, IpFamily};
use crate::freshness::UpstreamHistory;
use crate::probe::upstream::{UpstreamReport, UpstreamResult};
use crate::probe::FailureReason;
use crate::probe::{FileResult, SweepReport, UpstreamDigests, UpstreamVersions, Validators};

mod build;
use crate::subnets::Published;

/// Something that changes state.
#[derive(Debug)]
pub enum Event {
    Upstream(Vec<UpstreamReport>),
    Sweep(Box<SweepReport>),
    /// A new configuration is in force.
    Config(Arc<Config>),
    /// A reload was attempted and failed; the old configuration stays.
    ReloadFailed,
    /// The subnet lists mirrors publish at a URL changed (a fetch ended).
    Subnets(Arc<Published>),
    /// A (mirror, family) task is starting: it asks for the conditional-GET validators the
    /// records hold for its files (`keys`, in plan order). The writer, which owns the
    /// records, answers, so that no second copy of them is kept and a task restarted by a
    /// reload starts from the latest sweep, not from the state loaded at start-up.
    Validators {
        mirror: String,
        family: IpFamily,
        keys: Vec<String>,
        reply: oneshot::Sender<Vec<Option<Validators>>>,
    },
    /// The upstream task is starting: it asks for the validators of the upstream's files,
    /// by key, for the same reasons.
    UpstreamValidators {
        reply: oneshot::Sender<HashMap<String, Validators>>,
    },
}

pub struct StateWriter {
    config: Arc<Config>,
    records: Records,
    stats: EngineStats,
    cache: HashMap<String, Arc<MirrorSnapshot>>,
    dirty: HashSet<String>,
    all_dirty: bool,
    /// When every mirror snapshot was last rebuilt: lags grow with time even when nothing
    /// happens, so everything is rebuilt at least every [`REFRESH_SECONDS`].
    last_full: i64,
    /// Readiness means the first sweep is done; a reload that adds a mirror does not undo it.
    was_ready: bool,
    /// The round in progress: when it started and which (mirror, family) have swept in it.
    /// A round ends when every enabled mirror has swept over every family: its length says
    /// whether probing keeps up with `probe.interval`.
    round_started: Option<i64>,
    round_swept: HashSet<(String, crate::config::IpFamily)>,
    empty_history: UpstreamHistory,
    /// Every target of the layout in force, in [`crate::config::Layout::targets`] order:
    /// its shared name (for verdicts) and its directory (the records' key).
    targets: Vec<(Arc<TargetName>, String)>,
    /// The published subnet lists, passed on to every snapshot; `subnets_changed` asks for
    /// a snapshot without rebuilding any mirror.
    subnets: Arc<Published>,
    subnets_changed: bool,
    /// A save ended since the last snapshot: its result is worth publishing.
    save_noted: bool,
    /// The upstream's versions as sweeps see them, kept in step with the records.
    digests: Arc<UpstreamDigests>,
}

/// The target table of `config` (see [`StateWriter`]'s `targets`).
fn target_table(config: &Config) -> Vec<(Arc<TargetName>, String)> {
    config
        .layout
        .targets()
        .map(|t| {
            let name = TargetName {
                version: t.version.name.clone(),
                repo: t.repo.name.clone(),
                arch: t.arch.as_str().to_string(),
            };
            (Arc::new(name), t.dir())
        })
        .collect()
}

/// How stale a lag figure in a published snapshot may be, at most.
pub const REFRESH_SECONDS: i64 = 15;

impl StateWriter {
    pub fn new(config: Arc<Config>, mut records: Records, now: i64) -> StateWriter {
        // Mirrors and repos removed from the configuration while the daemon was stopped.
        records.retain(&config);
        let stats = EngineStats {
            config_reload_ok: true,
            config_reload_at: Some(now),
            started_at: now,
            ..EngineStats::default()
        };
        let writer = StateWriter {
            targets: target_table(&config),
            config,
            records,
            stats,
            cache: HashMap::new(),
            dirty: HashSet::new(),
            all_dirty: true,
            last_full: now,
            was_ready: false,
            round_started: None,
            round_swept: HashSet::new(),
            empty_history: UpstreamHistory::new(std::num::NonZeroUsize::MIN),
            subnets: Arc::default(),
            subnets_changed: false,
            save_noted: false,
            digests: Arc::default(),
        };
        // Versions restored from the state file count before the first poll.
        writer.publish_digests();
        writer
    }

    pub fn records(&self) -> &Records {
        &self.records
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The validators of each upstream file whose current version is known, by key.
    /// What the upstream has shown, shared with the sweeps (see [`UpstreamDigests`]).
    pub fn upstream_digests(&self) -> Arc<UpstreamDigests> {
        self.digests.clone()
    }

    fn publish_digests(&self) {
        let digest = |hex: &str| {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex, &mut bytes).ok().map(|()| bytes)
        };
        let digests = self.records.upstream.iter().map(|(key, u)| {
            let versions = u.history.versions();
            let known = UpstreamVersions {
                sha256: versions.iter().filter_map(|v| digest(&v.sha256)).collect(),
                current_since: versions.last().map_or(0, |v| v.first_seen),
            };
            (key.clone(), known)
        });
        self.digests.set(digests.collect());
    }

    pub fn upstream_validators(&self) -> HashMap<String, Validators> {
        let records = self.records.upstream.iter();
        records
            .filter_map(|(key, u)| {
                let (etag, date) = (u.etag.as_deref(), u.last_modified.as_deref());
                let sha256 = &u.history.current()?.sha256;
                Some((key.clone(), Validators::new(etag, date, Some(sha256), true)))
            })
            .collect()
    }

    /// Record how a save of the state file ended (`at`, Unix time; `file_size` after a
    /// successful one). A failure keeps the last success's time and size.
    pub fn note_save(&mut self, ok: bool, at: i64, file_size: Option<u64>) {
        let last = self.stats.state_save.unwrap_or_default();
        self.stats.state_save = Some(StateSave {
            ok,
            last_success_at: if ok { Some(at) } else { last.last_success_at },
            file_size: if ok { file_size } else { last.file_size },
        });
        self.save_noted = true;
    }

    /// Whether a snapshot built at `now` would differ from the last one.
    pub fn is_dirty(&self, now: i64) -> bool {
        self.all_dirty
            || self.save_noted
            || self.subnets_changed
            || !self.dirty.is_empty()
            || now - self.last_full >= REFRESH_SECONDS
    }

    pub fn apply(&mut self, event: Event, now: i64) {
        match event {
            Event::Upstream(reports) => {
                let history = self.config.freshness.history;
                let history = history.try_into().unwrap_or(std::num::NonZeroUsize::MAX);
                let total = reports.len();
                let mut failed = 0;
                let mut versions_changed = false;
                for report in reports {
                    self.count_probe(match &report.result {
                        UpstreamResult::Failed { reason, .. } => Some(*reason),
                        _ => None,
                    });
                    if let UpstreamResult::Failed { reason, detail } = &report.result {
                        // One warning per poll, not one per file: an unreachable upstream
                        // fails every file at once.
                        if failed == 0 {
                            tracing::warn!(target_dir = %report.key, %reason, %detail, "upstream poll failed");
                        } else {
                            tracing::debug!(target_dir = %report.key, %reason, %detail, "upstream poll failed");
                        }
                        failed += 1;
                    }
                    if self.records.fold_upstream(report, history) {
                        self.all_dirty = true;
                        versions_changed = true;
                    }
                }
                if failed > 1 {
                    tracing::warn!(failed, total, "upstream files that could not be polled");
                }
                if versions_changed {
                    self.publish_digests();
                }
                // Upstream reachability shows in the snapshot even when nothing changed.
                self.all_dirty = true;
            }
            Event::Sweep(report) => {
                let report = *report;
                self.stats.sweeps += 1;
                for file in &report.files {
                    self.count_probe(match &file.result {
                        // Not probed at all.
                        FileResult::Skipped | FileResult::NotDue => continue,
                        FileResult::Failed { reason, .. } => Some(*reason),
                        FileResult::NotFound => Some(FailureReason::HttpStatus),
                        _ => None,
                    });
                }
                if let Some(failure) = report
                    .files
                    .is_empty()
                    .then_some(())
                    .and(report.failure.as_ref())
                {
                    self.count_probe(Some(failure.reason));
                }
                let (name, family) = (report.mirror.clone(), report.family);
                self.end_of_sweep(&name, family, report.started, now);
                if let Some(t) = self.records.fold_sweep(report, &self.config.health) {
                    tracing::info!(mirror = %name, family = family.as_str(), from = t.from.as_str(), to = t.to.as_str(), "mirror state changed");
                }
                self.dirty.insert(name);
            }
            Event::Config(config) => {
                self.records.retain(&config);
                self.publish_digests();
                self.targets = target_table(&config);
                self.config = config;
                self.stats.config_reload_ok = true;
                self.stats.config_reload_at = Some(now);
                self.cache.clear();
                self.all_dirty = true;
            }
            Event::Validators {
                mirror,
                family,
                keys,
                reply,
            } => {
                let validators = self.records.validators(&mirror, family, &keys);
                // The task may have been cancelled meanwhile: nobody to answer.
                let _ = reply.send(validators);
            }
            Event::UpstreamValidators { reply } => {
                let _ = reply.send(self.upstream_validators());
            }
            Event::ReloadFailed => {
                self.stats.config_reload_ok = false;
                self.all_dirty = true;
            }
            Event::Subnets(subnets) => {
                self.subnets = subnets;
                self.subnets_changed = true;
            }
        }
    }

    fn end_of_sweep(
        &mut self,
        mirror: &str,
        family: crate::config::IpFamily,
        started: i64,
        now: i64,
    ) {
        let round_start = *self.round_started.get_or_insert(started);
        self.round_swept.insert((mirror.to_string(), family));
        let families = &self.config.probe.ip_families;
        let complete = self.config.enabled_mirrors().all(|m| {
            families
                .iter()
                .all(|f| self.round_swept.contains(&(m.name.clone(), *f)))
        });
        if complete {
            self.stats.last_round_seconds = Some((now - round_start).max(0) as f64);
            self.round_started = None;
            self.round_swept.clear();
        }
    }

    fn count_probe(&mut self, failure: Option<FailureReason>) {
        *self.stats.probes.entry(failure).or_default() += 1;
    }

    /// Build the snapshot of `now`, reusing unchanged mirrors.
    pub fn snapshot(&mut self, now: i64) -> Arc<Snapshot> {
        if now - self.last_full >= REFRESH_SECONDS {
            self.all_dirty = true;
        }
        if self.all_dirty {
            self.last_full = now;
            // Copies replaced since the last full rebuild may have left values unused.
            self.records.purge_interned();
        }
        let config = self.config.clone();
        let mut mirrors = Vec::new();
        for mirror in config.enabled_mirrors() {
            let fresh = self.all_dirty || self.dirty.contains(&mirror.name);
            let cached = self.cache.get(&mirror.name).filter(|_| !fresh).cloned();
            let built = match cached {
                Some(m) => m,
                None => {
                    let m = Arc::new(self.build_mirror(mirror, now));
                    self.cache.insert(mirror.name.clone(), m.clone());
                    m
                }
            };
            mirrors.push(built);
        }
        self.dirty.clear();
        self.all_dirty = false;
        self.subnets_changed = false;
        self.save_noted = false;
        self.was_ready = self.was_ready || self.ready();
        Arc::new(Snapshot {
            generated_at: now,
            ready: self.was_ready,
            upstream: self.upstream_targets(now),
            mirrors,
            stats: self.stats.clone(),
            subnets: self.subnets.clone(),
            config,
        })
    }

    fn ready(&self) -> bool {
        let upstream_polled =
            !self.records.upstream.is_empty() && self.records.upstream.values().all(|u| u.polled);
        upstream_polled
            && self.config.enabled_mirrors().all(|m| {
                self.config.probe.ip_families.iter().all(|f| {
                    self.records
                        .mirrors
                        .get(&m.name)
                        .and_then(|r| r.families.get(f))
                        .is_some_and(|r| r.last_sweep.is_some())
                })
            })
    }
}
