//! The real dnf against the real daemon: an upstream and five loopback mirrors serving
//! createrepo_c repositories (two good, one stale, one partial, one down), mirrorwatch run in
//! process on them, and `dnf makecache` pointed at our `/mirrorlist/…` and `/metalink?…`.
//! dnf succeeds and asks only current, complete mirrors for repomd.xml; a mirror whose
//! repomd.xml changed after our metalink was issued is refused by dnf's hash check; once the
//! daemon re-probes, such a mirror is `unknown` and no longer offered.
//!
//! dnf runs isolated as `tests/common/dnf/mod.rs` runs it (own config, installroot, reposdir,
//! cachedir, no plugins, no proxy) and its loopback guard fails the test if the repo file or
//! librepo's log names any address that is not loopback. The daemon resolves nothing
//! (`probe.dns_servers: ["127.0.0.1:1"]`, IP-literal URLs) and keeps its state in a tempdir.
//! Without dnf, createrepo_c or rpmbuild the tests fail saying what to install; set
//! `MIRRORWATCH_SKIP_DNF=1` to skip them knowingly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dnf;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::daemon;
use dnf::{base, build_rpm, createrepo, repo_file, repomd_url, run_makecache, serve_repo};
use dnf::{Fleet, Hashes, CURRENT, REPO_PREFIX};
use fakemirrors::FakeMirror;

/// The revision of the repository mirrors move on to, which the upstream never publishes.
const NEWER: u64 = CURRENT + 3_600;

/// What these tests add to `dnf::Fleet`.
impl Fleet {
    /// dnf succeeded with the current repository, whose repomd.xml it asked only of the
    /// mirrors named in `allowed`.
    fn assert_current_from(&self, run: &dnf::DnfRun, allowed: &[&str]) {
        run.assert_success_with(CURRENT);
        let asked = self.dnf_repomd_requests();
        assert!(!asked.is_empty(), "{run}");
        let only = asked.iter().all(|(n, _)| allowed.contains(n));
        assert!(only, "repomd.xml asked of {asked:?}\n{run}");
    }

    /// `mirror` moves on to a newer repository (another package, revision `NEWER`) that the
    /// upstream never published.
    fn move_on(&self, mirror: &FakeMirror) {
        let newer = self.dir.path().join("newer");
        if !newer.exists() {
            build_rpm(&newer.join("Packages"), "mirrorwatch-other", "2.0");
            createrepo(&newer, NEWER);
        }
        mirror.clear_prefix(REPO_PREFIX);
        serve_repo(mirror, REPO_PREFIX, &newer);
    }
}

/// The daemon, in process on 127.0.0.1; stopped on drop.
struct Daemon(daemon::Daemon);

impl Daemon {
    /// Starts mirrorwatch on `fleet` with this `probe.interval` and waits for `/readyz`.
    async fn start(fleet: &Fleet, interval: &str) -> Daemon {
        let mut text = format!(
            "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  aliases: {{\"9\": \"9.8\"}}\n  \
             arches: {{\"9\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\n\
             mirrors:\n",
            fleet.upstream.base_url()
        );
        for (name, m) in fleet.mirrors() {
            let url = m.base_url();
            text.push_str(&format!(
                "  - name: {name}\n    address: {{http: \"{url}\"}}\n    country: DE\n"
            ));
        }
        text.push_str(&format!(
            "probe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\n  interval: {interval}\n  \
             timeout: 2s\n  connect_timeout: 1s\nfreshness:\n  upstream_interval: 5s\n\
             state:\n  path: state.json\n"
        ));
        Daemon(daemon::Daemon::start(&text).await)
    }

    /// The daemon's mirror list for x86_64, as a set of lines.
    async fn mirror_list(&self) -> BTreeSet<String> {
        let (status, body) = self.0.get("/mirrorlist/9/baseos?arch=x86_64").await;
        assert_eq!(status, 200, "{body}");
        body.lines().map(str::to_owned).collect()
    }

    /// The daemon's metalink for x86_64 and the set of its `<url>`s.
    async fn metalink(&self) -> (String, BTreeSet<String>) {
        let (status, xml) = self.0.get("/metalink?repo=baseos-9&arch=x86_64").await;
        assert_eq!(status, 200, "{xml}");
        let urls = xml.split("<url ").skip(1);
        let urls =
            urls.filter_map(|u| Some(u.split_once('>')?.1.split_once("</url>")?.0.to_owned()));
        let urls = urls.collect();
        (xml, urls)
    }

    /// The verdict status of a mirror's copy of 9.8/baseos/x86_64, from the JSON API.
    async fn verdict(&self, mirror: &str) -> String {
        let (_, body) = self.0.get(&format!("/api/v1/mirrors/{mirror}")).await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let repos = json["families"][0]["repos"].as_array().unwrap();
        let copy = repos.iter().find(|r| r["arch"] == "x86_64").unwrap();
        copy["verdict"]["status"].as_str().unwrap().to_owned()
    }

    fn mirrorlist_line(&self) -> String {
        format!(
            "mirrorlist={}/mirrorlist/9/baseos?arch=$basearch",
            self.0.base
        )
    }

    fn metalink_line(&self) -> String {
        format!(
            "metalink={}/metalink?repo=baseos-9&arch=$basearch",
            self.0.base
        )
    }
}

/// The part of a metalink that describes the file (hashes, size, urls), without `pubdate`.
fn files_part(xml: &str) -> &str {
    &xml[xml.find("<files>").expect("no <files>")..]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dnf_gets_only_current_complete_mirrors_and_refuses_one_changed_since_our_metalink() {
    if !dnf::dnf_available() {
        return;
    }
    let started = Instant::now();
    let fleet = Fleet::start().await;
    let daemon = Daemon::start(&fleet, "30s").await;
    eprintln!(
        "daemon ready after {:.1} s",
        started.elapsed().as_secs_f32()
    );
    for (name, want) in [
        ("good0", "current"),
        ("good1", "current"),
        // Older than any upstream version the daemon saw, by revision and timestamps:
        // behind (estimated) from the first sweep, and never offered.
        ("stale", "behind"),
        ("partial", "incomplete"),
        ("down", "error"),
    ] {
        assert_eq!(daemon.verdict(name).await, want, "{name}");
    }

    // Our answers, read directly: exactly the two good mirrors.
    let good: BTreeSet<String> = fleet.good.iter().map(base).collect();
    assert_eq!(daemon.mirror_list().await, good);
    let (saved, urls) = daemon.metalink().await;
    assert_eq!(urls, fleet.good.iter().map(repomd_url).collect(), "{saved}");
    let h = Hashes::of(fleet.current.repomd());
    for (kind, hex) in [
        ("md5", h.md5),
        ("sha1", h.sha1),
        ("sha256", h.sha256),
        ("sha512", h.sha512),
    ] {
        assert!(
            saved.contains(&format!("<hash type=\"{kind}\">{hex}</hash>")),
            "{kind}: {saved}"
        );
    }
    let size = fleet.current.repomd().len();
    assert!(saved.contains(&format!("<size>{size}</size>")), "{saved}");

    // dnf with our mirror list.
    fleet.clear_requests();
    let run = run_makecache(&repo_file(&daemon.mirrorlist_line())).await;
    fleet.assert_current_from(&run, &["good0", "good1"]);

    // dnf with our metalink.
    fleet.clear_requests();
    let run = run_makecache(&repo_file(&daemon.metalink_line())).await;
    fleet.assert_current_from(&run, &["good0", "good1"]);
    assert!(!run.librepo_log.contains("checksum doesn't match"), "{run}");

    // Both good mirrors replace their repomd.xml after our metalink was issued; the upstream
    // does not change, and the daemon does not re-probe before dnf runs (checked below).
    fleet.clear_requests();
    for m in &fleet.good {
        fleet.move_on(m);
    }
    let (now, _) = daemon.metalink().await;
    assert_eq!(files_part(&now), files_part(&saved), "our metalink changed");
    let run = run_makecache(&repo_file(&daemon.metalink_line())).await;
    eprintln!("{run}");
    let swept = fleet.repomd_requests_by(|ua| ua.starts_with("mirrorwatch/"));
    let swept: Vec<_> = swept
        .iter()
        .filter(|(n, _)| n.starts_with("good"))
        .collect();
    assert!(
        swept.is_empty(),
        "premise failed: the daemon re-probed {swept:?}"
    );
    assert!(!run.success, "{run}");
    assert!(run.output.contains("checksum doesn't match"), "{run}");
    assert!(run.output.contains("Cannot download repomd.xml"), "{run}");
    let asked: Vec<&str> = fleet
        .dnf_repomd_requests()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(asked, ["good0", "good1"], "{run}");
    let (after, _) = daemon.metalink().await;
    assert_eq!(
        files_part(&after),
        files_part(&saved),
        "our metalink changed"
    );
    eprintln!("whole test: {:.1} s", started.elapsed().as_secs_f32());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_re_probe_drops_a_mirror_that_changed_and_adds_one_that_finished_syncing() {
    if !dnf::dnf_available() {
        return;
    }
    let started = Instant::now();
    let fleet = Fleet::start().await;
    let daemon = Daemon::start(&fleet, "3s").await;
    let good: BTreeSet<String> = fleet.good.iter().map(base).collect();
    assert_eq!(daemon.mirror_list().await, good);

    // good0 moves on to a repository the upstream never published, while the partial mirror
    // finishes its sync (same repomd.xml, the primary arrives).
    fleet.move_on(&fleet.good[0]);
    let primary = fleet.current.href("primary").unwrap();
    let current_dir = fleet.dir.path().join("current");
    serve_repo(&fleet.partial, REPO_PREFIX, &current_dir);
    assert!(fleet.partial.paths().iter().any(|p| p.ends_with(&primary)));
    let deadline = Instant::now() + Duration::from_secs(20);
    let want = [
        ("good0", "unknown"),
        ("good1", "current"),
        ("partial", "current"),
    ];
    loop {
        let mut now = Vec::new();
        for (name, _) in want {
            now.push((name, daemon.verdict(name).await));
        }
        if now.iter().zip(want).all(|(a, b)| a.1 == b.1) {
            break;
        }
        assert!(Instant::now() < deadline, "not re-probed in 20 s: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("re-probed after {:.1} s", started.elapsed().as_secs_f32());
    let offered = [&fleet.good[1], &fleet.partial];
    assert_eq!(daemon.mirror_list().await, offered.map(base).into());
    let (xml, urls) = daemon.metalink().await;
    assert_eq!(urls, offered.map(repomd_url).into(), "{xml}");

    fleet.clear_requests();
    let run = run_makecache(&repo_file(&daemon.metalink_line())).await;
    fleet.assert_current_from(&run, &["good1", "partial"]);
    let asked = fleet.dnf_repomd_requests();
    assert_eq!(asked.iter().map(|(_, n)| n).sum::<usize>(), 1, "{run}");
    eprintln!("whole test: {:.1} s", started.elapsed().as_secs_f32());
}
