//! A real authoritative DNS server on loopback for tests: [`FakeDns`] serves the zone `test.`
//! (RFC 6761 reserves `.test` for testing) over UDP and TCP on one `127.x.y.z:port`, from a
//! table that tests change while the daemon runs, and logs every question.
//!
//! It is the crate's own server ([`mirrorwatch::simulate::dns::DnsServer`], which the
//! simulator uses too), on a fresh loopback address; see there for what it answers. Every
//! method of `DnsServer` (`set_a`, `remove_aaaa`, `set_servfail`, `queries_for`, …) is
//! available on `FakeDns`.

use std::ops::Deref;

use mirrorwatch::simulate::dns::DnsServer;

/// The one zone served.
pub const ZONE: &str = "test.";

/// An authoritative server for `test.` on loopback. Dropping it stops the server.
pub struct FakeDns(DnsServer);

impl FakeDns {
    /// Binds `next_loopback_v4():0` for UDP and the same port for TCP.
    pub async fn start() -> FakeDns {
        let mut last = None;
        for _ in 0..20 {
            match DnsServer::start(super::next_loopback_v4(), ZONE, true).await {
                Ok(server) => return FakeDns(server),
                Err(e) => last = Some(e),
            }
        }
        panic!("no loopback address free for the test DNS server: {last:?}");
    }
}

impl Deref for FakeDns {
    type Target = DnsServer;

    fn deref(&self) -> &DnsServer {
        &self.0
    }
}
