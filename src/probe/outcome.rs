//! The vocabulary of one fetch: what is asked ([`FetchRequest`], [`Limits`]) and what
//! came of it ([`FetchOutcome`]: a [`Response`] or a classified [`Failure`], with the
//! per-phase [`Timings`]). Plain data, no I/O.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

/// Hard bounds on one fetch (redirects included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bound on each TCP connect.
    pub connect_timeout: Duration,
    /// Bound on the whole fetch: every hop, every phase, the whole body.
    pub total_timeout: Duration,
    /// A body longer than this fails with [`FailureReason::TooLarge`].
    pub max_body_bytes: u64,
    /// Redirects followed; one more fails with [`FailureReason::TooManyRedirects`].
    pub max_redirects: u32,
}

impl Default for Limits {
    /// The product defaults: a `repomd.xml` over 1 MiB is an error, at most 3 redirects.
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            max_redirects: 3,
        }
    }
}

/// The HTTP methods a probe uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Get,
    /// Existence and size (`Content-Length`) without the body.
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        }
    }
}

/// One fetch to ask of a [`crate::probe::Fetcher`].
#[derive(Clone, Copy, Debug)]
pub struct FetchRequest<'a> {
    pub url: &'a Url,
    /// The connection goes to this address; `Host` and SNI come from the URL. The
    /// caller resolved the URL's host (and timed that) or the host is an IP literal.
    pub addr: IpAddr,
    pub method: Method,
    /// Sent as `If-None-Match` (the ETag from the last 200, quotes included).
    pub if_none_match: Option<&'a str>,
    /// Sent as `If-Modified-Since` (the `Last-Modified` from the last 200), only when
    /// `if_none_match` is `None` (a server ignores it beside `If-None-Match`).
    pub if_modified_since: Option<&'a str>,
    /// Send `Accept-Encoding: identity` (see `message::build_request`); only a HEAD
    /// whose validators are compared leaves it out.
    pub identity: bool,
    pub limits: Limits,
}

impl<'a> FetchRequest<'a> {
    /// A plain GET of `url` at `addr` with default limits.
    pub fn get(url: &'a Url, addr: IpAddr) -> Self {
        FetchRequest {
            url,
            addr,
            method: Method::Get,
            if_none_match: None,
            if_modified_since: None,
            identity: true,
            limits: Limits::default(),
        }
    }

    /// A HEAD of `url` at `addr` with default limits.
    pub fn head(url: &'a Url, addr: IpAddr) -> Self {
        FetchRequest {
            method: Method::Head,
            ..FetchRequest::get(url, addr)
        }
    }
}

/// Time spent per phase, summed over all hops of a fetch (the blackbox_exporter
/// names). A phase that did not happen is zero: `resolve` for an IP literal or a
/// pinned address, `connect` and `tls` on a reused connection, `tls` over plain HTTP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// DNS lookups of redirect targets (the first hop's address is given).
    pub resolve: Duration,
    pub connect: Duration,
    pub tls: Duration,
    /// Request sent → response head received (first byte).
    pub processing: Duration,
    /// Response head → last body byte.
    pub transfer: Duration,
    /// Wall time of the whole fetch.
    pub total: Duration,
}

/// The phase a fetch was in; with a failure, the phase that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    Resolve,
    Connect,
    Tls,
    Processing,
    Transfer,
}

impl Phase {
    /// Stable label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Processing => "processing",
            Phase::Transfer => "transfer",
        }
    }
}

/// Why a fetch failed: a small fixed set, usable as a metric label via [`as_str`].
///
/// The fetcher itself never returns [`HttpStatus`]: any final status (404, 500, …)
/// comes back as a [`Response`] so that the caller decides what it means (a missing
/// data file is a verdict of its own); callers use `HttpStatus` for their own
/// classification of an unwanted status.
///
/// Serialized (API, state file) as the same label; [`FailureReason::ALL`] is the closed
/// set of its values.
///
/// [`as_str`]: FailureReason::as_str
/// [`HttpStatus`]: FailureReason::HttpStatus
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// A redirect target's name did not resolve (in the family of the pinned address).
    Dns,
    /// TCP connect refused, unreachable, reset.
    Connect,
    /// Handshake failed: expired, untrusted (self-signed), wrong host, protocol.
    Tls,
    /// The connect timeout or the total timeout ran out (see [`Failure::phase`]).
    Timeout,
    /// An unwanted HTTP status, as classified by the caller.
    HttpStatus,
    /// The body (or its announced `Content-Length`) exceeds the cap.
    TooLarge,
    /// More redirects than allowed (a loop ends here).
    TooManyRedirects,
    /// A redirect without a usable `Location` (unparsable, not http/https), or one the
    /// redirect policy refuses (see `probe/redirect.rs`).
    BadRedirect,
    /// Malformed HTTP, a connection closed before the response, a truncated body.
    Protocol,
    /// A body that is not a repomd.xml (HTML, broken XML), as classified by the sweep.
    BadXml,
}

impl FailureReason {
    pub const ALL: [FailureReason; 10] = [
        FailureReason::Dns,
        FailureReason::Connect,
        FailureReason::Tls,
        FailureReason::Timeout,
        FailureReason::HttpStatus,
        FailureReason::TooLarge,
        FailureReason::TooManyRedirects,
        FailureReason::BadRedirect,
        FailureReason::Protocol,
        FailureReason::BadXml,
    ];

    /// The reason whose label ([`FailureReason::as_str`]) is `label`.
    pub fn from_label(label: &str) -> Option<FailureReason> {
        FailureReason::ALL.into_iter().find(|r| r.as_str() == label)
    }

    /// Stable label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Dns => "dns",
            FailureReason::Connect => "connect",
            FailureReason::Tls => "tls",
            FailureReason::Timeout => "timeout",
            FailureReason::HttpStatus => "http_status",
            FailureReason::TooLarge => "too_large",
            FailureReason::TooManyRedirects => "too_many_redirects",
            FailureReason::BadRedirect => "bad_redirect",
            FailureReason::Protocol => "protocol",
            FailureReason::BadXml => "bad_xml",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure. `reason` and `phase` are labels; `detail` is for logs and the
/// API only (error text, never a label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: FailureReason,
    pub phase: Phase,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: FailureReason, phase: Phase, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            phase,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} during {}: {}",
            self.reason,
            self.phase.as_str(),
            self.detail
        )
    }
}

/// The final response of a fetch (after redirects), whatever its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The whole body; empty for HEAD, 304 and other bodiless answers.
    pub body: Vec<u8>,
    /// `Content-Length` as announced (for HEAD: the size of the file).
    pub content_length: Option<u64>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_type: Option<String>,
}

impl Response {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// 304: the conditional request matched, the copy the caller has is current.
    pub fn is_not_modified(&self) -> bool {
        self.status == 304
    }
}

/// The server certificate seen on the final hop's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// The leaf certificate's `notAfter`, seconds since the Unix epoch.
    pub not_after_unix: i64,
}

/// One redirect followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub status: u16,
    /// The resolved target of `Location`.
    pub to: Url,
    /// The target is on another host, port or scheme than the hop it came from.
    pub off_host: bool,
}

/// Everything known about one fetch. A failure is data, not an `Err`.
#[derive(Clone, Debug)]
pub struct FetchOutcome {
    pub result: Result<Response, Failure>,
    pub timings: Timings,
    /// Of the final hop's connection, if it was HTTPS and the handshake succeeded.
    pub tls: Option<TlsInfo>,
    /// The URL of the final hop (the last one attempted, on failure).
    pub final_url: Url,
    /// The address the final hop went to, once known.
    pub final_addr: Option<SocketAddr>,
    pub redirects: Vec<Redirect>,
    /// The final hop went over a kept-alive connection (no connect, no handshake).
    pub reused: bool,
}

impl FetchOutcome {
    /// The failure reason, if any: the label value to publish.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.result.as_ref().err().map(|f| f.reason)
    }

    /// Whether any redirect left the host it came from.
    pub fn left_host(&self) -> bool {
        self.redirects.iter().any(|r| r.off_host)
    }
}
