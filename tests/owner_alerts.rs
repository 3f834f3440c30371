//! Alerts reach the mirror's owner, end to end, with Debian's real `prometheus`,
//! `prometheus-alertmanager` and `amtool`:
//!
//! - mirrorwatch (in process) watches three loopback mirrors whose admins have an email:
//!   `behind` and `maint` stay on the old repository and turn stale, `fine` follows;
//! - `mirrorwatch alertmanager-config` (the real binary) writes the Alertmanager
//!   configuration, with a loopback webhook per mirror standing in for email and one for
//!   the team; `amtool check-config` accepts it;
//! - the admin of `maint` has announced maintenance: a silence added with `amtool`;
//! - Prometheus loads `deploy/prometheus/alerts.yml` (its `for:` shortened to 1 s) and
//!   sends to that Alertmanager.
//!
//! Then `behind`'s receiver gets `MirrorwatchMirrorStale` for `behind` and nothing else, with
//! the status page link; the team gets it too; `fine`'s and `maint`'s receivers get
//! nothing, and Alertmanager holds `maint`'s alert as suppressed by the silence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::prometheus::{self, repo_file, Prometheus, DEADLINE};
use common::scraped::{Config, DIR};
use fakemirrors::client::fetch;
use fakemirrors::{MirrorOptions, Network, RepoTree};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Every POST a webhook receiver got: (path, JSON body).
type Posts = Arc<Mutex<Vec<(String, Value)>>>;

/// A loopback HTTP server that answers every request 200 and keeps what was posted.
async fn webhook_sink() -> (String, Posts) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let posts: Posts = Arc::default();
    let kept = posts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // One request per connection: read the head, then Content-Length bytes.
                loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let body = serde_json::from_slice(&buf[end + 4..end + 4 + length])
                        .unwrap_or(Value::Null);
                    kept.lock().unwrap().push((path, body));
                    let _ = conn
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (base, posts)
}

/// The (alertname, mirror label) of every alert posted to `path`.
fn alerts_at(posts: &Posts, path: &str) -> Vec<(String, String, Value)> {
    posts
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .flat_map(|(_, body)| body["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            let label = |k: &str| a["labels"][k].as_str().unwrap_or("").to_string();
            (label("alertname"), label("mirror"), a)
        })
        .collect()
}

/// A running Alertmanager, killed on drop.
struct Alertmanager {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    /// Started on a free loopback port with `config`, clustering off (it would listen on
    /// every address and look for peers).
    async fn start(binary: &Path, config: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alertmanager.yml"), config).unwrap();
        let (child, base) = prometheus::spawn_server(
            binary,
            dir.path(),
            "alertmanager",
            &[
                "--config.file=alertmanager.yml".into(),
                format!("--storage.path={}", dir.path().join("data").display()),
                "--cluster.listen-address=".into(),
            ],
        );
        let am = Alertmanager {
            child,
            base,
            _dir: dir,
        };
        let deadline = Instant::now() + DEADLINE;
        while !fetch(&format!("{}/-/ready", am.base))
            .await
            .is_ok_and(|r| r.status == 200)
        {
            assert!(Instant::now() < deadline, "Alertmanager not ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        am
    }

    /// Its alerts matching `mirror`, as its v2 API gives them.
    async fn alerts_of(&self, mirror: &str) -> Vec<Value> {
        let r = fetch(&format!("{}/api/v2/alerts", self.base))
            .await
            .unwrap();
        let all: Vec<Value> = serde_json::from_slice(&r.body).unwrap_or_default();
        all.into_iter()
            .filter(|a| a["labels"]["mirror"] == mirror)
            .collect()
    }
}

fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `deploy/prometheus/alerts.yml` with every `for:` at 1 s, written into `dir`.
fn quick_rules(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_file("deploy/prometheus/alerts.yml")).unwrap();
    let mut rules: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for group in rules["groups"].as_sequence_mut().unwrap() {
        for rule in group["rules"].as_sequence_mut().unwrap() {
            if let Some(map) = rule.as_mapping_mut() {
                if map.contains_key("for") {
                    map.insert("for".into(), "1s".into());
                }
            }
        }
    }
    let path = dir.join("alerts.yml");
    std::fs::write(&path, serde_yaml::to_string(&rules).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_mirror_alerts_its_own_admin_unless_silenced() {
    let (Some(alertmanager), Some(amtool), Some(_)) = (
        prometheus::tool("prometheus-alertmanager"),
        prometheus::tool("amtool"),
        prometheus::tool("prometheus"),
    ) else {
        return;
    };
    let plain = MirrorOptions::default;
    let net = Network::start_with(plain(), vec![plain(), plain(), plain()]).await;
    let names = ["behind", "maint", "fine"];
    let (old, new) = (
        RepoTree::new(1_700_000_000, "old"),
        RepoTree::new(1_700_003_600, "new"),
    );
    net.publish(DIR, &old);
    let mut config = Config::new(&net.upstream.base_url(), "eu");
    for (name, url) in names.iter().zip(net.mirror_urls()) {
        config = config.mirror(name, &url);
        config
            .emails
            .push((name.to_string(), format!("admin@{name}.example.org")));
    }
    config.stale_after = "3s";
    let mw = Daemon::spawn(&config.yaml()).await;

    // The Alertmanager configuration, as an operator makes it, with group waits cut to a
    // second for the test.
    let (hooks, posts) = webhook_sink().await;
    let generated = run(
        Path::new(env!("CARGO_BIN_EXE_mirrorwatch")),
        &[
            "alertmanager-config",
            "--config",
            mw.config.file.to_str().unwrap(),
            "--owner-webhook",
            &format!("{hooks}/owner/{{mirror}}"),
            "--team-webhook",
            &format!("{hooks}/team"),
        ],
    );
    let mut am_config: serde_yaml::Value = serde_yaml::from_str(&generated).unwrap();
    let routes = am_config["route"]["routes"].as_sequence().unwrap();
    assert_eq!(
        routes.len(),
        4,
        "a route per mirror and the team's: {generated}"
    );
    for key in ["group_wait", "group_interval"] {
        am_config["route"][key] = "1s".into();
    }
    let am_text = serde_yaml::to_string(&am_config).unwrap();
    let work = tempfile::tempdir().unwrap();
    let am_file = work.path().join("alertmanager.yml");
    std::fs::write(&am_file, &am_text).unwrap();
    run(&amtool, &["check-config", am_file.to_str().unwrap()]);
    let am = Alertmanager::start(&alertmanager, &am_text).await;

    // The admin of `maint` announces a maintenance window.
    run(
        &amtool,
        &[
            "silence",
            "add",
            "mirror=maint",
            "--alertmanager.url",
            &am.base,
            "--author",
            "admin@maint.example.org",
            "--comment",
            "maintenance window",
            "--duration",
            "1h",
        ],
    );

    let prom = Prometheus::start_alerting(
        &[("mirrorwatch", vec![mw.target()])],
        &[quick_rules(work.path())],
        Some(am.base.trim_start_matches("http://")),
    )
    .await
    .unwrap();
    prom.wait_targets_up(1).await;
    mw.wait_ready(DEADLINE).await;

    // The upstream moves on; only `fine` follows.
    net.publish_upstream(DIR, &new);
    net.sync(2, DIR, &new);

    let stale = "MirrorwatchMirrorStale";
    let deadline = Instant::now() + DEADLINE * 2;
    loop {
        let mine = alerts_at(&posts, "/owner/behind");
        let team = alerts_at(&posts, "/team");
        if mine.iter().any(|(n, _, _)| n == stale)
            && team.iter().any(|(n, m, _)| n == stale && m == "behind")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no {stale} for `behind` reached its admin and the team; posts: {:?}\nPrometheus: {}",
            posts.lock().unwrap(),
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // `maint`'s alert has reached Alertmanager, which holds it back.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let held = am.alerts_of("maint").await;
        if held
            .iter()
            .any(|a| a["labels"]["alertname"] == stale && a["status"]["state"] == "suppressed")
        {
            assert!(
                held.iter().all(|a| a["status"]["silencedBy"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty())),
                "{held:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "maint's alert: {held:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Two more group intervals for anything wrongly routed to arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;

    for (name, mirror, alert) in alerts_at(&posts, "/owner/behind") {
        assert_eq!(
            mirror, "behind",
            "{name} for {mirror} reached behind's admin"
        );
        if name == stale {
            assert_eq!(
                alert["annotations"]["status_page"],
                "https://mirrorwatch.example.org/mirrors/behind"
            );
        }
    }
    for other in ["/owner/fine", "/owner/maint"] {
        let got = alerts_at(&posts, other);
        assert!(got.is_empty(), "{other} got {got:?}");
    }
    // The team gets the network-wide alerts, and nothing of `maint` while it is silenced.
    let team = alerts_at(&posts, "/team");
    assert!(
        team.iter().all(|(_, m, _)| m != "maint" && m != "fine"),
        "{team:?}"
    );
}
