//! The simulator's control address: `GET /truth.json` (`?mirror=NAME` for one mirror), and
//! the ground truth kept written to a file — atomically, at most once a second — on change.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::network::Network;
use super::truth::{build, Truth};

#[derive(Deserialize)]
struct Only {
    mirror: Option<String>,
}

/// The control address's routes: `/truth.json` and a short index at `/`.
pub fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/truth.json", get(truth_json))
        .route("/", get(index))
        .with_state(net)
}

async fn truth_json(State(net): State<Arc<Network>>, Query(only): Query<Only>) -> Response {
    Json(build(&net, only.mirror.as_deref())).into_response()
}

async fn index() -> &'static str {
    "mirrorwatch simulate: GET /truth.json (or /truth.json?mirror=NAME) for the ground truth\n"
}

/// Write the truth to `path` at start and after every change, at most once a second,
/// until `shutdown`.
pub async fn keep_written(net: Arc<Network>, path: PathBuf, shutdown: CancellationToken) {
    loop {
        // Off the runtime's threads: for hundreds of mirrors this is megabytes of JSON.
        let (net2, path2) = (net.clone(), path.clone());
        let written = tokio::task::spawn_blocking(move || write(&path2, &build(&net2, None))).await;
        if let Ok(Err(e)) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the ground truth");
        }
        tokio::select! {
            () = net.changed.notified() => {}
            () = shutdown.cancelled() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Written beside the target and renamed over it, so a reader never sees half a file.
fn write(path: &Path, truth: &Truth) -> std::io::Result<()> {
    let text = serde_json::to_vec(truth).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
