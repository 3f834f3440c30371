//! The conditional-GET validators of one file (ETag, Last-Modified) with the hash of the copy
//! they belong to and whether its data files were all found, and the one rule for what a
//! fetch makes of them ([`Validators::next`]): the sweep puts its result in the report, and
//! the scheduler, the records and the upstream poll all keep that.

use std::sync::Arc;

/// What a fetch did to the copy of a file that is kept between fetches: its input to
/// [`Validators::next`].
#[derive(Debug, Clone, Copy)]
pub enum Fetched<'a> {
    /// Read in full: a new copy, with the validators it came with, its hash (hex) and the
    /// data files found missing (`None`: not checked).
    Read {
        etag: Option<&'a str>,
        last_modified: Option<&'a str>,
        sha256: &'a str,
        missing: Option<&'a [String]>,
    },
    /// The copy kept stands: the file was not modified, or (for the upstream, whose records
    /// keep the version seen last through a failure) the poll failed.
    Kept,
    /// The copy kept is no longer the file's: it was not found or could not be read, and a
    /// mirror's records now hold that instead.
    Lost,
}

/// [`Validators`] spelt out field by field (the hash in hex), for tests to read what the
/// records hold (`CopyRecord::previous`); the daemon itself only uses [`Validators`].
#[cfg(test)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Previous {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub sha256: Option<String>,
    /// Its data files were checked and all found.
    pub complete: bool,
}

/// What a conditional GET of one file needs, compact: the hash as bytes and the validators'
/// texts. The scheduler keeps one per file of every (mirror, family) between sweeps, and the
/// upstream task one per upstream file.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    texts: Texts,
    has_sha256: bool,
    complete: bool,
    sha256: [u8; 32],
}

/// The ETag and Last-Modified texts, held one of two ways. Validators from a copy read in
/// full put both in one allocation of their own; those the records hand out (at start, after
/// a reload) share the records' interned texts, so that a restored network of 10,000 mirrors
/// does not copy its 1.4 million pairs of texts. Shared texts for fresh copies would cost
/// four allocations where one does, since most of their texts are not the records' to share.
#[derive(Debug, Clone, Default)]
enum Texts {
    #[default]
    None,
    /// The ETag (its first `etag_len` bytes, when there is one), then the date.
    Owned {
        text: Box<str>,
        etag_len: u32,
        has_etag: bool,
        has_last_modified: bool,
    },
    Shared {
        etag: Option<Arc<String>>,
        last_modified: Option<Arc<String>>,
    },
}

/// Equal when they would send the same request and judge a copy alike, however their
/// texts are held.
impl PartialEq for Validators {
    fn eq(&self, other: &Validators) -> bool {
        self.etag() == other.etag()
            && self.last_modified() == other.last_modified()
            && self.sha256() == other.sha256()
            && self.complete == other.complete
    }
}

impl Eq for Validators {}

impl Validators {
    /// `sha256` in hex, as in [`FileResult::Fetched`]; one that is not is treated as absent.
    pub fn new(
        etag: Option<&str>,
        last_modified: Option<&str>,
        sha256: Option<&str>,
        complete: bool,
    ) -> Validators {
        let mut bytes = [0u8; 32];
        let has_sha256 = sha256.is_some_and(|hex| hex::decode_to_slice(hex, &mut bytes).is_ok());
        let texts = match (etag, last_modified) {
            (None, None) => Texts::None,
            _ => {
                let (e, l) = (etag.unwrap_or_default(), last_modified.unwrap_or_default());
                Texts::Owned {
                    text: [e, l].concat().into_boxed_str(),
                    // An ETag over 4 GiB cannot come through the body cap's headers.
                    etag_len: u32::try_from(e.len()).unwrap_or(u32::MAX),
                    has_etag: etag.is_some(),
                    has_last_modified: last_modified.is_some(),
                }
            }
        };
        Validators {
            texts,
            has_sha256,
            complete,
            sha256: bytes,
        }
    }

    /// [`Validators::new`] from texts someone else holds too (the records' copy) and the
    /// sha256 as the 32 bytes the records keep: nothing copied but pointers and the hash.
    pub fn shared(
        etag: Option<Arc<String>>,
        last_modified: Option<Arc<String>>,
        sha256: Option<&[u8; 32]>,
        complete: bool,
    ) -> Validators {
        Validators {
            texts: Texts::Shared {
                etag,
                last_modified,
            },
            has_sha256: sha256.is_some(),
            complete,
            sha256: sha256.copied().unwrap_or_default(),
        }
    }

    pub fn etag(&self) -> Option<&str> {
        self.texts().0
    }

    pub fn last_modified(&self) -> Option<&str> {
        self.texts().1
    }

    /// The ETag and the Last-Modified date, however they are held.
    fn texts(&self) -> (Option<&str>, Option<&str>) {
        match &self.texts {
            Texts::None => (None, None),
            Texts::Owned {
                text,
                etag_len,
                has_etag,
                has_last_modified,
            } => {
                let (etag, date) = text
                    .split_at_checked(*etag_len as usize)
                    .unwrap_or_default();
                (has_etag.then_some(etag), has_last_modified.then_some(date))
            }
            Texts::Shared {
                etag,
                last_modified,
            } => (
                etag.as_deref().map(String::as_str),
                last_modified.as_deref().map(String::as_str),
            ),
        }
    }

    /// The copy's sha256, when it was read in full.
    pub fn sha256(&self) -> Option<&[u8; 32]> {
        self.has_sha256.then_some(&self.sha256)
    }

    /// Whether the copy had this sha256 (hex).
    pub fn same_sha256(&self, sha256: &str) -> bool {
        let mut bytes = [0u8; 32];
        self.has_sha256 && hex::decode_to_slice(sha256, &mut bytes).is_ok() && bytes == self.sha256
    }

    /// Its data files were checked and all found.
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// The validators for the next request of a file that had `previous`, after a fetch.
    ///
    /// Validators go with the copy they came with: a copy read in full brings its own, a copy
    /// that stands keeps them, and a lost one takes them along, so that the next request
    /// (after a restart too) cannot be answered "not modified" about a copy nobody holds. A
    /// copy read without a check of its data files is complete when it is the copy that was
    /// complete before (same hash).
    pub fn next(previous: Option<&Validators>, fetched: Fetched<'_>) -> Next {
        match fetched {
            Fetched::Read {
                etag,
                last_modified,
                sha256,
                missing,
            } => {
                let complete = match missing {
                    Some(missing) => missing.is_empty(),
                    None => previous.is_some_and(|p| p.complete && p.same_sha256(sha256)),
                };
                Next::New(Validators::new(etag, last_modified, Some(sha256), complete))
            }
            Fetched::Kept => Next::Kept,
            Fetched::Lost => Next::Dropped,
        }
    }
}

/// What a fetch made of a file's validators ([`Validators::next`]), as a report carries it.
/// A copy that stands keeps the validators its request was sent with, so a 304 (nearly every
/// fetch of a warm sweep) carries no copy of them: only a copy read in full brings new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The validators the request was sent with stand (none, if it was sent without).
    Kept,
    /// A copy read in full, with its own.
    New(Validators),
    /// The copy they belonged to is lost: none.
    Dropped,
}

impl Next {
    /// The validators after the fetch, given those its request was sent with.
    pub fn resolve<'a>(&'a self, sent: Option<&'a Validators>) -> Option<&'a Validators> {
        match self {
            Next::Kept => sent,
            Next::New(v) => Some(v),
            Next::Dropped => None,
        }
    }

    /// Make `slot`, which holds the validators the request was sent with, hold the next ones.
    pub fn apply(&self, slot: &mut Option<Validators>) {
        match self {
            Next::Kept => {}
            Next::New(v) => *slot = Some(v.clone()),
            Next::Dropped => *slot = None,
        }
    }

    /// [`Self::apply`] to the entry of `key` in validators kept by file key.
    pub fn apply_keyed(&self, key: &str, kept: &mut std::collections::HashMap<String, Validators>) {
        match self {
            Next::Kept => {}
            Next::New(v) => {
                kept.insert(key.to_string(), v.clone());
            }
            Next::Dropped => {
                kept.remove(key);
            }
        }
    }

    /// The validators of a copy read in full: what the records keep with that copy.
    pub fn read(&self) -> Option<&Validators> {
        match self {
            Next::New(v) => Some(v),
            Next::Kept | Next::Dropped => None,
        }
    }
}

#[cfg(test)]
impl From<&Previous> for Validators {
    fn from(p: &Previous) -> Validators {
        Validators::new(
            p.etag.as_deref(),
            p.last_modified.as_deref(),
            p.sha256.as_deref(),
            p.complete,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn validators_keep_what_they_were_given() {
        let both = Validators::new(
            Some("\"5f0c-1a2b\""),
            Some("Tue, 14 Nov 2023 22:13:20 GMT"),
            Some(SHA),
            true,
        );
        assert_eq!(both.etag(), Some("\"5f0c-1a2b\""));
        assert_eq!(both.last_modified(), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
        assert!(both.same_sha256(SHA) && both.complete());
        assert!(!both.same_sha256(&SHA.replace('9', "8")));
        let date_only = Validators::new(None, Some("Tue, 14 Nov 2023 22:13:20 GMT"), None, false);
        assert_eq!(date_only.etag(), None);
        assert_eq!(
            date_only.last_modified(),
            Some("Tue, 14 Nov 2023 22:13:20 GMT")
        );
        assert!(!date_only.same_sha256(SHA) && !date_only.complete());
        let etag_only = Validators::new(Some("\"\""), None, Some("not hex"), false);
        assert_eq!(
            (etag_only.etag(), etag_only.last_modified()),
            (Some("\"\""), None)
        );
        assert!(!etag_only.same_sha256("not hex"));
        let previous = Previous {
            etag: Some("W/\"x\"".into()),
            last_modified: None,
            sha256: Some(SHA.into()),
            complete: true,
        };
        let v = Validators::from(&previous);
        assert_eq!((v.etag(), v.last_modified()), (Some("W/\"x\""), None));
        assert!(v.same_sha256(SHA) && v.complete());
        assert_eq!(Validators::default().etag(), None);
        assert_eq!(Validators::default().last_modified(), None);
    }

    fn new_ones(next: Next) -> Validators {
        match next {
            Next::New(v) => v,
            other => panic!("not new validators: {other:?}"),
        }
    }

    fn read<'a>(etag: &'a str, sha256: &'a str, missing: Option<&'a [String]>) -> Fetched<'a> {
        Fetched::Read {
            etag: Some(etag),
            last_modified: None,
            sha256,
            missing,
        }
    }

    #[test]
    fn a_fetch_moves_the_validators_with_the_copy() {
        let other = SHA.replace('9', "8");
        let checked = new_ones(Validators::next(None, read("\"a\"", SHA, Some(&[]))));
        assert_eq!(checked.etag(), Some("\"a\""));
        assert!(checked.same_sha256(SHA) && checked.complete());
        let gaps = ["repodata/a.xml.gz".to_string()];
        let partial = new_ones(Validators::next(None, read("\"a\"", SHA, Some(&gaps))));
        assert!(!partial.complete());
        // Unchecked: complete only as the same copy that was complete.
        let same = new_ones(Validators::next(Some(&checked), read("\"b\"", SHA, None)));
        assert!(same.complete() && same.etag() == Some("\"b\""));
        let new = new_ones(Validators::next(
            Some(&checked),
            read("\"b\"", &other, None),
        ));
        assert!(!new.complete() && new.same_sha256(&other));
        assert!(!new_ones(Validators::next(Some(&partial), read("\"a\"", SHA, None))).complete());
        assert!(!new_ones(Validators::next(None, read("\"a\"", SHA, None))).complete());
        // 304 keeps them, a lost copy takes them along.
        let kept = Validators::next(Some(&checked), Fetched::Kept);
        assert_eq!(kept.resolve(Some(&checked)), Some(&checked));
        assert_eq!(kept.read(), None);
        assert_eq!(Validators::next(None, Fetched::Kept).resolve(None), None);
        let lost = Validators::next(Some(&checked), Fetched::Lost);
        assert_eq!(lost.resolve(Some(&checked)), None);
        let mut slot = Some(checked.clone());
        kept.apply(&mut slot);
        assert_eq!(slot.as_ref(), Some(&checked));
        lost.apply(&mut slot);
        assert_eq!(slot, None);
        Next::New(checked.clone()).apply(&mut slot);
        assert_eq!(slot, Some(checked));
    }

    #[test]
    fn validators_from_the_records_share_their_texts() {
        let etag = Arc::new("\"691e5a00-1097\"".to_string());
        let v = Validators::shared(Some(etag.clone()), None, None, false);
        assert!(std::ptr::eq(v.etag().unwrap(), etag.as_str()));
        assert_eq!(Arc::strong_count(&etag), 2);
        assert_eq!(v.last_modified(), None);
    }

    #[test]
    fn fresh_validators_hold_their_texts_in_one_place_and_equal_shared_ones() {
        let fresh = Validators::new(Some("\"e\""), Some("Tue, 1 Dec 2026"), Some(SHA), true);
        assert_eq!(fresh.etag(), Some("\"e\""));
        assert_eq!(fresh.last_modified(), Some("Tue, 1 Dec 2026"));
        let text = |t: &str| Some(Arc::new(t.to_string()));
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(SHA, &mut bytes).unwrap();
        let shared = Validators::shared(text("\"e\""), text("Tue, 1 Dec 2026"), Some(&bytes), true);
        assert_eq!(fresh, shared);
        let date_only = Validators::new(None, Some("Tue, 1 Dec 2026"), None, false);
        assert_eq!(
            (date_only.etag(), date_only.last_modified()),
            (None, Some("Tue, 1 Dec 2026"))
        );
        let etag_only = Validators::new(Some(""), None, None, false);
        assert_eq!(
            (etag_only.etag(), etag_only.last_modified()),
            (Some(""), None)
        );
    }
}
