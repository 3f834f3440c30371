//! Fake RPM mirrors on this machine, for mirrorwatch's tests and for `mirrorwatch simulate`
//! and `demo`. Everything binds and connects to loopback only (127.0.0.0/8 and `[::1]`).
//!
//! - [`tls`]: a CA (one per process for tests, [`tls::TestCa`]; one per simulation) and its
//!   certificates, valid or deliberately bad ([`TlsMode`]), as rustls configurations.
//! - [`repodata`]: repository metadata as createrepo_c writes it ([`RepoTree`]): repomd.xml
//!   and the gzip'ed files it lists, with their true checksums and sizes.
//! - [`dns`]: an authoritative name server for one zone under `.test` ([`dns::DnsServer`]),
//!   and [`dns::FakeDns`], the same server for tests, on a fresh address with a query log.
//! - [`mirror`]: [`FakeMirror`], a hand-written HTTP/1.1 server (plain or TLS) with an
//!   in-memory file store that misbehaves on command ([`Behaviour`]) and logs requests;
//!   [`Network`], an upstream and N mirrors.
//! - [`client`]: a minimal raw HTTP/1.1 client (plain or TLS), loopback only.
//! - [`xml`]: a strict little XML tree for assertions.
//! - [`sim`]: a simulated AlmaLinux-shaped network (upstream, mirrors, name server, faults
//!   on a clock) with a ground truth, served by hyper.
//!
//! Loopback facts (Linux): all of 127.0.0.0/8 is local on `lo`, so any 127.x.y.z binds
//! without configuration; but a client connecting to one gets source address 127.0.0.1, so
//! the server-side peer IP does not tell which address was dialled. IPv6 has only `::1`:
//! v6 servers share that address and differ by port.
//!
//! The test-side servers ([`mirror`], [`client`], [`dns::FakeDns`], [`tls::TestCa`]) panic
//! when they cannot be set up: a test cannot go on without them. If a test blocks a thread,
//! use `#[tokio::test(flavor = "multi_thread")]` so that the servers, tokio tasks on the
//! test's runtime, keep running.

pub mod client;
pub mod dns;
pub mod mirror;
pub mod repodata;
pub mod sim;
pub mod tls;
pub mod xml;

pub use mirror::behaviour::{Behaviour, PathMatch};
pub use mirror::network::Network;
pub use mirror::{FakeMirror, MirrorOptions, RequestRecord};
pub use repodata::{RepoTree, RepoTreeBuilder};
pub use tls::{TestCa, TlsMode};

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

static NEXT_V4: AtomicU32 = AtomicU32::new(0);

/// A 24-bit start offset derived from the process id (multiplicative hash),
/// so that test binaries running in parallel start far apart.
fn pid_offset() -> u32 {
    std::process::id().wrapping_mul(0x9E37_79B1) >> 8
}

/// A distinct 127.x.y.z per call within this process. Never 127.0.0.1, never
/// an address whose last octet is 0 or 255. Linux routes all of 127.0.0.0/8
/// to `lo`, so binding port 0 on these works without configuration. Sharing one
/// with another process would be harmless: every server binds port 0.
pub fn next_loopback_v4() -> Ipv4Addr {
    let base = pid_offset();
    loop {
        let n = NEXT_V4.fetch_add(1, Ordering::Relaxed);
        let v = base.wrapping_add(n) & 0x00FF_FFFF;
        let [_, x, y, z] = v.to_be_bytes();
        if z == 0 || z == 255 || (x, y, z) == (0, 0, 1) {
            continue;
        }
        return Ipv4Addr::new(127, x, y, z);
    }
}

/// Whether `[::1]` can be bound on this machine (cached). Tests that need IPv6
/// should skip, with a message, when this is false.
pub fn ipv6_loopback_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::net::TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).is_ok()
    })
}
