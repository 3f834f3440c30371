#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Honest verdicts from the first sweep: mirrors already behind when the daemon starts.
//!
//! The daemon (in process, real clock) watches loopback mirrors prepared before it starts.
//! BaseOS upstream was built 3 h ago; mirror `one` serves the BaseOS built an hour before
//! that, mirror `three` the one built three hours before. Neither copy was ever served by
//! upstream while the daemon ran, yet after the first sweep both are `behind`, estimated:
//! their lag is the lower bound (now − upstream's data timestamp, over `stale_after`, so
//! both are stale at once), and their content ages tell them apart. AppStream upstream was
//! built 30 min ago and both mirrors hold older AppStream copies: estimated behind too, not
//! stale, within `serve.max_lag` by the lower bound — and still never listed, since no
//! metalink alternate can match content upstream never showed.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::daemon::Daemon;
use common::{ConfigText, DIRS};
use fakemirrors::{Network, RepoTree};

const HOUR: u64 = 3600;
/// `freshness.stale_after` and `serve.max_lag`.
const STALE_AFTER: u64 = 2 * HOUR;
/// Seconds the test may take between building the trees and reading the API.
const SLACK: u64 = 120;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A tree built at `epoch`: its `<revision>` and every data timestamp are `epoch`.
fn built_at(epoch: u64, label: &str) -> RepoTree {
    RepoTree::builder(epoch, label).published_at(epoch).build()
}

/// The verdict JSON of `mirror`'s copy of `repo`, and its family summary.
async fn verdict_of(
    d: &Daemon,
    mirror: &str,
    repo: &str,
) -> (serde_json::Value, serde_json::Value) {
    let r = d.fetch(&format!("/api/v1/mirrors/{mirror}")).await;
    assert_eq!(r.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let repos = body["families"][0]["repos"].as_array().unwrap();
    let verdict = repos
        .iter()
        .find(|r| r["repo"] == repo)
        .unwrap_or_else(|| panic!("{mirror} has no {repo}: {body}"))["verdict"]
        .clone();
    (verdict, body["mirror"]["families"][0].clone())
}

fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_behind_before_the_start_are_estimated_behind_in_the_first_sweep() {
    let now = unix_now();
    let (base, appstream) = (DIRS[0], DIRS[1]);
    let base_t = now - 3 * HOUR;
    let app_t = now - HOUR / 2;
    let net = Network::start(2).await;
    net.publish_upstream(base, &built_at(base_t, "base-now"));
    net.publish_upstream(appstream, &built_at(app_t, "app-now"));
    // Mirror i is 1 and 3 versions (hours) behind on BaseOS, and 1 h or 3 h on AppStream.
    for (i, hours) in [(0, 1), (1, 3)] {
        net.sync(i, base, &built_at(base_t - hours * HOUR, "base-old"));
        net.sync(i, appstream, &built_at(app_t - hours * HOUR, "app-old"));
    }
    let text = ConfigText::new(&net.upstream.base_url())
        .mirror("one", &net.mirror(0).base_url())
        .mirror("three", &net.mirror(1).base_url())
        .section("freshness:\n  stale_after: 2h\nserve:\n  max_lag: 2h\n")
        .text();
    let d = Daemon::start(&text).await;

    // BaseOS: behind at once, estimated, the number of versions unknown.
    let (one, one_family) = verdict_of(&d, "one", "baseos").await;
    let (three, three_family) = verdict_of(&d, "three", "baseos").await;
    let read_at = unix_now();
    for v in [&one, &three] {
        assert_eq!(v["status"], "behind", "{v}");
        assert_eq!(v["estimated"], true, "{v}");
        assert!(v["versions"].is_null(), "{v}");
        // At least the true lower bound: upstream's data is 3 h old.
        let lag = u(v, "lag_seconds");
        assert!(lag >= now - base_t, "{v}");
        assert!(lag <= read_at - base_t, "{v}");
        assert!(lag > STALE_AFTER, "{v}");
    }
    // The lower bound is the same for both; the content ages tell 1 from 3 behind.
    let (age1, age3) = (
        u(&one, "content_age_seconds"),
        u(&three, "content_age_seconds"),
    );
    assert!((4 * HOUR..=4 * HOUR + SLACK).contains(&age1), "{one}");
    assert!(age3 + SLACK >= age1 + 2 * HOUR, "{one} {three}");
    // Exactly, whatever the snapshot each was read from: content age − lower bound is how
    // much older the copy's data is than upstream's oldest remembered version.
    let older = |v: &serde_json::Value| u(v, "content_age_seconds") - u(v, "lag_seconds");
    assert_eq!(older(&one), HOUR, "{one}");
    assert_eq!(older(&three), 3 * HOUR, "{three}");
    assert!((6 * HOUR..=6 * HOUR + SLACK).contains(&age3), "{three}");

    // AppStream: estimated behind too, by a lower bound of 30 min.
    for mirror in ["one", "three"] {
        let (v, _) = verdict_of(&d, mirror, "appstream").await;
        assert_eq!(v["status"], "behind", "{v}");
        assert_eq!(v["estimated"], true, "{v}");
        let lag = u(&v, "lag_seconds");
        assert!(lag >= now - app_t && lag < STALE_AFTER, "{v}");
    }

    // Stale in the first sweep: BaseOS for both mirrors, AppStream for neither.
    for family in [&one_family, &three_family] {
        assert_eq!(family["stale"], 1, "{family}");
        assert_eq!(family["repos"]["behind"], 2, "{family}");
        assert_eq!(family["repos"]["unknown"], 0, "{family}");
    }

    // Never listed: not even AppStream, within max_lag by its lower bound. With no mirror
    // qualifying, the answer is the upstream.
    for repo in ["baseos", "appstream"] {
        let (status, body) = d.get(&format!("/mirrorlist/9.8/{repo}?arch=x86_64")).await;
        assert_eq!(status, 200, "{body}");
        for i in 0..2 {
            assert!(!body.contains(&net.mirror(i).base_url()), "{repo}: {body}");
        }
        assert!(body.contains(&net.upstream.base_url()), "{repo}: {body}");
        let (status, xml) = d
            .get(&format!("/metalink?repo={repo}-9.8&arch=x86_64"))
            .await;
        for i in 0..2 {
            assert!(
                !xml.contains(&net.mirror(i).base_url()),
                "{repo} {status}: {xml}"
            );
        }
    }
}
