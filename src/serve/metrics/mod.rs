//! `GET /metrics`: the Prometheus text exposition (format 0.0.4).
//!
//! Everything but the HTTP server's own counters ([`HttpStats`]) is rendered from the
//! immutable [`Snapshot`] at scrape time, into fresh metric families: no registry keeps
//! series between scrapes, so those of a removed mirror disappear on the next one, as
//! blackbox_exporter's do. Names follow Prometheus practice (`mirrorwatch_` prefix, base
//! units, `_total` counters, `_timestamp_seconds` points in time, `_info` constant
//! labels); label values are bounded (names from the configuration and the `as_str` of
//! closed enums, never URLs or error text). When `metrics.vantage` is set, every series carries
//! `vantage="<value>"`, so that instances in several regions can be combined.
//!
//! The families are built as the `prometheus` crate's plain model and written by its
//! `TextEncoder`; `GaugeVec`s in a per-scrape registry would hash every label set and
//! sort every family again, for nothing, since the snapshot already has one value per
//! series.
//!
//! - [`family`] — building families, the vantage label.
//! - [`mirrors`] — per mirror and per (mirror, family); per repo when enabled.
//! - [`global`] — the upstream and mirrorwatch itself.
//! - [`subnets`] — the subnet lists mirrors publish at a URL.
//! - [`http`] — [`HttpStats`].

mod family;
mod global;
mod http;
mod mirrors;
mod propagation;
mod subnets;
#[cfg(test)]
mod tests;

use prometheus::TextEncoder;

use crate::state::Snapshot;

pub use http::{Cap, First, HttpStats, ENDPOINTS};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// The whole exposition for `snapshot` and the server's own `http` counters.
///
/// Pure CPU work proportional to the number of series: about 20–25 ms for the AlmaLinux
/// network's aggregates on the project's 2-core machine (`metrics/tests/timing.rs`), far
/// more with `metrics.per_repo` — long enough that an async handler should run it in
/// `tokio::task::spawn_blocking` rather than stall a runtime worker.
pub fn render(snapshot: &Snapshot, http: &HttpStats) -> String {
    render_with(snapshot, http, &[])
}

/// [`render`], with the propagation of each repository's latest upstream change.
pub fn render_with(
    snapshot: &Snapshot,
    http: &HttpStats,
    propagation: &[crate::serve::propagation::Latest],
) -> String {
    let mut out = family::Exposition::new(&snapshot.config.metrics.vantage);
    global::engine(snapshot, &mut out);
    global::upstream(snapshot, &mut out);
    mirrors::write(snapshot, &mut out);
    subnets::write(snapshot, &mut out);
    propagation::write(propagation, &mut out);
    http.write(&mut out);
    let (families, size) = out.into_families();

    let mut text = String::with_capacity(size);
    // The encoder fails only on an empty or nameless family, which `Exposition` never
    // yields, or on a failed write, which a `String` cannot have. Should it fail anyway,
    // the scrape gets what was written so far rather than a crashed handler.
    if let Err(error) = TextEncoder::new().encode_utf8(&families, &mut text) {
        tracing::error!(%error, "encoding the metrics failed");
    }
    text
}
