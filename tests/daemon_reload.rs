//! Reloading the configuration of the real `mirrorwatch serve` binary, probing real loopback
//! mirrors: on SIGHUP and on the file changing (no signal), an added mirror is probed and
//! shows in `/metrics`, a removed one disappears (from `/metrics`, from probing and from the
//! state file); a broken file keeps the last good configuration running and says so in
//! `mirrorwatch_config_last_reload_successful` and the log, until it is fixed; a changed
//! layout is probed on mirrors whose entries did not change. Ignored tests show bugs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::binary;
use std::path::{Path, PathBuf};

use binary::{read_state, wait_until, write_atomic, Cfg, Daemon, Scrape, DIR};
use fakemirrors::{Behaviour, Network, RepoTree};

const APPSTREAM: &str = "9.8/AppStream/x86_64/os/";
const RELOAD_OK: &str = "mirrorwatch_config_last_reload_successful";

/// A runtime, a network of mirrors publishing baseos at `DIR`, and a tempdir holding
/// `mirrors.yaml` and the state file.
struct Setup {
    net: Network,
    _dir: tempfile::TempDir,
    file: PathBuf,
    base: Cfg,
    urls: Vec<String>,
    /// Dropped last: the network's servers run on it.
    _rt: tokio::runtime::Runtime,
}

impl Setup {
    fn new(mirrors: usize) -> Setup {
        let rt = binary::runtime();
        let net = rt.block_on(Network::start(mirrors));
        net.publish(DIR, &RepoTree::new(1_700_000_000, "baseos"));
        let dir = tempfile::tempdir().unwrap();
        Setup {
            file: dir.path().join("mirrors.yaml"),
            base: Cfg::new(&net.upstream.base_url(), &dir.path().join("state.json")),
            urls: net.mirror_urls(),
            net,
            _dir: dir,
            _rt: rt,
        }
    }

    /// The configuration with these mirrors: (name, index into the network).
    fn cfg(&self, mirrors: &[(&str, usize)]) -> Cfg {
        let mut cfg = self.base.clone();
        for &(name, i) in mirrors {
            cfg = cfg.mirror(name, &self.urls[i]);
        }
        cfg
    }

    fn start(&self, mirrors: &[(&str, usize)]) -> Daemon {
        self.cfg(mirrors).write(&self.file);
        let d = Daemon::start(&self.file);
        d.wait_ready();
        d
    }

    fn state(&self) -> &Path {
        &self.base.state
    }

    /// Writes `yaml` to the file the way editors do, sends SIGHUP and waits for the daemon
    /// to log a reload.
    fn reload(&self, d: &mut Daemon, yaml: &str) {
        let mark = d.mark();
        write_atomic(&self.file, yaml.as_bytes());
        d.signal("HUP");
        d.wait_log(mark, "configuration reloaded");
    }
}

fn up(s: &Scrape, mirror: &str) -> bool {
    s.mirror("mirrorwatch_mirror_up", mirror) == Some(1.0)
}

fn last_sweep(s: &Scrape, mirror: &str) -> Option<f64> {
    s.mirror("mirrorwatch_mirror_last_sweep_timestamp_seconds", mirror)
}

/// Wait until `mirror` has been swept `n` more times than in `now`'s scrape (by its
/// last-sweep timestamp, whole seconds, one interval apart).
fn wait_sweeps(d: &Daemon, mirror: &str, n: usize) {
    let mut last = last_sweep(&d.metrics(), mirror).unwrap();
    for _ in 0..n {
        last = d.wait_metrics(&format!("another sweep of {mirror}"), |s| {
            last_sweep(s, mirror).filter(|t| *t > last)
        });
    }
}

#[test]
fn sighup_adds_and_removes_mirrors() {
    let setup = Setup::new(3);
    let mut d = setup.start(&[("m0", 0), ("m1", 1)]);

    // SIGHUP with the file unchanged: a reload of the same configuration.
    let mark = d.mark();
    d.signal("HUP");
    let line = d.wait_log_all(mark, &["configuration reloaded", "trigger=Signal"]);
    assert!(line.contains("mirrors=2"), "{line}");
    assert_eq!(d.metrics().value(RELOAD_OK, &[]), Some(1.0));

    // m1 out, m9 in.
    let mark = d.mark();
    setup.cfg(&[("m0", 0), ("m9", 2)]).write(&setup.file);
    d.signal("HUP");
    d.wait_log_all(mark, &["configuration reloaded", "trigger=Signal"]);
    d.wait_metrics("m9 up and m1 gone", |s| {
        (up(s, "m9") && up(s, "m0") && !s.mentions("m1")).then_some(())
    });
    assert!(!setup.net.mirror(2).requests().is_empty());
    let s = d.metrics();
    s.expect(RELOAD_OK, &[], 1.0);
    s.expect("mirrorwatch_mirrors", &[("state", "up")], 2.0);

    // m1 is no longer probed (m0 meanwhile swept twice) and leaves the state file.
    setup.net.mirror(1).clear_requests();
    wait_sweeps(&d, "m0", 2);
    assert_eq!(setup.net.mirror(1).requests().len(), 0, "m1 still probed");
    wait_until("the state file without m1", || {
        let state = read_state(setup.state());
        let mirrors = state["state"]["mirrors"].as_object()?;
        (mirrors.contains_key("m9") && !mirrors.contains_key("m1")).then_some(())
    });
    d.stop();
}

#[test]
fn a_broken_file_keeps_the_last_good_configuration() {
    let setup = Setup::new(2);
    let good = setup.cfg(&[("m0", 0), ("m1", 1)]);
    let mut d = setup.start(&[("m0", 0), ("m1", 1)]);

    let broken_yaml = good.yaml().replace("mirrors:\n", "mirrors: [\n");
    let unknown_key = good.yaml().replace("    address:", "    adress:");
    for (what, text) in [("invalid YAML", broken_yaml), ("unknown key", unknown_key)] {
        let mark = d.mark();
        write_atomic(&setup.file, text.as_bytes());
        d.signal("HUP");
        d.wait_log(
            mark,
            "reload failed, the previous configuration stays in force",
        );
        // The diagnostic names the file.
        d.wait_log(mark, "mirrors.yaml");
        let failed_at = d.wait_metrics(&format!("{what}: {RELOAD_OK} 0"), |s| {
            (s.value(RELOAD_OK, &[])? == 0.0).then_some(())?;
            last_sweep(s, "m1")
        });
        // The old configuration still runs: both mirrors are probed and served.
        d.wait_metrics(
            &format!("{what}: m0 and m1 swept after the failed reload"),
            |s| {
                let later = last_sweep(s, "m1")? > failed_at && up(s, "m0") && up(s, "m1");
                later.then_some(())
            },
        );
        assert_eq!(d.get("/readyz").0, 200, "{what}");
        // Nothing reloaded after the failure. (Counted from the failure, not from `mark`: the
        // file watcher's reload of the previous fix may be logged just before `mark` and read
        // from the daemon's stderr just after it. Reloads run one at a time, so any success
        // after this failure would have read the broken file.)
        let failed = d
            .log_position(
                mark,
                "reload failed, the previous configuration stays in force",
            )
            .unwrap();
        assert!(
            d.find_log(failed + 1, &["configuration reloaded"])
                .is_none(),
            "{what}"
        );
        assert_eq!(d.metrics().value(RELOAD_OK, &[]), Some(0.0), "{what}");

        // Fixed: back to 1.
        setup.reload(&mut d, &good.yaml());
        d.wait_metrics(&format!("{what} fixed: {RELOAD_OK} 1"), |s| {
            (s.value(RELOAD_OK, &[])? == 1.0).then_some(())
        });
    }
    // The fix may also change something: m1 leaves.
    setup.cfg(&[("m0", 0)]).write(&setup.file);
    d.signal("HUP");
    d.wait_metrics("m1 gone", |s| {
        (!s.mentions("m1") && up(s, "m0")).then_some(())
    });
    d.stop();
}

#[test]
fn a_changed_file_reloads_without_sighup() {
    let setup = Setup::new(2);
    let mut d = setup.start(&[("m0", 0)]);

    // Saved the way editors do (a new file renamed over the old one).
    let mark = d.mark();
    setup.cfg(&[("m0", 0), ("m1", 1)]).write(&setup.file);
    let line = d.wait_log_all(mark, &["configuration reloaded", "trigger=FileChanged"]);
    assert!(line.contains("mirrors=2"), "{line}");
    d.wait_metrics("m1 up", |s| (up(s, "m1") && up(s, "m0")).then_some(()));

    // Written in place (truncate and write).
    let mark = d.mark();
    std::fs::write(&setup.file, setup.cfg(&[("m1", 1)]).yaml()).unwrap();
    let line = d.wait_log_all(mark, &["configuration reloaded", "trigger=FileChanged"]);
    assert!(line.contains("mirrors=1"), "{line}");
    d.wait_metrics("m0 gone", |s| {
        (!s.mentions("m0") && up(s, "m1")).then_some(())
    });
    assert!(d.find_log(0, &["trigger=Signal"]).is_none());
    assert_eq!(d.metrics().value(RELOAD_OK, &[]), Some(1.0));
    d.stop();
}

/// A reload that adds a repository to the layout makes every mirror probe it, even when no
/// mirror entry changed. The repos sit on one line, so that no mirror moves to another line
/// either (a mirror's `origin`, file:line, once made any edit above it restart its task).
#[test]
fn a_reloaded_layout_is_probed_on_existing_mirrors() {
    let setup = Setup::new(1);
    setup
        .net
        .publish(APPSTREAM, &RepoTree::new(1_700_000_000, "appstream"));
    // The repos on one line, so that adding one moves no mirror to another line.
    let one_line = |repos: &str| {
        let text = setup.cfg(&[("m0", 0)]).yaml();
        let block = "  repos:\n    - {name: baseos, path: BaseOS/$basearch/os/}\n";
        assert!(text.contains(block));
        text.replace(block, &format!("  repos: [{repos}]\n"))
    };
    let baseos = "{name: baseos, path: BaseOS/$basearch/os/}";
    write_atomic(&setup.file, one_line(baseos).as_bytes());
    let mut d = Daemon::start(&setup.file);
    d.wait_ready();

    let both = format!("{baseos}, {{name: appstream, path: AppStream/$basearch/os/}}");
    setup.reload(&mut d, &one_line(&both));
    d.wait_metrics("the upstream polled for appstream", |s| {
        let labels = [
            ("version", "9.8"),
            ("repo", "appstream"),
            ("arch", "x86_64"),
        ];
        (s.value("mirrorwatch_upstream_up", &labels)? == 1.0).then_some(())
    });
    let current = [("mirror", "m0"), ("family", "ipv4"), ("verdict", "current")];
    d.wait_metrics("m0 current for both repos", |s| {
        (s.value("mirrorwatch_mirror_repos", &current)? == 2.0).then_some(())
    });
    let asked = setup
        .net
        .mirror(0)
        .requests_for(&format!("/{APPSTREAM}repodata/repomd.xml"));
    assert!(!asked.is_empty(), "m0 never asked for AppStream");
    d.stop();
}

/// Readiness means "the first sweep is done"; a reload that adds a mirror should not take
/// a ready daemon out of service. Today `ready` is recomputed over the new configuration,
/// so /readyz answers 503 until the new mirror's first sweep (spread over up to 10 s, plus
/// its timeout when it does not answer) — on every replica at once, as they all reload
/// the same file.
#[test]
fn readiness_survives_a_reload_that_adds_a_mirror() {
    let setup = Setup::new(2);
    let mut d = setup.start(&[("m0", 0)]);
    setup.reload(&mut d, &setup.cfg(&[("m0", 0), ("m9", 1)]).yaml());
    wait_until("m9 swept, /readyz 200 all along", || {
        assert_eq!(d.get("/readyz").0, 200, "not ready after the reload");
        last_sweep(&d.metrics(), "m9")
    });
    d.stop();
}

/// Probe settings changed by a reload apply to the fetches: the fetcher and its limits
/// (`probe.timeout`, `connect_timeout`, `dns_servers`, `per_host`, `concurrency`, ...) are
/// built once at start (`binary::sweep_context`) and handed to every restarted task.
#[test]
fn a_reloaded_timeout_applies_to_fetches() {
    let setup = Setup::new(1);
    // Answers after 1.5 s: too slow for timeout 1s, in time for 3s.
    setup
        .net
        .mirror(0)
        .set_behaviour(Behaviour::Delay(std::time::Duration::from_millis(1500)));
    let mut d = setup.start(&[("m0", 0)]);
    let timeout = [("mirror", "m0"), ("family", "ipv4"), ("reason", "timeout")];
    d.wait_metrics("m0 timing out", |s| {
        s.value(
            "mirrorwatch_mirror_last_failure_timestamp_seconds",
            &timeout,
        )
    });
    let mut cfg = setup.cfg(&[("m0", 0)]);
    (cfg.interval, cfg.timeout) = ("4s", "3s");
    setup.reload(&mut d, &cfg.yaml());
    let current = [("mirror", "m0"), ("family", "ipv4"), ("verdict", "current")];
    d.wait_metrics("m0 fetched within the new timeout", |s| {
        (s.value("mirrorwatch_mirror_repos", &current)? == 1.0).then_some(())
    });
    d.stop();
}

/// A reload that restarts every task (here: a new `probe.interval`) keeps each file's
/// validators: the restarted task asks the writer for the latest ones, so its first sweep is
/// conditional (304s, no data-file HEADs), not a first sweep all over again.
#[test]
fn a_restarted_task_keeps_its_validators() {
    let setup = Setup::new(1);
    let mut d = setup.start(&[("m0", 0)]);
    wait_sweeps(&d, "m0", 1);
    let mut cfg = setup.cfg(&[("m0", 0)]);
    cfg.interval = "3s";
    let before = setup.net.mirror(0).requests().len();
    setup.reload(&mut d, &cfg.yaml());
    wait_sweeps(&d, "m0", 1);
    let after: Vec<_> = setup.net.mirror(0).requests()[before..].to_vec();
    let repomd = format!("/{DIR}repodata/repomd.xml");
    let gets: Vec<_> = after.iter().filter(|r| r.path == repomd).collect();
    assert!(!gets.is_empty(), "{after:?}");
    assert!(gets.iter().all(|r| r.not_modified), "{gets:?}");
    assert!(after.iter().all(|r| r.method == "GET"), "{after:?}");
    d.stop();
}

/// The upstream poll outlives a reload that changes only the mirror list, and a reload that
/// changes the layout restarts it with the validators it has learnt: either way the
/// upstream's unchanged repomd.xml goes on being asked for conditionally (304s), not read in
/// full as on a first poll.
#[test]
fn the_upstream_poll_keeps_its_validators_across_reloads() {
    let setup = Setup::new(2);
    setup
        .net
        .publish(APPSTREAM, &RepoTree::new(1_700_000_000, "appstream"));
    let mut d = setup.start(&[("m0", 0)]);
    let upstream = &setup.net.upstream;
    let repomd = |dir: &str| format!("/{dir}repodata/repomd.xml");
    // Polls of `dir` at the upstream since the `before`-th request.
    let polls_since = |before: usize, dir: &str| {
        let path = repomd(dir);
        let requests = upstream.requests();
        let polls: Vec<_> = requests[before..]
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect();
        polls
    };
    // Three polls after the reload: at most the first can come from the task before it.
    let three_polls = |before: usize, dir: &str| {
        wait_until(&format!("three polls of {dir} at the upstream"), || {
            let polls = polls_since(before, dir);
            (polls.len() >= 3).then_some(polls)
        })
    };

    // Only the mirror list changes.
    let before = upstream.requests().len();
    setup.reload(&mut d, &setup.cfg(&[("m0", 0), ("m1", 1)]).yaml());
    let polls = three_polls(before, DIR);
    assert!(polls.iter().all(|r| r.not_modified), "{polls:?}");

    // The layout changes: AppStream is new, BaseOS is not.
    let mut cfg = setup.cfg(&[("m0", 0), ("m1", 1)]);
    cfg.repos.push(("appstream", "AppStream/$basearch/os/"));
    let before = upstream.requests().len();
    setup.reload(&mut d, &cfg.yaml());
    let polls = three_polls(before, DIR);
    assert!(polls.iter().all(|r| r.not_modified), "{polls:?}");
    let first = polls_since(before, APPSTREAM);
    assert!(
        first.first().is_some_and(|r| !r.not_modified),
        "AppStream's first poll is read in full: {first:?}"
    );
    d.stop();
}
