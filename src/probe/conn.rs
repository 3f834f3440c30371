//! HTTP/1.1 client connections: opening one (TCP connect and TLS handshake, each
//! timed and bounded) and keeping idle ones for reuse, keyed by scheme, host, port
//! and the pinned address, so that many fetches from one mirror cost one handshake.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsConnector;
use url::Url;

use super::outcome::{Failure, FailureReason, Phase, Timings, TlsInfo};
use super::tls::not_after_unix;

/// The request sender of a connection (probe requests have no body).
pub(crate) type Sender = SendRequest<Empty<Bytes>>;

/// What a connection is for: only a fetch with the same key may reuse it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConnKey {
    pub https: bool,
    /// As in the URL (`[::1]` for IPv6 literals): it is also the `Host` and SNI.
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

impl ConnKey {
    /// The key for fetching `url` from `addr`; `None` unless http(s) with a host.
    pub fn new(url: &Url, addr: IpAddr) -> Option<ConnKey> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        Some(ConnKey {
            https,
            host: url.host_str()?.to_string(),
            port: url.port_or_known_default()?,
            addr,
        })
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }
}

/// An open HTTP/1.1 connection.
pub(crate) struct Conn {
    pub sender: Sender,
    pub tls: Option<TlsInfo>,
    pub peer: SocketAddr,
    /// Taken from the pool: no connect, no handshake for this request.
    pub reused: bool,
    idle_since: Instant,
}

/// Idle connections by key. A std `Mutex` is enough: it is never held across
/// an `.await`, only for a push or a pop.
pub(crate) struct Pool {
    idle: Mutex<HashMap<ConnKey, Vec<Conn>>>,
    max_idle_per_key: usize,
    idle_timeout: Duration,
    last_prune: Mutex<Instant>,
}

impl Pool {
    pub fn new(max_idle_per_key: usize, idle_timeout: Duration) -> Pool {
        Pool {
            idle: Mutex::new(HashMap::new()),
            max_idle_per_key,
            idle_timeout,
            last_prune: Mutex::new(Instant::now()),
        }
    }

    /// The most recently used idle connection for `key` that is still open and
    /// not older than the idle timeout. Also drops every expired connection.
    pub fn take(&self, key: &ConnKey) -> Option<Conn> {
        let mut idle = self.lock();
        let now = Instant::now();
        let fresh = |c: &Conn| {
            !c.sender.is_closed() && now.duration_since(c.idle_since) < self.idle_timeout
        };
        // Pruning every key on every take cost a third of a sweep's CPU at 530 mirrors: prune
        // only the key asked for, and everything at most once per half idle timeout.
        {
            let mut last = self.last_prune.lock().unwrap_or_else(|p| p.into_inner());
            if now.duration_since(*last) >= self.idle_timeout / 2 {
                *last = now;
                idle.retain(|_, conns| {
                    conns.retain(|c| fresh(c));
                    !conns.is_empty()
                });
            }
        }
        let conns = idle.get_mut(key)?;
        conns.retain(|c| fresh(c));
        let conn = conns.pop();
        if conns.is_empty() {
            idle.remove(key);
        }
        conn
    }

    /// Keeps `conn` for reuse, unless it is closed or there are enough already.
    pub fn put(&self, key: ConnKey, mut conn: Conn) {
        if conn.sender.is_closed() || self.max_idle_per_key == 0 {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.lock();
        let conns = idle.entry(key).or_default();
        if conns.len() < self.max_idle_per_key {
            conns.push(conn);
        }
    }

    /// Closes the idle connections to `host` at `addr` (any scheme and port).
    pub fn close_to(&self, host: &str, addr: IpAddr) {
        self.lock()
            .retain(|key, _| !(key.addr == addr && key.host == host));
    }

    /// Idle connections kept now (closed ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Closes every idle connection.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnKey, Vec<Conn>>> {
        // A panic while holding the lock cannot leave the map inconsistent (every
        // critical section is a single push, pop or retain), so poisoning is ignored.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Opens a connection for `key`: TCP connect (bounded by `connect_deadline`),
/// TLS handshake for https (SNI and verification against the URL's host), then the
/// HTTP/1.1 handshake. Adds the connect and TLS times to `timings`.
pub(crate) async fn open(
    key: &ConnKey,
    tls_config: &Arc<ClientConfig>,
    connect_deadline: Instant,
    deadline: Instant,
    timings: &mut Timings,
) -> Result<Conn, Failure> {
    let peer = key.socket_addr();
    let started = Instant::now();
    let connected = timeout_at(connect_deadline, TcpStream::connect(peer)).await;
    timings.connect += started.elapsed();
    let tcp = match connected {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            return Err(Failure::new(
                FailureReason::Connect,
                Phase::Connect,
                format!("connecting to {peer}: {e}"),
            ))
        }
        Err(_) => {
            return Err(Failure::new(
                FailureReason::Timeout,
                Phase::Connect,
                format!("connecting to {peer}: timed out"),
            ))
        }
    };
    // Requests are small and latency is measured: no Nagle delay.
    let _ = tcp.set_nodelay(true);
    if !key.https {
        let sender = handshake(tcp).await?;
        return Ok(Conn {
            sender,
            tls: None,
            peer,
            reused: false,
            idle_since: Instant::now(),
        });
    }
    let name = server_name(&key.host).ok_or_else(|| {
        Failure::new(
            FailureReason::Tls,
            Phase::Tls,
            format!("{:?} is not a valid TLS server name", key.host),
        )
    })?;
    let started = Instant::now();
    let connector = TlsConnector::from(tls_config.clone());
    let handshaken = timeout_at(deadline, connector.connect(name, tcp)).await;
    timings.tls += started.elapsed();
    let stream = match handshaken {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return Err(Failure::new(
                FailureReason::Tls,
                Phase::Tls,
                format!("TLS handshake with {peer}: {}", error_chain(&e)),
            ))
        }
        Err(_) => {
            return Err(Failure::new(
                FailureReason::Timeout,
                Phase::Tls,
                format!("TLS handshake with {peer}: timed out"),
            ))
        }
    };
    let not_after = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| not_after_unix(leaf));
    let tls = match not_after {
        Some(not_after_unix) => Some(TlsInfo { not_after_unix }),
        None => {
            // Verification passed, so the leaf parsed for webpki; x509-parser
            // disagreeing would be a bug worth seeing, not a probe failure.
            tracing::warn!(%peer, "could not read notAfter of the leaf certificate");
            None
        }
    };
    let sender = handshake(stream).await?;
    Ok(Conn {
        sender,
        tls,
        peer,
        reused: false,
        idle_since: Instant::now(),
    })
}

/// The HTTP/1.1 handshake (no I/O in HTTP/1.1) and the task that drives the
/// connection until the sender is dropped or the peer closes.
async fn handshake<T>(io: T) -> Result<Sender, Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| Failure::new(FailureReason::Protocol, Phase::Connect, error_chain(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %error_chain(&e), "probe connection ended");
        }
    });
    Ok(sender)
}

/// The TLS server name for a URL host: a DNS name, or an IP address (no SNI is
/// sent then; the certificate must name the IP).
fn server_name(host: &str) -> Option<ServerName<'static>> {
    if let Some(ip) = super::dns::ip_literal(host) {
        return Some(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string()).ok()
}

/// An error and its sources, `: `-separated (hyper's own messages are terse).
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
}
