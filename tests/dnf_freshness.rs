//! The real dnf right after an upstream release: the upstream publishes a new revision of the
//! repository, 3 of 12 loopback mirrors sync it, and after one probe interval `dnf makecache`
//! through our `mirrorlist=` and through our `metalink=` both end with the new revision in
//! dnf's cache directory, having asked current mirrors first (by the mirrors' own request
//! logs). The 9 behind mirrors are still listed, after the current ones, to fill the list.
//!
//! Before freshness-first selection every copy within `serve.max_lag` was equally eligible:
//! with 3 current mirrors out of 12, dnf's first mirror was a behind one 3 times in 4.
//!
//! Repositories are made by `createrepo_c` and served by `kit::FakeMirror` on 127.0.0.1; dnf
//! runs isolated as `tests/dnf/mod.rs` runs it. The daemon resolves nothing
//! (`probe.dns_servers: ["127.0.0.1:1"]`, IP-literal URLs). Without dnf, createrepo_c or
//! rpmbuild the test fails saying what to install; `MIRRORWATCH_SKIP_DNF=1` skips it knowingly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::dnf;
use dnf::{assert_loopback_url, base, build_rpm, createrepo, repo_file, repomd_url, serve_repo};
use dnf::{RepoFiles, REPO_PREFIX};
use fakemirrors::{FakeMirror, MirrorOptions};

/// The revision every mirror starts with, and the one the upstream publishes next.
const FIRST: u64 = 1_760_000_000;
const SECOND: u64 = FIRST + 3_600;
/// The mirrors that sync the second revision.
const SYNCED: [usize; 3] = [4, 7, 10];
const MIRRORS: usize = 12;

fn name(i: usize) -> String {
    format!("m{i:02}")
}

/// `dnf makecache` with `source_line`, keeping dnf's cache directory; returns whether it
/// succeeded, what it said, and the `<revision>` of the repomd.xml in its cache.
async fn makecache(source_line: &str, tmp: &Path) -> (bool, String, Option<u64>) {
    let text = repo_file(source_line);
    for url in source_line.split_once('=').map(|(_, u)| u).into_iter() {
        assert_loopback_url(url, "repo file");
    }
    for dir in ["root", "cache", "repos.d", "vars"] {
        std::fs::create_dir_all(tmp.join(dir)).unwrap();
    }
    std::fs::write(
        tmp.join("dnf.conf"),
        "[main]\ngpgcheck=0\nskip_if_unavailable=False\ninstall_weak_deps=False\n",
    )
    .unwrap();
    std::fs::write(tmp.join("repos.d/mirrorwatch.repo"), text).unwrap();
    let mut cmd = tokio::process::Command::from(dnf::dnf_command(tmp));
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("dnf makecache ran longer than 90 s")
        .expect("running dnf");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(tmp.join("root/var/log/dnf.librepo.log")).unwrap_or_default();
    for (_, url) in log.lines().filter_map(|l| l.split_once(" Downloading: ")) {
        if url.contains("://") {
            assert_loopback_url(url.trim(), "librepo log");
        }
    }
    let revision = cached_repomds(&tmp.join("cache"))
        .iter()
        .filter_map(|p| revision_of(&std::fs::read_to_string(p).ok()?))
        .max();
    (out.status.success(), format!("{said}\n{log}"), revision)
}

/// Every `repodata/repomd.xml` under dnf's cache directory.
fn cached_repomds(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.ends_with("repodata/repomd.xml") {
                found.push(path);
            }
        }
    }
    found
}

fn revision_of(repomd: &str) -> Option<u64> {
    let start = repomd.find("<revision>")? + "<revision>".len();
    let end = start + repomd[start..].find("</revision>")?;
    repomd[start..end].trim().parse().ok()
}

/// The repomd.xml requests dnf (not the daemon) made, earliest first, by mirror index.
fn dnf_repomd_requests(mirrors: &[FakeMirror]) -> Vec<(usize, std::time::SystemTime)> {
    let path = format!("{REPO_PREFIX}/repodata/repomd.xml");
    let mut asked: Vec<(usize, std::time::SystemTime)> = mirrors
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            m.requests_for(&path)
                .into_iter()
                .filter(|r| {
                    !r.header("user-agent")
                        .unwrap_or("")
                        .starts_with("mirrorwatch/")
                })
                .map(move |r| (i, r.at))
        })
        .collect();
    asked.sort_by_key(|(_, at)| *at);
    asked
}

/// The `<url>`s of a metalink with their `preference`, in document order.
fn metalink_urls(xml: &str) -> Vec<(u32, String)> {
    xml.split("<url ")
        .skip(1)
        .filter_map(|u| {
            let (attrs, rest) = u.split_once('>')?;
            let pref = attrs.split("preference=\"").nth(1)?.split('"').next()?;
            Some((pref.parse().ok()?, rest.split_once("</url>")?.0.to_owned()))
        })
        .collect()
}

fn repo(dir: &Path, package: &str, revision: u64) -> RepoFiles {
    build_rpm(&dir.join("Packages"), package, "1.0");
    createrepo(dir, revision)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_release_dnf_gets_the_new_revision_from_current_mirrors_first() {
    if !dnf::dnf_available() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (first_dir, second_dir) = (dir.path().join("first"), dir.path().join("second"));
    repo(&first_dir, "mirrorwatch-first", FIRST);
    repo(&second_dir, "mirrorwatch-second", SECOND);
    let upstream = FakeMirror::start(MirrorOptions::default()).await;
    let mut mirrors = Vec::new();
    for _ in 0..MIRRORS {
        mirrors.push(FakeMirror::start(MirrorOptions::default()).await);
    }
    serve_repo(&upstream, REPO_PREFIX, &first_dir);
    for m in &mirrors {
        serve_repo(m, REPO_PREFIX, &first_dir);
    }

    let mut yaml = format!(
        "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  aliases: {{\"9\": \"9.8\"}}\n  \
         arches: {{\"9\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\n\
         mirrors:\n",
        upstream.base_url()
    );
    for (i, m) in mirrors.iter().enumerate() {
        yaml.push_str(&format!(
            "  - name: {}\n    address: {{http: \"{}\"}}\n    country: DE\n",
            name(i),
            m.base_url()
        ));
    }
    yaml.push_str(
        "probe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\n  interval: 3s\n  \
         timeout: 2s\n  connect_timeout: 1s\nfreshness:\n  upstream_interval: 1s\n\
         serve:\n  mirrorlist_length: 10\nstate:\n  path: state.json\n",
    );
    let daemon = Daemon::start(&yaml).await;
    let verdicts = || async {
        let mut all = Vec::new();
        for i in 0..MIRRORS {
            let (_, body) = daemon.get(&format!("/api/v1/mirrors/{}", name(i))).await;
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let status = json["families"][0]["repos"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["arch"] == "x86_64"))
                .and_then(|r| r["verdict"]["status"].as_str())
                .unwrap_or("")
                .to_owned();
            all.push(status);
        }
        all
    };
    let wait_for = |want: Vec<&'static str>| {
        let verdicts = &verdicts;
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let now = verdicts().await;
                if now.iter().zip(&want).all(|(a, b)| a == b) {
                    break;
                }
                assert!(Instant::now() < deadline, "verdicts {now:?}, want {want:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait_for(vec!["current"; MIRRORS]).await;

    // The release: the upstream publishes the second revision, three mirrors sync it.
    upstream.clear_prefix(REPO_PREFIX);
    serve_repo(&upstream, REPO_PREFIX, &second_dir);
    for &i in &SYNCED {
        mirrors[i].clear_prefix(REPO_PREFIX);
        serve_repo(&mirrors[i], REPO_PREFIX, &second_dir);
    }
    let want: Vec<&'static str> = (0..MIRRORS)
        .map(|i| {
            if SYNCED.contains(&i) {
                "current"
            } else {
                "behind"
            }
        })
        .collect();
    wait_for(want).await;
    eprintln!(
        "one interval later: {:.1} s",
        started.elapsed().as_secs_f32()
    );

    // Our answers: the current mirrors first, then behind ones filling the list to 10.
    let current_bases: Vec<String> = SYNCED.iter().map(|&i| base(&mirrors[i])).collect();
    let (status, list) = daemon.get("/mirrorlist/9/baseos?arch=x86_64").await;
    assert_eq!(status, 200, "{list}");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 10, "{list}");
    let mut head: Vec<String> = lines[..3].iter().map(|l| l.to_string()).collect();
    head.sort();
    let mut expected = current_bases.clone();
    expected.sort();
    assert_eq!(head, expected, "{list}");
    let (status, xml) = daemon.get("/metalink?repo=baseos-9&arch=x86_64").await;
    assert_eq!(status, 200, "{xml}");
    let urls = metalink_urls(&xml);
    assert_eq!(urls.len(), 10, "{xml}");
    let prefs: Vec<u32> = urls.iter().map(|(p, _)| *p).collect();
    assert_eq!(prefs, (91..=100).rev().collect::<Vec<u32>>(), "{xml}");
    let current_urls: Vec<String> = SYNCED.iter().map(|&i| repomd_url(&mirrors[i])).collect();
    assert!(
        urls[..3].iter().all(|(_, u)| current_urls.contains(u)),
        "{xml}"
    );
    // The behind mirrors stay usable for dnf: the first revision is an alternate.
    assert!(xml.contains("<mm0:alternate>"), "{xml}");

    for (how, line) in [
        (
            "mirrorlist",
            format!(
                "mirrorlist={}/mirrorlist/9/baseos?arch=$basearch",
                daemon.base
            ),
        ),
        (
            "metalink",
            format!(
                "metalink={}/metalink?repo=baseos-9&arch=$basearch",
                daemon.base
            ),
        ),
    ] {
        for m in &mirrors {
            m.clear_requests();
        }
        let tmp = tempfile::tempdir().unwrap();
        let (ok, said, revision) = makecache(&line, tmp.path()).await;
        assert!(ok, "{how}: dnf failed\n{said}");
        assert_eq!(
            revision,
            Some(SECOND),
            "{how}: revision in dnf's cache\n{said}"
        );
        let asked = dnf_repomd_requests(&mirrors);
        assert!(!asked.is_empty(), "{how}: no repomd.xml request\n{said}");
        let first = asked[0].0;
        assert!(
            SYNCED.contains(&first),
            "{how}: dnf asked {} first, which is behind; all: {asked:?}\n{said}",
            name(first)
        );
        // A current mirror answers: dnf needs no other.
        assert!(
            asked.iter().all(|(i, _)| SYNCED.contains(i)),
            "{how}: {asked:?}\n{said}"
        );
    }
    // Every answer since the release put a current mirror first and listed 7 behind ones.
    let (_, metrics) = daemon.get("/metrics").await;
    let value = |series: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(series));
        let line = line.unwrap_or_else(|| panic!("no {series}\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    for endpoint in ["mirrorlist", "metalink"] {
        let answers = |first: &str| {
            value(&format!(
                "mirrorwatch_mirrorlist_answers_total{{endpoint=\"{endpoint}\",first=\"{first}\"}}"
            ))
        };
        let current = answers("current");
        assert!(current >= 2.0, "{endpoint}: {current}\n{metrics}");
        assert_eq!(answers("behind"), 0.0, "{endpoint}\n{metrics}");
        let behind_urls = value(&format!(
            "mirrorwatch_mirrorlist_behind_urls_total{{endpoint=\"{endpoint}\"}}"
        ));
        assert!(
            behind_urls >= 7.0 * 2.0,
            "{endpoint}: {behind_urls}\n{metrics}"
        );
    }
    eprintln!("whole test: {:.1} s", started.elapsed().as_secs_f32());
}
