//! Charts drawn by hand as inline SVG: a lag sparkline per mirror and a spread chart per
//! upstream change. Only numbers computed here go into the markup; every text (a title, a
//! label) goes through maud, which escapes it.

use std::collections::VecDeque;
use std::fmt::Write;

use maud::{html, Markup};

use super::format;
use super::history::LagSample;

/// Sparkline size in the mirror table, px.
pub const SPARK: (f64, f64) = (96.0, 18.0);
/// Sparkline size on a mirror's page, px.
pub const SPARK_LARGE: (f64, f64) = (480.0, 60.0);

/// A lag sparkline: one point per sweep, higher is further behind (scaled to the largest
/// lag shown, at least an hour so that a few seconds do not fill the chart). Sweeps where no
/// family answered break the line and are marked along the bottom.
pub fn lag_sparkline(samples: &VecDeque<LagSample>, size: (f64, f64)) -> Markup {
    let (w, h) = size;
    let n = samples.len();
    let top = samples
        .iter()
        .filter_map(|s| s.lag)
        .max()
        .unwrap_or(0)
        .max(3600) as f64;
    let x = |i: usize| {
        if n <= 1 {
            w - 1.0
        } else {
            1.0 + (w - 2.0) * i as f64 / (n - 1) as f64
        }
    };
    let y = |lag: u64| 1.0 + (h - 2.0) * (1.0 - (lag as f64 / top).min(1.0));
    // Runs of sweeps: a gap (no family answered) ends one. Each run is drawn as a polyline.
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    let mut gaps = String::new();
    for (i, sample) in samples.iter().enumerate() {
        match (sample.lag, runs.last_mut()) {
            (Some(lag), Some(run)) => run.push((x(i), y(lag))),
            (Some(_), None) => {}
            (None, _) => {
                runs.push(Vec::new());
                let _ = write!(gaps, "M{:.1} {:.1}h2 ", x(i) - 1.0, h - 1.0);
            }
        }
    }
    let lines: Vec<String> = runs
        .iter()
        .filter(|run| !run.is_empty())
        .map(|run| polyline_points(run))
        .collect();
    let worst = samples.iter().filter_map(|s| s.lag).max();
    let label = match (n, worst) {
        (0, _) => "no sweeps recorded yet".to_string(),
        (_, None) => format!("last {n} sweeps: no answer"),
        (_, Some(0)) => format!("last {n} sweeps: always current"),
        (_, Some(lag)) => format!("last {n} sweeps: at most {} behind", format::duration(lag)),
    };
    html! {
        svg.spark width=(w) height=(h) viewBox={"0 0 " (w) " " (h)} role="img" aria-label=(label) {
            title { (label) }
            line.base x1="0" y1={(h - 0.5)} x2=(w) y2={(h - 0.5)} {}
            @for points in &lines {
                polyline points=(points) {}
            }
            @if !gaps.is_empty() {
                path.gap d=(gaps.trim_end()) {}
            }
        }
    }
}

/// The `points` of a polyline through `run`, leaving out the points inside a level stretch
/// (most sweeps of a healthy mirror lie on one line: 120 points would be drawn for two).
fn polyline_points(run: &[(f64, f64)]) -> String {
    let mut out = String::new();
    for (i, (px, py)) in run.iter().enumerate() {
        let level = |j: Option<usize>| j.and_then(|j| run.get(j)).is_some_and(|(_, qy)| qy == py);
        if level(i.checked_sub(1)) && level(Some(i + 1)) {
            continue;
        }
        let _ = write!(out, "{px:.1},{py:.1} ");
    }
    out.trim_end().to_string()
}

/// A spread chart: the share of mirrors current for one upstream change over the time since
/// it appeared, from 0 to 100%.
pub fn spread_chart(at: i64, spread: &VecDeque<(i64, f64)>, now: i64) -> Markup {
    let (w, h) = (120.0, 24.0);
    let span = spread
        .back()
        .map_or(now, |(t, _)| *t)
        .max(now)
        .saturating_sub(at)
        .max(60) as f64;
    let mut points = String::new();
    for (t, share) in spread {
        let x = 1.0 + (w - 2.0) * ((t - at).max(0) as f64 / span).min(1.0);
        let y = 1.0 + (h - 2.0) * (1.0 - share.clamp(0.0, 1.0));
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    let label = match spread.back() {
        Some((_, share)) => format!(
            "{} of mirrors current after {}",
            format::percent(*share),
            format::duration(span as u64)
        ),
        None => "not measured yet".to_string(),
    };
    html! {
        svg.spread width=(w) height=(h) viewBox={"0 0 " (w) " " (h)} role="img" aria-label=(label) {
            title { (label) }
            rect.frame x="0.5" y="0.5" width={(w - 1.0)} height={(h - 1.0)} {}
            line.half x1="0" y1={(h / 2.0)} x2=(w) y2={(h / 2.0)} {}
            @if !points.is_empty() {
                polyline points=(points.trim_end()) {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(lags: &[Option<u64>]) -> VecDeque<LagSample> {
        lags.iter()
            .enumerate()
            .map(|(i, lag)| LagSample {
                at: i as i64 * 60,
                lag: *lag,
            })
            .collect()
    }

    #[test]
    fn a_gap_breaks_the_line() {
        let svg =
            lag_sparkline(&samples(&[Some(0), Some(7200), None, Some(0)]), SPARK).into_string();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(svg.contains("class=\"gap\""), "{svg}");
        assert!(svg.contains("at most 2 h behind"), "{svg}");
        // The largest lag touches the top, a current copy the bottom.
        assert!(svg.contains("1.0,17.0 32.3,1.0"), "{svg}");
    }

    #[test]
    fn spread_is_scaled_to_the_share() {
        let spread: VecDeque<(i64, f64)> = [(100, 0.0), (160, 1.0)].into_iter().collect();
        let svg = spread_chart(100, &spread, 160).into_string();
        assert!(svg.contains("points=\"1.0,23.0 119.0,1.0\""), "{svg}");
        assert!(svg.contains("100% of mirrors current after 1 min"), "{svg}");
    }
}
