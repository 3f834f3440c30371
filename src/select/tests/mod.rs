//! Selection tests on hand-built snapshots: a configuration loaded from YAML written to a
//! temporary file, and mirror snapshots constructed field by field. No sockets, no clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::config::{Config, IpFamily};
use crate::freshness::Verdict;
use crate::health::State;
use crate::state::{FamilySnapshot, MirrorSnapshot, RepoVerdict};

mod client;
mod eligibility;
mod freshness;
mod ordering;
mod published;

const NOW: i64 = 1_800_000_000;

/// One version, two arches, two repos; `max_lag: 2h` unless `serve` overrides it.
const LAYOUT: &str = r#"
upstream:
  urls: ["https://upstream.example.org/almalinux/"]
layout:
  versions: ["9.8"]
  aliases: {"9": "9.8"}
  arches:
    "9": [x86_64, aarch64]
  repos:
    - name: baseos
      path: BaseOS/$basearch/os/
    - name: appstream
      path: AppStream/$basearch/os/
"#;

/// A mirror entry with http and https addresses; `extra` lines go under it (`country: DE`).
fn mirror(name: &str, extra: &[&str]) -> String {
    let mut text = format!(
        "  - name: {name}\n    address:\n      http: http://{name}/almalinux/\n      \
         https: https://{name}/almalinux/\n"
    );
    for line in extra {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Load a configuration with `serve` settings (YAML lines, indented by two) and `mirrors`.
fn config(serve: &[&str], mirrors: &[String]) -> Arc<Config> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirrors.yaml");
    let mut text = format!("{LAYOUT}serve:\n");
    if !serve.iter().any(|line| line.starts_with("max_lag:")) {
        text.push_str("  max_lag: 2h\n");
    }
    for line in serve {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("mirrors:\n");
    text.push_str(&mirrors.concat());
    std::fs::write(&path, text).unwrap();
    match crate::config::load(&path) {
        Ok(loaded) => Arc::new(loaded.config),
        Err(e) => panic!("test configuration does not load:\n{e}"),
    }
}

/// Every (repo, arch) of the layout with the same verdict.
fn all(verdict: Verdict) -> Vec<RepoVerdict> {
    let mut repos = Vec::new();
    for repo in ["baseos", "appstream"] {
        for arch in ["x86_64", "aarch64"] {
            repos.push(RepoVerdict::new("9.8", repo, arch, verdict.clone()));
        }
    }
    repos
}

fn family(family: IpFamily, state: State) -> FamilySnapshot {
    FamilySnapshot {
        family,
        state,
        address: None,
        protocols: BTreeMap::from([(Protocol::Http, true), (Protocol::Https, true)]),
        last_sweep: Some(NOW - 60),
        last_success: Some(NOW - 60),
        last_failure: None,
        phases: None,
        tls_not_after: None,
        time_file: None,
        success_ratio: Some(1.0),
        latency_p50: Some(0.05),
        latency_p90: None,
        latency_p99: None,
        repos: all(Verdict::Current),
        log: Vec::new(),
    }
}

/// Up over both families, every copy current, score 50.
fn healthy(name: &str) -> MirrorSnapshot {
    MirrorSnapshot {
        name: name.into(),
        state: State::Up,
        score: 50.0,
        families: vec![
            family(IpFamily::Ipv4, State::Up),
            family(IpFamily::Ipv6, State::Up),
        ],
    }
}

fn fam_mut(mirror: &mut MirrorSnapshot, which: IpFamily) -> &mut FamilySnapshot {
    mirror
        .families
        .iter_mut()
        .find(|f| f.family == which)
        .unwrap()
}

/// `healthy(name)` with one family in another state.
fn with_state(name: &str, which: IpFamily, state: State) -> MirrorSnapshot {
    let mut m = healthy(name);
    fam_mut(&mut m, which).state = state;
    m
}

/// `healthy(name)` with one copy (both families) given another verdict.
fn with_verdict(name: &str, repo: &str, arch: &str, verdict: Verdict) -> MirrorSnapshot {
    let mut m = healthy(name);
    for fam in &mut m.families {
        for copy in &mut fam.repos {
            if copy.repo() == repo && copy.arch() == arch {
                copy.verdict = verdict.clone();
            }
        }
    }
    m
}

fn snapshot(config: Arc<Config>, mirrors: Vec<MirrorSnapshot>) -> Snapshot {
    let mut snap = Snapshot::empty(config, NOW);
    snap.mirrors = mirrors.into_iter().map(Arc::new).collect();
    snap
}

fn want<'a>(snap: &'a Snapshot, repo: &str, arch: Option<Arch>) -> Want<'a> {
    Want {
        version: snap.config.layout.version("9.8").unwrap(),
        repo: snap.config.layout.repo(repo).unwrap(),
        arch,
        protocol: None,
    }
}

fn client(addr: &str) -> Client {
    Client::new(addr.parse().unwrap())
}

fn names<'a>(picks: &[Pick<'a>]) -> Vec<&'a str> {
    picks.iter().map(|p| p.mirror.name.as_str()).collect()
}

fn sorted<'a>(picks: &[Pick<'a>]) -> Vec<&'a str> {
    let mut names = names(picks);
    names.sort_unstable();
    names
}

fn behind(lag_seconds: u64) -> Verdict {
    Verdict::behind(1, lag_seconds)
}

/// Select `baseos`/`x86_64` for `c` at `NOW`.
fn pick_x86<'a>(snap: &'a Snapshot, c: &Client) -> Vec<Pick<'a>> {
    select(snap, &want(snap, "baseos", Some(Arch::X86_64)), c, NOW)
}
