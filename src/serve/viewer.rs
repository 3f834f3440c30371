//! Who is looking at the status API and pages, and so which mirrors they may see: a private
//! mirror's entry (its name, URLs and verdicts) is shown only to clients on one of its own
//! networks, as the mirror list offers it only to them, unless `serve.show_private_mirrors`
//! is set. Counts over all mirrors (the overview's states per family, the metrics) include
//! private mirrors without naming them.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::request::{client, ForwardedFor};
use super::AppState;
use crate::config::Mirror;
use crate::select::{checks, Client};
use crate::state::Snapshot;

/// The client of a status request, as far as private mirrors are concerned.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// `None` when the request came without a peer address (in-process tests).
    client: Option<Client>,
    sees_all: bool,
}

impl Viewer {
    /// A viewer who sees every mirror.
    pub fn everyone() -> Viewer {
        Viewer {
            client: None,
            sees_all: true,
        }
    }

    /// A viewer who sees private mirrors only from their own networks.
    pub fn client(client: Client) -> Viewer {
        Viewer {
            client: Some(client),
            sees_all: false,
        }
    }

    /// Whether this viewer may see `mirror` in `snapshot`.
    pub fn sees(&self, snapshot: &Snapshot, mirror: &Mirror) -> bool {
        if !mirror.private || self.sees_all || snapshot.config.serve.show_private_mirrors {
            return true;
        }
        let Some(client) = &self.client else {
            return false;
        };
        let published = snapshot.subnets.shared_nets_for(mirror);
        checks::on_own_network(client, mirror, published.as_deref().unwrap_or_default())
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let forwarded = ForwardedFor::from_request_parts(parts, state).await?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let snapshot = state.snapshot();
        Ok(Viewer {
            client: peer.map(|peer| client(state, &snapshot.config, peer, &forwarded, None)),
            sees_all: false,
        })
    }
}
