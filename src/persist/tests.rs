//! Tests for the state file: real files in a temporary directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    versions: Vec<String>,
    health: BTreeMap<String, u32>,
}

fn sample() -> State {
    State {
        versions: vec!["abc".into(), "def".into()],
        health: BTreeMap::from([("mirror-a".into(), 3), ("mirror-b".into(), 0)]),
    }
}

fn state_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("state.json")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Expect a set-aside whose copy holds exactly `original`, and return the reason.
fn assert_set_aside(loaded: Loaded<State>, path: &Path, now: i64, original: &[u8]) -> String {
    match loaded {
        Loaded::SetAside { moved_to, reason } => {
            let mut expected = path.as_os_str().to_owned();
            expected.push(format!(".corrupt-{now}"));
            assert_eq!(moved_to, PathBuf::from(expected));
            assert_eq!(std::fs::read(&moved_to).unwrap(), original);
            assert!(
                !path.exists(),
                "the unusable file must no longer be at the path"
            );
            reason
        }
        other => panic!("expected SetAside, got {other:?}"),
    }
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    save_atomic(&path, &sample()).unwrap();
    assert_eq!(
        load_or_set_aside::<State>(&path, 100),
        Loaded::Restored(sample())
    );
}

#[test]
fn the_file_is_an_envelope_with_format_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    save_atomic(&path, &sample()).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(value["format"], 1);
    assert!(value["written_at"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(value["state"]["versions"][1], "def");
}

#[test]
fn a_missing_file_is_a_fresh_start() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        load_or_set_aside::<State>(&state_path(&dir), 100),
        Loaded::Fresh
    );
    assert!(names_in(dir.path()).is_empty(), "loading creates nothing");
}

#[test]
fn a_truncated_file_is_set_aside_with_its_bytes_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    save_atomic(&path, &sample()).unwrap();
    let full = std::fs::read(&path).unwrap();
    let half = &full[..full.len() / 2];
    std::fs::write(&path, half).unwrap();

    let reason = assert_set_aside(load_or_set_aside(&path, 1234), &path, 1234, half);
    assert!(reason.contains("truncated"), "{reason}");
    // The next start finds no file and starts fresh, without touching the copy.
    assert_eq!(load_or_set_aside::<State>(&path, 1235), Loaded::Fresh);
    assert_eq!(
        names_in(dir.path()),
        ["state.json.corrupt-1234".to_string()]
    );
}

#[test]
fn garbage_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    let garbage = b"\x00\xffnot json at all\x7f";
    std::fs::write(&path, garbage).unwrap();
    let reason = assert_set_aside(load_or_set_aside(&path, 7), &path, 7, garbage);
    assert!(reason.contains("not valid JSON"), "{reason}");
}

#[test]
fn an_empty_file_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    std::fs::write(&path, b"").unwrap();
    assert_set_aside(load_or_set_aside(&path, 7), &path, 7, b"");
}

#[test]
fn an_unknown_format_is_set_aside_with_a_clear_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    let bytes = br#"{"format": 2, "written_at": 5, "state": {"versions": [], "health": {}}}"#;
    std::fs::write(&path, bytes).unwrap();
    let reason = assert_set_aside(load_or_set_aside(&path, 9), &path, 9, bytes);
    assert_eq!(
        reason,
        "unknown state file format 2 (this build reads format 1)"
    );
}

#[test]
fn json_without_an_envelope_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    let bytes = br#"{"versions": [], "health": {}}"#;
    std::fs::write(&path, bytes).unwrap();
    let reason = assert_set_aside(load_or_set_aside(&path, 9), &path, 9, bytes);
    assert!(reason.contains("missing field `format`"), "{reason}");
}

#[test]
fn a_state_of_the_wrong_shape_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    let bytes = br#"{"format": 1, "written_at": 5, "state": {"versions": 3}}"#;
    std::fs::write(&path, bytes).unwrap();
    let reason = assert_set_aside(load_or_set_aside(&path, 9), &path, 9, bytes);
    assert!(reason.starts_with("the state does not match"), "{reason}");
}

#[test]
fn an_earlier_set_aside_copy_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    std::fs::write(&path, b"first").unwrap();
    assert_set_aside(load_or_set_aside(&path, 50), &path, 50, b"first");
    std::fs::write(&path, b"second").unwrap();
    match load_or_set_aside::<State>(&path, 50) {
        Loaded::SetAside { moved_to, .. } => {
            assert_eq!(moved_to, dir.path().join("state.json.corrupt-50-1"));
            assert_eq!(std::fs::read(&moved_to).unwrap(), b"second");
        }
        other => panic!("expected SetAside, got {other:?}"),
    }
    let first = dir.path().join("state.json.corrupt-50");
    assert_eq!(std::fs::read(first).unwrap(), b"first");
}

#[test]
fn saving_over_an_existing_file_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    save_atomic(&path, &sample()).unwrap();
    let mut newer = sample();
    newer.versions.push("ghi".into());
    newer.health.remove("mirror-b");
    save_atomic(&path, &newer).unwrap();
    assert_eq!(
        load_or_set_aside::<State>(&path, 1),
        Loaded::Restored(newer)
    );
}

#[test]
fn a_successful_save_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    save_atomic(&path, &sample()).unwrap();
    save_atomic(&path, &sample()).unwrap();
    assert_eq!(names_in(dir.path()), ["state.json".to_string()]);
}

#[test]
fn a_leftover_temporary_file_is_overwritten_not_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    let tmp = dir
        .path()
        .join(format!(".state.json.tmp-{}", std::process::id()));
    std::fs::write(&tmp, vec![b'x'; 10_000]).unwrap();
    save_atomic(&path, &sample()).unwrap();
    assert_eq!(
        load_or_set_aside::<State>(&path, 1),
        Loaded::Restored(sample())
    );
    assert_eq!(names_in(dir.path()), ["state.json".to_string()]);
}

#[test]
fn saving_into_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("state.json");
    let err = save_atomic(&path, &sample()).unwrap_err();
    assert!(
        matches!(err, PersistError::Io { op: "create", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn saving_to_a_path_without_a_file_name_is_an_error() {
    let err = save_atomic(Path::new("/"), &sample()).unwrap_err();
    assert!(matches!(err, PersistError::NotAFilePath { .. }), "{err}");
}

#[test]
fn a_serialization_error_writes_nothing() {
    // serde_json refuses maps whose keys are not strings.
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    let bad: BTreeMap<Vec<u8>, u8> = BTreeMap::from([(vec![1], 1)]);
    let err = save_atomic(&path, &bad).unwrap_err();
    assert!(matches!(err, PersistError::Serialize(_)), "{err}");
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn a_directory_in_its_place_is_set_aside_as_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    std::fs::create_dir(&path).unwrap();
    match load_or_set_aside::<State>(&path, 3) {
        Loaded::SetAside { moved_to, reason } => {
            assert!(reason.starts_with("cannot read: "), "{reason}");
            assert_eq!(moved_to, dir.path().join("state.json.corrupt-3"));
        }
        other => panic!("expected SetAside, got {other:?}"),
    }
}

#[test]
fn a_large_state_round_trips_through_the_streaming_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    let big = State {
        versions: (0..20_000).map(|i| format!("v{i:08}")).collect(),
        health: (0..5_000).map(|i| (format!("m{i}"), i)).collect(),
    };
    save_atomic(&path, &big).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 1 << 16);
    assert_eq!(load_or_set_aside::<State>(&path, 1), Loaded::Restored(big));
}
