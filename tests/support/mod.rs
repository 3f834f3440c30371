//! Helpers shared by the integration tests: a `mirrors.yaml` written into a tempdir (always
//! with loopback name servers, short timeouts and the state file inside the tempdir),
//! snapshot accessors, and [`Engine`], which drives the state writer through time with
//! explicit `now` values instead of sleeping (`hostile_mirrors.rs`,
//! `freshness_over_time.rs`); [`in_process`], the daemon run in process and awaited on
//! `/readyz` (`geoip.rs`, `mirrorlist_http.rs`, `dnf_daemon.rs`); [`promtool`], `promtool
//! check metrics` on an exposition (`metrics_promtool.rs`, `daemon_restart.rs`).
//!
//! Use with `mod kit; mod support;`. Nothing here talks to anything but loopback.
#![allow(dead_code)]

pub mod in_process;
pub mod promtool;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use crate::kit::{FakeMirror, Network, RepoTree};
use mirrorwatch::config::{Config, IpFamily};
use mirrorwatch::freshness::{ErrorReason, Verdict};
use mirrorwatch::health::State;
use mirrorwatch::probe::sweep::{FileResult, Previous, SweepContext, Validators};
use mirrorwatch::state::records::{CopyRecord, Seen};
use mirrorwatch::state::{Event, FamilySnapshot, Records, Snapshot, StateWriter};

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
            let scheme = if url.starts_with("https://") {
                "https"
            } else {
                "http"
            };
            text.push_str(&format!(
                "  - name: {name}\n    address: {{{scheme}: \"{url}\"}}\n"
            ));
        }
        text.push_str("probe:\n");
        for (key, value) in &self.probe {
            text.push_str(&format!("  {key}: {value}\n"));
        }
        text.push_str("state:\n  path: state.json\n");
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
        assert!(
            config
                .probe
                .dns_servers
                .iter()
                .all(|a| a.ip().is_loopback()),
            "name servers must be on loopback"
        );
        assert!(config.state.path.as_ref().unwrap().starts_with(dir));
        Arc::new(config)
    }
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

/// What a sweep remembers of a stored copy for its next conditional GET.
pub fn previous(copy: &CopyRecord) -> Previous {
    let (sha256, complete) = match &copy.seen {
        Seen::Fetched { content, missing } => (
            Some(content.sha256_hex()),
            missing.as_ref().is_some_and(|m| m.is_empty()),
        ),
        _ => (None, false),
    };
    Previous {
        etag: copy.etag.as_ref().map(ToString::to_string),
        last_modified: copy.last_modified.as_ref().map(ToString::to_string),
        sha256,
        complete,
    }
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

/// The sweep context, scheduler calls and state writer of the daemon, driven by hand: every
/// call takes the `now` (unix seconds) it happens at, so hours pass in milliseconds.
/// Validators are kept per mirror as `scheduler::mirror_loop` keeps them (forgotten after a
/// failure); [`Engine::restart`] goes through the state file as `daemon::run` does.
pub struct Engine {
    pub config: Arc<Config>,
    pub ctx: SweepContext,
    pub writer: StateWriter,
    previous: HashMap<String, HashMap<String, Previous>>,
}

impl Engine {
    pub fn new(config: Arc<Config>, now: i64) -> Engine {
        let ctx = mirrorwatch::daemon::sweep_context(&config).unwrap();
        let writer = StateWriter::new(config.clone(), Records::default(), now);
        Engine {
            config,
            ctx,
            writer,
            previous: HashMap::new(),
        }
    }

    /// Saves the records to `state.path`, then starts again from that file: a new fetcher
    /// (no pooled connections), a new writer, validators from the records (as
    /// `scheduler::run` takes them).
    pub fn restart(&mut self, now: i64) {
        let path = self.config.state.path.clone().unwrap();
        mirrorwatch::persist::save_atomic(&path, self.writer.records()).unwrap();
        let records = mirrorwatch::daemon::load_records(&self.config);
        self.previous = records
            .mirrors
            .iter()
            .filter_map(|(name, m)| {
                let f = m.families.get(&IpFamily::Ipv4)?;
                let copies = f.copies.iter().map(|(k, c)| (k.clone(), previous(c)));
                Some((name.clone(), copies.collect()))
            })
            .collect();
        self.ctx = mirrorwatch::daemon::sweep_context(&self.config).unwrap();
        self.writer = StateWriter::new(self.config.clone(), records, now);
    }

    /// Polls the upstream at `now`, with the validators the records hold (what
    /// `scheduler::upstream_loop` remembers), and folds the result.
    pub async fn poll(&mut self, now: i64) {
        let previous: HashMap<String, Previous> = self
            .writer
            .records()
            .upstream
            .iter()
            .filter_map(|(key, u)| {
                let current = u.history.current()?;
                let p = Previous {
                    etag: u.etag.clone(),
                    last_modified: u.last_modified.clone(),
                    sha256: Some(current.sha256.clone()),
                    complete: true,
                };
                Some((key.clone(), p))
            })
            .collect();
        let files = mirrorwatch::scheduler::upstream_files(&self.config, &previous);
        let reports = mirrorwatch::probe::upstream::poll(&self.ctx, &files, now).await;
        self.writer.apply(Event::Upstream(reports), now);
    }

    /// Sweeps `mirror` over IPv4 at `now` and folds the report; its validators are then
    /// updated as `scheduler::remember` does.
    pub async fn sweep(&mut self, mirror: &str, now: i64) {
        let previous = self.previous.entry(mirror.to_string()).or_default();
        let m = self.config.mirror(mirror).unwrap();
        let planner = mirrorwatch::scheduler::Planner::new(self.config.clone());
        let plan = planner.plan(m, IpFamily::Ipv4).unwrap();
        let validators: Vec<Option<Validators>> = plan
            .keys()
            .map(|k| previous.get(k).map(Validators::from))
            .collect();
        let report = mirrorwatch::probe::sweep::sweep(&self.ctx, &plan, &validators, now).await;
        for file in &report.files {
            match &file.result {
                FileResult::Fetched {
                    sha256, missing, ..
                } => {
                    let old = previous.get(&file.key);
                    let same = old.and_then(|p| p.sha256.as_deref()) == Some(sha256.as_str());
                    let complete = match missing {
                        Some(m) => m.is_empty(),
                        None => same && old.is_some_and(|p| p.complete),
                    };
                    let p = Previous {
                        etag: file.etag.clone(),
                        last_modified: file.last_modified.clone(),
                        sha256: Some(sha256.clone()),
                        complete,
                    };
                    previous.insert(file.key.clone(), p);
                }
                FileResult::NotModified => {}
                FileResult::NotFound | FileResult::Failed { .. } => {
                    previous.remove(&file.key);
                }
            }
        }
        self.writer.apply(Event::Sweep(Box::new(report)), now);
    }

    pub fn snapshot(&mut self, now: i64) -> Arc<Snapshot> {
        self.writer.snapshot(now)
    }

    /// The IPv4 state of `mirror` in a snapshot taken at `now`.
    pub fn state(&mut self, mirror: &str, now: i64) -> State {
        v4(&self.snapshot(now), mirror).state
    }
}
