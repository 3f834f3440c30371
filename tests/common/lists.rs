//! A loopback HTTP server that publishes one text file (a mirror's subnet list) at
//! `/subnets.txt`, whose answer a test changes as it goes: a list, a status, or nothing at
//! all once stopped. Every request is counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Shared {
    reply: Mutex<(u16, Vec<u8>)>,
    hits: AtomicUsize,
}

/// The server; stopped on drop (its port then refuses connections).
pub struct ListServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl ListServer {
    /// Starts on 127.0.0.1, answering 200 with `body`.
    pub async fn start(body: &str) -> ListServer {
        let shared = Arc::new(Shared::default());
        *shared.reply.lock().unwrap() = (200, body.as_bytes().to_vec());
        let app = Router::new()
            .route("/subnets.txt", get(serve))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await;
        });
        ListServer { addr, shared, stop }
    }

    /// `http://127.0.0.1:<port>/subnets.txt`
    pub fn url(&self) -> String {
        format!("http://{}/subnets.txt", self.addr)
    }

    /// From now on, answer `status` with `body`.
    pub fn reply(&self, status: u16, body: impl Into<Vec<u8>>) {
        *self.shared.reply.lock().unwrap() = (status, body.into());
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }
}

impl Drop for ListServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(State(shared): State<Arc<Shared>>) -> (StatusCode, Vec<u8>) {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let (status, body) = shared.reply.lock().unwrap().clone();
    (StatusCode::from_u16(status).unwrap(), body)
}
