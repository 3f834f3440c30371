//! Hostile input found in review, each with its regression test:
//!
//! - a metalink error comment that a crafted `repo=` could break out of;
//! - log lines forged by control characters in a third-party `mirrors.d` file;
//! - a FIFO at the state path (start-up hung before serving) and at the configuration path
//!   (a reload froze the daemon, which then ignored SIGTERM) — the real binary, real signals;
//! - configuration files nested thousands deep, or megabytes long.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::binary::{self, Cfg, DIR};
use fakemirrors::{Network, RepoTree};

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_repo_cannot_break_out_of_the_metalink_comment() {
    let net = common::network(1).await;
    let daemon = common::daemon::Daemon::start(&common::config_for(&net, &["m0"]).text()).await;
    for repo in ["---%3E%3Cx%3E", "--%3E%3Cx%3E", "----%3E", "%3C!--"] {
        let response = daemon
            .fetch(&format!("/metalink?repo={repo}&arch=x86_64"))
            .await;
        assert_eq!(response.status, 404);
        let body = response.text();
        // One comment, then the empty metalink: nothing the client wrote became markup.
        let mut reader = quick_xml::Reader::from_str(&body);
        let (mut comments, mut elements) = (Vec::new(), Vec::new());
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Comment(c)) => {
                    comments.push(String::from_utf8(c.to_vec()).unwrap())
                }
                Ok(quick_xml::events::Event::Empty(e) | quick_xml::events::Event::Start(e)) => {
                    elements.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
                }
                Ok(quick_xml::events::Event::Text(t)) => {
                    assert!(
                        t.iter().all(u8::is_ascii_whitespace),
                        "{repo}: text {t:?} in\n{body}"
                    )
                }
                Ok(_) => {}
                Err(e) => panic!("{repo}: not well-formed ({e}):\n{body}"),
            }
        }
        assert_eq!(elements, ["metalink"], "{repo}:\n{body}");
        assert_eq!(comments.len(), 1, "{repo}:\n{body}");
        assert!(!comments[0].contains("--"), "{repo}:\n{body}");
        // The strict reader the dnf tests use agrees.
        fakemirrors::xml::parse(body.as_bytes()).unwrap();
    }
}

#[test]
fn control_characters_in_mirrors_d_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yml"),
        "allowed_outdate: 12h\nmirrors_dir: mirrors.d\nversions: [\"9.8\"]\nduplicated_versions: {\"9\": \"9.8\"}\narches: {\"9\": [x86_64]}\nrepos:\n  - {name: baseos, path: BaseOS/$basearch/os/}\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("mirrors.d")).unwrap();
    std::fs::write(
        dir.path().join("mirrors.d/good.yml"),
        "name: good.example.org\naddress:\n  https: https://good.example.org/almalinux/\ngeolocation:\n  country: US\n",
    )
    .unwrap();
    // Keys and values with newlines, a carriage return and a terminal escape.
    std::fs::write(
        dir.path().join("mirrors.d/evil.yml"),
        "name: evil.example.org\naddress:\n  https: https://evil.example.org/almalinux/\n\"forged\\n2026-12-04T00:00:00Z ERROR mirrorwatch: forged line\": 1\ngeolocation:\n  country: \"U\\rS\\u001b[2J\"\n  \"city\\nWARN forged\": x\nsubnets: [\"10.0.0.0/8\\nINFO forged\"]\n",
    )
    .unwrap();
    let file = dir.path().join("mirrors.yaml");
    std::fs::write(
        &file,
        format!(
            "upstream:\n  urls: [\"http://127.0.0.1:1/\"]\nalmalinux:\n  config: {:?}\nprobe:\n  dns_servers: [\"127.0.0.1:1\"]\n",
            dir.path().join("config.yml")
        ),
    )
    .unwrap();
    let diagnostics = match mirrorwatch::config::load(&file) {
        Ok(loaded) => loaded.warnings,
        Err(e) => e.diagnostics,
    };
    let evil: Vec<String> = diagnostics
        .iter()
        .map(ToString::to_string)
        .filter(|d| d.contains("evil.yml"))
        .collect();
    assert!(evil.len() >= 2, "{diagnostics:#?}");
    for line in &evil {
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
    // Escaped, not dropped: the log still says what the file holds.
    assert!(
        evil.iter().any(|l| l.contains("forged\\n2026")),
        "{evil:#?}"
    );
}

/// Nesting and size are bounded before a file is indexed or parsed: 40,000 nested block
/// sequences (80 KB) once took 14 s and 4.9 GB, a 50 MB file 1.6 GB. The main file and a
/// third-party `mirrors.d` file alike get one error naming file, line and the limit.
#[test]
fn deep_nesting_and_huge_files_are_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mirrors.yaml");
    let errors = |file: &Path| -> Vec<String> {
        match mirrorwatch::config::load(file) {
            Ok(_) => panic!("{} loaded", file.display()),
            Err(e) => e.errors().map(ToString::to_string).collect(),
        }
    };
    let deep = format!(
        "upstream:\n  urls: [\"http://127.0.0.1:1/\"]\nmirrors:\n{}x\n",
        "- ".repeat(40_000)
    );
    std::fs::write(&file, &deep).unwrap();
    let found = errors(&file);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("mirrors.yaml:4:"), "{found:#?}");
    assert!(
        found[0].contains("nested deeper than 32 levels"),
        "{found:#?}"
    );

    // Flow collections: refused as quickly, by the depth cap or by the YAML parser's own.
    std::fs::write(
        &file,
        format!("mirrors: {}{}\n", "[".repeat(5000), "]".repeat(5000)),
    )
    .unwrap();
    let found = errors(&file);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("nested deeper") || found[0].contains("recursion limit"),
        "{found:#?}"
    );

    let max = mirrorwatch::config::MAX_CONFIG_BYTES as usize;
    let mut huge = String::from("upstream:\n  urls: [\"http://127.0.0.1:1/\"]\n");
    while huge.len() <= max {
        huge.push_str("# padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&file, &huge).unwrap();
    let found = errors(&file);
    assert!(
        found[0].contains(&format!("larger than the {max} bytes allowed")),
        "{found:#?}"
    );

    // A mirrors.d file: refused with its name, the good one beside it still read.
    let alma = dir.path().join("alma");
    std::fs::create_dir_all(alma.join("mirrors.d")).unwrap();
    std::fs::write(
        alma.join("config.yml"),
        "mirrors_dir: mirrors.d\nversions: [\"9.8\"]\narches: {\"9\": [x86_64]}\nrepos:\n  - {name: baseos, path: BaseOS/$basearch/os/}\n",
    )
    .unwrap();
    std::fs::write(
        alma.join("mirrors.d/good.yml"),
        "name: good.example.org\naddress:\n  https: https://good.example.org/almalinux/\n",
    )
    .unwrap();
    std::fs::write(
        alma.join("mirrors.d/deep.yml"),
        format!("name:\n{}x\n", "- ".repeat(40_000)),
    )
    .unwrap();
    std::fs::write(alma.join("mirrors.d/huge.yml"), "#".repeat(2 << 20)).unwrap();
    std::fs::write(
        &file,
        format!(
            "upstream:\n  urls: [\"http://127.0.0.1:1/\"]\nalmalinux:\n  config: {:?}\nprobe:\n  dns_servers: [\"127.0.0.1:1\"]\n",
            alma.join("config.yml")
        ),
    )
    .unwrap();
    let found = errors(&file);
    assert!(
        found
            .iter()
            .any(|e| e.contains("deep.yml:2:") && e.contains("nested deeper")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|e| e.contains("huge.yml") && e.contains("larger than the")),
        "{found:#?}"
    );
    assert!(!found.iter().any(|e| e.contains("good.yml")), "{found:#?}");
}

/// A network of one mirror publishing the tree, on its own runtime (the binary's tests are
/// synchronous), and a configuration for it in a tempdir.
fn setup() -> (tokio::runtime::Runtime, Network, tempfile::TempDir, Cfg) {
    let rt = binary::runtime();
    let net = rt.block_on(Network::start(1));
    net.publish(DIR, &RepoTree::new(1_700_000_000, "t"));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Cfg::new(&net.upstream.base_url(), &dir.path().join("state.json"));
    cfg = cfg.mirror("m0", &net.mirror_urls()[0]);
    (rt, net, dir, cfg)
}

#[test]
fn a_fifo_at_the_state_path_is_set_aside_and_the_daemon_serves() {
    let (_rt, _net, dir, cfg) = setup();
    mkfifo(&dir.path().join("state.json"));
    let config = dir.path().join("mirrors.yaml");
    cfg.write(&config);
    let mut daemon = binary::Daemon::start(&config);
    daemon.wait_log(0, "state file unusable: set aside");
    daemon.wait_ready();
    // The FIFO is out of the way, and saves write a real file in its place.
    binary::wait_until("a saved state file", || {
        std::fs::metadata(dir.path().join("state.json"))
            .ok()
            .filter(std::fs::Metadata::is_file)
    });
    let set_aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains("corrupt"));
    assert!(set_aside, "{}", daemon.logs());
    daemon.stop();
}

#[test]
fn a_fifo_at_the_config_path_fails_the_reload_and_sigterm_still_works() {
    let (_rt, _net, dir, cfg) = setup();
    let config = dir.path().join("mirrors.yaml");
    cfg.write(&config);
    let mut daemon = binary::Daemon::start(&config);
    daemon.wait_ready();
    std::fs::remove_file(&config).unwrap();
    mkfifo(&config);
    let mark = daemon.mark();
    daemon.signal("HUP");
    let line = daemon.wait_log(mark, "reload failed");
    assert!(
        daemon.logs().contains("a FIFO, not a regular file"),
        "{line}"
    );
    // Still serving, and saying the reload failed.
    assert_eq!(daemon.get("/healthz").0, 200);
    daemon.wait_metrics("the failed reload", |m| {
        (m.value("mirrorwatch_config_last_reload_successful", &[]) == Some(0.0)).then_some(())
    });
    let started = std::time::Instant::now();
    daemon.stop();
    assert!(started.elapsed() < Duration::from_secs(10));
}
