//! Pieces of one HTTP exchange, free of connection handling: building a probe
//! request, resolving a redirect's `Location`, reading headers, and reading a body
//! in chunks under a cap and a deadline.

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use tokio::time::{timeout_at, Instant};
use url::{Position, Url};

use super::conn::{error_chain, ConnKey};
use super::outcome::{Failure, FailureReason as R, FetchRequest, Phase};

/// The request for one hop: origin-form target, `Host` from the URL, the conditional
/// headers of `req`.
///
/// `Accept-Encoding: identity`, because nothing is ever decompressed (what arrives is what is
/// counted against the cap and hashed): without the header RFC 9110 §12.5.3 lets a server
/// pick any coding, and a CDN that gzips `text/xml` unasked would make a correct mirror's
/// repomd.xml fail to parse. A HEAD whose ETag is only compared (`identity: false`) leaves
/// it out: 27 bytes of a request that may be the only one a sweep sends; a server that picks
/// another coding unasked gives another ETag, and the file is then fetched with it.
/// `If-Modified-Since` goes only without an ETag: a server ignores
/// it beside `If-None-Match` (RFC 9110 §13.1.3), so it would be bytes for nothing.
pub(crate) fn build_request(
    url: &Url,
    key: &ConnKey,
    req: &FetchRequest<'_>,
    user_agent: &HeaderValue,
) -> Result<hyper::Request<Empty<Bytes>>, Failure> {
    let host = match url.port() {
        Some(port) => format!("{}:{port}", key.host),
        None => key.host.clone(),
    };
    let mut builder = hyper::Request::builder()
        .method(req.method.as_str())
        .uri(&url[Position::BeforePath..Position::AfterQuery])
        .header(header::HOST, host)
        .header(header::USER_AGENT, user_agent.clone());
    if req.identity {
        builder = builder.header(header::ACCEPT_ENCODING, "identity");
    }
    match (req.if_none_match, req.if_modified_since) {
        (Some(etag), _) => builder = builder.header(header::IF_NONE_MATCH, etag),
        (None, Some(since)) => builder = builder.header(header::IF_MODIFIED_SINCE, since),
        (None, None) => {}
    }
    builder
        .body(Empty::new())
        .map_err(|e| Failure::new(R::Protocol, Phase::Processing, format!("request: {e}")))
}

/// `Location` resolved against the URL it came from; http(s) only.
pub(crate) fn redirect_target(from: &Url, location: &str) -> Result<Url, Failure> {
    let bad = |detail: String| Failure::new(R::BadRedirect, Phase::Processing, detail);
    let target = from
        .join(location)
        .map_err(|e| bad(format!("Location {location:?}: {e}")))?;
    match target.scheme() {
        "http" | "https" if target.host_str().is_some() => Ok(target),
        _ => Err(bad(format!("Location {location:?} is not an http(s) URL"))),
    }
}

pub(crate) fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Why reading a body stopped; each with the number of bytes received.
pub(crate) enum BodyError {
    TooLarge(u64),
    Timeout(u64),
    Broken(u64, String),
}

/// Reads the body chunk by chunk, stopping as soon as it exceeds `cap`, so memory
/// never holds more than the cap plus one chunk.
pub(crate) async fn read_body(
    mut body: Incoming,
    cap: u64,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    let mut data = Vec::new();
    loop {
        let received = data.len() as u64;
        let frame = match timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::Timeout(received)),
            Ok(None) => return Ok(data),
            Ok(Some(Err(e))) => return Err(BodyError::Broken(received, error_chain(&e))),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(chunk) = frame.into_data() {
            let total = received + chunk.len() as u64;
            if total > cap {
                return Err(BodyError::TooLarge(total));
            }
            data.extend_from_slice(&chunk);
        }
    }
}
