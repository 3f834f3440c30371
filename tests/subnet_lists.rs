//! Subnet lists published at a URL (`subnets: <URL>`), end to end on loopback: the daemon
//! fetches the list at start and every `serve.subnets_refresh`, and a client inside one of
//! its subnets (named by `X-Forwarded-For` from a trusted proxy on 127.0.0.1) gets that
//! mirror first. A failed fetch (a 500, an oversize list, a server gone) keeps the last good
//! list, and so does a restart without the server; junk lines are skipped and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::lists::ListServer;
use common::{network, DEAD_DNS};
use fakemirrors::client::fetch_with;
use fakemirrors::Network;

/// The mirror publishing its list; `m0` and `m1` list no subnets.
const LOCAL: &str = "m2";

/// Three current mirrors in Germany; `m2`'s subnets are at `list_url`.
fn config(net: &Network, list_url: &str) -> String {
    let mut text = format!(
        "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {{\"9\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\n    - {{name: appstream, path: AppStream/$basearch/os/}}\nmirrors:\n",
        net.upstream.base_url()
    );
    for i in 0..3 {
        text.push_str(&format!(
            "  - name: m{i}\n    address: {{http: \"{}\"}}\n    country: DE\n",
            net.mirror(i).base_url()
        ));
    }
    text.push_str(&format!("    subnets: \"{list_url}\"\n"));
    text.push_str(&format!(
        "probe:\n  dns_servers: [\"{DEAD_DNS}\"]\n  ip_families: [ipv4]\n  interval: 30s\n  timeout: 2s\n  connect_timeout: 1s\nserve:\n  trusted_proxies: [\"127.0.0.1\"]\n  subnets_refresh: 1s\nstate:\n  path: state.json\n"
    ));
    text
}

/// The first mirror URL of the list for a client at `client`.
async fn first_for(d: &Daemon, client: &str) -> String {
    let r = fetch_with(
        &d.url("/mirrorlist/9.8/baseos?arch=x86_64"),
        "GET",
        &[("X-Forwarded-For", client)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().lines().next().unwrap_or_default().to_string()
}

/// Whether every client of `clients` gets `m2` first.
async fn local_first_for_all(d: &Daemon, net: &Network, clients: &[String]) -> bool {
    let local = net.mirror(2).base_url();
    for client in clients {
        if !first_for(d, client).await.starts_with(&local) {
            return false;
        }
    }
    true
}

/// Ten clients in ten different /24s of 10.1.0.0/16: each has its own shuffle, so a mirror
/// first for all of them is first by rule, not by luck (1 in 3^10).
fn clients(prefix: &str) -> Vec<String> {
    (0..10).map(|i| format!("{prefix}.{i}.7")).collect()
}

/// The value of `name{mirror="m2"}` in the daemon's `/metrics`.
async fn metric(d: &Daemon, name: &str) -> Option<f64> {
    let (_, text) = d.get("/metrics").await;
    let prefix = format!("{name}{{mirror=\"{LOCAL}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

/// Waits until `name{mirror="m2"}` is `value`; fails the test after 20 s.
async fn wait_metric(d: &Daemon, name: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = metric(d, name).await;
        if seen == Some(value) {
            return;
        }
        if Instant::now() >= deadline {
            let (_, text) = d.get("/metrics").await;
            let lines: Vec<&str> = text.lines().filter(|l| l.contains("subnet_list")).collect();
            panic!("{name}: {seen:?} rather than {value}\n{}", lines.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SUCCESS: &str = "mirrorwatch_mirror_subnet_list_fetch_success";
const SUBNETS: &str = "mirrorwatch_mirror_subnet_list_subnets";
const SKIPPED: &str = "mirrorwatch_mirror_subnet_list_skipped_lines";
const FETCHED_AT: &str = "mirrorwatch_mirror_subnet_list_success_timestamp_seconds";
const ATTEMPTED_AT: &str = "mirrorwatch_mirror_subnet_list_fetch_timestamp_seconds";

/// Waits until the daemon has folded a fetch that ended after `at` (Unix time).
async fn wait_next_fetch(d: &Daemon, server: &ListServer, at: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(d, ATTEMPTED_AT).await.is_none_or(|t| t <= at) {
        assert!(
            Instant::now() < deadline,
            "no fetch after {at} ({} served)",
            server.hits()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_list_places_clients_and_outlives_failures_and_restarts() {
    let net = network(3).await;
    let server = ListServer::start("# our customers\n10.1.0.0/16\n\n192.0.2.0/24\n").await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(&net, &server.url());
    let mut d = Daemon::start_in(dir, &yaml).await;

    wait_metric(&d, SUBNETS, 2.0).await;
    wait_metric(&d, SUCCESS, 1.0).await;
    assert_eq!(metric(&d, SKIPPED).await, Some(0.0));
    assert!(metric(&d, FETCHED_AT).await.is_some());
    let inside = clients("10.1");
    assert!(local_first_for_all(&d, &net, &inside).await);
    // Outside every subnet, m2 is one of three in the country group: not first for all.
    assert!(!local_first_for_all(&d, &net, &clients("10.9")).await);

    // The server fails: the list is fetched again, fails, and stays in use.
    server.reply(500, "oops\n");
    let at = metric(&d, ATTEMPTED_AT).await.unwrap();
    wait_next_fetch(&d, &server, at).await;
    wait_metric(&d, SUCCESS, 0.0).await;
    assert_eq!(metric(&d, SUBNETS).await, Some(2.0));
    assert!(local_first_for_all(&d, &net, &inside).await);

    // A restart without the server: the saved list is in use before any fetch succeeds.
    let dir = d.dir.take().unwrap();
    drop(d);
    drop(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(dir.path().join("state.subnets.json").is_file());
    let d = Daemon::start_in(dir, &yaml).await;
    assert!(local_first_for_all(&d, &net, &inside).await);
    assert_eq!(metric(&d, SUBNETS).await, Some(2.0));
    wait_metric(&d, SUCCESS, 0.0).await;
    assert!(local_first_for_all(&d, &net, &inside).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_lines_are_skipped_and_counted_and_the_good_ones_used() {
    let net = network(3).await;
    let server = ListServer::start(
        "10.1.0.0/16\nthis is not a cidr\n10.2.0.0/16 # new office\n300.1.2.3/8\n\x1b[2J\n",
    )
    .await;
    let d = Daemon::start(&config(&net, &server.url())).await;
    wait_metric(&d, SUBNETS, 2.0).await;
    wait_metric(&d, SKIPPED, 3.0).await;
    assert_eq!(metric(&d, SUCCESS).await, Some(1.0));
    assert!(local_first_for_all(&d, &net, &clients("10.1")).await);
    assert!(local_first_for_all(&d, &net, &clients("10.2")).await);

    // Nothing but junk is no list (an error page served with 200): the last good one stays.
    server.reply(200, "<html>\n<body>Moved</body>\n</html>\n");
    let at = metric(&d, ATTEMPTED_AT).await.unwrap();
    wait_next_fetch(&d, &server, at).await;
    wait_metric(&d, SUCCESS, 0.0).await;
    assert_eq!(metric(&d, SUBNETS).await, Some(2.0));
    assert!(local_first_for_all(&d, &net, &clients("10.2")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_list_is_rejected_and_the_last_good_one_kept() {
    let net = network(3).await;
    let server = ListServer::start("10.1.0.0/16\n").await;
    let d = Daemon::start(&config(&net, &server.url())).await;
    wait_metric(&d, SUBNETS, 1.0).await;

    // Well over 1 MiB of valid lines.
    let mut big = String::new();
    for i in 0..80_000u32 {
        big.push_str(&format!("10.{}.{}.0/24\n", 2 + i / 256 % 200, i % 256));
    }
    assert!(big.len() > 1 << 20);
    server.reply(200, big);
    let at = metric(&d, ATTEMPTED_AT).await.unwrap();
    wait_next_fetch(&d, &server, at).await;
    wait_metric(&d, SUCCESS, 0.0).await;
    assert_eq!(metric(&d, SUBNETS).await, Some(1.0));
    assert!(local_first_for_all(&d, &net, &clients("10.1")).await);
}
