//! Folding reports into the records: an upstream poll into its history, a sweep into the
//! mirror's health, copies and probe log. Pure: the time is the report's.

use super::{
    CopyRecord, FailureNote, FamilyRecord, LogEntry, LogPhases, LogResult, Phases, Records, Seen,
    UpstreamRecord, LOG_LENGTH,
};
use crate::config::settings::HealthSettings;
use crate::freshness::{ErrorReason, UpstreamHistory};
use crate::health::SweepResult;
use crate::probe::upstream::{UpstreamReport, UpstreamResult};
use crate::probe::FailureReason;
use crate::probe::{FileResult, SweepReport, Validators};
use crate::state::intern::{ContentId, Text};

impl Records {
    /// Fold one upstream poll result; true when the current upstream version changed.
    pub fn fold_upstream(
        &mut self,
        report: UpstreamReport,
        history_len: std::num::NonZeroUsize,
    ) -> bool {
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
                let next = report.next.read();
                record.etag = next.and_then(Validators::etag).map(str::to_string);
                record.last_modified = next.and_then(Validators::last_modified).map(str::to_string);
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
        let interner = &mut self.interner;
        let mirror = self
            .mirrors
            .entry(report.mirror.clone())
            .or_default()
            .make_mut();
        let family = mirror.families.get_or_default(report.family);
        family.last_sweep = Some(report.started);
        family.absent = report.absent;
        let duration_seconds = report.duration.as_secs_f32();
        if report.absent {
            push_log(
                family,
                LogEntry {
                    at: report.started,
                    duration_seconds,
                    result: LogResult::Absent,
                    files_ok: 0,
                    files_failed: 0,
                    reason: None,
                    detail: Some(format!("no {} address", report.family.as_str()).into()),
                    phases: None,
                },
            );
            return None;
        }
        family.address = report.address;
        family.protocols = report.protocols.clone();
        let phases = report.phases.map(|t| Phases {
            resolve: t.resolve.as_secs_f64(),
            connect: t.connect.as_secs_f64(),
            tls: t.tls.as_secs_f64(),
            processing: t.processing.as_secs_f64(),
            transfer: t.transfer.as_secs_f64(),
        });
        family.phases = phases;
        family.tls_not_after = report.tls_not_after.or(family.tls_not_after);
        family.time_file = report.time_file.or(family.time_file);
        let (mut ok, mut failed) = (0u32, 0u32);
        let mut first_failure = None;
        for file in report.files {
            let seen = match file.result {
                // Left for a later sweep: the copy, its verdict and `at` (when it was last
                // checked) stand.
                FileResult::NotDue => continue,
                // No new evidence: what was seen stays (and so does `at`), judged
                // `error(skipped)` until the host answers again.
                FileResult::Skipped => {
                    match family.copies.get_mut(&file.key) {
                        Some(copy) => {
                            if !matches!(copy.seen, Seen::Skipped { .. }) {
                                let before = std::mem::replace(&mut copy.seen, Seen::NotFound);
                                copy.seen = Seen::Skipped {
                                    before: Box::new(before),
                                };
                            }
                        }
                        None => {
                            let seen = Seen::Failed {
                                reason: ErrorReason::Skipped,
                                detail: interner.text(""),
                            };
                            let copy = CopyRecord {
                                seen,
                                etag: None,
                                last_modified: None,
                                at: report.started,
                            };
                            family.copies.insert(interner.text_owned(file.key), copy);
                        }
                    }
                    continue;
                }
                FileResult::NotModified => {
                    ok += 1;
                    if let Some(copy) = family.copies.get_mut(&file.key) {
                        copy.at = report.started;
                        // Answered again: what was seen before the skip stands.
                        if let Seen::Skipped { before } = &mut copy.seen {
                            let before = std::mem::replace(&mut **before, Seen::NotFound);
                            copy.seen = before;
                        }
                    }
                    continue;
                }
                FileResult::Fetched {
                    sha256,
                    timestamp,
                    revision,
                    missing,
                    ..
                } => match ContentId::from_hex(&sha256, timestamp, revision) {
                    Ok(id) => {
                        ok += 1;
                        let content = interner.content(id);
                        let missing = missing.map(|m| {
                            m.into_iter()
                                .map(|href| interner.text_owned(href))
                                .collect::<Box<[Text]>>()
                        });
                        // An unchecked copy of a known hash keeps what the last check found.
                        let kept = family.copies.get(&file.key).map(|c| c.seen.evidence());
                        let missing = missing.or_else(|| match kept {
                            Some(Seen::Fetched {
                                content: c,
                                missing,
                            }) if c.sha256 == content.sha256 => missing.clone(),
                            _ => None,
                        });
                        Seen::Fetched { content, missing }
                    }
                    // The prober hashes with sha2 and writes hex: never seen, but not a
                    // reason to drop the file silently either.
                    Err(e) => {
                        failed += 1;
                        let reason = FailureReason::Protocol;
                        let detail = format!("sha256 {sha256:?} of {}: {e}", file.key);
                        first_failure.get_or_insert((reason, detail.clone()));
                        Seen::Failed {
                            reason: reason.into(),
                            detail: interner.text_owned(detail),
                        }
                    }
                },
                FileResult::NotFound => {
                    failed += 1;
                    first_failure.get_or_insert((
                        FailureReason::HttpStatus,
                        format!("HTTP 404 for {}repodata/repomd.xml", file.key),
                    ));
                    Seen::NotFound
                }
                FileResult::Failed { reason, detail } => {
                    failed += 1;
                    first_failure.get_or_insert((reason, detail.clone()));
                    Seen::Failed {
                        reason: reason.into(),
                        detail: interner.text_owned(detail),
                    }
                }
            };
            family.copies.insert(
                interner.text_owned(file.key),
                CopyRecord {
                    seen,
                    etag: file
                        .next
                        .read()
                        .and_then(Validators::etag)
                        .map(|e| interner.text(e)),
                    last_modified: file
                        .next
                        .read()
                        .and_then(Validators::last_modified)
                        .map(|l| interner.text(l)),
                    at: report.started,
                },
            );
        }
        let result = match (&report.failure, ok, failed, &first_failure) {
            (Some(f), 0, _, _) => {
                first_failure = Some((f.reason, f.detail.clone()));
                SweepResult::Failed {
                    reason: f.reason.as_str().to_string(),
                }
            }
            (None, 0, 0, _) => SweepResult::Ok {
                latency: report.latency.unwrap_or_default(),
            },
            (_, _, 0, _) => SweepResult::Ok {
                latency: report.latency.unwrap_or_default(),
            },
            // Nothing fetched: every file failed, the first one says why.
            (_, 0, _, Some((reason, _))) => SweepResult::Failed {
                reason: reason.as_str().to_string(),
            },
            (_, ok, failed, _) => SweepResult::Partial {
                ok,
                failed,
                latency: report.latency,
            },
        };
        let entry = LogEntry {
            at: report.started,
            duration_seconds,
            result: match &result {
                SweepResult::Ok { .. } => LogResult::Ok,
                SweepResult::Partial { .. } => LogResult::Partial,
                SweepResult::Failed { .. } => LogResult::Failed,
            },
            files_ok: ok,
            files_failed: failed,
            reason: first_failure.as_ref().map(|(r, _)| *r),
            detail: first_failure.as_ref().map(|(_, d)| d.as_str().into()),
            phases: phases.map(LogPhases::from),
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
}

fn push_log(family: &mut FamilyRecord, entry: LogEntry) {
    family.log.push_back(entry);
    while family.log.len() > LOG_LENGTH {
        family.log.pop_front();
    }
}
