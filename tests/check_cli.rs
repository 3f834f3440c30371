//! `mirrorwatch check` as a user runs it: the real binary against loopback mirrors. Exit code
//! 0 when every mirror is healthy, 1 when one is not, 2 for a configuration problem; a table,
//! or JSON with `--json`; `--mirror` narrows the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use fakemirrors::{Network, RepoTree};

fn write_config(dir: &Path, net: &Network) -> PathBuf {
    let mut text = format!(
        "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {{\"9\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\nmirrors:\n",
        net.upstream.base_url()
    );
    for (i, url) in net.mirror_urls().iter().enumerate() {
        text.push_str(&format!(
            "  - name: m{i}\n    address: {{http: \"{url}\"}}\n"
        ));
    }
    // Loopback only: IP-literal URLs and a dead loopback name server.
    text.push_str("probe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\n  timeout: 2s\n  connect_timeout: 1s\nstate:\n  path: state.json\n");
    let file = dir.join("mirrors.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

async fn check(config: &Path, extra: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"));
    command.arg("check").arg("--config").arg(config).args(extra);
    // The mirrors are served by this test's runtime: wait for the child off its workers.
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_table_json_and_filter() {
    let net = Network::start(2).await;
    let tree = RepoTree::new(1_700_000_000, "r1");
    net.publish("9.8/BaseOS/x86_64/os/", &tree);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &net);

    let out = check(&config, &[]).await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.starts_with("MIRROR"), "{table}");
    assert!(table.contains("2 of 2 mirror families healthy"), "{table}");

    net.make_down(1).await;
    let out = check(&config, &["--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let m1 = rows.iter().find(|r| r["mirror"] == "m1").unwrap();
    assert_eq!(m1["state"], "down");
    assert_eq!(m1["reason"], "connect");
    let m0 = rows.iter().find(|r| r["mirror"] == "m0").unwrap();
    assert_eq!(
        (m0["state"].as_str(), m0["current"].as_u64()),
        (Some("up"), Some(1))
    );

    // Only the healthy mirror: exit 0 again.
    let out = check(&config, &["--mirror", "m0"]).await;
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(!table.contains("m1"), "{table}");

    let out = check(&config, &["--mirror", "nope"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no mirror named \"nope\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_configuration_is_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mirrors.yaml");
    std::fs::write(&file, "upstream: [\n").unwrap();
    let out = check(&file, &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid YAML"));
}
