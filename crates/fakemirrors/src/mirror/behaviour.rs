//! What a fake mirror does with a request: `Behaviour` (normal or one of the
//! misbehaviours) and `PathMatch` (which paths a behaviour rule applies to),
//! plus the canned bodies used by some misbehaviours.

use std::time::Duration;

/// How a fake mirror answers. Set for all paths with `FakeMirror::set_behaviour`
/// or for some paths with `FakeMirror::set_behaviour_for`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Serve the stored files: 200, 304 on a matching conditional request, 404
    /// for a missing file (405 for methods other than GET and HEAD).
    #[default]
    Normal,
    /// Answer this status with a short text body (no body for 1xx/204/304).
    Status(u16),
    /// Sleep this long before writing the response head, then act normally.
    Delay(Duration),
    /// Read and never answer. When set for all paths (no rules), this happens
    /// right after the TCP accept: no TLS handshake, no request is logged.
    /// Otherwise the request is read and logged, then nothing is sent.
    BlackHole,
    /// Send the normal head at once, then drip the body at about this rate
    /// (a chunk every 100 ms).
    SlowBody { bytes_per_sec: u64 },
    /// Send the normal head (full `Content-Length`), then only the first `keep`
    /// body bytes, then close the connection.
    Truncate { keep: usize },
    /// Answer 200 with a body of exactly `bytes` bytes of XML-comment filler.
    Oversize { bytes: usize },
    /// Answer 200 `text/html` (a captive-portal style page) instead of the file.
    Html,
    /// Answer 200 `text/xml` with a repomd-like document that is not well-formed.
    InvalidXml,
    /// Answer 302, alternating between `<path>?kitloop=1` and `<path>`, forever.
    RedirectLoop,
    /// Answer 302 with exactly this `Location`.
    RedirectTo(String),
    /// Answer 302 with `Location: <base><request path without leading '/'>[?query]`,
    /// e.g. to send clients to the same file on another mirror's `base_url()`.
    RedirectBase(String),
    /// Close without answering (FIN). When set for all paths (no rules), this
    /// happens right after the TCP accept, before TLS and before reading.
    CloseImmediately,
    /// Like `CloseImmediately` but abort the connection (RST, via `SO_LINGER` 0).
    Reset,
}

impl Behaviour {
    /// Whether, set for all paths, this behaviour acts on the connection
    /// before any request is read.
    pub fn is_connection_level(&self) -> bool {
        matches!(
            self,
            Behaviour::BlackHole | Behaviour::CloseImmediately | Behaviour::Reset
        )
    }
}

/// Which request paths (query excluded) a behaviour rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    Any,
    /// The whole path, e.g. `/9/BaseOS/x86_64/os/repodata/repomd.xml`.
    Exact(String),
    /// Paths starting with this, e.g. `/9/`.
    Prefix(String),
    /// Paths ending with this, e.g. `repomd.xml`.
    Suffix(String),
}

impl PathMatch {
    /// `Exact`, with a leading `/` added if missing.
    pub fn exact(path: &str) -> Self {
        PathMatch::Exact(with_leading_slash(path))
    }

    /// `Prefix`, with a leading `/` added if missing.
    pub fn prefix(prefix: &str) -> Self {
        PathMatch::Prefix(with_leading_slash(prefix))
    }

    /// `Suffix`, as given.
    pub fn suffix(suffix: &str) -> Self {
        PathMatch::Suffix(suffix.to_string())
    }

    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Suffix(s) => path.ends_with(s.as_str()),
        }
    }
}

/// `path` with exactly one leading `/`.
pub fn with_leading_slash(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

/// The page served by `Behaviour::Html`.
pub const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Welcome</title></head>\n\
<body><h1>Network login required</h1>\n<p>Please sign in to continue.</p></body></html>\n";

/// The body served by `Behaviour::InvalidXml`: mismatched and unclosed tags.
pub const INVALID_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n  <revision>1700000000</revison>\n\
  <data type=\"primary\">\n    <checksum type=\"sha256\">0123456789abcdef</checksum>\n    <location href=\"repodata/";

/// `len` bytes of XML-comment filler for `Behaviour::Oversize`.
pub fn oversize_body(len: usize) -> Vec<u8> {
    const UNIT: &[u8] = b"<!-- mirrorwatch test kit oversize filler -->\n";
    UNIT.iter().copied().cycle().take(len).collect()
}

/// Guesses a `Content-Type` from the path's extension.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or("");
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("xml") => "text/xml",
        Some("gz") => "application/x-gzip",
        Some("xz") => "application/x-xz",
        Some("zst") => "application/zstd",
        Some("html") | Some("htm") => "text/html",
        Some("txt") => "text/plain",
        Some("yaml") => "application/yaml",
        Some("json") => "application/json",
        Some("rpm") => "application/x-rpm",
        Some("asc") => "text/plain",
        _ => "application/octet-stream",
    }
}
