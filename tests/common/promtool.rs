//! `promtool check metrics` (Debian package `prometheus`) on a Prometheus text exposition:
//! parsed as format 0.0.4 and linted against Prometheus naming practice.
//!
//! Without promtool [`check`] fails the test saying what to install (CI installs it), unless
//! `MIRRORWATCH_SKIP_PROMTOOL=1`, which skips the check knowingly.

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

/// Pipes `text` into `promtool check metrics`: (exit ok, stdout + stderr); `None` when
/// promtool is not installed.
pub fn run(text: &str) -> Option<(bool, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

/// Fails unless promtool accepts `text` (the `what` exposition) without a single remark.
pub fn check(what: &str, text: &str) {
    let Some((success, said)) = run(text) else {
        if std::env::var("MIRRORWATCH_SKIP_PROMTOOL").as_deref() == Ok("1") {
            eprintln!("SKIPPED: promtool is not installed (MIRRORWATCH_SKIP_PROMTOOL=1)");
            return;
        }
        panic!(
            "promtool is not installed: install the Debian package `prometheus` \
             (apt-get install prometheus; CI installs it), or set MIRRORWATCH_SKIP_PROMTOOL=1 \
             to skip this check"
        );
    };
    assert!(
        success && said.trim().is_empty(),
        "promtool check metrics on the {what} exposition (exit ok: {success}) said:\n{said}\n\
         --- exposition ---\n{text}"
    );
}
