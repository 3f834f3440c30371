//! The Grafana dashboard (`grafana/mirrorwatch.json`) and the alert rules
//! (`deploy/prometheus/alerts.yml`) against real data: a real Prometheus scrapes a
//! mirrorwatch (in process, `metrics.vantage: eu`) watching loopback mirrors in every
//! interesting state — current over http, current over https, behind and stale, partly
//! synced, down — while the mirror list, metalink and a bad request get traffic.
//!
//! Then every panel's every query, with the template variables replaced by values that
//! the dashboard's own variable queries return (`$mirror` = the https mirror, `$vantage` =
//! `eu` and the "All" value `.*`), is evaluated through Prometheus' HTTP API: it must be
//! valid PromQL and return at least one finite value. The alert rules must all evaluate
//! without error, and the alerts for the broken mirrors must be pending with usable
//! annotations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::daemon::Daemon;
use common::prometheus;
use common::scraped::{Config, DIR};
use fakemirrors::{MirrorOptions, Network, RepoTree, TestCa, TlsMode};
use prometheus::{repo_file, Prometheus};
use serde_json::Value;

const RATE_INTERVAL: &str = "1m";

/// Every panel with queries, rows' nested panels included.
fn panels(list: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in list.as_array().into_iter().flatten() {
        if p["targets"].is_array() {
            out.push(p);
        }
        out.extend(panels(&p["panels"]));
    }
    out
}

/// Grafana's variable syntax, `$name` and `${name}`, replaced.
fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut out = expr.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}", name = name), value);
        out = out.replace(&format!("${name}"), value);
    }
    let left = out
        .match_indices('$')
        .filter(|(i, _)| {
            out[i + 1..]
                .chars()
                .next()
                .is_some_and(|c| c == '{' || c == '_' || c.is_ascii_alphabetic())
        })
        .count();
    assert_eq!(left, 0, "unreplaced variable in {out}");
    out
}

/// A `label_values(SELECTOR, LABEL)` variable query, evaluated.
async fn label_values(prom: &Prometheus, query: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unsupported variable query {query}"));
    let (selector, label) = inner.rsplit_once(',').unwrap();
    let samples = prom.query(&substitute(selector, vars)).await.unwrap();
    let mut values: Vec<String> = samples
        .iter()
        .filter_map(|s| s.labels.get(label.trim()).cloned())
        .collect();
    values.sort();
    values.dedup();
    values
}

/// Each query of each panel: valid, and at least one finite value. Returns the failures.
async fn evaluate(prom: &Prometheus, dashboard: &Value, vars: &[(&str, &str)]) -> Vec<String> {
    let mut failures = Vec::new();
    for panel in panels(&dashboard["panels"]) {
        for target in panel["targets"].as_array().unwrap() {
            let expr = substitute(target["expr"].as_str().unwrap(), vars);
            let values: Result<Vec<f64>, String> = if target["instant"] == true {
                prom.query(&expr)
                    .await
                    .map(|s| s.iter().map(|s| s.value).collect())
            } else {
                prom.query_range(&expr, 60, 2)
                    .await
                    .map(|s| s.into_iter().flat_map(|s| s.values).collect())
            };
            let title = panel["title"].as_str().unwrap();
            let r = &target["refId"];
            match values {
                Err(e) => failures.push(format!("{title} {r}: {e}\n    {expr}")),
                Ok(v) if !v.iter().any(|x| x.is_finite()) => {
                    failures.push(format!("{title} {r}: no data ({v:?})\n    {expr}"));
                }
                Ok(_) => {}
            }
        }
    }
    failures
}

/// Mirror list, metalink and a 404, several times.
async fn traffic(mw: &Daemon) {
    for _ in 0..5 {
        let list = mw.fetch("/mirrorlist/9.8/baseos?arch=x86_64").await;
        assert_eq!(list.status, 200, "{}", list.text());
        assert_eq!(
            mw.fetch("/metalink?repo=baseos-9.8&arch=x86_64")
                .await
                .status,
            200
        );
        assert_eq!(mw.fetch("/mirrorlist/9.7/baseos").await.status, 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_has_data_and_every_rule_evaluates() {
    if prometheus::tool("prometheus").is_none() {
        return;
    }
    let plain = MirrorOptions::default;
    let net = Network::start_with(
        plain(),
        vec![
            plain(),
            plain().with_tls(TlsMode::Valid),
            plain(),
            plain(),
            plain(),
        ],
    )
    .await;
    let names = ["current", "secure", "behind", "partial", "down"];
    let (old, new) = (
        RepoTree::new(1_700_000_000, "old"),
        RepoTree::new(1_700_003_600, "new"),
    );
    net.publish(DIR, &old);
    net.make_down(4).await;

    let certs = tempfile::tempdir().unwrap();
    let ca = certs.path().join("kit-ca.pem");
    TestCa::get().write_pem(&ca).unwrap();
    let mut config = Config::new(&net.upstream.base_url(), "eu");
    for (name, url) in names.iter().zip(net.mirror_urls()) {
        config = config.mirror(name, &url);
    }
    config.ca_files.push(ca);
    config.stale_after = "3s";
    let mw = Daemon::spawn(&config.yaml()).await;
    let prom = Prometheus::start(
        &[("mirrorwatch", vec![mw.target()])],
        &[repo_file("deploy/prometheus/alerts.yml")],
    )
    .await
    .unwrap();
    prom.wait_targets_up(1).await;
    mw.wait_ready(prometheus::DEADLINE).await;

    // The upstream moves on; "behind" stays (and turns stale after 3 s), "partial" gets
    // the new repomd.xml without its primary file.
    net.publish_upstream(DIR, &new);
    net.sync(0, DIR, &new);
    net.sync(1, DIR, &new);
    net.make_partial(3, DIR, &new);
    for (mirror, status) in [
        ("current", "current"),
        ("secure", "current"),
        ("behind", "behind"),
        ("partial", "incomplete"),
        ("down", "error"),
    ] {
        mw.wait_verdict(mirror, status, prometheus::DEADLINE).await;
    }
    let one = |s: &[prometheus::Sample]| s.len() == 1;
    prom.wait_until(
        r#"mirrorwatch_mirror_repos{mirror="partial",verdict="incomplete"} == 1"#,
        one,
    )
    .await;
    prom.wait_until(
        r#"mirrorwatch_mirror_repos_stale{mirror="behind"} == 1"#,
        one,
    )
    .await;
    prom.wait_until(r#"mirrorwatch_upstream_versions_seen == 2"#, one)
        .await;

    // Requests in two bursts with a scrape between them, so that rates are above zero.
    traffic(&mw).await;
    prom.wait_until(
        r#"mirrorwatch_http_requests_total{endpoint="mirrorlist",code="404"}"#,
        one,
    )
    .await;
    traffic(&mw).await;
    // Each (endpoint, code) counter seen rising between two scrapes: the 200s and 404s of
    // the mirror list and the metalink's 200s.
    let three = |s: &[prometheus::Sample]| s.len() == 3;
    prom.wait_until(
        r#"increase(mirrorwatch_http_requests_total{endpoint=~"mirrorlist|metalink"}[1m]) > 0"#,
        three,
    )
    .await;

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("grafana/mirrorwatch.json")).unwrap(),
    )
    .unwrap();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let query_of = |name: &str| {
        let v = variables.iter().find(|v| v["name"] == name).unwrap();
        v["query"].as_str().unwrap().to_string()
    };
    let mut failures = Vec::new();
    for vantage in ["eu", ".*"] {
        let base = [("vantage", vantage)];
        let vantages = label_values(&prom, &query_of("vantage"), &base).await;
        assert_eq!(vantages, ["eu"]);
        let mirrors = label_values(&prom, &query_of("mirror"), &base).await;
        assert_eq!(mirrors, ["behind", "current", "down", "partial", "secure"]);
        let vars = [
            ("__rate_interval", RATE_INTERVAL),
            ("__interval", "15s"),
            ("__range", "1h"),
            ("datasource", "prometheus"),
            ("vantage", vantage),
            ("mirror", "secure"),
        ];
        failures.extend(evaluate(&prom, &dashboard, &vars).await);
    }
    assert!(
        failures.is_empty(),
        "{} failing queries:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every rule evaluates cleanly on real series; the broken mirrors' alerts are pending.
    for (name, health, error) in prom.wait_rules_evaluated().await {
        assert_eq!((health.as_str(), error.as_str()), ("ok", ""), "{name}");
    }
    let down = prom
        .wait_alert(
            "MirrorwatchMirrorDown",
            &[("mirror", "down"), ("vantage", "eu")],
        )
        .await;
    assert_eq!(down.state, "pending");
    assert!(
        down.annotations["description"].contains("ipv4 connect at"),
        "{down:?}"
    );
    assert!(
        down.annotations["description"].contains("(seen from eu)"),
        "{down:?}"
    );
    assert_eq!(
        down.annotations["api"],
        "https://mirrorwatch.example.org/api/v1/mirrors/down"
    );
    prom.wait_alert("MirrorwatchMirrorIncomplete", &[("mirror", "partial")])
        .await;
    prom.wait_alert("MirrorwatchMirrorStale", &[("mirror", "behind")])
        .await;
    let few = prom
        .wait_alert("MirrorwatchTooFewCurrentMirrors", &[("family", "ipv4")])
        .await;
    assert_eq!(
        few.annotations["summary"],
        "Only 2 mirrors are in sync over ipv4"
    );
    for alert in prom.alerts().await {
        let name = &alert.labels["alertname"];
        assert!(
            [
                "MirrorwatchMirrorDown",
                "MirrorwatchMirrorIncomplete",
                "MirrorwatchMirrorStale",
                "MirrorwatchTooFewCurrentMirrors"
            ]
            .contains(&name.as_str()),
            "unexpected alert {alert:?}"
        );
        if let Some(mirror) = alert.labels.get("mirror") {
            assert!(
                ["down", "partial", "behind"].contains(&mirror.as_str()),
                "{alert:?}"
            );
        }
    }
}
