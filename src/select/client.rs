//! Who is asking: the client's address (the socket peer, or `X-Forwarded-For` behind a trusted
//! proxy) and what is known about where it is.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::config::geo::Continent;
use crate::config::{Coordinates, IpFamily};

/// The client of one request. Every field but `addr` is optional: without GeoIP databases the
/// handler fills `country` from `country=` alone, and subnets still match on `addr`.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub addr: IpAddr,
    /// ISO 3166-1 alpha-2, any case: from GeoIP or from `country=`.
    pub country: Option<String>,
    /// From GeoIP; when `None` it is derived from `country`.
    pub continent: Option<Continent>,
    /// From a GeoIP ASN database.
    pub asn: Option<u32>,
    pub coordinates: Option<Coordinates>,
}

impl Client {
    /// A client known only by its address.
    pub fn new(addr: IpAddr) -> Client {
        Client {
            addr,
            country: None,
            continent: None,
            asn: None,
            coordinates: None,
        }
    }

    /// The address with an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack
    /// socket reports for IPv4 peers) turned back into IPv4.
    pub fn canonical_addr(&self) -> IpAddr {
        self.addr.to_canonical()
    }

    /// The family whose probes decide what this client can reach.
    pub fn family(&self) -> IpFamily {
        match self.canonical_addr() {
            IpAddr::V4(_) => IpFamily::Ipv4,
            IpAddr::V6(_) => IpFamily::Ipv6,
        }
    }
}

/// The client's address: `peer`, or, when `peer` is a trusted proxy, the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy. `x_forwarded_for` is the values of
/// every such header joined with `,` (what `HeaderMap::get_all` gives, joined).
///
/// Right-most, because each proxy appends the address it saw: entries to the left of the first
/// untrusted one were written by the client itself and can be anything. When every entry is a
/// trusted proxy, the left-most is the best there is. An entry that is not an address (or an
/// empty header) makes the whole header worthless: the peer is used, as without a header.
/// The result is canonical (IPv4-mapped IPv6 becomes IPv4).
pub fn client_addr(peer: IpAddr, x_forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |addr: IpAddr| trusted.iter().any(|net| net.contains(&addr));
    let Some(header) = x_forwarded_for.filter(|_| is_trusted(peer)) else {
        return peer;
    };
    let mut leftmost = None;
    for entry in header.rsplit(',') {
        let Some(addr) = parse_entry(entry) else {
            return peer;
        };
        if !is_trusted(addr) {
            return addr;
        }
        leftmost = Some(addr);
    }
    leftmost.unwrap_or(peer)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:5678`,
/// `[2001:db8::1]:443`) or in brackets (`[2001:db8::1]`), as some proxies write them.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let addr = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<IpAddr>().ok()
        })?;
    Some(addr.to_canonical())
}

/// The bytes that identify the client's network for stickiness: the /24 of an IPv4 address,
/// the /64 of an IPv6 one (one customer's LAN, usually), tagged by family.
pub(super) fn network_key(addr: IpAddr) -> Vec<u8> {
    match addr.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            vec![4, a, b, c]
        }
        IpAddr::V6(v6) => {
            let mut key = vec![6];
            key.extend(v6.octets().into_iter().take(8));
            key
        }
    }
}
