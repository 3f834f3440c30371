//! The HTTP server's accept loop: the axum [`Router`] served over hyper's HTTP/1.1 with the
//! limits of the `serve` section, so that clients cannot take the server (or the prober,
//! which shares the process's file descriptors) down.
//!
//! - A connection is admitted only under `max_connections` in all and
//!   `max_connections_per_client` per client address (IPv6: per /64; trusted proxies are
//!   exempt). Over a cap it gets a minimal `503` written without waiting and is closed at
//!   once: nothing is ever queued.
//! - Its request head must be complete within `header_read_timeout`, it may wait for its next
//!   request for `idle_timeout`, and a response nobody reads fails after `idle_timeout`
//!   ([`deadlines`]); a head larger than `max_header_bytes` gets a `431`.
//! - A client that half-closes after its request still gets the answer.
//! - Out of descriptors (`EMFILE`, `ENFILE`), the loop pauses [`ACCEPT_BACKOFF`] rather than
//!   spinning on an error that repeats until a connection closes, and says so at most once
//!   per [`LOG_EVERY`].
//!
//! On shutdown it stops accepting, asks every connection to finish its request and close,
//! and returns once they all have (the daemon bounds that wait).

mod deadlines;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::metrics::{Cap, HttpStats};
use crate::config::serve::ServeSettings;
use deadlines::Deadlines;

/// How long the accept loop pauses when the process is out of file descriptors.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The shortest time between two log lines about the same trouble (refused connections, no
/// descriptors left).
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// What a connection over a cap is sent before it is closed: short enough to fit any
/// socket's send buffer, so writing it never waits.
const OVER_CAP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n";

/// The limits the server applies, from the `serve` settings and the descriptor budget.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// The effective cap: `serve.max_connections`, lowered to the descriptors available.
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub max_header_bytes: usize,
    /// Addresses exempt from the per-client cap: the trusted proxies.
    pub exempt: Vec<IpNet>,
}

impl Limits {
    /// The limits of `serve`, with `max_connections` the cap the descriptors allow.
    pub fn new(serve: &ServeSettings, max_connections: u32) -> Limits {
        let size = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            header_read_timeout: serve.header_read_timeout,
            idle_timeout: serve.idle_timeout,
            max_connections: size(max_connections),
            max_connections_per_client: size(serve.max_connections_per_client.get()),
            max_header_bytes: size(serve.max_header_bytes.get()),
            exempt: serve.trusted_proxies.clone(),
        }
    }
}

/// Who a per-client cap counts: one IPv4 address, or one IPv6 /64 (what one site is given,
/// so a client cannot escape the cap by using more of its own addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6(u64),
}

impl ClientKey {
    fn of(addr: IpAddr) -> ClientKey {
        match addr.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => ClientKey::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

/// Connections that must have closed since the last peak before the memory they used is
/// given back to the system ([`crate::memory`]).
pub const BURST: usize = 256;

/// How often the server looks whether a burst of connections has ended.
const BURST_CHECK: Duration = Duration::from_secs(5);

/// The connections open, in all and per client.
struct Admission {
    limits: Limits,
    stats: HttpStats,
    /// Taken briefly by the accept loop, by each connection's end and by the burst check,
    /// never across an `.await`: a std mutex is enough.
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<ClientKey, usize>,
    /// The most open at once since memory was last given back.
    peak: usize,
}

/// One admitted connection; dropping it gives its place back.
struct Slot {
    admission: Arc<Admission>,
    client: Option<ClientKey>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(key) = self.client {
            if let Some(n) = open.per_client.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    open.per_client.remove(&key);
                }
            }
        }
        self.admission.stats.connection_closed();
    }
}

impl Admission {
    /// Whether [`BURST`] connections have closed since the peak; if so the peak starts
    /// again from what is open now.
    fn burst_ended(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.peak < open.total + BURST {
            return false;
        }
        open.peak = open.total;
        true
    }

    /// A place for a connection from `peer`, or the cap it is over.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Cap> {
        let exempt = self
            .limits
            .exempt
            .iter()
            .any(|n| n.contains(&peer.to_canonical()));
        let client = (!exempt).then(|| ClientKey::of(peer));
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.limits.max_connections {
            return Err(Cap::Total);
        }
        if let Some(key) = client {
            let n = open.per_client.entry(key).or_insert(0);
            if *n >= self.limits.max_connections_per_client {
                return Err(Cap::PerClient);
            }
            *n += 1;
        }
        open.total += 1;
        open.peak = open.peak.max(open.total);
        self.stats.connection_opened();
        Ok(Slot {
            admission: self.clone(),
            client,
        })
    }
}

/// A log line at most once per [`LOG_EVERY`], with the count of occurrences it stands for.
struct Throttled {
    last: Option<Instant>,
    count: u64,
}

impl Throttled {
    fn new() -> Throttled {
        Throttled {
            last: None,
            count: 0,
        }
    }

    /// Counts one occurrence; `Some(n)` when a line is due, `n` occurrences since the last.
    fn due(&mut self) -> Option<u64> {
        self.count += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|at| now.duration_since(at) < LOG_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

/// Whether an accept error means the process (or the system) has no descriptor or buffer
/// left: it repeats until something closes, so retrying at once would spin.
fn out_of_resources(error: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM (Linux numbering, which is what this daemon runs on).
    matches!(error.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// Serve `router` on `listener` with `limits` until `shutdown`, then let open connections
/// finish (see the module documentation). Connection counts go to `stats`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stats: HttpStats,
    shutdown: CancellationToken,
) {
    stats.set_connection_cap(limits.max_connections);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        // Between requests: [`deadlines`] bounds a head once it has begun.
        .header_read_timeout(limits.idle_timeout)
        .max_header_size(limits.max_header_bytes)
        .half_close(true);
    let admission = Arc::new(Admission {
        limits,
        stats,
        open: Mutex::new(Open::default()),
    });
    let connections = TaskTracker::new();
    connections.spawn(give_back_after_bursts(admission.clone(), shutdown.clone()));
    let mut refused = Throttled::new();
    let mut exhausted = Throttled::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if out_of_resources(&error) => {
                if let Some(times) = exhausted.due() {
                    tracing::error!(%error, times, "cannot accept connections: out of file descriptors; pausing");
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
            // A connection that failed before it was accepted (reset, aborted): its own
            // trouble, not the listener's.
            Err(error) => {
                tracing::debug!(%error, "accept failed");
                continue;
            }
        };
        let slot = match admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(cap) => {
                admission.stats.connection_rejected(cap);
                if let Some(times) = refused.due() {
                    tracing::warn!(client = %peer.ip(), cap = cap.as_str(), times, "connections refused: over the cap");
                }
                // A fresh socket's send buffer is empty: this never waits. What the client
                // has sent already is read and dropped, without waiting either: closing
                // with unread data would reset the connection, which can discard the 503.
                let _ = stream.try_write(OVER_CAP);
                let mut sink = [0u8; 2048];
                for _ in 0..8 {
                    if !matches!(stream.try_read(&mut sink), Ok(n) if n == sink.len()) {
                        break;
                    }
                }
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            peer,
            slot,
            router.clone(),
            http.clone(),
            shutdown.clone(),
        ));
    }
    // Closing the listener first: new clients are refused rather than left waiting.
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Gives memory back to the system once a burst of connections has ended: what thousands
/// of connections used would otherwise stay resident (see [`crate::memory`]).
async fn give_back_after_bursts(admission: Arc<Admission>, shutdown: CancellationToken) {
    let mut check = tokio::time::interval(BURST_CHECK);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = check.tick() => {}
        }
        if admission.burst_ended() {
            let _ = tokio::task::spawn_blocking(crate::memory::release_free_memory).await;
            tracing::debug!("a burst of connections ended: free memory given back");
        }
    }
}

/// One client connection, until it closes or fails, or shutdown has let it finish.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    router: Router,
    http: http1::Builder,
    shutdown: CancellationToken,
) {
    let limits = &slot.admission.limits;
    let io = Deadlines::new(stream, limits.header_read_timeout, limits.idle_timeout);
    let heads = io.heads();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        heads.fetch_add(1, Ordering::Relaxed);
        // What `ConnectInfo` extractors read (axum's own `serve` inserts the same).
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move { Ok::<_, Infallible>(router.call(request).await.unwrap_or_else(|e| match e {})) }
    });
    let conn = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = served {
        // Timeouts, resets, malformed requests: the client's doing, at debug only.
        tracing::debug!(client = %peer, %error, "connection closed");
    }
    drop(slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(ClientKey::of(mapped), ClientKey::of(v4));
    }

    fn admission(total: usize, per_client: usize, exempt: &str) -> Arc<Admission> {
        let mut limits = Limits::new(&ServeSettings::default(), 1);
        limits.max_connections = total;
        limits.max_connections_per_client = per_client;
        limits.exempt = vec![exempt.parse().unwrap()];
        Arc::new(Admission {
            limits,
            stats: HttpStats::new(),
            open: Mutex::new(Open::default()),
        })
    }

    #[test]
    fn caps_count_per_client_and_in_all_and_places_come_back() {
        let admission = admission(5, 2, "10.0.0.0/8");
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).err(), Some(Cap::PerClient));
        let _b = admission.admit(b).unwrap();
        // The proxy is exempt from the per-client cap, not from the total.
        let _p1 = admission.admit(proxy).unwrap();
        let _p2 = admission.admit(proxy).unwrap();
        assert_eq!(admission.admit(proxy).err(), Some(Cap::Total));
        assert_eq!(admission.admit(b).err(), Some(Cap::Total));
        drop(first);
        let _again = admission.admit(a).unwrap();
        assert_eq!(admission.open.lock().unwrap().total, 5);
    }

    #[test]
    fn a_burst_has_ended_once_enough_connections_closed_since_the_peak() {
        let admission = admission(1000, 1000, "10.0.0.0/8");
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut slots: Vec<Slot> = (0..BURST + 10)
            .map(|_| admission.admit(a).unwrap())
            .collect();
        assert!(!admission.burst_ended());
        slots.truncate(11);
        assert!(!admission.burst_ended());
        slots.truncate(10);
        assert!(admission.burst_ended());
        // Counted again from what is open now.
        assert!(!admission.burst_ended());
        drop(slots);
        assert!(!admission.burst_ended());
    }

    #[test]
    fn throttled_lines_count_what_they_stand_for() {
        let mut t = Throttled::new();
        assert_eq!(t.due(), Some(1));
        assert_eq!(t.due(), None);
        assert_eq!(t.due(), None);
        t.last = Some(Instant::now() - LOG_EVERY);
        assert_eq!(t.due(), Some(3));
    }

    #[test]
    fn descriptor_exhaustion_is_told_apart() {
        assert!(out_of_resources(&io::Error::from_raw_os_error(24)));
        assert!(out_of_resources(&io::Error::from_raw_os_error(23)));
        assert!(!out_of_resources(&io::Error::from_raw_os_error(103)));
    }
}
