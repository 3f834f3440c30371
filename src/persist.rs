//! The embedded state file: one JSON document, written atomically, read back defensively.
//!
//! The payload is wrapped in an envelope, `{"format": 1, "written_at": <unix>, "state": ...}`,
//! so that a later build can recognise a file it does not understand instead of misreading it.
//!
//! Writing ([`save_atomic`]) goes through a temporary file in the same directory, fsynced and
//! then renamed over the target, and the directory is fsynced after the rename. A crash at any
//! point therefore leaves either the old file or the new one, never a torn mix.
//!
//! Reading ([`load_or_set_aside`]) never stops the daemon: a missing file means a fresh start,
//! and a file that cannot be used (truncated, garbage, an unknown format) is renamed to
//! `<path>.corrupt-<now>` — kept for inspection, never deleted — and the daemon starts fresh.
//! Losing history is better than not running; silently deleting evidence is not.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The envelope format this build writes and the only one it reads.
pub const FORMAT: u64 = 1;

/// How many `.corrupt-<now>-<n>` names to try before giving up on setting a file aside.
const MAX_SET_ASIDE_SUFFIX: u32 = 100;

/// Why a state file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("cannot serialize the state: {0}")]
    Serialize(#[source] serde_json::Error),
    #[error("{}: not a file path", path.display())]
    NotAFilePath { path: PathBuf },
    #[error("{}: cannot {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

/// What [`load_or_set_aside`] found.
#[derive(Debug, PartialEq)]
pub enum Loaded<T> {
    /// No state file: start with empty state.
    Fresh,
    /// The state as last saved.
    Restored(T),
    /// The file could not be used. It was moved to `moved_to` (or, if even that failed, left
    /// where it was, and `moved_to` is the original path); start with empty state.
    SetAside { moved_to: PathBuf, reason: String },
}

/// The envelope as written: borrows the state so that saving does not clone it.
#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    format: u64,
    written_at: i64,
    state: &'a T,
}

/// Only the format number, read first so that an unknown format is reported as such rather
/// than as whatever mismatch its `state` happens to produce.
#[derive(Deserialize)]
struct Header {
    format: u64,
}

/// The envelope as read: `format` was checked through [`Header`], and `written_at` is there
/// for people reading the file, so only the state is kept.
#[derive(Deserialize)]
struct EnvelopeIn<T> {
    state: T,
}

/// Write `value` to `path` atomically (see the module documentation).
///
/// One writer per path: the temporary file is named after the process id, so two saves of
/// the same path from one process at the same time would share it.
pub fn save_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), PersistError> {
    let envelope = EnvelopeOut {
        format: FORMAT,
        written_at: unix_now(),
        state: value,
    };
    // Serialize before touching the disk, so a serialization error leaves nothing behind.
    let mut bytes = serde_json::to_vec(&envelope).map_err(PersistError::Serialize)?;
    bytes.push(b'\n');

    let name = path.file_name().ok_or_else(|| PersistError::NotAFilePath {
        path: path.to_path_buf(),
    })?;
    let dir = parent_dir(path);
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);

    if let Err(err) = write_synced(&tmp, &bytes) {
        // Best effort: the temporary file may not even exist (e.g. the directory is missing).
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    if let Err(source) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(PersistError::Io {
            path: path.to_path_buf(),
            op: "rename the temporary file over it",
            source,
        });
    }
    // The rename is only durable once the directory entry is: without this, a power loss
    // shortly after could bring back the old file (or, on some filesystems, none).
    sync_dir(dir)
}

/// Read the state at `path`; set an unusable file aside (see the module documentation).
///
/// `now_unix` names the set-aside copy. Never panics and never fails: the worst case is a
/// fresh start with the reason in [`Loaded::SetAside`].
pub fn load_or_set_aside<T: DeserializeOwned>(path: &Path, now_unix: i64) -> Loaded<T> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Loaded::Fresh,
        // Unreadable (permissions, a directory in its place, an I/O error): keeping it where
        // it is would fail the same way at every start and block every later save.
        Err(err) => return set_aside(path, now_unix, format!("cannot read: {err}")),
    };
    match decode(&bytes) {
        Ok(state) => Loaded::Restored(state),
        Err(reason) => set_aside(path, now_unix, reason),
    }
}

/// The state in `bytes`, or why it cannot be used.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let header: Header = serde_json::from_slice(bytes)
        .map_err(|err| format!("not a mirrorwatch state file ({}): {err}", describe(&err)))?;
    if header.format != FORMAT {
        return Err(format!(
            "unknown state file format {} (this build reads format {FORMAT})",
            header.format
        ));
    }
    let envelope: EnvelopeIn<T> = serde_json::from_slice(bytes).map_err(|err| {
        format!(
            "the state does not match this build ({}): {err}",
            describe(&err)
        )
    })?;
    Ok(envelope.state)
}

/// A word on what kind of damage a JSON error points to, for the operator reading the log.
fn describe(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Eof => "truncated",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "unexpected content",
        serde_json::error::Category::Io => "read error",
    }
}

/// Rename `path` to `<path>.corrupt-<now>` (or `-<now>-<n>` if that is taken).
fn set_aside<T>(path: &Path, now_unix: i64, reason: String) -> Loaded<T> {
    for n in 0..MAX_SET_ASIDE_SUFFIX {
        let mut name = path.as_os_str().to_owned();
        if n == 0 {
            name.push(format!(".corrupt-{now_unix}"));
        } else {
            name.push(format!(".corrupt-{now_unix}-{n}"));
        }
        let target = PathBuf::from(name);
        // rename(2) replaces an existing target, which would delete an earlier set-aside
        // copy. The check is not atomic, but the daemon is the only writer of these names.
        if target.symlink_metadata().is_ok() {
            continue;
        }
        return match std::fs::rename(path, &target) {
            Ok(()) => Loaded::SetAside {
                moved_to: target,
                reason,
            },
            Err(err) => Loaded::SetAside {
                moved_to: path.to_path_buf(),
                reason: format!("{reason}; and it could not be set aside: {err}"),
            },
        };
    }
    Loaded::SetAside {
        moved_to: path.to_path_buf(),
        reason: format!("{reason}; and it could not be set aside: too many earlier copies"),
    }
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let io_err = |op: &'static str| {
        move |source| PersistError::Io {
            path: tmp.to_path_buf(),
            op,
            source,
        }
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true) // a leftover from a crashed process with the same pid
        .open(tmp)
        .map_err(io_err("create"))?;
    file.write_all(bytes).map_err(io_err("write"))?;
    // The data must be on disk before the rename makes it visible under the real name.
    file.sync_all().map_err(io_err("fsync"))
}

fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    let io_err = |op: &'static str| {
        move |source| PersistError::Io {
            path: dir.to_path_buf(),
            op,
            source,
        }
    };
    File::open(dir)
        .map_err(io_err("open the directory"))?
        .sync_all()
        .map_err(io_err("fsync the directory"))
}

/// The directory holding `path`; a bare file name lives in the current directory.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn unix_now() -> i64 {
    // A clock before 1970 is a misconfigured host; 0 keeps the file readable regardless.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
