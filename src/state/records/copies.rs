//! The last copy seen of each file of one (mirror, family), and what it means for the
//! freshness verdict ([`CopyRecord::as_copy`]) and for the next conditional GET
//! ([`CopyRecord::validators`]).

use super::super::intern::{Content, Text};
use crate::freshness::{ErrorReason, MirrorCopy};
#[cfg(test)]
use crate::probe::Previous;
use crate::probe::Validators;

/// The last copy seen of each file, by target key: a vector sorted by key (a map's nodes
/// would cost more than the records themselves).
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

    /// Keep only the copies whose key `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.0.retain(|(key, _)| keep(key));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// From copies in any order; a key given twice keeps its last copy, as a map would.
    pub fn from_entries(mut entries: Vec<(Text, CopyRecord)>) -> Copies {
        entries.reverse();
        // Stable: of equal keys, the last given comes first and is the one kept.
        entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        entries.shrink_to_fit();
        Copies(entries)
    }
}

/// The last thing seen of one file on one mirror.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyRecord {
    pub seen: Seen,
    pub etag: Option<Text>,
    pub last_modified: Option<Text>,
    pub at: i64,
}

/// What the last fetch of a file found.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Fetched {
        /// The hash, newest timestamp and numeric revision of the file.
        content: Content,
        /// `None`: the data files were not checked.
        missing: Option<Box<[Text]>>,
    },
    NotFound,
    Failed {
        reason: ErrorReason,
        detail: Text,
    },
    /// The last sweep skipped the file (see `FileResult::Skipped`): judged
    /// `error(skipped)`, while `before`, what was seen last, waits for the host to answer
    /// again (a 304 then brings it back). Saved as `before`.
    Skipped {
        before: Box<Seen>,
    },
}

impl Seen {
    /// What was last seen of the file, a skip looked through.
    pub fn evidence(&self) -> &Seen {
        match self {
            Seen::Skipped { before } => before.evidence(),
            seen => seen,
        }
    }
}

impl CopyRecord {
    /// What the freshness module judges.
    pub fn as_copy(&self) -> MirrorCopy {
        match &self.seen {
            Seen::Fetched { content, missing } => MirrorCopy::Fetched {
                sha256: content.sha256_hex(),
                timestamp: content.timestamp,
                revision: content.revision,
                data_files_ok: missing.as_ref().map(|m| m.is_empty()),
                missing_files: missing
                    .iter()
                    .flat_map(|m| m.iter())
                    .map(ToString::to_string)
                    .collect(),
            },
            Seen::NotFound => MirrorCopy::NotFound,
            Seen::Failed { reason, .. } => MirrorCopy::Failed { reason: *reason },
            Seen::Skipped { .. } => MirrorCopy::Failed {
                reason: ErrorReason::Skipped,
            },
        }
    }

    /// Validators and hash for the next conditional GET.
    /// [`Self::previous`] in the compact form a sweep takes, straight from the stored hash.
    pub fn validators(&self) -> Validators {
        let (sha256, complete) = match self.seen.evidence() {
            Seen::Fetched { content, missing } => (
                Some(&content.sha256),
                missing.as_ref().is_some_and(|m| m.is_empty()),
            ),
            _ => (None, false),
        };
        Validators::shared(
            self.etag.as_ref().map(Text::shared),
            self.last_modified.as_ref().map(Text::shared),
            sha256,
            complete,
        )
    }

    #[cfg(test)]
    pub fn previous(&self) -> Previous {
        let (sha256, complete) = match self.seen.evidence() {
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
