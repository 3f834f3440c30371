//! Series about the upstream and about mirrorwatch itself (engine counters, readiness,
//! configuration reloads, mirrors per state), all from the snapshot.

use std::collections::BTreeMap;

use crate::health::State;
use crate::state::Snapshot;

use super::family::Exposition;

/// Upstream: one series per (version, repo, arch) target, plus one overall gauge.
pub(super) fn upstream(snapshot: &Snapshot, out: &mut Exposition) {
    let mut up = out.gauge(
        "mirrorwatch_upstream_up",
        "Whether the last poll of this upstream repomd.xml succeeded.",
    );
    let mut versions = out.gauge(
        "mirrorwatch_upstream_versions_seen",
        "Distinct upstream versions of this repomd.xml remembered, the current one included.",
    );
    let mut last_change = out.gauge(
        "mirrorwatch_upstream_last_change_timestamp_seconds",
        "When the current upstream version of this repomd.xml was first seen, Unix time.",
    );
    let mut data_timestamp = out.gauge(
        "mirrorwatch_upstream_repomd_timestamp_seconds",
        "Newest data timestamp inside the current upstream repomd.xml, Unix time.",
    );
    let mut last_success = out.gauge(
        "mirrorwatch_upstream_last_success_timestamp_seconds",
        "When a poll of this upstream repomd.xml last succeeded, Unix time.",
    );
    for target in &snapshot.upstream {
        let labels = [
            ("version", target.version.as_str()),
            ("repo", target.repo.as_str()),
            ("arch", target.arch.as_str()),
        ];
        up.set_bool(&labels, target.up);
        versions.set(&labels, target.versions_seen as f64);
        if let Some(current) = &target.current {
            last_change.set(&labels, current.first_seen as f64);
            if let Some(ts) = current.timestamp {
                data_timestamp.set(&labels, ts as f64);
            }
        }
        if let Some(at) = target.last_success {
            last_success.set(&labels, at as f64);
        }
    }
    let mut reachable = out.gauge(
        "mirrorwatch_upstream_reachable",
        "1 when every upstream repomd.xml answered its last poll, else 0.",
    );
    // Absent before the first poll (like an unswept mirror's `up`), rather than a 0 that
    // would page on every start.
    if !snapshot.upstream.is_empty() {
        reachable.set_bool(&[], snapshot.upstream_up());
    }
    for family in [
        up,
        versions,
        last_change,
        data_timestamp,
        last_success,
        reachable,
    ] {
        out.add(family);
    }
}

/// mirrorwatch itself: build, readiness, configuration, engine counters.
pub(super) fn engine(snapshot: &Snapshot, out: &mut Exposition) {
    let stats = &snapshot.stats;

    let mut build = out.gauge(
        "mirrorwatch_build_info",
        "The running mirrorwatch build (always 1).",
    );
    build.set(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);

    let mut ready = out.gauge(
        "mirrorwatch_ready",
        "1 once every enabled mirror has been swept over every IP family, else 0.",
    );
    ready.set_bool(&[], snapshot.ready);

    let mut start = out.gauge(
        "mirrorwatch_start_time_seconds",
        "When the daemon started, Unix time.",
    );
    // 0 is the unfilled default, not a time: absent rather than a start in 1970.
    if stats.started_at > 0 {
        start.set(&[], stats.started_at as f64);
    }

    let mut generated = out.gauge(
        "mirrorwatch_snapshot_timestamp_seconds",
        "When the state behind this scrape was published, Unix time.",
    );
    generated.set(&[], snapshot.generated_at as f64);

    let mut reload_ok = out.gauge(
        "mirrorwatch_config_last_reload_successful",
        "Whether the last configuration (re)load succeeded.",
    );
    reload_ok.set_bool(&[], stats.config_reload_ok);

    // Before any reload, the configuration in force is the one loaded at start (the
    // daemon does not start without a valid one), so its time is the start time.
    let mut reload_at = out.gauge(
        "mirrorwatch_config_last_reload_success_timestamp_seconds",
        "When the configuration in force was loaded, Unix time.",
    );
    let loaded_at = stats.config_reload_at.unwrap_or(stats.started_at);
    if loaded_at > 0 {
        reload_at.set(&[], loaded_at as f64);
    }

    // Absent without a state file and before the first save ends: a 0 then would page.
    let mut save_ok = out.gauge(
        "mirrorwatch_state_last_save_successful",
        "Whether the last save of the state file succeeded (a failed one leaves the previous file intact).",
    );
    let mut save_at = out.gauge(
        "mirrorwatch_state_last_save_timestamp_seconds",
        "When the state file was last saved successfully, Unix time.",
    );
    let mut file_size = out.gauge(
        "mirrorwatch_state_file_size_bytes",
        "Size of the state file after its last successful save.",
    );
    if let Some(save) = &stats.state_save {
        save_ok.set_bool(&[], save.ok);
        if let Some(at) = save.last_success_at {
            save_at.set(&[], at as f64);
        }
        if let Some(size) = save.file_size {
            file_size.set(&[], size as f64);
        }
    }

    let mut stale_after = out.gauge(
        "mirrorwatch_freshness_stale_after_seconds",
        "Lag above which a repository copy counts as stale (freshness.stale_after).",
    );
    stale_after.set(&[], snapshot.config.freshness.stale_after.as_secs_f64());

    let mut sweeps = out.counter(
        "mirrorwatch_sweeps_total",
        "Sweeps completed (one mirror over one IP family).",
    );
    sweeps.set(&[], stats.sweeps as f64);

    let mut probes = out.counter(
        "mirrorwatch_probes_total",
        "repomd.xml fetches by result and, for failures, classified reason.",
    );
    // In label order: the failures by reason, then the successes.
    let by_label: BTreeMap<(&str, &str), u64> = stats
        .probes
        .iter()
        .map(|(reason, n)| match reason {
            Some(reason) => (("failure", reason.as_str()), *n),
            None => (("success", ""), *n),
        })
        .collect();
    for ((result, reason), n) in by_label {
        probes.set(&[("result", result), ("reason", reason)], n as f64);
    }

    let mut round = out.gauge(
        "mirrorwatch_round_duration_seconds",
        "Duration of the last complete round over all mirrors.",
    );
    if let Some(seconds) = stats.last_round_seconds {
        round.set(&[], seconds);
    }

    // Every state is written, zeros included, so that a dashboard can sum them.
    let mut mirrors = out.gauge(
        "mirrorwatch_mirrors",
        "Watched mirrors by overall health state.",
    );
    for state in State::ALL {
        let n = snapshot.mirrors.iter().filter(|m| m.state == state).count();
        mirrors.set(&[("state", state.as_str())], n as f64);
    }

    for family in [
        build,
        ready,
        start,
        generated,
        reload_ok,
        reload_at,
        save_ok,
        save_at,
        file_size,
        stale_after,
        sweeps,
        probes,
        round,
        mirrors,
    ] {
        out.add(family);
    }
}
