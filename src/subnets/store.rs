//! The published lists on disk: a small file of their own beside the state file
//! (`state.json` → `state.subnets.json`), written with the state file's atomic writer
//! ([`crate::persist::save_atomic`]: temporary file, fsync, rename) and read back at start, so
//! that a restart without network still places clients by the last good lists. Kept apart
//! from the state file so that either can change format without the other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Published, PublishedList};
use crate::persist::{self, Loaded};

/// What is saved of one list: the last good one, never the status of later fetches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub url: Url,
    pub fetched_at: i64,
    #[serde(default)]
    pub skipped_lines: usize,
    pub subnets: Vec<IpNet>,
}

/// The file's payload, by mirror name.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedLists {
    pub lists: BTreeMap<String, Saved>,
}

/// The lists' file for a state file at `state`: same directory, `<stem>.subnets.json`.
pub fn path_beside(state: &Path) -> PathBuf {
    let stem = state
        .file_stem()
        .map_or_else(|| "state".into(), |s| s.to_string_lossy().into_owned());
    state.with_file_name(format!("{stem}.subnets.json"))
}

/// The good lists of `published`.
pub fn to_saved(published: &Published) -> SavedLists {
    let lists = published
        .lists
        .iter()
        .filter_map(|(name, list)| {
            Some((
                name.clone(),
                Saved {
                    url: list.url.clone(),
                    fetched_at: list.fetched_at?,
                    skipped_lines: list.skipped_lines,
                    subnets: list.nets.to_vec(),
                },
            ))
        })
        .collect();
    SavedLists { lists }
}

/// The saved lists as published ones, not fetched since the start.
pub fn from_saved(saved: SavedLists) -> Published {
    let lists = saved
        .lists
        .into_iter()
        .map(|(name, s)| {
            let list = PublishedList {
                nets: Arc::from(s.subnets),
                skipped_lines: s.skipped_lines,
                fetched_at: Some(s.fetched_at),
                ..PublishedList::empty(s.url)
            };
            (name, list)
        })
        .collect();
    Published { lists }
}

/// The lists saved at `path`; none when there is no file. An unusable file is set aside
/// (`*.corrupt-<time>`), like the state file, and the lists are fetched afresh.
pub fn load(path: &Path, now: i64) -> Published {
    match persist::load_or_set_aside::<SavedLists>(path, now) {
        Loaded::Fresh => Published::default(),
        Loaded::Restored(saved) => {
            tracing::info!(path = %path.display(), lists = saved.lists.len(), "published subnet lists restored");
            from_saved(saved)
        }
        Loaded::SetAside { moved_to, reason } => {
            tracing::error!(path = %path.display(), moved_to = %moved_to.display(), %reason, "subnet lists file unusable: set aside");
            Published::default()
        }
    }
}

/// Saves the good lists of `published` at `path` atomically; a failure is logged.
pub fn save(path: &Path, published: &Published) {
    if let Err(error) = persist::save_atomic(path, &to_saved(published)) {
        tracing::error!(%error, "cannot save the published subnet lists");
    }
}
