#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Freshness and health through time, without sleeping: the real upstream poll and sweeps
//! (against loopback fake mirrors) are folded into a `StateWriter` at chosen unix times.
//! The upstream publishes v1 at t=1000, v2 at 2000, v3 at 3000 and v4 at 4000; mirrors
//! follow it up to v4, v3 and v1, so they end current, behind by one and behind by three,
//! with lag measured from the `first_seen` of the version that replaced theirs. Then the
//! upstream goes down, and mirrors flap under `health.down_after: 3`.

mod common;

use std::time::Duration;

use common::{reason, v4, verdicts, ConfigText, Engine, DIRS};
use fakemirrors::{Network, RepoTree};
use mirrorwatch::freshness::Verdict;
use mirrorwatch::health::State;
use mirrorwatch::probe::due::Due;
use mirrorwatch::probe::FileResult;

/// Upstream version `n` (1-based): distinct content, data an hour newer per version.
fn version(n: u64) -> RepoTree {
    RepoTree::new(1_700_000_000 + n * 3600, &format!("v{n}"))
}

/// When the upstream poll first saw version `n`.
fn published(n: u64) -> i64 {
    i64::try_from(n).unwrap() * 1000
}

/// The mirrors and the newest version each follows the upstream to.
const FOLLOWERS: [(&str, u64); 3] = [("current", 4), ("behind1", 3), ("behind3", 1)];

const STALE_AFTER: u64 = 30 * 60;

fn behind(versions: u32, lag_seconds: u64) -> Verdict {
    Verdict::behind(versions, lag_seconds)
}

/// Polls v1..v4 at 1000..4000; 100 s after each poll, every mirror that follows that far
/// syncs the new version and every mirror is swept. Ends at t=4100.
async fn timeline() -> (Network, tempfile::TempDir, Engine) {
    let net = Network::start(FOLLOWERS.len()).await;
    let dir = tempfile::tempdir().unwrap();
    let text = FOLLOWERS
        .iter()
        .enumerate()
        .fold(
            ConfigText::new(&net.upstream.base_url()),
            |c, (i, (name, _))| c.mirror(name, &net.mirror(i).base_url()),
        )
        .section("freshness:\n  stale_after: 30m\n");
    let mut engine = Engine::new(text.load(dir.path()), 900);
    for n in 1..=4 {
        for d in DIRS {
            net.publish_upstream(d, &version(n));
        }
        engine.poll(published(n)).await;
        for (i, (name, upto)) in FOLLOWERS.iter().enumerate() {
            if n <= *upto {
                for d in DIRS {
                    net.sync(i, d, &version(n));
                }
            }
            engine.sweep(name, published(n) + 100).await;
        }
        if n == 2 {
            // Half-way: the v1 mirror is one behind, for 500 s.
            let snapshot = engine.snapshot(2500);
            assert_eq!(verdicts(&v4(&snapshot, "behind3")), vec![behind(1, 500); 2]);
            assert_eq!(
                verdicts(&v4(&snapshot, "current")),
                vec![Verdict::Current; 2]
            );
        }
    }
    (net, dir, engine)
}

#[tokio::test]
async fn behind_by_one_and_by_three_with_exact_lag() {
    let (net, _dir, mut engine) = timeline().await;
    let snapshot = engine.snapshot(4100);
    assert!(snapshot.upstream_up());
    for target in &snapshot.upstream {
        assert_eq!(target.versions_seen, 4, "{target:?}");
        let current = target.current.as_ref().unwrap();
        assert_eq!(current.sha256, version(4).repomd_sha256());
        assert_eq!(current.first_seen, published(4));
    }
    assert_eq!(
        verdicts(&v4(&snapshot, "current")),
        vec![Verdict::Current; 2]
    );
    // On v3, replaced by v4 (first seen at 4000): 100 s behind.
    assert_eq!(verdicts(&v4(&snapshot, "behind1")), vec![behind(1, 100); 2]);
    // On v1, replaced by v2 (first seen at 2000): 2100 s behind, three versions.
    assert_eq!(
        verdicts(&v4(&snapshot, "behind3")),
        vec![behind(3, 2100); 2]
    );
    for (name, _) in FOLLOWERS {
        assert_eq!(v4(&snapshot, name).state, State::Up, "{name}");
    }
    // The mirrors' copies were only re-fetched when they changed: conditional GETs.
    let repomd = format!("{}repodata/repomd.xml", DIRS[0]);
    assert!(net
        .mirror(2)
        .requests_for(&repomd)
        .iter()
        .any(|r| r.not_modified));
    assert!(net
        .upstream
        .requests_for(&repomd)
        .iter()
        .all(|r| !r.not_modified));
}

/// A settled file in its rotation slot is verified with a HEAD, without conditional
/// headers: unchanged, nothing more is fetched; put back to an older version (a new ETag),
/// it is fetched in full and judged behind; a file left out keeps its verdict and check time.
#[tokio::test]
async fn a_verified_file_is_fetched_only_when_its_etag_changed() {
    let (net, _dir, mut engine) = timeline().await;
    let mirror = net.mirror(0); // "current": at v4
    mirror.clear_requests();
    let report = engine
        .sweep_due("current", 4200, &[Due::Verify, Due::Verify])
        .await;
    let results: Vec<&FileResult> = report.files.iter().map(|f| &f.result).collect();
    assert_eq!(results, vec![&FileResult::NotModified; 2]);
    let requests = mirror.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for r in &requests {
        assert_eq!(r.method, "HEAD", "{r:?}");
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("if-") || *n == "accept-encoding"),
            "{names:?}"
        );
    }
    let snapshot = engine.snapshot(4200);
    assert_eq!(
        verdicts(&v4(&snapshot, "current")),
        vec![Verdict::Current; 2]
    );
    // Rolled back to v3 in the first directory only.
    net.sync(0, DIRS[0], &version(3));
    mirror.clear_requests();
    let report = engine
        .sweep_due("current", 4300, &[Due::Verify, Due::No])
        .await;
    assert!(
        matches!(report.files[0].result, FileResult::Fetched { .. }),
        "{:?}",
        report.files[0]
    );
    assert_eq!(report.files[1].result, FileResult::NotDue);
    let methods: Vec<String> = mirror
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("repomd.xml"))
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["HEAD", "GET"]);
    let snapshot = engine.snapshot(4300);
    let current = v4(&snapshot, "current");
    assert_eq!(verdicts(&current), vec![behind(1, 300), Verdict::Current]);
    let checked: Vec<i64> = current.repos.iter().map(|r| r.checked_at).collect();
    assert_eq!(checked, vec![4300, 4200]);
}

#[tokio::test]
async fn stale_flips_when_lag_exceeds_stale_after() {
    let (_net, _dir, mut engine) = timeline().await;
    let stale_after = engine.config.freshness.stale_after;
    assert_eq!(stale_after, Duration::from_secs(STALE_AFTER));
    let at_bound = published(4) + i64::try_from(STALE_AFTER).unwrap();
    engine.poll(at_bound).await;
    let snapshot = engine.snapshot(at_bound);
    let b1 = v4(&snapshot, "behind1");
    assert_eq!(verdicts(&b1), vec![behind(1, STALE_AFTER); 2]);
    assert!(
        !b1.repos[0].verdict.is_stale(stale_after),
        "lag == bound is not stale"
    );
    assert_eq!(b1.stale(stale_after), 0);
    assert_eq!(v4(&snapshot, "behind3").stale(stale_after), 2);
    assert_eq!(v4(&snapshot, "current").stale(stale_after), 0);

    // One second later (an upstream poll in between, as the daemon has every minute).
    engine.poll(at_bound + 1).await;
    let snapshot = engine.snapshot(at_bound + 1);
    let b1 = v4(&snapshot, "behind1");
    assert_eq!(verdicts(&b1), vec![behind(1, STALE_AFTER + 1); 2]);
    assert!(b1.repos[0].verdict.is_stale(stale_after));
    assert_eq!(b1.stale(stale_after), 2);
    assert_eq!(b1.max_lag(), Some(STALE_AFTER + 1));
    assert_eq!(v4(&snapshot, "current").stale(stale_after), 0);
}

#[tokio::test]
async fn lag_grows_between_snapshots_without_new_events() {
    let (_net, _dir, mut engine) = timeline().await;
    let stale_after = engine.config.freshness.stale_after;
    let at_bound = published(4) + i64::try_from(STALE_AFTER).unwrap();
    // Lag figures are at most REFRESH_SECONDS old: a snapshot that much later has grown.
    let refresh = mirrorwatch::state::writer::REFRESH_SECONDS;
    let before = engine.snapshot(at_bound - 5);
    assert_eq!(v4(&before, "behind1").stale(stale_after), 0);
    let after = engine.snapshot(at_bound - 5 + refresh);
    assert_eq!(after.generated_at, at_bound - 5 + refresh);
    assert_eq!(
        verdicts(&v4(&after, "behind1")),
        vec![behind(1, STALE_AFTER - 5 + refresh as u64); 2]
    );
    assert_eq!(v4(&after, "behind1").stale(stale_after), 2);
}

#[tokio::test]
async fn upstream_down_keeps_versions_and_verdicts() {
    let (net, _dir, mut engine) = timeline().await;
    let expected = |lag_from: i64| {
        [
            vec![Verdict::Current; 2],
            vec![behind(1, (lag_from - published(4)) as u64); 2],
            vec![behind(3, (lag_from - published(2)) as u64); 2],
        ]
    };
    net.upstream.go_down().await;
    engine.poll(5000).await;
    let snapshot = engine.snapshot(5000);
    assert!(!snapshot.upstream_up());
    for target in &snapshot.upstream {
        assert!(!target.up && target.last_error.is_some(), "{target:?}");
        assert_eq!(target.versions_seen, 4);
        let current = target.current.as_ref().unwrap();
        assert_eq!(current.sha256, version(4).repomd_sha256());
        assert_eq!(target.last_success, Some(published(4)));
    }
    let judged =
        |s: &mirrorwatch::state::Snapshot| FOLLOWERS.map(|(name, _)| verdicts(&v4(s, name)));
    assert_eq!(judged(&snapshot), expected(5000));

    // Mirrors are still swept and judged against the last known versions.
    for (name, _) in FOLLOWERS {
        engine.sweep(name, 5100).await;
    }
    let snapshot = engine.snapshot(5100);
    assert!(!snapshot.upstream_up());
    assert_eq!(judged(&snapshot), expected(5100));
    for (name, _) in FOLLOWERS {
        assert_eq!(v4(&snapshot, name).state, State::Up, "{name}");
    }

    // Back, unchanged (a 304 to the remembered validators): up again, nothing forgotten.
    net.upstream.come_up().await;
    engine.poll(5200).await;
    let snapshot = engine.snapshot(5200);
    assert!(snapshot.upstream_up());
    assert!(snapshot.upstream.iter().all(|t| t.versions_seen == 4));
    assert_eq!(judged(&snapshot), expected(5200));
    let repomd = format!("{}repodata/repomd.xml", DIRS[0]);
    let polls = net.upstream.requests_for(&repomd);
    assert!(polls.last().unwrap().not_modified, "{polls:?}");
}

/// One mirror "m0" in sync with an upstream at v1, `down_after: 3`, `up_after: 1`.
async fn one_mirror() -> (Network, tempfile::TempDir, Engine) {
    let net = Network::start(1).await;
    for d in DIRS {
        net.publish(d, &version(1));
    }
    let dir = tempfile::tempdir().unwrap();
    let text = ConfigText::new(&net.upstream.base_url())
        .mirror("m0", &net.mirror(0).base_url())
        .section("health:\n  down_after: 3\n  up_after: 1\n");
    let mut engine = Engine::new(text.load(dir.path()), 0);
    engine.poll(50).await;
    (net, dir, engine)
}

#[tokio::test]
async fn flapping_never_goes_down_and_three_failures_do() {
    let (net, _dir, mut engine) = one_mirror().await;
    // (mirror reachable in this sweep, state after it)
    let script = [
        (true, State::Up),
        (false, State::Up),
        (true, State::Up),
        (false, State::Up),
        (true, State::Up),
        (false, State::Up),
        (false, State::Up),
        (false, State::Down),
        (true, State::Up),
    ];
    let mut t = 100;
    for (step, (reachable, want)) in script.into_iter().enumerate() {
        if reachable {
            net.bring_up(0).await;
        } else {
            net.make_down(0).await;
        }
        engine.sweep("m0", t).await;
        let f = v4(&engine.snapshot(t), "m0");
        assert_eq!(f.state, want, "step {step} at t={t}: {f:?}");
        if reachable {
            assert_eq!(
                verdicts(&f),
                vec![Verdict::Current; 2],
                "step {step}: {f:?}"
            );
        } else {
            assert_eq!(reason(&f).as_deref(), Some("connect"), "step {step}");
        }
        t += 100;
    }
}

#[tokio::test]
async fn a_missing_repo_degrades_an_up_mirror_only_after_down_after_sweeps() {
    let (net, _dir, mut engine) = one_mirror().await;
    engine.sweep("m0", 100).await;
    assert_eq!(engine.state("m0", 100), State::Up);
    net.mirror(0).clear_prefix(DIRS[1]);
    for (t, want) in [(200, State::Up), (300, State::Up), (400, State::Degraded)] {
        engine.sweep("m0", t).await;
        let f = v4(&engine.snapshot(t), "m0");
        assert_eq!(f.state, want, "t={t}");
        assert_eq!(verdicts(&f), [Verdict::Current, Verdict::Missing]);
    }
    // Fixed: one good sweep brings it back.
    net.sync(0, DIRS[1], &version(1));
    engine.sweep("m0", 500).await;
    assert_eq!(engine.state("m0", 500), State::Up);
}

#[tokio::test]
async fn a_restart_keeps_verdicts_and_revalidates_with_304() {
    let (net, _dir, mut engine) = one_mirror().await;
    engine.sweep("m0", 100).await;
    engine.restart(150);
    net.mirror(0).clear_requests();
    engine.sweep("m0", 200).await;
    let f = v4(&engine.snapshot(200), "m0");
    assert_eq!(
        (f.state, verdicts(&f)),
        (State::Up, vec![Verdict::Current; 2])
    );
    let requests = net.mirror(0).requests();
    assert!(requests.iter().all(|r| r.not_modified), "{requests:?}");
}

#[tokio::test]
async fn a_copy_that_failed_before_a_restart_recovers_after_it() {
    let (net, _dir, mut engine) = one_mirror().await;
    engine.sweep("m0", 100).await;
    net.make_down(0).await;
    engine.sweep("m0", 200).await;
    net.bring_up(0).await;
    engine.restart(250);
    engine.sweep("m0", 300).await;
    let f = v4(&engine.snapshot(300), "m0");
    assert_eq!(f.state, State::Up);
    assert_eq!(verdicts(&f), vec![Verdict::Current; 2], "{f:?}");
}

#[tokio::test]
async fn a_partial_sync_that_completes_becomes_current() {
    let (net, _dir, mut engine) = one_mirror().await;
    net.mirror(0).clear_prefix(DIRS[0]);
    net.mirror(0)
        .serve_tree_without(DIRS[0], &version(1), "primary");
    engine.sweep("m0", 100).await;
    let f = v4(&engine.snapshot(100), "m0");
    assert_eq!(f.repos[0].verdict.as_str(), "incomplete");
    // The rsync finishes: the same repomd.xml, now with its primary file.
    net.sync(0, DIRS[0], &version(1));
    engine.sweep("m0", 200).await;
    let f = v4(&engine.snapshot(200), "m0");
    assert_eq!(verdicts(&f), vec![Verdict::Current; 2], "{f:?}");
}

#[tokio::test]
async fn data_files_are_checked_only_for_content_the_upstream_published() {
    let (net, _dir, mut engine) = one_mirror().await;
    // In the first directory, content the upstream never showed (a mirror's own build);
    // in the second, the upstream's own.
    net.sync(0, DIRS[0], &RepoTree::new(1_700_000_000, "never upstream"));
    engine.sweep("m0", 100).await;
    let heads: Vec<String> = net
        .mirror(0)
        .requests()
        .into_iter()
        .filter(|r| r.method == "HEAD")
        .map(|r| r.path)
        .collect();
    assert!(
        !heads.is_empty(),
        "the upstream's copy had its data files checked"
    );
    assert!(
        heads.iter().all(|path| !path.contains(DIRS[0])),
        "data files checked for content the upstream never published: {heads:?}"
    );
    let f = v4(&engine.snapshot(100), "m0");
    assert_eq!(f.repos[1].verdict, Verdict::Current, "{f:?}");
}

#[tokio::test]
async fn copies_of_targets_dropped_from_the_layout_are_forgotten() {
    let net = Network::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let text = ConfigText::new(&net.upstream.base_url()).mirror("m0", &net.mirror(0).base_url());
    let mut engine = Engine::new(text.clone().arches("[x86_64, aarch64]").load(dir.path()), 0);
    engine.sweep("m0", 100).await;
    let keys = |engine: &Engine| -> Vec<String> {
        let records = engine.writer.records();
        let family = records.mirrors["m0"]
            .families
            .get(&mirrorwatch::config::IpFamily::Ipv4)
            .unwrap();
        family.copies.iter().map(|(k, _)| k.clone()).collect()
    };
    assert_eq!(keys(&engine).len(), 4, "{:?}", keys(&engine));
    // A reload without aarch64: its copies leave the records, and so the state file.
    let narrower = text.clone().arches("[x86_64]").load(dir.path());
    engine
        .writer
        .apply(mirrorwatch::state::Event::Config(narrower.clone()), 200);
    let mut left = keys(&engine);
    left.sort();
    let mut want: Vec<String> = DIRS.iter().map(|d| d.to_string()).collect();
    want.sort();
    assert_eq!(left, want);
    // And so does a start with a configuration changed while the daemon was stopped.
    engine.config = text.arches("[x86_64, aarch64]").load(dir.path());
    engine.sweep("m0", 300).await;
    engine.config = narrower;
    engine.restart(400);
    let mut left = keys(&engine);
    left.sort();
    assert_eq!(left, want);
}
