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
//!   lag is within one upstream poll (plus rounding) of the true lag;
//! - every simulated mirror declares a sync per publication: the stale one, which stops, is
//!   flagged behind schedule within one interval of its lag passing what that allows, and
//!   no mirror is flagged sooner or otherwise.
//!
//! Seeded, so the network, its faults and its publications are the same on every run; time
//! only enters through deadlines polled against, never through exact expectations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "simulate_accuracy/score.rs"]
mod score;

use std::time::Duration;

use common::daemon::Daemon;
use fakemirrors::sim::truth::unix_now;
use fakemirrors::sim::{SimOptions, Simulation};
use score::Scorer;

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

/// The simulation of `options`, the daemon (in process) watching it, and a scorer from now.
async fn watch(options: SimOptions) -> (Simulation, Daemon, Scorer) {
    let sim = Simulation::start(options).await.unwrap();
    let daemon = Daemon::run(sim.config_path()).await;
    let scorer = Scorer::new(&daemon.config, unix_now());
    (sim, daemon, scorer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verdicts_match_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, daemon, mut scorer) = watch(SimOptions {
        mirrors: 13,
        faults: "stale=1,partial=1,down=1,slow=1,flapping=1,ipv6=1,tls=1,rollback=1"
            .parse()
            .unwrap(),
        seed: 7,
        publish_every: Duration::from_secs(3),
        probe_interval: Duration::from_secs(2),
        // A third of the files each sweep, beside those that may have changed.
        full_every: Some(Duration::from_secs(6)),
        upstream_interval: Duration::from_secs(1),
        fault_onset: Duration::from_secs(6),
        ipv6_share: 0.5,
        ..common::sim_options(dir.path(), LAYOUT)
    })
    .await;
    let daemon_start = scorer.start;
    let hard_stop = daemon_start + 50.0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = unix_now();
        let Some(round) = scorer.round(&daemon.base, &sim.truth_url()).await else {
            continue;
        };
        // Scored before readiness too: a fault present from the start is detected by a
        // mirror's first sweep, which need not wait for the slowest one's.
        assert!(
            round.ready || now < daemon_start + 30.0,
            "not ready after 30 s"
        );
        // Done once every fault has begun and been seen or missed its deadline, after at
        // least 20 s of checking that nothing else is reported.
        let pending =
            round.truth.mirrors.iter().any(|m| m.planned.is_some()) || scorer.pending(now);
        if (!pending && now > daemon_start + 20.0) || now > hard_stop {
            break;
        }
    }
    let ipv6 = sim.ipv6();
    drop(daemon);
    sim.stop().await;
    let (lines, missed) = scorer.missed(f64::INFINITY);
    for line in lines {
        eprintln!("{line}");
    }
    let mut errors = scorer.wrong.clone();
    errors.extend(missed);
    let kinds: std::collections::BTreeSet<&str> = scorer
        .watches
        .keys()
        .map(|(_, w)| w.split(':').next().unwrap_or(""))
        .collect();
    let mut expected = vec![
        "bad_tls", "down", "flapping", "partial", "rollback", "slow", "stale",
    ];
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
        "{} rounds, {} families checked, {} errors",
        scorer.rounds,
        scorer.checked,
        errors.len()
    );
    assert!(
        scorer.rounds >= 10 && scorer.checked > 100,
        "too few samples: {} rounds, {} families",
        scorer.rounds,
        scorer.checked
    );
    assert!(
        errors.is_empty(),
        "{} problems:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// A copy that was current, rolled back while the upstream publishes nothing: only the
/// rotation can see it, within `probe.full_every`. Meanwhile sweeps check a share of the
/// files, and no copy goes unchecked for longer than `full_every`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_while_the_upstream_is_quiet_is_seen_within_full_every() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, daemon, mut scorer) = watch(SimOptions {
        mirrors: 4,
        faults: "rollback=1".parse().unwrap(),
        seed: 3,
        // Two publications, at 2 and 4 s; then nothing.
        publish_every: Duration::from_secs(2),
        publications: Some(2),
        probe_interval: Duration::from_secs(1),
        full_every: Some(Duration::from_secs(5)),
        upstream_interval: Duration::from_secs(1),
        fault_onset: Duration::from_secs(5),
        ipv6_share: 0.0,
        ..common::sim_options(dir.path(), LAYOUT)
    })
    .await;
    let full_every = scorer.timing.full_every;
    assert_eq!(full_every, 5.0);
    let hard_stop = scorer.start + 40.0;
    // Over every healthy family and round: the oldest check of any copy, and whether a
    // copy older than its family's last sweep was seen (a sweep that left files out).
    let (mut oldest, mut sampled) = (0.0f64, false);
    let mut rolled_back = None;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = unix_now();
        let Some(round) = scorer.round(&daemon.base, &sim.truth_url()).await else {
            continue;
        };
        for m in &round.truth.mirrors {
            if let fakemirrors::sim::truth::Condition::Rollback { since, dirs } = &m.condition {
                rolled_back = Some((*since, dirs.clone()));
            }
            if m.condition != fakemirrors::sim::truth::Condition::Healthy || !round.ready {
                continue;
            }
            let url = format!("{}/api/v1/mirrors/{}", daemon.base, m.name);
            let body: serde_json::Value =
                serde_json::from_str(&fakemirrors::client::fetch(&url).await.unwrap().text())
                    .unwrap();
            let at = body["generated_at"].as_f64().unwrap();
            for fam in body["families"].as_array().unwrap() {
                let last = fam["log"].as_array().unwrap().last().unwrap()["at"]
                    .as_f64()
                    .unwrap();
                for r in fam["repos"].as_array().unwrap() {
                    let checked = r["checked_at"].as_f64().unwrap();
                    oldest = oldest.max(at - checked);
                    sampled |= checked < last;
                }
            }
        }
        let quiet = round.truth.mirrors.iter().all(|m| m.planned.is_none());
        if (quiet && !scorer.pending(now) && now > scorer.start + 15.0) || now > hard_stop {
            break;
        }
    }
    drop(daemon);
    let truth: fakemirrors::sim::truth::Truth = serde_json::from_str(
        &fakemirrors::client::fetch(&sim.truth_url())
            .await
            .unwrap()
            .text(),
    )
    .unwrap();
    sim.stop().await;
    let (lines, mut errors) = scorer.missed(f64::INFINITY);
    for line in lines {
        eprintln!("{line}");
    }
    errors.extend(scorer.wrong.clone());
    assert!(
        errors.is_empty(),
        "{} problems:\n{}",
        errors.len(),
        errors.join("\n")
    );
    let (since, dirs) = rolled_back.expect("the rollback happened");
    assert!(!dirs.is_empty());
    // No publication came after the rollback: the rolled-back copies were settled, and only
    // their turn in the rotation could find them.
    assert!(
        truth.upstream.publications.iter().all(|p| p.at < since),
        "a publication after the rollback at {since}: {:?}",
        truth.upstream.publications
    );
    assert!(
        scorer
            .watches
            .iter()
            .any(|((_, what), w)| *what == "rollback" && w.seen.is_some()),
        "the rollback was not seen"
    );
    assert!(sampled, "every sweep checked every file");
    // Each copy checked within full_every, plus a sweep's length and the snapshot's delay.
    assert!(
        oldest <= full_every + 2.0,
        "a copy went {oldest} s without a check"
    );
    eprintln!(
        "oldest check {oldest:.1} s; rolled back {} directories at {since}",
        dirs.len()
    );
}
