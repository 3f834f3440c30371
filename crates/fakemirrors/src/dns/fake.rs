//! A real authoritative DNS server on loopback for tests: [`FakeDns`] serves the zone `test.`
//! (RFC 6761 reserves `.test` for testing) over UDP and TCP on one `127.x.y.z:port`, from a
//! table that tests change while the daemon runs, and logs every question.
//!
//! It is the simulator's server ([`DnsServer`]) on a fresh loopback address, with its query
//! log on; see there for what it answers. Every method of `DnsServer` (`set_a`,
//! `remove_aaaa`, `set_servfail`, `queries_for`, …) is available on `FakeDns`.

use std::ops::Deref;

use super::DnsServer;

/// The one zone served.
pub const ZONE: &str = "test.";

/// An authoritative server for `test.` on loopback. Dropping it stops the server.
pub struct FakeDns(DnsServer);

impl FakeDns {
    /// Binds `next_loopback_v4():0` for UDP and the same port for TCP.
    pub async fn start() -> FakeDns {
        let mut last = None;
        for _ in 0..20 {
            match DnsServer::start(crate::next_loopback_v4(), ZONE, true).await {
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
