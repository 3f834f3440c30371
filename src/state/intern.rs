//! Interning for the records. What the records hold per (mirror, family, file) mostly
//! repeats across mirrors and files: the target keys, the validators (rsync keeps mtimes, so
//! mirrors of one tree answer the same `Last-Modified`, and servers derive ETags from mtime and
//! size), the failure texts of a mirror that is down, the data files found missing, and above
//! all the hash and timestamp of a repomd.xml (most mirrors hold the upstream's). Each distinct
//! value is kept once per [`Interner`] and the records hold a pointer to it.
//!
//! Values are interned when the records are read back from the state file too: the
//! `Deserialize` of [`Text`] and [`Content`] uses the interner that
//! [`Interner::deserializing`] installs on the current thread, so a restored state never
//! holds one copy per record, not even while it is being read.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A shared, immutable text: one pointer in a record.
#[derive(Clone)]
pub struct Text(Arc<String>);

impl Text {
    /// A text of its own, not interned.
    pub fn new(s: impl Into<String>) -> Text {
        Text(Arc::new(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As a `&String`, for callers that clone it into an owned key.
    pub fn as_string(&self) -> &String {
        &self.0
    }

    /// The shared text itself, for holders outside the records (a sweep's validators): one
    /// more pointer to it, never a copy.
    pub fn shared(&self) -> Arc<String> {
        self.0.clone()
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(with_active(|interner| match interner {
            Some(interner) => interner.text_owned(s),
            None => Text::new(s),
        }))
    }
}

/// What identifies a fetched repomd.xml: the sha256 of the whole file, and what the
/// freshness verdict reads in it — the newest data timestamp and the `<revision>` when it is
/// a number (functions of the bytes, so they are interned with the hash).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentId {
    pub sha256: [u8; 32],
    pub timestamp: Option<i64>,
    /// The `<revision>`, when it is a number: only numeric revisions are compared, so a
    /// revision that is not one is kept as `None`, like an absent one.
    pub revision: Option<u64>,
}

impl ContentId {
    /// From the lowercase (or uppercase) hex digest of the file.
    pub fn from_hex(
        sha256: &str,
        timestamp: Option<i64>,
        revision: Option<u64>,
    ) -> Result<ContentId, hex::FromHexError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(sha256, &mut bytes)?;
        Ok(ContentId {
            sha256: bytes,
            timestamp,
            revision,
        })
    }

    /// The lowercase hex digest, as the rest of mirrorwatch knows it.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// A shared [`ContentId`]: one pointer in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(Arc<ContentId>);

impl Content {
    /// Interned in the interner of the current deserialization, if any.
    pub(crate) fn deserialized(id: ContentId) -> Content {
        with_active(|interner| match interner {
            Some(interner) => interner.content(id),
            None => Content(Arc::new(id)),
        })
    }
}

impl Deref for Content {
    type Target = ContentId;
    fn deref(&self) -> &ContentId {
        &self.0
    }
}

/// A text in the interner's table, looked up by `&str`.
struct Slot(Arc<String>);

impl Borrow<str> for Slot {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Slot {
    fn eq(&self, other: &Slot) -> bool {
        self.0 == other.0
    }
}

impl Eq for Slot {}

impl Hash for Slot {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

/// The table of distinct values. Values stay alive while a record holds them;
/// [`Interner::purge`] drops those only the table still holds.
#[derive(Default)]
pub struct Interner {
    texts: HashSet<Slot>,
    contents: HashSet<Arc<ContentId>>,
}

/// A clone starts with an empty table: the values it shares with the original are still
/// shared (they are `Arc`s), only new ones are not looked up in the original's table.
impl Clone for Interner {
    fn clone(&self) -> Interner {
        Interner::default()
    }
}

impl fmt::Debug for Interner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interner")
            .field("texts", &self.texts.len())
            .field("contents", &self.contents.len())
            .finish()
    }
}

thread_local! {
    /// The interner of the deserialization running on this thread, if any.
    static ACTIVE: RefCell<Option<Interner>> = const { RefCell::new(None) };
}

fn with_active<R>(f: impl FnOnce(Option<&mut Interner>) -> R) -> R {
    ACTIVE.with(|active| match active.try_borrow_mut() {
        Ok(mut active) => f(active.as_mut()),
        // Never re-entered in practice; without the table, values are simply not shared.
        Err(_) => f(None),
    })
}

impl Interner {
    pub fn text(&mut self, s: &str) -> Text {
        match self.texts.get(s) {
            Some(slot) => Text(slot.0.clone()),
            None => self.insert(s.to_string()),
        }
    }

    pub fn text_owned(&mut self, s: String) -> Text {
        match self.texts.get(s.as_str()) {
            Some(slot) => Text(slot.0.clone()),
            None => self.insert(s),
        }
    }

    fn insert(&mut self, s: String) -> Text {
        let shared = Arc::new(s);
        self.texts.insert(Slot(shared.clone()));
        Text(shared)
    }

    pub fn content(&mut self, id: ContentId) -> Content {
        match self.contents.get(&id) {
            Some(shared) => Content(shared.clone()),
            None => {
                let shared = Arc::new(id);
                self.contents.insert(shared.clone());
                Content(shared)
            }
        }
    }

    /// Forget the values no record holds any more.
    pub fn purge(&mut self) {
        self.texts.retain(|slot| Arc::strong_count(&slot.0) > 1);
        self.contents.retain(|c| Arc::strong_count(c) > 1);
    }

    /// Distinct values in the table.
    pub fn len(&self) -> usize {
        self.texts.len() + self.contents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Run `f` (a deserialization) with a fresh interner installed on this thread, and
    /// return what it produced together with the table it filled.
    pub fn deserializing<R>(f: impl FnOnce() -> R) -> (R, Interner) {
        /// Puts back whatever was installed before, even if `f` unwinds.
        struct Restore(Option<Option<Interner>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                if let Some(previous) = self.0.take() {
                    ACTIVE.with(|active| {
                        if let Ok(mut active) = active.try_borrow_mut() {
                            *active = previous;
                        }
                    });
                }
            }
        }
        let previous = ACTIVE.with(|active| active.replace(Some(Interner::default())));
        let mut restore = Restore(Some(previous));
        let out = f();
        let filled = ACTIVE.with(|active| active.replace(restore.0.take().flatten()));
        (out, filled.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_allocation() {
        let mut i = Interner::default();
        let a = i.text("9.8/BaseOS/x86_64/os/");
        let b = i.text_owned("9.8/BaseOS/x86_64/os/".to_string());
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(i.len(), 1);
        assert_eq!(a, Text::new("9.8/BaseOS/x86_64/os/"));
    }

    #[test]
    fn purge_keeps_what_is_held() {
        let mut i = Interner::default();
        let kept = i.text("kept");
        drop(i.text("dropped"));
        let c = i.content(ContentId::from_hex(&"ab".repeat(32), Some(5), Some(7)).unwrap());
        i.purge();
        assert_eq!(i.len(), 2);
        assert!(Arc::ptr_eq(&i.text("kept").0, &kept.0));
        assert_eq!(c.sha256_hex(), "ab".repeat(32));
    }

    #[test]
    fn deserialization_interns_and_hands_the_table_over() {
        let (texts, table) = Interner::deserializing(|| {
            serde_json::from_str::<Vec<Text>>(r#"["a", "b", "a", "a"]"#).unwrap()
        });
        assert_eq!(table.len(), 2);
        assert!(Arc::ptr_eq(&texts[0].0, &texts[3].0));
        // Outside a deserialization scope nothing is interned, and nothing is left installed.
        let again: Vec<Text> = serde_json::from_str(r#"["a", "a"]"#).unwrap();
        assert!(!Arc::ptr_eq(&again[0].0, &again[1].0));
    }

    #[test]
    fn bad_hex_is_refused() {
        assert!(ContentId::from_hex("xyz", None, None).is_err());
        assert!(ContentId::from_hex(&"a".repeat(63), None, None).is_err());
    }
}
