#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hostile mirrors against the whole prober (`daemon::check_once`) on loopback: each kind of
//! misbehaviour is classified with the right family state, verdicts and failure reason, and
//! the healthy mirror probed in the same sweep stays `up` and `current`. Also: black holes do
//! not serialize behind each other, and one sweep of a healthy mirror reuses its connection.
//! Name servers are a `FakeDns` or a dead loopback port: nothing leaves the machine.

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    assert_healthy, by_name, check, config_for, error, family, labels, network, reason, tree, v4,
    verdicts, ConfigText, DIRS,
};
use fakemirrors::dns::FakeDns;
use fakemirrors::{Behaviour, FakeMirror, MirrorOptions, Network, RepoTree, TestCa, TlsMode};
use mirrorwatch::config::IpFamily;
use mirrorwatch::freshness::Verdict;
use mirrorwatch::health::State;
use mirrorwatch::state::Snapshot;

/// "bad" misbehaves this way for every path: it is down, every verdict is an error with
/// `want` as its reason, and "good", swept at the same time, is untouched.
async fn every_file_fails(behaviour: Behaviour, want: &str) {
    let net = network(2).await;
    net.misbehave(0, behaviour);
    let dir = tempfile::tempdir().unwrap();
    let snapshot = check(config_for(&net, &["bad", "good"]).load(dir.path())).await;
    assert!(snapshot.upstream_up(), "{:?}", snapshot.upstream);
    assert_healthy(&snapshot, "good");
    let bad = v4(&snapshot, "bad");
    assert_eq!(bad.state, State::Down, "{bad:?}");
    assert_eq!(reason(&bad).as_deref(), Some(want), "{bad:?}");
    assert_eq!(verdicts(&bad), [error(want), error(want)]);
    assert_eq!(snapshot.mirror("bad").unwrap().state, State::Down);
}

/// One test per misbehaviour that fails every file: name, behaviour, reason.
macro_rules! every_file_fails {
    ($($name:ident: $behaviour:expr => $reason:literal;)*) => {$(
        #[tokio::test]
        async fn $name() {
            every_file_fails($behaviour, $reason).await;
        }
    )*};
}

every_file_fails! {
    black_hole_times_out: Behaviour::BlackHole => "timeout";
    slow_body_times_out: Behaviour::SlowBody { bytes_per_sec: 50 } => "timeout";
    status_500_is_an_http_status_error: Behaviour::Status(500) => "http_status";
    html_instead_of_xml_is_bad_xml: Behaviour::Html => "bad_xml";
    invalid_xml_is_bad_xml: Behaviour::InvalidXml => "bad_xml";
    ten_mib_body_is_too_large: Behaviour::Oversize { bytes: 10 << 20 } => "too_large";
    truncated_body_is_a_protocol_error: Behaviour::Truncate { keep: 100 } => "protocol";
    redirect_loop_is_too_many_redirects: Behaviour::RedirectLoop => "too_many_redirects";
}

/// 404 for everything: every copy is `missing` and the family is down.
async fn all_missing() -> Arc<Snapshot> {
    let net = network(2).await;
    net.misbehave(0, Behaviour::Status(404));
    let dir = tempfile::tempdir().unwrap();
    let snapshot = check(config_for(&net, &["bad", "good"]).load(dir.path())).await;
    assert_healthy(&snapshot, "good");
    let bad = v4(&snapshot, "bad");
    assert_eq!(verdicts(&bad), [Verdict::Missing, Verdict::Missing]);
    assert_eq!(bad.state, State::Down);
    snapshot
}

#[tokio::test]
async fn status_404_is_missing_and_down() {
    all_missing().await;
}

#[tokio::test]
async fn status_404_everywhere_names_its_reason() {
    let snapshot = all_missing().await;
    assert_eq!(
        reason(&v4(&snapshot, "bad")).as_deref(),
        Some("http_status")
    );
}

#[tokio::test]
async fn redirect_to_another_healthy_host_is_followed() {
    let net = network(2).await;
    net.misbehave(0, Behaviour::RedirectBase(net.mirror(1).base_url()));
    let dir = tempfile::tempdir().unwrap();
    let snapshot = check(config_for(&net, &["bad", "good"]).load(dir.path())).await;
    assert_healthy(&snapshot, "bad");
    assert_healthy(&snapshot, "good");
    let redirected = net.mirror(0).requests();
    assert!(!redirected.is_empty() && redirected.iter().all(|r| r.status == Some(302)));
    // The good mirror saw each repomd.xml twice: its own sweep and the redirected one.
    for d in DIRS {
        let gets = net
            .mirror(1)
            .requests_for(&format!("{d}repodata/repomd.xml"));
        assert_eq!(gets.iter().filter(|r| r.method == "GET").count(), 2, "{d}");
    }
}

/// "bad" presents a certificate of `mode`; "good" a valid one from the kit CA, which the
/// configuration trusts through `probe.ca_files`.
async fn tls_refused(mode: TlsMode) {
    let https = |tls| MirrorOptions::default().with_tls(tls);
    let net = Network::start_with(
        MirrorOptions::default(),
        vec![https(mode), https(TlsMode::Valid)],
    )
    .await;
    for d in DIRS {
        net.publish(d, &tree());
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("kit-ca.pem");
    TestCa::get().write_pem(&ca).unwrap();
    let text = config_for(&net, &["bad", "good"]).probe("ca_files", &format!("[{ca:?}]"));
    let snapshot = check(text.load(dir.path())).await;
    assert_healthy(&snapshot, "good");
    let now = mirrorwatch::scheduler::unix_now();
    assert!(v4(&snapshot, "good").tls_not_after.unwrap() > now);
    let bad = v4(&snapshot, "bad");
    assert_eq!(
        (bad.state, reason(&bad).as_deref()),
        (State::Down, Some("tls"))
    );
    assert_eq!(verdicts(&bad), [error("tls"), error("tls")]);
    assert!(net.mirror(0).tls_handshake_failures() >= 1);
    assert!(
        net.mirror(0).requests().is_empty(),
        "no request after a failed handshake"
    );
}

#[tokio::test]
async fn expired_certificate_is_tls() {
    tls_refused(TlsMode::Expired).await;
}

#[tokio::test]
async fn self_signed_certificate_is_tls() {
    tls_refused(TlsMode::SelfSigned).await;
}

#[tokio::test]
async fn wrong_host_certificate_is_tls() {
    tls_refused(TlsMode::WrongHost).await;
}

#[tokio::test]
async fn nxdomain_is_a_dns_failure() {
    let net = network(2).await;
    let dns = FakeDns::start().await;
    dns.set_addrs("bad.test", &[net.mirror(0).ip()]);
    dns.set_addrs("good.test", &[net.mirror(1).ip()]);
    dns.remove("bad.test");
    let dir = tempfile::tempdir().unwrap();
    let text = ConfigText::new(&net.upstream.base_url())
        .mirror("bad", &by_name("bad.test", net.mirror(0)))
        .mirror("good", &by_name("good.test", net.mirror(1)))
        .probe("dns_servers", &format!("[\"{}\"]", dns.addr()));
    let snapshot = check(text.load(dir.path())).await;
    assert_healthy(&snapshot, "good");
    let bad = v4(&snapshot, "bad");
    assert_eq!(
        (bad.state, reason(&bad).as_deref()),
        (State::Down, Some("dns"))
    );
    assert_eq!(verdicts(&bad), [error("dns"), error("dns")]);
    assert!(net.mirror(0).requests().is_empty());
    assert!(dns.queries_for("bad.test").contains(&"A".to_string()));
    assert!(dns.queries_for("good.test").contains(&"A".to_string()));
}

#[tokio::test]
async fn broken_ipv6_is_down_while_ipv4_is_up() {
    if !fakemirrors::ipv6_loopback_available() {
        eprintln!("skipped: [::1] cannot be bound on this machine");
        return;
    }
    let net = network(0).await;
    // "holed": [::1] black-holes on the port where its IPv4 address serves.
    let holed_v6 = FakeMirror::start(MirrorOptions::default().ipv6()).await;
    holed_v6.set_behaviour(Behaviour::BlackHole);
    let holed = FakeMirror::start(MirrorOptions {
        port: holed_v6.port(),
        ..MirrorOptions::default()
    })
    .await;
    // "refused": nothing listens on [::1] at its port.
    let refused = FakeMirror::start(MirrorOptions::default()).await;
    drop(
        std::net::TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, refused.port())))
            .expect("[::1] port free"),
    );
    let good = FakeMirror::start(MirrorOptions::default()).await;
    let dns = FakeDns::start().await;
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    for (name, m) in [("holed", &holed), ("refused", &refused), ("good", &good)] {
        for d in DIRS {
            m.serve_tree(d, &tree());
        }
        dns.set_addrs(&format!("{name}.test"), &[m.ip(), v6]);
    }
    dns.remove_aaaa("good.test");
    let dir = tempfile::tempdir().unwrap();
    let text = ConfigText::new(&net.upstream.base_url())
        .mirror("holed", &by_name("holed.test", &holed))
        .mirror("refused", &by_name("refused.test", &refused))
        .mirror("good", &by_name("good.test", &good))
        .probe("dns_servers", &format!("[\"{}\"]", dns.addr()))
        .probe("ip_families", "[ipv4, ipv6]");
    let snapshot = check(text.load(dir.path())).await;
    assert_healthy(&snapshot, "good");
    for (name, want) in [("holed", "timeout"), ("refused", "connect")] {
        assert_healthy(&snapshot, name);
        let f6 = family(&snapshot, name, IpFamily::Ipv6);
        assert_eq!(
            (f6.state, reason(&f6).as_deref()),
            (State::Down, Some(want))
        );
        assert_eq!(f6.address, Some(v6));
        assert_eq!(verdicts(&f6), [error(want), error(want)]);
        // Serves, but not everyone: the mirror as a whole is degraded.
        assert_eq!(snapshot.mirror(name).unwrap().state, State::Degraded);
    }
}

#[tokio::test]
async fn a_name_without_aaaa_has_no_ipv6_family() {
    let net = network(1).await;
    let dns = FakeDns::start().await;
    dns.set_addrs("v4only.test", &[net.mirror(0).ip()]);
    let dir = tempfile::tempdir().unwrap();
    let text = ConfigText::new(&net.upstream.base_url())
        .mirror("v4only", &by_name("v4only.test", net.mirror(0)))
        .probe("dns_servers", &format!("[\"{}\"]", dns.addr()))
        .probe("ip_families", "[ipv4, ipv6]");
    let snapshot = check(text.load(dir.path())).await;
    assert_healthy(&snapshot, "v4only");
    let mirror = snapshot.mirror("v4only").unwrap();
    assert!(mirror.family(IpFamily::Ipv6).is_none(), "{mirror:?}");
    assert_eq!(mirror.state, State::Up);
    assert!(snapshot.ready, "an absent family counts as swept");
    assert!(dns.queries_for("v4only.test").contains(&"AAAA".to_string()));
}

#[tokio::test]
async fn partial_sync_is_incomplete() {
    let net = network(2).await;
    let removed = net.make_partial(0, DIRS[0], &tree());
    let dir = tempfile::tempdir().unwrap();
    let snapshot = check(config_for(&net, &["bad", "good"]).load(dir.path())).await;
    assert_healthy(&snapshot, "good");
    let bad = v4(&snapshot, "bad");
    let primary = tree().href("primary").unwrap().to_string();
    let incomplete = Verdict::Incomplete {
        missing: [primary].into(),
    };
    assert_eq!(verdicts(&bad), [incomplete, Verdict::Current]);
    // Every repomd.xml answered: reachability is fine, the verdict carries the partial sync.
    assert_eq!(bad.state, State::Up);
    let heads = net.mirror(0).requests_for(&removed);
    assert!(heads
        .iter()
        .any(|r| r.method == "HEAD" && r.status == Some(404)));
}

#[tokio::test]
async fn content_never_seen_upstream_is_estimated_behind_or_unknown() {
    let net = network(3).await;
    let base = tree().revision();
    net.sync(0, DIRS[0], &RepoTree::new(base - 3600, "elsewhere"));
    net.sync(1, DIRS[0], &RepoTree::new(base + 3600, "elsewhere"));
    let dir = tempfile::tempdir().unwrap();
    let text = config_for(&net, &["older", "newer", "good"]);
    let snapshot = check(text.load(dir.path())).await;
    assert_healthy(&snapshot, "good");
    let older = v4(&snapshot, "older");
    match &older.repos[0].verdict {
        // Older by revision and timestamps than the only upstream version seen: behind,
        // estimated. The lag is the lower bound (since upstream's data timestamp), the content
        // age an hour more.
        Verdict::Behind {
            versions: None,
            lag_seconds,
            estimated: true,
            content_age_seconds: Some(age),
        } => {
            let now = snapshot.generated_at;
            let since = u64::try_from(now - i64::try_from(base).unwrap()).unwrap();
            assert!(
                (since.saturating_sub(60)..=since).contains(lag_seconds),
                "{lag_seconds}"
            );
            assert_eq!(u64::from(*age), lag_seconds + 3600);
        }
        other => panic!("older: {other:?}"),
    }
    let newer = v4(&snapshot, "newer");
    let unknown_newer = Verdict::Unknown {
        newer: true,
        lag_seconds: None,
    };
    assert_eq!(verdicts(&newer), [unknown_newer, Verdict::Current]);
    assert_eq!((older.state, newer.state), (State::Up, State::Up));
}

#[tokio::test]
async fn upstream_down_leaves_mirrors_up_and_unknown_never_stale() {
    let net = network(2).await;
    net.upstream.go_down().await;
    let dir = tempfile::tempdir().unwrap();
    let snapshot = check(config_for(&net, &["m0", "m1"]).load(dir.path())).await;
    assert!(!snapshot.upstream_up());
    assert!(snapshot
        .upstream
        .iter()
        .all(|u| !u.up && u.last_error.is_some() && u.current.is_none()));
    let unknown = Verdict::Unknown {
        newer: false,
        lag_seconds: None,
    };
    for name in ["m0", "m1"] {
        let f = v4(&snapshot, name);
        assert_eq!(f.state, State::Up);
        assert_eq!(verdicts(&f), [unknown.clone(), unknown.clone()]);
        assert_eq!(
            f.stale(Duration::ZERO),
            0,
            "never stale for want of an upstream"
        );
        assert!(!labels(&f).contains(&"behind"));
    }
}

#[tokio::test]
async fn a_mirror_missing_one_repo_is_degraded_at_once() {
    let net = network(2).await;
    net.mirror(0).clear_prefix(DIRS[1]);
    let dir = tempfile::tempdir().unwrap();
    let snapshot = check(config_for(&net, &["bad", "good"]).load(dir.path())).await;
    assert_healthy(&snapshot, "good");
    let bad = v4(&snapshot, "bad");
    assert_eq!(verdicts(&bad), [Verdict::Current, Verdict::Missing]);
    // A first sweep decides at once (health.rs): Partial from Unknown is Degraded.
    assert_eq!(bad.state, State::Degraded);
    assert_eq!(snapshot.mirror("bad").unwrap().state, State::Degraded);
}

#[tokio::test]
async fn black_holes_do_not_delay_healthy_mirrors() {
    let net = network(10).await;
    let holes = [1, 4, 7];
    for i in holes {
        net.misbehave(i, Behaviour::BlackHole);
    }
    let names: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&net, &refs).load(dir.path());
    let timeout = config.probe.timeout;
    let done = Mutex::new(Vec::new());
    let started = Instant::now();
    let snapshot = mirrorwatch::daemon::check_once(config, |_, _| {
        done.lock().unwrap().push(started.elapsed());
    })
    .await
    .unwrap();
    let total = started.elapsed();
    let done = done.into_inner().unwrap();
    eprintln!("sweeps finished at {done:?}; check_once took {total:?}");
    for (i, name) in names.iter().enumerate() {
        if holes.contains(&i) {
            let f = v4(&snapshot, name);
            assert_eq!(
                (f.state, reason(&f).as_deref()),
                (State::Down, Some("timeout"))
            );
        } else {
            assert_healthy(&snapshot, name);
        }
    }
    // The seven healthy sweeps were done before the first timeout ran out...
    assert_eq!(done.len(), 10);
    assert!(done[6] < timeout, "healthy sweeps waited: {done:?}");
    // ...and the black holes timed out side by side, not one after another.
    assert!(total < timeout * 2 + Duration::from_secs(3), "{total:?}");
}

#[tokio::test]
async fn one_sweep_of_a_healthy_mirror_reuses_its_connection() {
    let net = Network::start(1).await;
    let arches = ["x86_64", "aarch64"];
    for repo in ["BaseOS", "AppStream"] {
        for arch in arches {
            net.publish(&format!("9.8/{repo}/{arch}/os/"), &tree());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let text = config_for(&net, &["m0"]).arches("[x86_64, aarch64]");
    let mirror = net.mirror(0);
    for per_host in [1, 2] {
        let (before, seen) = (mirror.connections(), mirror.requests().len());
        let config = text
            .clone()
            .probe("per_host", &per_host.to_string())
            .load(dir.path());
        let snapshot = check(config).await;
        assert_healthy(&snapshot, "m0");
        assert_eq!(v4(&snapshot, "m0").repos.len(), 4);
        // 4 repomd.xml GETs and a HEAD for each of their 3 data files.
        let requests = &mirror.requests()[seen..];
        assert_eq!(requests.len(), 16, "{requests:?}");
        let opened = mirror.connections() - before;
        if per_host == 1 {
            assert_eq!(opened, 1, "one connection carries the whole sweep");
        } else {
            assert!((1..=per_host).contains(&opened), "{opened} connections");
        }
    }
}

/// A mirror whose Kitten tree is on another host name (as `almalinux-kitten.osuosl.org` beside
/// `cvo.almalinux.osuosl.org` in AlmaLinux's list) has those files fetched from that host's
/// own address, not from the main host's.
#[tokio::test]
async fn a_module_tree_on_its_own_host_is_fetched_there() {
    const MAIN: &str = "10.0/BaseOS/x86_64/os/";
    const KITTEN: &str = "10-kitten/BaseOS/x86_64/os/";
    let net = Network::start(2).await;
    let (main, kitten) = (net.mirror(0), net.mirror(1));
    net.upstream.serve_tree(MAIN, &tree());
    net.upstream.serve_tree(KITTEN, &tree());
    main.serve_tree(MAIN, &tree());
    kitten.serve_tree(KITTEN, &tree());
    let dns = FakeDns::start().await;
    dns.set_addrs("main.test", &[main.ip()]);
    dns.set_addrs("kitten.test", &[kitten.ip()]);
    let upstream = net.upstream.base_url();
    let text = format!(
        "upstream:\n  urls: [\"{upstream}\"]\n  modules: {{kitten: [\"{upstream}\"]}}\n\
         layout:\n  versions: [\"10.0\"]\n  arches: {{\"10\": [x86_64], \"10-kitten\": [x86_64]}}\n  \
         modules: {{kitten: [\"10\"]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\n\
         mirrors:\n  - name: split\n    address: {{http: \"{}\"}}\n    \
         address_optional: {{kitten: {{http: \"{}\"}}}}\n\
         probe:\n  dns_servers: [\"{}\"]\n  ip_families: [ipv4]\n  timeout: 2s\n  connect_timeout: 1s\n\
         state:\n  path: state.json\n",
        by_name("main.test", main),
        by_name("kitten.test", kitten),
        dns.addr()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mirrors.yaml");
    std::fs::write(&file, &text).unwrap();
    let config = match mirrorwatch::config::load(&file) {
        Ok(loaded) => Arc::new(loaded.config),
        Err(e) => panic!("{e}\n---\n{text}"),
    };
    let snapshot = check(config).await;
    let split = v4(&snapshot, "split");
    assert_eq!(split.state, State::Up, "{split:?}");
    assert_eq!(verdicts(&split), [Verdict::Current, Verdict::Current]);
    let paths =
        |m: &FakeMirror| -> Vec<String> { m.requests().into_iter().map(|r| r.path).collect() };
    let kitten_file = format!("/{KITTEN}repodata/repomd.xml");
    assert!(paths(kitten).contains(&kitten_file), "{:?}", paths(kitten));
    assert!(!paths(main).iter().any(|p| p.starts_with("/10-kitten/")));
    assert!(dns.queries_for("kitten.test").contains(&"A".to_string()));

    // The Kitten host stops resolving: only its files fail, with the name in the reason.
    dns.remove("kitten.test");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mirrors.yaml");
    std::fs::write(&file, &text).unwrap();
    let snapshot = check(Arc::new(mirrorwatch::config::load(&file).unwrap().config)).await;
    let split = v4(&snapshot, "split");
    assert_eq!(verdicts(&split), [Verdict::Current, error("dns")]);
}

/// A host that keeps timing out is given up for the rest of the sweep: three timeouts in a
/// row, then its other files are `skipped`. A skip is no evidence either way: the copy seen
/// before is kept (and comes back with the next 304), and the verdict says `skipped`, not
/// a timeout that never happened. Without this, a drip-feeding or black-holed mirror cost
/// one timeout per file, every sweep; the healthy mirror beside them is untouched.
#[tokio::test]
async fn hosts_that_keep_timing_out_are_given_up_for_the_rest_of_the_sweep() {
    let net = network(3).await;
    for arch in ["aarch64", "ppc64le", "s390x"] {
        for repo in ["BaseOS", "AppStream"] {
            net.publish(&format!("9.8/{repo}/{arch}/os/"), &tree());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&net, &["hole", "good", "drip"])
        .arches("[x86_64, aarch64, ppc64le, s390x]")
        .probe("per_host", "1")
        .probe("timeout", "1s")
        .load(dir.path());
    let mut engine = common::Engine::new(config, 100);
    engine.poll(100).await;
    for name in ["hole", "good"] {
        engine.sweep(name, 200).await;
        assert_healthy(&engine.snapshot(200), name);
    }
    // "drip" is swept for the first time while it drip-feeds its bodies; "hole", known
    // since the last sweep, stops answering at all.
    net.misbehave(0, Behaviour::BlackHole);
    net.misbehave(2, Behaviour::SlowBody { bytes_per_sec: 50 });
    let mut want = vec![error("timeout"); 3];
    want.extend(vec![error("skipped"); 5]);
    for (i, name) in [(0, "hole"), (2, "drip")] {
        let requests_before = net.mirror(i).requests().len();
        let report = engine.sweep(name, 300).await;
        let kinds: Vec<&str> = report.files.iter().map(|f| f.result.kind()).collect();
        assert_eq!(&kinds[..3], ["failed"; 3], "{name}: {kinds:?}");
        assert_eq!(&kinds[3..], ["skipped"; 5], "{name}: {kinds:?}");
        // Three requests, no more (a black hole never reads one, so records none).
        let requests = net.mirror(i).requests().len() - requests_before;
        assert_eq!(requests, if name == "drip" { 3 } else { 0 }, "{name}");
        let f = v4(&engine.snapshot(300), name);
        let log = f.log.last().unwrap();
        assert_eq!((log.files_ok, log.files_failed), (0, 3), "{name}: {log:?}");
        assert_eq!(reason(&f).as_deref(), Some("timeout"), "{name}");
        assert_eq!(verdicts(&f), want, "{name}");
    }
    // What "hole" showed before is kept, not overwritten: its copies are as of t=200.
    let records = engine.writer.records();
    let family = records.mirrors["hole"]
        .families
        .get(&IpFamily::Ipv4)
        .unwrap();
    assert!(family
        .copies
        .iter()
        .all(|(_, c)| c.at == 200 || c.at == 300));
    assert_eq!(family.copies.iter().filter(|(_, c)| c.at == 200).count(), 5);
    engine.sweep("good", 300).await;
    assert_healthy(&engine.snapshot(300), "good");

    // The host answers again: 304s bring back what was seen before the skip.
    net.mirror(0).reset_behaviour();
    engine.sweep("hole", 400).await;
    let f = v4(&engine.snapshot(400), "hole");
    assert_eq!(verdicts(&f), vec![Verdict::Current; 8], "{f:?}");
}

/// A resolver that never answers holds lookups, not the sweep slots: 500 mirrors whose
/// names never resolve, beside 10 given by address. The ten are swept on schedule, and
/// every mirror's first sweep ends within the bound documented for `probe.concurrency`:
/// the first sweeps' spread (at most 10 s) plus ⌈500 / 128 lookup slots⌉ × 1 s of lookup
/// time (two attempts of `connect_timeout`), 14 s here; the test allows twice that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_resolver_does_not_starve_mirrors_given_by_address() {
    // A name server that reads nothing and answers nothing: every lookup times out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let net = network(10).await;
    let mut text = format!(
        "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {{\"9\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\n    - {{name: appstream, path: AppStream/$basearch/os/}}\nmirrors:\n",
        net.upstream.base_url()
    );
    for i in 0..10 {
        text.push_str(&common::mirror_entry(
            &format!("ok{i}"),
            &net.mirror(i).base_url(),
        ));
    }
    for i in 0..500 {
        text.push_str(&common::mirror_entry(
            &format!("dead{i}"),
            &format!("http://m{i}.never-answers.test/"),
        ));
    }
    text.push_str(&format!(
        "probe:\n  dns_servers: [\"{silent_addr}\"]\n  ip_families: [ipv4]\n  interval: 5s\n  timeout: 2s\n  connect_timeout: 500ms\n  concurrency: 64\nstate:\n  path: state.json\n"
    ));
    let d = common::daemon::Daemon::spawn(&text).await;
    d.wait_ready(Duration::from_secs(28)).await;
    let last_sweeps = |body: &str| -> Vec<i64> {
        let all: serde_json::Value = serde_json::from_str(body).unwrap();
        let mirrors = all["mirrors"].as_array().unwrap();
        let ok = mirrors
            .iter()
            .filter(|m| m["name"].as_str().unwrap().starts_with("ok"));
        ok.map(|m| m["families"][0]["last_sweep"].as_i64().unwrap())
            .collect()
    };
    let (_, body) = d.get("/api/v1/mirrors").await;
    let before = last_sweeps(&body);
    assert_eq!(before.len(), 10);
    let (_, one) = d.get("/api/v1/mirrors/dead7").await;
    assert!(one.contains("\"down\"") || one.contains("dns"), "{one}");
    // Two intervals later, every mirror given by address has been swept again.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (_, body) = d.get("/api/v1/mirrors").await;
    let after = last_sweeps(&body);
    for (b, a) in before.iter().zip(&after) {
        assert!(
            a > b,
            "a mirror given by address was not swept again: {before:?} {after:?}"
        );
    }
    drop(silent);
}
