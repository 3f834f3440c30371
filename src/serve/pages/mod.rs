//! The status pages for people: `/` (the network at a glance and every mirror in one table)
//! and `/mirrors/{name}` (why one mirror is in or out of the mirror list), rendered on the
//! server from the snapshot with maud, whose templates are checked at compile time and
//! escape everything they interpolate. The stylesheet and the small sorting script are
//! compiled in and served by the daemon (`/static/…`): no CDN, no build chain, and every page
//! works with JavaScript off (sorting and filtering are query parameters too).
//!
//! - `overview.rs` — `/`; `table.rs` — the mirror table, its sorting and filters;
//! - `mirror.rs` — `/mirrors/{name}`; `checklist.rs` — the selection rules evaluated for one
//!   mirror, by the very functions selection uses ([`crate::select::checks`]);
//! - `history.rs` + `recorder.rs` — the bounded history the charts draw, fed by every
//!   published snapshot and saved beside the state file;
//! - `svg.rs` — the charts, inline SVG drawn by hand; `format.rs` — durations, times.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use tower_http::compression::CompressionLayer;

use super::viewer::Viewer;
use super::AppState;
use crate::state::Snapshot;

mod checklist;
pub mod format;
pub mod history;
mod mirror;
mod overview;
pub mod recorder;
mod svg;
mod table;
#[cfg(test)]
mod tests;

pub use history::History;
pub use recorder::SharedHistory;
pub use table::TableQuery;

const STYLE: &str = include_str!("static/style.css");
const SCRIPT: &str = include_str!("static/sort.js");
/// The assets are compiled in, so they change only with the binary, and the pages link them
/// with the version in the URL: a cached copy can be kept for good.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";
const STYLE_PATH: &str = concat!("/static/style.css?v=", env!("CARGO_PKG_VERSION"));
const SCRIPT_PATH: &str = concat!("/static/sort.js?v=", env!("CARGO_PKG_VERSION"));

/// The pages and their assets, gzip'ed for clients that accept it.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview_page))
        .route("/mirrors/{name}", get(mirror_page))
        .route("/static/style.css", get(style))
        .route("/static/sort.js", get(script))
        .layer(CompressionLayer::new())
}

/// The frame every page shares: head, header with the navigation, footer with the time.
fn page(title: &str, generated_at: i64, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · mirrorwatch" }
                link rel="stylesheet" href=(STYLE_PATH);
                script src=(SCRIPT_PATH) defer {}
            }
            body {
                header {
                    a.home href="/" { "mirrorwatch" }
                    nav {
                        a href="/" { "overview" }
                        a href="/api/v1/mirrors" { "JSON API" }
                        a href="/metrics" { "metrics" }
                    }
                }
                main { (body) }
                footer {
                    "Snapshot of "
                    time datetime=(format::iso(generated_at)) { (format::utc(generated_at)) }
                    ". Rendered by the daemon from its latest snapshot; reload for a newer one."
                }
            }
        }
    }
}

fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        Html(markup.into_string()),
    )
        .into_response()
}

/// Render with the latest snapshot and the history, off the async workers: `/` takes
/// milliseconds at AlmaLinux scale.
async fn render_blocking(
    state: &AppState,
    render: impl FnOnce(&Snapshot, &History) -> (StatusCode, Markup) + Send + 'static,
) -> Response {
    let snapshot = state.snapshot();
    let history = state.history.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let history = history
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        render(&snapshot, &history)
    });
    match rendered.await {
        Ok((status, markup)) => html_response(status, markup),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed\n").into_response(),
    }
}

async fn overview_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<TableQuery>,
) -> Response {
    render_blocking(&state, move |snapshot, history| {
        let body = overview::render(snapshot, history, &query, &viewer);
        (
            StatusCode::OK,
            page("Mirror status", snapshot.generated_at, body),
        )
    })
    .await
}

async fn mirror_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Response {
    render_blocking(&state, move |snapshot, history| {
        match mirror::render(snapshot, history, &name, &viewer) {
            Some(body) => (StatusCode::OK, page(&name, snapshot.generated_at, body)),
            None => (
                StatusCode::NOT_FOUND,
                page("Unknown mirror", snapshot.generated_at, not_found(&name)),
            ),
        }
    })
    .await
}

fn not_found(name: &str) -> Markup {
    html! {
        h1 { "Unknown mirror" }
        p.notice {
            "No mirror called " code { (name) } " is configured. Mirror names are matched "
            "exactly; the " a href="/" { "overview" } " lists every mirror."
        }
    }
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE)),
        ],
        body,
    )
        .into_response()
}
