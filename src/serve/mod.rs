//! The HTTP side: an axum router over the latest immutable [`Snapshot`]. Handlers never talk
//! to mirrors and never wait on a lock held across `.await`: they clone an `Arc` out of a
//! `watch` channel and answer from it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use crate::geoip::GeoIp;
use crate::select::IndexCache;
use crate::state::Snapshot;

pub mod api;
pub mod headers;
pub mod listener;
pub mod metalink;
pub mod metrics;
pub mod mirrorlist;
pub mod pages;
pub mod propagation;
mod request;
pub mod viewer;

pub use metrics::HttpStats;

/// What every handler may read.
#[derive(Clone)]
pub struct AppState {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    pub http: Arc<HttpStats>,
    /// The GeoIP databases, read at start-up; `None` when none is configured.
    pub geoip: Option<Arc<GeoIp>>,
    /// Selection's per-snapshot work, done once per published snapshot.
    pub selection: Arc<IndexCache>,
    /// What the status pages' charts draw, recorded from every published snapshot.
    pub history: pages::SharedHistory,
}

impl AppState {
    pub fn new(snapshots: watch::Receiver<Arc<Snapshot>>, geoip: Option<Arc<GeoIp>>) -> Self {
        AppState {
            snapshots,
            http: Arc::new(HttpStats::new()),
            geoip,
            selection: Arc::new(IndexCache::default()),
            history: pages::SharedHistory::default(),
        }
    }

    /// The same, with the status pages drawing `history`.
    pub fn with_history(mut self, history: pages::SharedHistory) -> Self {
        self.history = history;
        self
    }

    /// The latest snapshot. The borrow ends before this returns: no lock outlives it.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }
}

/// Every route of the daemon.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .route("/mirrorlist/{version}/{repo}", get(mirrorlist::mirrorlist))
        .route("/metalink", get(mirrorlist::metalink))
        .route("/api/v1/mirrors", get(api::mirrors))
        .route("/api/v1/mirrors/{name}", get(api::mirror))
        .route("/api/v1/upstream", get(api::upstream))
        .route("/api/v1/propagation", get(api::propagation))
        .merge(pages::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn(headers::set))
        .with_state(state)
}

/// Counts every request by route name (never by URL) and status, and times it.
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let endpoint = match path {
        "/metrics" => "metrics",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        _ if path.starts_with("/mirrorlist/") => "mirrorlist",
        "/metalink" => "metalink",
        _ if path.starts_with("/api/") => "api",
        "/" => "page",
        _ if path.starts_with("/mirrors/") => "page",
        _ if path.starts_with("/static/") => "static",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    state.http.record(
        endpoint,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Any other path, such as a mirror list URL with a segment too many or too few
/// (`/mirrorlist///9`, `/mirrorlist/9`): a 404 whose body says where the mirror list and the metalink
/// are, a comment line as in the mirror list's own 404s, never an empty answer.
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "# not found: the mirror list is /mirrorlist/<version>/<repo>, the metalink /metalink?repo=<repo>-<version>&arch=<arch>\n",
    )
        .into_response()
}

/// Liveness: the process answers HTTP.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: every mirror has been swept once and the upstream polled.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.snapshot().ready {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "first sweep not finished\n",
        )
            .into_response()
    }
}

/// Rendering takes tens of milliseconds at AlmaLinux scale: off the async workers.
async fn render_metrics(State(state): State<AppState>) -> Response {
    let snapshot = state.snapshot();
    let http = state.http.clone();
    // A summary per repository name, read under the lock, rendered without it.
    let propagation = state
        .history
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .propagation
        .latest_per_repo();
    match tokio::task::spawn_blocking(move || metrics::render_with(&snapshot, &http, &propagation))
        .await
    {
        Ok(body) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics rendering failed\n",
        )
            .into_response(),
    }
}
