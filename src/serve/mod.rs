//! The HTTP side: an axum router over shared, read-only application state. Handlers never
//! talk to mirrors and never wait on a lock held across `.await`.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::config::Config;

/// What every handler may read.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(config: Arc<Config>) -> Self {
        AppState { config }
    }
}

/// Every route of the daemon.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Liveness: the process answers HTTP.
async fn healthz() -> &'static str {
    "ok\n"
}
