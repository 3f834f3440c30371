//! Copies in the state file: one object per target key, `seen` tagged by `kind`, the
//! sha256 as hex. A copy that cannot be read costs that copy only (see [`super`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::freshness::ErrorReason;
use crate::state::intern::{Content, ContentId, Text};
use crate::state::records::{Copies, CopyRecord, Seen};

pub(super) struct CopiesOut<'a>(pub(super) &'a Copies);

impl Serialize for CopiesOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, c)| (k, CopyOut(c))))
    }
}

/// Copies read into the records' sorted vector directly (a map's nodes would cost more
/// than the copies themselves, even for the time of the read).
#[derive(Default)]
pub(super) struct CopiesIn(pub(super) Copies);

impl<'de> Deserialize<'de> for CopiesIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CopiesIn, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = CopiesIn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of target keys to copies")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<CopiesIn, A::Error> {
                let mut entries: Vec<(Text, CopyRecord)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((key, copy)) = map.next_entry::<Text, CopyIn>()? {
                    entries.push((key, copy.into()));
                }
                Ok(CopiesIn(Copies::from_entries(entries)))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

struct CopyOut<'a>(&'a CopyRecord);

impl Serialize for CopyOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            seen: SeenOut<'a>,
            etag: &'a Option<Text>,
            last_modified: &'a Option<Text>,
            at: i64,
        }
        let c = self.0;
        Out {
            seen: match &c.seen {
                Seen::Fetched { content, missing } => SeenOut::Fetched {
                    sha256: Hex(&content.sha256),
                    timestamp: content.timestamp,
                    revision: content.revision,
                    missing,
                },
                Seen::NotFound => SeenOut::NotFound,
                Seen::Failed { reason, detail } => SeenOut::Failed {
                    reason: reason.as_str(),
                    detail,
                },
            },
            etag: &c.etag,
            last_modified: &c.last_modified,
            at: c.at,
        }
        .serialize(serializer)
    }
}

#[derive(Deserialize)]
struct CopyIn {
    seen: SeenIn,
    etag: Option<Text>,
    last_modified: Option<Text>,
    at: i64,
}

impl From<CopyIn> for CopyRecord {
    fn from(c: CopyIn) -> CopyRecord {
        CopyRecord {
            seen: c.seen.into(),
            etag: c.etag,
            last_modified: c.last_modified,
            at: c.at,
        }
    }
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
        #[serde(skip_serializing_if = "Option::is_none")]
        revision: Option<u64>,
        missing: &'a Option<Box<[Text]>>,
    },
    NotFound,
    Failed {
        reason: &'static str,
        detail: &'a Text,
    },
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum SeenIn {
    Fetched {
        sha256: String,
        timestamp: Option<i64>,
        /// Absent in older state files and for revisions that are not numbers.
        #[serde(default)]
        revision: Option<u64>,
        missing: Option<Box<[Text]>>,
    },
    NotFound,
    Failed {
        reason: String,
        detail: Text,
    },
}

impl From<SeenIn> for Seen {
    fn from(seen: SeenIn) -> Seen {
        match seen {
            SeenIn::Fetched {
                sha256,
                timestamp,
                revision,
                missing,
            } => match ContentId::from_hex(&sha256, timestamp, revision) {
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
            SeenIn::Failed { reason, detail } => match ErrorReason::from_label(&reason) {
                Some(reason) => Seen::Failed { reason, detail },
                None => Seen::Failed {
                    reason: ErrorReason::StateFile,
                    detail: Text::new(format!(
                        "unknown reason {reason:?} in the state file: {detail}"
                    )),
                },
            },
        }
    }
}
