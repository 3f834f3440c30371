//! How numbers read on the pages: durations (`3 h 12 min`), ages (`5 min ago`), UTC times,
//! latencies and shares. Pure functions; `now` comes from the snapshot.

/// A duration in seconds, in its two largest units: `45 s`, `12 min 5 s`, `3 h 12 min`,
/// `4 d 2 h`; whole years past two years.
pub fn duration(seconds: u64) -> String {
    if seconds >= 2 * 365 * 86_400 {
        return format!("{} y", seconds / (365 * 86_400));
    }
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{m} min"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, 0) => format!("{h} h"),
        (0, _, _) => format!("{h} h {m} min"),
        (_, 0, _) => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// How long before `now` `at` was: `5 min ago`, or `in 3 s` for a time ahead.
pub fn ago(at: i64, now: i64) -> String {
    if at > now {
        return format!("in {}", duration(at.abs_diff(now)));
    }
    format!("{} ago", duration(now.abs_diff(at)))
}

/// A certificate's remaining life: `in 45 d`, or `expired 2 d ago`.
pub fn expiry(not_after: i64, now: i64) -> String {
    if not_after >= now {
        format!("in {}", duration(not_after.abs_diff(now)))
    } else {
        format!("expired {} ago", duration(now.abs_diff(not_after)))
    }
}

/// Unix seconds as `2026-12-04 13:45:12 UTC`.
pub fn utc(at: i64) -> String {
    iso(at).replacen('T', " ", 1).replace('Z', " UTC")
}

/// Unix seconds as `2026-12-04T13:45:12Z`, for `<time datetime>`. Clamped to the years 1970
/// to 9999 (a certificate may claim anything up to 9999).
pub fn iso(at: i64) -> String {
    /// 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
    const LAST: u64 = 253_402_300_799;
    let secs = u64::try_from(at).unwrap_or(0).min(LAST);
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Seconds as milliseconds: `12.3 ms`, `1,204 ms` for slow ones.
pub fn millis(seconds: f64) -> String {
    let ms = seconds * 1000.0;
    if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// A share as a percentage: `87%`.
pub fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// At most `max` characters of `text`, with `…` when cut (details can be long).
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_two_units() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(120), "2 min");
        assert_eq!(duration(725), "12 min 5 s");
        assert_eq!(duration(3 * 3600 + 12 * 60 + 9), "3 h 12 min");
        assert_eq!(duration(7200), "2 h");
        assert_eq!(duration(4 * 86_400 + 2 * 3600 + 1), "4 d 2 h");
        assert_eq!(duration(86_400 + 59), "1 d");
        assert_eq!(duration(3 * 365 * 86_400 + 5), "3 y");
        assert_eq!(ago(100, 160), "1 min ago");
        assert_eq!(ago(163, 160), "in 3 s");
        assert_eq!(expiry(100, 160), "expired 1 min ago");
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_003_600), "2023-11-14 23:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(iso(1_700_003_600), "2023-11-14T23:13:20Z");
        assert_eq!(utc(-5), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(i64::MAX), "9999-12-31 23:59:59 UTC");
    }

    #[test]
    fn clipping_counts_characters_not_bytes() {
        assert_eq!(clip("äöü", 2), "äö…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(millis(0.0123), "12.3 ms");
        assert_eq!(percent(0.876), "88%");
    }
}
