//! Tests of [`super`] against a tiny DNS responder on a loopback UDP port: A and
//! AAAA asked separately, every lookup a real query (no cache), answers classified.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::{DnsAnswer, DnsConfig, DnsResolver, Family};

const A: u16 = 1;
const AAAA: u16 = 28;

/// Answers `both.test` (A 127.0.0.7, AAAA ::1), `v4only.test` (A only, empty
/// NOERROR for AAAA), `broken.test` (SERVFAIL); anything else is NXDOMAIN.
/// Returns its address and the log of (name, type) queries.
async fn fake_dns() -> (SocketAddr, Arc<Mutex<Vec<(String, u16)>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let (n, peer) = socket.recv_from(&mut buf).await.unwrap();
            let query = &buf[..n];
            // Question: labels from offset 12, then QTYPE and QCLASS.
            let mut i = 12;
            let mut labels = Vec::new();
            while query[i] != 0 {
                let len = query[i] as usize;
                labels.push(String::from_utf8_lossy(&query[i + 1..i + 1 + len]).to_lowercase());
                i += 1 + len;
            }
            let question_end = i + 5;
            let qtype = u16::from_be_bytes([query[i + 1], query[i + 2]]);
            let name = labels.join(".");
            seen.lock().unwrap().push((name.clone(), qtype));
            let rdata: Vec<Vec<u8>> = match (name.as_str(), qtype) {
                ("both.test" | "v4only.test", A) => vec![vec![127, 0, 0, 7]],
                ("both.test", AAAA) => vec![std::net::Ipv6Addr::LOCALHOST.octets().to_vec()],
                _ => vec![],
            };
            let rcode: u8 = match name.as_str() {
                "both.test" | "v4only.test" => 0,
                "broken.test" => 2,
                _ => 3,
            };
            let mut reply = Vec::from(&query[..2]);
            reply.extend([0x81, 0x80 | rcode, 0, 1, 0, rdata.len() as u8, 0, 0, 0, 0]);
            reply.extend(&query[12..question_end]);
            for data in rdata {
                reply.extend([0xc0, 12]);
                reply.extend(qtype.to_be_bytes());
                reply.extend([0, 1, 0, 0, 1, 44, 0, data.len() as u8]);
                reply.extend(data);
            }
            socket.send_to(&reply, peer).await.unwrap();
        }
    });
    (addr, log)
}

fn resolver(server: SocketAddr) -> DnsResolver {
    DnsResolver::new(&DnsConfig {
        name_servers: vec![server],
        timeout: Duration::from_secs(2),
        attempts: std::num::NonZeroUsize::MIN,
    })
    .unwrap()
}

#[tokio::test]
async fn a_and_aaaa_are_separate_timed_queries_never_cached() {
    let (server, log) = fake_dns().await;
    let dns = resolver(server);
    for _ in 0..2 {
        let r = dns.resolve("both.test").await;
        assert_eq!(
            r.v4.answer.addrs(),
            ["127.0.0.7".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(r.v6.answer.addrs(), ["::1".parse::<IpAddr>().unwrap()]);
        assert!(r.v4.elapsed > Duration::ZERO && r.v6.elapsed > Duration::ZERO);
        assert!(!r.literal);
    }
    let mut queries = log.lock().unwrap().clone();
    queries.sort();
    let both = |t| ("both.test".to_string(), t);
    assert_eq!(queries, [both(A), both(A), both(AAAA), both(AAAA)]);
}

#[tokio::test]
async fn answers_are_classified() {
    let (server, _) = fake_dns().await;
    let dns = resolver(server);
    let r = dns.resolve("v4only.test").await;
    assert_eq!(
        r.v4.answer,
        DnsAnswer::Ok(vec!["127.0.0.7".parse().unwrap()])
    );
    assert_eq!(r.v6.answer, DnsAnswer::NoRecords);
    let r = dns.lookup("missing.test", Family::V4).await;
    assert_eq!(r.answer, DnsAnswer::NxDomain);
    let r = dns.lookup("broken.test", Family::V6).await;
    assert!(matches!(r.answer, DnsAnswer::Failed(_)), "{r:?}");
    assert_eq!(r.answer.as_str(), "failed");
}
