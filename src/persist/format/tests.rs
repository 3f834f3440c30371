//! Tests for the state file's format: what earlier builds wrote still reads, and reads
//! into shared values.

use std::path::Path;

use super::*;
use crate::freshness::ErrorReason;
use crate::persist::{load_or_set_aside, Loaded};
use crate::state::records::{Copies, Seen};

const SHA: &str = "5f2b0f3b2a1c8d4e6f7a8b9c0d1e2f30415263748596a7b8c9d0e1f203142536";

/// A state written by the build before interning: every kind of copy.
fn written_before() -> serde_json::Value {
    let copy = |seen: serde_json::Value| {
        serde_json::json!({
            "seen": seen,
            "etag": "\"691e5a00-1097\"",
            "last_modified": "Thu, 20 Nov 2025 00:00:00 GMT",
            "at": 1_700_000_000,
        })
    };
    let family = serde_json::json!({
        "absent": false, "last_sweep": 1_700_000_000, "address": "127.0.0.1",
        "protocols": {"http": true}, "phases": null, "tls_not_after": null,
        "last_failure": null, "time_file": null,
        "log": [
            {"at": 1, "duration_seconds": 0.5, "result": "ok", "files_ok": 5,
             "files_failed": 0, "reason": null, "detail": null},
            {"at": 2, "duration_seconds": 0.5, "result": "partial", "files_ok": 4,
             "files_failed": 1, "reason": "timeout", "detail": "no answer in 20s"},
            {"at": 3, "duration_seconds": 0.0, "result": "absent", "files_ok": 0,
             "files_failed": 0, "reason": null, "detail": "no ipv6 address"},
            {"at": 4, "duration_seconds": 1.0, "result": "failed", "files_ok": 0,
             "files_failed": 5, "reason": "connect", "detail": "refused"},
        ],
        "copies": {
            "9.8/BaseOS/x86_64/os/": copy(serde_json::json!(
                {"kind": "fetched", "sha256": SHA, "timestamp": 1_699_000_000, "missing": []})),
            "9.8/AppStream/x86_64/os/": copy(serde_json::json!(
                {"kind": "fetched", "sha256": SHA, "timestamp": null, "missing": ["repodata/a.xml.gz"]})),
            "9.8/CRB/x86_64/os/": copy(serde_json::json!(
                {"kind": "fetched", "sha256": SHA, "timestamp": 5, "missing": null})),
            "9.8/extras/x86_64/os/": copy(serde_json::json!({"kind": "not_found"})),
            "9.8/HA/x86_64/os/": copy(serde_json::json!(
                {"kind": "failed", "reason": "timeout", "detail": "no answer in 20s"})),
        },
    });
    let mirror =
        serde_json::json!({"health": MirrorHealth::default(), "families": {"ipv4": family}});
    serde_json::json!({"upstream": {}, "mirrors": {"a": mirror.clone(), "b": mirror}})
}

/// The IPv4 copies of mirror `m`.
fn ipv4_copies<'r>(records: &'r Records, m: &str) -> &'r Copies {
    &records.mirrors[m]
        .families
        .get(&IpFamily::Ipv4)
        .unwrap()
        .copies
}

#[test]
fn the_state_file_format_is_unchanged() {
    let before = written_before();
    let records: Records = serde_json::from_value(before.clone()).unwrap();
    assert_eq!(serde_json::to_value(&records).unwrap(), before);
}

#[test]
fn a_numeric_revision_is_kept_and_read_back() {
    let mut value = written_before();
    let seen =
        &mut value["mirrors"]["a"]["families"]["ipv4"]["copies"]["9.8/BaseOS/x86_64/os/"]["seen"];
    seen["revision"] = serde_json::json!(1_699_000_000u64);
    let records: Records = serde_json::from_value(value.clone()).unwrap();
    let revision = |m: &str| match &ipv4_copies(&records, m)
        .get("9.8/BaseOS/x86_64/os/")
        .unwrap()
        .seen
    {
        Seen::Fetched { content, .. } => content.revision,
        other => panic!("{other:?}"),
    };
    assert_eq!(revision("a"), Some(1_699_000_000));
    assert_eq!(revision("b"), None);
    // Written back as read: the field only where there is a revision.
    assert_eq!(serde_json::to_value(&records).unwrap(), value);
}

#[test]
fn restored_records_share_repeated_values() {
    let text = serde_json::to_string(&written_before()).unwrap();
    let records: Records = serde_json::from_str(&text).unwrap();
    let copies = |m: &str| ipv4_copies(&records, m);
    let (a, b) = (copies("a"), copies("b"));
    assert_eq!(a.len(), 5);
    let keys: Vec<&String> = a.iter().map(|(k, _)| k).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "copies are kept in key order");
    let etag = |c: &Copies| {
        c.get("9.8/BaseOS/x86_64/os/")
            .unwrap()
            .etag
            .clone()
            .unwrap()
    };
    assert!(std::ptr::eq(etag(a).as_str(), etag(b).as_str()));
    // Five keys; one etag, last-modified, missing href and detail (a reason is a label,
    // not a text); and three contents (one hash, but the timestamp is interned with it).
    assert_eq!(records.interned(), 5 + 4 + 3);
    let previous = a.get("9.8/BaseOS/x86_64/os/").unwrap().previous();
    assert_eq!(previous.sha256.as_deref(), Some(SHA));
    assert!(previous.complete);
    assert!(!a.get("9.8/CRB/x86_64/os/").unwrap().previous().complete);
}

#[test]
fn a_bad_hash_in_the_file_costs_that_copy_only() {
    let mut value = written_before();
    value["mirrors"]["a"]["families"]["ipv4"]["copies"]["9.8/BaseOS/x86_64/os/"]["seen"]
        ["sha256"] = "nothex".into();
    let records = serde_json::from_value::<Records>(value).unwrap();
    let copies = |m: &str| ipv4_copies(&records, m);
    let damaged = copies("a").get("9.8/BaseOS/x86_64/os/").unwrap();
    match &damaged.seen {
        Seen::Failed { reason, detail } => {
            assert_eq!(reason.as_str(), "state");
            assert_eq!(*reason, ErrorReason::StateFile);
            assert!(detail.contains("nothex"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    // Read in full next time, not answered 304 from a hash nobody can vouch for.
    assert!(damaged.previous().sha256.is_none());
    assert_eq!(copies("a").len(), 5);
    let intact = copies("b").get("9.8/BaseOS/x86_64/os/").unwrap();
    assert_eq!(intact.previous().sha256.as_deref(), Some(SHA));
}

/// A state file written by the release before the format had types of its own (4bb03a8):
/// read with today's code, every kind of value comes back.
#[test]
fn a_state_file_of_the_previous_release_still_loads() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state/v1-4bb03a8.json");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::copy(&fixture, &path).unwrap();
    let records: Records = match load_or_set_aside(&path, 0) {
        Loaded::Restored(records) => records,
        other => panic!("{other:?}"),
    };
    let (old, new) = ("11".repeat(32), "22".repeat(32));
    let base = "9.8/BaseOS/x86_64/os/";
    let appstream = "9.8/AppStream/x86_64/os/";

    // Upstream: two versions of BaseOS, with the validators of the last poll.
    let upstream = &records.upstream[base];
    assert_eq!(upstream.history.current().unwrap().sha256, new);
    assert_eq!(upstream.history.versions().len(), 2);
    assert_eq!(upstream.history.versions()[0].first_seen, 1_800_000_000);
    assert_eq!(upstream.etag.as_deref(), Some("\"up-2\""));
    assert!(upstream.polled);

    // Mirror a: over IPv4 current on BaseOS (with its ETag), AppStream old and incomplete.
    let a = &records.mirrors["a.example.org"];
    let a4 = a.families.get(&IpFamily::Ipv4).unwrap();
    let copy = a4.copies.get(base).unwrap();
    match &copy.seen {
        Seen::Fetched { content, missing } => {
            assert_eq!(content.sha256_hex(), new);
            assert_eq!(content.timestamp, Some(1_800_003_000));
            // Written before revisions were kept: read as without one.
            assert_eq!(content.revision, None);
            assert_eq!(missing.as_deref().map(<[_]>::len), Some(0));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(copy.etag.as_deref(), Some("\"a-base\""));
    let v = copy.validators();
    assert!(v.complete());
    let incomplete = a4.copies.get(appstream).unwrap();
    assert_eq!(
        incomplete.last_modified.as_deref(),
        Some("Wed, 19 Nov 2025 00:00:00 GMT")
    );
    match &incomplete.seen {
        Seen::Fetched { content, missing } => {
            assert_eq!(content.sha256_hex(), old);
            assert_eq!(
                missing.as_deref().unwrap()[0].as_str(),
                "repodata/abc-primary.xml.gz"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a4.time_file, Some(1_799_990_000));
    assert_eq!(a4.tls_not_after, Some(1_900_000_000));
    // Over IPv6 connections were refused: down, with the reason.
    let a6 = a.families.get(&IpFamily::Ipv6).unwrap();
    let note = a6.last_failure.as_ref().unwrap();
    assert_eq!(note.reason, FailureReason::Connect);
    assert_eq!(note.detail, "connection refused (os error 111)");
    assert_eq!(a6.log.back().unwrap().result, LogResult::Failed);
    assert_eq!(a.health.overall(), crate::health::State::Degraded);
    assert_eq!(
        a.health.family(IpFamily::Ipv6).unwrap().state(),
        crate::health::State::Down
    );
    assert_eq!(
        a.health.family(IpFamily::Ipv4).unwrap().state(),
        crate::health::State::Up
    );

    // Mirror b: a timed-out file, a missing one, no IPv6 address.
    let b = &records.mirrors["b.example.org"];
    let b4 = b.families.get(&IpFamily::Ipv4).unwrap();
    match &b4.copies.get(appstream).unwrap().seen {
        Seen::Failed { reason, detail } => {
            assert_eq!(*reason, ErrorReason::Probe(FailureReason::Timeout));
            assert_eq!(detail.as_str(), "no answer in 20s");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        b4.copies.get("9.8/CRB/x86_64/os/").unwrap().seen,
        Seen::NotFound
    );
    let entry = b4.log.back().unwrap();
    assert_eq!(
        (
            entry.result,
            entry.reason,
            entry.files_ok,
            entry.files_failed
        ),
        (LogResult::Partial, Some(FailureReason::Timeout), 1, 2)
    );
    assert!(b.families.get(&IpFamily::Ipv6).unwrap().absent);

    // Written again, the same document (the envelope's time aside).
    let before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&fixture).unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&records).unwrap(), before["state"]);
}

#[test]
fn an_unknown_reason_costs_that_value_only() {
    let mut value = written_before();
    let family = &mut value["mirrors"]["a"]["families"]["ipv4"];
    family["copies"]["9.8/HA/x86_64/os/"]["seen"]["reason"] = "gremlins".into();
    family["log"][1]["reason"] = "gremlins".into();
    family["last_failure"] = serde_json::json!({"at": 1, "reason": "gremlins", "detail": "x"});
    let records = serde_json::from_value::<Records>(value).unwrap();
    let family = records.mirrors["a"].families.get(&IpFamily::Ipv4).unwrap();
    match &family.copies.get("9.8/HA/x86_64/os/").unwrap().seen {
        Seen::Failed { reason, detail } => {
            assert_eq!(*reason, ErrorReason::StateFile);
            assert!(detail.contains("gremlins"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(family.log[1].reason, None);
    assert_eq!(family.log[3].reason, Some(FailureReason::Connect));
    assert!(family.last_failure.is_none());
}

#[test]
fn a_copy_reads_with_its_fields_in_any_order() {
    let mut value = written_before();
    let copies = &mut value["mirrors"]["a"]["families"]["ipv4"]["copies"];
    copies["9.8/BaseOS/x86_64/os/"]["seen"] = serde_json::json!(
        {"missing": [], "revision": 7, "added_later": {"x": [1]}, "timestamp": 5, "sha256": SHA, "kind": "fetched"});
    copies["9.8/HA/x86_64/os/"]["seen"] =
        serde_json::json!({"detail": "no answer in 20s", "reason": "timeout", "kind": "failed"});
    let records = serde_json::from_value::<Records>(value.clone()).unwrap();
    let a = ipv4_copies(&records, "a");
    match &a.get("9.8/BaseOS/x86_64/os/").unwrap().seen {
        Seen::Fetched { content, missing } => {
            assert_eq!(content.sha256_hex(), SHA);
            assert_eq!((content.timestamp, content.revision), (Some(5), Some(7)));
            assert_eq!(missing.as_deref().map(<[_]>::len), Some(0));
        }
        other => panic!("{other:?}"),
    }
    match &a.get("9.8/HA/x86_64/os/").unwrap().seen {
        Seen::Failed { reason, detail } => {
            assert_eq!(reason.as_str(), "timeout");
            assert_eq!(detail.as_str(), "no answer in 20s");
        }
        other => panic!("{other:?}"),
    }
    // A copy whose kind is missing, unknown, or without what its kind needs is not a copy.
    for seen in [
        serde_json::json!({"sha256": SHA}),
        serde_json::json!({"kind": "moved"}),
        serde_json::json!({"kind": "fetched", "timestamp": 5}),
        serde_json::json!({"kind": "failed", "reason": "timeout"}),
    ] {
        let mut bad = value.clone();
        bad["mirrors"]["a"]["families"]["ipv4"]["copies"]["9.8/CRB/x86_64/os/"]["seen"] =
            seen.clone();
        assert!(serde_json::from_value::<Records>(bad).is_err(), "{seen}");
    }
}

#[test]
fn a_sweeps_phases_are_kept_in_the_log() {
    let mut value = written_before();
    let phases = serde_json::json!(
        {"resolve": 0.0012, "connect": 0.0003, "tls": 0.0, "processing": 0.0451, "transfer": 0.002});
    value["mirrors"]["a"]["families"]["ipv4"]["log"][0]["phases"] = phases.clone();
    let records: Records = serde_json::from_value(value.clone()).unwrap();
    let log = &records.mirrors["a"]
        .families
        .get(&IpFamily::Ipv4)
        .unwrap()
        .log;
    let kept = crate::state::Phases::from(log[0].phases.unwrap());
    assert_eq!((kept.resolve, kept.processing), (0.0012, 0.0451));
    // Entries without phases (older files, sweeps without a fetch) stay without.
    assert!(log[1].phases.is_none());
    assert_eq!(serde_json::to_value(&records).unwrap(), value);
}
