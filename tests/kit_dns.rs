#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The fake name server (`fakemirrors::dns::FakeDns`) against the daemon's own resolver:
//! A and AAAA answers, NODATA, NXDOMAIN, SERVFAIL and REFUSED as the prober
//! classifies them, no caching anywhere, the query log, TCP as well as UDP, and
//! a fetch of a fake mirror by host name through it. Loopback only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use fakemirrors::dns::FakeDns;
use fakemirrors::{FakeMirror, MirrorOptions, TlsMode};
use hickory_resolver::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use mirrorwatch::probe::{
    DnsAnswer, DnsConfig, DnsResolver, Family, FetchRequest, Fetcher, FetcherConfig, TrustConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

const NAME: &str = "mirror1.test";
const V4: Ipv4Addr = Ipv4Addr::new(127, 9, 8, 7);
const V6: Ipv6Addr = Ipv6Addr::LOCALHOST;

fn dns_config(dns: &FakeDns) -> DnsConfig {
    DnsConfig {
        name_servers: vec![dns.addr()],
        timeout: Duration::from_secs(2),
        attempts: std::num::NonZeroUsize::MIN,
    }
}

fn resolver(dns: &FakeDns) -> DnsResolver {
    DnsResolver::new(&dns_config(dns)).unwrap()
}

async fn lookup(r: &DnsResolver, name: &str, family: Family) -> DnsAnswer {
    r.lookup(name, family).await.answer
}

/// A server with `NAME` → `V4` and `V6`.
async fn served() -> (FakeDns, DnsResolver) {
    let dns = FakeDns::start().await;
    dns.set_a(NAME, &[V4]);
    dns.set_aaaa(NAME, &[V6]);
    let r = resolver(&dns);
    (dns, r)
}

#[tokio::test]
async fn a_and_aaaa_answers_come_back() {
    let (dns, r) = served().await;
    assert!(dns.addr().ip().is_loopback());
    let res = r.resolve(NAME).await;
    assert!(!res.literal);
    assert_eq!(res.v4.answer, DnsAnswer::Ok(vec![IpAddr::V4(V4)]));
    assert_eq!(res.v6.answer, DnsAnswer::Ok(vec![IpAddr::V6(V6)]));
    assert!(res.v4.elapsed > Duration::ZERO && res.v6.elapsed > Duration::ZERO);

    // Several records, in order; names are case-insensitive, trailing dot optional.
    let more = [V4, Ipv4Addr::new(127, 9, 8, 6)];
    dns.set_a("Mirror2.TEST.", &more);
    let want: Vec<IpAddr> = more.iter().copied().map(IpAddr::V4).collect();
    assert_eq!(
        lookup(&r, "mirror2.test", Family::V4).await,
        DnsAnswer::Ok(want)
    );
}

#[tokio::test]
async fn removing_the_aaaa_leaves_v4_and_gives_no_records_for_v6() {
    let (dns, r) = served().await;
    dns.remove_aaaa(NAME);
    let res = r.resolve(NAME).await;
    assert_eq!(res.v4.answer, DnsAnswer::Ok(vec![IpAddr::V4(V4)]));
    assert_eq!(res.v6.answer, DnsAnswer::NoRecords);

    // A name with only an AAAA record: NODATA for A.
    dns.set_aaaa("v6only.test", &[V6]);
    let res = r.resolve("v6only.test").await;
    assert_eq!(res.v4.answer, DnsAnswer::NoRecords);
    assert_eq!(res.v6.answer, DnsAnswer::Ok(vec![IpAddr::V6(V6)]));
}

#[tokio::test]
async fn removed_and_unknown_names_are_nxdomain_for_both_families() {
    let (dns, r) = served().await;
    dns.remove(NAME);
    let res = r.resolve(NAME).await;
    assert_eq!(
        (res.v4.answer, res.v6.answer),
        (DnsAnswer::NxDomain, DnsAnswer::NxDomain)
    );
    let res = r.resolve("never-there.test").await;
    assert_eq!(
        (res.v4.answer, res.v6.answer),
        (DnsAnswer::NxDomain, DnsAnswer::NxDomain)
    );
}

#[tokio::test]
async fn servfail_is_failed_and_clears_again() {
    let (dns, r) = served().await;
    dns.set_servfail(NAME, true);
    let res = r.resolve(NAME).await;
    for answer in [&res.v4.answer, &res.v6.answer] {
        assert!(matches!(answer, DnsAnswer::Failed(_)), "{answer:?}");
    }
    dns.set_servfail(NAME, false);
    let res = r.resolve(NAME).await;
    assert_eq!(res.v4.answer, DnsAnswer::Ok(vec![IpAddr::V4(V4)]));
    assert_eq!(res.v6.answer, DnsAnswer::Ok(vec![IpAddr::V6(V6)]));
}

#[tokio::test]
async fn names_outside_the_zone_are_refused() {
    let (_dns, r) = served().await;
    let answer = lookup(&r, "mirror1.example", Family::V4).await;
    assert!(matches!(answer, DnsAnswer::Failed(_)), "{answer:?}");
}

#[tokio::test]
async fn every_change_is_seen_on_the_very_next_lookup() {
    let (dns, r) = served().await;
    let steps: [(&dyn Fn(), DnsAnswer); 5] = [
        (&|| (), DnsAnswer::Ok(vec![IpAddr::V4(V4)])),
        (
            &|| dns.set_a(NAME, &[Ipv4Addr::new(127, 1, 2, 3)]),
            DnsAnswer::Ok(vec![IpAddr::V4(Ipv4Addr::new(127, 1, 2, 3))]),
        ),
        (&|| dns.remove(NAME), DnsAnswer::NxDomain),
        (&|| dns.set_aaaa(NAME, &[V6]), DnsAnswer::NoRecords),
        (
            &|| dns.set_a(NAME, &[V4]),
            DnsAnswer::Ok(vec![IpAddr::V4(V4)]),
        ),
    ];
    for (i, (change, want)) in steps.iter().enumerate() {
        change();
        assert_eq!(&lookup(&r, NAME, Family::V4).await, want, "step {i}");
    }
    // Every lookup reached the server: nothing was answered from a cache.
    let a_queries = dns.queries_for(NAME).iter().filter(|t| *t == "A").count();
    assert_eq!(a_queries, steps.len());
}

#[tokio::test]
async fn the_query_log_records_a_and_aaaa() {
    let (dns, r) = served().await;
    assert!(dns.queries().is_empty());
    r.resolve("MIRROR1.test").await;
    let mut log = dns.queries();
    log.sort();
    assert_eq!(
        log,
        vec![
            (NAME.to_string(), "A".to_string()),
            (NAME.to_string(), "AAAA".to_string()),
        ]
    );
    dns.clear_queries();
    assert!(dns.queries().is_empty());
}

/// One query over TCP by hand (the resolver only falls back to TCP on truncation).
#[tokio::test]
async fn tcp_answers_on_the_same_port() {
    let (dns, _r) = served().await;
    let mut msg = Message::new(0x5151, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(
        Name::from_ascii("mirror1.test.").unwrap(),
        RecordType::A,
    ));
    let bytes = msg.to_vec().unwrap();
    let mut conn = tokio::net::TcpStream::connect(dns.addr()).await.unwrap();
    conn.write_all(&u16::try_from(bytes.len()).unwrap().to_be_bytes())
        .await
        .unwrap();
    conn.write_all(&bytes).await.unwrap();
    let len = conn.read_u16().await.unwrap();
    let mut buf = vec![0; usize::from(len)];
    conn.read_exact(&mut buf).await.unwrap();
    let reply = Message::from_vec(&buf).unwrap();
    assert_eq!(reply.metadata.id, 0x5151);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    let got: Vec<_> = reply.answers.iter().map(|r| r.data.clone()).collect();
    assert_eq!(got, vec![RData::A(V4.into())]);
    assert_eq!(reply.answers[0].ttl, 0);
    assert_eq!(dns.queries(), vec![(NAME.to_string(), "A".to_string())]);
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let (dns, _) = served().await;
    let addr = dns.addr();
    // Nothing answers any more: keep the wait for the timeout short.
    let r = DnsResolver::new(&DnsConfig {
        timeout: Duration::from_millis(300),
        ..dns_config(&dns)
    })
    .unwrap();
    drop(dns);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let answer = lookup(&r, NAME, Family::V4).await;
    assert!(matches!(answer, DnsAnswer::Failed(_)), "{answer:?}");
}

/// A fake mirror by host name: resolved through `FakeDns`, fetched pinned to the
/// resolved address, over HTTP and over HTTPS (the name in Host and SNI).
#[tokio::test]
async fn fetcher_fetches_a_mirror_by_name_through_fake_dns() {
    const FILE: &str = "9/BaseOS/x86_64/os/repodata/repomd.xml";
    let dns = FakeDns::start().await;
    let fetcher = Fetcher::new(&FetcherConfig {
        dns: dns_config(&dns),
        trust: TrustConfig {
            system_roots: false,
            extra_ca_pem: vec![fakemirrors::tls::ca_pem().to_string()],
        },
        ..FetcherConfig::default()
    })
    .unwrap();
    for (name, tls) in [
        ("mirror1.test", TlsMode::None),
        ("mirror2.test", TlsMode::Valid),
    ] {
        let m =
            FakeMirror::start(MirrorOptions::default().with_tls(tls).with_host_name(name)).await;
        let body = format!("<repomd>{name}</repomd>\n").into_bytes();
        m.put(FILE, body.clone());
        dns.set_a(
            name,
            &[match m.ip() {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(_) => unreachable!("default mirrors are on 127.x"),
            }],
        );

        let host = Url::parse(&m.host_base_url().unwrap()).unwrap();
        let url = host.join(FILE).unwrap();
        assert_eq!(url.host_str(), Some(name));
        let resolution = fetcher.resolver().resolve(name).await;
        assert_eq!(resolution.v6.answer, DnsAnswer::NoRecords);
        let addr = resolution.v4.answer.addrs()[0];
        assert_eq!(addr, m.ip());

        let out = fetcher.fetch(&FetchRequest::get(&url, addr)).await;
        let response = out
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, body.as_slice())
        );
        assert_eq!(out.final_addr, Some(m.addr()));
        assert_eq!(out.tls.is_some(), tls == TlsMode::Valid);
        let seen = m.requests_for(FILE);
        assert_eq!(seen.len(), 1);
        let want_host = format!("{name}:{}", m.port());
        assert_eq!(seen[0].header("host"), Some(want_host.as_str()));
    }
    assert_eq!(dns.queries_for("mirror1.test").len(), 2, "A and AAAA");
}
