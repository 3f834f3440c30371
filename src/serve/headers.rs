//! Headers every response carries: `X-Content-Type-Options: nosniff` (a mirror list is text,
//! a metalink XML, never something a browser should guess into HTML), and a `Cache-Control`
//! that suits the endpoint, unless the handler set its own.
//!
//! - `/mirrorlist/…`, `/metalink`: `private, max-age=60`. An answer depends on the client's
//!   address (its network, its country), so a shared cache must not hand it to others; the
//!   client itself may reuse it for a minute (snapshots change by the probe interval).
//! - `/api/…`: `max-age=15`, the most a published lag may lag (the writer rebuilds every
//!   snapshot at least that often).
//! - `/metrics`, `/healthz`, `/readyz`, anything else, and every error: `no-store`. They
//!   report the present; an old copy is a wrong answer.
//! - The status pages set their own: `no-cache` for a page (kept, but asked again each time),
//!   a year for the compiled-in style sheet and script, whose URLs carry the version.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The `Cache-Control` for a successful answer at `path`.
pub fn cache_control(path: &str) -> &'static str {
    if path.starts_with("/mirrorlist/") || path == "/metalink" {
        "private, max-age=60"
    } else if path.starts_with("/api/") {
        "max-age=15"
    } else {
        "no-store"
    }
}

/// The middleware (see the module documentation).
pub async fn set(request: Request, next: Next) -> Response {
    let policy = cache_control(request.uri().path());
    let mut response = next.run(request).await;
    let ok = response.status().is_success();
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        let value = if ok { policy } else { "no-store" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::cache_control;

    #[test]
    fn each_endpoint_has_its_policy() {
        assert_eq!(cache_control("/mirrorlist/9/baseos"), "private, max-age=60");
        assert_eq!(cache_control("/metalink"), "private, max-age=60");
        assert_eq!(cache_control("/api/v1/mirrors"), "max-age=15");
        for path in ["/metrics", "/healthz", "/readyz", "/nope"] {
            assert_eq!(cache_control(path), "no-store");
        }
    }
}
