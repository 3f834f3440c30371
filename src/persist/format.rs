//! The state file's format (format 1, inside [`super`]'s envelope): how [`Records`] are
//! written and read, with serde types of its own. The records' in-memory types and the
//! API's JSON can change without changing a byte of the file; the upstream history and the
//! health state machine keep the serde forms their own modules give them.
//!
//! ```text
//! {"upstream": {"<target key>": {"history": …, "etag": …, "last_modified": …, "polled": …}},
//!  "mirrors": {"<name>": {"health": …, "families": {"ipv4": {
//!     "absent", "last_sweep", "address", "protocols", "phases", "tls_not_after",
//!     "last_failure": {"at", "reason", "detail"}, "time_file",
//!     "log": [{"at", "duration_seconds", "result", "files_ok", "files_failed", "reason", "detail",
//!              "phases"}],
//!     "copies": {"<target key>": {"seen": …, "etag", "last_modified", "at"}}}}}}}
//! ```
//!
//! `seen` is `{"kind": "fetched", "sha256": "<hex>", "timestamp": …, "revision": …,
//! "missing": […]}` (`revision` only when the file's `<revision>` is a number; absent in
//! files written before it was kept, which read as without one),
//! `{"kind": "not_found"}` or `{"kind": "failed", "reason": …, "detail": …}`. A log entry's
//! `phases` (seconds, kept to the microsecond) is absent for a sweep without a fetch and in
//! files written before the log kept them.
//!
//! Reading is lenient per record: a copy with an unreadable hash or an unknown reason reads
//! as a failed fetch (reason `state`, so the next sweep fetches the file in full), and a
//! failure note or log entry with an unknown reason reads without one; the rest of the
//! file still counts. Values are interned as they are read (see
//! [`crate::state::intern`]).

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{IpFamily, Protocol};
use crate::freshness::UpstreamHistory;
use crate::health::MirrorHealth;
use crate::probe::FailureReason;
use crate::state::intern::Interner;
use crate::state::records::{
    FailureNote, Families, FamilyRecord, LogEntry, LogPhases, LogResult, MirrorRecord, Phases,
    Records, Shared, UpstreamRecord,
};

use copies::{CopiesIn, CopiesOut};

impl Serialize for Records {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Upstream<'a>(&'a BTreeMap<String, UpstreamRecord>);
        impl Serialize for Upstream<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_map(self.0.iter().map(|(k, u)| (k, UpstreamOut::from(u))))
            }
        }
        struct Mirrors<'a>(&'a BTreeMap<String, Shared<MirrorRecord>>);
        impl Serialize for Mirrors<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_map(self.0.iter().map(|(k, m)| (k, MirrorOut(m))))
            }
        }
        RecordsOut {
            upstream: Upstream(&self.upstream),
            mirrors: Mirrors(&self.mirrors),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Records {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Records, D::Error> {
        let (read, interner) = Interner::deserializing(|| RecordsIn::deserialize(deserializer));
        let read = read?;
        let upstream = read
            .upstream
            .into_iter()
            .map(|(k, u)| (k, u.into()))
            .collect();
        Ok(Records::restored(upstream, read.mirrors.0, interner))
    }
}

#[derive(Serialize)]
struct RecordsOut<A, B> {
    upstream: A,
    mirrors: B,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RecordsIn {
    upstream: BTreeMap<String, UpstreamIn>,
    mirrors: MirrorsIn,
}

/// The mirrors, each turned into its record as soon as it is read: the file's own form of
/// all of them is never held at once (at 10,000 mirrors, 400,000 log entries, it would
/// cost tens of MiB for the time of the read).
#[derive(Default)]
struct MirrorsIn(BTreeMap<String, Shared<MirrorRecord>>);

impl<'de> Deserialize<'de> for MirrorsIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<MirrorsIn, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = MirrorsIn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of mirror names to mirrors")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MirrorsIn, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((name, mirror)) = map.next_entry::<String, MirrorIn>()? {
                    out.insert(name, Shared::new(mirror.into()));
                }
                Ok(MirrorsIn(out))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

#[derive(Serialize)]
struct UpstreamOut<'a> {
    history: &'a UpstreamHistory,
    etag: &'a Option<String>,
    last_modified: &'a Option<String>,
    polled: bool,
}

impl<'a> From<&'a UpstreamRecord> for UpstreamOut<'a> {
    fn from(u: &'a UpstreamRecord) -> UpstreamOut<'a> {
        UpstreamOut {
            history: &u.history,
            etag: &u.etag,
            last_modified: &u.last_modified,
            polled: u.polled,
        }
    }
}

#[derive(Deserialize)]
struct UpstreamIn {
    history: UpstreamHistory,
    etag: Option<String>,
    last_modified: Option<String>,
    polled: bool,
}

impl From<UpstreamIn> for UpstreamRecord {
    fn from(u: UpstreamIn) -> UpstreamRecord {
        UpstreamRecord {
            history: u.history,
            etag: u.etag,
            last_modified: u.last_modified,
            polled: u.polled,
        }
    }
}

struct MirrorOut<'a>(&'a MirrorRecord);

impl Serialize for MirrorOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a, F> {
            health: &'a MirrorHealth,
            families: F,
        }
        struct FamiliesOut<'a>(&'a Families);
        impl Serialize for FamiliesOut<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_map(self.0.iter().map(|(f, r)| (f, FamilyOut::new(r))))
            }
        }
        Out {
            health: &self.0.health,
            families: FamiliesOut(&self.0.families),
        }
        .serialize(serializer)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MirrorIn {
    health: MirrorHealth,
    families: BTreeMap<IpFamily, FamilyIn>,
}

impl From<MirrorIn> for MirrorRecord {
    fn from(m: MirrorIn) -> MirrorRecord {
        MirrorRecord {
            health: m.health,
            families: Families::from_records(m.families.into_iter().map(|(f, r)| (f, r.into()))),
        }
    }
}

#[derive(Serialize)]
struct FamilyOut<'a> {
    absent: bool,
    last_sweep: Option<i64>,
    address: Option<IpAddr>,
    protocols: &'a BTreeMap<Protocol, bool>,
    phases: Option<PhasesFile>,
    tls_not_after: Option<i64>,
    last_failure: Option<NoteFile<'a>>,
    time_file: Option<i64>,
    log: Vec<LogFile<'a>>,
    copies: CopiesOut<'a>,
}

impl<'a> FamilyOut<'a> {
    fn new(r: &'a FamilyRecord) -> FamilyOut<'a> {
        FamilyOut {
            absent: r.absent,
            last_sweep: r.last_sweep,
            address: r.address,
            protocols: &r.protocols,
            phases: r.phases.map(PhasesFile::from),
            tls_not_after: r.tls_not_after,
            last_failure: r.last_failure.as_ref().map(|n| NoteFile {
                at: n.at,
                reason: n.reason.as_str(),
                detail: &n.detail,
            }),
            time_file: r.time_file,
            log: r.log.iter().map(LogFile::from).collect(),
            copies: CopiesOut(&r.copies),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FamilyIn {
    absent: bool,
    last_sweep: Option<i64>,
    address: Option<IpAddr>,
    protocols: BTreeMap<Protocol, bool>,
    phases: Option<PhasesFile>,
    tls_not_after: Option<i64>,
    last_failure: Option<NoteIn>,
    time_file: Option<i64>,
    log: VecDeque<LogIn>,
    copies: CopiesIn,
}

impl From<FamilyIn> for FamilyRecord {
    fn from(f: FamilyIn) -> FamilyRecord {
        FamilyRecord {
            absent: f.absent,
            last_sweep: f.last_sweep,
            address: f.address,
            protocols: f.protocols,
            phases: f.phases.map(Phases::from),
            tls_not_after: f.tls_not_after,
            last_failure: f.last_failure.and_then(|n| {
                Some(FailureNote {
                    at: n.at,
                    reason: FailureReason::from_label(&n.reason)?,
                    detail: n.detail,
                })
            }),
            time_file: f.time_file,
            log: f.log.into_iter().map(LogEntry::from).collect(),
            copies: f.copies.0,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct PhasesFile {
    resolve: f64,
    connect: f64,
    tls: f64,
    processing: f64,
    transfer: f64,
}

impl From<Phases> for PhasesFile {
    fn from(p: Phases) -> PhasesFile {
        PhasesFile {
            resolve: p.resolve,
            connect: p.connect,
            tls: p.tls,
            processing: p.processing,
            transfer: p.transfer,
        }
    }
}

impl From<PhasesFile> for Phases {
    fn from(p: PhasesFile) -> Phases {
        Phases {
            resolve: p.resolve,
            connect: p.connect,
            tls: p.tls,
            processing: p.processing,
            transfer: p.transfer,
        }
    }
}

#[derive(Serialize)]
struct NoteFile<'a> {
    at: i64,
    reason: &'static str,
    detail: &'a str,
}

#[derive(Deserialize)]
struct NoteIn {
    at: i64,
    reason: String,
    detail: String,
}

/// How a sweep went, as the file spells it.
#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ResultFile {
    Ok,
    Partial,
    Failed,
    Absent,
}

#[derive(Serialize)]
struct LogFile<'a> {
    at: i64,
    duration_seconds: f32,
    result: ResultFile,
    files_ok: u32,
    files_failed: u32,
    reason: Option<&'static str>,
    detail: Option<&'a str>,
    /// Absent in files written before the log kept phases, and for sweeps without a fetch.
    #[serde(skip_serializing_if = "Option::is_none")]
    phases: Option<PhasesFile>,
}

impl<'a> From<&'a LogEntry> for LogFile<'a> {
    fn from(e: &'a LogEntry) -> LogFile<'a> {
        LogFile {
            at: e.at,
            duration_seconds: e.duration_seconds,
            result: match e.result {
                LogResult::Ok => ResultFile::Ok,
                LogResult::Partial => ResultFile::Partial,
                LogResult::Failed => ResultFile::Failed,
                LogResult::Absent => ResultFile::Absent,
            },
            files_ok: e.files_ok,
            files_failed: e.files_failed,
            reason: e.reason.map(FailureReason::as_str),
            detail: e.detail.as_deref(),
            phases: e.phases.map(|p| PhasesFile::from(Phases::from(p))),
        }
    }
}

#[derive(Deserialize)]
struct LogIn {
    at: i64,
    duration_seconds: f32,
    result: ResultFile,
    files_ok: u32,
    files_failed: u32,
    reason: Option<String>,
    detail: Option<String>,
    #[serde(default)]
    phases: Option<PhasesFile>,
}

impl From<LogIn> for LogEntry {
    fn from(e: LogIn) -> LogEntry {
        LogEntry {
            at: e.at,
            duration_seconds: e.duration_seconds,
            result: match e.result {
                ResultFile::Ok => LogResult::Ok,
                ResultFile::Partial => LogResult::Partial,
                ResultFile::Failed => LogResult::Failed,
                ResultFile::Absent => LogResult::Absent,
            },
            files_ok: e.files_ok,
            files_failed: e.files_failed,
            reason: e.reason.as_deref().and_then(FailureReason::from_label),
            detail: e.detail.map(String::into_boxed_str),
            phases: e.phases.map(|p| LogPhases::from(Phases::from(p))),
        }
    }
}

mod copies;
#[cfg(test)]
mod tests;
