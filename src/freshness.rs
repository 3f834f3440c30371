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
//! A copy upstream never showed is judged from the first sweep by its own `<revision>` and
//! newest data timestamp: older than the oldest upstream version remembered by both, it is
//! `behind` at once, flagged `estimated` (the number of versions is unknown). Its
//! `lag_seconds` is a lower bound — now − the newest data timestamp of the oldest
//! remembered upstream version — and drives `stale` like any lag; its `content_age_seconds`
//! — now − its own newest data timestamp, an upper bound — tells such copies apart (a copy
//! 1 and one 3 versions behind share the lower bound). The lower bound drives `stale`, the
//! content age tells copies apart. A copy newer than upstream is `unknown` with
//! `newer: true`; content that fits neither is `unknown`. See [`verdict`] for every rule.
//!
//! When the upstream is unreachable, [`UpstreamHistory::record_failure`] keeps the known
//! versions and verdicts go on comparing against them: mirrors that are current stay
//! current, and a mirror that moved past what we last saw is "unknown, newer", never
//! stale. The master being down never makes the whole network look stale.

use std::num::{NonZeroU32, NonZeroUsize};
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

impl UpstreamVersion {
    /// The `<revision>` as a number, `None` when absent or not a number.
    pub fn numeric_revision(&self) -> Option<u64> {
        crate::repomd::numeric_revision(self.revision.as_deref())
    }
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
        /// Its `<revision>`, when a number ([`Repomd::numeric_revision`]).
        revision: Option<u64>,
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
/// `{"status": "behind", "versions": 2, "lag_seconds": 3600, "estimated": false}` and so on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Same hash as the current upstream version.
    Current,
    /// Older than the current upstream version. Exact (`estimated: false`): same hash as an
    /// older upstream version, `versions` newer ones exist, and the one that replaced the
    /// mirror's appeared `lag_seconds` ago. Estimated (`estimated: true`, `versions: None`):
    /// a hash upstream never showed whose `<revision>` and newest data timestamp are older
    /// than those of the oldest upstream version remembered; `lag_seconds` is then a lower
    /// bound and `content_age_seconds` an upper bound (see [`verdict`]).
    Behind {
        /// At least one when known: a copy no version behind is current. (`NonZeroU32`
        /// leaves room for the variant's tag, one of the reasons a verdict fits in 24 bytes.)
        versions: Option<NonZeroU32>,
        lag_seconds: u64,
        #[serde(default)]
        estimated: bool,
        /// Seconds, saturating at `u32::MAX` (136 years): a `u32` keeps every verdict at
        /// 24 bytes, and a snapshot holds one per (mirror, family, target).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_age_seconds: Option<u32>,
    },
    /// A hash never seen upstream that is not estimated behind, judged by timestamps
    /// instead (see [`verdict`]): `newer` when its data is not older than the current
    /// upstream's; otherwise `lag_seconds` is an estimate, or `None` when nothing allows one.
    Unknown {
        newer: bool,
        lag_seconds: Option<u64>,
    },
    /// The mirror has no such file (404).
    Missing,
    /// The repomd.xml references data files the mirror does not have. (A boxed slice, not a
    /// `Vec`: 16 bytes, so that the variant fits beside `Behind`'s tag.)
    Incomplete { missing: Box<[String]> },
    /// The probe failed.
    Error { reason: ErrorReason },
}

// A snapshot holds one verdict per (mirror, family, target): 1.4 million at 10,000 mirrors.
const _: () = assert!(std::mem::size_of::<Verdict>() == 24);

impl Verdict {
    /// Behind by a known number of upstream versions (a hash upstream showed); 0 counts
    /// as 1, since a copy that is behind is behind by one version at least.
    pub fn behind(versions: u32, lag_seconds: u64) -> Verdict {
        Verdict::Behind {
            versions: Some(NonZeroU32::new(versions).unwrap_or(NonZeroU32::MIN)),
            lag_seconds,
            estimated: false,
            content_age_seconds: None,
        }
    }

    /// Behind, estimated from the copy's own revision and timestamp: `lag_seconds` is a
    /// lower bound, `content_age_seconds` the age of the copy's newest data.
    pub fn behind_estimated(lag_seconds: u64, content_age_seconds: u64) -> Verdict {
        Verdict::Behind {
            versions: None,
            lag_seconds,
            estimated: true,
            content_age_seconds: Some(u32::try_from(content_age_seconds).unwrap_or(u32::MAX)),
        }
    }

    /// An estimated `Behind`: content upstream never showed, so no alternate matches it.
    pub fn is_estimated(&self) -> bool {
        matches!(
            self,
            Verdict::Behind {
                estimated: true,
                ..
            }
        )
    }

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

    /// Seconds behind upstream: 0 when current, the lag when behind (a lower bound when
    /// estimated), the estimate when unknown, `None` when there is nothing to measure.
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
/// - A hash not in the history is judged by its own revision and timestamp (below), even
///   when its data files are missing too: which version it is comes first, and it is
///   never offered either way.
/// - A copy of a known hash with missing data files is `Incomplete`: clients would fail on
///   it even if its repomd.xml is the current one.
/// - A hash in the history is `Current` (the newest) or `Behind`, where `versions` counts
///   the newer upstream versions and the lag runs from the `first_seen` of the version
///   that replaced the mirror's.
///
/// A hash not in the history (upstream never showed it: the mirror was behind before the
/// daemon started, synced a version we missed, or serves something else) is judged by
/// [`unknown_hash`]:
///
/// - **Estimated `Behind`** when both its `<revision>` and its newest data timestamp are
///   older than those of the *oldest* upstream version remembered (revisions compared as
///   numbers; a revision that is not a number on either side never qualifies). The number
///   of versions is unknown (`versions: None`, `estimated: true`). `lag_seconds` is a lower
///   bound: `now −` the newest data timestamp of the oldest remembered upstream version,
///   clamped at 0 (the mirror's content was outdated at the latest when that version was
///   built; createrepo_c writes the timestamp minutes before a version is published). It
///   drives `stale` at once, like any lag. With one remembered upstream version a mirror
///   1 and one 3 versions behind have the same lower bound, so `content_age_seconds =
///   now −` the copy's own newest data timestamp is given too: an upper bound on how long
///   it has been behind, and what tells such copies apart. The lower bound drives `stale`,
///   the content age tells copies apart.
/// - **`Unknown`, `newer: true`** when its newest timestamp is at least the current
///   upstream's and its revision is not older (when both are numbers): no lag.
/// - Otherwise **`Unknown`**: content that fits neither (another repository's repomd.xml,
///   a revision that is not a number, a revision and a timestamp that disagree). When its
///   timestamp is older than the current upstream's, the lag is estimated from the oldest
///   known upstream version whose timestamp is newer than the mirror's — when that version
///   appeared, the mirror's content was outdated (a lower bound if the mirror predates the
///   history). Without timestamps on either side, or with an empty history, there is no
///   estimate: never stale just because the upstream could not be reached.
pub fn verdict(history: &UpstreamHistory, copy: &MirrorCopy, now: i64) -> Verdict {
    let (sha256, timestamp, revision, data_files_ok, missing_files) = match copy {
        MirrorCopy::NotFound => return Verdict::Missing,
        MirrorCopy::Failed { reason } => return Verdict::Error { reason: *reason },
        MirrorCopy::Fetched {
            sha256,
            timestamp,
            revision,
            data_files_ok,
            missing_files,
        } => (sha256, *timestamp, *revision, *data_files_ok, missing_files),
    };
    // The content first: a repomd.xml upstream never showed is judged by its revision and
    // timestamps alone, whatever its data files. Its data files say nothing about which
    // version it is.
    let Some((newer, _)) = history.find(sha256) else {
        return unknown_hash(history, timestamp, revision, now);
    };
    // Either signal counts, so a probe that fills only one of them is still heard.
    if data_files_ok == Some(false) || !missing_files.is_empty() {
        return Verdict::Incomplete {
            missing: missing_files.as_slice().into(),
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
    Verdict::behind(
        u32::try_from(newer).unwrap_or(u32::MAX),
        seconds_since(replaced_at, now),
    )
}

/// The verdict on a hash never seen upstream, from its newest data timestamp and numeric
/// revision (see [`verdict`]).
fn unknown_hash(
    history: &UpstreamHistory,
    mirror_ts: Option<i64>,
    mirror_rev: Option<u64>,
    now: i64,
) -> Verdict {
    let no_estimate = Verdict::Unknown {
        newer: false,
        lag_seconds: None,
    };
    let (Some(mirror_ts), Some(current), Some(oldest)) =
        (mirror_ts, history.current(), history.versions().first())
    else {
        return no_estimate;
    };
    // Older than the oldest version remembered, by both signals: behind, by an unknown
    // number of versions.
    if let (Some(oldest_ts), Some(oldest_rev), Some(mirror_rev)) =
        (oldest.timestamp, oldest.numeric_revision(), mirror_rev)
    {
        if mirror_ts < oldest_ts && mirror_rev < oldest_rev {
            return Verdict::behind_estimated(
                seconds_since(oldest_ts, now),
                seconds_since(mirror_ts, now),
            );
        }
    }
    let Some(upstream_ts) = current.timestamp else {
        return no_estimate;
    };
    // A revision older than the current one says "not newer", whatever the timestamp.
    let older_revision = matches!(
        (mirror_rev, current.numeric_revision()),
        (Some(mine), Some(theirs)) if mine < theirs
    );
    if mirror_ts >= upstream_ts {
        return Verdict::Unknown {
            newer: !older_revision,
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
pub mod schedule;
#[cfg(test)]
mod tests;

pub use labels::{ErrorReason, VerdictKind};
