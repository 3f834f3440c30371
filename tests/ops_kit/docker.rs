//! `Dockerfile` and `.dockerignore`, checked structurally (no Docker engine here or in CI,
//! so the image itself is never built by the tests): two stages, `cargo build --release
//! --locked` on a toolchain new enough for every locked dependency, a debian:bookworm-slim
//! runtime with a non-root `USER`, the configuration from outside (`MIRRORWATCH_CONFIG`),
//! state in a `VOLUME`, `EXPOSE`, `CMD` and `HEALTHCHECK` on the same port, every `COPY`
//! source existing and let through by `.dockerignore`, every `COPY --from` a stage that
//! produces the file. The `HEALTHCHECK` command itself runs against a live mirrorwatch.

use std::path::Path;
use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::prometheus::repo_file;
use crate::common::scraped::Config;
use fakemirrors::{Behaviour, FakeMirror, MirrorOptions};

/// One instruction: keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, args) = pending
            .split_once(char::is_whitespace)
            .unwrap_or((&pending, ""));
        out.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
        });
        pending.clear();
    }
    out
}

/// The JSON (exec) form of CMD, ENTRYPOINT, VOLUME, HEALTHCHECK's CMD.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not a JSON array: {args}: {e}"))
}

/// Stages: (FROM arguments, instructions after it).
fn stages(all: &[Instruction]) -> Vec<(&str, Vec<&Instruction>)> {
    let mut out: Vec<(&str, Vec<&Instruction>)> = Vec::new();
    for i in all {
        if i.keyword == "FROM" {
            out.push((&i.args, Vec::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push(i);
        }
    }
    out
}

/// `.dockerignore` as Docker reads it: the last pattern matching the path or one of its
/// parents decides; `!` lets through. Globs: `*`, `?` within a segment, `**` across.
fn ignored(patterns: &[String], path: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
            (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
            _ => false,
        }
    }
    fn segments(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => segments(&p[1..], s) || (!s.is_empty() && segments(p, &s[1..])),
            (Some(a), Some(b)) => glob(a.as_bytes(), b.as_bytes()) && segments(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let parts: Vec<&str> = path.split('/').collect();
    let mut out = false;
    for pattern in patterns {
        let (negated, p) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern.as_str()),
        };
        let p: Vec<&str> = p.trim_matches('/').split('/').collect();
        if (1..=parts.len()).any(|n| segments(&p, &parts[..n])) {
            out = !negated;
        }
    }
    out
}

fn dockerignore() -> Vec<String> {
    std::fs::read_to_string(repo_file(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Every file under `rel` (or `rel` itself), relative to the repository.
fn files_under(rel: &str) -> Vec<String> {
    let path = repo_file(rel);
    if path.is_file() {
        return vec![rel.to_string()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&path).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        out.extend(files_under(&format!("{rel}/{name}")));
    }
    out
}

/// The platform this test runs on (`rustc -vV`'s `host:` line): the image is built on Linux
/// too, and its build compiles only the dependencies of that platform.
fn host_triple() -> String {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// The newest `rust-version` of any locked dependency built for this platform, as
/// (major, minor).
///
/// `--filter-platform` matters: without it cargo needs the manifests of every platform's
/// dependencies (Windows-only crates included), which a machine that has only built this
/// project never downloaded, so `--offline` would fail on a fresh machine.
fn newest_rust_version() -> (u32, u32) {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["rust_version"].as_str())
        .map(version)
        .max()
        .unwrap()
}

fn version(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|n| n.parse::<u32>().unwrap());
    (it.next().unwrap(), it.next().unwrap_or(0))
}

#[test]
fn dockerfile_structure() {
    let text = std::fs::read_to_string(repo_file("Dockerfile")).unwrap();
    assert!(
        text.starts_with("# syntax=docker/dockerfile:1\n"),
        "BuildKit syntax line"
    );
    let all = instructions(&text);
    let stages = stages(&all);
    let names: Vec<&str> = stages.iter().map(|(from, _)| *from).collect();
    assert_eq!(
        names,
        [
            "rust:${RUST_VERSION}-bookworm AS build",
            "debian:bookworm-slim AS runtime"
        ]
    );
    let arg = all.iter().find(|i| i.keyword == "ARG").unwrap();
    let pinned = arg
        .args
        .strip_prefix("RUST_VERSION=")
        .expect("ARG RUST_VERSION=");
    let needed = newest_rust_version();
    assert!(
        version(pinned) >= needed,
        "RUST_VERSION {pinned} is older than a dependency needs ({needed:?})"
    );

    let (_, build) = &stages[0];
    let run = build
        .iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.as_str())
        .collect::<String>();
    assert!(run.contains("cargo build --release --locked"), "{run}");
    assert!(
        run.contains("/out/mirrorwatch"),
        "the binary leaves the cache mount: {run}"
    );

    // COPY sources exist, pass .dockerignore, and cover what cargo needs.
    let ignore = dockerignore();
    let mut copied = Vec::new();
    for copy in build.iter().filter(|i| i.keyword == "COPY") {
        let words: Vec<&str> = copy
            .args
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        for source in &words[..words.len() - 1] {
            assert!(repo_file(source).exists(), "COPY {source}: no such file");
            for file in files_under(source) {
                assert!(
                    !ignored(&ignore, &file),
                    "{file} is copied but .dockerignore drops it"
                );
            }
            copied.push(source.to_string());
        }
    }
    let manifest = std::fs::read_to_string(repo_file("Cargo.toml")).unwrap();
    for target in ["[[bench]]", "[[test]]", "[[example]]", "[[bin]]"] {
        assert!(
            !manifest.contains(target),
            "Cargo.toml has {target}: copy its files in the Dockerfile and update this test"
        );
    }
    // Every workspace member is a path cargo resolves, and the simulator's layout is the
    // shipped mirrors.yaml (included at build time).
    let mut needed = vec!["Cargo.toml", "Cargo.lock", "src", "crates", "mirrors.yaml"];
    if Path::new(&repo_file("build.rs")).exists() {
        needed.push("build.rs");
    }
    for path in needed {
        assert!(
            copied.iter().any(|c| c == path),
            "the build needs {path}; COPY has {copied:?}"
        );
    }
    assert!(
        ignored(&ignore, "target/debug/mirrorwatch") && ignored(&ignore, ".git/HEAD"),
        "context too big"
    );

    let (_, runtime) = &stages[1];
    let get = |k: &str| -> Vec<&str> {
        runtime
            .iter()
            .filter(|i| i.keyword == k)
            .map(|i| i.args.as_str())
            .collect()
    };
    let run = get("RUN").concat();
    assert!(
        run.contains("--no-install-recommends") && run.contains("rm -rf /var/lib/apt/lists/*"),
        "{run}"
    );
    assert!(run.contains("useradd --system --uid 10001"), "{run}");
    assert!(
        run.contains("install -d -o mirrorwatch -g mirrorwatch -m 0750 /var/lib/mirrorwatch"),
        "{run}"
    );
    assert_eq!(
        get("COPY"),
        ["--from=build /out/mirrorwatch /usr/local/bin/mirrorwatch"]
    );
    assert_eq!(get("USER"), ["10001:10001"], "a non-root user, by number");
    let last = runtime.iter().rposition(|i| i.keyword == "USER").unwrap();
    assert!(
        runtime[last..].iter().all(|i| i.keyword != "RUN"),
        "nothing runs as root after USER"
    );
    assert!(get("ENV")
        .concat()
        .contains("MIRRORWATCH_CONFIG=/etc/mirrorwatch/mirrors.yaml"));
    assert_eq!(exec_form(get("VOLUME")[0]), ["/var/lib/mirrorwatch"]);
    assert_eq!(get("EXPOSE"), ["9184"]);
    assert_eq!(
        exec_form(get("ENTRYPOINT")[0]),
        ["/usr/local/bin/mirrorwatch"]
    );
    assert_eq!(
        exec_form(get("CMD")[0]),
        ["serve", "--listen", "0.0.0.0:9184"]
    );
    let check = healthcheck(&text);
    assert_eq!(check[..2], ["/bin/bash", "-c"]);
    assert!(
        check[2].contains("/dev/tcp/127.0.0.1/9184") && check[2].contains("/healthz"),
        "{check:?}"
    );
    // Only tools the slim image has: no curl or wget was installed.
    assert!(!check[2].contains("curl") && !check[2].contains("wget"));
}

/// The HEALTHCHECK's command (exec form), after its options.
fn healthcheck(text: &str) -> Vec<String> {
    let all = instructions(text);
    let hc = all
        .iter()
        .find(|i| i.keyword == "HEALTHCHECK")
        .expect("HEALTHCHECK");
    let (options, command) = hc
        .args
        .split_once(" CMD ")
        .expect("HEALTHCHECK ... CMD [...]");
    for option in ["--interval=", "--timeout=", "--start-period=", "--retries="] {
        assert!(options.contains(option), "HEALTHCHECK {option}");
    }
    exec_form(command)
}

/// Run the HEALTHCHECK command against `ip:port`: whether it reports healthy.
async fn healthy(command: &[String], ip: &str, port: u16) -> bool {
    let script = command[2].replace("127.0.0.1/9184", &format!("{ip}/{port}"));
    let mut child = tokio::process::Command::new(&command[0]);
    child
        .arg(&command[1])
        .arg(script)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let status = tokio::time::timeout(Duration::from_secs(10), child.status())
        .await
        .expect("the health check hangs")
        .unwrap();
    status.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_command_tells_healthy_from_not() {
    let text = std::fs::read_to_string(repo_file("Dockerfile")).unwrap();
    let command = healthcheck(&text);
    let dead = "http://127.0.0.1:9/";
    let mw = Daemon::spawn(&Config::new(dead, "").mirror("m", dead).yaml()).await;
    let port = mw.addr.port();
    assert!(
        healthy(&command, "127.0.0.1", port).await,
        "a live mirrorwatch"
    );
    drop(mw);
    // A server answering 500, and a port where nothing listens.
    let sick = FakeMirror::start(MirrorOptions::default()).await;
    sick.set_behaviour(Behaviour::Status(500));
    assert!(
        !healthy(&command, &sick.ip().to_string(), sick.port()).await,
        "HTTP 500"
    );
    sick.shutdown().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert!(
        !healthy(&command, "127.0.0.1", closed).await,
        "nothing listening"
    );
}

#[test]
fn dockerignore_matching() {
    let p: Vec<String> = ["*", "!src", "!src/**"].map(String::from).to_vec();
    assert!(!ignored(&p, "src/serve/mod.rs"));
    assert!(ignored(&p, "tests/kit/mod.rs"));
    assert!(ignored(&p, "Cargo.toml"));
}
