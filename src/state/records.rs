//! What the state writer remembers between sweeps (and across restarts, in the state file):
//! upstream histories, and per mirror and family the health and the last copy of each file.
//! Folding a report into the records is pure; verdicts are derived later, at snapshot time,
//! because an upstream change alters every mirror's verdict without any new mirror report.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::snapshot::{FailureNote, Phases};
use crate::config::settings::HealthSettings;
use crate::config::{IpFamily, Protocol};
use crate::freshness::{MirrorCopy, UpstreamHistory};
use crate::health::{MirrorHealth, SweepResult};
use crate::probe::sweep::{FileResult, Previous, SweepReport};
use crate::probe::upstream::{UpstreamReport, UpstreamResult};

/// Everything persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Records {
    /// By target key (`9.8/BaseOS/x86_64/os/`).
    pub upstream: BTreeMap<String, UpstreamRecord>,
    pub mirrors: BTreeMap<String, MirrorRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamRecord {
    pub history: UpstreamHistory,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub polled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MirrorRecord {
    pub health: MirrorHealth,
    pub families: BTreeMap<IpFamily, FamilyRecord>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FamilyRecord {
    /// No address in this family: nothing to judge.
    pub absent: bool,
    pub last_sweep: Option<i64>,
    pub address: Option<IpAddr>,
    pub protocols: BTreeMap<Protocol, bool>,
    pub phases: Option<Phases>,
    pub tls_not_after: Option<i64>,
    pub last_failure: Option<FailureNote>,
    /// The epoch of the mirror's `TIME` file at the last sweep that read it.
    pub time_file: Option<i64>,
    /// The last sweeps, newest last (at most [`LOG_LENGTH`]).
    pub log: std::collections::VecDeque<LogEntry>,
    pub copies: BTreeMap<String, CopyRecord>,
}

/// Sweeps remembered per (mirror, family) for the API's probe log.
pub const LOG_LENGTH: usize = 20;

/// One sweep, in brief: what a mirror admin needs to see why the mirror is in or out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogEntry {
    pub at: i64,
    pub duration_seconds: f64,
    /// `ok`, `partial`, `failed` or `absent`.
    pub result: String,
    pub files_ok: u32,
    pub files_failed: u32,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// The last thing seen of one file on one mirror.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CopyRecord {
    pub seen: Seen,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Seen {
    Fetched {
        sha256: String,
        timestamp: Option<i64>,
        /// `None`: the data files were not checked.
        missing: Option<Vec<String>>,
    },
    NotFound,
    Failed {
        reason: String,
        detail: String,
    },
}

impl CopyRecord {
    /// What the freshness module judges.
    pub fn as_copy(&self) -> MirrorCopy {
        match &self.seen {
            Seen::Fetched {
                sha256,
                timestamp,
                missing,
            } => MirrorCopy::Fetched {
                sha256: sha256.clone(),
                timestamp: *timestamp,
                data_files_ok: missing.as_ref().map(Vec::is_empty),
                missing_files: missing.clone().unwrap_or_default(),
            },
            Seen::NotFound => MirrorCopy::NotFound,
            Seen::Failed { reason, .. } => MirrorCopy::Failed {
                reason: reason.clone(),
            },
        }
    }

    /// Validators and hash for the next conditional GET.
    pub fn previous(&self) -> Previous {
        let (sha256, complete) = match &self.seen {
            Seen::Fetched {
                sha256, missing, ..
            } => (
                Some(sha256.clone()),
                missing.as_ref().is_some_and(Vec::is_empty),
            ),
            _ => (None, false),
        };
        Previous {
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            sha256,
            complete,
        }
    }
}

impl Records {
    /// Fold one upstream poll result; true when the current upstream version changed.
    pub fn fold_upstream(&mut self, report: UpstreamReport, history_len: usize) -> bool {
        let record = self
            .upstream
            .entry(report.key)
            .or_insert_with(|| UpstreamRecord {
                history: UpstreamHistory::new(history_len),
                etag: None,
                last_modified: None,
                polled: false,
            });
        record.polled = true;
        record.history.set_capacity(history_len);
        match report.result {
            UpstreamResult::Fetched(observation) => {
                record.etag = report.etag;
                record.last_modified = report.last_modified;
                record.history.observe(observation, report.at)
            }
            UpstreamResult::NotModified => {
                // Unchanged: same as observing the current version again.
                match record.history.current().cloned() {
                    Some(current) => record.history.observe(
                        crate::freshness::Observation {
                            sha256: current.sha256,
                            sha512: current.sha512,
                            sha1: current.sha1,
                            md5: current.md5,
                            size: current.size,
                            revision: current.revision,
                            timestamp: current.timestamp,
                        },
                        report.at,
                    ),
                    None => false,
                }
            }
            UpstreamResult::Failed { reason, detail } => {
                record
                    .history
                    .record_failure(report.at, format!("{reason}: {detail}"));
                false
            }
        }
    }

    /// Fold one sweep; returns the health transition, if any, for logging.
    pub fn fold_sweep(
        &mut self,
        report: SweepReport,
        settings: &HealthSettings,
    ) -> Option<crate::health::Transition> {
        let mirror = self.mirrors.entry(report.mirror.clone()).or_default();
        let family = mirror.families.entry(report.family).or_default();
        family.last_sweep = Some(report.started);
        family.absent = report.absent;
        let duration_seconds = report.duration.as_secs_f64();
        if report.absent {
            push_log(
                family,
                LogEntry {
                    at: report.started,
                    duration_seconds,
                    result: "absent".into(),
                    files_ok: 0,
                    files_failed: 0,
                    reason: None,
                    detail: Some(format!("no {} address", report.family.as_str())),
                },
            );
            return None;
        }
        family.address = report.address;
        family.protocols = report.protocols.clone();
        family.phases = report.phases.map(|t| Phases {
            resolve: t.resolve.as_secs_f64(),
            connect: t.connect.as_secs_f64(),
            tls: t.tls.as_secs_f64(),
            processing: t.processing.as_secs_f64(),
            transfer: t.transfer.as_secs_f64(),
        });
        family.tls_not_after = report.tls_not_after.or(family.tls_not_after);
        family.time_file = report.time_file.or(family.time_file);
        let (mut ok, mut failed) = (0u32, 0u32);
        let mut first_failure = None;
        for file in report.files {
            let seen = match file.result {
                FileResult::NotModified => {
                    ok += 1;
                    if let Some(copy) = family.copies.get_mut(&file.key) {
                        copy.at = report.started;
                    }
                    continue;
                }
                FileResult::Fetched {
                    sha256,
                    timestamp,
                    missing,
                    ..
                } => {
                    ok += 1;
                    // An unchecked copy of a known hash keeps what the last check found.
                    let missing = missing.or_else(|| match family.copies.get(&file.key) {
                        Some(CopyRecord {
                            seen:
                                Seen::Fetched {
                                    sha256: s, missing, ..
                                },
                            ..
                        }) if *s == sha256 => missing.clone(),
                        _ => None,
                    });
                    Seen::Fetched {
                        sha256,
                        timestamp,
                        missing,
                    }
                }
                FileResult::NotFound => {
                    failed += 1;
                    first_failure.get_or_insert((
                        crate::probe::FailureReason::HttpStatus.as_str().to_string(),
                        format!("HTTP 404 for {}repodata/repomd.xml", file.key),
                    ));
                    Seen::NotFound
                }
                FileResult::Failed { reason, detail } => {
                    failed += 1;
                    first_failure.get_or_insert((reason.as_str().to_string(), detail.clone()));
                    Seen::Failed {
                        reason: reason.as_str().to_string(),
                        detail,
                    }
                }
            };
            family.copies.insert(
                file.key,
                CopyRecord {
                    seen,
                    etag: file.etag,
                    last_modified: file.last_modified,
                    at: report.started,
                },
            );
        }
        let result = match (&report.failure, ok, failed) {
            (Some(f), 0, _) => {
                first_failure = Some((f.reason.as_str().to_string(), f.detail.clone()));
                SweepResult::Failed {
                    reason: f.reason.as_str().to_string(),
                }
            }
            (None, 0, 0) => SweepResult::Ok {
                latency: report.latency.unwrap_or_default(),
            },
            (_, _, 0) => SweepResult::Ok {
                latency: report.latency.unwrap_or_default(),
            },
            (_, 0, _) => SweepResult::Failed {
                reason: first_failure
                    .as_ref()
                    .map_or_else(|| "unknown".to_string(), |(r, _)| r.clone()),
            },
            (_, ok, failed) => SweepResult::Partial {
                ok,
                failed,
                latency: report.latency,
            },
        };
        let entry = LogEntry {
            at: report.started,
            duration_seconds,
            result: match &result {
                SweepResult::Ok { .. } => "ok",
                SweepResult::Partial { .. } => "partial",
                SweepResult::Failed { .. } => "failed",
            }
            .into(),
            files_ok: ok,
            files_failed: failed,
            reason: first_failure.as_ref().map(|(r, _)| r.clone()),
            detail: first_failure.as_ref().map(|(_, d)| d.clone()),
        };
        push_log(family, entry);
        if let Some((reason, detail)) = first_failure {
            family.last_failure = Some(FailureNote {
                at: report.started,
                reason,
                detail,
            });
        }
        mirror
            .health
            .record(report.family, &result, report.started, settings)
    }

    /// Forget mirrors and upstream repos no longer configured, so that their series
    /// disappear and the state file does not grow with the past.
    pub fn retain(&mut self, config: &crate::config::Config) {
        self.mirrors.retain(|name, _| config.mirror(name).is_some());
        let dirs: std::collections::HashSet<String> =
            config.layout.targets().map(|t| t.dir()).collect();
        self.upstream.retain(|dir, _| dirs.contains(dir));
    }
}

fn push_log(family: &mut FamilyRecord, entry: LogEntry) {
    family.log.push_back(entry);
    while family.log.len() > LOG_LENGTH {
        family.log.pop_front();
    }
}
