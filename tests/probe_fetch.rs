#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The lowest layer of the prober against real loopback servers: one timed fetch
//! (phases, conditional GET, statuses, timeouts, caps, redirects, TLS verdicts,
//! connection reuse) and DNS classification. Only 127.0.0.0/8 and `[::1]` are
//! ever contacted; the resolver is always pointed at a loopback port.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakemirrors::{Behaviour, FakeMirror, MirrorOptions, TlsMode};
use mirrorwatch::probe::{
    DnsAnswer, DnsConfig, DnsResolver, FailureReason, Family, FetchOutcome, FetchRequest, Fetcher,
    FetcherConfig, Limits, Phase, Response, TrustConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

const FILE: &str = "9/BaseOS/x86_64/os/repodata/repomd.xml";
const BODY: &[u8] = b"<?xml version=\"1.0\"?>\n<repomd><revision>1700000000</revision></repomd>\n";

/// DNS pointed at a loopback port where nothing listens: no query ever leaves.
fn loopback_dns() -> DnsConfig {
    DnsConfig {
        name_servers: vec![SocketAddr::from(([127, 0, 0, 1], 1))],
        timeout: Duration::from_millis(500),
        attempts: std::num::NonZeroUsize::MIN,
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(&FetcherConfig {
        dns: loopback_dns(),
        trust: TrustConfig {
            system_roots: false,
            extra_ca_pem: vec![fakemirrors::tls::ca_pem().to_string()],
        },
        ..FetcherConfig::default()
    })
    .unwrap()
}

fn limits(total_ms: u64) -> Limits {
    Limits {
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_millis(total_ms),
        ..Limits::default()
    }
}

async fn mirror(tls: TlsMode) -> FakeMirror {
    let m = FakeMirror::start(MirrorOptions::default().with_tls(tls)).await;
    m.put(FILE, BODY.to_vec());
    m
}

async fn get(f: &Fetcher, m: &FakeMirror, limits: Limits) -> FetchOutcome {
    let url = Url::parse(&m.url(FILE)).unwrap();
    f.fetch(&FetchRequest {
        limits,
        ..FetchRequest::get(&url, m.ip())
    })
    .await
}

fn ok(outcome: &FetchOutcome) -> &Response {
    match &outcome.result {
        Ok(r) => r,
        Err(e) => panic!("expected a response, got {e}"),
    }
}

fn failed(outcome: &FetchOutcome, reason: FailureReason, phase: Phase) {
    let failure = outcome.result.as_ref().expect_err("expected a failure");
    assert_eq!(
        (failure.reason, failure.phase),
        (reason, phase),
        "{failure}"
    );
    assert!(!failure.detail.is_empty());
}

#[tokio::test]
async fn get_200_exact_body_and_all_phases_measured() {
    let m = mirror(TlsMode::None).await;
    let out = get(&fetcher(), &m, Limits::default()).await;
    let r = ok(&out);
    assert_eq!((r.status, r.body.as_slice()), (200, BODY));
    assert_eq!(r.content_length, Some(BODY.len() as u64));
    assert_eq!(r.content_type.as_deref(), Some("text/xml"));
    assert!(r.etag.as_deref().unwrap().starts_with('"'));
    assert!(r.last_modified.as_deref().unwrap().ends_with("GMT"));
    let t = out.timings;
    assert_eq!(t.resolve, Duration::ZERO, "IP literal: no DNS");
    assert_eq!(t.tls, Duration::ZERO, "plain HTTP");
    assert!(t.connect > Duration::ZERO && t.processing > Duration::ZERO);
    assert!(t.transfer > Duration::ZERO);
    assert!(t.total >= t.connect + t.processing + t.transfer);
    assert_eq!(out.final_addr, Some(m.addr()));
    assert!(!out.reused && out.redirects.is_empty() && out.tls.is_none());
    let seen = m.requests_for(FILE);
    assert_eq!(seen.len(), 1);
    // Nothing is decompressed, so nothing compressed may be asked for.
    assert_eq!(seen[0].header("accept-encoding"), Some("identity"));
    assert_eq!(seen[0].header("host"), Some(m.addr().to_string().as_str()));
}

#[tokio::test]
async fn conditional_get_gives_304_without_body_and_head_gives_size() {
    let m = mirror(TlsMode::None).await;
    let f = fetcher();
    let first = get(&f, &m, Limits::default()).await;
    let (etag, modified) = (ok(&first).etag.clone(), ok(&first).last_modified.clone());
    let url = Url::parse(&m.url(FILE)).unwrap();
    let by_etag = FetchRequest {
        if_none_match: etag.as_deref(),
        ..FetchRequest::get(&url, m.ip())
    };
    let by_date = FetchRequest {
        if_modified_since: modified.as_deref(),
        ..FetchRequest::get(&url, m.ip())
    };
    let both = FetchRequest {
        if_none_match: etag.as_deref(),
        if_modified_since: modified.as_deref(),
        ..FetchRequest::get(&url, m.ip())
    };
    for req in [by_etag, by_date, both] {
        let out = f.fetch(&req).await;
        let r = ok(&out);
        assert!(r.is_not_modified(), "{r:?}");
        assert!(r.body.is_empty());
    }
    // With an ETag only If-None-Match is sent (a server ignores If-Modified-Since beside it,
    // RFC 9110 §13.1.3); a Last-Modified alone is sent as If-Modified-Since.
    let seen = m.requests_for(FILE);
    let sent = |i: usize| {
        (
            seen[i].header("if-none-match").map(str::to_string),
            seen[i].header("if-modified-since").map(str::to_string),
        )
    };
    assert_eq!(sent(1), (etag.clone(), None));
    assert_eq!(sent(2), (None, modified.clone()));
    assert_eq!(sent(3), (etag.clone(), None));
    let head = f.fetch(&FetchRequest::head(&url, m.ip())).await;
    let r = ok(&head);
    assert_eq!((r.status, r.content_length), (200, Some(BODY.len() as u64)));
    assert!(r.body.is_empty());
    // HEAD of a file over the cap: its size is announced, nothing is too large.
    m.put(FILE, vec![b'z'; 3 * 1024 * 1024]);
    let head = f.fetch(&FetchRequest::head(&url, m.ip())).await;
    assert_eq!(ok(&head).content_length, Some(3 * 1024 * 1024));
    let methods: Vec<_> = m.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["GET", "GET", "GET", "GET", "HEAD", "HEAD"]);
}

#[tokio::test]
async fn error_statuses_are_responses_for_the_caller_to_judge() {
    let m = mirror(TlsMode::None).await;
    let f = fetcher();
    let missing = Url::parse(&m.url("nothing/here.xml")).unwrap();
    let out = f.fetch(&FetchRequest::get(&missing, m.ip())).await;
    assert_eq!(ok(&out).status, 404);
    assert!(!ok(&out).is_success());
    m.set_behaviour(Behaviour::Status(500));
    let out = get(&f, &m, Limits::default()).await;
    assert_eq!(ok(&out).status, 500);
    assert!(out.failure_reason().is_none());
}

#[tokio::test]
async fn black_hole_times_out_within_total_timeout() {
    for (tls, phase) in [
        (TlsMode::None, Phase::Processing),
        (TlsMode::Valid, Phase::Tls),
    ] {
        let m = mirror(tls).await;
        m.set_behaviour(Behaviour::BlackHole);
        let started = Instant::now();
        let out = get(&fetcher(), &m, limits(800)).await;
        let took = started.elapsed();
        failed(&out, FailureReason::Timeout, phase);
        assert!(took >= Duration::from_millis(790), "{took:?}");
        assert!(took < Duration::from_millis(1300), "{took:?}");
    }
}

#[tokio::test]
async fn slow_body_beyond_total_timeout_times_out_in_transfer() {
    let m = mirror(TlsMode::None).await;
    m.put(FILE, vec![b'x'; 20_000]);
    m.set_behaviour(Behaviour::SlowBody {
        bytes_per_sec: 2_000,
    });
    let started = Instant::now();
    let out = get(&fetcher(), &m, limits(700)).await;
    failed(&out, FailureReason::Timeout, Phase::Transfer);
    assert!(started.elapsed() < Duration::from_millis(1200));
}

#[tokio::test]
async fn truncated_body_and_early_close_are_protocol_failures() {
    let m = mirror(TlsMode::None).await;
    m.set_behaviour(Behaviour::Truncate { keep: 10 });
    failed(
        &get(&fetcher(), &m, Limits::default()).await,
        FailureReason::Protocol,
        Phase::Transfer,
    );
    m.set_behaviour(Behaviour::CloseImmediately);
    let out = get(&fetcher(), &m, Limits::default()).await;
    failed(&out, FailureReason::Protocol, Phase::Processing);
}

#[tokio::test]
async fn oversize_with_content_length_is_too_large() {
    let m = mirror(TlsMode::None).await;
    m.set_behaviour(Behaviour::Oversize {
        bytes: 10 * 1024 * 1024,
    });
    let out = get(&fetcher(), &m, Limits::default()).await;
    failed(&out, FailureReason::TooLarge, Phase::Transfer);
}

/// A server that streams `total` bytes without a `Content-Length` (close-delimited)
/// and counts how many it managed to write before the client went away.
async fn streaming_server(total: u64) -> (SocketAddr, Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind((fakemirrors::next_loopback_v4(), 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let chunk = vec![b'y'; 64 * 1024];
        while counter.load(Ordering::SeqCst) < total {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
            counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    });
    (addr, written, task)
}

#[tokio::test]
async fn body_without_length_stops_at_the_cap() {
    let total = 64 * 1024 * 1024;
    let (addr, written, server) = streaming_server(total).await;
    let url = Url::parse(&format!("http://{addr}/{FILE}")).unwrap();
    let out = fetcher().fetch(&FetchRequest::get(&url, addr.ip())).await;
    failed(&out, FailureReason::TooLarge, Phase::Transfer);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    // Reading stopped just past 1 MiB: the server could not push the rest.
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < total / 2, "server wrote {sent} bytes");
}

/// After a timeout the client closes its connection (no task or socket is left
/// waiting on a silent server): the server reads EOF soon after.
#[tokio::test]
async fn timed_out_connections_are_closed_not_leaked() {
    for head in [
        &b""[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
    ] {
        let listener = tokio::net::TcpListener::bind((fakemirrors::next_loopback_v4(), 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(head).await.unwrap();
            // Nothing more is sent; wait for the client to close.
            while s.read(&mut buf).await.unwrap() > 0 {}
        });
        let url = Url::parse(&format!("http://{addr}/{FILE}")).unwrap();
        let f = fetcher();
        let req = FetchRequest {
            limits: limits(300),
            ..FetchRequest::get(&url, addr.ip())
        };
        let out = f.fetch(&req).await;
        let phase = if head.is_empty() {
            Phase::Processing
        } else {
            Phase::Transfer
        };
        failed(&out, FailureReason::Timeout, phase);
        assert_eq!(f.idle_connections(), 0);
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn redirect_loop_ends_as_too_many_redirects() {
    let m = mirror(TlsMode::None).await;
    m.set_behaviour(Behaviour::RedirectLoop);
    let out = get(&fetcher(), &m, Limits::default()).await;
    failed(&out, FailureReason::TooManyRedirects, Phase::Processing);
    assert_eq!(out.redirects.len(), 3);
    assert_eq!(m.requests().len(), 4);
    assert_eq!(
        m.connections(),
        1,
        "redirects on the same host reuse the connection"
    );
}

#[tokio::test]
async fn redirects_to_other_hosts_and_relative_ones_are_followed_and_recorded() {
    let a = mirror(TlsMode::None).await;
    let b = mirror(TlsMode::None).await;
    b.put(FILE, b"from b".to_vec());
    a.set_behaviour(Behaviour::RedirectBase(b.base_url()));
    let out = get(&fetcher(), &a, Limits::default()).await;
    assert_eq!(ok(&out).body, b"from b");
    assert_eq!(out.final_url.as_str(), b.url(FILE));
    assert_eq!(out.final_addr, Some(b.addr()));
    assert!(out.left_host() && out.redirects[0].off_host);
    assert_eq!(out.redirects[0].status, 302);
    assert_eq!(out.timings.resolve, Duration::ZERO, "IP literal target");

    a.set_behaviour(Behaviour::RedirectTo("../moved.xml".into()));
    a.set_behaviour_for(
        fakemirrors::PathMatch::suffix("moved.xml"),
        Behaviour::Normal,
    );
    let moved = FILE.replace("repodata/repomd.xml", "moved.xml");
    a.put(&moved, b"moved".to_vec());
    let out = get(&fetcher(), &a, Limits::default()).await;
    assert_eq!(ok(&out).body, b"moved");
    assert!(!out.left_host());
    assert_eq!(out.final_url.path(), format!("/{moved}"));
}

#[tokio::test]
async fn redirects_out_of_the_family_or_the_mirrors_scope_are_refused_unfetched() {
    let a = mirror(TlsMode::None).await;
    // Outside loopback, where the mirror is: refused before any connection is tried, so no
    // packet leaves this machine.
    for target in [
        "http://10.0.0.1/x",
        "http://169.254.169.254/latest",
        "http://0.0.0.0/",
    ] {
        a.set_behaviour(Behaviour::RedirectTo(target.into()));
        let out = get(&fetcher(), &a, Limits::default()).await;
        failed(&out, FailureReason::BadRedirect, Phase::Processing);
        let detail = &out.result.as_ref().unwrap_err().detail;
        assert!(detail.contains("refused"), "{detail}");
        assert!(
            out.redirects.is_empty() && out.final_addr.is_none(),
            "{out:?}"
        );
    }
    if !fakemirrors::ipv6_loopback_available() {
        eprintln!("skipping the IPv6 half: [::1] cannot be bound here");
        return;
    }
    // An IPv4 probe sent to an IPv6 server is not an IPv4 answer.
    let v6 = FakeMirror::start(MirrorOptions::default().ipv6()).await;
    v6.put(FILE, BODY.to_vec());
    a.set_behaviour(Behaviour::RedirectBase(v6.base_url()));
    let out = get(&fetcher(), &a, Limits::default()).await;
    failed(&out, FailureReason::BadRedirect, Phase::Processing);
    let detail = &out.result.as_ref().unwrap_err().detail;
    assert!(detail.contains("other IP family"), "{detail}");
    assert!(v6.requests().is_empty(), "the IPv6 server was reached");
}

#[tokio::test]
async fn redirect_to_a_name_that_does_not_resolve_is_dns() {
    let m = mirror(TlsMode::None).await;
    m.set_behaviour(Behaviour::RedirectTo(
        "http://mirror.nothing.invalid/x".into(),
    ));
    let started = Instant::now();
    let out = get(&fetcher(), &m, Limits::default()).await;
    failed(&out, FailureReason::Dns, Phase::Resolve);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(out.final_url.host_str(), Some("mirror.nothing.invalid"));
}

#[tokio::test]
async fn valid_tls_with_the_test_ca_records_leaf_expiry() {
    let m = mirror(TlsMode::Valid).await;
    let out = get(&fetcher(), &m, Limits::default()).await;
    assert_eq!(ok(&out).body, BODY);
    assert!(out.timings.tls > Duration::ZERO);
    // The kit's leaf certificates keep rcgen's default notAfter.
    let expected = rcgen::date_time_ymd(4096, 1, 1).unix_timestamp();
    assert_eq!(out.tls.unwrap().not_after_unix, expected);
}

#[tokio::test]
async fn bad_certificates_are_tls_failures() {
    for mode in [TlsMode::Expired, TlsMode::SelfSigned, TlsMode::WrongHost] {
        let m = mirror(mode).await;
        let out = get(&fetcher(), &m, Limits::default()).await;
        failed(&out, FailureReason::Tls, Phase::Tls);
        assert!(out.tls.is_none());
        assert!(
            m.requests().is_empty(),
            "{mode:?}: no request after a failed handshake"
        );
    }
    // The system roots alone do not trust the kit CA either.
    let f = Fetcher::new(&FetcherConfig {
        dns: loopback_dns(),
        ..FetcherConfig::default()
    });
    if let Ok(f) = f {
        let out = get(&f, &mirror(TlsMode::Valid).await, Limits::default()).await;
        failed(&out, FailureReason::Tls, Phase::Tls);
    }
}

#[tokio::test]
async fn refused_connection_is_connect() {
    let m = mirror(TlsMode::None).await;
    m.go_down().await;
    let out = get(&fetcher(), &m, Limits::default()).await;
    failed(&out, FailureReason::Connect, Phase::Connect);
}

#[tokio::test]
async fn ipv6_loopback_over_http_and_https() {
    if !fakemirrors::ipv6_loopback_available() {
        eprintln!("skipped: [::1] cannot be bound here");
        return;
    }
    for tls in [TlsMode::None, TlsMode::Valid] {
        let m = FakeMirror::start(MirrorOptions::default().ipv6().with_tls(tls)).await;
        m.put(FILE, BODY.to_vec());
        assert!(m.base_url().contains("[::1]"));
        let out = get(&fetcher(), &m, Limits::default()).await;
        assert_eq!(ok(&out).body, BODY, "{tls:?}");
        assert_eq!(
            out.final_addr.unwrap().ip(),
            "::1".parse::<IpAddr>().unwrap()
        );
    }
}

#[tokio::test]
async fn second_fetch_reuses_the_connection_without_connect_or_handshake() {
    let m = mirror(TlsMode::Valid).await;
    let f = fetcher();
    let first = get(&f, &m, Limits::default()).await;
    let second = get(&f, &m, Limits::default()).await;
    assert_eq!(ok(&second).body, BODY);
    assert_eq!(m.connections(), 1);
    assert!(!first.reused && second.reused);
    assert_eq!(
        (second.timings.connect, second.timings.tls),
        (Duration::ZERO, Duration::ZERO)
    );
    assert!(second.timings.processing > Duration::ZERO);
    assert_eq!(
        second.tls, first.tls,
        "expiry still known on a reused connection"
    );
    assert_eq!(f.idle_connections(), 1);
}

#[tokio::test]
async fn connection_closed_by_the_server_is_replaced() {
    let m = mirror(TlsMode::None).await;
    let f = fetcher();
    ok(&get(&f, &m, Limits::default()).await);
    m.go_down().await;
    m.come_up().await;
    let out = get(&f, &m, Limits::default()).await;
    assert_eq!(ok(&out).body, BODY);
    assert!(!out.reused);
    assert_eq!(m.connections(), 2);
}

#[tokio::test]
async fn ip_literals_skip_dns() {
    let dns = DnsResolver::new(&loopback_dns()).unwrap();
    let v4 = dns.resolve("127.3.4.5").await;
    assert!(v4.literal);
    assert_eq!(
        v4.v4.answer,
        DnsAnswer::Ok(vec!["127.3.4.5".parse().unwrap()])
    );
    assert_eq!(v4.v6.answer, DnsAnswer::NoRecords);
    assert_eq!(v4.v4.elapsed + v4.v6.elapsed, Duration::ZERO);
    let v6 = dns.resolve("[::1]").await;
    assert_eq!(
        v6.family(Family::V6).answer.addrs(),
        ["::1".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(v6.family(Family::V4).answer, DnsAnswer::NoRecords);
}

#[tokio::test]
async fn unresolvable_names_fail_quickly_and_are_classified() {
    let dns = DnsResolver::new(&loopback_dns()).unwrap();
    let started = Instant::now();
    // `.invalid` never resolves (RFC 6761); the only name server is a dead loopback port.
    let r = dns.resolve("mirror.nothing.invalid").await;
    for lookup in [&r.v4, &r.v6] {
        assert!(
            matches!(lookup.answer, DnsAnswer::NxDomain | DnsAnswer::Failed(_)),
            "{r:?}"
        );
    }
    // An ordinary name goes to the (dead) name server: no answer, classified as failed.
    let r = dns.resolve("mirror.example.org").await;
    assert!(matches!(r.v4.answer, DnsAnswer::Failed(_)), "{r:?}");
    assert!(matches!(r.v6.answer, DnsAnswer::Failed(_)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!r.literal);
}
