//! Hand-written HTTP/1.1 wire helpers for the fake mirrors: reading a request
//! head from a byte stream, formatting a response head, and HTTP dates
//! (IMF-fixdate) for `Last-Modified` / `If-Modified-Since`.
//!
//! Kept byte-level on purpose: the misbehaviours need exact control of what is
//! written and when.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest request head accepted before answering 431 and closing.
pub const MAX_HEAD: usize = 64 * 1024;

/// A parsed request head.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent (origin-form, or absolute-form reduced to it).
    pub target: String,
    /// The path part of the target (no query), exactly as sent: no decoding,
    /// no merging of `//`.
    pub path: String,
    pub query: Option<String>,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header names lower-cased, values trimmed, in order received.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// Whether the client asked (explicitly or by HTTP/1.0 default) to close.
    pub fn wants_close(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let tokens: Vec<&str> = conn.split(',').map(str::trim).collect();
        if self.minor_version == 0 {
            !tokens.contains(&"keep-alive")
        } else {
            tokens.contains(&"close")
        }
    }
}

/// Case-insensitive header lookup in a list of (name, value).
pub fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Bytes that are not an HTTP/1.x request head, or one too large (status to answer).
    Malformed(u16, String),
}

/// Index just past the first blank line (`\r\n\r\n`), if any.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Reads one request head from `io`, using and refilling `buf` (bytes after the
/// head stay in `buf` for pipelining). A request body announced by
/// `Content-Length` is read and discarded. `Ok(None)` means a clean EOF before
/// any byte of a new request.
pub async fn read_request<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Option<Request>, ReadError> {
    let end = loop {
        if let Some(end) = find_head_end(buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Malformed(431, "request head too large".into()));
        }
        let mut chunk = [0u8; 8192];
        let n = io.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head: Vec<u8> = buf.drain(..end).collect();
    let req = parse_head(&head)?;
    if let Some(len) = req.header("content-length") {
        let mut left: usize = len
            .parse()
            .map_err(|_| ReadError::Malformed(400, "bad content-length".into()))?;
        let take = left.min(buf.len());
        buf.drain(..take);
        left -= take;
        let mut chunk = [0u8; 8192];
        while left > 0 {
            let n = io.read(&mut chunk).await.map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            left -= n.min(left);
        }
    }
    Ok(Some(req))
}

/// Parses a complete request head (request line and header lines).
pub fn parse_head(head: &[u8]) -> Result<Request, ReadError> {
    let bad = |why: &str| ReadError::Malformed(400, why.to_string());
    let text = std::str::from_utf8(head).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("bad request line"));
    };
    let minor_version = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return Err(ReadError::Malformed(505, "unsupported version".into())),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("bad method"));
    }
    // Absolute-form (as sent to proxies): keep only the origin-form part.
    let origin = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let asterisk = method == "OPTIONS" && origin == "*";
    if !(origin.starts_with('/') || asterisk) {
        return Err(bad("bad request target"));
    }
    let (path, query) = match origin.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (origin.to_string(), None),
    };
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (name, value) = l.split_once(':').ok_or_else(|| bad("bad header line"))?;
        if name.is_empty() || name.contains(' ') {
            return Err(bad("bad header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        target: origin.to_string(),
        path,
        query,
        minor_version,
        headers,
    })
}

/// The standard reason phrase for a status code ("Unknown" otherwise).
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Whether a response with this status never carries a body.
pub fn status_has_no_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// Serialises a status line plus headers plus the blank line.
pub fn format_head(status: u16, headers: &[(String, String)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month 1-12, day 1-31) to days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats a time as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`
/// (sub-second part dropped; times before 1970 clamp to the epoch).
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    let mon = MONTHS[month as usize - 1];
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{weekday}, {day:02} {mon} {year:04} {h:02}:{m:02}:{s:02} GMT")
}

/// Parses an IMF-fixdate (the only format servers must generate).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [wd, day, mon, year, hms, "GMT"] = parts.as_slice() else {
        return None;
    };
    if !wd.ends_with(',') {
        return None;
    }
    let day: u32 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| m == mon)? as u32 + 1;
    let year: i64 = year.parse().ok()?;
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (Some(Some(h)), Some(Some(m)), Some(Some(sec)), None) =
        (t.next(), t.next(), t.next(), t.next())
    else {
        return None;
    };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Truncates a time to whole seconds (HTTP dates carry no fraction).
pub fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    UNIX_EPOCH + Duration::from_secs(secs)
}
