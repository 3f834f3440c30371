//! One timed fetch: [`Fetcher::fetch`] sends a GET or HEAD to a pinned address,
//! follows redirects (each target resolved, timed and checked against the policy in
//! [`super::redirect`]), reads the body in chunks
//! under a cap, and returns a [`FetchOutcome`] whatever happens. Connections are
//! kept alive and reused between fetches.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use rustls::ClientConfig;
use tokio::time::{timeout_at, Instant};
use url::Url;

use super::conn::{self, error_chain, Conn, ConnKey, Pool};
use super::dns::{ip_literal, DnsAnswer, DnsConfig, DnsResolver, DnsSetupError, Family};
use super::message::{build_request, header_str, read_body, redirect_target, BodyError};
use super::outcome::{Failure, TlsInfo};
use super::outcome::{
    FailureReason as R, FetchOutcome, FetchRequest, Method, Phase, Redirect, Response, Timings,
};
use super::redirect;
use super::tls::{client_config, TlsSetupError, TrustConfig};

/// How a [`Fetcher`] is set up.
#[derive(Clone, Debug)]
pub struct FetcherConfig {
    /// For redirect targets (the first hop's address is given with each request).
    pub dns: DnsConfig,
    pub trust: TrustConfig,
    pub user_agent: String,
    /// Idle connections kept per (scheme, host, port, address).
    pub max_idle_per_host: usize,
    /// An idle connection older than this is closed rather than reused.
    pub idle_timeout: Duration,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        FetcherConfig {
            dns: DnsConfig::default(),
            trust: TrustConfig::system(),
            user_agent: format!("mirrorwatch/{}", env!("CARGO_PKG_VERSION")),
            max_idle_per_host: 4,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// A [`Fetcher`] could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Dns(#[from] DnsSetupError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("user agent {0:?} is not a valid header value")]
    UserAgent(String),
}

/// Fetches over kept-alive connections. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    tls: Arc<ClientConfig>,
    resolver: DnsResolver,
    pool: Pool,
    idle_timeout: Duration,
    user_agent: HeaderValue,
}

/// How a hop ended, short of a failure.
enum HopEnd {
    Final(Response),
    Redirect { status: u16, location: String },
}

/// What is known about the hop in progress, success or not.
#[derive(Default)]
struct HopInfo {
    tls: Option<TlsInfo>,
    reused: bool,
    peer: Option<std::net::SocketAddr>,
}

const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

impl Fetcher {
    pub fn new(config: &FetcherConfig) -> Result<Fetcher, SetupError> {
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| SetupError::UserAgent(config.user_agent.clone()))?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                tls: client_config(&config.trust)?,
                resolver: DnsResolver::new(&config.dns)?,
                pool: Pool::new(config.max_idle_per_host, config.idle_timeout),
                idle_timeout: config.idle_timeout,
                user_agent,
            }),
        })
    }

    /// The resolver used for redirect targets (the same settings serve the prober).
    pub fn resolver(&self) -> &DnsResolver {
        &self.inner.resolver
    }

    /// Idle connections kept for reuse.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.len()
    }

    /// Closes every idle connection.
    pub fn close_idle(&self) {
        self.inner.pool.clear();
    }

    /// Closes the idle connections to `host` at `addr`: a sweep that will not come back
    /// within the idle timeout gives its connections up rather than keep them (each holds
    /// hyper's buffers and channels, about 30 KB) until they expire.
    pub fn close_idle_to(&self, host: &str, addr: IpAddr) {
        self.inner.pool.close_to(host, addr);
    }

    /// How long an idle connection is kept for reuse.
    pub fn idle_timeout(&self) -> Duration {
        self.inner.idle_timeout
    }

    /// Fetches `req.url` from `req.addr`, following redirects, within `req.limits`.
    /// Never fails as a call: a failure is in the outcome's `result`.
    pub async fn fetch(&self, req: &FetchRequest<'_>) -> FetchOutcome {
        let started = Instant::now();
        let deadline = started + req.limits.total_timeout;
        let mut timings = Timings::default();
        let mut url = req.url.clone();
        let mut addr = req.addr;
        let mut redirects = Vec::new();
        let family = Family::of(req.addr);
        let (result, info) = loop {
            let mut info = HopInfo::default();
            let end = self.hop(&url, addr, req, deadline, &mut timings, &mut info);
            let (status, location) = match end.await {
                Ok(HopEnd::Final(response)) => break (Ok(response), info),
                Err(failure) => break (Err(failure), info),
                Ok(HopEnd::Redirect { status, location }) => (status, location),
            };
            let target = match redirect_target(&url, &location) {
                Ok(target) => target,
                Err(failure) => break (Err(failure), info),
            };
            if redirects.len() >= req.limits.max_redirects as usize {
                let detail = format!(
                    "more than {} redirects (next: {status} to {target})",
                    req.limits.max_redirects
                );
                break (
                    Err(Failure::new(R::TooManyRedirects, Phase::Processing, detail)),
                    info,
                );
            }
            let off_host = (
                target.scheme(),
                target.host_str(),
                target.port_or_known_default(),
            ) != (url.scheme(), url.host_str(), url.port_or_known_default());
            if target.host_str() != url.host_str() {
                match self
                    .resolve_one(&target, family, deadline, &mut timings)
                    .await
                {
                    Ok(next) => addr = next,
                    Err(failure) => {
                        url = target;
                        break (Err(failure), HopInfo::default());
                    }
                }
                if let Err(why) = redirect::check(req.addr, addr) {
                    let detail = format!("redirect ({status}) to {target} refused: {why}");
                    url = target;
                    break (
                        Err(Failure::new(R::BadRedirect, Phase::Processing, detail)),
                        HopInfo::default(),
                    );
                }
            }
            redirects.push(Redirect {
                status,
                to: target.clone(),
                off_host,
            });
            url = target;
        };
        timings.total = started.elapsed();
        FetchOutcome {
            result,
            timings,
            tls: info.tls,
            final_url: url,
            final_addr: info.peer,
            redirects,
            reused: info.reused,
        }
    }

    /// One request on one connection (reused if one is idle for the key).
    async fn hop(
        &self,
        url: &Url,
        addr: IpAddr,
        req: &FetchRequest<'_>,
        deadline: Instant,
        timings: &mut Timings,
        info: &mut HopInfo,
    ) -> Result<HopEnd, Failure> {
        let key = ConnKey::new(url, addr).ok_or_else(|| {
            Failure::new(R::Protocol, Phase::Connect, format!("cannot fetch {url}"))
        })?;
        let mut conn = match self.reusable(&key, deadline).await {
            Some(conn) => conn,
            None => self.open(&key, req, deadline, timings).await?,
        };
        loop {
            info.tls = conn.tls;
            info.reused = conn.reused;
            info.peer = Some(conn.peer);
            let request = build_request(url, &key, req, &self.inner.user_agent)?;
            let sent_at = Instant::now();
            let sent = timeout_at(deadline, conn.sender.send_request(request)).await;
            timings.processing += sent_at.elapsed();
            match sent {
                Ok(Ok(response)) => {
                    return self
                        .receive(key, conn, response, req, deadline, timings)
                        .await
                }
                // A kept-alive connection the server closed meanwhile: once more on a
                // fresh one (the request never reached the server).
                Ok(Err(e)) if info.reused && (e.is_canceled() || e.is_incomplete_message()) => {
                    tracing::debug!(%url, error = %error_chain(&e), "stale connection");
                    conn = self.open(&key, req, deadline, timings).await?;
                }
                Ok(Err(e)) => {
                    let detail = format!("request to {}: {}", conn.peer, error_chain(&e));
                    return Err(Failure::new(R::Protocol, Phase::Processing, detail));
                }
                Err(_) => {
                    let detail = format!("no response from {} in time", conn.peer);
                    return Err(Failure::new(R::Timeout, Phase::Processing, detail));
                }
            }
        }
    }

    /// An idle connection for `key` that is ready for a request, if any.
    async fn reusable(&self, key: &ConnKey, deadline: Instant) -> Option<Conn> {
        while let Some(mut conn) = self.inner.pool.take(key) {
            if let Ok(Ok(())) = timeout_at(deadline, conn.sender.ready()).await {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    async fn open(
        &self,
        key: &ConnKey,
        req: &FetchRequest<'_>,
        deadline: Instant,
        timings: &mut Timings,
    ) -> Result<Conn, Failure> {
        let connect_deadline = deadline.min(Instant::now() + req.limits.connect_timeout);
        conn::open(key, &self.inner.tls, connect_deadline, deadline, timings).await
    }

    /// Reads the response: a redirect (body drained) or the final body, under the cap.
    async fn receive(
        &self,
        key: ConnKey,
        conn: Conn,
        response: hyper::Response<Incoming>,
        req: &FetchRequest<'_>,
        deadline: Instant,
        timings: &mut Timings,
    ) -> Result<HopEnd, Failure> {
        let started = Instant::now();
        // The head is taken apart from the body, not copied: no header map per request.
        let (head, body) = response.into_parts();
        let status = head.status.as_u16();
        let headers = head.headers;
        let content_length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let cap = req.limits.max_body_bytes;
        let too_large = |detail: String| Failure::new(R::TooLarge, Phase::Transfer, detail);
        let location = header_str(&headers, header::LOCATION);
        let redirect = REDIRECT_STATUSES.contains(&status) && location.is_some();
        // For HEAD and 304 the Content-Length is the file's size, not a body to come.
        let has_body = req.method != Method::Head && status != 304 && status != 204;
        if let Some(len) = content_length.filter(|len| *len > cap && has_body && !redirect) {
            timings.transfer += started.elapsed();
            return Err(too_large(format!(
                "Content-Length {len} exceeds the cap of {cap} bytes"
            )));
        }
        let read = read_body(body, cap, deadline).await;
        timings.transfer += started.elapsed();
        let mut complete = true;
        let body = match read {
            Ok(body) => body,
            Err(BodyError::TooLarge(n)) if redirect => {
                // A redirect's body is not the file: give up on it (and on the
                // connection, which has unread bytes), not on the fetch.
                tracing::debug!(bytes = n, "redirect body over the cap, connection dropped");
                complete = false;
                Vec::new()
            }
            Err(BodyError::TooLarge(n)) => {
                return Err(too_large(format!(
                    "received {n} bytes, over the cap of {cap}"
                )))
            }
            Err(BodyError::Timeout(n)) => {
                let detail = format!("body not complete in time ({n} bytes received)");
                return Err(Failure::new(R::Timeout, Phase::Transfer, detail));
            }
            Err(BodyError::Broken(n, e)) => {
                let detail = format!("body broken after {n} bytes: {e}");
                return Err(Failure::new(R::Protocol, Phase::Transfer, detail));
            }
        };
        if complete {
            // The whole body was read, so the connection can carry the next request.
            self.inner.pool.put(key, conn);
        }
        if let (true, Some(location)) = (redirect, location) {
            return Ok(HopEnd::Redirect { status, location });
        }
        Ok(HopEnd::Final(Response {
            status,
            body,
            content_length,
            etag: header_str(&headers, header::ETAG),
            last_modified: header_str(&headers, header::LAST_MODIFIED),
            content_type: header_str(&headers, header::CONTENT_TYPE),
        }))
    }

    /// The first address of `url`'s host in `family`, timed into `timings.resolve`.
    async fn resolve_one(
        &self,
        url: &Url,
        family: Family,
        deadline: Instant,
        timings: &mut Timings,
    ) -> Result<IpAddr, Failure> {
        let host = url.host_str().unwrap_or_default();
        if let Some(ip) = ip_literal(host) {
            // No DNS, so no resolve time; a literal of the other family is refused by the
            // redirect policy.
            return Ok(ip);
        }
        let started = Instant::now();
        let lookup = timeout_at(deadline, self.inner.resolver.lookup(host, family)).await;
        timings.resolve += started.elapsed();
        let fail = |reason, detail: String| Err(Failure::new(reason, Phase::Resolve, detail));
        let answer = match lookup {
            Ok(lookup) => lookup.answer,
            Err(_) => return fail(R::Timeout, format!("resolving {host}: timed out")),
        };
        match answer {
            DnsAnswer::Ok(addrs) => match addrs.first() {
                Some(addr) => Ok(*addr),
                None => fail(R::Dns, format!("{host}: no {} address", family.as_str())),
            },
            other => fail(R::Dns, format!("{host} ({}): {other:?}", family.as_str())),
        }
    }
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("idle_connections", &self.idle_connections())
            .finish_non_exhaustive()
    }
}
