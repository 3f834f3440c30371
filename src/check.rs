//! `mirrorwatch check`: one sweep of every mirror, then a table (or JSON) of what was found.
//! Rendering is pure (a snapshot in, text out) so that it is tested without a network.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::config::IpFamily;
use crate::freshness::VerdictKind;
use crate::health::State;
use crate::probe::FailureReason;
use crate::state::{FamilySnapshot, MirrorSnapshot, Snapshot};

/// One row: a (mirror, family).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub mirror: String,
    pub family: Option<IpFamily>,
    pub state: State,
    pub current: u32,
    pub behind: u32,
    pub unknown: u32,
    pub missing: u32,
    pub incomplete: u32,
    pub error: u32,
    pub stale: u32,
    pub max_lag_seconds: Option<u64>,
    pub latency_seconds: Option<f64>,
    /// The last failure's reason (a fixed label) and its text.
    pub reason: Option<FailureReason>,
    pub detail: Option<String>,
}

fn row(mirror: &MirrorSnapshot, family: Option<&FamilySnapshot>, stale_after: Duration) -> Row {
    let Some(f) = family else {
        return Row {
            mirror: mirror.name.clone(),
            family: None,
            state: State::Unknown,
            current: 0,
            behind: 0,
            unknown: 0,
            missing: 0,
            incomplete: 0,
            error: 0,
            stale: 0,
            max_lag_seconds: None,
            latency_seconds: None,
            reason: None,
            detail: None,
        };
    };
    let counts = f.counts();
    let count = |kind: VerdictKind| counts.get(&kind).copied().unwrap_or(0);
    // A failure note is only news when the last sweep did not fully succeed.
    let failed = f.state != State::Up || f.last_failure.as_ref().map(|n| n.at) == f.last_sweep;
    let note = f.last_failure.as_ref().filter(|_| failed);
    Row {
        mirror: mirror.name.clone(),
        family: Some(f.family),
        state: f.state,
        current: count(VerdictKind::Current),
        behind: count(VerdictKind::Behind),
        unknown: count(VerdictKind::Unknown),
        missing: count(VerdictKind::Missing),
        incomplete: count(VerdictKind::Incomplete),
        error: count(VerdictKind::Error),
        stale: f.stale(stale_after),
        max_lag_seconds: f.max_lag(),
        latency_seconds: f
            .phases
            .map(|p| p.connect + p.tls + p.processing + p.transfer),
        reason: note.map(|n| n.reason),
        detail: note.map(|n| n.detail.clone()),
    }
}

/// The rows of `snapshot`, optionally for one mirror only.
pub fn rows(snapshot: &Snapshot, only: Option<&str>) -> Vec<Row> {
    let stale_after = snapshot.config.freshness.stale_after;
    let mut out = Vec::new();
    for mirror in &snapshot.mirrors {
        if only.is_some_and(|name| name != mirror.name) {
            continue;
        }
        if mirror.families.is_empty() {
            out.push(row(mirror, None, stale_after));
        }
        for family in &mirror.families {
            out.push(row(mirror, Some(family), stale_after));
        }
    }
    out
}

/// Healthy: up, and every repo current or behind within the staleness bound.
pub fn healthy(row: &Row) -> bool {
    row.state == State::Up
        && row.missing == 0
        && row.incomplete == 0
        && row.error == 0
        && row.stale == 0
}

fn human_lag(seconds: Option<u64>) -> String {
    match seconds {
        None | Some(0) => "-".into(),
        Some(s) => humantime::format_duration(Duration::from_secs(s)).to_string(),
    }
}

/// A plain-text table, one line per (mirror, family), then a summary line.
pub fn table(rows: &[Row]) -> String {
    let headers = [
        "MIRROR",
        "FAMILY",
        "STATE",
        "CURRENT",
        "BEHIND",
        "UNKNOWN",
        "MISSING",
        "INCOMPLETE",
        "ERROR",
        "MAX LAG",
        "LATENCY",
        "REASON",
    ];
    let mut lines: Vec<Vec<String>> = vec![headers.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        lines.push(vec![
            r.mirror.clone(),
            r.family.map_or("-", IpFamily::as_str).to_string(),
            r.state.as_str().to_string(),
            r.current.to_string(),
            r.behind.to_string(),
            r.unknown.to_string(),
            r.missing.to_string(),
            r.incomplete.to_string(),
            r.error.to_string(),
            human_lag(r.max_lag_seconds),
            r.latency_seconds
                .map_or("-".into(), |s| format!("{:.0} ms", s * 1000.0)),
            match (&r.reason, &r.detail) {
                (Some(reason), Some(detail)) => format!("{reason}: {}", clip(detail, 60)),
                _ => "-".into(),
            },
        ]);
    }
    let columns = headers.len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            if c + 1 == columns {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[c]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    let bad = rows.iter().filter(|r| !healthy(r)).count();
    let _ = writeln!(
        out,
        "\n{} of {} mirror families healthy",
        rows.len() - bad,
        rows.len()
    );
    out
}

fn clip(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(state: State, missing: u32, reason: Option<FailureReason>) -> Row {
        Row {
            mirror: "mirror.example.org".into(),
            family: Some(IpFamily::Ipv6),
            state,
            current: 136 - missing,
            behind: 0,
            unknown: 0,
            missing,
            incomplete: 0,
            error: 0,
            stale: 0,
            max_lag_seconds: None,
            latency_seconds: Some(0.0123),
            reason,
            detail: reason.map(|_| "mirror.example.org: no such name".to_string()),
        }
    }

    #[test]
    fn healthy_needs_up_and_clean_repos() {
        assert!(healthy(&sample(State::Up, 0, None)));
        assert!(!healthy(&sample(State::Up, 1, None)));
        assert!(!healthy(&sample(State::Down, 0, Some(FailureReason::Dns))));
        assert!(!healthy(&sample(State::Degraded, 0, None)));
    }

    #[test]
    fn table_aligns_columns_and_counts_the_healthy() {
        let text = table(&[
            sample(State::Up, 0, None),
            sample(State::Down, 136, Some(FailureReason::Dns)),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("MIRROR              FAMILY  STATE"),
            "{text}"
        );
        assert!(lines[1].contains("ipv6    up"), "{text}");
        assert!(lines[1].contains("12 ms"), "{text}");
        assert!(
            lines[2].ends_with("dns: mirror.example.org: no such name"),
            "{text}"
        );
        assert_eq!(lines.last(), Some(&"1 of 2 mirror families healthy"));
    }

    #[test]
    fn long_details_are_clipped_to_one_line() {
        assert_eq!(clip("a\nb", 10), "a b");
        assert_eq!(clip(&"x".repeat(100), 10).chars().count(), 10);
    }
}
