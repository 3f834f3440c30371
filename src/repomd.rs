//! Pure parsing of `repomd.xml`, the index of an RPM repository's metadata.
//!
//! A mirror's copy of a repository is judged by the hash of its whole `repomd.xml`
//! ([`fingerprint`]); parsing is needed for two other things: the newest data timestamp
//! (the fallback when a hash was never seen upstream, and the metalink's `mm0:timestamp`)
//! and the list of data files a client will download (the partial-sync check).
//!
//! The parser reads what createrepo_c writes (see `docs/formats.md`) and is deliberately
//! tolerant of what does not matter to us (namespaces and prefixes, unknown elements such
//! as `<tags>` or zchunk's `<header-checksum>`, decimals in timestamps) and strict about
//! what does: the document must be well-formed, rooted at `repomd`, complete, and every
//! `<data>` must say what it is (`type`) and where it is (`<location href>`).
//!
//! It never panics and its memory is bounded: the input is already capped by the caller,
//! and on top of that nesting depth, the number of `<data>` entries and the length of any
//! one text field are limited, so a hostile mirror cannot make us build a large structure.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

mod reader;

/// At most this many `<data>` entries; real repositories have about a dozen.
pub const MAX_DATA_ENTRIES: usize = 1000;
/// Nesting deeper than this is not a repomd.xml (real ones are 3 levels deep).
const MAX_DEPTH: usize = 32;
/// Longest text we keep for one field (a sha512 hex is 128 bytes; revisions are short).
const MAX_TEXT_LEN: usize = 4096;
/// Untrusted strings quoted in error messages are clipped to this many characters.
const MAX_QUOTE: usize = 64;

/// Why a byte string is not a usable `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepomdError {
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("no root element")]
    Empty,
    #[error("not a repomd.xml: the root element is <{0}>")]
    NotRepomd(String),
    #[error("truncated: the document ends before </repomd>")]
    Truncated,
    #[error("content after the root element")]
    TrailingContent,
    #[error("elements nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the text of <{0}> is longer than {MAX_TEXT_LEN} bytes")]
    TextTooLong(&'static str),
    #[error("more than {MAX_DATA_ENTRIES} <data> entries")]
    TooManyEntries,
    #[error("no <data> entries")]
    NoData,
    #[error("a <data> entry has no type attribute")]
    MissingType,
    #[error("<data type=\"{0}\"> has no <location href=...>")]
    MissingLocation(String),
    #[error("<data type=\"{kind}\">: <{field}> is not a valid number: {value:?}")]
    BadNumber {
        kind: String,
        field: &'static str,
        value: String,
    },
    #[error("<data type=\"{kind}\">: <{field}> {problem}")]
    BadChecksum {
        kind: String,
        field: &'static str,
        problem: &'static str,
    },
}

/// A parsed `repomd.xml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repomd {
    /// `<revision>`: usually an epoch, but any string; `None` when absent or blank.
    pub revision: Option<String>,
    /// The `<data>` entries, in document order (never empty after [`parse`]).
    pub data: Vec<DataFile>,
}

/// One `<data type="...">` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// The `type` attribute: `primary`, `filelists`, `other_db`, `group_gz`, ...
    pub kind: String,
    /// `<location href>`, relative to the repository base unless `location_base` is set.
    pub href: String,
    /// `<location xml:base>`: the file lives under another base URL.
    pub location_base: Option<String>,
    pub size: Option<u64>,
    pub open_size: Option<u64>,
    /// Seconds since the epoch; decimals found in the wild are truncated.
    pub timestamp: Option<i64>,
    pub checksum: Option<Checksum>,
    pub open_checksum: Option<Checksum>,
}

/// A checksum as written in repomd.xml: algorithm name and lowercase hex digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// Lowercased `type` attribute (`sha256`, `sha512`, `sha1`, `sha`, ...).
    pub algo: String,
    /// Lowercase hex.
    pub hex: String,
}

impl Repomd {
    /// The newest `<timestamp>` of any data entry: when the repository was last changed.
    pub fn newest_timestamp(&self) -> Option<i64> {
        self.data.iter().filter_map(|d| d.timestamp).max()
    }

    /// The `<revision>` as a number, `None` when absent or not a (non-negative) number.
    pub fn numeric_revision(&self) -> Option<u64> {
        numeric_revision(self.revision.as_deref())
    }

    /// The data files whose presence on a mirror the partial-sync check verifies.
    ///
    /// Every entry is checked, not only the types dnf fetches by default: which files a
    /// client downloads depends on its version and settings (zchunk, `_db` for old yum,
    /// `group_gz`, lazy filelists in dnf5), and a mirror missing any referenced file is
    /// partially synced whatever the type. Only entries that are safely inside the
    /// repository's own `repodata/` are returned (see [`DataFile::is_checkable`]), so a
    /// hostile repomd.xml cannot make the prober fetch arbitrary URLs.
    pub fn data_files_to_check(&self) -> impl Iterator<Item = &DataFile> {
        self.data.iter().filter(|d| d.is_checkable())
    }
}

impl DataFile {
    /// True when `href` is a plain relative path under `repodata/` with no `xml:base`:
    /// no scheme, no `..`, `.` or empty segments, no query or fragment, no
    /// percent-escapes, nothing but ASCII letters, digits and `-._~+=,@`. That is
    /// everything createrepo_c writes, and joining it to the mirror's base URL
    /// cannot leave the repository.
    pub fn is_checkable(&self) -> bool {
        if self.location_base.is_some() {
            return false;
        }
        let Some(rest) = self.href.strip_prefix("repodata/") else {
            return false;
        };
        !rest.is_empty()
            && rest.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~+=,@".contains(&b))
            })
    }
}

/// A `<revision>` as a number: createrepo_c writes the epoch by default, but the field is
/// free text, and only numbers can be compared with each other.
pub fn numeric_revision(revision: Option<&str>) -> Option<u64> {
    revision.and_then(|r| r.trim().parse().ok())
}

/// Hashes and size of a whole file: what identifies one version of a `repomd.xml`.
///
/// sha256 is the identity used everywhere; the others are what a metalink lists (librepo
/// checks the strongest it knows, as MirrorManager's metalinks expect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Lowercase hex sha256 of the bytes.
    pub sha256: String,
    /// Lowercase hex sha512 of the bytes.
    pub sha512: String,
    pub sha1: String,
    pub md5: String,
    /// Length in bytes.
    pub size: u64,
}

/// Fingerprint `bytes` (the raw file, exactly as served).
pub fn fingerprint(bytes: &[u8]) -> Fingerprint {
    Fingerprint {
        sha256: sha256_hex(bytes),
        sha512: hex::encode(Sha512::digest(bytes)),
        sha1: hex::encode(sha1::Sha1::digest(bytes)),
        md5: hex::encode(md5::Md5::digest(bytes)),
        // usize is at most 64 bits on every target Rust supports, so this never saturates.
        size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
    }
}

/// The sha256 of a file, lowercase hex: what identifies a mirror's copy (the other digests
/// of [`fingerprint`] are for the upstream's metalink).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// The sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Parse a `repomd.xml` (the raw bytes as served; UTF-8, as createrepo_c writes it).
pub fn parse(bytes: &[u8]) -> Result<Repomd, RepomdError> {
    reader::parse(bytes)
}

#[cfg(test)]
mod tests;
