//! The `/metrics` exposition passes the real `promtool check metrics` (Debian package
//! `prometheus`) without a single remark: parsed as format 0.0.4 and linted against
//! Prometheus naming practice. A realistic snapshot (every health state, every verdict,
//! per-repo detail, the vantage label, HTTP counters, a label value that needs escaping)
//! is built through the public API and piped in.
//!
//! Without promtool the test fails, saying what to install (CI installs it); set
//! `MIRRORWATCH_SKIP_PROMTOOL=1` to skip it knowingly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::promtool;
use mirrorwatch::config::{self, Config, IpFamily, Protocol};
use mirrorwatch::freshness::{UpstreamVersion, Verdict};
use mirrorwatch::health::State;
use mirrorwatch::probe::FailureReason;
use mirrorwatch::serve::metrics::{render, HttpStats, ENDPOINTS};
use mirrorwatch::state::{
    EngineStats, FailureNote, FamilySnapshot, MirrorSnapshot, Phases, RepoVerdict, Snapshot,
    StateSave, UpstreamTarget,
};
use mirrorwatch::subnets::{Published, PublishedList};

const NOW: i64 = 1_800_000_000;

fn config(per_repo: bool, vantage: &str, names: &[&str]) -> Arc<Config> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/valid/minimal.yaml");
    let mut config = config::load(&path).unwrap().config;
    let template = config.mirrors[0].clone();
    config.mirrors = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut mirror = template.clone();
            mirror.name = (*name).to_owned();
            // One mirror without a known location: its info labels are empty.
            if i == 2 {
                mirror.country = None;
                mirror.continent = None;
            }
            mirror
        })
        .collect();
    config.metrics.per_repo = per_repo;
    config.metrics.vantage = vantage.to_owned();
    Arc::new(config)
}

/// Every verdict, on both arches of both repos and more.
fn repos(offset: usize) -> Vec<RepoVerdict> {
    let verdicts = [
        Verdict::Current,
        Verdict::behind(2, 90_000),
        Verdict::Unknown {
            newer: false,
            lag_seconds: Some(600),
        },
        Verdict::Unknown {
            newer: true,
            lag_seconds: None,
        },
        Verdict::Missing,
        Verdict::Incomplete {
            missing: ["repodata/0123-primary.xml.gz".into()].into(),
        },
        Verdict::Error {
            reason: FailureReason::HttpStatus.into(),
        },
    ];
    let mut out = Vec::new();
    for (i, repo) in ["baseos", "appstream"].into_iter().enumerate() {
        for (j, arch) in ["x86_64", "aarch64"].into_iter().enumerate() {
            out.push(RepoVerdict::new(
                "9.8",
                repo,
                arch,
                verdicts[(offset + 2 * i + j) % verdicts.len()].clone(),
            ));
        }
    }
    out
}

fn family(family: IpFamily, state: State, offset: usize) -> FamilySnapshot {
    let swept = state != State::Unknown;
    let ok = matches!(state, State::Up | State::Degraded);
    FamilySnapshot {
        family,
        state,
        address: swept.then(|| match family {
            IpFamily::Ipv4 => "192.0.2.7".parse().unwrap(),
            IpFamily::Ipv6 => "2001:db8::7".parse().unwrap(),
        }),
        protocols: if swept {
            BTreeMap::from([(Protocol::Http, ok), (Protocol::Https, ok)])
        } else {
            BTreeMap::new()
        },
        last_sweep: swept.then_some(NOW - 120),
        last_success: ok.then_some(NOW - 120),
        last_failure: (state != State::Up && swept).then(|| FailureNote {
            at: NOW - 100,
            reason: FailureReason::Timeout,
            detail: "no answer within 30s from https://mirror.example.org/".into(),
        }),
        phases: ok.then_some(Phases {
            resolve: 0.0012,
            connect: 0.021,
            tls: 0.043,
            processing: 0.061,
            transfer: 0.0004,
        }),
        tls_not_after: ok.then_some(NOW + 20 * 86400),
        time_file: ok.then_some(NOW - 1800),
        success_ratio: swept.then_some(if ok { 0.98 } else { 0.0 }),
        latency_p50: ok.then_some(0.09),
        latency_p90: ok.then_some(0.2),
        latency_p99: ok.then_some(0.7),
        repos: if swept { repos(offset) } else { Vec::new() },
        log: Vec::new(),
    }
}

fn upstream(repo: &str, arch: &str, up: bool) -> UpstreamTarget {
    UpstreamTarget {
        version: "9.8".into(),
        repo: repo.into(),
        arch: arch.into(),
        dir: format!("9.8/{repo}/{arch}/os/"),
        up,
        current: Some(UpstreamVersion {
            sha256: "0f".repeat(32),
            sha512: Some("1e".repeat(64)),
            sha1: None,
            md5: None,
            size: 4096,
            revision: Some("1799990000".into()),
            timestamp: Some(NOW - 9000),
            first_seen: NOW - 8000,
        }),
        versions_seen: 5,
        alternates: Vec::new(),
        last_success: Some(NOW - 30),
        last_error: (!up).then(|| "connect: connection refused".into()),
    }
}

fn snapshot(per_repo: bool, vantage: &str) -> Snapshot {
    let names = [
        "mirror.example.org",
        "eu.mirror.example.net",
        "odd \"quoted\" \\ name",
        "new.example.com",
    ];
    let config = config(per_repo, vantage, &names);
    let states = [
        (State::Up, State::Up, State::Up),
        (State::Degraded, State::Up, State::Down),
        (State::Down, State::Down, State::Down),
        (State::Unknown, State::Unknown, State::Unknown),
    ];
    let mirrors = names
        .iter()
        .zip(states)
        .enumerate()
        .map(|(i, (name, (overall, v4, v6)))| {
            Arc::new(MirrorSnapshot {
                name: (*name).to_owned(),
                state: overall,
                score: 100.0 - 25.0 * i as f64,
                families: vec![
                    family(IpFamily::Ipv4, v4, i),
                    family(IpFamily::Ipv6, v6, i + 3),
                ],
            })
        })
        .collect();
    let mut probes = BTreeMap::new();
    probes.insert(None, 5000);
    probes.insert(Some(FailureReason::Timeout), 40);
    probes.insert(Some(FailureReason::Tls), 3);
    Snapshot {
        generated_at: NOW,
        config,
        ready: true,
        upstream: vec![
            upstream("baseos", "x86_64", true),
            upstream("baseos", "aarch64", true),
            upstream("appstream", "x86_64", false),
            upstream("appstream", "aarch64", true),
        ],
        mirrors,
        stats: EngineStats {
            probes,
            sweeps: 321,
            last_round_seconds: Some(41.25),
            config_reload_ok: false,
            config_reload_at: Some(NOW - 600),
            started_at: NOW - 86400,
            state_save: Some(StateSave {
                ok: false,
                last_success_at: Some(NOW - 30),
                file_size: Some(1_234_567),
            }),
        },
        subnets: Arc::new(published(&names)),
    }
}

/// Published subnet lists: one in use after a failed fetch, one never fetched.
fn published(names: &[&str]) -> Published {
    let url = url::Url::parse("http://127.0.0.1:1/subnets.txt").unwrap();
    let mut lists = BTreeMap::new();
    lists.insert(
        names[0].to_owned(),
        PublishedList {
            nets: Arc::from(vec!["192.0.2.0/24".parse().unwrap()]),
            skipped_lines: 2,
            fetched_at: Some(NOW - 7200),
            attempted_at: Some(NOW - 60),
            last_ok: false,
            last_error: Some("HTTP status 500".into()),
            ..PublishedList::empty(url.clone())
        },
    );
    lists.insert(names[2].to_owned(), PublishedList::empty(url));
    Published { lists }
}

fn http_stats() -> HttpStats {
    let http = HttpStats::new();
    for (i, endpoint) in ENDPOINTS.iter().enumerate() {
        http.record(endpoint, 200, 0.0002 * (i + 1) as f64);
    }
    http.record("mirrorlist", 404, 0.0003);
    http.record("mirrorlist", 400, 0.0001);
    http.record("metrics", 200, 0.02);
    http
}

#[test]
fn promtool_accepts_the_exposition_with_per_repo_detail_and_vantage() {
    let text = render(&snapshot(true, "eu-west"), &http_stats());
    // The test must exercise what it claims: detail, vantage and escaping are present.
    assert!(text.contains("mirrorwatch_repo_verdict{"), "{text}");
    assert!(text.contains("vantage=\"eu-west\""), "{text}");
    assert!(
        text.contains(r#"mirror="odd \"quoted\" \\ name""#),
        "{text}"
    );
    assert!(text.contains("mirrorwatch_http_request_duration_seconds_bucket{"));
    promtool::check("per-repo", &text);
}

#[test]
fn promtool_accepts_the_default_exposition() {
    let text = render(&snapshot(false, ""), &http_stats());
    assert!(!text.contains("mirrorwatch_repo_"), "{text}");
    promtool::check("default", &text);
}

#[test]
fn promtool_accepts_the_exposition_before_the_first_sweep() {
    let snapshot = Snapshot::empty(config(false, "", &["mirror.example.org"]), NOW);
    promtool::check("empty", &render(&snapshot, &HttpStats::new()));
}

#[test]
fn promtool_reports_a_bad_exposition() {
    // Guards the guard: a wrong exposition must make `promtool::check` fail, not pass silently.
    let bad = "# HELP x_total bad\n# TYPE x_total gauge\nx_total 1\n";
    if let Some((_, said)) = promtool::run(bad) {
        assert!(said.contains("_total"), "{said}");
    }
}
