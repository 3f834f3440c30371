//! A state save on a full file system: the old state file stays intact, no temporary file is
//! left behind, and `/metrics` says so (`mirrorwatch_state_last_save_successful 0`, the last
//! good save's time kept); once there is room again, saves succeed and the metric reads 1.
//!
//! The file system is a 1 MiB tmpfs the test mounts, so it needs root (or `CAP_SYS_ADMIN`);
//! without, the test says so and passes without checking anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::Daemon;

/// A tmpfs mounted at a fresh directory; unmounted on drop.
struct Tmpfs {
    at: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().unwrap();
        let at = parent.path().join("fs");
        std::fs::create_dir(&at).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&at)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs {
            at,
            _parent: parent,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// The value of the un-labelled series `name` in a `/metrics` text.
fn value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn wait_metric(daemon: &Daemon, name: &str, want: f64, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (_, metrics) = daemon.get("/metrics").await;
        if value(&metrics, name) == Some(want) {
            return metrics;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is not {want} after {within:?}:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    let _ = file.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_the_old_state_and_shows_in_the_metrics() {
    let Some(fs) = Tmpfs::mount("1m") else {
        return;
    };
    let net = common::network(2).await;
    let yaml = common::config_for(&net, &["m0", "m1"])
        .state("save_interval", "1s")
        .text();
    let dir = tempfile::tempdir_in(&fs.at).unwrap();
    let state = dir.path().join("state.json");
    let daemon = Daemon::start_in(dir, &yaml).await;

    // Saves work: the metric reads 1, the size is the file's.
    let metrics = wait_metric(
        &daemon,
        "mirrorwatch_state_last_save_successful",
        1.0,
        Duration::from_secs(10),
    )
    .await;
    let size = value(&metrics, "mirrorwatch_state_file_size_bytes").unwrap();
    assert!(size > 100.0, "{metrics}");
    let first_save = value(&metrics, "mirrorwatch_state_last_save_timestamp_seconds").unwrap();

    // The disk fills up: saves fail, the file as it was stays.
    fill(&fs.at.join("filler"));
    let before = std::fs::read(&state).unwrap();
    let metrics = wait_metric(
        &daemon,
        "mirrorwatch_state_last_save_successful",
        0.0,
        Duration::from_secs(10),
    )
    .await;
    // The last good save's time and size are kept, not reset.
    let last_good = value(&metrics, "mirrorwatch_state_last_save_timestamp_seconds").unwrap();
    assert!(last_good >= first_save, "{metrics}");
    assert!(value(&metrics, "mirrorwatch_state_file_size_bytes").is_some());
    // Another failed save or two, then the file is still the one written before.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, metrics) = daemon.get("/metrics").await;
    assert_eq!(
        value(&metrics, "mirrorwatch_state_last_save_successful"),
        Some(0.0)
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "the old state file changed"
    );
    let parsed: serde_json::Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(parsed["format"], 1);
    let leftovers: Vec<String> = std::fs::read_dir(state.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // Room again: the next save succeeds.
    std::fs::remove_file(fs.at.join("filler")).unwrap();
    let metrics = wait_metric(
        &daemon,
        "mirrorwatch_state_last_save_successful",
        1.0,
        Duration::from_secs(10),
    )
    .await;
    assert!(
        value(&metrics, "mirrorwatch_state_last_save_timestamp_seconds").unwrap() > last_good,
        "{metrics}"
    );
    drop(daemon);
    // The daemon's shutdown save runs in the background: give it a moment before the
    // file system goes away.
    tokio::time::sleep(Duration::from_millis(300)).await;
}
