//! The daemon run in process (`mirrorwatch::run`) on 127.0.0.1: a `mirrors.yaml` written into
//! a tempdir and loaded, the daemon spawned on the current tokio runtime, and `/readyz`
//! awaited. Dropping the [`Daemon`] cancels its shutdown token, which stops it.
//!
//! The configuration text is the caller's: its `probe.dns_servers` must be loopback (a dead
//! `127.0.0.1:1` where every URL is an IP literal).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::kit::client::fetch;

/// How long the daemon may take to answer `/readyz` with 200.
pub const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running in-process daemon; stopped on drop.
pub struct Daemon {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub base: String,
    shutdown: CancellationToken,
    /// Holds `mirrors.yaml`, the state file and whatever else the caller put there.
    pub dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Daemon {
    /// [`Daemon::start_in`] a new tempdir.
    pub async fn start(yaml: &str) -> Daemon {
        Daemon::start_in(tempfile::tempdir().unwrap(), yaml).await
    }

    /// Writes `yaml` to `dir/mirrors.yaml`, loads it (relative paths in it are relative to
    /// `dir`), runs the daemon on a fresh 127.0.0.1 port and waits until `/readyz` answers
    /// 200 (failing the test after [`READY_WITHIN`]).
    pub async fn start_in(dir: tempfile::TempDir, yaml: &str) -> Daemon {
        let file = dir.path().join("mirrors.yaml");
        std::fs::write(&file, yaml).unwrap();
        let config = Arc::new(mirrorwatch::config::load(&file).unwrap().config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(mirrorwatch::run(config, listener, shutdown.clone()));
        let daemon = Daemon {
            base,
            shutdown,
            dir,
        };
        let deadline = Instant::now() + READY_WITHIN;
        while daemon.get("/readyz").await.0 != 200 {
            assert!(Instant::now() < deadline, "not ready in {READY_WITHIN:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        daemon
    }

    /// `base` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// (status, body) of `GET path`; (0, "") when the request fails.
    pub async fn get(&self, path: &str) -> (u16, String) {
        match fetch(&self.url(path)).await {
            Ok(r) => (r.status, r.text()),
            Err(_) => (0, String::new()),
        }
    }
}
