//! What the state writer remembers between sweeps (and across restarts, in the state file):
//! upstream histories, and per mirror and family the health and the last copy of each file.
//! Folding a report into the records is pure; verdicts are derived later, at snapshot time,
//! because an upstream change alters every mirror's verdict without any new mirror report.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::intern::{Content, ContentId, Interner, Text};
use super::snapshot::{FailureNote, Phases};
use crate::config::settings::HealthSettings;
use crate::config::{IpFamily, Protocol};
use crate::freshness::{ErrorReason, MirrorCopy, UpstreamHistory};
use crate::health::{MirrorHealth, SweepResult};
use crate::probe::sweep::{FileResult, Previous, SweepReport, Validators};
use crate::probe::upstream::{UpstreamReport, UpstreamResult};
use crate::probe::FailureReason;

/// Everything persisted.
///
/// Mirror records are shared (`Arc`, copied on write by the fold): cloning the records to
/// save them in the background copies pointers, and only a mirror swept while the save runs
/// is copied. Repeated values are interned (see [`super::intern`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Records {
    /// By target key (`9.8/BaseOS/x86_64/os/`).
    pub upstream: BTreeMap<String, UpstreamRecord>,
    pub mirrors: BTreeMap<String, Shared<MirrorRecord>>,
    #[serde(skip)]
    interner: Interner,
}

/// What the state file holds; read with the interner installed (see [`Records`]'
/// `Deserialize`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct RecordsIn {
    upstream: BTreeMap<String, UpstreamRecord>,
    mirrors: BTreeMap<String, Shared<MirrorRecord>>,
}

impl<'de> Deserialize<'de> for Records {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Records, D::Error> {
        let (read, interner) = Interner::deserializing(|| RecordsIn::deserialize(deserializer));
        let read = read?;
        Ok(Records {
            upstream: read.upstream,
            mirrors: read.mirrors,
            interner,
        })
    }
}

/// A value shared between copies of the records, copied when written to while shared.
#[derive(Debug, Default, PartialEq)]
pub struct Shared<T>(Arc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Shared<T> {
        Shared(self.0.clone())
    }
}

impl<T: Clone> Shared<T> {
    pub fn new(value: T) -> Shared<T> {
        Shared(Arc::new(value))
    }

    /// The value to change; a copy of it if anyone else holds it.
    pub fn make_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.0)
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Shared<T>, D::Error> {
        T::deserialize(deserializer).map(|v| Shared(Arc::new(v)))
    }
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
    pub families: Families,
}

/// The record of each IP family of a mirror (one or two): a small vector in family order
/// (a map's node would be sized for eleven). In the state file, a JSON object.
#[derive(Debug, Clone, Default)]
pub struct Families(Vec<(IpFamily, FamilyRecord)>);

impl Families {
    pub fn get(&self, family: &IpFamily) -> Option<&FamilyRecord> {
        self.0.iter().find(|(f, _)| f == family).map(|(_, r)| r)
    }

    pub fn get_mut(&mut self, family: &IpFamily) -> Option<&mut FamilyRecord> {
        self.0.iter_mut().find(|(f, _)| f == family).map(|(_, r)| r)
    }

    /// The record of `family`, a new one if there was none.
    pub fn get_or_default(&mut self, family: IpFamily) -> &mut FamilyRecord {
        let i = match self.0.binary_search_by(|(f, _)| f.cmp(&family)) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (family, FamilyRecord::default()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// In family order.
    pub fn iter(&self) -> impl Iterator<Item = (&IpFamily, &FamilyRecord)> {
        self.0.iter().map(|(f, r)| (f, r))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Families {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Families {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Families, D::Error> {
        let map = BTreeMap::<IpFamily, FamilyRecord>::deserialize(deserializer)?;
        Ok(Families(map.into_iter().collect()))
    }
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
    pub copies: Copies,
}

/// The last copy seen of each file, by target key: a vector sorted by key (a map's nodes
/// would cost more than the records themselves). In the state file, a JSON object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Copies(Vec<(Text, CopyRecord)>);

impl Copies {
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&CopyRecord> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut CopyRecord> {
        self.position(key).ok().map(|i| &mut self.0[i].1)
    }

    /// Set the copy of `key`, returning the one it replaces.
    pub fn insert(&mut self, key: Text, copy: CopyRecord) -> Option<CopyRecord> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, copy)),
            Err(i) => {
                self.0.insert(i, (key, copy));
                None
            }
        }
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &CopyRecord)> {
        self.0.iter().map(|(k, c)| (k.as_string(), c))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Copies {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, c)| (k.as_str(), c)))
    }
}

impl<'de> Deserialize<'de> for Copies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Copies, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Copies;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of target keys to copies")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Copies, A::Error> {
                let mut entries: Vec<(Text, CopyRecord)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                // Sorted as written; a duplicate key keeps its last value, as a map would.
                entries.reverse();
                entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
                entries.dedup_by(|later, earlier| later.0 == earlier.0);
                entries.shrink_to_fit();
                Ok(Copies(entries))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// Sweeps remembered per (mirror, family) for the API's probe log.
pub const LOG_LENGTH: usize = 20;

/// One sweep, in brief: what a mirror admin needs to see why the mirror is in or out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogEntry {
    pub at: i64,
    pub duration_seconds: f64,
    /// `ok`, `partial`, `failed` or `absent`.
    pub result: LogResult,
    pub files_ok: u32,
    pub files_failed: u32,
    pub reason: Option<FailureReason>,
    pub detail: Option<String>,
}

/// How a sweep went, in the log; written as `"ok"`, `"partial"`, `"failed"` or `"absent"`
/// (a label, not a string per entry: 20 entries per mirror and family, twice with the
/// snapshot's copy).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogResult {
    Ok,
    Partial,
    Failed,
    Absent,
}

impl LogResult {
    pub fn as_str(self) -> &'static str {
        match self {
            LogResult::Ok => "ok",
            LogResult::Partial => "partial",
            LogResult::Failed => "failed",
            LogResult::Absent => "absent",
        }
    }
}

/// The last thing seen of one file on one mirror.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CopyRecord {
    pub seen: Seen,
    pub etag: Option<Text>,
    pub last_modified: Option<Text>,
    pub at: i64,
}

/// In the state file: `{"kind": "fetched", "sha256": "<hex>", "timestamp": …, "missing": […]}`,
/// `{"kind": "not_found"}` or `{"kind": "failed", "reason": …, "detail": …}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Fetched {
        /// The hash and newest timestamp of the file.
        content: Content,
        /// `None`: the data files were not checked.
        missing: Option<Box<[Text]>>,
    },
    NotFound,
    Failed {
        reason: ErrorReason,
        detail: Text,
    },
}

/// A sha256 written as lowercase hex without an allocation.
struct Hex<'a>(&'a [u8; 32]);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?)
    }
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum SeenOut<'a> {
    Fetched {
        sha256: Hex<'a>,
        timestamp: Option<i64>,
        missing: &'a Option<Box<[Text]>>,
    },
    NotFound,
    Failed {
        reason: &'a ErrorReason,
        detail: &'a Text,
    },
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum SeenIn {
    Fetched {
        sha256: String,
        timestamp: Option<i64>,
        missing: Option<Box<[Text]>>,
    },
    NotFound,
    Failed {
        reason: ErrorReason,
        detail: Text,
    },
}

impl Serialize for Seen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Seen::Fetched { content, missing } => SeenOut::Fetched {
                sha256: Hex(&content.sha256),
                timestamp: content.timestamp,
                missing,
            },
            Seen::NotFound => SeenOut::NotFound,
            Seen::Failed { reason, detail } => SeenOut::Failed { reason, detail },
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Seen, D::Error> {
        Ok(match SeenIn::deserialize(deserializer)? {
            SeenIn::Fetched {
                sha256,
                timestamp,
                missing,
            } => match ContentId::from_hex(&sha256, timestamp) {
                Ok(id) => Seen::Fetched {
                    content: Content::deserialized(id),
                    missing,
                },
                // One damaged copy must not cost the whole state: it reads as a failed
                // fetch, so the next sweep fetches that file in full.
                Err(e) => Seen::Failed {
                    reason: ErrorReason::StateFile,
                    detail: Text::new(format!(
                        "unreadable sha256 {sha256:?} in the state file: {e}"
                    )),
                },
            },
            SeenIn::NotFound => Seen::NotFound,
            SeenIn::Failed { reason, detail } => Seen::Failed { reason, detail },
        })
    }
}

impl CopyRecord {
    /// What the freshness module judges.
    pub fn as_copy(&self) -> MirrorCopy {
        match &self.seen {
            Seen::Fetched { content, missing } => MirrorCopy::Fetched {
                sha256: content.sha256_hex(),
                timestamp: content.timestamp,
                data_files_ok: missing.as_ref().map(|m| m.is_empty()),
                missing_files: missing
                    .iter()
                    .flat_map(|m| m.iter())
                    .map(ToString::to_string)
                    .collect(),
            },
            Seen::NotFound => MirrorCopy::NotFound,
            Seen::Failed { reason, .. } => MirrorCopy::Failed { reason: *reason },
        }
    }

    /// Validators and hash for the next conditional GET.
    /// [`Self::previous`] in the compact form a sweep takes, straight from the stored hash.
    pub fn validators(&self) -> Validators {
        let (sha256, complete) = match &self.seen {
            Seen::Fetched { content, missing } => (
                Some(&content.sha256),
                missing.as_ref().is_some_and(|m| m.is_empty()),
            ),
            _ => (None, false),
        };
        Validators::from_bytes(
            self.etag.as_deref(),
            self.last_modified.as_deref(),
            sha256,
            complete,
        )
    }

    pub fn previous(&self) -> Previous {
        let (sha256, complete) = match &self.seen {
            Seen::Fetched { content, missing } => (
                Some(content.sha256_hex()),
                missing.as_ref().is_some_and(|m| m.is_empty()),
            ),
            _ => (None, false),
        };
        Previous {
            etag: self.etag.as_ref().map(ToString::to_string),
            last_modified: self.last_modified.as_ref().map(ToString::to_string),
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
        let interner = &mut self.interner;
        let mirror = self
            .mirrors
            .entry(report.mirror.clone())
            .or_default()
            .make_mut();
        let family = mirror.families.get_or_default(report.family);
        family.last_sweep = Some(report.started);
        family.absent = report.absent;
        let duration_seconds = report.duration.as_secs_f64();
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
                } => match ContentId::from_hex(&sha256, timestamp) {
                    Ok(id) => {
                        ok += 1;
                        let content = interner.content(id);
                        let missing = missing.map(|m| {
                            m.into_iter()
                                .map(|href| interner.text_owned(href))
                                .collect::<Box<[Text]>>()
                        });
                        // An unchecked copy of a known hash keeps what the last check found.
                        let missing = missing.or_else(|| match family.copies.get(&file.key) {
                            Some(CopyRecord {
                                seen:
                                    Seen::Fetched {
                                        content: c,
                                        missing,
                                    },
                                ..
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
                    etag: file.etag.map(|e| interner.text_owned(e)),
                    last_modified: file.last_modified.map(|l| interner.text_owned(l)),
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

    /// Forget interned values no record holds any more (after copies were replaced).
    pub fn purge_interned(&mut self) {
        self.interner.purge();
    }

    /// Distinct interned values.
    pub fn interned(&self) -> usize {
        self.interner.len()
    }

    /// The validators of `mirror`'s files in `family`, one per key (in that order); `None`
    /// for a file never read.
    pub fn validators(
        &self,
        mirror: &str,
        family: IpFamily,
        keys: &[String],
    ) -> Vec<Option<Validators>> {
        let copies = self
            .mirrors
            .get(mirror)
            .and_then(|m| m.families.get(&family))
            .map(|f| &f.copies);
        keys.iter()
            .map(|key| Some(copies.and_then(|c| c.get(key))?.validators()))
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "5f2b0f3b2a1c8d4e6f7a8b9c0d1e2f30415263748596a7b8c9d0e1f203142536";

    /// A state written by the build before interning: every kind of copy.
    fn written_before() -> serde_json::Value {
        let copy = |seen: serde_json::Value| {
            serde_json::json!({
                "seen": seen,
                "etag": "\"691e5a00-1097\"",
                "last_modified": "Thu, 20 Nov 2025 00:00:00 GMT",
                "at": 1_700_000_000,
            })
        };
        let family = serde_json::json!({
            "absent": false, "last_sweep": 1_700_000_000, "address": "127.0.0.1",
            "protocols": {"http": true}, "phases": null, "tls_not_after": null,
            "last_failure": null, "time_file": null,
            "log": [
                {"at": 1, "duration_seconds": 0.5, "result": "ok", "files_ok": 5,
                 "files_failed": 0, "reason": null, "detail": null},
                {"at": 2, "duration_seconds": 0.5, "result": "partial", "files_ok": 4,
                 "files_failed": 1, "reason": "timeout", "detail": "no answer in 20s"},
                {"at": 3, "duration_seconds": 0.0, "result": "absent", "files_ok": 0,
                 "files_failed": 0, "reason": null, "detail": "no ipv6 address"},
                {"at": 4, "duration_seconds": 1.0, "result": "failed", "files_ok": 0,
                 "files_failed": 5, "reason": "connect", "detail": "refused"},
            ],
            "copies": {
                "9.8/BaseOS/x86_64/os/": copy(serde_json::json!(
                    {"kind": "fetched", "sha256": SHA, "timestamp": 1_699_000_000, "missing": []})),
                "9.8/AppStream/x86_64/os/": copy(serde_json::json!(
                    {"kind": "fetched", "sha256": SHA, "timestamp": null, "missing": ["repodata/a.xml.gz"]})),
                "9.8/CRB/x86_64/os/": copy(serde_json::json!(
                    {"kind": "fetched", "sha256": SHA, "timestamp": 5, "missing": null})),
                "9.8/extras/x86_64/os/": copy(serde_json::json!({"kind": "not_found"})),
                "9.8/HA/x86_64/os/": copy(serde_json::json!(
                    {"kind": "failed", "reason": "timeout", "detail": "no answer in 20s"})),
            },
        });
        let mirror =
            serde_json::json!({"health": MirrorHealth::default(), "families": {"ipv4": family}});
        serde_json::json!({"upstream": {}, "mirrors": {"a": mirror.clone(), "b": mirror}})
    }

    /// The IPv4 copies of mirror `m`.
    fn ipv4_copies<'r>(records: &'r Records, m: &str) -> &'r Copies {
        &records.mirrors[m]
            .families
            .get(&IpFamily::Ipv4)
            .unwrap()
            .copies
    }

    #[test]
    fn the_state_file_format_is_unchanged() {
        let before = written_before();
        let records: Records = serde_json::from_value(before.clone()).unwrap();
        assert_eq!(serde_json::to_value(&records).unwrap(), before);
    }

    #[test]
    fn restored_records_share_repeated_values() {
        let text = serde_json::to_string(&written_before()).unwrap();
        let records: Records = serde_json::from_str(&text).unwrap();
        let copies = |m: &str| ipv4_copies(&records, m);
        let (a, b) = (copies("a"), copies("b"));
        assert_eq!(a.len(), 5);
        let keys: Vec<&String> = a.iter().map(|(k, _)| k).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "copies are kept in key order");
        let etag = |c: &Copies| {
            c.get("9.8/BaseOS/x86_64/os/")
                .unwrap()
                .etag
                .clone()
                .unwrap()
        };
        assert!(std::ptr::eq(etag(a).as_str(), etag(b).as_str()));
        // Five keys; one etag, last-modified, missing href and detail (a reason is a label,
        // not a text); and three contents (one hash, but the timestamp is interned with it).
        assert_eq!(records.interned(), 5 + 4 + 3);
        let previous = a.get("9.8/BaseOS/x86_64/os/").unwrap().previous();
        assert_eq!(previous.sha256.as_deref(), Some(SHA));
        assert!(previous.complete);
        assert!(!a.get("9.8/CRB/x86_64/os/").unwrap().previous().complete);
    }

    #[test]
    fn a_bad_hash_in_the_file_costs_that_copy_only() {
        let mut value = written_before();
        value["mirrors"]["a"]["families"]["ipv4"]["copies"]["9.8/BaseOS/x86_64/os/"]["seen"]
            ["sha256"] = "nothex".into();
        let records = serde_json::from_value::<Records>(value).unwrap();
        let copies = |m: &str| ipv4_copies(&records, m);
        let damaged = copies("a").get("9.8/BaseOS/x86_64/os/").unwrap();
        match &damaged.seen {
            Seen::Failed { reason, detail } => {
                assert_eq!(reason.as_str(), "state");
                assert_eq!(*reason, ErrorReason::StateFile);
                assert!(detail.contains("nothex"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        // Read in full next time, not answered 304 from a hash nobody can vouch for.
        assert!(damaged.previous().sha256.is_none());
        assert_eq!(copies("a").len(), 5);
        let intact = copies("b").get("9.8/BaseOS/x86_64/os/").unwrap();
        assert_eq!(intact.previous().sha256.as_deref(), Some(SHA));
    }
}
