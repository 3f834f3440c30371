//! Upstream history and the freshness verdict for one mirror copy of a repository (pure).
//!
//! For every (version, repo, arch) the daemon keeps an [`UpstreamHistory`]: the distinct
//! upstream `repomd.xml` versions seen, newest last, each with the time it was first seen.
//! A mirror's copy is then judged by [`verdict`] against that history — by the sha256 of
//! the whole file, so a mirror is "current" only if it serves exactly what upstream serves.
//!
//! Lag is measured from the moment the mirror's version stopped being the newest upstream:
//! a mirror holding version N while N+1 appeared at time T has been behind since T, so
//! `lag_seconds = now − T`. Everything here takes `now` (unix seconds) as an argument and
//! does no I/O, so the rules are tested with plain numbers.
//!
//! When the upstream is unreachable, [`UpstreamHistory::record_failure`] keeps the known
//! versions and verdicts go on comparing against them: mirrors that are current stay
//! current, and a mirror that moved past what we last saw is "unknown, newer", never
//! stale. The master being down never makes the whole network look stale.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::repomd::{Fingerprint, Repomd};

/// One distinct upstream `repomd.xml`, as persisted in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamVersion {
    /// Lowercase hex sha256 of the whole file: the version's identity.
    pub sha256: String,
    /// Lowercase hex sha512 of the whole file, for the metalink's alternates (which
    /// librepo checks with the strongest hash listed). Absent in older state files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
    /// md5 and sha1, for metalink clients that know no stronger hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// Size of the file in bytes.
    pub size: u64,
    /// The `<revision>` of the file, if any.
    pub revision: Option<String>,
    /// The newest data timestamp in the file ([`Repomd::newest_timestamp`]).
    pub timestamp: Option<i64>,
    /// Unix seconds when this version became the current upstream version (see
    /// [`UpstreamHistory::observe`] for what a rollback does to it).
    pub first_seen: i64,
}

/// What one successful upstream poll saw: an [`UpstreamVersion`] without `first_seen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub sha256: String,
    pub sha512: Option<String>,
    pub sha1: Option<String>,
    pub md5: Option<String>,
    pub size: u64,
    pub revision: Option<String>,
    pub timestamp: Option<i64>,
}

impl Observation {
    /// The observation of a fetched file: its fingerprint and what it parsed to.
    pub fn new(fingerprint: Fingerprint, repomd: &Repomd) -> Self {
        Observation {
            sha256: fingerprint.sha256,
            sha512: Some(fingerprint.sha512),
            sha1: Some(fingerprint.sha1),
            md5: Some(fingerprint.md5),
            size: fingerprint.size,
            revision: repomd.revision.clone(),
            timestamp: repomd.newest_timestamp(),
        }
    }
}

/// The distinct upstream versions of one repomd.xml, oldest first and newest (current)
/// last, at most `capacity` of them, plus whether the upstream answered lately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamHistory {
    capacity: NonZeroUsize,
    versions: Vec<UpstreamVersion>,
    /// True after a successful poll, false after a failed one (and before the first).
    upstream_up: bool,
    last_success: Option<i64>,
    last_failure: Option<i64>,
    last_error: Option<String>,
    /// Failed polls since the last successful one.
    consecutive_failures: u32,
}

impl UpstreamHistory {
    /// An empty history keeping at most `capacity` versions (at least the current one).
    pub fn new(capacity: NonZeroUsize) -> Self {
        UpstreamHistory {
            capacity,
            versions: Vec::new(),
            upstream_up: false,
            last_success: None,
            last_failure: None,
            last_error: None,
            consecutive_failures: 0,
        }
    }

    /// Change the capacity (e.g. after a config reload or loading a state file written
    /// with another setting), dropping the oldest versions that no longer fit.
    pub fn set_capacity(&mut self, capacity: NonZeroUsize) {
        self.capacity = capacity;
        self.trim();
    }

    pub fn capacity(&self) -> usize {
        self.capacity.get()
    }

    /// Record a successful poll at `now`. Returns true when the current upstream version
    /// changed: a hash never seen before, or a return to an older one.
    ///
    /// A rollback (upstream serving again a hash that is in the history but not current)
    /// moves that version to the newest position and sets its `first_seen` to `now`,
    /// without duplicating it. That keeps the meaning of `first_seen` — "when this became
    /// the current upstream" — which is what lag is measured from: a mirror still holding
    /// the withdrawn version is behind by one since `now`, not since the day the restored
    /// version first appeared (which would mark it stale instantly), and a mirror holding
    /// the restored version is simply current again.
    pub fn observe(&mut self, seen: Observation, now: i64) -> bool {
        self.upstream_up = true;
        self.last_success = Some(now);
        self.last_error = None;
        self.consecutive_failures = 0;

        let changed = match self.versions.iter().rposition(|v| v.sha256 == seen.sha256) {
            Some(i) if i + 1 == self.versions.len() => false,
            Some(i) => {
                let mut restored = self.versions.remove(i);
                restored.first_seen = now;
                self.versions.push(restored);
                true
            }
            None => {
                self.versions.push(UpstreamVersion {
                    sha256: seen.sha256,
                    sha512: seen.sha512,
                    sha1: seen.sha1,
                    md5: seen.md5,
                    size: seen.size,
                    revision: seen.revision,
                    timestamp: seen.timestamp,
                    first_seen: now,
                });
                true
            }
        };
        self.trim();
        changed
    }

    /// Record a failed poll: the upstream is marked down, the known versions are kept.
    pub fn record_failure(&mut self, now: i64, reason: impl Into<String>) {
        self.upstream_up = false;
        self.last_failure = Some(now);
        self.last_error = Some(reason.into());
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
    }

    /// The current upstream version: the newest one seen.
    pub fn current(&self) -> Option<&UpstreamVersion> {
        self.versions.last()
    }

    /// The version with this sha256 and how many versions are newer than it
    /// (0 for the current one).
    pub fn find(&self, sha256: &str) -> Option<(usize, &UpstreamVersion)> {
        self.versions
            .iter()
            .rev()
            .enumerate()
            .find(|(_, v)| v.sha256 == sha256)
    }

    /// All known versions, oldest first, the current one last.
    pub fn versions(&self) -> &[UpstreamVersion] {
        &self.versions
    }

    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    pub fn upstream_up(&self) -> bool {
        self.upstream_up
    }

    pub fn last_success(&self) -> Option<i64> {
        self.last_success
    }

    pub fn last_failure(&self) -> Option<i64> {
        self.last_failure
    }

    /// Why the last poll failed; `None` once a poll succeeds.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    fn trim(&mut self) {
        let excess = self.versions.len().saturating_sub(self.capacity.get());
        self.versions.drain(..excess);
    }
}

/// What a probe saw for one mirror copy of a repo's `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorCopy {
    /// The file was fetched (and parsed).
    Fetched {
        /// Lowercase hex sha256 of the whole file.
        sha256: String,
        /// Its newest data timestamp ([`Repomd::newest_timestamp`]).
        timestamp: Option<i64>,
        /// Result of the partial-sync check: `None` when not checked (yet).
        data_files_ok: Option<bool>,
        /// Hrefs of referenced data files found missing or of the wrong size.
        missing_files: Vec<String>,
    },
    /// The mirror answered 404 (or 410): it does not carry this repo.
    NotFound,
    /// Any other failure (connect, TLS, timeout, bad XML, ...).
    Failed { reason: ErrorReason },
}

/// The freshness of one mirror copy. Serialized for the JSON API as
/// `{"status": "behind", "versions": 2, "lag_seconds": 3600}` and so on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Same hash as the current upstream version.
    Current,
    /// Same hash as an older upstream version: `versions` newer ones exist, and the
    /// one that replaced the mirror's appeared `lag_seconds` ago.
    Behind { versions: u32, lag_seconds: u64 },
    /// A hash never seen upstream, judged by timestamps instead (see [`verdict`]):
    /// `newer` when its data is not older than the current upstream's; otherwise
    /// `lag_seconds` is an estimate, or `None` when nothing allows one.
    Unknown {
        newer: bool,
        lag_seconds: Option<u64>,
    },
    /// The mirror has no such file (404).
    Missing,
    /// The repomd.xml references data files the mirror does not have.
    Incomplete { missing: Vec<String> },
    /// The probe failed.
    Error { reason: ErrorReason },
}

impl Verdict {
    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Current => VerdictKind::Current,
            Verdict::Behind { .. } => VerdictKind::Behind,
            Verdict::Unknown { .. } => VerdictKind::Unknown,
            Verdict::Missing => VerdictKind::Missing,
            Verdict::Incomplete { .. } => VerdictKind::Incomplete,
            Verdict::Error { .. } => VerdictKind::Error,
        }
    }

    /// Stable label value for metrics and the API.
    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Seconds behind upstream: 0 when current, the (possibly estimated) lag when behind
    /// or unknown, `None` when there is nothing to measure.
    pub fn lag_seconds(&self) -> Option<u64> {
        match self {
            Verdict::Current => Some(0),
            Verdict::Behind { lag_seconds, .. } => Some(*lag_seconds),
            Verdict::Unknown { lag_seconds, .. } => *lag_seconds,
            Verdict::Missing | Verdict::Incomplete { .. } | Verdict::Error { .. } => None,
        }
    }

    /// Lag strictly over `stale_after`. A copy without a measurable lag (missing,
    /// incomplete, error, or unknown without an estimate) is never stale: those are
    /// reported by their own status.
    pub fn is_stale(&self, stale_after: Duration) -> bool {
        self.lag_seconds()
            .is_some_and(|lag| Duration::from_secs(lag) > stale_after)
    }
}

/// Judge one mirror copy against the upstream history at `now` (unix seconds).
///
/// The content is judged before the data files:
///
/// - Failures and 404s map to `Error` and `Missing`.
/// - A hash not in the history is `Unknown` (below), even when its data files are missing
///   too: which version it is comes first, and it is never offered either way.
/// - A copy of a known hash with missing data files is `Incomplete`: clients would fail on
///   it even if its repomd.xml is the current one.
/// - A hash in the history is `Current` (the newest) or `Behind`, where `versions` counts
///   the newer upstream versions and the lag runs from the `first_seen` of the version
///   that replaced the mirror's.
/// - A hash not in the history (upstream never reached, the mirror synced a version we
///   missed or one older than the history reaches) is `Unknown`, and timestamps decide:
///   when the mirror's newest timestamp is at least the current upstream's, `newer: true`
///   and no lag; otherwise the lag is estimated from the oldest known upstream version
///   whose timestamp is newer than the mirror's — when that version appeared, the
///   mirror's content was outdated. It is a lower bound if the mirror predates the
///   history. Without timestamps on either side, or with an empty history, there is no
///   estimate: never stale just because the upstream could not be reached.
pub fn verdict(history: &UpstreamHistory, copy: &MirrorCopy, now: i64) -> Verdict {
    let (sha256, timestamp, data_files_ok, missing_files) = match copy {
        MirrorCopy::NotFound => return Verdict::Missing,
        MirrorCopy::Failed { reason } => return Verdict::Error { reason: *reason },
        MirrorCopy::Fetched {
            sha256,
            timestamp,
            data_files_ok,
            missing_files,
        } => (sha256, *timestamp, *data_files_ok, missing_files),
    };
    // The content first: a repomd.xml upstream never showed is judged by timestamps alone,
    // whatever its data files. Its data files say nothing about which version it is.
    let Some((newer, _)) = history.find(sha256) else {
        return unknown(history, timestamp, now);
    };
    // Either signal counts, so a probe that fills only one of them is still heard.
    if data_files_ok == Some(false) || !missing_files.is_empty() {
        return Verdict::Incomplete {
            missing: missing_files.clone(),
        };
    }
    if newer == 0 {
        return Verdict::Current;
    }
    // `newer` ≥ 1 here, and the version right after the mirror's is at `len - newer`:
    // inside the history. `get` keeps a mistake from panicking.
    let replaced_at = history
        .versions()
        .len()
        .checked_sub(newer)
        .and_then(|i| history.versions().get(i))
        .map_or(now, |v| v.first_seen);
    Verdict::Behind {
        versions: u32::try_from(newer).unwrap_or(u32::MAX),
        lag_seconds: seconds_since(replaced_at, now),
    }
}

/// The timestamp fallback for a hash never seen upstream (see [`verdict`]).
fn unknown(history: &UpstreamHistory, mirror_ts: Option<i64>, now: i64) -> Verdict {
    let no_estimate = Verdict::Unknown {
        newer: false,
        lag_seconds: None,
    };
    let (Some(mirror_ts), Some(upstream_ts)) =
        (mirror_ts, history.current().and_then(|c| c.timestamp))
    else {
        return no_estimate;
    };
    if mirror_ts >= upstream_ts {
        return Verdict::Unknown {
            newer: true,
            lag_seconds: None,
        };
    }
    let outdated_since = history
        .versions()
        .iter()
        .find(|v| v.timestamp.is_some_and(|t| t > mirror_ts))
        .map(|v| v.first_seen);
    Verdict::Unknown {
        newer: false,
        lag_seconds: outdated_since.map(|t| seconds_since(t, now)),
    }
}

/// `now − then` in whole seconds, 0 if the clock went backwards.
fn seconds_since(then: i64, now: i64) -> u64 {
    u64::try_from(now.saturating_sub(then)).unwrap_or(0)
}

mod labels;
#[cfg(test)]
mod tests;

pub use labels::{ErrorReason, VerdictKind};
