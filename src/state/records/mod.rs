//! What the state writer remembers between sweeps (and across restarts, in the state file):
//! upstream histories, and per mirror and family the health and the last copy of each file.
//!
//! - this module: the records themselves, in memory;
//! - [`copies`]: the last copy seen of each file, and what it says for the next fetch;
//! - [`fold`]: folding upstream polls and sweeps into the records (pure).
//!
//! Verdicts are derived later, at snapshot time, because an upstream change alters every
//! mirror's verdict without any new mirror report. The state file's format is not defined
//! here but in [`crate::persist::format`]; the serde derives here are the API's JSON.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::intern::Interner;
use crate::config::{IpFamily, Protocol};
use crate::freshness::UpstreamHistory;
use crate::health::MirrorHealth;
use crate::probe::FailureReason;
use crate::probe::Validators;

pub mod copies;
mod fold;

pub use copies::{Copies, CopyRecord, Seen};

/// Everything persisted.
///
/// Mirror records are shared (`Arc`, copied on write by the fold): cloning the records to
/// save them in the background copies pointers, and only a mirror swept while the save runs
/// is copied. Repeated values are interned (see [`super::intern`]).
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// By target key (`9.8/BaseOS/x86_64/os/`).
    pub upstream: BTreeMap<String, UpstreamRecord>,
    pub mirrors: BTreeMap<String, Shared<MirrorRecord>>,
    interner: Interner,
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

#[derive(Debug, Clone)]
pub struct UpstreamRecord {
    pub history: UpstreamHistory,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub polled: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MirrorRecord {
    pub health: MirrorHealth,
    pub families: Families,
}

/// The record of each IP family of a mirror (one or two): a small vector in family order
/// (a map's node would be sized for eleven).
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

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&IpFamily, &mut FamilyRecord)> {
        self.0.iter_mut().map(|(f, r)| (&*f, r))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// From records in any order; a family given twice keeps its last record.
    pub fn from_records(records: impl IntoIterator<Item = (IpFamily, FamilyRecord)>) -> Families {
        let map: BTreeMap<IpFamily, FamilyRecord> = records.into_iter().collect();
        Families(map.into_iter().collect())
    }
}

#[derive(Debug, Clone, Default)]
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
    pub log: VecDeque<LogEntry>,
    pub copies: Copies,
}

/// Sweeps remembered per (mirror, family) for the API's probe log.
pub const LOG_LENGTH: usize = 20;

/// One sweep, in brief: what a mirror admin needs to see why the mirror is in or out.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogEntry {
    pub at: i64,
    /// An `f32`: to the microsecond for any sweep shorter than a few seconds, and four
    /// bytes fewer per entry.
    pub duration_seconds: f32,
    /// `ok`, `partial`, `failed` or `absent`.
    pub result: LogResult,
    pub files_ok: u32,
    pub files_failed: u32,
    pub reason: Option<FailureReason>,
    pub detail: Option<Box<str>>,
    /// The phases of the sweep's first fetch; `None` when nothing was fetched.
    pub phases: Option<LogPhases>,
}

// 20 per mirror and family: 400,000 at 10,000 mirrors. Kept to 64 bytes (the phases cost
// 20 of them, paid for by an `f32` duration and a boxed detail).
const _: () = assert!(std::mem::size_of::<LogEntry>() <= 64);

/// How a sweep went, in the log; written as `"ok"`, `"partial"`, `"failed"` or `"absent"`
/// (a label, not a string per entry: 20 entries per mirror and family, twice with the
/// snapshot's copy). Read back by whoever reads the API.
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

/// Timings of the sweep's first (cold) fetch: DNS, TCP, TLS, first byte, body.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Phases {
    pub resolve: f64,
    pub connect: f64,
    pub tls: f64,
    pub processing: f64,
    pub transfer: f64,
}

/// [`Phases`] as the log keeps them: whole microseconds, 20 bytes instead of 40 (20 entries
/// per mirror and family, twice with the snapshot's copy). A `u32` holds 71 minutes, far
/// beyond any probe timeout; a longer phase is kept as that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPhases([u32; 5]);

impl From<Phases> for LogPhases {
    fn from(p: Phases) -> LogPhases {
        // `as` saturates: NaN and negatives are 0, anything too large is u32::MAX.
        let micros = |s: f64| (s * 1e6).round() as u32;
        LogPhases([
            micros(p.resolve),
            micros(p.connect),
            micros(p.tls),
            micros(p.processing),
            micros(p.transfer),
        ])
    }
}

impl From<LogPhases> for Phases {
    fn from(p: LogPhases) -> Phases {
        let seconds = |us: u32| f64::from(us) / 1e6;
        let [resolve, connect, tls, processing, transfer] = p.0;
        Phases {
            resolve: seconds(resolve),
            connect: seconds(connect),
            tls: seconds(tls),
            processing: seconds(processing),
            transfer: seconds(transfer),
        }
    }
}

/// In the API, as [`Phases`]: seconds.
impl Serialize for LogPhases {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Phases::from(*self).serialize(serializer)
    }
}

/// The last failure seen over one family: a reason from a closed set, and free text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailureNote {
    pub at: i64,
    pub reason: FailureReason,
    pub detail: String,
}

impl Records {
    /// Records read back from the state file, with the table their values were interned in.
    pub(crate) fn restored(
        upstream: BTreeMap<String, UpstreamRecord>,
        mirrors: BTreeMap<String, Shared<MirrorRecord>>,
        interner: Interner,
    ) -> Records {
        Records {
            upstream,
            mirrors,
            interner,
        }
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

    /// Forget mirrors, upstream repos and mirrors' copies of targets no longer configured,
    /// so that their series disappear and the state file does not grow with the past.
    pub fn retain(&mut self, config: &crate::config::Config) {
        self.mirrors.retain(|name, _| config.mirror(name).is_some());
        let dirs: std::collections::HashSet<String> =
            config.layout.targets().map(|t| t.dir()).collect();
        self.upstream.retain(|dir, _| dirs.contains(dir));
        for mirror in self.mirrors.values_mut() {
            let stale = |(_, f): (&IpFamily, &FamilyRecord)| {
                f.copies.iter().any(|(k, _)| !dirs.contains(k))
            };
            // Copied out of a shared record only when something is to go.
            if mirror.families.iter().any(stale) {
                for (_, family) in mirror.make_mut().families.iter_mut() {
                    family.copies.retain(|key| dirs.contains(key));
                }
            }
        }
    }
}
