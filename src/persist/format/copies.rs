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
            seen: seen_out(&c.seen),
            etag: &c.etag,
            last_modified: &c.last_modified,
            at: c.at,
        }
        .serialize(serializer)
    }
}

/// How `seen` is saved. A skip is not: what was seen before it is.
fn seen_out(seen: &Seen) -> SeenOut<'_> {
    match seen {
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
        Seen::Skipped { before } => seen_out(before),
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

/// `seen` as read. Read field by field, in any order, by [`SeenVisitor`]: a derived
/// internally tagged enum would first buffer every copy's fields into serde's generic content
/// tree, several allocations per copy for 2.7 million copies at 10,000 mirrors.
enum SeenIn {
    Fetched {
        sha256: HexSha,
        timestamp: Option<i64>,
        /// Absent in older state files and for revisions that are not numbers.
        revision: Option<u64>,
        missing: Option<Box<[Text]>>,
    },
    NotFound,
    Failed {
        reason: String,
        detail: Text,
    },
}

/// The fields of `seen`; any other is skipped, as a derived reader would.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Kind,
    Sha256,
    Timestamp,
    Revision,
    Missing,
    Reason,
    Detail,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Fetched,
    NotFound,
    Failed,
}

/// A sha256 read from its hex text without keeping the text: the bytes, or why they could
/// not be read (with the text, for the failure's detail).
struct HexSha(Result<[u8; 32], String>);

impl<'de> Deserialize<'de> for HexSha {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HexSha, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = HexSha;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sha256 in hex")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<HexSha, E> {
                let mut bytes = [0u8; 32];
                Ok(HexSha(match hex::decode_to_slice(text, &mut bytes) {
                    Ok(()) => Ok(bytes),
                    Err(e) => Err(format!("unreadable sha256 {text:?} in the state file: {e}")),
                }))
            }
        }
        deserializer.deserialize_str(Visit)
    }
}

impl<'de> Deserialize<'de> for SeenIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SeenIn, D::Error> {
        deserializer.deserialize_map(SeenVisitor)
    }
}

struct SeenVisitor;

impl<'de> serde::de::Visitor<'de> for SeenVisitor {
    type Value = SeenIn;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a copy's `seen` object with its `kind`")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<SeenIn, A::Error> {
        use serde::de::Error;
        let mut kind = None;
        let (mut sha256, mut timestamp, mut revision, mut missing) = (None, None, None, None);
        let (mut reason, mut detail) = (None, None);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Kind => kind = Some(map.next_value::<Kind>()?),
                Field::Sha256 => sha256 = Some(map.next_value::<HexSha>()?),
                Field::Timestamp => timestamp = map.next_value()?,
                Field::Revision => revision = map.next_value()?,
                Field::Missing => missing = map.next_value()?,
                Field::Reason => reason = Some(map.next_value::<String>()?),
                Field::Detail => detail = Some(map.next_value::<Text>()?),
                Field::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(match kind.ok_or_else(|| A::Error::missing_field("kind"))? {
            Kind::Fetched => SeenIn::Fetched {
                sha256: sha256.ok_or_else(|| A::Error::missing_field("sha256"))?,
                timestamp,
                revision,
                missing,
            },
            Kind::NotFound => SeenIn::NotFound,
            Kind::Failed => SeenIn::Failed {
                reason: reason.ok_or_else(|| A::Error::missing_field("reason"))?,
                detail: detail.ok_or_else(|| A::Error::missing_field("detail"))?,
            },
        })
    }
}

impl From<SeenIn> for Seen {
    fn from(seen: SeenIn) -> Seen {
        match seen {
            SeenIn::Fetched {
                sha256,
                timestamp,
                revision,
                missing,
            } => match sha256.0 {
                Ok(sha256) => Seen::Fetched {
                    content: Content::deserialized(ContentId {
                        sha256,
                        timestamp,
                        revision,
                    }),
                    missing,
                },
                // One damaged copy must not cost the whole state: it reads as a failed
                // fetch, so the next sweep fetches that file in full.
                Err(detail) => Seen::Failed {
                    reason: ErrorReason::StateFile,
                    detail: Text::new(detail),
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
