#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Self-tests of the fake mirrors: real sockets, the crate's own raw client, and
//! assertions on bytes, headers, timing and TLS verdicts. This file covers addresses
//! and HTTP behaviour; the TLS and repository parts live in `selftest/`.

#[path = "selftest/repo.rs"]
mod repo_selftest;
#[path = "selftest/tls.rs"]
mod tls_selftest;

use std::collections::HashSet;
use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant, UNIX_EPOCH};

use fakemirrors::client::{fetch, fetch_with, Conn};
use fakemirrors::{Behaviour, FakeMirror, MirrorOptions, PathMatch};

const REPOMD: &str = "9/BaseOS/x86_64/os/repodata/repomd.xml";

async fn mirror_with(path: &str, body: &[u8]) -> FakeMirror {
    let m = FakeMirror::start(MirrorOptions::default()).await;
    m.put(path, body.to_vec());
    m
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn loopback_allocator_gives_distinct_bindable_addresses() {
    let addrs: Vec<_> = (0..300).map(|_| fakemirrors::next_loopback_v4()).collect();
    assert_eq!(addrs.iter().collect::<HashSet<_>>().len(), addrs.len());
    for a in &addrs {
        let [first, x, y, z] = a.octets();
        assert_eq!(first, 127);
        assert!(z != 0 && z != 255 && (x, y, z) != (0, 0, 1), "{a}");
    }
    for a in &addrs[..20] {
        let listener = std::net::TcpListener::bind((*a, 0)).unwrap();
        let local = listener.local_addr().unwrap();
        assert_eq!(local.ip(), *a);
        let client = std::net::TcpStream::connect(local).unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(peer.ip().is_loopback());
    }
}

#[test]
fn http_dates_round_trip() {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(
        fakemirrors::mirror::http::http_date(t),
        "Tue, 14 Nov 2023 22:13:20 GMT"
    );
    assert_eq!(
        fakemirrors::mirror::http::http_date(UNIX_EPOCH),
        "Thu, 01 Jan 1970 00:00:00 GMT"
    );
    for secs in [0, 951_782_400, 1_709_210_096, 4_102_444_799] {
        let t = UNIX_EPOCH + Duration::from_secs(secs);
        let back =
            fakemirrors::mirror::http::parse_http_date(&fakemirrors::mirror::http::http_date(t))
                .unwrap();
        assert_eq!(back, t);
    }
    assert!(
        fakemirrors::mirror::http::parse_http_date("Tuesday, 14-Nov-23 22:13:20 GMT").is_none()
    );
}

#[tokio::test]
async fn get_returns_exact_bytes_and_validators() {
    let body: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let m = mirror_with("pub/file.bin", &body).await;
    assert!(m.base_url().starts_with(&format!("http://{}:", m.ip())));
    let r = fetch(&m.url("pub/file.bin")).await.unwrap();
    assert_eq!((r.status, r.complete), (200, true));
    assert_eq!(r.body, body);
    assert_eq!(r.content_length(), Some(5000));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let etag = r.header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10);
    assert!(
        fakemirrors::mirror::http::parse_http_date(r.header("last-modified").unwrap()).is_some()
    );

    assert_eq!(fetch(&m.url("pub/other.bin")).await.unwrap().status, 404);
    assert!(m.remove("/pub/file.bin"));
    assert_eq!(fetch(&m.url("pub/file.bin")).await.unwrap().status, 404);
    let log = m.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str()),
        ("GET", "/pub/file.bin")
    );
    assert_eq!(log[0].status, Some(200));
    assert_eq!(log[1].status, Some(404));
    assert_eq!(log[0].header("host"), Some(m.addr().to_string().as_str()));
    assert!(log[0].peer.ip().is_loopback());
    assert_eq!(m.connections(), 3);
}

#[tokio::test]
async fn head_and_keep_alive_share_one_connection() {
    let m = mirror_with(REPOMD, b"<repomd/>\n").await;
    let mut c = Conn::connect(m.addr()).await.unwrap();
    let head = c.request("HEAD", &format!("/{REPOMD}"), &[]).await.unwrap();
    assert_eq!((head.status, head.content_length()), (200, Some(10)));
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), Some("text/xml"));
    let get = c.request("GET", &format!("/{REPOMD}"), &[]).await.unwrap();
    assert_eq!(get.body, b"<repomd/>\n");
    assert_eq!(m.connections(), 1);
    assert!(m.requests().iter().all(|r| r.connection == 1));

    // Two pipelined requests in one write, answered in order.
    let req =
        format!("GET /{REPOMD} HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    c.send_raw(req.as_bytes()).await.unwrap();
    assert_eq!(c.read_response(false).await.unwrap().status, 200);
    assert_eq!(c.read_response(false).await.unwrap().status, 404);

    // `Connection: close` is honoured: the server closes after the response.
    let path = format!("/{REPOMD}");
    let last = c.request("GET", &path, &[("Connection", "close")]);
    assert_eq!(last.await.unwrap().header("connection"), Some("close"));
    assert!(c.read_to_end().await.unwrap().is_empty());
    assert_eq!(m.connections(), 1);
    assert_eq!(m.requests().len(), 5);
}

#[tokio::test]
async fn conditional_requests_get_304() {
    let m = FakeMirror::start(MirrorOptions::default()).await;
    let mtime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    m.put_with_mtime(REPOMD, b"<repomd/>".to_vec(), mtime);
    let url = m.url(REPOMD);
    let first = fetch(&url).await.unwrap();
    let etag = first.header("etag").unwrap().to_string();
    assert_eq!(
        first.header("last-modified"),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );

    let r = fetch_with(&url, "GET", &[("If-None-Match", &etag)])
        .await
        .unwrap();
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let weak = format!("\"zzz\", W/{etag}");
    assert_eq!(
        fetch_with(&url, "GET", &[("If-None-Match", &weak)])
            .await
            .unwrap()
            .status,
        304
    );
    let other = fetch_with(&url, "GET", &[("If-None-Match", "\"zzz\"")])
        .await
        .unwrap();
    assert_eq!(
        (other.status, other.body.as_slice()),
        (200, b"<repomd/>".as_slice())
    );

    let ims = [("If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT")];
    assert_eq!(fetch_with(&url, "GET", &ims).await.unwrap().status, 304);
    let older = [("If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT")];
    assert_eq!(fetch_with(&url, "GET", &older).await.unwrap().status, 200);

    // A new revision changes the ETag: the old one no longer matches.
    m.put(REPOMD, b"<repomd>2</repomd>".to_vec());
    let changed = fetch_with(&url, "GET", &[("If-None-Match", &etag)])
        .await
        .unwrap();
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    let flags: Vec<bool> = m.requests().iter().map(|r| r.not_modified).collect();
    assert_eq!(flags, [false, true, true, false, true, false, false]);
}

#[tokio::test]
async fn status_delay_and_path_rules() {
    let m = mirror_with(REPOMD, b"<repomd/>").await;
    m.put("9/other.txt", "x");
    m.set_behaviour_for(PathMatch::suffix("repomd.xml"), Behaviour::Status(500));
    assert_eq!(fetch(&m.url(REPOMD)).await.unwrap().status, 500);
    assert_eq!(fetch(&m.url("9/other.txt")).await.unwrap().status, 200);
    m.set_behaviour_for(PathMatch::prefix("9/"), Behaviour::Status(503));
    assert_eq!(fetch(&m.url(REPOMD)).await.unwrap().status, 503);
    m.set_behaviour(Behaviour::Status(404));
    assert_eq!(fetch(&m.url("9/other.txt")).await.unwrap().status, 404);

    m.set_behaviour(Behaviour::Delay(Duration::from_millis(300)));
    let start = Instant::now();
    let r = fetch(&m.url(REPOMD)).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.body, b"<repomd/>");
    m.reset_behaviour();
    let start = Instant::now();
    assert_eq!(fetch(&m.url(REPOMD)).await.unwrap().status, 200);
    assert!(start.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn black_hole_never_answers() {
    let m = mirror_with(REPOMD, b"<repomd/>").await;
    let short = Duration::from_millis(300);
    m.set_behaviour(Behaviour::BlackHole);
    let mut c = Conn::connect(m.addr()).await.unwrap();
    let path = format!("/{REPOMD}");
    let req = c.request("GET", &path, &[]);
    assert!(tokio::time::timeout(short, req).await.is_err());
    assert_eq!((m.connections(), m.requests().len()), (1, 0));

    // Scoped: other paths answer, the black-holed request is logged unanswered.
    m.reset_behaviour();
    m.put("ok.txt", "ok");
    m.set_behaviour_for(PathMatch::suffix("repomd.xml"), Behaviour::BlackHole);
    assert_eq!(fetch(&m.url("ok.txt")).await.unwrap().status, 200);
    let url = m.url(REPOMD);
    let req = fetch(&url);
    assert!(tokio::time::timeout(short, req).await.is_err());
    assert_eq!(m.requests_for(REPOMD)[0].status, None);
}

#[tokio::test]
async fn body_misbehaviours() {
    let body: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
    let m = mirror_with(REPOMD, &body).await;
    let url = m.url(REPOMD);

    m.set_behaviour(Behaviour::SlowBody {
        bytes_per_sec: 4000,
    });
    let start = Instant::now();
    let r = fetch(&url).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(450),
        "{:?}",
        start.elapsed()
    );
    assert_eq!((r.body.as_slice(), r.complete), (body.as_slice(), true));

    m.set_behaviour(Behaviour::Truncate { keep: 100 });
    let r = fetch(&url).await.unwrap();
    assert_eq!(
        (r.status, r.content_length(), r.complete),
        (200, Some(2000), false)
    );
    assert_eq!(r.body, body[..100]);

    m.set_behaviour(Behaviour::Oversize { bytes: 10 << 20 });
    let r = fetch(&url).await.unwrap();
    assert_eq!(
        (r.status, r.content_length(), r.body.len()),
        (200, Some(10 << 20), 10 << 20)
    );

    m.set_behaviour(Behaviour::Html);
    let r = fetch(&url).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("<html>"));

    m.set_behaviour(Behaviour::InvalidXml);
    let r = fetch(&url).await.unwrap();
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/xml"))
    );
    assert!(r.text().contains("<repomd"));
    let err = fakemirrors::xml::parse(&r.body).unwrap_err();
    assert!(err.contains("revison") || err.contains("unclosed"), "{err}");
}

#[tokio::test]
async fn redirects() {
    let m = mirror_with(REPOMD, b"<repomd/>").await;
    let target = mirror_with(REPOMD, b"<repomd>elsewhere</repomd>").await;
    m.set_behaviour(Behaviour::RedirectLoop);
    let r = fetch(&m.url(REPOMD)).await.unwrap();
    assert_eq!(r.status, 302);
    let next = r.header("location").unwrap().to_string();
    assert_eq!(next, format!("{}?kitloop=1", m.url(REPOMD)));
    let back = fetch(&next).await.unwrap();
    assert_eq!(back.header("location"), Some(m.url(REPOMD).as_str()));

    m.set_behaviour(Behaviour::RedirectTo("http://127.0.0.1:9/elsewhere".into()));
    let r = fetch(&m.url(REPOMD)).await.unwrap();
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("http://127.0.0.1:9/elsewhere"))
    );

    m.set_behaviour(Behaviour::RedirectBase(target.base_url()));
    let r = fetch(&m.url(REPOMD)).await.unwrap();
    assert_eq!(r.header("location"), Some(target.url(REPOMD).as_str()));
    let followed = fetch(r.header("location").unwrap()).await.unwrap();
    assert_eq!(followed.body, b"<repomd>elsewhere</repomd>");
}

#[tokio::test]
async fn close_and_reset() {
    let m = mirror_with(REPOMD, b"<repomd/>").await;
    let path = format!("/{REPOMD}");
    m.set_behaviour(Behaviour::CloseImmediately);
    let mut c = Conn::connect(m.addr()).await.unwrap();
    let err = c.request("GET", &path, &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
    assert_eq!((m.connections(), m.requests().len()), (1, 0));

    m.set_behaviour(Behaviour::Reset);
    let mut c = Conn::connect(m.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = c.request("GET", &path, &[]).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
        ),
        "{err}"
    );

    m.reset_behaviour();
    m.set_behaviour_for(PathMatch::exact(REPOMD), Behaviour::CloseImmediately);
    let err = fetch(&m.url(REPOMD)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    assert_eq!(m.requests_for(REPOMD).len(), 1);
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let m = mirror_with("f", b"x").await;
    let addr = m.addr();
    let mut c = Conn::connect(addr).await.unwrap();
    assert_eq!(c.request("GET", "/f", &[]).await.unwrap().status, 200);
    m.shutdown().await;
    let rest = tokio::time::timeout(Duration::from_secs(2), c.read_to_end())
        .await
        .unwrap();
    assert!(rest.map(|b| b.is_empty()).unwrap_or(true));
    assert_eq!(
        Conn::connect(addr).await.err().unwrap().kind(),
        ErrorKind::ConnectionRefused
    );

    let m = mirror_with("f", b"x").await;
    let addr = m.addr();
    drop(m);
    // Drop aborts the server task; the listener closes once the runtime runs it.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut refused = false;
    while !refused && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        refused =
            Conn::connect(addr).await.err().map(|e| e.kind()) == Some(ErrorKind::ConnectionRefused);
    }
    assert!(refused, "{addr} still accepts after drop");
}
