//! Every file under `tests/fixtures/config/invalid/` fails `check-config` with exit code 2 and
//! exactly the messages in its `.stderr` twin; every valid file, and the shipped `mirrors.yaml`,
//! passes with exit code 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn check_config(dir: &Path, file: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .current_dir(dir)
        .args(["check-config", file])
        .env_remove("MIRRORWATCH_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn each_invalid_fixture_fails_with_its_exact_message() {
    let dir = fixtures("invalid");
    let files = yaml_files(&dir);
    assert!(files.len() >= 20, "only {} invalid fixtures", files.len());
    let mut failures = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let expected = std::fs::read_to_string(file.with_extension("stderr"))
            .unwrap_or_else(|_| panic!("{name} has no .stderr file"));
        let out = check_config(&dir, name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(2) || stderr != expected {
            failures.push(format!(
                "{name}: exit {:?}\n--- expected\n{expected}--- got\n{stderr}",
                out.status.code()
            ));
        }
        assert!(
            out.stdout.is_empty(),
            "{name}: nothing on stdout when invalid"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_fixtures_and_the_shipped_file_pass() {
    let mut files: Vec<(PathBuf, String)> = yaml_files(&fixtures("valid"))
        .into_iter()
        .map(|f| {
            (
                fixtures("valid"),
                f.file_name().unwrap().to_str().unwrap().to_string(),
            )
        })
        .collect();
    files.push((
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        "mirrors.yaml".into(),
    ));
    for (dir, name) in files {
        let out = check_config(&dir, &name);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with(&format!("{name}: valid: ")), "{stdout}");
        assert!(
            out.stderr.is_empty(),
            "{name} has warnings: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_shipped_file_covers_every_continent_but_antarctica() {
    let config =
        mirrorwatch::config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mirrors.yaml"))
            .unwrap()
            .config;
    assert!(config.mirrors.len() >= 20);
    let mut continents: Vec<&str> = config
        .mirrors
        .iter()
        .filter_map(|m| m.continent.map(|c| c.code()))
        .collect();
    continents.sort();
    continents.dedup();
    assert_eq!(continents, ["AF", "AS", "EU", "NA", "OC", "SA"]);
    assert_eq!(
        config.layout.version_names(),
        ["8.10", "9.8", "10.2", "10-kitten"]
    );
    assert_eq!(config.layout.resolve_version("9").unwrap().name, "9.8");
}

#[test]
fn the_config_file_can_come_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .arg("check-config")
        .env("MIRRORWATCH_CONFIG", fixtures("valid").join("minimal.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unreadable_file_is_a_config_error() {
    let out = check_config(&fixtures("invalid"), "does-not-exist.yaml");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("does-not-exist.yaml: cannot read: "),
        "{stderr}"
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let err = mirrorwatch::config::load(&fixtures("invalid").join("many-errors.yaml")).unwrap_err();
    let paths: Vec<&str> = err.errors().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        ["probe.bogus", "layout.arches.9[1]", "mirrors[0].country"]
    );
    assert!(err.errors().all(|d| d.location.is_some()));
}
