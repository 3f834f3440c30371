//! The real dnf against the real daemon: an upstream and five loopback mirrors serving
//! createrepo_c repositories (two good, one stale, one partial, one down), mirrorwatch run in
//! process on them, and `dnf makecache` pointed at our `/mirrorlist/…` and `/metalink?…`.
//! dnf succeeds and asks only current, complete mirrors for repomd.xml; a mirror whose
//! repomd.xml changed after our metalink was issued is refused by dnf's hash check; once the
//! daemon re-probes, such a mirror is `unknown` and no longer offered.
//!
//! dnf runs isolated as `tests/dnf/mod.rs` runs it (own config, installroot, reposdir,
//! cachedir, no plugins, no proxy) and its loopback guard fails the test if the repo file or
//! librepo's log names any address that is not loopback. The daemon resolves nothing
//! (`probe.dns_servers: ["127.0.0.1:1"]`, IP-literal URLs) and keeps its state in a tempdir.
//! Without dnf, createrepo_c or rpmbuild the tests fail saying what to install; set
//! `MIRRORWATCH_SKIP_DNF=1` to skip them knowingly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dnf;
mod kit;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnf::{base, build_rpm, createrepo, repo_file, repomd_url, run_makecache, serve_repo};
use dnf::{metadata_time_text, Hashes, RepoFiles, REPO_PREFIX};
use kit::client::fetch;
use kit::{FakeMirror, MirrorOptions};
use tokio_util::sync::CancellationToken;

/// Revisions (and data timestamps) of the repositories.
const CURRENT: u64 = 1_750_000_000;
const OLD: u64 = CURRENT - 86_400;
const NEWER: u64 = CURRENT + 3_600;

/// An upstream and five mirrors, each serving a real repository at `REPO_PREFIX`:
/// `upstream`, `good[0]`, `good[1]` and `down` (then taken down) the current one (revision
/// `CURRENT`, one package); `stale` an older one (`OLD`, empty, never seen upstream);
/// `partial` the current one without its primary.
struct Fleet {
    upstream: FakeMirror,
    good: [FakeMirror; 2],
    stale: FakeMirror,
    partial: FakeMirror,
    down: FakeMirror,
    current: RepoFiles,
    dir: tempfile::TempDir,
}

impl Fleet {
    async fn start() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let current_dir = dir.path().join("current");
        build_rpm(&current_dir.join("Packages"), "mirrorwatch-probe", "1.0");
        let current = createrepo(&current_dir, CURRENT);
        let old = createrepo(&dir.path().join("old"), OLD);
        assert_ne!(current.repomd(), old.repomd());
        let start = || FakeMirror::start(MirrorOptions::default());
        let fleet = Fleet {
            upstream: start().await,
            good: [start().await, start().await],
            stale: start().await,
            partial: start().await,
            down: start().await,
            current,
            dir,
        };
        for m in [&fleet.upstream, &fleet.good[0], &fleet.good[1], &fleet.down] {
            serve_repo(m, REPO_PREFIX, &current_dir);
        }
        serve_repo(&fleet.stale, REPO_PREFIX, &fleet.dir.path().join("old"));
        serve_repo(&fleet.partial, REPO_PREFIX, &current_dir);
        let primary = fleet.current.href("primary").unwrap();
        assert!(fleet.partial.remove(&format!("{REPO_PREFIX}/{primary}")));
        fleet.down.go_down().await;
        fleet
    }

    /// The mirrors by the names the daemon's configuration gives them.
    fn mirrors(&self) -> [(&'static str, &FakeMirror); 5] {
        [
            ("good0", &self.good[0]),
            ("good1", &self.good[1]),
            ("stale", &self.stale),
            ("partial", &self.partial),
            ("down", &self.down),
        ]
    }

    /// Names of the servers asked for the repomd.xml by dnf (librepo), with counts.
    fn dnf_repomd_requests(&self) -> Vec<(&'static str, usize)> {
        self.repomd_requests(|ua| !ua.starts_with("mirrorwatch/"))
    }

    fn repomd_requests(&self, by: impl Fn(&str) -> bool) -> Vec<(&'static str, usize)> {
        let path = format!("{REPO_PREFIX}/repodata/repomd.xml");
        let all = [("upstream", &self.upstream)]
            .into_iter()
            .chain(self.mirrors());
        let counted = all.map(|(name, m)| {
            let asked = m.requests_for(&path).into_iter();
            (
                name,
                asked
                    .filter(|r| by(r.header("user-agent").unwrap_or("")))
                    .count(),
            )
        });
        counted.filter(|(_, n)| *n > 0).collect()
    }

    /// dnf succeeded with the current repository, whose repomd.xml it asked only of the
    /// mirrors named in `allowed`.
    fn assert_current_from(&self, run: &dnf::DnfRun, allowed: &[&str]) {
        eprintln!("{run}");
        assert!(run.success, "{run}");
        let want = metadata_time_text(CURRENT);
        assert_eq!(run.metadata_from(), Some(&*want), "{run}");
        let asked = self.dnf_repomd_requests();
        assert!(!asked.is_empty(), "{run}");
        let only = asked.iter().all(|(n, _)| allowed.contains(n));
        assert!(only, "repomd.xml asked of {asked:?}\n{run}");
    }

    fn clear_requests(&self) {
        self.upstream.clear_requests();
        self.mirrors().iter().for_each(|(_, m)| m.clear_requests());
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
struct Daemon {
    base: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Daemon {
    /// Starts mirrorwatch on `fleet` with this `probe.interval` and waits for `/readyz`.
    async fn start(fleet: &Fleet, interval: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
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
        let file = dir.path().join("mirrors.yaml");
        std::fs::write(&file, text).unwrap();
        let config = Arc::new(mirrorwatch::config::load(&file).unwrap().config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(mirrorwatch::run(config, listener, shutdown.clone()));
        let daemon = Daemon {
            base,
            shutdown,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while daemon.get("/readyz").await.0 != 200 {
            assert!(Instant::now() < deadline, "not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        daemon
    }

    /// (status, body) of `GET path`.
    async fn get(&self, path: &str) -> (u16, String) {
        match fetch(&format!("{}{path}", self.base)).await {
            Ok(r) => (r.status, r.text()),
            Err(_) => (0, String::new()),
        }
    }

    /// The daemon's mirror list for x86_64, as a set of lines.
    async fn mirror_list(&self) -> BTreeSet<String> {
        let (status, body) = self.get("/mirrorlist/9/baseos?arch=x86_64").await;
        assert_eq!(status, 200, "{body}");
        body.lines().map(str::to_owned).collect()
    }

    /// The daemon's metalink for x86_64 and the set of its `<url>`s.
    async fn metalink(&self) -> (String, BTreeSet<String>) {
        let (status, xml) = self.get("/metalink?repo=baseos-9&arch=x86_64").await;
        assert_eq!(status, 200, "{xml}");
        let urls = xml.split("<url ").skip(1);
        let urls =
            urls.filter_map(|u| Some(u.split_once('>')?.1.split_once("</url>")?.0.to_owned()));
        let urls = urls.collect();
        (xml, urls)
    }

    /// The verdict status of a mirror's copy of 9.8/baseos/x86_64, from the JSON API.
    async fn verdict(&self, mirror: &str) -> String {
        let (_, body) = self.get(&format!("/api/v1/mirrors/{mirror}")).await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let repos = json["families"][0]["repos"].as_array().unwrap();
        let copy = repos.iter().find(|r| r["arch"] == "x86_64").unwrap();
        copy["verdict"]["status"].as_str().unwrap().to_owned()
    }

    fn mirrorlist_line(&self) -> String {
        format!(
            "mirrorlist={}/mirrorlist/9/baseos?arch=$basearch",
            self.base
        )
    }

    fn metalink_line(&self) -> String {
        format!(
            "metalink={}/metalink?repo=baseos-9&arch=$basearch",
            self.base
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
        ("stale", "unknown"),
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
    let swept = fleet.repomd_requests(|ua| ua.starts_with("mirrorwatch/"));
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
