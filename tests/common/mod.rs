//! Helpers shared by the integration tests (`mod common;`); the fake mirrors themselves,
//! their CA, repodata and DNS server are the `fakemirrors` crate. Nothing here talks to
//! anything but loopback.
//!
//! Here: a `mirrors.yaml` written into a tempdir ([`ConfigText`]: always with loopback name
//! servers, short timeouts and the state file inside the tempdir), snapshot accessors, and
//! the options of a simulation on loopback ([`sim_options`]).
//! Beside it:
//! - [`lists`]: a loopback server publishing a subnet list whose answer the test changes;
//! - [`engine`]: [`engine::Engine`] drives the state writer through time with explicit
//!   `now` values instead of sleeping;
//! - [`daemon`]: the daemon run in process (`mirrorwatch::run`) on 127.0.0.1;
//! - [`browser`]: Debian's headless Chromium (the DOM with scripts on and off) and `tidy`;
//! - [`binary`]: the real `mirrorwatch serve` binary as a child process, its logs, signals
//!   and `/metrics`;
//! - [`scraped`]: the configuration of an instance a real Prometheus scrapes;
//! - [`prometheus`]: a real Prometheus; [`promtool`]: `promtool check metrics`;
//! - [`dnf`]: the real `dnf` against real createrepo_c repositories.
#![allow(dead_code)]

pub mod binary;
pub mod browser;
pub mod daemon;
pub mod dnf;
pub mod engine;
pub mod lists;
pub mod prometheus;
pub mod promtool;
pub mod scraped;

#[allow(unused_imports)] // not every test binary drives the engine
pub use engine::Engine;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use fakemirrors::sim::{Dir, Layout, SimOptions};
use fakemirrors::{FakeMirror, Network, RepoTree};
use mirrorwatch::config::{Config, IpFamily};
use mirrorwatch::freshness::{ErrorReason, Verdict};
use mirrorwatch::health::State;
use mirrorwatch::state::{FamilySnapshot, Snapshot};

/// The two repository directories of the default layout (version 9.8, x86_64).
pub const DIRS: [&str; 2] = ["9.8/BaseOS/x86_64/os/", "9.8/AppStream/x86_64/os/"];

/// A name server address where nothing listens: for configurations whose URLs are all IP
/// literals, so that no query can ever reach the machine's own resolver.
pub const DEAD_DNS: &str = "127.0.0.1:1";

/// A `mirrors.yaml`: one upstream, version 9.8 with baseos and appstream, the given mirrors
/// (an `https://` URL becomes an https address, anything else http) and probe settings.
#[derive(Clone)]
pub struct ConfigText {
    upstream: String,
    arches: String,
    mirrors: Vec<(String, String)>,
    probe: BTreeMap<String, String>,
    state: BTreeMap<String, String>,
    sections: Vec<String>,
}

impl ConfigText {
    /// Defaults: dead loopback DNS, IPv4 only, `timeout: 2s`, `connect_timeout: 1s`.
    pub fn new(upstream: &str) -> ConfigText {
        let probe = [
            ("dns_servers", format!("[\"{DEAD_DNS}\"]")),
            ("ip_families", "[ipv4]".to_string()),
            ("timeout", "2s".to_string()),
            ("connect_timeout", "1s".to_string()),
            ("concurrency", "64".to_string()),
        ];
        ConfigText {
            upstream: upstream.to_string(),
            arches: "[x86_64]".to_string(),
            mirrors: Vec::new(),
            probe: probe.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            state: BTreeMap::from([("path".to_string(), "state.json".to_string())]),
            sections: Vec::new(),
        }
    }

    pub fn mirror(mut self, name: &str, base_url: &str) -> ConfigText {
        self.mirrors.push((name.to_string(), base_url.to_string()));
        self
    }

    /// Sets (or replaces) one `probe` key; `value` is YAML.
    pub fn probe(mut self, key: &str, value: &str) -> ConfigText {
        self.probe.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets (or replaces) one `state` key; `value` is YAML.
    pub fn state(mut self, key: &str, value: &str) -> ConfigText {
        self.state.insert(key.to_string(), value.to_string());
        self
    }

    /// The arches of version 9 (YAML list), e.g. `[x86_64, aarch64]`.
    pub fn arches(mut self, arches: &str) -> ConfigText {
        self.arches = arches.to_string();
        self
    }

    /// A whole extra top-level section, e.g. `"health:\n  down_after: 3\n"`.
    pub fn section(mut self, yaml: &str) -> ConfigText {
        self.sections.push(yaml.to_string());
        self
    }

    pub fn text(&self) -> String {
        let mut text = format!(
            "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {{\"9\": {}}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\n    - {{name: appstream, path: AppStream/$basearch/os/}}\nmirrors:\n",
            self.upstream, self.arches
        );
        for (name, url) in &self.mirrors {
            text.push_str(&mirror_entry(name, url));
        }
        text.push_str("probe:\n");
        for (key, value) in &self.probe {
            text.push_str(&format!("  {key}: {value}\n"));
        }
        text.push_str("state:\n");
        for (key, value) in &self.state {
            text.push_str(&format!("  {key}: {value}\n"));
        }
        for section in &self.sections {
            text.push_str(section);
        }
        text
    }

    /// Writes `mirrors.yaml` into `dir` and loads it; panics with the diagnostics if invalid.
    pub fn load(&self, dir: &Path) -> Arc<Config> {
        let file = dir.join("mirrors.yaml");
        std::fs::write(&file, self.text()).unwrap();
        let config = match mirrorwatch::config::load(&file) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("test configuration invalid:\n{e}\n---\n{}", self.text()),
        };
        assert_loopback_dns(&config);
        assert!(config.state.path.as_ref().unwrap().starts_with(dir));
        Arc::new(config)
    }
}

/// A `mirrors:` list entry: an `https://` URL becomes an https address, anything else http.
pub fn mirror_entry(name: &str, url: &str) -> String {
    let scheme = match url.starts_with("https://") {
        true => "https",
        false => "http",
    };
    format!("  - name: {name}\n    address: {{{scheme}: \"{url}\"}}\n")
}

/// Every name server of `config` is on loopback, so that no test reaches the machine's own
/// resolver.
#[track_caller]
pub fn assert_loopback_dns(config: &Config) {
    assert!(
        config
            .probe
            .dns_servers
            .iter()
            .all(|a| a.ip().is_loopback()),
        "name servers must be on loopback"
    );
}

/// What upstream (and every mirror in sync) serves in the single-sweep tests.
pub fn tree() -> RepoTree {
    RepoTree::new(1_700_003_600, "current")
}

/// Upstream and `n` mirrors, all serving [`tree`] in both directories.
pub async fn network(n: usize) -> Network {
    let net = Network::start(n).await;
    for dir in DIRS {
        net.publish(dir, &tree());
    }
    net
}

/// A configuration where mirror `i` of `net` is called `names[i]` (by IP literal).
pub fn config_for(net: &Network, names: &[&str]) -> ConfigText {
    names
        .iter()
        .enumerate()
        .fold(ConfigText::new(&net.upstream.base_url()), |c, (i, name)| {
            c.mirror(name, &net.mirror(i).base_url())
        })
}

/// `http://<name>:<port of m>/`: a mirror by a `.test` name served by a `FakeDns`.
pub fn by_name(name: &str, m: &FakeMirror) -> String {
    format!("http://{name}:{}/", m.port())
}

/// One `mirrorwatch check`: every mirror swept once, the upstream polled once.
pub async fn check(config: Arc<Config>) -> Arc<Snapshot> {
    mirrorwatch::daemon::check_once(config, |_, _| {})
        .await
        .unwrap()
}

/// `Verdict::Error` with this reason.
pub fn error(reason: &str) -> Verdict {
    Verdict::Error {
        reason: ErrorReason::from_label(reason).unwrap_or_else(|| panic!("no reason {reason:?}")),
    }
}

/// One (mirror, family) of a snapshot; panics if absent.
pub fn family(snapshot: &Snapshot, mirror: &str, family: IpFamily) -> FamilySnapshot {
    let m = snapshot
        .mirror(mirror)
        .unwrap_or_else(|| panic!("no mirror {mirror} in the snapshot"));
    m.family(family)
        .unwrap_or_else(|| panic!("{mirror} has no {} family: {m:?}", family.as_str()))
        .clone()
}

/// The IPv4 family of `mirror`.
pub fn v4(snapshot: &Snapshot, mirror: &str) -> FamilySnapshot {
    family(snapshot, mirror, IpFamily::Ipv4)
}

/// The verdict labels of a family, in layout order.
pub fn labels(f: &FamilySnapshot) -> Vec<&'static str> {
    f.repos.iter().map(|r| r.verdict.as_str()).collect()
}

/// The verdicts of a family, in layout order.
pub fn verdicts(f: &FamilySnapshot) -> Vec<Verdict> {
    f.repos.iter().map(|r| r.verdict.clone()).collect()
}

/// `last_failure.reason`, if any.
pub fn reason(f: &FamilySnapshot) -> Option<String> {
    f.last_failure.as_ref().map(|n| n.reason.to_string())
}

/// `mirror` is up over IPv4 and current for every repo.
pub fn assert_healthy(snapshot: &Snapshot, mirror: &str) {
    let f = v4(snapshot, mirror);
    assert_eq!(f.state, State::Up, "{mirror}: {f:?}");
    assert!(
        f.repos.iter().all(|r| r.verdict == Verdict::Current),
        "{mirror}: {:?}",
        verdicts(&f)
    );
}

/// A small layout for the simulator (with [`sim_layout`]): 9.8, BaseOS and AppStream, x86_64.
pub const SMALL_LAYOUT: &str = r#"upstream:
  urls: ["http://127.0.0.1:1/almalinux/"]
layout:
  versions: ["9.8"]
  aliases: {"9": "9.8"}
  arches: {"9": [x86_64]}
  repos:
    - {name: baseos, path: BaseOS/$basearch/os/}
    - {name: appstream, path: AppStream/$basearch/os/}
mirrors:
  - {name: placeholder, address: {http: "http://127.0.0.1:1/"}}
"#;

/// What the simulator serves for `text`, a configuration with a `layout:` section: that
/// layout's directories as mirrorwatch reads them, and the section as written. `text` is
/// written to `dir/layout.yaml` to be read as mirrorwatch reads its files.
pub fn sim_layout(dir: &Path, text: &str) -> Layout {
    let file = dir.join("layout.yaml");
    std::fs::write(&file, text).unwrap();
    let config = mirrorwatch::config::load(&file).unwrap().config;
    let dirs = config.layout.targets().map(|t| {
        let module = t.version.module.as_deref();
        Dir::new(&t.dir(), &t.version.name, &t.repo.name, module)
    });
    let yaml: serde_json::Value = serde_yaml::from_str(text).unwrap();
    Layout {
        dirs: dirs.collect(),
        section: yaml["layout"].clone(),
    }
}

/// Options for a simulation in a test: the layout `text` describes, its files in `dir`, the
/// daemon's listener on a free loopback port; the rest the simulator's defaults.
pub fn sim_options(dir: &Path, text: &str) -> SimOptions {
    SimOptions {
        layout: sim_layout(dir, text),
        listen: "127.0.0.1:0".parse().unwrap(),
        work_dir: Some(dir.join("sim")),
        ..SimOptions::default()
    }
}
