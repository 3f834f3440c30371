//! mirrorwatch: watches a network of RPM package mirrors and publishes what it finds.
//!
//! Data flows one way: [`config`] → probing → state → snapshot → HTTP ([`serve`]).
//! `main.rs` only parses arguments, sets up logging and signals, and calls [`run`].

pub mod config;
pub mod freshness;
pub mod health;
pub mod probe;
pub mod repomd;
pub mod serve;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Serve `config` on `listener` until `shutdown` is cancelled, then drain and return.
pub async fn run(
    config: Arc<Config>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = serve::router(serve::AppState::new(config));
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    tracing::info!("shut down");
    Ok(())
}
