//! Tests for reload triggers: real files in a temporary directory, real inotify, a real SIGHUP.
//!
//! Timing is generous on purpose: "a trigger arrives" waits up to [`ARRIVES`], "no trigger
//! arrives" watches for [`QUIET`] (five debounce periods), so a loaded machine slows the tests
//! down rather than failing them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tokio::time::{sleep, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

use super::*;

const ARRIVES: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_secs(1);

struct Fixture {
    dir: tempfile::TempDir,
    path: PathBuf,
    shutdown: CancellationToken,
    rx: Receiver<Trigger>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A configuration file with `content`, watched.
fn watched(content: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirrors.yaml");
    std::fs::write(&path, content).unwrap();
    watch(dir, path)
}

fn watch(dir: tempfile::TempDir, path: PathBuf) -> Fixture {
    let shutdown = CancellationToken::new();
    let rx = spawn_triggers(&path, shutdown.clone());
    Fixture {
        dir,
        path,
        shutdown,
        rx,
    }
}

/// The number of `FileChanged` triggers until `within` has passed (or the channel closed).
/// `Signal` triggers are skipped: the SIGHUP test reaches every listener in this process.
async fn file_changes(rx: &mut Receiver<Trigger>, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut count = 0;
    while let Ok(Some(trigger)) = timeout_at(deadline, rx.recv()).await {
        if trigger == Trigger::FileChanged {
            count += 1;
        }
    }
    count
}

/// Wait up to [`ARRIVES`] for the first `FileChanged`; true if it came.
async fn a_file_change_arrives(rx: &mut Receiver<Trigger>) -> bool {
    let deadline = Instant::now() + ARRIVES;
    loop {
        match timeout_at(deadline, rx.recv()).await {
            Ok(Some(Trigger::FileChanged)) => return true,
            Ok(Some(Trigger::Signal)) => continue,
            Ok(None) | Err(_) => return false,
        }
    }
}

fn replace_by_rename(path: &Path, content: &str) {
    let tmp = path.with_file_name("x.tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn new_content_triggers_once() {
    let mut f = watched("a: 1\n");
    std::fs::write(&f.path, "a: 2\n").unwrap();
    assert!(a_file_change_arrives(&mut f.rx).await);
    assert_eq!(file_changes(&mut f.rx, QUIET).await, 0);
}

#[tokio::test]
async fn replacing_the_file_by_rename_triggers() {
    let mut f = watched("a: 1\n");
    replace_by_rename(&f.path, "a: 2\n");
    assert!(a_file_change_arrives(&mut f.rx).await);
    // A second replacement is seen too: the watch did not die with the old inode.
    replace_by_rename(&f.path, "a: 3\n");
    assert!(a_file_change_arrives(&mut f.rx).await);
}

#[tokio::test]
async fn touching_or_rewriting_the_same_content_does_not_trigger() {
    let mut f = watched("a: 1\n");
    let file = std::fs::File::options().write(true).open(&f.path).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    drop(file);
    std::fs::write(&f.path, "a: 1\n").unwrap();
    replace_by_rename(&f.path, "a: 1\n");
    assert_eq!(file_changes(&mut f.rx, QUIET).await, 0);
}

#[tokio::test]
async fn other_files_in_the_directory_do_not_trigger() {
    // The state file lives beside the configuration by default and is saved every minute.
    let mut f = watched("a: 1\n");
    let state = f.dir.path().join("mirrorwatch-state.json");
    std::fs::write(&state, "{}").unwrap();
    std::fs::write(&state, "{\"format\":1}").unwrap();
    assert_eq!(file_changes(&mut f.rx, QUIET).await, 0);
}

#[tokio::test]
async fn a_burst_of_writes_is_one_trigger() {
    let mut f = watched("a: 0\n");
    for i in 1..=5 {
        std::fs::write(&f.path, format!("a: {i}\n")).unwrap();
        sleep(Duration::from_millis(10)).await;
    }
    assert!(a_file_change_arrives(&mut f.rx).await);
    // Debouncing makes this one; a scheduler stall mid-burst may split it in two, never more.
    let more = file_changes(&mut f.rx, QUIET).await;
    assert!(more <= 1, "{} triggers for one burst", 1 + more);
}

#[tokio::test]
async fn a_deleted_file_triggers_only_when_it_comes_back_different() {
    let mut f = watched("a: 1\n");
    std::fs::remove_file(&f.path).unwrap();
    assert_eq!(file_changes(&mut f.rx, QUIET).await, 0, "deleted");
    std::fs::write(&f.path, "a: 1\n").unwrap();
    assert_eq!(
        file_changes(&mut f.rx, QUIET).await,
        0,
        "back, same content"
    );
    std::fs::write(&f.path, "a: 2\n").unwrap();
    assert!(a_file_change_arrives(&mut f.rx).await, "changed");
}

#[tokio::test]
async fn a_kubernetes_configmap_swap_triggers() {
    // What the kubelet does: files in a timestamped directory, `..data` pointing at it, and the
    // visible name a symlink through `..data`; an update swaps `..data` by rename.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("..v1")).unwrap();
    std::fs::write(root.join("..v1/mirrors.yaml"), "a: 1\n").unwrap();
    std::os::unix::fs::symlink("..v1", root.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/mirrors.yaml", root.join("mirrors.yaml")).unwrap();
    let path = root.join("mirrors.yaml");
    let mut f = watch(dir, path);

    let root = f.dir.path();
    std::fs::create_dir(root.join("..v2")).unwrap();
    std::fs::write(root.join("..v2/mirrors.yaml"), "a: 2\n").unwrap();
    std::os::unix::fs::symlink("..v2", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    std::fs::remove_dir_all(root.join("..v1")).unwrap();
    assert!(a_file_change_arrives(&mut f.rx).await);
}

#[tokio::test]
async fn a_symlink_to_another_directory_is_followed() {
    let target_dir = tempfile::tempdir().unwrap();
    let target = target_dir.path().join("real.yaml");
    std::fs::write(&target, "a: 1\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirrors.yaml");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let mut f = watch(dir, path);

    std::fs::write(&target, "a: 2\n").unwrap();
    assert!(a_file_change_arrives(&mut f.rx).await);
}

#[tokio::test]
async fn shutdown_closes_the_channel() {
    let mut f = watched("a: 1\n");
    f.shutdown.cancel();
    let closed =
        tokio::time::timeout(ARRIVES, async { while f.rx.recv().await.is_some() {} }).await;
    assert!(
        closed.is_ok(),
        "the channel must close once shutdown is cancelled"
    );
}

#[tokio::test]
async fn an_unwatchable_path_still_gives_a_working_channel() {
    // The directory does not exist, so the watch fails; that is a warning, not a failure.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("mirrors.yaml");
    let mut f = watch(dir, path);
    assert_eq!(file_changes(&mut f.rx, Duration::from_millis(300)).await, 0);
    f.shutdown.cancel();
    let closed =
        tokio::time::timeout(ARRIVES, async { while f.rx.recv().await.is_some() {} }).await;
    assert!(closed.is_ok());
}

#[tokio::test]
async fn sighup_triggers_a_reload() {
    // The handler is installed by spawn_triggers before it returns; only then is it safe to
    // send SIGHUP to this process (its default action would end the test run).
    let mut f = watched("a: 1\n");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + ARRIVES;
    loop {
        match timeout_at(deadline, f.rx.recv()).await {
            Ok(Some(Trigger::Signal)) => break,
            Ok(Some(Trigger::FileChanged)) => continue,
            Ok(None) | Err(_) => panic!("no Trigger::Signal after SIGHUP"),
        }
    }
}
