//! [`HttpStats`]: the HTTP server's own request counters and latency histogram, and its
//! connection counts: the only series not taken from the snapshot.
//!
//! Recording sits on the request path of `/mirrorlist`, which must keep up with a static
//! file server, so it is a few relaxed atomic additions into fixed tables: no lock, no
//! hashing, no allocation. The tables are bounded by construction (fixed route names,
//! status codes 100–599), which also bounds the label values.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::family::Exposition;

/// Endpoint label values: fixed route names, never URLs. Anything else counts as `other`.
pub const ENDPOINTS: [&str; 9] = [
    "metrics",
    "mirrorlist",
    "metalink",
    "api",
    "healthz",
    "readyz",
    "page",
    "static",
    "other",
];

/// `endpoint` label values of the answer counters: the two answers dnf reads.
pub const ANSWER_ENDPOINTS: [&str; 2] = ["mirrorlist", "metalink"];

/// What an answer of the mirror list or metalink put first, the `first` label of
/// `mirrorwatch_mirrorlist_answers_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// A mirror whose copy is current.
    Current,
    /// A mirror whose copy is behind upstream (within `serve.max_lag`).
    Behind,
    /// No mirror qualified: the upstream itself.
    Upstream,
}

impl First {
    const ALL: [First; 3] = [First::Current, First::Behind, First::Upstream];

    fn as_str(self) -> &'static str {
        match self {
            First::Current => "current",
            First::Behind => "behind",
            First::Upstream => "upstream",
        }
    }
}

/// Which cap refused a connection, the `cap` label of
/// `mirrorwatch_http_connections_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// `serve.max_connections` (as lowered to the descriptors available).
    Total,
    /// `serve.max_connections_per_client`.
    PerClient,
}

impl Cap {
    const ALL: [Cap; 2] = [Cap::Total, Cap::PerClient];

    pub fn as_str(self) -> &'static str {
        match self {
            Cap::Total => "total",
            Cap::PerClient => "per_client",
        }
    }
}

/// Upper bounds of the duration histogram, seconds. Dense below a few milliseconds, where
/// the mirror list is expected to answer (p99 < 2 ms), sparse up to a slow `/metrics`.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// One slot per bucket plus the overflow above the last bound (`+Inf`).
const SLOTS: usize = BUCKETS.len() + 1;

/// Status codes 100–599 have a slot each; anything else shares the last one, written
/// with `code="other"`.
const FIRST_CODE: u16 = 100;
const LAST_CODE: u16 = 599;
const CODES: usize = (LAST_CODE - FIRST_CODE) as usize + 2;

/// Request counts by (endpoint, status code) and request durations by endpoint.
/// Cheap to clone: every clone counts into the same tables.
#[derive(Clone)]
pub struct HttpStats {
    inner: Arc<Tables>,
}

struct Tables {
    /// `ENDPOINTS.len() × CODES` request counters.
    requests: Box<[AtomicU64]>,
    /// `ENDPOINTS.len() × SLOTS` non-cumulative bucket counters; the count of a histogram
    /// is their sum, so count and buckets always agree within one scrape.
    buckets: Box<[AtomicU64]>,
    /// Sum of durations per endpoint in nanoseconds: integer additions need no
    /// compare-and-swap loop, and 2⁶⁴ ns is centuries of request time.
    sum_nanos: Box<[AtomicU64]>,
    /// `ANSWER_ENDPOINTS.len() × First::ALL.len()` answers by what came first.
    answers: Box<[AtomicU64]>,
    /// `ANSWER_ENDPOINTS.len()` counts of behind mirrors listed.
    behind_urls: Box<[AtomicU64]>,
    /// Client connections open now, and the cap in force (0 until the server starts).
    connections_open: AtomicU64,
    connections_max: AtomicU64,
    /// `Cap::ALL.len()` connections refused, by cap.
    rejected: Box<[AtomicU64]>,
}

impl Default for HttpStats {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HttpStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpStats").finish_non_exhaustive()
    }
}

/// One counter of a table; an index past its end reads as 0.
fn load(table: &[AtomicU64], index: usize) -> u64 {
    table.get(index).map_or(0, |a| a.load(Ordering::Relaxed))
}

fn zeros(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl HttpStats {
    pub fn new() -> Self {
        HttpStats {
            inner: Arc::new(Tables {
                requests: zeros(ENDPOINTS.len() * CODES),
                buckets: zeros(ENDPOINTS.len() * SLOTS),
                sum_nanos: zeros(ENDPOINTS.len()),
                answers: zeros(ANSWER_ENDPOINTS.len() * First::ALL.len()),
                behind_urls: zeros(ANSWER_ENDPOINTS.len()),
                connections_open: AtomicU64::new(0),
                connections_max: AtomicU64::new(0),
                rejected: zeros(Cap::ALL.len()),
            }),
        }
    }

    /// Count one answered request. `endpoint` should be one of [`ENDPOINTS`] (anything else
    /// is counted as `other`); `seconds` is the time to answer (negative or NaN counts as 0).
    pub fn record(&self, endpoint: &'static str, code: u16, seconds: f64) {
        let e = endpoint_index(endpoint);
        let c = if (FIRST_CODE..=LAST_CODE).contains(&code) {
            usize::from(code - FIRST_CODE)
        } else {
            CODES - 1
        };
        let seconds = if seconds.is_finite() && seconds > 0.0 {
            seconds
        } else {
            0.0
        };
        let slot = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        // The indexes are in range by construction; `get` keeps a mistake from panicking
        // on the request path.
        let t = &self.inner;
        if let Some(counter) = t.requests.get(e * CODES + c) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(counter) = t.buckets.get(e * SLOTS + slot) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(sum) = t.sum_nanos.get(e) {
            // `as` saturates: a duration beyond u64 nanoseconds is clamped, not wrapped.
            sum.fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
        }
    }

    /// Count one answer of the mirror list or metalink (`endpoint` one of
    /// [`ANSWER_ENDPOINTS`]; anything else is not counted): what it listed first, and how
    /// many of the mirrors it listed are behind upstream.
    pub fn record_answer(&self, endpoint: &'static str, first: First, behind_urls: usize) {
        let Some(e) = ANSWER_ENDPOINTS.iter().position(|x| *x == endpoint) else {
            return;
        };
        let f = First::ALL.iter().position(|x| *x == first).unwrap_or(0);
        let t = &self.inner;
        if let Some(counter) = t.answers.get(e * First::ALL.len() + f) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if behind_urls > 0 {
            if let Some(counter) = t.behind_urls.get(e) {
                counter.fetch_add(behind_urls as u64, Ordering::Relaxed);
            }
        }
    }

    /// The connection cap the server applies.
    pub fn set_connection_cap(&self, cap: usize) {
        let cap = u64::try_from(cap).unwrap_or(u64::MAX);
        self.inner.connections_max.store(cap, Ordering::Relaxed);
    }

    pub fn connection_opened(&self) {
        self.inner.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        // Never below 0, even if a close were counted twice.
        let _ =
            self.inner
                .connections_open
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn connection_rejected(&self, cap: Cap) {
        let c = Cap::ALL.iter().position(|x| *x == cap).unwrap_or(0);
        if let Some(counter) = self.inner.rejected.get(c) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Write every family. Relaxed loads: a scrape racing a request may see it in one
    /// table and not yet in another, which the next scrape corrects.
    pub(super) fn write(&self, out: &mut Exposition) {
        let t = &self.inner;
        let mut requests = out.counter(
            "mirrorwatch_http_requests_total",
            "HTTP requests answered, by endpoint and status code.",
        );
        let mut duration = out.histogram(
            "mirrorwatch_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
        );
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            for c in 0..CODES {
                let n = load(&t.requests, e * CODES + c);
                // Only codes seen: a zero for each of 500 codes would be noise.
                if n == 0 {
                    continue;
                }
                let code = code_label(c);
                requests.set(&[("endpoint", endpoint), ("code", &code)], n as f64);
            }
            let mut cumulative = 0u64;
            let mut buckets = Vec::with_capacity(BUCKETS.len());
            for (slot, bound) in BUCKETS.iter().enumerate() {
                cumulative += load(&t.buckets, e * SLOTS + slot);
                buckets.push((*bound, cumulative));
            }
            let count = cumulative + load(&t.buckets, e * SLOTS + BUCKETS.len());
            let sum = load(&t.sum_nanos, e) as f64 / 1e9;
            // Every endpoint is written, zeros included, so that `rate()` has a start
            // point before the first request.
            duration.set_histogram(&[("endpoint", endpoint)], &buckets, count, sum);
        }
        out.add(requests);
        out.add(duration);

        // Every label set is written, zeros included: an SLO ratio needs its start point.
        let mut answers = out.counter(
            "mirrorwatch_mirrorlist_answers_total",
            "Mirror list and metalink answers with mirrors, by endpoint and by what came first: a current mirror, a behind one, or the upstream (no mirror qualified).",
        );
        let mut behind = out.counter(
            "mirrorwatch_mirrorlist_behind_urls_total",
            "Mirrors whose copy is behind upstream, listed in mirror list and metalink answers, by endpoint.",
        );
        for (e, endpoint) in ANSWER_ENDPOINTS.iter().enumerate() {
            for (f, first) in First::ALL.iter().enumerate() {
                let n = load(&t.answers, e * First::ALL.len() + f);
                answers.set(
                    &[("endpoint", endpoint), ("first", first.as_str())],
                    n as f64,
                );
            }
            let n = load(&t.behind_urls, e);
            behind.set(&[("endpoint", endpoint)], n as f64);
        }
        out.add(answers);
        out.add(behind);

        let mut open = out.gauge(
            "mirrorwatch_http_connections_open",
            "Client connections open to the HTTP server.",
        );
        open.set(&[], t.connections_open.load(Ordering::Relaxed) as f64);
        let mut max = out.gauge(
            "mirrorwatch_http_connections_max",
            "The most client connections the HTTP server keeps open at once (serve.max_connections, lowered to the file descriptors available).",
        );
        max.set(&[], t.connections_max.load(Ordering::Relaxed) as f64);
        let mut rejected = out.counter(
            "mirrorwatch_http_connections_rejected_total",
            "Client connections turned away (answered 503 and closed at once), by the cap they were over: total or per_client.",
        );
        for (c, cap) in Cap::ALL.iter().enumerate() {
            let n = load(&t.rejected, c);
            rejected.set(&[("cap", cap.as_str())], n as f64);
        }
        out.add(open);
        out.add(max);
        out.add(rejected);
    }
}

fn endpoint_index(endpoint: &str) -> usize {
    ENDPOINTS
        .iter()
        .position(|e| *e == endpoint)
        .unwrap_or(ENDPOINTS.len() - 1)
}

fn code_label(slot: usize) -> String {
    match u16::try_from(slot) {
        Ok(offset) if slot < CODES - 1 => (FIRST_CODE + offset).to_string(),
        _ => "other".to_owned(),
    }
}
