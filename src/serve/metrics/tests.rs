//! Unit tests for the exposition: exact series for a hand-built snapshot, absence of
//! removed mirrors, the per-repo switch, the vantage label, the HTTP counters; and a
//! timing of the AlmaLinux-sized render ([`timing`], ignored by default, run in release).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::{Config, IpFamily, Protocol};
use crate::freshness::{UpstreamVersion, Verdict};
use crate::health::State;
use crate::probe::FailureReason;
use crate::state::{
    EngineStats, FailureNote, FamilySnapshot, MirrorSnapshot, Phases, RepoVerdict, StateSave,
    UpstreamTarget,
};

mod answers;
mod timing;

const NOW: i64 = 1_800_000_000;
const MIRROR: &str = "mirror.example.org";

fn config(per_repo: bool, vantage: &str) -> Arc<Config> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/valid/minimal.yaml");
    let mut config = crate::config::load(&path).unwrap().config;
    config.metrics.per_repo = per_repo;
    config.metrics.vantage = vantage.to_owned();
    Arc::new(config)
}

fn repo(repo: &str, arch: &str, verdict: Verdict) -> RepoVerdict {
    RepoVerdict::new("9.8", repo, arch, verdict)
}

/// Up over IPv4: one current, one behind (stale: 50,000 s > 12 h), one incomplete copy.
fn ipv4_up() -> FamilySnapshot {
    FamilySnapshot {
        family: IpFamily::Ipv4,
        state: State::Up,
        address: Some("192.0.2.10".parse().unwrap()),
        protocols: BTreeMap::from([(Protocol::Http, true), (Protocol::Https, true)]),
        last_sweep: Some(NOW - 60),
        last_success: Some(NOW - 60),
        last_failure: None,
        phases: Some(Phases {
            resolve: 0.002,
            connect: 0.01,
            tls: 0.02,
            processing: 0.03,
            transfer: 0.001,
        }),
        tls_not_after: Some(NOW + 30 * 86400),
        time_file: Some(NOW - 1800),
        success_ratio: Some(0.75),
        latency_p50: Some(0.05),
        latency_p90: Some(0.1),
        latency_p99: Some(0.25),
        repos: vec![
            repo("baseos", "x86_64", Verdict::Current),
            repo("baseos", "aarch64", Verdict::behind(1, 50_000)),
            repo(
                "appstream",
                "x86_64",
                Verdict::Incomplete {
                    missing: ["repodata/abc-primary.xml.gz".into()].into(),
                },
            ),
        ],
        log: Vec::new(),
    }
}

/// Down over IPv6 because connections are refused.
fn ipv6_down() -> FamilySnapshot {
    let error = || Verdict::Error {
        reason: FailureReason::Connect.into(),
    };
    FamilySnapshot {
        family: IpFamily::Ipv6,
        state: State::Down,
        address: Some("2001:db8::10".parse().unwrap()),
        protocols: BTreeMap::from([(Protocol::Https, false)]),
        last_sweep: Some(NOW - 60),
        last_success: None,
        last_failure: Some(FailureNote {
            at: NOW - 30,
            reason: FailureReason::Connect,
            detail: "connection refused (os error 111)".into(),
        }),
        phases: None,
        tls_not_after: None,
        time_file: None,
        success_ratio: Some(0.0),
        latency_p50: None,
        latency_p90: None,
        latency_p99: None,
        repos: vec![
            repo("baseos", "x86_64", error()),
            repo("baseos", "aarch64", error()),
            repo("appstream", "x86_64", error()),
        ],
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
            sha256: "ab".repeat(32),
            sha512: None,
            sha1: None,
            md5: None,
            size: 3000,
            revision: Some("1799990000".into()),
            timestamp: Some(NOW - 4000),
            first_seen: NOW - 3600,
        }),
        versions_seen: 3,
        alternates: Vec::new(),
        last_success: Some(NOW - 10),
        last_error: (!up).then(|| "timeout after 30s".into()),
    }
}

fn snapshot(config: Arc<Config>) -> Snapshot {
    let mut probes = BTreeMap::new();
    probes.insert(None, 1200);
    probes.insert(Some(FailureReason::Connect), 36);
    Snapshot {
        generated_at: NOW,
        config,
        ready: true,
        upstream: vec![
            upstream("baseos", "x86_64", true),
            upstream("appstream", "x86_64", true),
        ],
        mirrors: vec![Arc::new(MirrorSnapshot {
            name: MIRROR.into(),
            state: State::Degraded,
            score: 61.5,
            families: vec![ipv4_up(), ipv6_down()],
        })],
        stats: EngineStats {
            probes,
            sweeps: 40,
            last_round_seconds: Some(12.5),
            config_reload_ok: true,
            config_reload_at: Some(NOW - 7200),
            started_at: NOW - 86400,
            state_save: Some(StateSave {
                ok: false,
                last_success_at: Some(NOW - 30),
                file_size: Some(1_234_567),
            }),
        },
        subnets: Arc::default(),
    }
}

#[track_caller]
fn assert_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing line\n  {line}\nin:\n{text}"
    );
}

fn samples(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.starts_with('#'))
}

#[test]
fn renders_exact_series_for_a_hand_built_snapshot() {
    let text = render(&snapshot(config(false, "")), &HttpStats::new());
    let m = format!("mirror=\"{MIRROR}\"");
    for line in [
        format!("mirrorwatch_mirror_up{{family=\"ipv4\",{m}}} 1"),
        format!("mirrorwatch_mirror_up{{family=\"ipv6\",{m}}} 0"),
        format!("mirrorwatch_mirror_state{{family=\"ipv4\",{m},state=\"up\"}} 1"),
        format!("mirrorwatch_mirror_state{{family=\"ipv4\",{m},state=\"down\"}} 0"),
        format!("mirrorwatch_mirror_state{{family=\"ipv6\",{m},state=\"down\"}} 1"),
        format!("mirrorwatch_mirror_state{{family=\"ipv6\",{m},state=\"unknown\"}} 0"),
        format!("mirrorwatch_mirror_score{{{m}}} 61.5"),
        format!("mirrorwatch_mirror_info{{continent=\"EU\",country=\"DE\",{m}}} 1"),
        format!("mirrorwatch_mirror_protocol_up{{family=\"ipv4\",{m},protocol=\"http\"}} 1"),
        format!("mirrorwatch_mirror_protocol_up{{family=\"ipv6\",{m},protocol=\"https\"}} 0"),
        format!("mirrorwatch_probe_phase_duration_seconds{{family=\"ipv4\",{m},phase=\"tls\"}} 0.02"),
        format!("mirrorwatch_mirror_latency_seconds{{family=\"ipv4\",{m},q=\"0.99\"}} 0.25"),
        format!("mirrorwatch_tls_cert_not_after_timestamp_seconds{{family=\"ipv4\",{m}}} 1802592000"),
        format!("mirrorwatch_mirror_time_file_timestamp_seconds{{family=\"ipv4\",{m}}} 1799998200"),
        format!("mirrorwatch_mirror_repos{{family=\"ipv4\",{m},verdict=\"current\"}} 1"),
        format!("mirrorwatch_mirror_repos{{family=\"ipv4\",{m},verdict=\"behind\"}} 1"),
        format!("mirrorwatch_mirror_repos{{family=\"ipv4\",{m},verdict=\"incomplete\"}} 1"),
        format!("mirrorwatch_mirror_repos{{family=\"ipv4\",{m},verdict=\"missing\"}} 0"),
        format!("mirrorwatch_mirror_repos{{family=\"ipv6\",{m},verdict=\"error\"}} 3"),
        format!("mirrorwatch_mirror_repos_stale{{family=\"ipv4\",{m}}} 1"),
        format!("mirrorwatch_mirror_repos_stale{{family=\"ipv6\",{m}}} 0"),
        format!("mirrorwatch_mirror_max_lag_seconds{{family=\"ipv4\",{m}}} 50000"),
        format!("mirrorwatch_mirror_last_success_timestamp_seconds{{family=\"ipv4\",{m}}} 1799999940"),
        format!("mirrorwatch_mirror_last_sweep_timestamp_seconds{{family=\"ipv6\",{m}}} 1799999940"),
        format!("mirrorwatch_mirror_last_failure_timestamp_seconds{{family=\"ipv6\",{m},reason=\"connect\"}} 1799999970"),
        format!("mirrorwatch_mirror_success_ratio{{family=\"ipv4\",{m}}} 0.75"),
        format!("mirrorwatch_mirror_success_ratio{{family=\"ipv6\",{m}}} 0"),
        "mirrorwatch_upstream_up{arch=\"x86_64\",repo=\"baseos\",version=\"9.8\"} 1".into(),
        "mirrorwatch_upstream_versions_seen{arch=\"x86_64\",repo=\"baseos\",version=\"9.8\"} 3".into(),
        "mirrorwatch_upstream_last_change_timestamp_seconds{arch=\"x86_64\",repo=\"baseos\",version=\"9.8\"} 1799996400".into(),
        "mirrorwatch_upstream_reachable 1".into(),
        "mirrorwatch_probes_total{reason=\"\",result=\"success\"} 1200".into(),
        "mirrorwatch_probes_total{reason=\"connect\",result=\"failure\"} 36".into(),
        "mirrorwatch_sweeps_total 40".into(),
        "mirrorwatch_round_duration_seconds 12.5".into(),
        format!("mirrorwatch_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")),
        "mirrorwatch_ready 1".into(),
        "mirrorwatch_config_last_reload_successful 1".into(),
        "mirrorwatch_config_last_reload_success_timestamp_seconds 1799992800".into(),
        "mirrorwatch_start_time_seconds 1799913600".into(),
        "mirrorwatch_mirrors{state=\"degraded\"} 1".into(),
        "mirrorwatch_mirrors{state=\"up\"} 0".into(),
        "mirrorwatch_freshness_stale_after_seconds 43200".into(),
        "mirrorwatch_state_last_save_successful 0".into(),
        "mirrorwatch_state_last_save_timestamp_seconds 1799999970".into(),
        "mirrorwatch_state_file_size_bytes 1234567".into(),
        "mirrorwatch_http_connections_open 0".into(),
        "mirrorwatch_http_connections_rejected_total{cap=\"per_client\"} 0".into(),
        "# TYPE mirrorwatch_probes_total counter".into(),
        "# TYPE mirrorwatch_mirror_up gauge".into(),
        "# HELP mirrorwatch_mirror_up Health over one IP family: 1 up, 0.5 degraded, 0 down; absent until swept.".into(),
    ] {
        assert_line(&text, &line);
    }
    // Families with nothing to say are absent rather than zero.
    assert!(!text.contains("mirrorwatch_mirror_max_lag_seconds{family=\"ipv6\""));
    assert!(!text.contains("mirrorwatch_mirror_latency_seconds{family=\"ipv6\""));
    // Error text and addresses never become labels.
    assert!(!text.contains("refused"), "{text}");
    assert!(!text.contains("timeout after"), "{text}");
    assert!(!text.contains("2001:db8"), "{text}");
    assert!(!text.contains("https://"), "{text}");
}

#[test]
fn unknown_state_has_no_up_sample_but_a_state() {
    let mut snap = snapshot(config(false, ""));
    let mut family = ipv4_up();
    family.state = State::Unknown;
    snap.mirrors = vec![Arc::new(MirrorSnapshot {
        name: MIRROR.into(),
        state: State::Unknown,
        score: 0.0,
        families: vec![family],
    })];
    let text = render(&snap, &HttpStats::new());
    assert!(!text.contains("mirrorwatch_mirror_up{"), "{text}");
    assert_line(
        &text,
        &format!(
            "mirrorwatch_mirror_state{{family=\"ipv4\",mirror=\"{MIRROR}\",state=\"unknown\"}} 1"
        ),
    );
}

#[test]
fn a_mirror_absent_from_the_snapshot_has_no_series() {
    let mut snap = snapshot(config(true, ""));
    let text = render(&snap, &HttpStats::new());
    assert!(text.contains(MIRROR));
    // The next scrape after the mirror left the snapshot (removed from the configuration).
    snap.mirrors.clear();
    let text = render(&snap, &HttpStats::new());
    assert!(!text.contains(MIRROR), "{text}");
    assert!(!text.contains("mirrorwatch_mirror_"), "{text}");
    // What does not depend on mirrors is still there; the state counts say zero.
    assert_line(&text, "mirrorwatch_mirrors{state=\"up\"} 0");
    assert_line(&text, "mirrorwatch_ready 1");
}

#[test]
fn before_the_first_sweep_nothing_looks_down() {
    let text = render(&Snapshot::empty(config(false, ""), NOW), &HttpStats::new());
    assert_line(&text, "mirrorwatch_ready 0");
    assert_line(&text, "mirrorwatch_mirrors{state=\"down\"} 0");
    // Not polled yet is not unreachable; the configuration in force loaded fine.
    assert!(!text.contains("mirrorwatch_upstream_reachable "), "{text}");
    assert_line(&text, &format!("mirrorwatch_start_time_seconds {NOW}"));
    assert_line(&text, "mirrorwatch_config_last_reload_successful 1");
    assert!(!text.contains("mirrorwatch_mirror_"), "{text}");
}

#[test]
fn per_repo_series_only_when_enabled() {
    let off = render(&snapshot(config(false, "")), &HttpStats::new());
    assert!(!off.contains("mirrorwatch_repo_"), "{off}");

    let on = render(&snapshot(config(true, "")), &HttpStats::new());
    let m = format!("mirror=\"{MIRROR}\"");
    for line in [
        format!("mirrorwatch_repo_lag_seconds{{arch=\"x86_64\",family=\"ipv4\",{m},repo=\"baseos\",version=\"9.8\"}} 0"),
        format!("mirrorwatch_repo_lag_seconds{{arch=\"aarch64\",family=\"ipv4\",{m},repo=\"baseos\",version=\"9.8\"}} 50000"),
        format!("mirrorwatch_repo_verdict{{arch=\"aarch64\",family=\"ipv4\",{m},repo=\"baseos\",verdict=\"behind\",version=\"9.8\"}} 1"),
        format!("mirrorwatch_repo_verdict{{arch=\"x86_64\",family=\"ipv4\",{m},repo=\"appstream\",verdict=\"incomplete\",version=\"9.8\"}} 1"),
        format!("mirrorwatch_repo_verdict{{arch=\"x86_64\",family=\"ipv6\",{m},repo=\"baseos\",verdict=\"error\",version=\"9.8\"}} 1"),
    ] {
        assert_line(&on, &line);
    }
    // No lag for a copy without one, and one verdict series per copy (2 families × 3).
    assert!(!on.contains("mirrorwatch_repo_lag_seconds{arch=\"x86_64\",family=\"ipv4\",mirror=\"mirror.example.org\",repo=\"appstream\""));
    assert!(!on.contains("mirrorwatch_repo_lag_seconds{arch=\"x86_64\",family=\"ipv6\""));
    assert_eq!(
        samples(&on)
            .filter(|l| l.starts_with("mirrorwatch_repo_verdict{"))
            .count(),
        6
    );
}

#[test]
fn vantage_is_on_every_series_when_set() {
    let http = HttpStats::new();
    http.record("mirrorlist", 200, 0.0004);
    let text = render(&snapshot(config(true, "eu-west")), &http);
    let mut n = 0;
    for line in samples(&text) {
        assert!(line.contains("vantage=\"eu-west\""), "no vantage: {line}");
        n += 1;
    }
    assert!(n > 100, "{text}");
    assert_line(&text, "mirrorwatch_ready{vantage=\"eu-west\"} 1");
    assert_line(
        &text,
        &format!(
            "mirrorwatch_mirror_up{{family=\"ipv4\",mirror=\"{MIRROR}\",vantage=\"eu-west\"}} 1"
        ),
    );

    let text = render(&snapshot(config(true, "")), &http);
    assert!(!text.contains("vantage"), "{text}");
}

#[test]
fn free_text_never_becomes_a_label() {
    let mut snap = snapshot(config(false, ""));
    let mut family = ipv6_down();
    family.last_failure = Some(FailureNote {
        at: NOW,
        reason: FailureReason::Connect,
        detail: "Connection refused (os error 111)".into(),
    });
    snap.mirrors = vec![Arc::new(MirrorSnapshot {
        name: MIRROR.into(),
        state: State::Down,
        score: 0.0,
        families: vec![family],
    })];
    snap.stats.probes.clear();
    snap.stats.probes.insert(Some(FailureReason::Tls), 2);
    snap.stats.probes.insert(Some(FailureReason::BadXml), 3);
    let text = render(&snap, &HttpStats::new());
    assert!(!text.contains("refused"), "{text}");
    assert_line(
        &text,
        &format!("mirrorwatch_mirror_last_failure_timestamp_seconds{{family=\"ipv6\",mirror=\"{MIRROR}\",reason=\"connect\"}} 1800000000"),
    );
    assert_line(
        &text,
        "mirrorwatch_probes_total{reason=\"bad_xml\",result=\"failure\"} 3",
    );
    // Every reason label comes from the closed set.
    let labels: Vec<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
    for line in samples(&text).filter(|l| l.contains("reason=\"")) {
        let value = line
            .split("reason=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            value.is_empty() || labels.contains(&value),
            "reason {value:?} in {line}"
        );
    }
}

#[test]
fn values_that_are_not_finite_are_skipped() {
    let mut snap = snapshot(config(false, ""));
    let mut family = ipv4_up();
    family.success_ratio = Some(f64::NAN);
    family.latency_p99 = Some(f64::INFINITY);
    snap.mirrors = vec![Arc::new(MirrorSnapshot {
        name: MIRROR.into(),
        state: State::Up,
        score: f64::NAN,
        families: vec![family],
    })];
    let text = render(&snap, &HttpStats::new());
    for line in samples(&text) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().unwrap().is_finite(), "{line}");
    }
    assert!(!text.contains("mirrorwatch_mirror_score"), "{text}");
    assert!(!text.contains("q=\"0.99\""), "{text}");
    assert!(text.contains("q=\"0.9\""), "{text}");
}

#[test]
fn http_stats_count_by_endpoint_and_code() {
    let http = HttpStats::new();
    let clone = http.clone();
    http.record("mirrorlist", 200, 0.0004);
    clone.record("mirrorlist", 200, 0.003);
    http.record("mirrorlist", 404, 20.0);
    http.record("/some/url?x=1", 200, -1.0);
    http.record("metrics", 999, f64::NAN);
    let text = render(&snapshot(config(false, "")), &http);
    for line in [
        "# TYPE mirrorwatch_http_requests_total counter",
        "mirrorwatch_http_requests_total{code=\"200\",endpoint=\"mirrorlist\"} 2",
        "mirrorwatch_http_requests_total{code=\"404\",endpoint=\"mirrorlist\"} 1",
        "mirrorwatch_http_requests_total{code=\"200\",endpoint=\"other\"} 1",
        "mirrorwatch_http_requests_total{code=\"other\",endpoint=\"metrics\"} 1",
        "# TYPE mirrorwatch_http_request_duration_seconds histogram",
        "mirrorwatch_http_request_duration_seconds_bucket{endpoint=\"mirrorlist\",le=\"0.0001\"} 0",
        "mirrorwatch_http_request_duration_seconds_bucket{endpoint=\"mirrorlist\",le=\"0.0005\"} 1",
        "mirrorwatch_http_request_duration_seconds_bucket{endpoint=\"mirrorlist\",le=\"0.005\"} 2",
        "mirrorwatch_http_request_duration_seconds_bucket{endpoint=\"mirrorlist\",le=\"10\"} 2",
        "mirrorwatch_http_request_duration_seconds_bucket{endpoint=\"mirrorlist\",le=\"+Inf\"} 3",
        "mirrorwatch_http_request_duration_seconds_count{endpoint=\"mirrorlist\"} 3",
        "mirrorwatch_http_request_duration_seconds_sum{endpoint=\"mirrorlist\"} 20.0034",
        "mirrorwatch_http_request_duration_seconds_bucket{endpoint=\"other\",le=\"0.0001\"} 1",
        // Every endpoint has its histogram from the start, so rate() has a first point.
        "mirrorwatch_http_request_duration_seconds_count{endpoint=\"healthz\"} 0",
    ] {
        assert_line(&text, line);
    }
    assert_eq!(
        samples(&text)
            .filter(|l| l.starts_with("mirrorwatch_http_requests_total"))
            .count(),
        4
    );
    assert!(!text.contains("/some/url"), "{text}");
}

#[test]
fn a_published_subnet_list_has_its_fetch_and_size() {
    use crate::subnets::{Published, PublishedList};
    let mut snap = snapshot(config(false, ""));
    let url = url::Url::parse("http://127.0.0.1:1/nets.txt").unwrap();
    let mut published = Published::default();
    published.lists.insert(
        MIRROR.into(),
        PublishedList {
            nets: vec![
                "192.0.2.0/24".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ]
            .into(),
            skipped_lines: 3,
            fetched_at: Some(NOW - 3600),
            attempted_at: Some(NOW - 60),
            last_ok: false,
            last_error: Some("HTTP status 500".into()),
            ..PublishedList::empty(url.clone())
        },
    );
    published
        .lists
        .insert("never".into(), PublishedList::empty(url));
    snap.subnets = Arc::new(published);
    let text = render(&snap, &HttpStats::new());
    let m = format!("{{mirror=\"{MIRROR}\"}}");
    assert_line(
        &text,
        &format!("mirrorwatch_mirror_subnet_list_fetch_success{m} 0"),
    );
    assert_line(
        &text,
        &format!(
            "mirrorwatch_mirror_subnet_list_fetch_timestamp_seconds{m} {}",
            NOW - 60
        ),
    );
    assert_line(
        &text,
        &format!(
            "mirrorwatch_mirror_subnet_list_success_timestamp_seconds{m} {}",
            NOW - 3600
        ),
    );
    assert_line(
        &text,
        &format!("mirrorwatch_mirror_subnet_list_subnets{m} 2"),
    );
    assert_line(
        &text,
        &format!("mirrorwatch_mirror_subnet_list_skipped_lines{m} 3"),
    );
    // Never fetched: its size (0), but no fetch result or time.
    assert_line(
        &text,
        "mirrorwatch_mirror_subnet_list_subnets{mirror=\"never\"} 0",
    );
    assert!(!text.contains("mirrorwatch_mirror_subnet_list_fetch_success{mirror=\"never\"}"));
}

#[test]
fn a_declared_schedule_is_judged_by_the_largest_lag() {
    // ipv4_up's largest lag is 50,000 s.
    let with = |frequency: Option<u64>| {
        let mut config = (*config(false, "")).clone();
        for m in &mut config.mirrors {
            m.update_frequency = frequency.map(std::time::Duration::from_secs);
        }
        config.freshness.upstream_interval = std::time::Duration::from_secs(60);
        render(&snapshot(Arc::new(config)), &HttpStats::new())
    };
    let m = format!("mirror=\"{MIRROR}\"");
    // Every 6 h: 50,000 s > 2 × 21,600 + 60.
    let text = with(Some(21_600));
    assert_line(
        &text,
        &format!("mirrorwatch_mirror_update_frequency_seconds{{{m}}} 21600"),
    );
    assert_line(
        &text,
        &format!("mirrorwatch_mirror_behind_schedule{{{m}}} 1"),
    );
    // Every 7 h: 50,000 s < 2 × 25,200 + 60, just.
    let text = with(Some(25_200));
    assert_line(
        &text,
        &format!("mirrorwatch_mirror_behind_schedule{{{m}}} 0"),
    );
    // Nothing declared: no series.
    let text = with(None);
    assert!(
        !text.contains("mirrorwatch_mirror_behind_schedule{"),
        "{text}"
    );
    assert!(
        !text.contains("mirrorwatch_mirror_update_frequency_seconds{"),
        "{text}"
    );
}
