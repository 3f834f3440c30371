//! The operations kit, checked without a Grafana, a Docker engine or a systemd:
//!
//! - `deploy/prometheus/`: `promtool check rules` and `check config` pass without a
//!   warning, `promtool test rules` passes both unit-test files; every alert has a `for:`
//!   of at least 5 minutes, a severity, a summary, a description and links, a mirror's
//!   alert links to `/api/v1/mirrors/{{ $labels.mirror }}` and `/mirrors/{{ $labels.mirror }}`, and every alert has a unit test
//!   where it fires and one where it does not;
//! - every `mirrorwatch_*` name in the rules, the examples and the dashboard is one that
//!   `src/serve/metrics/` defines;
//! - `grafana/mirrorwatch.json` is an importable dashboard (the structure Grafana needs,
//!   unique ids, panels that fit and do not overlap, the template variables, every query
//!   on the `$datasource` variable); `tests/dashboard.rs` runs its queries for real;
//! - `Dockerfile`, `.dockerignore` ([`docker`]) and `deploy/systemd/mirrorwatch.service`
//!   ([`systemd`]).
//!
//! Without promtool the promtool tests fail, saying what to install (CI installs it);
//! `MIRRORWATCH_SKIP_PROMTOOL=1` skips them knowingly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "ops_kit/docker.rs"]
mod docker;
#[path = "ops_kit/systemd.rs"]
mod systemd;

mod common;

use common::prometheus;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use prometheus::repo_file;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const RULE_FILES: [&str; 2] = ["alerts.yml", "vantage.yml"];
const RULE_TESTS: [&str; 2] = ["alerts_test.yml", "vantage_test.yml"];
const CONFIGS: [&str; 2] = ["prometheus.yml", "prometheus-vantage.yml"];

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Yaml {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Run promtool in `deploy/prometheus/`; its whole output, after asserting success.
fn promtool(args: &[&str]) -> Option<String> {
    let promtool = prometheus::tool("promtool")?;
    let out = Command::new(promtool)
        .args(args)
        .current_dir(repo_file("deploy/prometheus"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    Some(text)
}

#[test]
fn promtool_checks_rules_and_configs() {
    let mut args = vec!["check", "rules"];
    args.extend(RULE_FILES);
    let Some(text) = promtool(&args) else { return };
    assert!(!text.contains("WARNING"), "{text}");
    for config in CONFIGS {
        let text = promtool(&["check", "config", config]).unwrap();
        assert!(!text.contains("WARNING"), "{config}: {text}");
    }
}

#[test]
fn promtool_unit_tests_pass() {
    let mut args = vec!["test", "rules"];
    args.extend(RULE_TESTS);
    if let Some(text) = promtool(&args) {
        assert_eq!(text.matches("SUCCESS").count(), RULE_TESTS.len(), "{text}");
    }
}

/// A Prometheus duration (`5m`, `1h`, `1h30m`) in seconds.
fn seconds(duration: &str) -> u64 {
    let (mut total, mut n) = (0, 0);
    for c in duration.chars() {
        if let Some(d) = c.to_digit(10) {
            n = n * 10 + u64::from(d);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => panic!("duration {duration}"),
        };
        total += n * unit;
        n = 0;
    }
    total
}

/// Every rule of the rule files: (file, rule).
fn rules() -> Vec<(&'static str, Yaml)> {
    let mut out = Vec::new();
    for file in RULE_FILES {
        let doc = yaml(&format!("deploy/prometheus/{file}"));
        for group in doc["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                out.push((file, rule.clone()));
            }
        }
    }
    out
}

#[test]
fn every_alert_is_actionable_and_unit_tested() {
    // alertname → (cases where it fires, cases where it must not).
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut tested_records = String::new();
    for file in RULE_TESTS {
        let doc = yaml(&format!("deploy/prometheus/{file}"));
        for test in doc["tests"].as_sequence().unwrap() {
            for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap().to_string();
                let fires = case["exp_alerts"]
                    .as_sequence()
                    .is_some_and(|a| !a.is_empty());
                let entry = cases.entry(name).or_default();
                if fires {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                }
            }
            for case in test["promql_expr_test"].as_sequence().into_iter().flatten() {
                tested_records.push_str(case["expr"].as_str().unwrap());
                tested_records.push('\n');
            }
        }
    }
    let mut alerts = 0;
    for (file, rule) in rules() {
        if let Some(record) = rule["record"].as_str() {
            assert!(
                tested_records.contains(record)
                    || read("deploy/prometheus/alerts.yml").contains(&format!("expr: {record}")),
                "{file}: recording rule {record} is neither unit-tested nor used by an alert"
            );
            continue;
        }
        alerts += 1;
        let name = rule["alert"].as_str().unwrap();
        let why = format!("{file}: {name}");
        let for_ = rule["for"]
            .as_str()
            .unwrap_or_else(|| panic!("{why}: no `for:`"));
        assert!(
            seconds(for_) >= 300,
            "{why}: `for: {for_}` is too short not to flap"
        );
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["info", "warning", "critical"].contains(&severity),
            "{why}: severity"
        );
        let annotation = |key: &str| {
            rule["annotations"][key]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        for key in ["summary", "description"] {
            assert!(annotation(key).len() > 20, "{why}: {key}");
        }
        assert!(
            annotation("api").starts_with("https://mirrorwatch.example.org/"),
            "{why}"
        );
        assert!(
            annotation("dashboard").starts_with("https://grafana.example.org/d/mirrorwatch/"),
            "{why}"
        );
        if annotation("summary").contains("$labels.mirror") {
            assert_eq!(
                annotation("api"),
                "https://mirrorwatch.example.org/api/v1/mirrors/{{ $labels.mirror }}",
                "{why}"
            );
            assert!(
                annotation("dashboard").ends_with("var-mirror={{ $labels.mirror }}"),
                "{why}"
            );
            // What the mirror's admin opens first: the checklist of why it is in or out.
            assert_eq!(
                annotation("status_page"),
                "https://mirrorwatch.example.org/mirrors/{{ $labels.mirror }}",
                "{why}"
            );
        }
        let (fires, quiet) = cases.get(name).copied().unwrap_or_default();
        assert!(
            fires > 0 && quiet > 0,
            "{why}: unit tests where it fires ({fires}) and where it does not ({quiet})"
        );
    }
    assert!(alerts >= 12, "{alerts} alerts");
    // The placeholders are explained where they are used.
    for file in RULE_FILES {
        let text = read(&format!("deploy/prometheus/{file}"));
        let header: String = text.lines().take_while(|l| l.starts_with('#')).collect();
        assert!(
            header.contains("https://mirrorwatch.example.org"),
            "{file}: placeholder not documented"
        );
    }
}

/// `mirrorwatch_*` names in `text` (histogram suffixes kept).
fn metric_names(text: &str) -> BTreeSet<String> {
    text.match_indices("mirrorwatch_")
        .filter(|(i, _)| !text[..*i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        // `mirrorwatch_*` in prose is not a name.
        .filter(|name: &String| !name.ends_with('_'))
        .collect()
}

#[test]
fn every_metric_name_used_is_exported() {
    let mut defined = BTreeSet::new();
    // Every module of src/serve/metrics/ that writes families (its tests aside).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/serve/metrics");
    let mut modules: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".rs") && f != "tests.rs")
        .collect();
    modules.sort();
    assert!(modules.len() >= 5, "{modules:?}");
    for file in modules {
        let source = read(&format!("src/serve/metrics/{file}"));
        for name in metric_names(&source) {
            if source.contains(&format!("\"{name}\"")) {
                defined.insert(name);
            }
        }
    }
    assert!(defined.len() >= 35, "{defined:?}");
    for histogram in ["mirrorwatch_http_request_duration_seconds"] {
        assert!(defined.contains(histogram));
        for suffix in ["_bucket", "_sum", "_count"] {
            defined.insert(format!("{histogram}{suffix}"));
        }
    }
    let mut files: Vec<String> = RULE_FILES
        .iter()
        .chain(&RULE_TESTS)
        .chain(&CONFIGS)
        .map(|f| format!("deploy/prometheus/{f}"))
        .collect();
    files.push("grafana/mirrorwatch.json".into());
    files.push("deploy/README.md".into());
    for file in &files {
        let unknown: Vec<String> = metric_names(&read(file))
            .into_iter()
            .filter(|n| !defined.contains(n))
            .collect();
        assert!(
            unknown.is_empty(),
            "{file} uses names mirrorwatch does not export: {unknown:?}"
        );
    }
    // The dashboard covers what the issue asks for.
    let used = metric_names(&read("grafana/mirrorwatch.json"));
    for name in [
        "mirrorwatch_mirror_state",
        "mirrorwatch_mirror_up",
        "mirrorwatch_mirror_repos",
        "mirrorwatch_mirror_repos_stale",
        "mirrorwatch_mirror_max_lag_seconds",
        "mirrorwatch_mirror_score",
        "mirrorwatch_probe_phase_duration_seconds",
        "mirrorwatch_tls_cert_not_after_timestamp_seconds",
        "mirrorwatch_probes_total",
        "mirrorwatch_http_requests_total",
        "mirrorwatch_http_request_duration_seconds_bucket",
        "mirrorwatch_mirrorlist_answers_total",
        "mirrorwatch_mirrorlist_behind_urls_total",
        "mirrorwatch_upstream_last_change_timestamp_seconds",
        "mirrorwatch_upstream_versions_seen",
    ] {
        assert!(used.contains(name), "the dashboard does not show {name}");
    }
}

/// Panels, rows' nested panels included.
fn all_panels(list: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for p in list.as_array().into_iter().flatten() {
        out.push(p);
        out.extend(all_panels(&p["panels"]));
    }
    out
}

#[test]
fn dashboard_is_importable() {
    let d: Json = serde_json::from_str(&read("grafana/mirrorwatch.json")).unwrap();
    assert_eq!(d["uid"], "mirrorwatch");
    assert_eq!(d["title"], "mirrorwatch");
    assert!(d["schemaVersion"].as_u64().unwrap() >= 36);
    assert!(
        d["id"].is_null(),
        "an exported dashboard has no database id"
    );

    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable {name}"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    let vantage = var("vantage");
    assert_eq!(
        (vantage["multi"].as_bool(), vantage["includeAll"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(
        vantage["allValue"], ".*",
        "All must match an instance without a vantage label"
    );
    assert!(var("mirror")["query"]
        .as_str()
        .unwrap()
        .starts_with("label_values(mirrorwatch_mirror_info"));

    let panels = all_panels(&d["panels"]);
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    let mut drill_down = false;
    let required: BTreeSet<&str> = d["__requires"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "panel")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for p in &panels {
        let title = p["title"].as_str().unwrap();
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "{title}: duplicate id"
        );
        let g = &p["gridPos"];
        let (x, y, w, h) = ["x", "y", "w", "h"].map(|k| g[k].as_u64().unwrap()).into();
        assert!(x + w <= 24 && w > 0 && h > 0, "{title}: gridPos {g}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{title} overlaps another panel at {cx},{cy}"
                );
            }
        }
        if p["type"] == "row" {
            drill_down = title.contains("$mirror");
            continue;
        }
        assert!(
            required.contains(p["type"].as_str().unwrap()),
            "{title}: type not in __requires"
        );
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        assert!(
            p["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{title}: description"
        );
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        let refs: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "{title}: duplicate refId");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            let expr = t["expr"].as_str().unwrap();
            // Per-mirror panels sit in the drill-down row, and only there.
            assert_eq!(expr.contains("$mirror"), drill_down, "{title}: {expr}");
            assert!(
                expr.contains("$vantage") || expr.contains("job=\"mirrorwatch\""),
                "{title}: not filtered by $vantage: {expr}"
            );
        }
    }
    assert!(panels.len() >= 30, "{} panels", panels.len());
}
