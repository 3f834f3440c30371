//! Verdict accuracy: mirrorwatch (in process) watches a simulated network with one mirror of
//! every fault kind, and every half second its JSON API is scored against the simulator's
//! ground truth (`/truth.json`):
//!
//! - every fault is detected within one probe interval of becoming observable (a stale
//!   mirror within one interval of its lag passing `stale_after`), and `down`, `bad_tls`
//!   and broken IPv6 families reach the `down` state within `health.down_after` intervals;
//! - no fault is reported where there is none: healthy families are `up`, with no error,
//!   missing or incomplete copy and nothing stale;
//! - each verdict matches what the mirror served during the sweep it came from, and every
//!   lag is within one upstream poll (plus rounding) of the true lag.
//!
//! Seeded, so the network, its faults and its publications are the same on every run; time
//! only enters through deadlines polled against, never through exact expectations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "simulate_accuracy/score.rs"]
mod score;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::daemon::Daemon;
use fakemirrors::client::fetch;
use fakemirrors::sim::truth::{unix_now, MirrorTruth, Truth};
use fakemirrors::sim::{SimOptions, Simulation};
use score::{
    check_family, detections, must_be_up, upstream_revisions, Sample, INTERVAL, SLACK, UPSTREAM,
};
use serde_json::Value;

/// A small layout with a module: 11 repository directories.
const LAYOUT: &str = r#"upstream:
  urls: ["http://127.0.0.1:1/almalinux/"]
  modules: {kitten: ["http://127.0.0.1:1/kitten/"]}
layout:
  versions: ["9.8", "10.2"]
  aliases: {"9": "9.8", "10": "10.2"}
  arches: {"9": [x86_64, aarch64], "10": [x86_64], "10-kitten": [x86_64]}
  modules: {kitten: ["10"]}
  repos:
    - {name: baseos, path: BaseOS/$basearch/os/}
    - {name: appstream, path: AppStream/$basearch/os/}
    - {name: crb, path: CRB/$basearch/os/, versions: ["9.8", "10.2"]}
mirrors:
  - {name: placeholder, address: {http: "http://127.0.0.1:1/"}}
"#;

async fn get_json(url: &str) -> Option<Value> {
    let response = fetch(url).await.ok()?;
    (response.status == 200)
        .then(|| serde_json::from_str(&response.text()).ok())
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verdicts_match_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::start(SimOptions {
        mirrors: 12,
        faults: "stale=1,partial=1,down=1,slow=1,flapping=1,ipv6=1,tls=1"
            .parse()
            .unwrap(),
        seed: 7,
        layout: common::sim_layout(dir.path(), LAYOUT),
        publish_every: Duration::from_secs(3),
        probe_interval: Duration::from_secs_f64(INTERVAL),
        upstream_interval: Duration::from_secs_f64(UPSTREAM),
        fault_onset: Duration::from_secs(6),
        ipv6_share: 0.5,
        listen: "127.0.0.1:0".parse().unwrap(),
        write_config: None,
        truth_file: None,
        work_dir: Some(dir.path().join("sim")),
    })
    .await
    .unwrap();
    let daemon = Daemon::run(sim.config_path()).await;
    let config = daemon.config.clone();
    let daemon_start = unix_now();
    let dirs: HashMap<(String, String, String), String> = config
        .layout
        .targets()
        .map(|t| {
            (
                (
                    t.version.name.clone(),
                    t.repo.name.clone(),
                    t.arch.to_string(),
                ),
                t.dir(),
            )
        })
        .collect();

    let mut errors: Vec<String> = Vec::new();
    // (mirror, what) → (observable from, deadline, first seen).
    let mut watches: BTreeMap<(String, &'static str), (f64, f64, Option<f64>)> = BTreeMap::new();
    let (mut samples, mut checked) = (0, 0);
    let hard_stop = daemon_start + 50.0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = unix_now();
        let truth: Truth =
            serde_json::from_value(get_json(&sim.truth_url()).await.unwrap()).unwrap();
        let before = get_json(&format!("{}/api/v1/upstream", daemon.base)).await;
        let mut bodies = Vec::new();
        for m in &truth.mirrors {
            bodies.push(get_json(&format!("{}/api/v1/mirrors/{}", daemon.base, m.name)).await);
        }
        let after = get_json(&format!("{}/api/v1/upstream", daemon.base)).await;
        let (Some(before), Some(after)) = (before, after) else {
            continue;
        };
        // Scored before readiness too: a fault present from the start is detected by a
        // mirror's first sweep, which need not wait for the slowest one's.
        let ready = get_json(&format!("{}/api/v1/mirrors", daemon.base))
            .await
            .is_some_and(|b| b["ready"] == true);
        assert!(ready || now < daemon_start + 30.0, "not ready after 30 s");
        // When the answers were all in: detection times are not flattered by the fetching.
        let answered = unix_now();
        samples += 1;
        let up_before = upstream_revisions(&truth, &before, &mut errors);
        let up_after = upstream_revisions(&truth, &after, &mut Vec::new());
        // mirrorwatch knows the upstream within one poll.
        for (dir, rev) in &up_after {
            let newer = truth.upstream.dirs[dir]
                .iter()
                .find(|r| r.revision == rev + 1);
            if let Some(n) = newer.filter(|n| n.published_at < now - UPSTREAM - SLACK) {
                errors.push(format!(
                    "upstream {dir}: still at {rev}, {} published at {}",
                    n.revision, n.published_at
                ));
            }
        }
        let stable = (up_before == up_after).then_some(&up_before);
        for (m, body) in truth.mirrors.iter().zip(&bodies) {
            let Some(body) = body else {
                errors.push(format!("{}: no API answer", m.name));
                continue;
            };
            let sample = Sample {
                generated_at: body["generated_at"].as_f64().unwrap_or(0.0),
                truth: &truth,
                upstream: stable,
                dirs: &dirs,
            };
            assert_eq!(m.events_dropped, 0, "the test relies on every event");
            for fam in body["families"].as_array().into_iter().flatten() {
                checked += 1;
                check_family(&sample, m, fam, &mut errors);
                let family = fam["family"].as_str().unwrap_or("");
                if must_be_up(m, family) && fam["state"] != "up" {
                    errors.push(format!(
                        "{} {family}: {} is {}",
                        m.name,
                        describe(m),
                        fam["state"]
                    ));
                }
            }
            for d in detections(&truth, m, body) {
                let from = d.observable.max(daemon_start);
                let deadline = from + d.allowance + SLACK;
                let entry = watches
                    .entry((m.name.clone(), d.what))
                    .or_insert((from, deadline, None));
                (entry.0, entry.1) = (from, deadline);
                if d.seen && entry.2.is_none() {
                    entry.2 = Some(answered);
                }
            }
        }
        // Done once every fault has begun and been seen or missed its deadline, after at
        // least 20 s of checking that nothing else is reported.
        let pending = truth.mirrors.iter().any(|m| m.planned.is_some())
            || watches
                .values()
                .any(|(_, deadline, seen)| seen.is_none() && *deadline >= now);
        if (!pending && now > daemon_start + 20.0) || now > hard_stop {
            break;
        }
    }
    let ipv6 = sim.ipv6();
    drop(daemon);
    sim.stop().await;
    for ((mirror, what), (from, deadline, seen)) in &watches {
        eprintln!(
            "{mirror}: {what}: seen {} s after it could be (allowed {:.1} s)",
            seen.map_or("never".into(), |s| format!("{:.1}", s - from)),
            deadline - from
        );
        match seen {
            Some(at) if at <= deadline => {}
            Some(at) => errors.push(format!(
                "{mirror}: {what} seen at {at:.1}, after its deadline {deadline:.1}"
            )),
            None => errors.push(format!(
                "{mirror}: {what} never seen (deadline {deadline:.1})"
            )),
        }
    }
    let kinds: std::collections::BTreeSet<&str> = watches
        .keys()
        .map(|(_, w)| w.split(':').next().unwrap_or(""))
        .collect();
    let mut expected = vec!["bad_tls", "down", "flapping", "partial", "slow", "stale"];
    if ipv6 {
        expected.push("ipv6_broken");
    }
    for kind in expected {
        assert!(
            kinds.contains(kind),
            "no {kind} fault was observed: {kinds:?}"
        );
    }
    eprintln!(
        "{samples} rounds, {checked} families checked, {} errors",
        errors.len()
    );
    assert!(
        samples >= 10 && checked > 100,
        "too few samples: {samples} rounds, {checked} families"
    );
    assert!(
        errors.is_empty(),
        "{} problems:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

fn describe(m: &MirrorTruth) -> String {
    serde_json::to_string(&m.condition).unwrap_or_default()
}
