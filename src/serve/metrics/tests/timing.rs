//! The render time of an AlmaLinux-sized network, printed, not asserted (machines
//! differ): `cargo test --release --lib render_time -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::Instant;

use super::*;

/// The AlmaLinux-sized network: 530 mirrors × 2 families × 136 repos. Prints the render
/// time rather than asserting on it (machines differ); run with
/// `cargo test --release --lib render_time -- --ignored --nocapture`.
#[test]
#[ignore]
fn render_time_for_an_almalinux_sized_network() {
    for per_repo in [false, true] {
        let config = config(per_repo, "eu-west");
        let repos: Vec<RepoVerdict> = (0..136)
            .map(|i| {
                let verdict = match i % 5 {
                    0 => Verdict::behind(1, 3600),
                    1 => Verdict::Missing,
                    _ => Verdict::Current,
                };
                RepoVerdict::new(
                    "9.8",
                    format!("repo{}", i / 8),
                    ["x86_64", "aarch64", "ppc64le", "s390x"][i % 4],
                    verdict,
                )
            })
            .collect();
        let mut snap = snapshot(config);
        snap.mirrors = (0..530)
            .map(|i| {
                let mut v4 = ipv4_up();
                v4.repos = repos.clone();
                let mut v6 = ipv6_down();
                v6.repos = repos.clone();
                Arc::new(MirrorSnapshot {
                    name: format!("mirror{i}.example.org"),
                    state: State::Degraded,
                    score: 50.0,
                    families: vec![v4, v6],
                })
            })
            .collect();
        snap.upstream = (0..136)
            .map(|i| {
                upstream(
                    &format!("repo{}", i / 4),
                    ["x86_64", "aarch64"][i % 2],
                    true,
                )
            })
            .collect();
        let http = HttpStats::new();
        http.record("mirrorlist", 200, 0.001);

        let mut text = render(&snap, &http);
        let runs = 20u32;
        let start = Instant::now();
        for _ in 0..runs {
            text = render(&snap, &http);
        }
        let each = start.elapsed() / runs;
        println!(
            "per_repo={per_repo}: {} series, {} bytes, {:.2} ms per render",
            samples(&text).count(),
            text.len(),
            each.as_secs_f64() * 1000.0
        );
    }
}
