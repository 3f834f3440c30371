//! Several vantage points combined by Prometheus (deploy/README.md, "Several vantage
//! points"): two mirrorwatch instances in process, `metrics.vantage: eu` and `us`, watch
//! the same loopback mirrors, and one real Prometheus scrapes both (one job, two targets,
//! as deploy/prometheus/prometheus-vantage.yml) with alerts.yml and vantage.yml loaded.
//!
//! - `both` is reachable from both instances;
//! - `split` is reachable from eu only: the us configuration points it at a dead port,
//!   which is what a routing problem between one region and a mirror looks like;
//! - `gone` is at a dead port in both configurations.
//!
//! The combined view must say: `split` is down from one vantage point
//! (`mirrorwatch:mirror_up:min_by_vantage` 0) and not from every one
//! (`mirrorwatch:mirror_up:max_by_vantage` 1); `gone` is down from every one; `both` from
//! none; and the matching alerts are pending, each naming the right vantage points.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::prometheus;
use std::collections::BTreeMap;

use common::daemon::Daemon;
use common::scraped::{Config, DIR};
use fakemirrors::{Network, RepoTree};
use prometheus::{repo_file, Prometheus, Sample};

/// A base URL where nothing listens: a fresh loopback address, port 1.
fn dead_url() -> String {
    format!("http://{}:1/", fakemirrors::next_loopback_v4())
}

/// `mirror` → value, from samples that carry a `mirror` label.
fn by_mirror(samples: &[Sample]) -> BTreeMap<String, f64> {
    samples
        .iter()
        .map(|s| (s.labels["mirror"].clone(), s.value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_from_one_vantage_point_is_not_down_from_every_one() {
    if prometheus::tool("prometheus").is_none() {
        return;
    }
    let net = Network::start(2).await;
    net.publish(DIR, &RepoTree::new(1_700_000_000, "r"));
    let (both, split, gone) = (
        net.mirror(0).base_url(),
        net.mirror(1).base_url(),
        dead_url(),
    );
    let eu = Config::new(&net.upstream.base_url(), "eu")
        .mirror("both", &both)
        .mirror("split", &split)
        .mirror("gone", &gone);
    let us = Config::new(&net.upstream.base_url(), "us")
        .mirror("both", &both)
        .mirror("split", &dead_url())
        .mirror("gone", &gone);
    let (eu, us) = (
        Daemon::spawn(&eu.yaml()).await,
        Daemon::spawn(&us.yaml()).await,
    );
    let prom = Prometheus::start(
        &[("mirrorwatch", vec![eu.target(), us.target()])],
        &[
            repo_file("deploy/prometheus/alerts.yml"),
            repo_file("deploy/prometheus/vantage.yml"),
        ],
    )
    .await
    .unwrap();
    eu.wait_ready(prometheus::DEADLINE).await;
    us.wait_ready(prometheus::DEADLINE).await;
    prom.wait_targets_up(2).await;

    // Each instance's own view, told apart by its vantage label.
    let per_vantage = prom
        .wait_until(r#"mirrorwatch_mirror_up{mirror="split"}"#, |s| s.len() == 2)
        .await;
    let split_seen: BTreeMap<String, f64> = per_vantage
        .iter()
        .map(|s| (s.labels["vantage"].clone(), s.value))
        .collect();
    assert_eq!(
        split_seen,
        BTreeMap::from([("eu".into(), 1.0), ("us".into(), 0.0)])
    );

    // The combined view: one series per (mirror, family), no vantage, instance or job.
    // Rules run a moment after the scrapes: poll until they have caught up.
    let expected_min = BTreeMap::from([
        ("both".to_string(), 1.0),
        ("gone".to_string(), 0.0),
        ("split".to_string(), 0.0),
    ]);
    let expected_max = BTreeMap::from([
        ("both".to_string(), 1.0),
        ("gone".to_string(), 0.0),
        ("split".to_string(), 1.0),
    ]);
    // Down from at least one vantage point: split and gone.
    let min = prom
        .wait_until("mirrorwatch:mirror_up:min_by_vantage", |s| {
            by_mirror(s) == expected_min
        })
        .await;
    // Down from every vantage point: gone only.
    let max = prom
        .wait_until("mirrorwatch:mirror_up:max_by_vantage", |s| {
            by_mirror(s) == expected_max
        })
        .await;
    for s in min.iter().chain(&max) {
        let keys: Vec<&str> = s.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["__name__", "family", "mirror"], "{s:?}");
    }
    let points = prom
        .query(r#"mirrorwatch:mirror_up:vantage_points{mirror="split"}"#)
        .await
        .unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].value, 2.0);

    // The question as an operator would ask it.
    let one_not_all = prom
        .query(
            "mirrorwatch:mirror_up:min_by_vantage == 0 \
             and on (mirror, family) mirrorwatch:mirror_up:max_by_vantage > 0",
        )
        .await
        .unwrap();
    assert_eq!(
        by_mirror(&one_not_all).into_keys().collect::<Vec<_>>(),
        ["split"]
    );

    // Rules evaluate cleanly; each alert names what it is about.
    for (name, health, error) in prom.wait_rules_evaluated().await {
        assert_eq!((health.as_str(), error.as_str()), ("ok", ""), "{name}");
    }
    let some = prom
        .wait_alert(
            "MirrorwatchMirrorDownFromSomeVantagePoints",
            &[("mirror", "split"), ("family", "ipv4")],
        )
        .await;
    assert_eq!(some.state, "pending");
    assert!(
        some.annotations["description"].starts_with("split is down over ipv4 from us but up"),
        "{some:?}"
    );
    prom.wait_alert("MirrorwatchMirrorDownEverywhere", &[("mirror", "gone")])
        .await;
    // Per vantage point (alerts.yml): `split` is down as seen from us, not from eu.
    prom.wait_alert(
        "MirrorwatchMirrorDown",
        &[("mirror", "split"), ("vantage", "us")],
    )
    .await;
    for alert in prom.alerts().await {
        let name = alert.labels["alertname"].as_str();
        let mirror = alert.labels.get("mirror").map_or("", String::as_str);
        let vantage = alert.labels.get("vantage").map_or("", String::as_str);
        let expected = match name {
            "MirrorwatchMirrorDownFromSomeVantagePoints" => mirror == "split",
            "MirrorwatchMirrorDownEverywhere" => mirror == "gone",
            "MirrorwatchMirrorDown" => mirror == "gone" || (mirror == "split" && vantage == "us"),
            // 1 or 2 mirrors in sync, below the threshold of 3, from each vantage point.
            "MirrorwatchTooFewCurrentMirrors" => true,
            _ => false,
        };
        assert!(expected, "unexpected alert {alert:?}");
    }
}
