//! The configuration of a mirrorwatch instance that a real Prometheus scrapes (run with
//! [`super::daemon::Daemon::spawn`]): version 9.8, BaseOS, x86_64; IP-literal mirror URLs; a
//! dead loopback name server; short intervals; a vantage label; state in the tempdir.

use std::path::PathBuf;

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
    /// (mirror, its admin's email).
    pub emails: Vec<(String, String)>,
}

impl Config {
    pub fn new(upstream: &str, vantage: &str) -> Config {
        Config {
            upstream: upstream.to_string(),
            mirrors: Vec::new(),
            vantage: vantage.to_string(),
            ca_files: Vec::new(),
            stale_after: "12h",
            emails: Vec::new(),
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
            text.push_str(&super::mirror_entry(name, url));
            text.push_str("    country: DE\n");
            if let Some((_, email)) = self.emails.iter().find(|(m, _)| m == name) {
                text.push_str(&format!("    email: {email:?}\n"));
            }
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
