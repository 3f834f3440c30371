//! The JSON status API: `/api/v1/mirrors`, `/api/v1/mirrors/{name}` (with the verdict of
//! every repository, its reason, and the recent probe log) and `/api/v1/upstream`. Read from
//! the snapshot; a mirror admin finds here exactly why a mirror is in or out.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::viewer::Viewer;
use super::AppState;
use crate::config::{IpFamily, Mirror, Protocol};
use crate::freshness::VerdictKind;
use crate::health::State as Health;
use crate::state::{FamilySnapshot, MirrorSnapshot, Snapshot};

/// A family in the mirror list: the counts, not every repo.
#[derive(Serialize)]
struct FamilySummary<'a> {
    family: IpFamily,
    state: Health,
    address: Option<std::net::IpAddr>,
    protocols: &'a BTreeMap<Protocol, bool>,
    last_sweep: Option<i64>,
    last_success: Option<i64>,
    repos: BTreeMap<VerdictKind, u32>,
    stale: u32,
    max_lag_seconds: Option<u64>,
    tls_not_after: Option<i64>,
    last_failure: Option<&'a crate::state::FailureNote>,
}

#[derive(Serialize)]
struct MirrorSummary<'a> {
    name: &'a str,
    state: Health,
    score: f64,
    country: Option<&'a str>,
    continent: Option<&'static str>,
    city: Option<&'a str>,
    sponsor: Option<&'a str>,
    private: bool,
    /// The declared `update_frequency` and whether the mirror keeps it; absent when it
    /// declares none.
    schedule: Option<crate::freshness::schedule::Schedule>,
    families: Vec<FamilySummary<'a>>,
}

fn summary<'a>(
    snapshot: &'a Snapshot,
    mirror: &'a Mirror,
    status: Option<&'a MirrorSnapshot>,
) -> MirrorSummary<'a> {
    let stale_after = snapshot.config.freshness.stale_after;
    MirrorSummary {
        name: &mirror.name,
        state: status.map_or(Health::Unknown, |s| s.state),
        score: status.map_or(0.0, |s| s.score),
        country: mirror.country.as_deref(),
        continent: mirror.continent.map(|c| c.code()),
        city: mirror.city.as_deref(),
        sponsor: mirror.sponsor.as_deref(),
        private: mirror.private,
        schedule: crate::freshness::schedule::schedule(
            mirror,
            status,
            snapshot.config.freshness.upstream_interval,
        ),
        families: status
            .map(|s| {
                s.families
                    .iter()
                    .map(|f| family_summary(f, stale_after))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn family_summary(f: &FamilySnapshot, stale_after: std::time::Duration) -> FamilySummary<'_> {
    FamilySummary {
        family: f.family,
        state: f.state,
        address: f.address,
        protocols: &f.protocols,
        last_sweep: f.last_sweep,
        last_success: f.last_success,
        repos: f.counts(),
        stale: f.stale(stale_after),
        max_lag_seconds: f.max_lag(),
        tls_not_after: f.tls_not_after,
        last_failure: f.last_failure.as_ref(),
    }
}

pub async fn mirrors(State(state): State<AppState>, viewer: Viewer) -> Response {
    let snapshot = state.snapshot();
    let list: Vec<MirrorSummary<'_>> = snapshot
        .config
        .enabled_mirrors()
        .filter(|m| viewer.sees(&snapshot, m))
        .map(|m| summary(&snapshot, m, snapshot.mirror(&m.name)))
        .collect();
    Json(json!({
        "generated_at": snapshot.generated_at,
        "ready": snapshot.ready,
        "mirrors": list,
    }))
    .into_response()
}

pub async fn mirror(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Response {
    let snapshot = state.snapshot();
    let visible = |m: &&Mirror| viewer.sees(&snapshot, m);
    let Some(config) = snapshot
        .config
        .mirror(&name)
        .filter(|m| m.enabled)
        .filter(visible)
    else {
        let names: Vec<&str> = snapshot
            .config
            .enabled_mirrors()
            .filter(visible)
            .map(|m| m.name.as_str())
            .collect();
        let body = json!({
            "error": format!("no mirror named {name:?}"),
            "mirrors": names,
        });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    let status = snapshot.mirror(&name);
    let syncs = state
        .history
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .propagation
        .syncs_of(&name);
    Json(json!({
        "generated_at": snapshot.generated_at,
        "mirror": summary(&snapshot, config, status),
        "addresses": {
            "http": config.address.http.as_ref().map(url::Url::as_str),
            "https": config.address.https.as_ref().map(url::Url::as_str),
            "rsync": config.address.rsync,
            "ftp": config.address.ftp,
        },
        "stale_after_seconds": snapshot.config.freshness.stale_after.as_secs(),
        // When it was first seen serving each recent upstream change it reached: its
        // observed sync cadence.
        "observed_syncs": syncs,
        // Every repository's verdict with its reason, and the recent sweeps, per family.
        "families": status.map(|s| &s.families),
    }))
    .into_response()
}

pub async fn upstream(State(state): State<AppState>) -> Response {
    let snapshot = state.snapshot();
    Json(json!({
        "generated_at": snapshot.generated_at,
        "reachable": snapshot.upstream_up(),
        "urls": snapshot.config.upstream.urls.iter().map(url::Url::as_str).collect::<Vec<_>>(),
        "targets": snapshot.upstream,
    }))
    .into_response()
}

/// `?repo=` and `?version=` narrow `/api/v1/propagation`.
#[derive(serde::Deserialize)]
pub struct PropagationQuery {
    repo: Option<String>,
    version: Option<String>,
}

/// The recent upstream changes, newest first, each with the time it took to reach each share
/// of the mirrors expected to carry it and the mirrors still behind (see
/// [`crate::serve::propagation`] for the rules).
pub async fn propagation(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Query(q): axum::extract::Query<PropagationQuery>,
) -> Response {
    use crate::serve::propagation::SHARES;
    let snapshot = state.snapshot();
    let history = state
        .history
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let p = &history.propagation;
    let shown = |name: &&str| {
        snapshot
            .config
            .mirror(name)
            .is_some_and(|m| viewer.sees(&snapshot, m))
    };
    let changes: Vec<serde_json::Value> = history
        .propagation
        .changes
        .iter()
        .rev()
        .filter(|c| q.repo.as_ref().is_none_or(|r| *r == c.repo))
        .filter(|c| q.version.as_ref().is_none_or(|v| *v == c.version))
        .map(|c| {
            let times: serde_json::Map<String, serde_json::Value> = SHARES
                .iter()
                .map(|(share, label)| ((*label).to_string(), json!(c.time_to(*share))))
                .collect();
            json!({
                "version": c.version,
                "repo": c.repo,
                "arch": c.arch,
                "dir": c.dir,
                "sha256": c.sha256,
                "at": c.at,
                "expected": c.expected.len(),
                "reached": c.reached.len(),
                "seconds_to_reach": times,
                "behind": c.behind().map(|m| p.name(m)).filter(shown).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({
        "generated_at": snapshot.generated_at,
        "changes": changes,
    }))
    .into_response()
}
