//! The real `mirrorwatch serve` binary against real loopback mirrors, across its lifetime:
//! readiness after the first sweep and the `/metrics` it then serves (checked by promtool),
//! the state file carried over a restart (verdicts and lag continue, an estimated verdict
//! through a 304 too), unusable state files set aside, the state saved on SIGTERM (even with
//! a client stuck mid-request) and kept over SIGKILL. Ignored tests show bugs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::binary;
use std::path::Path;

use binary::{read_state, saved_last_sweep, wait_until, Cfg, Daemon, DIR};
use fakemirrors::{Behaviour, Network, RepoTree};

const UPSTREAM: [(&str, &str); 3] = [("version", "9.8"), ("repo", "baseos"), ("arch", "x86_64")];

fn old_tree() -> RepoTree {
    RepoTree::new(1_700_000_000, "old")
}

fn new_tree() -> RepoTree {
    RepoTree::new(1_700_003_600, "new")
}

/// A configuration for `net`'s mirrors named m0, m1, … with its state file in `dir`.
fn cfg(dir: &Path, net: &Network) -> Cfg {
    let mut cfg = Cfg::new(&net.upstream.base_url(), &dir.join("state.json"));
    for (i, url) in net.mirror_urls().iter().enumerate() {
        cfg = cfg.mirror(&format!("m{i}"), url);
    }
    cfg
}

/// A runtime, a network of mirrors publishing a tree at `DIR`, and a tempdir holding the
/// configuration ([`cfg`]) and the state file.
struct Setup {
    net: Network,
    cfg: Cfg,
    dir: tempfile::TempDir,
    /// Dropped last: the network's servers run on it.
    _rt: tokio::runtime::Runtime,
}

impl Setup {
    fn new(mirrors: usize, tree: &RepoTree) -> Setup {
        let rt = binary::runtime();
        let net = rt.block_on(Network::start(mirrors));
        net.publish(DIR, tree);
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg(dir.path(), &net);
        Setup {
            net,
            cfg,
            dir,
            _rt: rt,
        }
    }

    /// Writes `cfg` to `mirrors.yaml` in the tempdir and starts the daemon on it.
    fn start_with(&self, cfg: &Cfg) -> Daemon {
        let file = self.dir.path().join("mirrors.yaml");
        cfg.write(&file);
        Daemon::start(&file)
    }

    fn start(&self) -> Daemon {
        self.start_with(&self.cfg)
    }

    /// Waits until the state file names a last sweep of `mirror`.
    fn wait_saved(&self, what: &str, mirror: &str) -> i64 {
        let state = &self.cfg.state;
        wait_until(what, || {
            std::fs::read(state).ok()?;
            saved_last_sweep(&read_state(state), mirror)
        })
    }
}

#[test]
fn ready_after_the_first_sweep_then_metrics_for_every_mirror() {
    let mut setup = Setup::new(2, &new_tree());
    // The first upstream poll takes 2 s, so the first sweep cannot be over when /readyz is
    // first asked (a moment after the daemon listens). Timeouts are longer to allow it.
    setup
        .net
        .upstream
        .set_behaviour(Behaviour::Delay(std::time::Duration::from_secs(2)));
    (setup.cfg.interval, setup.cfg.timeout) = ("4s", "3s");
    let mut d = setup.start();

    let (status, body) = d.get("/readyz");
    assert_eq!((status, body.as_str()), (503, "first sweep not finished\n"));
    assert_eq!(d.metrics().value("mirrorwatch_ready", &[]), Some(0.0));
    setup.net.upstream.reset_behaviour();
    d.wait_ready();

    let s = d.metrics();
    for m in ["m0", "m1"] {
        let family = [("mirror", m), ("family", "ipv4")];
        s.expect("mirrorwatch_mirror_up", &family, 1.0);
        let current = [("mirror", m), ("family", "ipv4"), ("verdict", "current")];
        s.expect("mirrorwatch_mirror_repos", &current, 1.0);
        s.expect("mirrorwatch_mirror_info", &[("mirror", m)], 1.0);
        for name in [
            "mirrorwatch_mirror_last_sweep_timestamp_seconds",
            "mirrorwatch_mirror_success_ratio",
        ] {
            assert!(s.mirror(name, m).is_some(), "{name} {m}\n{}", s.0);
        }
    }
    s.expect("mirrorwatch_ready", &[], 1.0);
    s.expect("mirrorwatch_config_last_reload_successful", &[], 1.0);
    s.expect("mirrorwatch_upstream_reachable", &[], 1.0);
    s.expect("mirrorwatch_upstream_up", &UPSTREAM, 1.0);
    s.expect("mirrorwatch_mirrors", &[("state", "up")], 2.0);
    assert!(s.value("mirrorwatch_sweeps_total", &[]).unwrap() >= 2.0);
    common::promtool::check("/metrics", &s.0);
    d.stop();
}

#[test]
fn verdicts_and_lag_continue_after_a_restart() {
    let setup = Setup::new(2, &old_tree());
    let state = setup.cfg.state.clone();
    let mut d = setup.start();

    // The upstream is seen at "old" first, then moves to "new"; m0 follows, m1 stays behind.
    d.wait_metrics("upstream at old, m1 current", |s| {
        let seen = s.value("mirrorwatch_upstream_versions_seen", &UPSTREAM)?;
        let current = s.value(
            "mirrorwatch_mirror_repos",
            &[("mirror", "m1"), ("family", "ipv4"), ("verdict", "current")],
        )?;
        (seen == 1.0 && current == 1.0).then_some(())
    });
    setup.net.publish_upstream(DIR, &new_tree());
    setup.net.sync(0, DIR, &new_tree());
    let behind = [("mirror", "m1"), ("family", "ipv4"), ("verdict", "behind")];
    let lag_before = d.wait_metrics("m1 behind with a lag of 3 s or more", |s| {
        (s.value("mirrorwatch_upstream_versions_seen", &UPSTREAM)? == 2.0).then_some(())?;
        (s.value("mirrorwatch_mirror_repos", &behind)? == 1.0).then_some(())?;
        s.mirror("mirrorwatch_mirror_max_lag_seconds", "m1")
            .filter(|lag| *lag >= 3.0)
    });
    // Saved while running (state.save_interval 1s), without waiting for shutdown.
    setup.wait_saved("a state file naming m1 while running", "m1");
    d.stop();

    let saved = read_state(&state);
    assert_eq!(saved["format"], 1, "{saved}");
    assert!(
        saved["written_at"].as_i64().unwrap() > 1_700_000_000,
        "{saved}"
    );
    assert!(saved_last_sweep(&saved, "m0").is_some(), "{saved}");
    assert!(saved["state"]["upstream"][DIR].is_object(), "{saved}");

    let mut d = setup.start();
    let line = d.wait_log(0, "state restored");
    assert!(line.contains("mirrors=2"), "{line}");
    // "behind" (not "unknown") needs the old upstream version from before the restart: a
    // fresh history would only know "new". The lag runs on from the same first-seen time.
    let (lag_after, seen) = d.wait_metrics("m1's series after the restart", |s| {
        let lag = s.mirror("mirrorwatch_mirror_max_lag_seconds", "m1")?;
        let seen = s.value("mirrorwatch_upstream_versions_seen", &UPSTREAM)?;
        s.expect("mirrorwatch_mirror_repos", &behind, 1.0);
        Some((lag, seen))
    });
    assert!(
        lag_after >= lag_before,
        "lag {lag_after} after, {lag_before} before"
    );
    assert_eq!(seen, 2.0);
    d.wait_ready();
    d.stop();
}

#[test]
fn unusable_state_files_are_set_aside_and_the_daemon_runs() {
    let setup = Setup::new(1, &new_tree());
    let state = setup.cfg.state.clone();
    let mut d = setup.start();
    setup.wait_saved("a saved state", "m0");
    d.stop();
    let good = std::fs::read(&state).unwrap();

    let variants: [(&str, Vec<u8>); 4] = [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("garbage", b"\x00\x01garbage{ not json".to_vec()),
        ("empty", Vec::new()),
        (
            "unknown format",
            br#"{"format": 99, "written_at": 0, "state": {}}"#.to_vec(),
        ),
    ];
    for (what, bytes) in variants {
        let before = corrupt_files(setup.dir.path());
        std::fs::write(&state, &bytes).unwrap();
        let mut d = setup.start();
        let line = d.wait_log(0, "state file unusable");
        assert!(line.contains("moved_to="), "{what}: {line}");
        assert!(d.find_log(0, &["state restored"]).is_none(), "{what}");
        let new: Vec<_> = corrupt_files(setup.dir.path())
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        assert_eq!(new.len(), 1, "{what}: one new set-aside file: {new:?}");
        assert_eq!(
            std::fs::read(&new[0]).unwrap(),
            bytes,
            "{what}: original bytes kept"
        );
        // It works: ready, the mirror up, and a good state file written again.
        d.wait_ready();
        d.wait_metrics("m0 up", |s| {
            (s.mirror("mirrorwatch_mirror_up", "m0")? == 1.0).then_some(())
        });
        wait_until("a good state file again", || {
            let text = std::fs::read(&state).ok()?;
            let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
            saved_last_sweep(&json, "m0")
        });
        d.stop();
    }
    // Every set-aside copy is still there: none replaced another.
    assert_eq!(corrupt_files(setup.dir.path()).len(), 4);
}

fn corrupt_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("state.json.corrupt-")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn sigterm_saves_the_last_sweep() {
    let mut setup = Setup::new(2, &new_tree());
    // No periodic save during the test: whatever is on disk afterwards came from shutdown.
    setup.cfg.save_interval = "1h";
    let state = setup.cfg.state.clone();
    let mut d = setup.start();
    let first = d.wait_metrics("m0 swept", |s| {
        s.mirror("mirrorwatch_mirror_last_sweep_timestamp_seconds", "m0")
    });
    let (m0, m1) = d.wait_metrics("a later sweep of m0, and m1 swept", |s| {
        let m0 = s.mirror("mirrorwatch_mirror_last_sweep_timestamp_seconds", "m0")?;
        let m1 = s.mirror("mirrorwatch_mirror_last_sweep_timestamp_seconds", "m1")?;
        (m0 > first).then_some((m0 as i64, m1 as i64))
    });
    assert!(
        !state.exists(),
        "saved before shutdown with save_interval 1h"
    );
    d.stop();
    d.wait_log(0, "shut down");

    let saved = read_state(&state);
    assert_eq!(saved["format"], 1, "{saved}");
    let last = |m| saved_last_sweep(&saved, m).unwrap_or_else(|| panic!("{m}: {saved}"));
    assert!(last("m0") >= m0, "saved {} < scraped {m0}", last("m0"));
    assert!(last("m1") >= m1, "saved {} < scraped {m1}", last("m1"));
    let m0_copy = &saved["state"]["mirrors"]["m0"]["families"]["ipv4"]["copies"][DIR];
    assert_eq!(
        m0_copy["seen"]["sha256"],
        new_tree().repomd_sha256(),
        "{saved}"
    );
}

#[test]
fn sigkill_keeps_the_last_periodic_save() {
    let setup = Setup::new(1, &new_tree());
    let mut d = setup.start();
    setup.wait_saved("a periodic save naming m0", "m0");
    d.signal("KILL");
    assert_eq!(d.wait_exit(), None);

    let mut d = setup.start();
    let line = d.wait_log(0, "state restored");
    assert!(line.contains("mirrors=1"), "{line}");
    assert!(d.find_log(0, &["state file unusable"]).is_none());
    d.wait_metrics("m0 restored", |s| s.mirror("mirrorwatch_mirror_up", "m0"));
    d.stop();
}

/// One client that has sent half a request must not keep the daemon from shutting down and
/// saving its state: the drain after SIGTERM is bounded (src/daemon.rs `DRAIN`, 10 s).
#[test]
fn a_half_sent_request_does_not_hold_up_shutdown() {
    use std::io::Write;
    let mut setup = Setup::new(1, &new_tree());
    setup.cfg.save_interval = "1h";
    // A head timeout longer than the drain, so that the drain is what ends the wait (with
    // the default, 10 s, the head timeout and the drain race).
    setup.cfg.serve = "  header_read_timeout: 1m\n";
    let state = setup.cfg.state.clone();
    let mut d = setup.start();
    d.wait_ready();
    // The first request on a new connection stops half-way through its headers. (After a
    // complete request, a half-sent second one does not hold shutdown up: hyper counts the
    // connection as idle.) A complete request on a second connection, accepted after the
    // first, is served before the signal, so the first has been accepted and read by then.
    let mut client = std::net::TcpStream::connect(d.addr).unwrap();
    client
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n")
        .unwrap();
    assert_eq!(d.get("/healthz").0, 200);
    d.signal("TERM");
    assert_eq!(d.wait_exit(), Some(0), "{}", d.logs());
    d.wait_log(0, "connections still open after the drain period");
    d.wait_log(0, "shut down");
    assert!(saved_last_sweep(&read_state(&state), "m0").is_some());
    drop(client);
}

/// The state file at its path is always a whole document ("written atomically"). Saves are
/// spawned and never awaited, and every save of a path uses the same temporary file
/// (`.state.json.tmp-<pid>`): when one save is still running as the next starts (a save
/// slower than `state.save_interval`, or the shutdown save right after a periodic one),
/// both truncate and write that one file, one renames it while the other is still
/// writing, and the other's rename fails. Readers then see an empty or partial file, and
/// a crash at that moment leaves it behind; the next start sets it aside and all history
/// is lost. A very short save interval makes the overlap certain.
#[test]
fn the_state_file_is_never_torn_by_overlapping_saves() {
    let mut setup = Setup::new(1, &new_tree());
    setup.cfg.save_interval = "2ms";
    let state = setup.cfg.state.clone();
    let mut d = setup.start();
    d.wait_ready();
    let deadline = std::time::Instant::now() + binary::DEADLINE;
    let mut reads = 0;
    while reads < 20_000 {
        assert!(std::time::Instant::now() < deadline, "only {reads} reads");
        let Ok(bytes) = std::fs::read(&state) else {
            continue;
        };
        reads += 1;
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            panic!(
                "read {reads}: state file of {} bytes is not JSON: {e}",
                bytes.len()
            );
        }
    }
    d.stop();
    assert!(
        d.find_log(0, &["cannot save state"]).is_none(),
        "{}",
        d.logs()
    );
}

/// A mirror removed from the configuration while the daemon was stopped is forgotten at
/// start, as a reload forgets it (`Records::retain_mirrors` on `Event::Config`); instead
/// its records are restored and saved again at every save, for good.
#[test]
fn a_mirror_removed_while_stopped_leaves_the_state_file() {
    let setup = Setup::new(2, &new_tree());
    let state = setup.cfg.state.clone();
    let mut d = setup.start();
    d.wait_ready();
    d.stop();
    assert!(saved_last_sweep(&read_state(&state), "m1").is_some());

    let mut only_m0 = setup.cfg.clone();
    only_m0.mirrors.truncate(1);
    let mut d = setup.start_with(&only_m0);
    d.wait_ready();
    d.stop();
    let saved = read_state(&state);
    assert!(saved_last_sweep(&saved, "m0").is_some(), "{saved}");
    assert!(
        saved["state"]["mirrors"].get("m1").is_none(),
        "m1 kept: {saved}"
    );
}

/// The verdict JSON of `mirror`'s first repo and the family's last sweep, from the API.
fn api_verdict(d: &Daemon, mirror: &str) -> Option<(serde_json::Value, i64)> {
    let (status, body) = d.get(&format!("/api/v1/mirrors/{mirror}"));
    let body: serde_json::Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
    let family = &body["families"][0];
    Some((
        family["repos"][0]["verdict"].clone(),
        family["last_sweep"].as_i64()?,
    ))
}

#[test]
fn an_estimated_verdict_survives_a_restart_and_a_304() {
    // m1 holds content older than any upstream version the daemon will see: behind,
    // estimated, which needs its <revision>. After a restart its copy is answered with a 304,
    // so the revision can only come from the state file.
    let setup = Setup::new(2, &new_tree());
    setup.net.sync(1, DIR, &old_tree());
    let repomd = format!("{DIR}repodata/repomd.xml");
    let mut d = setup.start();
    d.wait_ready();
    let estimated = |v: &serde_json::Value| v["status"] == "behind" && v["estimated"] == true;
    let (v, _) = wait_until("m1 behind, estimated", || {
        api_verdict(&d, "m1").filter(|(v, _)| estimated(v))
    });
    assert!(v["versions"].is_null(), "{v}");
    wait_until("m1's revision in the state file", || {
        std::fs::read(&setup.cfg.state).ok()?;
        let saved = read_state(&setup.cfg.state);
        let seen = &saved["state"]["mirrors"]["m1"]["families"]["ipv4"]["copies"][DIR]["seen"];
        (seen["revision"] == 1_700_000_000u64).then_some(())
    });
    d.stop();

    let not_modified = || {
        setup
            .net
            .mirror(1)
            .requests_for(&repomd)
            .iter()
            .filter(|r| r.not_modified)
            .count()
    };
    let before = not_modified();
    let restarted = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut d = setup.start();
    d.wait_log(0, "state restored");
    wait_until("a 304 for m1 after the restart", || {
        (not_modified() > before).then_some(())
    });
    let (v, _) = wait_until("m1 swept after the restart", || {
        api_verdict(&d, "m1").filter(|(_, at)| *at >= i64::try_from(restarted).unwrap())
    });
    assert!(estimated(&v), "{v}");
    assert!(
        v["content_age_seconds"].as_u64().unwrap() >= restarted - 1_700_000_000,
        "{v}"
    );
    d.stop();
}
