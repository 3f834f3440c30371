//! `mirrorwatch serve` binds, answers `GET /healthz`, and exits cleanly (code 0) on SIGTERM and
//! on SIGINT. The real binary, a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::binary;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use binary::{http_get, listening_addr, serve_command};

struct Daemon {
    _dir: tempfile::TempDir,
    child: Child,
    addr: SocketAddr,
    logs: mpsc::Receiver<String>,
}

/// A configuration that only ever reaches loopback: IP-literal URLs where nothing listens
/// (port 9, discard) and a dead loopback name server. The state file goes to `dir`.
fn offline_config(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("mirrors.yaml");
    std::fs::write(
        &file,
        "upstream:\n  urls: [\"http://127.0.0.1:9/\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {\"9\": [x86_64]}\n  repos:\n    - {name: baseos, path: BaseOS/$basearch/os/}\nmirrors:\n  - name: m1\n    address: {http: \"http://127.0.0.2:9/\"}\nprobe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\nstate:\n  path: state.json\n",
    )
    .unwrap();
    file
}

fn start() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    let mut child = serve_command(&config).spawn().unwrap();
    let (tx, logs) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let addr = listening_addr(&wait_for(&logs, "listening"));
    Daemon {
        _dir: dir,
        child,
        addr,
        logs,
    }
}

fn wait_for(logs: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match logs.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line containing {needle:?}: {e}"),
        }
    }
}

fn stop_with(signal: &str) {
    let mut daemon = start();
    let response = http_get(daemon.addr, "/healthz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok\n"), "{response}");
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(&daemon.logs, "shut down");
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "still running after {signal}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "exit code after {signal}");
    assert!(TcpStream::connect_timeout(&daemon.addr, Duration::from_secs(1)).is_err());
}

#[test]
fn sigterm_shuts_down_cleanly() {
    stop_with("TERM");
}

#[test]
fn sigint_shuts_down_cleanly() {
    stop_with("INT");
}

#[test]
fn unknown_paths_are_404() {
    let mut daemon = start();
    let response = http_get(daemon.addr, "/nope");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
}

#[test]
fn serve_refuses_an_invalid_config_with_exit_code_2() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config/invalid/bad-country.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(["serve", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mirrors[0].country"));
}

#[test]
fn a_taken_address_is_a_runtime_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args([
            "serve",
            "--listen",
            &taken.local_addr().unwrap().to_string(),
            "--config",
        ])
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
