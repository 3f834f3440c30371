//! When to reload the configuration: on SIGHUP, or when the configuration file's content changes.
//!
//! [`spawn_triggers`] only says *when*; reading, validating and swapping in the new configuration
//! (and keeping the old one if the new file is broken) is the caller's business.
//!
//! The file is watched through its **directory**, not the file itself. Editors save by writing a
//! new file and renaming it over the old one, and Kubernetes updates a mounted ConfigMap by
//! swapping a `..data` symlink: both replace the inode a watch on the file would be attached to,
//! so that watch goes silent after the first change. A directory watch sees every such change,
//! but also unrelated ones (the state file may live beside the configuration), so an event is
//! only a hint: after a burst of events has settled, the file's content is hashed and a trigger
//! is sent only when the hash differs from the last one seen. That one rule covers in-place
//! writes, renames and symlink swaps alike, and ignores `touch` and unrelated files.
//!
//! Triggers are coalesced: the reload reads the file when it runs, so one pending trigger stands
//! for any number of later ones, and a slow consumer never makes the watcher queue up work.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, Notify};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// A burst of events (an editor's write-then-rename, a ConfigMap swap) is over once the directory
/// has been quiet this long.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// A directory that is never quiet (a busy neighbour file) must not postpone the check forever.
const MAX_SETTLE: Duration = Duration::from_secs(2);

/// Room for a trigger of each kind and then some; more would only be coalesced away.
const CHANNEL_CAPACITY: usize = 4;

/// Why a reload is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The process received SIGHUP.
    Signal,
    /// The configuration file's content changed.
    FileChanged,
}

/// Start listening for SIGHUP and watching `config_path`; triggers arrive on the returned channel.
///
/// Must be called inside a tokio runtime. The SIGHUP handler and the file watch are in place when
/// this returns, so call it *before* the first configuration load: a change between that load
/// and this call would otherwise go unseen. If the watch cannot be set up (e.g. inotify limits),
/// a warning is logged and SIGHUP still works. Everything stops, and the channel closes, when
/// `shutdown` is cancelled or the receiver is dropped.
pub fn spawn_triggers(config_path: &Path, shutdown: CancellationToken) -> mpsc::Receiver<Trigger> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    spawn_sighup(tx.clone(), shutdown.clone());
    spawn_file_watch(config_path, tx, shutdown);
    rx
}

fn spawn_sighup(tx: mpsc::Sender<Trigger>, shutdown: CancellationToken) {
    // Installed here, not in the task, so that a SIGHUP sent right after `spawn_triggers`
    // returns is caught instead of killing the process (SIGHUP's default action).
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(hup) => hup,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGHUP: reload on SIGHUP is off");
            return;
        }
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tx.closed() => break,
                got = hup.recv() => {
                    if got.is_none() {
                        break;
                    }
                    tracing::debug!("SIGHUP received");
                    offer(&tx, Trigger::Signal);
                }
            }
        }
    });
}

fn spawn_file_watch(config_path: &Path, tx: mpsc::Sender<Trigger>, shutdown: CancellationToken) {
    let path = config_path.to_path_buf();
    let wake = Arc::new(Notify::new());
    let watcher = match start_watcher(&path, Arc::clone(&wake)) {
        Ok(watcher) => watcher,
        Err(err) => {
            tracing::warn!(
                path = %path.display(),
                error = %err,
                "cannot watch the configuration file: reload on change is off, SIGHUP still works",
            );
            return;
        }
    };
    // The baseline is the content now, read synchronously so that a change made right after
    // this function returns is compared against the right thing. A configuration file is small.
    let baseline = hash_of(crate::files::read(&path).ok());
    tokio::spawn(async move {
        // Dropping the watcher ends the OS watch, so it lives exactly as long as this task.
        let _watcher = watcher;
        watch_loop(&path, baseline, &wake, &tx, &shutdown).await;
    });
}

/// Watch the directory of `path` (and, for a symlink, the directory of its target), waking
/// `wake` on any event that may have changed a file's content.
fn start_watcher(path: &Path, wake: Arc<Notify>) -> notify::Result<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            // Opens and reads change nothing; skipping them also keeps our own hashing of the
            // file (an open and a close) from waking us again.
            Ok(event) if is_read_only(&event.kind) => {}
            Ok(_) => wake.notify_one(),
            // An error (e.g. a queue overflow) may hide a change: look at the file.
            Err(err) => {
                tracing::warn!(error = %err, "configuration watch error");
                wake.notify_one();
            }
        }
    })?;
    let dir = parent_dir(path);
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    // A configuration symlinked from elsewhere (say /etc into a checkout) changes in its target's
    // directory. Best effort: the directory watch above already covers Kubernetes' `..data`
    // swap, and the target's directory may vanish later (ConfigMaps replace it on each update).
    if let Some(target_dir) = symlink_target_dir(path, dir) {
        if let Err(err) = watcher.watch(&target_dir, RecursiveMode::NonRecursive) {
            tracing::warn!(
                dir = %target_dir.display(),
                error = %err,
                "cannot watch the configuration symlink's target directory",
            );
        }
    }
    Ok(watcher)
}

fn is_read_only(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Access(access) if *access != AccessKind::Close(AccessMode::Write))
}

/// The directory of the file `path` finally points to, if it is not `dir` itself.
fn symlink_target_dir(path: &Path, dir: &Path) -> Option<PathBuf> {
    if !path.symlink_metadata().ok()?.file_type().is_symlink() {
        return None;
    }
    let target_dir = std::fs::canonicalize(path).ok()?.parent()?.to_path_buf();
    // Comparing canonical forms: watching one directory twice under two names would only
    // duplicate events.
    (std::fs::canonicalize(dir).ok()? != target_dir).then_some(target_dir)
}

async fn watch_loop(
    path: &Path,
    mut last: Option<[u8; 32]>,
    wake: &Notify,
    tx: &mpsc::Sender<Trigger>,
    shutdown: &CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tx.closed() => return,
            () = wake.notified() => {}
        }
        if !settle(wake, shutdown).await {
            return;
        }
        // A file that is missing or unreadable (mid-swap, or deleted) is not a change yet:
        // reloading it would only fail. Its reappearance is compared with the last content seen.
        let owned = path.to_path_buf();
        let read = tokio::task::spawn_blocking(move || crate::files::read(&owned).ok());
        let Some(current) = hash_of(read.await.ok().flatten()) else {
            tracing::debug!(path = %path.display(), "configuration file unreadable; waiting");
            continue;
        };
        if last == Some(current) {
            continue;
        }
        last = Some(current);
        tracing::debug!(path = %path.display(), "configuration file changed");
        offer(tx, Trigger::FileChanged);
    }
}

/// Wait until no event has arrived for [`DEBOUNCE`] (or [`MAX_SETTLE`] has passed).
/// Returns false on shutdown.
async fn settle(wake: &Notify, shutdown: &CancellationToken) -> bool {
    let give_up = Instant::now() + MAX_SETTLE;
    loop {
        let quiet_until = (Instant::now() + DEBOUNCE).min(give_up);
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = wake.notified() => {
                if Instant::now() >= give_up {
                    return true;
                }
            }
            () = sleep_until(quiet_until) => return true,
        }
    }
}

fn hash_of(content: Option<Vec<u8>>) -> Option<[u8; 32]> {
    content.map(|bytes| Sha256::digest(bytes).into())
}

/// Send without waiting: a full channel already holds a trigger that will make the consumer
/// read the file, and a closed one means nobody is listening any more.
fn offer(tx: &mpsc::Sender<Trigger>, trigger: Trigger) {
    if tx.try_send(trigger).is_err() {
        tracing::debug!(?trigger, "reload already pending; trigger coalesced");
    }
}

/// The directory holding `path`; a bare file name lives in the current directory.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests;
