//! The task that feeds every published snapshot to the [`History`], and the history file:
//! `<stem>.history.json` beside the state file, written atomically (temporary file, fsync,
//! rename) every `state.save_interval` and on the way out, read at start. A missing file
//! starts an empty history; an unusable one is set aside like the state file and the
//! history starts empty: the charts are a convenience, never a reason not to start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::history::History;
use crate::persist::{self, Loaded};
use crate::state::Snapshot;

/// The history the pages read and the recorder writes. A std lock: it is never held across
/// an `.await`, only while a snapshot is folded in or a page reads it.
pub type SharedHistory = Arc<RwLock<History>>;

/// The history file for a state file at `state`: same directory, `<stem>.history.json`.
pub fn path_beside(state: &Path) -> PathBuf {
    let stem = state
        .file_stem()
        .map_or_else(|| "state".into(), |s| s.to_string_lossy().into_owned());
    state.with_file_name(format!("{stem}.history.json"))
}

/// The history saved at `path`, or an empty one (with a warning when the file was unusable).
pub fn load(path: &Path, now: i64) -> History {
    match persist::load_or_set_aside::<History>(path, now) {
        Loaded::Fresh => History::default(),
        Loaded::Restored(history) => {
            tracing::info!(path = %path.display(), mirrors = history.mirrors.len(), "history restored");
            history
        }
        Loaded::SetAside { moved_to, reason } => {
            tracing::warn!(path = %path.display(), moved_to = %moved_to.display(), %reason, "history file unusable: set aside, starting an empty history");
            History::default()
        }
    }
}

/// Saves a copy of `history` at `path` off the async workers; a failure is logged.
async fn save(path: Option<&Path>, history: &SharedHistory) {
    let Some(path) = path.map(Path::to_path_buf) else {
        return;
    };
    let copy = history
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let saved = tokio::task::spawn_blocking(move || persist::save_atomic(&path, &copy)).await;
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, "cannot save the status page history"),
        Err(error) => tracing::error!(%error, "saving the status page history failed"),
    }
}

/// Records every snapshot published on `snapshots` into `history` until `stop` (or until
/// the snapshots end), saving it at `path` every `every` and once more at the end.
pub async fn run(
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    history: SharedHistory,
    path: Option<PathBuf>,
    every: std::time::Duration,
    stop: CancellationToken,
) {
    let mut saving = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = snapshots.borrow_and_update().clone();
                history
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(&snapshot);
            }
            _ = saving.tick() => save(path.as_deref(), &history).await,
            () = stop.cancelled() => break,
        }
    }
    save(path.as_deref(), &history).await;
}

/// Loads the history saved beside `config`'s state file and starts recording into it: the
/// history to hand to the pages, and the task, which ends (after a last save) on `stop`.
pub fn spawn(
    config: &crate::config::Config,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    now: i64,
    stop: CancellationToken,
) -> (SharedHistory, tokio::task::JoinHandle<()>) {
    let path = config.state.path.as_deref().map(path_beside);
    let loaded = path.as_deref().map(|p| load(p, now)).unwrap_or_default();
    let history = Arc::new(RwLock::new(loaded));
    let task = tokio::spawn(run(
        snapshots,
        history.clone(),
        path,
        config.state.save_interval,
        stop,
    ));
    (history, task)
}
