//! The pages rendered from hand-built snapshots: escaping of what mirrors send, sorting and
//! filtering by query, the checklist against the mirror list, the history's bounds; and the
//! render time at AlmaLinux scale (ignored by default, run in release:
//! `cargo test --release --lib page_render_time -- --ignored --nocapture`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::history::{History, LAG_SAMPLES};
use super::{mirror, overview, page, TableQuery};
use crate::config::{Config, IpFamily, Protocol};
use crate::freshness::{UpstreamVersion, Verdict};
use crate::health::State;
use crate::probe::FailureReason;
use crate::serve::viewer::Viewer;
use crate::state::{
    EngineStats, FailureNote, FamilySnapshot, LogEntry, MirrorSnapshot, RepoVerdict, Snapshot,
    UpstreamTarget,
};

const NOW: i64 = 1_800_000_000;
const HOSTILE: &str = "<script>alert(\"x\")</script>' onmouseover='x";

/// A configuration of `n` mirrors `m{i}.example.org` (country DE, FR or US by turn) and
/// `repos` repos of four arches.
fn config(n: usize, repos: usize) -> Arc<Config> {
    let mut yaml = String::from(
        "upstream:\n  urls: [\"https://upstream.example.org/\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {\"9\": [x86_64, aarch64, ppc64le, s390x]}\n  repos:\n",
    );
    for r in 0..repos {
        yaml.push_str(&format!(
            "    - {{name: repo{r}, path: R{r}/$basearch/os/}}\n"
        ));
    }
    yaml.push_str("mirrors:\n");
    for i in 0..n {
        let country = ["DE", "FR", "US"][i % 3];
        yaml.push_str(&format!(
            "  - name: m{i}.example.org\n    address: {{https: \"https://m{i}.example.org/\"}}\n    country: {country}\n    sponsor: \"Sponsor <b>{i}</b>\"\n    sponsor_url: \"javascript:alert(1)\"\n"
        ));
    }
    yaml.push_str(
        "serve:\n  dashboard_url: \"https://grafana.example.org/d/mw?var-mirror={mirror}\"\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirrors.yaml");
    std::fs::write(&path, yaml).unwrap();
    Arc::new(crate::config::load(&path).unwrap().config)
}

fn family(family: IpFamily, state: State, repos: Vec<RepoVerdict>, lag: u64) -> FamilySnapshot {
    let failed = state == State::Down;
    FamilySnapshot {
        family,
        state,
        address: Some("192.0.2.10".parse().unwrap()),
        protocols: BTreeMap::from([(Protocol::Https, !failed)]),
        last_sweep: Some(NOW - 60),
        last_success: (!failed).then_some(NOW - 60),
        last_failure: failed.then(|| FailureNote {
            at: NOW - 60,
            reason: FailureReason::BadRedirect,
            detail: format!("Location {HOSTILE:?} is not an http(s) URL"),
        }),
        phases: None,
        tls_not_after: Some(NOW + 86_400 * (lag % 40) as i64),
        time_file: None,
        success_ratio: Some(1.0),
        latency_p50: Some(0.01 + lag as f64 / 1e6),
        latency_p90: None,
        latency_p99: None,
        repos,
        log: vec![LogEntry {
            at: NOW - 60,
            duration_seconds: 0.2,
            result: crate::state::records::LogResult::Ok,
            files_ok: 4,
            files_failed: 0,
            reason: None,
            detail: failed.then(|| HOSTILE.into()),
            phases: Some(crate::state::LogPhases::from(crate::state::Phases {
                resolve: 0.0012,
                connect: 0.0003,
                tls: 0.0,
                processing: 0.0451,
                transfer: 0.002,
            })),
        }],
    }
}

/// Every mirror of `config`: mirror 1 down with a hostile failure detail, the others up with
/// a lag of `i` minutes on their first repo.
fn snapshot(config: Arc<Config>) -> Snapshot {
    let targets: Vec<(String, String)> = config
        .layout
        .targets()
        .map(|t| (t.repo.name.clone(), t.arch.as_str().to_string()))
        .collect();
    let mirrors = config
        .mirrors
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let down = i == 1;
            let repos: Vec<RepoVerdict> = targets
                .iter()
                .enumerate()
                .map(|(k, (repo, arch))| {
                    let verdict = match (down, k) {
                        (true, _) => Verdict::Error {
                            reason: FailureReason::BadRedirect.into(),
                        },
                        (false, 0) if i > 0 => Verdict::behind(1, 60 * i as u64),
                        _ => Verdict::Current,
                    };
                    let mut verdict =
                        RepoVerdict::new("9.8", repo.as_str(), arch.as_str(), verdict);
                    // The first repo checked five minutes ago, the others never.
                    if k == 0 {
                        verdict.checked_at = NOW - 300;
                    }
                    verdict
                })
                .collect();
            let state = if down { State::Down } else { State::Up };
            Arc::new(MirrorSnapshot {
                name: m.name.clone(),
                state,
                score: if down { 0.0 } else { 90.0 },
                families: vec![family(IpFamily::Ipv4, state, repos, i as u64)],
            })
        })
        .collect();
    let upstream = targets
        .iter()
        .map(|(repo, arch)| UpstreamTarget {
            version: "9.8".into(),
            repo: repo.clone(),
            arch: arch.clone(),
            dir: format!("9.8/{repo}/{arch}/os/"),
            up: true,
            current: Some(UpstreamVersion {
                sha256: "ab".repeat(32),
                sha512: None,
                sha1: None,
                md5: None,
                size: 3000,
                revision: None,
                timestamp: None,
                first_seen: NOW - 3600,
            }),
            alternates: Vec::new(),
            versions_seen: 1,
            last_success: Some(NOW - 10),
            last_error: None,
        })
        .collect();
    Snapshot {
        generated_at: NOW,
        config,
        ready: true,
        upstream,
        mirrors,
        stats: EngineStats::default(),
        subnets: Arc::default(),
    }
}

fn overview_html(snapshot: &Snapshot, history: &History, query: &TableQuery) -> String {
    page(
        "t",
        NOW,
        overview::render(snapshot, history, query, &Viewer::everyone()),
    )
    .into_string()
}

/// The mirror names of the table's rows, in order.
fn row_names(html: &str) -> Vec<String> {
    html.split("<a href=\"/mirrors/")
        .skip(1)
        .filter_map(|s| Some(s.split_once("\">")?.1.split_once('<')?.0.to_string()))
        .collect()
}

#[test]
fn what_a_mirror_sends_is_text_never_markup() {
    let snap = snapshot(config(3, 2));
    let mut history = History::default();
    history.record(&snap);
    let overview = overview_html(&snap, &history, &TableQuery::default());
    let page = mirror::render(&snap, &history, "m1.example.org", &Viewer::everyone())
        .unwrap()
        .into_string();
    for html in [&overview, &page] {
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<b>1</b>"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("&lt;script&gt;alert("), "{html}");
        assert!(html.contains("Sponsor &lt;b&gt;1&lt;/b&gt;"), "{html}");
    }
    assert!(page.contains("bad_redirect"), "{page}");
    assert!(
        page.contains("https://grafana.example.org/d/mw?var-mirror=m1.example.org"),
        "{page}"
    );
}

#[test]
fn the_table_sorts_and_filters_on_the_server() {
    let snap = snapshot(config(6, 1));
    let history = History::default();
    let query = |sort: &str, state: &str, country: &str| TableQuery {
        sort: Some(sort.into()),
        state: Some(state.into()),
        country: Some(country.into()),
        continent: None,
    };
    let names = |q| row_names(&overview_html(&snap, &history, &q));
    let by_name: Vec<String> = (0..6).map(|i| format!("m{i}.example.org")).collect();
    assert_eq!(names(TableQuery::default()), by_name);
    // Lag: mirror i is i minutes behind; the down one (1) has no lag and goes last.
    assert_eq!(
        names(query("-lag", "", "")),
        ["m5", "m4", "m3", "m2", "m0", "m1"].map(|m| format!("{m}.example.org"))
    );
    assert_eq!(names(query("state", "down", "")), ["m1.example.org"]);
    assert_eq!(
        names(query("name", "", "de")),
        ["m0.example.org", "m3.example.org"]
    );
    let mut reversed = by_name.clone();
    reversed.reverse();
    assert_eq!(names(query("-name", "", "")), reversed);
    // An unknown key sorts by name rather than failing.
    assert_eq!(names(query("bogus", "", "")), by_name);
}

#[test]
fn the_checklist_says_why_a_mirror_is_out() {
    let snap = snapshot(config(3, 1));
    let history = History::default();
    let down = mirror::render(&snap, &history, "m1.example.org", &Viewer::everyone())
        .unwrap()
        .into_string();
    assert!(down.contains("Not listed for IPv4 clients"), "{down}");
    assert!(down.contains("it is down"), "{down}");
    let up = mirror::render(&snap, &history, "m0.example.org", &Viewer::everyone())
        .unwrap()
        .into_string();
    assert!(up.contains("Listed for IPv4 clients"), "{up}");
    assert!(up.contains("not declared"), "{up}");
    // Each recent sweep with the phases of its first fetch, kept to the microsecond.
    assert!(up.contains("resolve 1.2 ms, connect 0.3 ms"), "{up}");
    assert!(up.contains("first byte 45.1 ms"), "{up}");
    // Each verdict says when its copy was checked.
    assert!(up.contains(r#"title="checked 5 min ago""#), "{up}");
    assert!(up.contains(r#"title="not checked yet""#), "{up}");
    assert!(mirror::render(&snap, &history, "nope.example.org", &Viewer::everyone()).is_none());

    // A declared schedule: every 20 s, allowed 2 × 20 + 30 s. m2 lags by 120 s.
    let mut declared = (*config(3, 1)).clone();
    for m in &mut declared.mirrors {
        m.update_frequency = Some(std::time::Duration::from_secs(20));
    }
    declared.freshness.upstream_interval = std::time::Duration::from_secs(30);
    let snap = snapshot(Arc::new(declared));
    let page = |name| {
        mirror::render(&snap, &history, name, &Viewer::everyone())
            .unwrap()
            .into_string()
    };
    let late = page("m2.example.org");
    assert!(
        late.contains("<b>behind schedule</b>: largest lag 2 min"),
        "{late}"
    );
    assert!(late.contains("allowed 1 min 10 s"), "{late}");
    let kept = page("m0.example.org");
    assert!(kept.contains("kept: largest lag"), "{kept}");
}

#[test]
fn history_is_bounded_and_sees_upstream_changes() {
    let config = config(2, 1);
    let mut snap = snapshot(config);
    let mut history = History::default();
    for i in 0..(LAG_SAMPLES as i64 + 30) {
        snap.generated_at = NOW + i * 60;
        let mirrors: Vec<Arc<MirrorSnapshot>> = snap
            .mirrors
            .iter()
            .map(|m| {
                let mut m = MirrorSnapshot::clone(m);
                m.families[0].last_sweep = Some(NOW + i * 60);
                Arc::new(m)
            })
            .collect();
        snap.mirrors = mirrors;
        if i == 5 {
            if let Some(current) = snap.upstream[0].current.as_mut() {
                current.sha256 = "cd".repeat(32);
                current.first_seen = NOW + i * 60;
            }
        }
        history.record(&snap);
    }
    let m0 = &history.mirrors["m0.example.org"];
    assert_eq!(m0.lag.len(), LAG_SAMPLES);
    assert_eq!(
        m0.lag.back().unwrap().at,
        NOW + (LAG_SAMPLES as i64 + 29) * 60
    );
    assert_eq!(history.changes.len(), 1, "{:?}", history.changes);
    let change = &history.changes[0];
    assert_eq!(
        (change.version.as_str(), change.repo.as_str()),
        ("9.8", "repo0")
    );
    assert_eq!(change.arches, [("x86_64".to_string(), "cd".repeat(32))]);
    // Neither mirror is current for the new version: m0's verdicts were made for the old.
    assert!(change.share().is_some());
    assert_eq!(
        history.mirrors["m1.example.org"].states.back().unwrap().to,
        State::Down
    );
    // Propagation: m0 answers and serves it from the sweep at the change; m1 is down the
    // whole time and is not waited for. The overview gives the times.
    let spread = &history.propagation.changes;
    assert_eq!(spread.len(), 1, "{spread:?}");
    assert_eq!(spread[0].time_to(1.0), Some(0), "{:?}", spread[0]);
    assert_eq!(spread[0].expected.len(), 1);
    let html = overview_html(&snap, &history, &TableQuery::default());
    assert!(
        html.contains("<span class=\"reach\">all 0 s</span>"),
        "{html}"
    );
    // m0's observed syncs: the sweep that first saw it serve the change.
    assert_eq!(
        history.propagation.syncs_of("m0.example.org"),
        [NOW + 5 * 60]
    );
    assert!(history.propagation.syncs_of("m1.example.org").is_empty());
    let page = mirror::render(&snap, &history, "m0.example.org", &Viewer::everyone())
        .unwrap()
        .into_string();
    assert!(
        page.contains("Observed syncs</dt><dd>1 seen; the last"),
        "{page}"
    );
    // Round trip through the history file's form.
    let text = serde_json::to_string(&history).unwrap();
    let back: History = serde_json::from_str(&text).unwrap();
    assert_eq!(back.mirrors["m0.example.org"].lag, m0.lag);
    assert_eq!(back.propagation.changes.len(), 1);
}

/// 530 mirrors × 136 repository directories. Prints rather than asserts (machines differ).
#[test]
#[ignore]
fn page_render_time_for_an_almalinux_sized_network() {
    let snap = snapshot(config(530, 34));
    let mut history = History::default();
    let mut s = snap.clone();
    for i in 0..LAG_SAMPLES as i64 {
        s.generated_at = NOW + i;
        s.mirrors = snap
            .mirrors
            .iter()
            .map(|m| {
                let mut m = MirrorSnapshot::clone(m);
                m.families[0].last_sweep = Some(NOW + i);
                Arc::new(m)
            })
            .collect();
        history.record(&s);
    }
    let query = TableQuery::default();
    let mut html = overview_html(&snap, &history, &query);
    let runs = 20u32;
    let start = Instant::now();
    for _ in 0..runs {
        html = overview_html(&snap, &history, &query);
    }
    let each = start.elapsed() / runs;
    println!(
        "overview at 530 mirrors: {} rows, {} bytes, {:.2} ms per render",
        row_names(&html).len(),
        html.len(),
        each.as_secs_f64() * 1000.0
    );
}

#[test]
fn a_bad_history_file_starts_an_empty_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = super::recorder::path_beside(&dir.path().join("state.json"));
    assert_eq!(path, dir.path().join("state.history.json"));
    assert!(super::recorder::load(&path, NOW).mirrors.is_empty());
    std::fs::write(&path, "{not json").unwrap();
    assert!(super::recorder::load(&path, NOW).mirrors.is_empty());
    assert!(!path.exists(), "set aside");
    // A saved history comes back.
    let mut history = History::default();
    history.record(&snapshot(config(2, 1)));
    crate::persist::save_atomic(&path, &history).unwrap();
    let back = super::recorder::load(&path, NOW);
    assert_eq!(back.mirrors.len(), 2);
}
