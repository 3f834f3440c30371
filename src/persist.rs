//! The embedded state file: one JSON document, written atomically, read back defensively.
//!
//! The payload is wrapped in an envelope, `{"format": 1, "written_at": <unix>, "state": ...}`,
//! so that a later build can recognise a file it does not understand instead of misreading it.
//!
//! Writing ([`save_atomic`]) goes through a temporary file in the same directory, fsynced and
//! then renamed over the target, and the directory is fsynced after the rename. A crash at any
//! point therefore leaves either the old file or the new one, never a torn mix.
//!
//! Both directions stream: the document is serialized straight into the temporary file and
//! read back with a streaming deserializer, never held in memory as a whole.
//!
//! Reading ([`load_or_set_aside`]) never stops the daemon: a missing file means a fresh start,
//! and a file that cannot be used (truncated, garbage, an unknown format) is renamed to
//! `<path>.corrupt-<now>` — kept for inspection, never deleted — and the daemon starts fresh.
//! Losing history is better than not running; silently deleting evidence is not.
//!
//! What the daemon's state looks like inside the envelope is [`format`]'s business.

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

/// The envelope as read in one streaming pass. `written_at` is there for people reading the
/// file; `format` is checked after the pass, and when the pass fails, [`Header`] is read in
/// a second pass to tell an unknown format from a damaged file.
#[derive(Deserialize)]
struct EnvelopeIn<T> {
    format: u64,
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
    let name = path.file_name().ok_or_else(|| PersistError::NotAFilePath {
        path: path.to_path_buf(),
    })?;
    let dir = parent_dir(path);
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);

    // Serialized straight into the temporary file (the state of a large network is hundreds
    // of megabytes of JSON: no copy of it in memory); on any error nothing is left behind.
    if let Err(err) = write_synced(&tmp, &envelope) {
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
    // Opened so that a FIFO in its place is refused rather than waited on.
    let file = match crate::files::open_regular(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Loaded::Fresh,
        // Unreadable (permissions, an I/O error): keeping it where it is would fail the same
        // way at every start and block every later save.
        Err(err) => return set_aside(path, now_unix, format!("cannot read: {err}")),
    };
    match decode(path, file) {
        Ok(state) => Loaded::Restored(state),
        Err(reason) => set_aside(path, now_unix, reason),
    }
}

/// The state in the file at `path` (opened as `file`), or why it cannot be used.
///
/// Read with a streaming deserializer: the file is never held in memory as a whole.
fn decode<T: DeserializeOwned>(path: &Path, file: File) -> Result<T, String> {
    let read = |file: File| io::BufReader::with_capacity(1 << 16, file);
    let err = match serde_json::from_reader::<_, EnvelopeIn<T>>(read(file)) {
        Ok(envelope) if envelope.format == FORMAT => return Ok(envelope.state),
        Ok(envelope) => return Err(unknown_format(envelope.format)),
        Err(err) => err,
    };
    if err.classify() == serde_json::error::Category::Io {
        // A directory in its place, or an I/O error while reading.
        return Err(format!("cannot read: {err}"));
    }
    // Why it failed: not an envelope at all, an unknown format, or a state of another shape.
    // Only the header is kept in this second pass, so it costs time, not memory.
    let file = crate::files::open_regular(path).map_err(|e| format!("cannot read: {e}"))?;
    let header: Header = serde_json::from_reader(read(file))
        .map_err(|err| format!("not a mirrorwatch state file ({}): {err}", describe(&err)))?;
    if header.format != FORMAT {
        return Err(unknown_format(header.format));
    }
    Err(format!(
        "the state does not match this build ({}): {err}",
        describe(&err)
    ))
}

fn unknown_format(format: u64) -> String {
    format!("unknown state file format {format} (this build reads format {FORMAT})")
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

fn write_synced<T: Serialize>(tmp: &Path, value: &T) -> Result<(), PersistError> {
    let io_err = |op: &'static str| {
        move |source| PersistError::Io {
            path: tmp.to_path_buf(),
            op,
            source,
        }
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true) // a leftover from a crashed process with the same pid
        .open(tmp)
        .map_err(io_err("create"))?;
    let mut out = io::BufWriter::with_capacity(1 << 16, file);
    serde_json::to_writer(&mut out, value).map_err(|e| match e.classify() {
        serde_json::error::Category::Io => PersistError::Io {
            path: tmp.to_path_buf(),
            op: "write",
            source: e.into(),
        },
        _ => PersistError::Serialize(e),
    })?;
    out.write_all(b"\n").map_err(io_err("write"))?;
    let file = out
        .into_inner()
        .map_err(|e| io_err("write")(e.into_error()))?;
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

pub mod format;
#[cfg(test)]
mod tests;
