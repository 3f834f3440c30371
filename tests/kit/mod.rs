//! Loopback test kit shared by the integration tests: fake RPM mirrors that are
//! real HTTP(S) servers on distinct loopback addresses, serving realistic
//! `repodata/` trees and misbehaving on command.
//!
//! Use it from an integration test file with `mod kit;`. Everything binds and
//! connects to loopback only (127.0.0.0/8 and `[::1]`).
//!
//! # Public API
//!
//! Addresses (this module):
//! - `next_loopback_v4() -> Ipv4Addr`: a distinct `127.x.y.z` per call (never
//!   127.0.0.1, never a last octet of 0 or 255); the start is derived from the
//!   process id so parallel test binaries rarely share one. Sharing would be
//!   harmless anyway: every server binds port 0.
//! - `ipv6_loopback_available() -> bool`: whether `[::1]` can be bound here.
//!
//! Servers (`server`, `conn`, `behaviour`):
//! - `FakeMirror::start(MirrorOptions) -> FakeMirror` (async). `MirrorOptions`
//!   picks the IP (`::default()` = next v4 loopback, `.ipv6()` = `[::1]`,
//!   `.with_ip(ip)`), `.with_tls(TlsMode)` and `.with_host_name(name)`.
//! - `FakeMirror`: `addr()`, `ip()`, `port()`, `base_url()` (`http://127.3.4.5:41234/`
//!   or `https://…`, always by IP), `host_base_url()` (by host name, if any),
//!   `url(path)`; files: `put(path, bytes)`, `put_with_mtime(path, bytes, t)`,
//!   `remove(path) -> bool`, `clear_prefix(prefix)`, `serve_tree(prefix, &RepoTree)`,
//!   `serve_tree_without(prefix, &RepoTree, data_type) -> String` (the partial-sync
//!   case: returns the removed path); behaviour: `set_behaviour(Behaviour)`
//!   (all paths, clears rules), `set_behaviour_for(PathMatch, Behaviour)` (newest
//!   matching rule wins), `reset_behaviour()`; observation: `requests() ->
//!   Vec<RequestRecord>`, `requests_for(path)`, `clear_requests()`, `connections()`
//!   (TCP connections accepted), `tls_handshake_failures()`; lifecycle:
//!   `go_down()` (async: listener closed, connections refused), `come_up()` (async:
//!   same address again), `shutdown()` (async); dropping it also stops everything.
//! - `Behaviour`: `Normal`, `Status(u16)`, `Delay(Duration)`, `BlackHole`,
//!   `SlowBody { bytes_per_sec }`, `Truncate { keep }`, `Oversize { bytes }`, `Html`,
//!   `InvalidXml`, `RedirectLoop`, `RedirectTo(url)`, `RedirectBase(base)`,
//!   `CloseImmediately`, `Reset`. `PathMatch`: `Any`, `Exact`, `Prefix`, `Suffix`.
//!
//! Paths are matched exactly as sent: no percent-decoding and no merging of
//! `//` (a real nginx would merge them), so URL-joining bugs show up as 404s;
//! the request log shows the exact path. A missing file is a 404.
//!
//! Repositories (`repo`, contents in `metadata`): `RepoTree::new(revision, label)`
//! or `RepoTree::builder(revision, label).updateinfo().group().modules().packages(n).build()`;
//! `files()` (repomd.xml first), `repomd_xml()`, `repomd_sha256()`, `data_files()`
//! (href, size), `data_records()`, `href(type)`, `revision()`, `label()`,
//! `packages()`, `package_names()`; `repo::sha256_hex(bytes)`.
//!
//! Networks (`network`): `Network::start(n)` / `Network::start_with(up, mirrors)`
//! (fields `upstream`, `mirrors`), `mirror(i)`, `mirror_urls()`, `publish`,
//! `publish_upstream`, `sync`, `make_stale`, `make_partial`, `make_down`,
//! `bring_up`, `misbehave`.
//!
//! TLS (`tls`): `TestCa::get()` (one CA per process), `ca_pem()`, `ca_der()`,
//! `write_pem(path)`, `pem_tempfile()`, `root_store()`; `tls::ca_pem()`;
//! `TlsMode` (`None`, `Valid`, `Expired`, `SelfSigned`, `WrongHost`);
//! `tls::client_config()` trusting only the kit CA; `tls::provider()` (ring).
//!
//! Client (`client`): a minimal raw HTTP/1.1 client for tests (no reqwest):
//! `Conn::connect`, `Conn::connect_tls(addr, server_name)`, `Conn::request`,
//! `send_raw`, `read_response`, `read_to_end`; one-shot `fetch(url)` and
//! `fetch_with(url, method, headers)`; `tls_error(&io::Error)` for handshake
//! verdicts. `Response::complete` is false for a body cut short.
//!
//! DNS (`dns`): `FakeDns::start()` (async) — an authoritative server for the zone
//! `test.` on one `127.x.y.z:port` (UDP and TCP), no caching (TTL 0); `addr()`,
//! `set_a(name, &[v4])`, `set_aaaa(name, &[v6])`, `set_addrs(name, &[ip])`,
//! `remove(name)` (NXDOMAIN), `remove_a`/`remove_aaaa` (NODATA),
//! `set_servfail(name, on)`, `queries()` (`(name, "A"|"AAAA")`), `queries_for(name)`,
//! `clear_queries()`; names outside `test.` are REFUSED; dropping it stops it.
//!
//! XML (`xml`): `xml::parse(bytes) -> Result<Node, String>`, strict
//! well-formedness, with `attr`, `child`, `children_named`, `child_text`.
//!
//! Loopback facts (Linux): all of 127.0.0.0/8 is local on `lo`, so any
//! 127.x.y.z binds without configuration; but a client connecting to one gets
//! source address 127.0.0.1 (the route's `src`), so the server-side peer IP does
//! not tell which mirror address was dialled. IPv6 has only `::1`: v6 mirrors
//! share that address and differ by port.
//!
//! Runtime note: servers are tokio tasks on the test's runtime. If a test
//! blocks a thread (e.g. synchronous code under test), use
//! `#[tokio::test(flavor = "multi_thread")]` so the servers keep running.
//! Dropping a `FakeMirror` aborts its tasks; the listener is gone once the
//! runtime next runs (use `shutdown().await` to wait for it).
#![allow(dead_code)]

pub mod behaviour;
pub mod client;
pub mod conn;
pub mod dns;
pub mod http;
pub mod metadata;
pub mod network;
pub mod repo;
pub mod server;
pub mod tls;
pub mod xml;

// Not every test file uses every re-export.
#[allow(unused_imports)]
pub use behaviour::{Behaviour, PathMatch};
#[allow(unused_imports)]
pub use network::Network;
#[allow(unused_imports)]
pub use repo::{RepoTree, RepoTreeBuilder};
#[allow(unused_imports)]
pub use server::{FakeMirror, MirrorOptions, RequestRecord};
#[allow(unused_imports)]
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
/// to `lo`, so binding port 0 on these works without configuration.
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
