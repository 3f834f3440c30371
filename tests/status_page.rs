#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The status pages in a real browser: the daemon (in process) watches fake mirrors on
//! loopback — two healthy, one answering 503, one redirecting to a `Location` with a
//! `<script>` element and quotes in it — and Debian's Chromium, headless, loads each page
//! and gives the DOM it built, with JavaScript on and off (see `common/browser.rs`). `tidy` checks that
//! each page is valid HTML. Both are required: `.ci/run` installs them (packages `chromium`
//! and `tidy`).

mod common;

use common::browser;
use common::daemon::Daemon;
use common::{config_for, network};
use fakemirrors::client::fetch_with;
use fakemirrors::Behaviour;

/// What the hostile mirror puts in its `Location`; the failure detail quotes it.
const HOSTILE: &str = "ftp://x.test/<script>alert(\"pwned\")</script>'y";
const NAMES: [&str; 4] = ["alpha", "hostile", "dead", "omega"];

/// A network with the four mirrors of [`NAMES`], watched by a daemon that has swept them.
async fn daemon() -> (fakemirrors::Network, Daemon) {
    let net = network(NAMES.len()).await;
    net.misbehave(1, Behaviour::RedirectTo(HOSTILE.into()));
    net.misbehave(2, Behaviour::Status(503));
    let dir = tempfile::tempdir().unwrap();
    let text = config_for(&net, &NAMES)
        .section("serve:\n  dashboard_url: \"http://127.0.0.1:1/d/mirror?var-mirror={mirror}\"\n")
        .text();
    let daemon = Daemon::start_in(dir, &text).await;
    (net, daemon)
}

/// The DOM of `url` with scripts on, or off.
async fn load(url: String, javascript: bool) -> String {
    tokio::task::spawn_blocking(move || match javascript {
        true => browser::dump_dom(&url),
        false => browser::dom_without_javascript(&url),
    })
    .await
    .unwrap()
}

/// The mirror names of the table's rows, in DOM order.
fn rows(dom: &str) -> Vec<String> {
    let table = dom
        .split_once("id=\"mirror-table\"")
        .expect("no mirror table")
        .1;
    let body = table
        .split_once("<tbody>")
        .unwrap()
        .1
        .split_once("</tbody>")
        .unwrap()
        .0;
    body.split("<a href=\"/mirrors/")
        .skip(1)
        .map(|s| s.split_once('"').unwrap().0.to_string())
        .collect()
}

/// The `<tr>` of `name` in the mirror table.
fn row<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = dom
        .find(&format!("<a href=\"/mirrors/{name}\""))
        .unwrap_or_else(|| panic!("no row for {name}"));
    let end = dom[start..].find("</tr>").unwrap() + start;
    &dom[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_in_a_real_browser() {
    let (_net, daemon) = daemon().await;

    // The overview with JavaScript on: every mirror, the down ones with their reason.
    let dom = load(daemon.url("/"), true).await;
    assert_eq!(rows(&dom), ["alpha", "dead", "hostile", "omega"], "by name");
    for name in NAMES {
        assert!(
            dom.contains(&format!(">{name}</a>")),
            "{name} missing: {dom}"
        );
    }
    let dead = row(&dom, "dead");
    assert!(dead.contains("down"), "{dead}");
    assert!(
        dead.contains("http_status") && dead.contains("HTTP 503"),
        "{dead}"
    );
    let hostile = row(&dom, "hostile");
    assert!(hostile.contains("bad_redirect"), "{hostile}");
    // What the mirror sent is text: escaped in the DOM, and no element was made of it. The
    // only script element is the page's own.
    assert!(
        hostile.contains("&lt;script&gt;alert(\\\"pwned\\\")&lt;/script&gt;'y"),
        "{hostile}"
    );
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
    assert!(!dom.contains("<script>alert"), "{dom}");

    // Sorting in the browser: `#sort=-name` reverses the server's order, by script.
    let sorted = load(daemon.url("/#sort=-name"), true).await;
    let mut reversed = rows(&dom);
    reversed.reverse();
    assert_eq!(rows(&sorted), reversed);
    assert!(sorted.contains("data-sorted-by=\"script\""), "{sorted}");
    let by_state = load(daemon.url("/#sort=state"), true).await;
    assert_eq!(
        &rows(&by_state)[..2],
        ["dead", "hostile"],
        "down ones first"
    );

    // JavaScript off (checked: the same address is not re-sorted): the table is all there,
    // in the server's order, and the server sorts and filters by query.
    let off = load(daemon.url("/#sort=-name"), false).await;
    assert_eq!(rows(&off), rows(&dom));
    assert!(!off.contains("data-sorted-by"), "scripts ran: {off}");
    let server_sorted = load(daemon.url("/?sort=-name"), false).await;
    assert_eq!(rows(&server_sorted), reversed);
    let down = load(daemon.url("/?state=down"), false).await;
    assert_eq!(rows(&down), ["dead", "hostile"]);

    // A mirror's page: why it is out, its failure as text, the links.
    let page = load(daemon.url("/mirrors/hostile"), false).await;
    assert!(page.contains("Not listed for IPv4 clients"), "{page}");
    assert!(page.contains("&lt;script&gt;alert("), "{page}");
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(page.contains("href=\"/api/v1/mirrors/hostile\""), "{page}");
    assert!(
        page.contains("href=\"http://127.0.0.1:1/d/mirror?var-mirror=hostile\""),
        "{page}"
    );
    let good = load(daemon.url("/mirrors/alpha"), true).await;
    assert!(good.contains("Listed for IPv4 clients"), "{good}");
    assert!(good.contains("not declared"), "{good}");
    let missing = load(daemon.url("/mirrors/no-such-mirror"), true).await;
    assert!(missing.contains("No mirror called"), "{missing}");

    // Valid HTML, every page, as served.
    for path in [
        "/",
        "/?sort=-lag&state=down",
        "/mirrors/alpha",
        "/mirrors/hostile",
        "/mirrors/dead",
        "/mirrors/no-such-mirror",
    ] {
        let r = daemon.fetch(path).await;
        let want = if path.contains("no-such") { 404 } else { 200 };
        assert_eq!(r.status, want, "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        browser::tidy(path, &r.text());
    }
}

#[tokio::test]
async fn pages_are_gzipped_and_assets_cached() {
    let (_net, daemon) = daemon().await;
    let plain = daemon.fetch("/").await;
    let gz = fetch_with(&daemon.url("/"), "GET", &[("Accept-Encoding", "gzip")])
        .await
        .unwrap();
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(
        gz.body.len() * 2 < plain.body.len(),
        "{} vs {}",
        gz.body.len(),
        plain.body.len()
    );
    for (path, kind) in [
        ("/static/style.css", "text/css"),
        ("/static/sort.js", "text/javascript"),
    ] {
        let r = daemon.fetch(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
        assert!(
            r.header("cache-control")
                .unwrap()
                .contains("max-age=31536000"),
            "{path}"
        );
    }
    // Counted by route name.
    let metrics = daemon.get("/metrics").await.1;
    assert!(
        metrics.contains("mirrorwatch_http_requests_total{code=\"200\",endpoint=\"page\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mirrorwatch_http_requests_total{code=\"200\",endpoint=\"static\"} 2"),
        "{metrics}"
    );
}
