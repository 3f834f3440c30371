//! The soak's sampler and scorer, run by `bench/soak.sh` (ignored by `cargo test`): while the
//! script keeps a `mirrorwatch serve` process busy watching `mirrorwatch simulate`'s network
//! and answering `/mirrorlist`, this samples that process every few seconds and scores its
//! verdicts against the simulator's truth with the accuracy test's [`Scorer`].
//!
//! Each sample is a line of `SOAK_OUT/samples.csv`: the time since the start, the process's
//! RSS (KiB) and open descriptors, the worst gap since any (mirror, family)'s last sweep
//! and how late that is (the gap beyond one `probe.interval`), one `/mirrorlist` request's
//! status and time, and the wrong verdicts so far. At the end `SOAK_OUT/summary.json`
//! holds the totals, every wrong verdict and missed fault, and each fault's detection.
//!
//! Set by the script: `SOAK_CONFIG` (the simulator's generated `mirrors.yaml`),
//! `SOAK_BASE` (the daemon's URL), `SOAK_TRUTH_URL`, `SOAK_PID` (the daemon's process),
//! `SOAK_SECONDS`, `SOAK_EVERY` (seconds between samples), `SOAK_MIRRORLIST` (the path
//! timed) and `SOAK_OUT` (a directory).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "simulate_accuracy/score.rs"]
mod score;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fakemirrors::client::fetch;
use fakemirrors::sim::truth::unix_now;
use score::Scorer;
use serde_json::json;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: bench/soak.sh runs this"))
}

/// A `/proc/PID/status` field, in KiB.
fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The slope of `points` (least squares), per unit of x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the soak: bench/soak.sh runs it against the daemon it started"]
async fn soak() {
    let config = mirrorwatch::config::load(&PathBuf::from(var("SOAK_CONFIG")))
        .expect("the simulator's configuration loads")
        .config;
    let (base, truth_url, pid) = (var("SOAK_BASE"), var("SOAK_TRUTH_URL"), var("SOAK_PID"));
    let seconds: f64 = var("SOAK_SECONDS").parse().unwrap();
    let every = Duration::from_secs_f64(var("SOAK_EVERY").parse().unwrap());
    let mirrorlist = format!("{base}{}", var("SOAK_MIRRORLIST"));
    let out = PathBuf::from(var("SOAK_OUT"));
    let interval = config.probe.interval.as_secs_f64();
    // Late: a (mirror, family) not swept for more than an interval and a timeout (plus a
    // second, as sweep times are whole seconds).
    let late_after = config.probe.timeout.as_secs_f64() + 1.0;

    let mut scorer = Scorer::new(&config, unix_now());
    // A detection shows at the first round after it, a sampling period (and a round's own
    // time) later.
    scorer.sampling = every.as_secs_f64();
    let start = scorer.start;
    let mut csv = String::from(
        "t,rss_kib,fds,worst_gap_s,lateness_s,mirrorlist_status,mirrorlist_ms,wrong,ready\n",
    );
    let (mut rss, mut fds) = (Vec::new(), Vec::new());
    let (mut worst_lateness, mut late, mut ml_errors, mut ml_worst_ms) = (0.0f64, 0, 0, 0.0f64);
    let mut no_answer = 0;
    while unix_now() < start + seconds {
        let tick = Instant::now();
        let t = unix_now() - start;
        let timed = Instant::now();
        let status = fetch(&mirrorlist).await.map_or(0, |r| r.status);
        let ms = timed.elapsed().as_secs_f64() * 1000.0;
        let Some(round) = scorer.round(&base, &truth_url).await else {
            no_answer += 1;
            tokio::time::sleep(every.saturating_sub(tick.elapsed())).await;
            continue;
        };
        let (kib, open) = (status_kib(&pid, "VmRSS"), open_fds(&pid));
        // Lateness counts once every first sweep has ended: before, a family that was
        // never swept has no gap to measure.
        let lateness = if round.ready {
            (round.worst_gap - interval).max(0.0)
        } else {
            0.0
        };
        if lateness > late_after {
            late += 1;
        }
        worst_lateness = worst_lateness.max(lateness);
        if round.ready && status != 200 {
            ml_errors += 1;
        }
        ml_worst_ms = ml_worst_ms.max(ms);
        rss.push((t, kib as f64));
        fds.push((t, open as f64));
        writeln!(
            csv,
            "{t:.1},{kib},{open},{:.1},{lateness:.1},{status},{ms:.2},{},{}",
            round.worst_gap,
            scorer.wrong.len(),
            round.ready
        )
        .unwrap();
        std::fs::write(out.join("samples.csv"), &csv).unwrap();
        tokio::time::sleep(every.saturating_sub(tick.elapsed())).await;
    }
    let (lines, missed) = scorer.missed(unix_now());
    // The trend is read over the second half: the first fills caches, histories and logs
    // up to their bounds.
    let half = seconds / 2.0;
    let later = |v: &[(f64, f64)]| -> Vec<(f64, f64)> {
        v.iter().copied().filter(|(t, _)| *t >= half).collect()
    };
    let per_hour = 3600.0;
    let summary = json!({
        "seconds": seconds,
        "mirrors": config.mirrors.len(),
        "probe_interval_s": interval,
        "probe_timeout_s": config.probe.timeout.as_secs_f64(),
        "rounds": scorer.rounds,
        "rounds_without_answer": no_answer,
        "families_checked": scorer.checked,
        "wrong": scorer.wrong,
        "missed": missed,
        "detections": lines,
        "worst_lateness_s": worst_lateness,
        "late_samples": late,
        "late_after_s": late_after,
        "mirrorlist_errors": ml_errors,
        "mirrorlist_worst_ms": ml_worst_ms,
        "rss_kib": {
            "first": rss.first().map(|p| p.1),
            "last": rss.last().map(|p| p.1),
            "max": rss.iter().map(|p| p.1).fold(0.0, f64::max),
            "slope_second_half_kib_per_h": slope(&later(&rss)) * per_hour,
        },
        "fds": {
            "first": fds.first().map(|p| p.1),
            "last": fds.last().map(|p| p.1),
            "max": fds.iter().map(|p| p.1).fold(0.0, f64::max),
            "slope_second_half_per_h": slope(&later(&fds)) * per_hour,
        },
    });
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary).unwrap(),
    )
    .unwrap();
    eprintln!(
        "{} rounds, {} families scored: {} wrong, {} missed; worst lateness {worst_lateness:.1} s; {ml_errors} /mirrorlist errors",
        scorer.rounds,
        scorer.checked,
        scorer.wrong.len(),
        missed.len()
    );
}
