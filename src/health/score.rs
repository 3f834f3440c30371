//! The mirror score: one number per mirror for ranking and dashboards, from freshness
//! (lag), availability (success ratio) and speed (p50 latency). Pure.

use std::time::Duration;

/// Mirror score in [0, 100], higher is better:
///
/// `score = 100 × A × F × L`, where
/// - `A = r²`, r the success ratio in the window: squared so that 90% (0.81) already costs
///   a fifth — a mirror failing one sweep in ten fails many clients.
/// - `F = 1 − lag / stale_after`, clamped to [0, 1]: 1 when current (pass `Some(0)`), 0 once
///   stale — a stale mirror is not worth sending anyone to, however fast it is.
/// - `L = 1` for a p50 latency ≤ 100 ms, `0.5` from 5 s on, and between them
///   `1 − 0.5 × ln(t / 100 ms) / ln 50`: latency only halves the score, since a slow but
///   correct mirror is still better than none, and a log scale because 100→200 ms matters
///   as much as 1→2 s.
///
/// An unknown input (None, or a NaN ratio) counts as the middle of its factor's range — A and
/// F 0.5, L 0.75 — so a mirror with no data ranks below a known-good one and above a
/// known-bad one. The score never rises when lag or latency rises or the ratio falls.
pub fn score(
    lag_seconds: Option<u64>,
    stale_after: Duration,
    success_ratio: Option<f64>,
    p50_latency: Option<Duration>,
) -> f64 {
    let availability = match success_ratio.filter(|r| !r.is_nan()) {
        Some(r) => r.clamp(0.0, 1.0).powi(2),
        None => 0.5,
    };
    let freshness = match lag_seconds {
        None => 0.5,
        Some(0) => 1.0,
        Some(_) if stale_after.is_zero() => 0.0,
        Some(lag) => (1.0 - lag as f64 / stale_after.as_secs_f64()).clamp(0.0, 1.0),
    };
    let latency = match p50_latency {
        None => 0.75,
        Some(t) => {
            let t = t.as_secs_f64();
            if t <= 0.1 {
                1.0
            } else if t >= 5.0 {
                0.5
            } else {
                1.0 - 0.5 * (t / 0.1).ln() / 50f64.ln()
            }
        }
    };
    (100.0 * availability * freshness * latency).clamp(0.0, 100.0)
}
