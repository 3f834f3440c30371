//! What a sweep reports: per file what became of it ([`FileResult`]) and its validators for
//! the next sweep, and for the sweep as a whole the address, timings and protocols seen.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use super::plan::SweepPlan;
use super::validators::{Fetched, Next};
use super::{Failure, FailureReason, Timings};
use crate::config::{IpFamily, Protocol};

/// What became of one file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileResult {
    Fetched {
        sha256: String,
        size: u64,
        timestamp: Option<i64>,
        /// The `<revision>`, when it is a number ([`crate::repomd::Repomd::numeric_revision`]).
        revision: Option<u64>,
        /// Referenced data files not found (or of the wrong size); `None` when not checked.
        missing: Option<Vec<String>>,
    },
    /// 304: as the previous sweep saw it.
    NotModified,
    NotFound,
    Failed {
        reason: FailureReason,
        detail: String,
    },
    /// Not fetched in this sweep: its host had failed [`super::sweep::GIVE_UP_AFTER`] times
    /// in a row, or the sweep's time was up. No evidence either way: the copy kept of the
    /// file and its validators stay as they were.
    Skipped,
    /// Not due in this sweep: the planner ([`super::due`]) left it to a later one. The copy
    /// kept, its verdict, its validators and when it was checked all stand.
    NotDue,
}

impl FileResult {
    /// What this result does to the copy kept of the file; `etag` and `last_modified` are
    /// the response's, for a copy read in full.
    pub fn fetched<'a>(
        &'a self,
        etag: Option<&'a str>,
        last_modified: Option<&'a str>,
    ) -> Fetched<'a> {
        match self {
            FileResult::Fetched {
                sha256, missing, ..
            } => Fetched::Read {
                etag,
                last_modified,
                sha256,
                missing: missing.as_deref(),
            },
            FileResult::NotModified | FileResult::Skipped | FileResult::NotDue => Fetched::Kept,
            FileResult::NotFound | FileResult::Failed { .. } => Fetched::Lost,
        }
    }

    /// Whether the mirror answered for this file (with the file, a 304 or a 404).
    pub fn answered(&self) -> bool {
        matches!(
            self,
            FileResult::Fetched { .. } | FileResult::NotModified | FileResult::NotFound
        )
    }

    /// A short name for logs: `fetched`, `not_modified`, `not_found`, `failed`, `skipped`
    /// or `not_due`.
    pub fn kind(&self) -> &'static str {
        match self {
            FileResult::Fetched { .. } => "fetched",
            FileResult::NotModified => "not_modified",
            FileResult::NotFound => "not_found",
            FileResult::Failed { .. } => "failed",
            FileResult::Skipped => "skipped",
            FileResult::NotDue => "not_due",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileReport {
    pub key: String,
    pub result: FileResult,
    /// What became of the file's validators ([`super::Validators::next`]): the scheduler
    /// keeps the result for the next sweep, and the records keep new ones with their copy.
    pub next: Next,
}

impl FileReport {
    /// A file not fetched in this sweep: its validators stand.
    pub(super) fn skipped(key: String) -> FileReport {
        FileReport {
            key,
            result: FileResult::Skipped,
            next: Next::Kept,
        }
    }

    /// A file the planner left for a later sweep: everything kept of it stands.
    pub(super) fn not_due(key: String) -> FileReport {
        FileReport {
            key,
            result: FileResult::NotDue,
            next: Next::Kept,
        }
    }

    /// A file that could not be fetched: no validators.
    pub(super) fn failed(key: String, result: FileResult) -> FileReport {
        FileReport {
            key,
            result,
            next: Next::Dropped,
        }
    }
}

/// The outcome of one sweep.
#[derive(Debug, Clone)]
pub struct SweepReport {
    pub mirror: String,
    pub family: IpFamily,
    pub started: i64,
    pub duration: Duration,
    /// The mirror has no address in this family (no A or no AAAA record): nothing to judge.
    pub absent: bool,
    pub address: Option<IpAddr>,
    /// The sweep could not start (DNS) or no file could be fetched at all.
    pub failure: Option<Failure>,
    /// Timings of the first fetch, which opened the connection.
    pub phases: Option<Timings>,
    pub resolve: Duration,
    pub tls_not_after: Option<i64>,
    pub protocols: BTreeMap<Protocol, bool>,
    pub files: Vec<FileReport>,
    /// The median fetch time of the files that were fetched.
    pub latency: Option<Duration>,
    /// The epoch in the mirror's `TIME` file, when asked for and readable.
    pub time_file: Option<i64>,
}

impl SweepReport {
    pub(super) fn new(plan: &SweepPlan, started: i64) -> SweepReport {
        SweepReport {
            mirror: plan.mirror.clone(),
            family: plan.family,
            started,
            duration: Duration::ZERO,
            absent: false,
            address: None,
            failure: None,
            phases: None,
            resolve: Duration::ZERO,
            tls_not_after: None,
            protocols: BTreeMap::new(),
            files: Vec::new(),
            latency: None,
            time_file: None,
        }
    }
}
