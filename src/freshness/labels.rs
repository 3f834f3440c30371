//! The closed sets of labels a verdict carries: its kind ([`VerdictKind`]) and, for an
//! error, its reason ([`ErrorReason`]). Metrics, the API and `check` take their label values
//! from these, never from free text.

use serde::{Deserialize, Serialize};

use crate::probe::FailureReason;

/// Why a copy is judged [`Verdict::Error`](super::Verdict::Error): the failure of its last
/// fetch, or what the records know instead of one. Written (API, state file) as its label:
/// a [`FailureReason`]'s, `"state"`, `"not fetched yet"` or `"skipped"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// The last fetch of the file failed.
    Probe(FailureReason),
    /// The state file held this copy damaged (an unreadable hash): the next sweep fetches
    /// the file in full.
    StateFile,
    /// No copy was ever recorded and no sweep of the family failed: nothing fetched yet.
    NotFetchedYet,
    /// The last sweep did not fetch the file: its host had failed again and again, or the
    /// sweep's time was up. What was seen before is kept for when the host answers.
    Skipped,
}

impl ErrorReason {
    /// Every value, the probe's reasons first.
    pub const ALL: [ErrorReason; FailureReason::ALL.len() + 3] = {
        let mut all = [ErrorReason::StateFile; FailureReason::ALL.len() + 3];
        let mut i = 0;
        while i < FailureReason::ALL.len() {
            all[i] = ErrorReason::Probe(FailureReason::ALL[i]);
            i += 1;
        }
        all[i + 1] = ErrorReason::NotFetchedYet;
        all[i + 2] = ErrorReason::Skipped;
        all
    };

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::Probe(reason) => reason.as_str(),
            ErrorReason::StateFile => "state",
            ErrorReason::NotFetchedYet => "not fetched yet",
            ErrorReason::Skipped => "skipped",
        }
    }

    /// The reason whose label ([`ErrorReason::as_str`]) is `label`.
    pub fn from_label(label: &str) -> Option<ErrorReason> {
        ErrorReason::ALL.into_iter().find(|r| r.as_str() == label)
    }
}

impl From<FailureReason> for ErrorReason {
    fn from(reason: FailureReason) -> ErrorReason {
        ErrorReason::Probe(reason)
    }
}

impl std::fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorReason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ErrorReason, D::Error> {
        let label = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        ErrorReason::from_label(&label)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason {label:?}")))
    }
}

/// The kind of a [`Verdict`](super::Verdict) without its data: the closed set of verdict
/// labels (metrics, the API, `check`). Ordered by label, as the exposition and the API list
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Current,
    Behind,
    Unknown,
    Missing,
    Incomplete,
    Error,
}

impl VerdictKind {
    pub const ALL: [VerdictKind; 6] = [
        VerdictKind::Current,
        VerdictKind::Behind,
        VerdictKind::Unknown,
        VerdictKind::Missing,
        VerdictKind::Incomplete,
        VerdictKind::Error,
    ];

    /// Stable label value for metrics and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Current => "current",
            VerdictKind::Behind => "behind",
            VerdictKind::Unknown => "unknown",
            VerdictKind::Missing => "missing",
            VerdictKind::Incomplete => "incomplete",
            VerdictKind::Error => "error",
        }
    }
}

impl Ord for VerdictKind {
    fn cmp(&self, other: &VerdictKind) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for VerdictKind {
    fn partial_cmp(&self, other: &VerdictKind) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_reads_back_as_its_value_and_none_repeats() {
        let mut seen = std::collections::HashSet::new();
        for reason in ErrorReason::ALL {
            assert_eq!(ErrorReason::from_label(reason.as_str()), Some(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
            assert!(seen.insert(reason.as_str()), "{reason} twice");
        }
        for reason in FailureReason::ALL {
            assert_eq!(FailureReason::from_label(reason.as_str()), Some(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        assert_eq!(ErrorReason::from_label("other"), None);
        let mut kinds = VerdictKind::ALL;
        kinds.sort();
        let labels: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            labels,
            [
                "behind",
                "current",
                "error",
                "incomplete",
                "missing",
                "unknown"
            ]
        );
        for kind in VerdictKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
