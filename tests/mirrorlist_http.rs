//! The mirror list, metalink and JSON API over real HTTP: the daemon (in process) watches
//! loopback mirrors, and each answer lists exactly the mirrors that are up and current for
//! what was asked; bad requests get 404 or 400 with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::daemon::Daemon;
use fakemirrors::client::fetch;
use fakemirrors::{Network, RepoTree};

const DIR: &str = "9.8/BaseOS/x86_64/os/";

/// The daemon on `net`'s mirrors (m0, m1, …, all in Germany), with a vault for 9.1 and for
/// the sources.
async fn start(net: &Network) -> Daemon {
    let mut text = format!(
        "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  aliases: {{\"9\": \"9.8\"}}\n  arches: {{\"9\": [x86_64, aarch64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\n    - {{name: sources, path: BaseOS/Source/, vault: true}}\n  vault:\n    url: http://vault.example.org/\n    versions: [\"9.1\"]\nmirrors:\n",
        net.upstream.base_url()
    );
    for (i, url) in net.mirror_urls().iter().enumerate() {
        text.push_str(&format!(
            "  - name: m{i}\n    address: {{http: \"{url}\"}}\n    country: DE\n"
        ));
    }
    text.push_str("probe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\n  interval: 30s\n  timeout: 2s\n  connect_timeout: 1s\nstate:\n  path: state.json\n");
    Daemon::start(&text).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_current_mirrors_are_listed() {
    let net = Network::start(4).await;
    let new = RepoTree::new(1_700_003_600, "new");
    for arch in ["x86_64", "aarch64"] {
        net.publish(&format!("9.8/BaseOS/{arch}/os/"), &new);
    }
    net.make_stale(1, DIR, &RepoTree::new(1_700_000_000, "old"));
    net.make_partial(2, DIR, &new);
    net.make_down(3).await;
    let d = start(&net).await;

    let r = fetch(&format!("{}/mirrorlist/9/baseos?arch=x86_64", d.base))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let m0 = net.mirror(0).base_url();
    assert_eq!(r.text(), format!("{m0}9.8/BaseOS/x86_64/os/\n"));

    // No arch: $basearch stays literal, and a mirror must be current for every arch.
    let r = fetch(&format!("{}/mirrorlist/9.8/baseos", d.base))
        .await
        .unwrap();
    assert_eq!(r.text(), format!("{m0}9.8/BaseOS/$basearch/os/\n"));

    // aarch64: m1 and m2 are fine there (their trouble is x86_64 only).
    let r = fetch(&format!("{}/mirrorlist/9/baseos?arch=aarch64", d.base))
        .await
        .unwrap();
    let listed: Vec<String> = r.text().lines().map(str::to_string).collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(!r.text().contains(&net.mirror(3).base_url()));

    // The metalink: upstream hashes, and only the current mirror.
    let r = fetch(&format!("{}/metalink?repo=baseos-9&arch=x86_64", d.base))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/metalink+xml"));
    let xml = r.text();
    assert!(
        xml.contains(&format!(
            "<hash type=\"sha256\">{}</hash>",
            new.repomd_sha256()
        )),
        "{xml}"
    );
    assert!(
        xml.contains("<hash type=\"md5\">") && xml.contains("<hash type=\"sha512\">"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<size>{}</size>", new.repomd_xml().len())),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "preference=\"100\">{m0}9.8/BaseOS/x86_64/os/repodata/repomd.xml</url>"
        )),
        "{xml}"
    );
    assert!(xml.contains("location=\"DE\""), "{xml}");
    assert_eq!(xml.matches("<url ").count(), 1, "{xml}");

    // The API says why m2 is out.
    let r = fetch(&format!("{}/api/v1/mirrors/m2", d.base))
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    let repos = body["families"][0]["repos"].as_array().unwrap();
    let x86 = repos.iter().find(|r| r["arch"] == "x86_64").unwrap();
    assert_eq!(x86["verdict"]["status"], "incomplete", "{x86}");
    assert!(!body["families"][0]["log"].as_array().unwrap().is_empty());
    let r = fetch(&format!("{}/api/v1/mirrors", d.base)).await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(body["mirrors"].as_array().unwrap().len(), 4);
    let r = fetch(&format!("{}/api/v1/upstream", d.base)).await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(body["reachable"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_say_what_is_wrong() {
    let net = Network::start(1).await;
    net.publish(DIR, &RepoTree::new(1_700_000_000, "r"));
    let d = start(&net).await;
    let get = |path: &str| {
        let url = format!("{}{path}", d.base);
        async move { fetch(&url).await.unwrap() }
    };
    // Unknown version: 404 with the valid choices, never another version's list.
    let r = get("/mirrorlist/9.7/baseos").await;
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("# unknown version \"9.7\""),
        "{}",
        r.text()
    );
    assert!(r.text().contains("9.8"));
    let r = get("/mirrorlist/9/nope").await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("# valid repos: baseos"), "{}", r.text());
    for (path, needle) in [
        ("/mirrorlist/9/baseos?arch=sparc", "invalid arch \"sparc\""),
        (
            "/mirrorlist/9/baseos?protocol=gopher",
            "invalid protocol \"gopher\"",
        ),
        (
            "/mirrorlist/9/baseos?country=Germany",
            "invalid country \"Germany\"",
        ),
        ("/metalink?repo=baseos-9", "missing parameter arch="),
    ] {
        let r = get(path).await;
        assert_eq!(r.status, 400, "{path}");
        assert!(r.text().contains(needle), "{path}: {}", r.text());
    }
    let r = get("/metalink?repo=baseos-7&arch=x86_64").await;
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("<!-- unknown repo-version \"baseos-7\""),
        "{}",
        r.text()
    );
    // Vault versions and vault repos answer the vault.
    let r = get("/mirrorlist/9.1/baseos").await;
    assert_eq!(
        r.text(),
        "http://vault.example.org/9.1/BaseOS/$basearch/os/\n"
    );
    let r = get("/mirrorlist/9/sources").await;
    assert_eq!(r.text(), "http://vault.example.org/9.8/BaseOS/Source/\n");
    let r = get("/api/v1/mirrors/nope").await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("no mirror named"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_qualifying_mirror_the_upstream_is_offered() {
    let net = Network::start(1).await;
    let tree = RepoTree::new(1_700_000_000, "r");
    net.publish(DIR, &tree);
    net.make_down(0).await;
    let d = start(&net).await;
    let upstream = net.upstream.base_url();
    let r = fetch(&format!("{}/mirrorlist/9/baseos?arch=x86_64", d.base))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("# no mirror currently qualifies"),
        "{}",
        r.text()
    );
    assert!(r
        .text()
        .contains(&format!("{upstream}9.8/BaseOS/x86_64/os/\n")));
    let r = fetch(&format!("{}/metalink?repo=baseos-9&arch=x86_64", d.base))
        .await
        .unwrap();
    let xml = r.text();
    assert!(
        xml.contains(&format!(
            ">{upstream}9.8/BaseOS/x86_64/os/repodata/repomd.xml</url>"
        )),
        "{xml}"
    );
    assert_eq!(xml.matches("<url ").count(), 1, "{xml}");
}

/// A private mirror is named only to clients on its own networks: in the mirror list, the
/// JSON API and the status pages alike (`serve.show_private_mirrors` shows it to all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_mirror_is_shown_only_to_its_own_network() {
    use fakemirrors::client::fetch_with;
    let net = Network::start(2).await;
    net.publish(DIR, &RepoTree::new(1_700_003_600, "new"));
    let text = format!(
        "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {{\"9\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\nmirrors:\n  - name: public0\n    address: {{http: \"{}\"}}\n  - name: campus\n    address: {{http: \"{}\"}}\n    private: true\n    subnets: [192.0.2.0/24]\nserve:\n  trusted_proxies: [127.0.0.0/8]\nprobe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\n  timeout: 2s\n  connect_timeout: 1s\n",
        net.upstream.base_url(),
        net.mirror(0).base_url(),
        net.mirror(1).base_url(),
    );
    let d = Daemon::start(&text).await;
    let get = |path: &str, from: &'static str| {
        let url = d.url(path);
        async move {
            let r = fetch_with(&url, "GET", &[("X-Forwarded-For", from)])
                .await
                .unwrap();
            (r.status, r.text())
        }
    };
    let (outside, inside) = ("198.51.100.7", "192.0.2.7");
    let campus = net.mirror(1).base_url();
    for from in [outside, inside] {
        let seen = from == inside;
        let (status, list) = get("/mirrorlist/9.8/baseos?arch=x86_64", from).await;
        assert_eq!((status, list.contains(&campus)), (200, seen), "{list}");
        let (status, api) = get("/api/v1/mirrors", from).await;
        assert_eq!(status, 200);
        assert!(api.contains("public0"), "{api}");
        assert_eq!(
            api.contains("campus") || api.contains(&campus),
            seen,
            "{api}"
        );
        let (status, one) = get("/api/v1/mirrors/campus", from).await;
        assert_eq!(status, if seen { 200 } else { 404 }, "{one}");
        assert_eq!(one.contains(&campus), seen, "{one}");
        let (status, page) = get("/", from).await;
        assert_eq!(status, 200);
        assert!(page.contains("public0"), "{page}");
        assert_eq!(page.contains("campus"), seen, "{page}");
        let (status, _) = get("/mirrors/campus", from).await;
        assert_eq!(status, if seen { 200 } else { 404 });
    }
    drop(d);

    let shown = text.replace("serve:\n", "serve:\n  show_private_mirrors: true\n");
    let d = Daemon::start(&shown).await;
    let r = fetch_with(
        &d.url("/api/v1/mirrors/campus"),
        "GET",
        &[("X-Forwarded-For", outside)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}
