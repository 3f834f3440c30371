//! The whole prober end to end on loopback: upstream and mirrors are real HTTP servers, the
//! engine sweeps them once (`daemon::check_once`) and the snapshot carries the right verdict
//! for each kind of mirror. Name servers point at a dead loopback port: no traffic leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use fakemirrors::{Network, RepoTree};
use mirrorwatch::config::IpFamily;
use mirrorwatch::health::State;

const DIRS: [&str; 2] = ["9.8/BaseOS/x86_64/os/", "9.8/AppStream/x86_64/os/"];

fn write_config(dir: &std::path::Path, net: &Network) -> std::path::PathBuf {
    let mut text = format!(
        "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {{\"9\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\n    - {{name: appstream, path: AppStream/$basearch/os/}}\nmirrors:\n",
        net.upstream.base_url()
    );
    for (i, url) in net.mirror_urls().iter().enumerate() {
        text.push_str(&format!(
            "  - name: m{i}\n    address: {{http: \"{url}\"}}\n"
        ));
    }
    text.push_str("probe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\n  timeout: 2s\n  connect_timeout: 1s\n  time_file: true\nstate:\n  path: state.json\n");
    let file = dir.join("mirrors.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

#[tokio::test]
async fn one_sweep_gives_each_mirror_its_verdict() {
    let net = Network::start(5).await;
    let old = RepoTree::new(1_700_000_000, "old");
    let new = RepoTree::new(1_700_003_600, "new");
    for dir in DIRS {
        net.publish(dir, &new);
    }
    // m1 is one version behind on BaseOS; m2 has a new repomd but lacks its primary;
    // m3 is down; m4 answers 404 for everything.
    net.make_stale(1, DIRS[0], &old);
    net.make_partial(2, DIRS[0], &new);
    net.make_down(3).await;
    net.misbehave(4, fakemirrors::Behaviour::Status(404));
    // AlmaLinux's TIME file: an epoch at the mirror's root.
    net.mirror(0).put("TIME", "1700003700\n");

    let dir = tempfile::tempdir().unwrap();
    let config = mirrorwatch::config::load(&write_config(dir.path(), &net))
        .unwrap()
        .config;
    let snapshot = mirrorwatch::daemon::check_once(Arc::new(config), |_, _| {})
        .await
        .unwrap();

    assert!(snapshot.upstream_up(), "{:?}", snapshot.upstream);
    let family = |name: &str| {
        snapshot
            .mirror(name)
            .unwrap()
            .family(IpFamily::Ipv4)
            .unwrap()
            .clone()
    };
    let verdicts = |name: &str| {
        family(name)
            .repos
            .iter()
            .map(|r| r.verdict.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts("m0"), ["current", "current"]);
    assert_eq!(family("m0").state, State::Up);
    assert_eq!(family("m0").time_file, Some(1_700_003_700));
    assert_eq!(family("m1").time_file, None);
    // Behind: the upstream was only ever seen at "new", and the old copy is older by revision
    // and timestamps, so it is behind, estimated.
    assert_eq!(verdicts("m1")[1], "current");
    assert_eq!(verdicts("m1")[0], "behind");
    assert!(family("m1").repos[0].verdict.is_estimated());
    assert_eq!(verdicts("m2"), ["incomplete", "current"]);
    assert_eq!(family("m3").state, State::Down);
    assert_eq!(
        family("m3").last_failure.as_ref().unwrap().reason.as_str(),
        "connect"
    );
    assert_eq!(verdicts("m4"), ["missing", "missing"]);
    assert_eq!(family("m4").state, State::Down);
    // Every fetch went to loopback and the partial mirror got HEAD requests for data files.
    assert!(net.mirror(2).requests().iter().any(|r| r.method == "HEAD"));
}
