//! Unit tests for the upstream history and the freshness verdict.

use super::*;

const HOUR: i64 = 3600;
const T0: i64 = 1_726_000_000;

fn obs(tag: &str, timestamp: i64) -> Observation {
    Observation {
        sha256: format!("sha-{tag}"),
        sha512: None,
        sha1: None,
        md5: None,
        size: 2046,
        revision: Some(timestamp.to_string()),
        timestamp: Some(timestamp),
    }
}

fn fetched(tag: &str, timestamp: Option<i64>) -> MirrorCopy {
    MirrorCopy::Fetched {
        sha256: format!("sha-{tag}"),
        timestamp,
        revision: None,
        data_files_ok: Some(true),
        missing_files: Vec::new(),
    }
}

/// Upstream published versions a, b, c, d one per hour from T0 (data timestamps a
/// minute before each was first polled).
fn four_versions() -> UpstreamHistory {
    let mut h = UpstreamHistory::new(cap(10));
    for (i, tag) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let seen = T0 + HOUR * i as i64;
        assert!(h.observe(obs(tag, seen - 60), seen));
    }
    h
}

#[test]
fn same_hash_as_upstream_now_is_current() {
    let h = four_versions();
    let v = verdict(&h, &fetched("d", Some(T0 + 3 * HOUR - 60)), T0 + 10 * HOUR);
    assert_eq!(v, Verdict::Current);
    assert_eq!(v.as_str(), "current");
    assert_eq!(v.lag_seconds(), Some(0));
    assert!(!v.is_stale(Duration::ZERO));
}

#[test]
fn behind_by_one_lags_since_the_replacement_appeared() {
    let h = four_versions();
    let now = T0 + 3 * HOUR + 1234;
    // c was replaced by d, first seen at T0 + 3h.
    let v = verdict(&h, &fetched("c", None), now);
    assert_eq!(v, Verdict::behind(1, 1234));
    assert_eq!(v.as_str(), "behind");
    assert_eq!(v.lag_seconds(), Some(1234));
}

#[test]
fn behind_by_three_lags_since_the_next_version() {
    let h = four_versions();
    let now = T0 + 12 * HOUR;
    // a was replaced by b (first seen at T0 + 1h), not by the current d.
    let v = verdict(&h, &fetched("a", None), now);
    assert_eq!(v, Verdict::behind(3, (11 * HOUR) as u64));
    assert!(!v.is_stale(Duration::from_secs(12 * 3600)));
    assert!(v.is_stale(Duration::from_secs(11 * 3600 - 1)));
    // Exactly at the bound is not over it.
    assert!(!v.is_stale(Duration::from_secs(11 * 3600)));
}

#[test]
fn find_counts_from_the_newest() {
    let h = four_versions();
    assert_eq!(h.find("sha-d").map(|(i, _)| i), Some(0));
    assert_eq!(
        h.find("sha-a").map(|(i, v)| (i, v.first_seen)),
        Some((3, T0))
    );
    assert!(h.find("sha-zz").is_none());
    assert_eq!(h.current().map(|v| v.sha256.as_str()), Some("sha-d"));
}

#[test]
fn unknown_hash_with_newer_timestamp_is_newer_without_lag() {
    let h = four_versions();
    let upstream_ts = T0 + 3 * HOUR - 60;
    for ts in [upstream_ts, upstream_ts + 500] {
        let v = verdict(&h, &fetched("x", Some(ts)), T0 + 100 * HOUR);
        assert_eq!(
            v,
            Verdict::Unknown {
                newer: true,
                lag_seconds: None
            }
        );
        assert_eq!(v.as_str(), "unknown");
        assert!(!v.is_stale(Duration::ZERO));
    }
}

#[test]
fn unknown_hash_with_older_timestamp_gets_an_estimated_lag() {
    let h = four_versions();
    let now = T0 + 5 * HOUR;
    // Data from between b (ts T0+1h-60) and c (ts T0+2h-60): outdated since c appeared.
    let v = verdict(&h, &fetched("x", Some(T0 + HOUR)), now);
    assert_eq!(
        v,
        Verdict::Unknown {
            newer: false,
            lag_seconds: Some((3 * HOUR) as u64)
        }
    );
    assert!(v.is_stale(Duration::from_secs(2 * 3600)));
    // Older than the whole history: a lower bound, from the oldest version we know.
    let v = verdict(&h, &fetched("y", Some(T0 - 100 * HOUR)), now);
    assert_eq!(
        v,
        Verdict::Unknown {
            newer: false,
            lag_seconds: Some((5 * HOUR) as u64)
        }
    );
}

#[test]
fn unknown_hash_without_timestamps_has_no_estimate() {
    let h = four_versions();
    let v = verdict(&h, &fetched("x", None), T0 + 50 * HOUR);
    assert_eq!(
        v,
        Verdict::Unknown {
            newer: false,
            lag_seconds: None
        }
    );
    assert_eq!(v.lag_seconds(), None);
    assert!(!v.is_stale(Duration::ZERO));

    let mut no_ts = UpstreamHistory::new(cap(5));
    no_ts.observe(
        Observation {
            timestamp: None,
            ..obs("a", 0)
        },
        T0,
    );
    let v = verdict(&no_ts, &fetched("x", Some(T0)), T0 + 50 * HOUR);
    assert_eq!(
        v,
        Verdict::Unknown {
            newer: false,
            lag_seconds: None
        }
    );
}

#[test]
fn empty_history_is_unknown_and_never_stale() {
    let mut h = UpstreamHistory::new(cap(5));
    h.record_failure(T0, "connect");
    let v = verdict(&h, &fetched("x", Some(T0 - 1000 * HOUR)), T0);
    assert_eq!(
        v,
        Verdict::Unknown {
            newer: false,
            lag_seconds: None
        }
    );
    assert!(!v.is_stale(Duration::ZERO));
}

#[test]
fn missing_data_files_make_a_known_copy_incomplete() {
    let h = four_versions();
    let missing = vec!["repodata/abc-primary.xml.gz".to_string()];
    for tag in ["d", "b"] {
        let copy = MirrorCopy::Fetched {
            sha256: format!("sha-{tag}"),
            timestamp: Some(T0),
            revision: None,
            data_files_ok: Some(false),
            missing_files: missing.clone(),
        };
        let v = verdict(&h, &copy, T0 + 10 * HOUR);
        assert_eq!(
            v,
            Verdict::Incomplete {
                missing: missing.as_slice().into()
            },
            "{tag}"
        );
        assert_eq!(v.as_str(), "incomplete");
        assert_eq!(v.lag_seconds(), None);
        assert!(!v.is_stale(Duration::ZERO));
    }
    // A list of missing files counts even if the flag was not set.
    let copy = MirrorCopy::Fetched {
        sha256: "sha-d".into(),
        timestamp: None,
        revision: None,
        data_files_ok: None,
        missing_files: missing.clone(),
    };
    assert_eq!(verdict(&h, &copy, T0).as_str(), "incomplete");
}

#[test]
fn the_content_verdict_comes_before_the_data_files() {
    // A repomd.xml upstream never showed is unknown, not incomplete, whatever its data
    // files: older than upstream (with an estimate), newer, or without timestamps.
    let h = four_versions();
    let missing = vec!["repodata/abc-primary.xml.gz".to_string()];
    for (timestamp, newer) in [
        (Some(T0 - HOUR), false),
        (Some(T0 + 9 * HOUR), true),
        (None, false),
    ] {
        let copy = MirrorCopy::Fetched {
            sha256: "sha-never".into(),
            timestamp,
            revision: None,
            data_files_ok: Some(false),
            missing_files: missing.clone(),
        };
        let v = verdict(&h, &copy, T0 + 10 * HOUR);
        assert_eq!(v.as_str(), "unknown", "{timestamp:?}");
        assert!(
            matches!(v, Verdict::Unknown { newer: n, .. } if n == newer),
            "{v:?}"
        );
    }
}

#[test]
fn unchecked_data_files_do_not_block_a_verdict() {
    let h = four_versions();
    let copy = MirrorCopy::Fetched {
        sha256: "sha-d".into(),
        timestamp: None,
        revision: None,
        data_files_ok: None,
        missing_files: Vec::new(),
    };
    assert_eq!(verdict(&h, &copy, T0 + 4 * HOUR), Verdict::Current);
}

#[test]
fn not_found_is_missing_and_failures_are_errors() {
    let h = four_versions();
    let v = verdict(&h, &MirrorCopy::NotFound, T0);
    assert_eq!((v.as_str(), v.lag_seconds()), ("missing", None));
    let v = verdict(
        &h,
        &MirrorCopy::Failed {
            reason: crate::probe::FailureReason::Timeout.into(),
        },
        T0,
    );
    assert_eq!(
        v,
        Verdict::Error {
            reason: crate::probe::FailureReason::Timeout.into()
        }
    );
    assert_eq!((v.as_str(), v.lag_seconds()), ("error", None));
    assert!(!v.is_stale(Duration::ZERO));
}

#[test]
fn history_cap_drops_the_oldest() {
    let mut h = UpstreamHistory::new(cap(3));
    for (i, tag) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        h.observe(obs(tag, T0), T0 + i as i64);
    }
    let kept: Vec<&str> = h.versions().iter().map(|v| v.sha256.as_str()).collect();
    assert_eq!(kept, ["sha-c", "sha-d", "sha-e"]);
    // A mirror on a dropped version falls back to timestamps.
    assert_eq!(
        verdict(&h, &fetched("a", None), T0 + 10).as_str(),
        "unknown"
    );
    h.set_capacity(cap(1));
    assert_eq!(h.versions().len(), 1);
    assert_eq!(h.current().map(|v| v.sha256.as_str()), Some("sha-e"));
    // Zero would leave no current version: it is raised to one.
    assert_eq!(
        UpstreamHistory::new(std::num::NonZeroUsize::MIN).capacity(),
        1
    );
}

#[test]
fn observing_the_current_version_again_changes_nothing() {
    let mut h = four_versions();
    let before = h.versions().to_vec();
    assert!(!h.observe(obs("d", T0 + 3 * HOUR - 60), T0 + 20 * HOUR));
    assert_eq!(h.versions(), before.as_slice());
    assert_eq!(h.last_success(), Some(T0 + 20 * HOUR));
}

#[test]
fn rollback_makes_the_old_version_current_again_from_now() {
    let mut h = four_versions();
    let rollback_at = T0 + 5 * HOUR;
    // Upstream withdraws d and serves b again.
    assert!(h.observe(obs("b", T0 + HOUR - 60), rollback_at));
    let order: Vec<&str> = h.versions().iter().map(|v| v.sha256.as_str()).collect();
    assert_eq!(order, ["sha-a", "sha-c", "sha-d", "sha-b"]);
    assert_eq!(h.current().map(|v| v.first_seen), Some(rollback_at));

    let now = rollback_at + 600;
    assert_eq!(verdict(&h, &fetched("b", None), now), Verdict::Current);
    // A mirror that already has the withdrawn d is behind since the rollback, not stale
    // because b first appeared long ago.
    assert_eq!(
        verdict(&h, &fetched("d", None), now),
        Verdict::behind(1, 600)
    );
    // Serving b again is no change.
    assert!(!h.observe(obs("b", T0 + HOUR - 60), now));
}

#[test]
fn upstream_down_keeps_versions_and_verdicts() {
    let mut h = four_versions();
    assert!(h.upstream_up());
    let now = T0 + 4 * HOUR;
    let copies = [
        fetched("d", None),
        fetched("c", None),
        fetched("new", Some(T0 + 9 * HOUR)),
    ];
    let before: Vec<Verdict> = copies.iter().map(|c| verdict(&h, c, now)).collect();

    h.record_failure(now, "dns");
    h.record_failure(now + 60, "timeout");
    assert!(!h.upstream_up());
    assert_eq!(h.last_error(), Some("timeout"));
    assert_eq!(h.last_failure(), Some(now + 60));
    assert_eq!(h.consecutive_failures(), 2);
    assert_eq!(h.last_success(), Some(T0 + 3 * HOUR));
    assert_eq!(h.versions().len(), 4);

    let after: Vec<Verdict> = copies.iter().map(|c| verdict(&h, c, now)).collect();
    assert_eq!(before, after);
    // The current mirror stays current however long the master is down, and a mirror
    // that synced a version we could not see is newer, not stale.
    assert_eq!(verdict(&h, &copies[0], now + 1000 * HOUR), Verdict::Current);
    assert!(!verdict(&h, &copies[2], now + 1000 * HOUR).is_stale(Duration::ZERO));

    // Recovery clears the error.
    h.observe(obs("d", T0), now + 120);
    assert!(h.upstream_up());
    assert_eq!(h.last_error(), None);
    assert_eq!(h.consecutive_failures(), 0);
}

#[test]
fn a_clock_going_backwards_gives_zero_lag() {
    let h = four_versions();
    let v = verdict(&h, &fetched("c", None), T0);
    assert_eq!(v, Verdict::behind(1, 0));
}

#[test]
fn observation_from_a_parsed_file() {
    let bytes = br#"<repomd><revision>42</revision>
        <data type="primary"><location href="repodata/p"/><timestamp>100</timestamp></data>
        <data type="other"><location href="repodata/o"/><timestamp>200.5</timestamp></data>
        </repomd>"#;
    let md = crate::repomd::parse(bytes).unwrap();
    let seen = Observation::new(crate::repomd::fingerprint(bytes), &md);
    assert_eq!(seen.revision.as_deref(), Some("42"));
    assert_eq!(seen.timestamp, Some(200));
    assert_eq!(seen.size, bytes.len() as u64);
    assert_eq!(seen.sha512.as_ref().map(String::len), Some(128));
}

#[test]
fn history_round_trips_through_serde() {
    let mut h = four_versions();
    h.observe(
        Observation {
            sha512: Some("ab".repeat(64)),
            sha1: None,
            md5: None,
            ..obs("e", T0 + 4 * HOUR)
        },
        T0 + 4 * HOUR,
    );
    h.record_failure(T0 + 5 * HOUR, "tls");
    let json = serde_json::to_string(&h).unwrap();
    let back: UpstreamHistory = serde_json::from_str(&json).unwrap();
    assert_eq!(back, h);
    // State written before sha512 was recorded still loads.
    let old = r#"{"capacity":2,"versions":[{"sha256":"x","size":1,"revision":null,
        "timestamp":5,"first_seen":7}],"upstream_up":true,"last_success":7,
        "last_failure":null,"last_error":null,"consecutive_failures":0}"#;
    let old: UpstreamHistory = serde_json::from_str(old).unwrap();
    assert_eq!(
        old.current().map(|v| (v.sha512.clone(), v.first_seen)),
        Some((None, 7))
    );
}

#[test]
fn verdict_serializes_with_a_status_tag() {
    let v = Verdict::behind(2, 60);
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"status":"behind","versions":2,"lag_seconds":60,"estimated":false}"#
    );
    assert_eq!(
        serde_json::from_str::<Verdict>(&serde_json::to_string(&v).unwrap()).unwrap(),
        v
    );
    // Written before estimates existed: still reads.
    assert_eq!(
        serde_json::from_str::<Verdict>(r#"{"status":"behind","versions":2,"lag_seconds":60}"#)
            .unwrap(),
        v
    );
    let v = Verdict::behind_estimated(60, 7200);
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"status":"behind","versions":null,"lag_seconds":60,"estimated":true,"content_age_seconds":7200}"#
    );
    assert_eq!(
        serde_json::from_str::<Verdict>(&serde_json::to_string(&v).unwrap()).unwrap(),
        v
    );
    assert_eq!(
        serde_json::to_string(&Verdict::Current).unwrap(),
        r#"{"status":"current"}"#
    );
}

/// A copy upstream never showed, with its own revision (a number) and timestamp.
fn fetched_rev(tag: &str, timestamp: i64, revision: u64) -> MirrorCopy {
    MirrorCopy::Fetched {
        sha256: format!("sha-{tag}"),
        timestamp: Some(timestamp),
        revision: Some(revision),
        data_files_ok: Some(true),
        missing_files: Vec::new(),
    }
}

/// Right after a start: one upstream version remembered, built at T0 − 60 (its revision the
/// same number, as createrepo_c writes it) and first polled at T0.
fn one_version() -> UpstreamHistory {
    let mut h = UpstreamHistory::new(cap(10));
    assert!(h.observe(obs("now", T0 - 60), T0));
    h
}

#[test]
fn older_revision_and_timestamp_than_the_oldest_upstream_is_estimated_behind() {
    let h = one_version();
    let now = T0 + 120;
    let one = T0 - 60 - HOUR;
    let three = T0 - 60 - 3 * HOUR;
    let v1 = verdict(&h, &fetched_rev("one", one, one as u64), now);
    let v3 = verdict(&h, &fetched_rev("three", three, three as u64), now);
    // The lower bound: now − the oldest remembered version's data timestamp, for both.
    assert_eq!(v1, Verdict::behind_estimated(180, (HOUR + 180) as u64));
    assert_eq!(v3, Verdict::behind_estimated(180, (3 * HOUR + 180) as u64));
    for v in [&v1, &v3] {
        assert_eq!(v.as_str(), "behind");
        assert!(v.is_estimated());
        assert_eq!(v.lag_seconds(), Some(180));
        // The lower bound counts toward stale at once.
        assert!(v.is_stale(Duration::from_secs(179)));
        assert!(!v.is_stale(Duration::from_secs(180)));
    }
    // Against a longer history, the oldest version is the one that counts.
    let h = four_versions();
    let now = T0 + 5 * HOUR;
    let ts = T0 - 2 * HOUR;
    assert_eq!(
        verdict(&h, &fetched_rev("old", ts, ts as u64), now),
        Verdict::behind_estimated((5 * HOUR + 60) as u64, (7 * HOUR) as u64)
    );
    // A clock going backwards clamps both at 0.
    assert_eq!(
        verdict(&h, &fetched_rev("old", ts, ts as u64), ts - 10),
        Verdict::behind_estimated(0, 0)
    );
    // Exact verdicts are not estimated.
    assert!(!verdict(&h, &fetched("c", None), now).is_estimated());
}

#[test]
fn between_remembered_versions_is_not_estimated() {
    // Older than the current upstream but not than the oldest remembered: a version we
    // missed, still judged by timestamps alone.
    let h = four_versions();
    let ts = T0 + HOUR;
    let v = verdict(&h, &fetched_rev("x", ts, ts as u64), T0 + 5 * HOUR);
    assert_eq!(
        v,
        Verdict::Unknown {
            newer: false,
            lag_seconds: Some((3 * HOUR) as u64)
        }
    );
}

#[test]
fn newer_revision_and_timestamp_is_unknown_and_newer() {
    let h = one_version();
    let ts = T0 + HOUR;
    let v = verdict(&h, &fetched_rev("next", ts, ts as u64), T0 + 2 * HOUR);
    assert_eq!(
        v,
        Verdict::Unknown {
            newer: true,
            lag_seconds: None
        }
    );
    assert!(!v.is_stale(Duration::ZERO));
    // A newer timestamp with an older revision is not newer: the signals disagree.
    let v = verdict(&h, &fetched_rev("mixed", ts, 5), T0 + 2 * HOUR);
    assert_eq!(
        v,
        Verdict::Unknown {
            newer: false,
            lag_seconds: None
        }
    );
}

#[test]
fn another_repos_content_stays_unknown() {
    // Another repository's repomd.xml served in this one's place: built at other times, so
    // its revision and timestamps do not both fall before upstream's.
    let h = one_version();
    let now = T0 + 120;
    for (ts, rev) in [
        // Older data, newer revision.
        (T0 - 10 * HOUR, (T0 + HOUR) as u64),
        // Older revision, but data as new as upstream's.
        (T0 - 60, 1),
    ] {
        let v = verdict(&h, &fetched_rev("other", ts, rev), now);
        assert_eq!(v.as_str(), "unknown", "{ts} {rev}");
        assert!(matches!(v, Verdict::Unknown { newer: false, .. }), "{v:?}");
        assert!(!v.is_estimated());
    }
}

#[test]
fn a_revision_that_is_not_a_number_stays_unknown() {
    let now = T0 + 120;
    let old = T0 - 3 * HOUR;
    // On the mirror's side: the records keep no revision.
    let h = one_version();
    let v = verdict(&h, &fetched("words", Some(old)), now);
    assert_eq!(v.as_str(), "unknown");
    assert!(!v.is_estimated());
    // On upstream's side.
    let mut h = UpstreamHistory::new(cap(10));
    h.observe(
        Observation {
            revision: Some("9.8-release".into()),
            ..obs("now", T0 - 60)
        },
        T0,
    );
    let v = verdict(&h, &fetched_rev("old", old, old as u64), now);
    assert_eq!(v.as_str(), "unknown");
    assert!(!v.is_estimated());
    assert_eq!(crate::repomd::numeric_revision(Some("9.8-release")), None);
    assert_eq!(
        crate::repomd::numeric_revision(Some(" 1700000000 ")),
        Some(1_700_000_000)
    );
    assert_eq!(crate::repomd::numeric_revision(Some("-5")), None);
}

#[test]
fn an_estimated_behind_copy_is_behind_not_incomplete() {
    // The content verdict comes before the data-file check for estimates too.
    let h = one_version();
    let old = T0 - 3 * HOUR;
    let copy = MirrorCopy::Fetched {
        sha256: "sha-old".into(),
        timestamp: Some(old),
        revision: Some(old as u64),
        data_files_ok: Some(false),
        missing_files: vec!["repodata/abc-primary.xml.gz".to_string()],
    };
    let v = verdict(&h, &copy, T0 + 120);
    assert_eq!(v, Verdict::behind_estimated(180, (3 * HOUR + 120) as u64));
}

/// A history capacity.
fn cap(n: usize) -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(n).unwrap()
}

/// A snapshot holds one verdict per (mirror, family, target): 2.7 million at 10,000 mirrors.
/// Every 8 bytes more is 22 MB more at that size, twice while a snapshot is being replaced.
#[test]
fn a_verdict_stays_small() {
    assert!(
        std::mem::size_of::<Verdict>() <= 32,
        "{}",
        std::mem::size_of::<Verdict>()
    );
}
