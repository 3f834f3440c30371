//! Propagation on the simulated network: the upstream publishes, every mirror follows after
//! a delay of its own (the simulator's `follow_delay`), and mirrorwatch (in process) says in
//! `/api/v1/propagation` how long each change took to reach 50, 90, 99 and 100 % of the
//! mirrors. Each of those times must be within one probe interval (plus a second for
//! whole-second timestamps) of the truth computed from the simulator's own record of when
//! it published and when each mirror synced; the mirrors counted must be every mirror that
//! carries the repository; the metrics must give the same times for each repository's
//! latest change; and every mirror's observed syncs must show it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use fakemirrors::client::fetch;
use fakemirrors::sim::truth::{EventTruth, Truth};
use fakemirrors::sim::{SimOptions, Simulation};
use serde_json::Value;

const INTERVAL: f64 = 2.0;

async fn get_json(url: &str) -> Value {
    let r = fetch(url).await.unwrap();
    assert_eq!(r.status, 200, "{url}: {}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

/// The true seconds from publication until ⌈share × n⌉ of the n mirrors had `dir` at
/// `revision` or later.
fn true_time(truth: &Truth, dir: &str, revision: u32, published: f64, share: f64) -> f64 {
    let mut reached: Vec<f64> = truth
        .mirrors
        .iter()
        .filter_map(|m| {
            m.events.iter().find_map(|e| match e {
                EventTruth::Sync { at, changed, .. } => changed
                    .get(dir)
                    .filter(|c| c.revision >= revision && *at >= published)
                    .map(|_| *at),
                _ => None,
            })
        })
        .collect();
    assert_eq!(
        reached.len(),
        truth.mirrors.len(),
        "{dir}: not every mirror synced"
    );
    reached.sort_by(f64::total_cmp);
    let need = ((share * reached.len() as f64).ceil() as usize).clamp(1, reached.len());
    reached[need - 1] - published
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn propagation_times_match_the_mirrors_true_delays() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::start(SimOptions {
        mirrors: 10,
        faults: "none".parse().unwrap(),
        seed: 3,
        // Mirrors follow 1.5 to 8.5 s after each publication.
        publish_every: Duration::from_secs(20),
        probe_interval: Duration::from_secs_f64(INTERVAL),
        upstream_interval: Duration::from_secs(1),
        ipv6_share: 0.0,
        ..common::sim_options(dir.path(), common::SMALL_LAYOUT)
    })
    .await
    .unwrap();
    let daemon = Daemon::run(sim.config_path()).await;
    daemon.wait_ready(common::daemon::READY_WITHIN).await;

    // Until a publication has reached every mirror, as mirrorwatch sees it.
    let deadline = Instant::now() + Duration::from_secs(75);
    let changes = loop {
        let body = get_json(&daemon.url("/api/v1/propagation")).await;
        let changes = body["changes"].as_array().cloned().unwrap_or_default();
        if !changes.is_empty()
            && changes
                .iter()
                .all(|c| !c["seconds_to_reach"]["1"].is_null())
        {
            break changes;
        }
        assert!(Instant::now() < deadline, "not propagated: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let truth: Truth = serde_json::from_value(get_json(&sim.truth_url()).await).unwrap();
    let metrics = daemon.fetch("/metrics").await.text();
    // Every mirror's observed syncs: at least the publication all have reached.
    for m in &truth.mirrors {
        let body = get_json(&daemon.url(&format!("/api/v1/mirrors/{}", m.name))).await;
        let syncs = body["observed_syncs"].as_array().unwrap();
        assert!(!syncs.is_empty(), "{}: {body}", m.name);
    }
    drop(daemon);
    sim.stop().await;

    for change in &changes {
        let dir = change["dir"].as_str().unwrap();
        let sha = change["sha256"].as_str().unwrap();
        let published = truth.upstream.dirs[dir]
            .iter()
            .find(|r| r.sha256 == sha)
            .unwrap_or_else(|| panic!("{dir}: {sha} was never published"));
        assert_eq!(change["expected"], truth.mirrors.len(), "{change}");
        assert_eq!(change["behind"], Value::Array(Vec::new()), "{change}");
        for (share, label) in [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99"), (1.0, "1")] {
            let measured = change["seconds_to_reach"][label].as_f64().unwrap();
            let want = true_time(
                &truth,
                dir,
                published.revision,
                published.published_at,
                share,
            );
            eprintln!("{dir} {label}: {measured} s, truly {want:.1} s");
            assert!(
                (measured - want).abs() <= INTERVAL + 1.0,
                "{dir}: {label} of the mirrors in {measured} s, truly {want:.1} s"
            );
        }
        // The metrics give the latest change of each repository.
        let repo = change["repo"].as_str().unwrap();
        let latest = changes
            .iter()
            .filter(|c| c["repo"] == repo)
            .max_by_key(|c| c["at"].as_i64())
            .unwrap();
        if latest == change {
            let line = format!(
                "mirrorwatch_propagation_seconds{{repo=\"{repo}\",share=\"1\"}} {}",
                change["seconds_to_reach"]["1"]
            );
            assert!(metrics.contains(&line), "{line} not in\n{metrics}");
        }
    }
}
