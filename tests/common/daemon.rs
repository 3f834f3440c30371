//! The daemon run in process (`mirrorwatch::run`) on a fresh 127.0.0.1 port: a configuration
//! loaded from a file (one written into a tempdir from YAML text, or a simulation's), the
//! daemon spawned on the current tokio runtime (multi-threaded, so that it keeps running
//! while the test awaits), and `/readyz` awaited when asked. Dropping the [`Daemon`]
//! cancels its shutdown token, which stops it.
//!
//! The configuration is the caller's: its `probe.dns_servers` must be loopback (a dead
//! `127.0.0.1:1` where every URL is an IP literal); loading checks that.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakemirrors::client::{fetch, Response};
use mirrorwatch::config::Config;
use tokio_util::sync::CancellationToken;

/// How long the daemon may take to answer `/readyz` with 200 in [`Daemon::start`].
pub const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running in-process daemon; stopped on drop.
pub struct Daemon {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub base: String,
    /// The configuration it runs.
    pub config: Arc<Config>,
    shutdown: CancellationToken,
    /// Holds `mirrors.yaml`, the state file and whatever else the caller put there (none
    /// when the configuration file was the caller's).
    pub dir: Option<tempfile::TempDir>,
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

    /// Writes `yaml` to `dir/mirrors.yaml` (relative paths in it are relative to `dir`),
    /// runs the daemon and waits until `/readyz` answers 200 (failing the test after
    /// [`READY_WITHIN`]).
    pub async fn start_in(dir: tempfile::TempDir, yaml: &str) -> Daemon {
        let daemon = Daemon::spawn_in(dir, yaml).await;
        daemon.wait_ready(READY_WITHIN).await;
        daemon
    }

    /// Writes `yaml` into a new tempdir and runs the daemon, without waiting.
    pub async fn spawn(yaml: &str) -> Daemon {
        Daemon::spawn_in(tempfile::tempdir().unwrap(), yaml).await
    }

    async fn spawn_in(dir: tempfile::TempDir, yaml: &str) -> Daemon {
        let file = dir.path().join("mirrors.yaml");
        std::fs::write(&file, yaml).unwrap();
        let mut daemon = Daemon::run(&file).await;
        daemon.dir = Some(dir);
        daemon
    }

    /// Loads `file` (panicking with the diagnostics if it is invalid) and runs the daemon,
    /// without waiting.
    pub async fn run(file: &Path) -> Daemon {
        let config = match mirrorwatch::config::load(file) {
            Ok(loaded) => Arc::new(loaded.config),
            Err(e) => panic!(
                "{}: invalid:\n{e}\n---\n{}",
                file.display(),
                std::fs::read_to_string(file).unwrap_or_default()
            ),
        };
        super::assert_loopback_dns(&config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(mirrorwatch::run(config.clone(), listener, shutdown.clone()));
        Daemon {
            addr,
            base: format!("http://{addr}"),
            config,
            shutdown,
            dir: None,
        }
    }

    /// Waits until `/readyz` answers 200 (every mirror swept, the upstream polled); fails
    /// the test after `within`.
    pub async fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.get("/readyz").await.0 != 200 {
            assert!(
                Instant::now() < deadline,
                "{} not ready in {within:?}",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `host:port`, as a Prometheus target.
    pub fn target(&self) -> String {
        self.addr.to_string()
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

    /// The whole response to `GET path`; panics when the request fails.
    pub async fn fetch(&self, path: &str) -> Response {
        fetch(&self.url(path)).await.unwrap()
    }

    /// Waits until the JSON API gives `mirror` the verdict `status` for its first repo;
    /// fails the test after `within`.
    pub async fn wait_verdict(&self, mirror: &str, status: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let r = self.fetch(&format!("/api/v1/mirrors/{mirror}")).await;
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            let seen = body["families"][0]["repos"][0]["verdict"]["status"].clone();
            if seen == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{mirror}: verdict {seen} rather than {status}: {}",
                r.text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
