//! Per-mirror series: health, protocols, phases, latency, TLS expiry, freshness
//! aggregates, and — only when `metrics.per_repo` is on — one series per
//! (mirror, family, version, repo, arch).
//!
//! Everything is read from the snapshot's mirrors, so a mirror removed from the
//! configuration (or a family no longer probed) has no series on the next scrape.

use std::collections::HashMap;

use crate::config::geo::Continent;
use crate::config::Mirror;
use crate::freshness::schedule;
use crate::freshness::VerdictKind;
use crate::health::State;
use crate::probe::Phase;
use crate::state::{FamilySnapshot, MirrorSnapshot, Snapshot};

use super::family::{Exposition, Family};

/// The families written per mirror and per (mirror, family).
struct MirrorFamilies {
    info: Family,
    score: Family,
    update_frequency: Family,
    behind_schedule: Family,
    up: Family,
    state: Family,
    protocol_up: Family,
    phase: Family,
    latency: Family,
    tls_not_after: Family,
    time_file: Family,
    repos: Family,
    repos_stale: Family,
    max_lag: Family,
    last_sweep: Family,
    last_success: Family,
    last_failure: Family,
    success_ratio: Family,
    repo_lag: Family,
    repo_verdict: Family,
}

impl MirrorFamilies {
    fn new(out: &Exposition) -> Self {
        MirrorFamilies {
            info: out.gauge(
                "mirrorwatch_mirror_info",
                "A configured mirror that is being watched, with its location (always 1).",
            ),
            score: out.gauge(
                "mirrorwatch_mirror_score",
                "Mirror score from 0 (worst) to 100 combining lag, success ratio and latency.",
            ),
            update_frequency: out.gauge(
                "mirrorwatch_mirror_update_frequency_seconds",
                "How often the mirror declares it syncs (update_frequency); only mirrors that declare one.",
            ),
            behind_schedule: out.gauge(
                "mirrorwatch_mirror_behind_schedule",
                "1 when the mirror's largest lag exceeds 2 x its update_frequency plus one upstream poll, else 0; only mirrors that declare one.",
            ),
            up: out.gauge(
                "mirrorwatch_mirror_up",
                "Health over one IP family: 1 up, 0.5 degraded, 0 down; absent until swept.",
            ),
            state: out.gauge(
                "mirrorwatch_mirror_state",
                "Health state over one IP family: 1 for the current state, 0 for the others.",
            ),
            protocol_up: out.gauge(
                "mirrorwatch_mirror_protocol_up",
                "Whether the protocol answered over this IP family in the last sweep.",
            ),
            phase: out.gauge(
                "mirrorwatch_probe_phase_duration_seconds",
                "Duration of each phase of the last sweep's first (cold) fetch.",
            ),
            latency: out.gauge(
                "mirrorwatch_mirror_latency_seconds",
                "Quantile q of the sweep latency over the health window.",
            ),
            tls_not_after: out.gauge(
                "mirrorwatch_tls_cert_not_after_timestamp_seconds",
                "Expiry (notAfter) of the mirror's TLS leaf certificate, Unix time.",
            ),
            time_file: out.gauge(
                "mirrorwatch_mirror_time_file_timestamp_seconds",
                "The epoch in the mirror's TIME file (its last sync), when probe.time_file is on.",
            ),
            repos: out.gauge(
                "mirrorwatch_mirror_repos",
                "Repository copies (version, repo, arch) of the mirror by freshness verdict.",
            ),
            repos_stale: out.gauge(
                "mirrorwatch_mirror_repos_stale",
                "Repository copies whose lag exceeds freshness.stale_after.",
            ),
            max_lag: out.gauge(
                "mirrorwatch_mirror_max_lag_seconds",
                "Largest lag behind upstream of any repository copy of the mirror.",
            ),
            last_sweep: out.gauge(
                "mirrorwatch_mirror_last_sweep_timestamp_seconds",
                "When the mirror was last swept over this IP family, Unix time.",
            ),
            last_success: out.gauge(
                "mirrorwatch_mirror_last_success_timestamp_seconds",
                "When a sweep over this IP family last succeeded, Unix time.",
            ),
            last_failure: out.gauge(
                "mirrorwatch_mirror_last_failure_timestamp_seconds",
                "When a probe over this IP family last failed, Unix time, with its reason.",
            ),
            success_ratio: out.gauge(
                "mirrorwatch_mirror_success_ratio",
                "Share of successful fetches over the health window (0 to 1).",
            ),
            repo_lag: out.gauge(
                "mirrorwatch_repo_lag_seconds",
                "Lag of one repository copy behind upstream (only with metrics.per_repo).",
            ),
            repo_verdict: out.gauge(
                "mirrorwatch_repo_verdict",
                "Freshness verdict of one repository copy, always 1 (only with metrics.per_repo).",
            ),
        }
    }

    /// Room for every series the snapshot will give each family (see [`Family::reserve`]).
    fn reserve(&mut self, snapshot: &Snapshot) {
        let mirrors = snapshot.mirrors.len();
        let families: usize = snapshot.mirrors.iter().map(|m| m.families.len()).sum();
        self.info.reserve(mirrors);
        self.score.reserve(mirrors);
        self.update_frequency.reserve(mirrors);
        self.behind_schedule.reserve(mirrors);
        for (family, per) in [
            (&mut self.up, 1),
            (&mut self.state, State::ALL.len()),
            (&mut self.protocol_up, 2),
            (&mut self.phase, 5),
            (&mut self.latency, 3),
            (&mut self.tls_not_after, 1),
            (&mut self.time_file, 1),
            (&mut self.repos, VerdictKind::ALL.len()),
            (&mut self.repos_stale, 1),
            (&mut self.max_lag, 1),
            (&mut self.last_sweep, 1),
            (&mut self.last_success, 1),
            (&mut self.last_failure, 1),
            (&mut self.success_ratio, 1),
        ] {
            family.reserve(families * per);
        }
        if snapshot.config.metrics.per_repo {
            let repos: usize = snapshot
                .mirrors
                .iter()
                .flat_map(|m| &m.families)
                .map(|f| f.repos.len())
                .sum();
            self.repo_lag.reserve(repos);
            self.repo_verdict.reserve(repos);
        }
    }

    fn add_to(self, out: &mut Exposition) {
        let MirrorFamilies {
            info,
            score,
            update_frequency,
            behind_schedule,
            up,
            state,
            protocol_up,
            phase,
            latency,
            tls_not_after,
            time_file,
            repos,
            repos_stale,
            max_lag,
            last_sweep,
            last_success,
            last_failure,
            success_ratio,
            repo_lag,
            repo_verdict,
        } = self;
        for family in [
            info,
            score,
            update_frequency,
            behind_schedule,
            up,
            state,
            protocol_up,
            phase,
            latency,
            tls_not_after,
            time_file,
            repos,
            repos_stale,
            max_lag,
            last_sweep,
            last_success,
            last_failure,
            success_ratio,
            repo_lag,
            repo_verdict,
        ] {
            out.add(family);
        }
    }
}

/// Write every per-mirror family of `snapshot` into `out`.
pub(super) fn write(snapshot: &Snapshot, out: &mut Exposition) {
    let config = &snapshot.config;
    // One lookup table per scrape rather than a linear search per mirror (530² is
    // noticeable at this scale).
    let configured: HashMap<&str, &Mirror> = config
        .mirrors
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();
    let mut f = MirrorFamilies::new(out);
    f.reserve(snapshot);
    for mirror in &snapshot.mirrors {
        mirror_series(
            &mut f,
            mirror,
            configured.get(mirror.name.as_str()).copied(),
            config.freshness.upstream_interval,
        );
        for family in &mirror.families {
            family_series(&mut f, snapshot, &mirror.name, family);
        }
    }
    f.add_to(out);
}

fn mirror_series(
    f: &mut MirrorFamilies,
    mirror: &MirrorSnapshot,
    configured: Option<&Mirror>,
    upstream_interval: std::time::Duration,
) {
    let name = mirror.name.as_str();
    // A mirror in the snapshot but not in the configuration cannot happen after a clean
    // reload; it still gets its info series, with empty location labels.
    let country = configured.and_then(|m| m.country.as_deref()).unwrap_or("");
    let continent = configured
        .and_then(|m| m.continent)
        .map_or("", Continent::code);
    f.info.set(
        &[
            ("mirror", name),
            ("country", country),
            ("continent", continent),
        ],
        1.0,
    );
    f.score.set(&[("mirror", name)], mirror.score);
    if let Some(s) = configured.and_then(|m| schedule::schedule(m, Some(mirror), upstream_interval))
    {
        f.update_frequency
            .set(&[("mirror", name)], s.declared_seconds as f64);
        f.behind_schedule
            .set(&[("mirror", name)], f64::from(u8::from(s.behind)));
    }
}

fn family_series(f: &mut MirrorFamilies, snapshot: &Snapshot, mirror: &str, fs: &FamilySnapshot) {
    let config = &snapshot.config;
    let family = fs.family.as_str();
    let base = [("mirror", mirror), ("family", family)];
    let with = |name, value| [("mirror", mirror), ("family", family), (name, value)];

    // Unknown has no value (see State::metric_value): a mirror not swept yet must not
    // look down to an alert on `== 0`. The state set still says "unknown".
    if let Some(value) = fs.state.metric_value() {
        f.up.set(&base, value);
    }
    for state in State::ALL {
        f.state
            .set_bool(&with("state", state.as_str()), state == fs.state);
    }
    for (protocol, ok) in &fs.protocols {
        f.protocol_up
            .set_bool(&with("protocol", protocol.as_str()), *ok);
    }
    if let Some(p) = fs.phases {
        for (phase, seconds) in [
            (Phase::Resolve, p.resolve),
            (Phase::Connect, p.connect),
            (Phase::Tls, p.tls),
            (Phase::Processing, p.processing),
            (Phase::Transfer, p.transfer),
        ] {
            f.phase.set(&with("phase", phase.as_str()), seconds);
        }
    }
    // `quantile` is reserved for summaries (promtool refuses it on a gauge), hence `q`.
    for (q, value) in [
        ("0.5", fs.latency_p50),
        ("0.9", fs.latency_p90),
        ("0.99", fs.latency_p99),
    ] {
        if let Some(seconds) = value {
            f.latency.set(&with("q", q), seconds);
        }
    }
    if let Some(at) = fs.tls_not_after {
        f.tls_not_after.set(&base, at as f64);
    }
    if let Some(epoch) = fs.time_file {
        f.time_file.set(&base, epoch as f64);
    }
    for (verdict, n) in fs.counts() {
        f.repos
            .set(&with("verdict", verdict.as_str()), f64::from(n));
    }
    f.repos_stale
        .set(&base, f64::from(fs.stale(config.freshness.stale_after)));
    if let Some(lag) = fs.max_lag() {
        f.max_lag.set(&base, lag as f64);
    }
    if let Some(at) = fs.last_sweep {
        f.last_sweep.set(&base, at as f64);
    }
    if let Some(at) = fs.last_success {
        f.last_success.set(&base, at as f64);
    }
    if let Some(note) = &fs.last_failure {
        // The reason is a small fixed set; the detail (error text) never becomes a label.
        f.last_failure
            .set(&with("reason", note.reason.as_str()), note.at as f64);
    }
    if let Some(ratio) = fs.success_ratio {
        f.success_ratio.set(&base, ratio);
    }
    if config.metrics.per_repo {
        for repo in &fs.repos {
            let labels = [
                ("mirror", mirror),
                ("family", family),
                ("version", repo.version()),
                ("repo", repo.repo()),
                ("arch", repo.arch()),
            ];
            if let Some(lag) = repo.verdict.lag_seconds() {
                f.repo_lag.set(&labels, lag as f64);
            }
            // Only the current verdict is written (not a full state set): six series per
            // copy would be 6 × 530 × 2 × 136 on the AlmaLinux network.
            let [m, fa, v, r, a] = labels;
            f.repo_verdict
                .set(&[m, fa, v, r, a, ("verdict", repo.verdict.as_str())], 1.0);
        }
    }
}
