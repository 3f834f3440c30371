//! mirrorwatch instances in process (`mirrorwatch::run`) for Prometheus to scrape: a
//! configuration written into a tempdir (version 9.8, BaseOS, x86_64; IP-literal mirror
//! URLs; a dead loopback name server; short intervals; state in the tempdir), a listener on
//! `127.0.0.1:0`, and a cancellation token fired on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::DEADLINE;
use crate::kit::client::{fetch, Response};

/// The repository directory of the layout below.
pub const DIR: &str = "9.8/BaseOS/x86_64/os/";

/// A `mirrors.yaml` for a loopback network.
pub struct Config {
    pub upstream: String,
    /// (name, base URL): `https://` becomes an https address, anything else http.
    pub mirrors: Vec<(String, String)>,
    pub vantage: String,
    /// PEM files to trust (`probe.ca_files`), e.g. the kit CA.
    pub ca_files: Vec<PathBuf>,
    /// `freshness.stale_after`; `serve.max_lag` is 0s, so any value is valid.
    pub stale_after: &'static str,
}

impl Config {
    pub fn new(upstream: &str, vantage: &str) -> Config {
        Config {
            upstream: upstream.to_string(),
            mirrors: Vec::new(),
            vantage: vantage.to_string(),
            ca_files: Vec::new(),
            stale_after: "12h",
        }
    }

    pub fn mirror(mut self, name: &str, url: &str) -> Config {
        self.mirrors.push((name.to_string(), url.to_string()));
        self
    }

    pub fn yaml(&self) -> String {
        let mut text = format!(
            "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  aliases: {{\"9\": \"9.8\"}}\n  arches: {{\"9\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\nmirrors:\n",
            self.upstream
        );
        for (name, url) in &self.mirrors {
            let scheme = if url.starts_with("https://") {
                "https"
            } else {
                "http"
            };
            text.push_str(&format!(
                "  - name: {name}\n    address: {{{scheme}: \"{url}\"}}\n    country: DE\n"
            ));
        }
        let ca: Vec<String> = self
            .ca_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        text.push_str(&format!(
            "probe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\n  interval: 2s\n  timeout: 1s\n  connect_timeout: 500ms\n  ca_files: {ca:?}\nfreshness:\n  upstream_interval: 1s\n  stale_after: {}\nhealth:\n  down_after: 1\nserve:\n  max_lag: 0s\nmetrics:\n  vantage: \"{}\"\nstate:\n  path: state.json\n",
            self.stale_after, self.vantage
        ));
        text
    }
}

/// A running instance; stopped on drop.
pub struct Instance {
    pub addr: SocketAddr,
    pub base: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Instance {
    /// Write `config`, load it, and serve it on a free loopback port. Call from a
    /// multi-threaded tokio runtime.
    pub async fn start(config: &Config) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mirrors.yaml");
        std::fs::write(&file, config.yaml()).unwrap();
        let loaded =
            mirrorwatch::config::load(&file).unwrap_or_else(|e| panic!("{e:?}\n{}", config.yaml()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(mirrorwatch::run(
            Arc::new(loaded.config),
            listener,
            shutdown.clone(),
        ));
        Instance {
            addr,
            base: format!("http://{addr}"),
            shutdown,
            _dir: dir,
        }
    }

    /// `host:port`, as a Prometheus target.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    pub async fn get(&self, path: &str) -> Response {
        fetch(&format!("{}{path}", self.base)).await.unwrap()
    }

    /// Wait for `/readyz` to answer 200: every mirror swept, the upstream polled.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(r) = fetch(&format!("{}/readyz", self.base)).await {
                if r.status == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "{} not ready in time", self.base);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the JSON API gives `mirror` the verdict `status` for 9.8/baseos/x86_64.
    pub async fn wait_verdict(&self, mirror: &str, status: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let r = self.get(&format!("/api/v1/mirrors/{mirror}")).await;
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
