//! HTTP and HTTPS for every simulated site, on its own loopback address and port.
//!
//! One port per site carries both protocols: the first byte of a connection tells a TLS
//! ClientHello (0x16) from a plain request, so a mirror's `http://` and `https://` URLs
//! differ only by scheme. hyper serves HTTP/1.1 with keep-alive, as the prober expects.
//!
//! A site that is down (or a family that is broken) keeps its port bound without listening:
//! connections are refused, exactly as from a host whose web server is stopped, and no other
//! socket can take the port meanwhile (bind(0) never hands out a bound port).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::network::{Answer, Network, Reach, Site};

/// How long a new connection may take to send its first byte.
const FIRST_BYTE: Duration = Duration::from_secs(10);

/// Which family a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn open(self, reach: Reach) -> bool {
        match self {
            Family::V4 => reach.ipv4,
            Family::V6 => reach.ipv6,
        }
    }
}

fn socket_for(addr: SocketAddr) -> std::io::Result<TcpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // The port is bound again after each down period while the old connections may still
    // be in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// A listener on `addr` (port 0 picks one).
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    socket_for(addr)?.listen(1024)
}

/// Serve `site` over `family` on `addr` until `shutdown`, opening and closing the port as
/// the site's reachability changes. `first` is the listener bound at start.
pub async fn run_listener(
    net: Arc<Network>,
    site: Arc<Site>,
    family: Family,
    addr: SocketAddr,
    first: TcpListener,
    shutdown: CancellationToken,
) {
    let mut first = Some(first);
    let mut reach = site.reach.subscribe();
    loop {
        let open = family.open(*reach.borrow_and_update());
        if open {
            let listener = match first.take() {
                Some(l) => l,
                None => match bind_listener(addr) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(site = %site.name, %addr, error = %e, "cannot listen again; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            () = shutdown.cancelled() => return,
                        }
                    }
                },
            };
            // Cancelled when the site goes down: open connections are cut as well.
            let connections = shutdown.child_token();
            loop {
                tokio::select! {
                    accepted = listener.accept() => if let Ok((stream, _)) = accepted {
                        tokio::spawn(serve_connection(net.clone(), site.clone(), stream, connections.clone()));
                    },
                    changed = reach.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if !family.open(*reach.borrow_and_update()) {
                            break;
                        }
                    }
                    () = shutdown.cancelled() => return,
                }
            }
            connections.cancel();
        } else {
            drop(first.take());
            // Bound, not listening: the port stays ours and connections are refused.
            let held = socket_for(addr);
            if let Err(e) = &held {
                tracing::debug!(site = %site.name, %addr, error = %e, "cannot hold the port while down");
            }
            tokio::select! {
                changed = reach.changed() => if changed.is_err() { return },
                () = shutdown.cancelled() => return,
            }
        }
    }
}

async fn serve_connection(
    net: Arc<Network>,
    site: Arc<Site>,
    stream: TcpStream,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let reset_site = site.clone();
    let reset = reset_site.reset.notified();
    let work = async move {
        let mut first = [0u8; 1];
        match tokio::time::timeout(FIRST_BYTE, stream.peek(&mut first)).await {
            Ok(Ok(1)) => {}
            _ => return,
        }
        let service = {
            let (net, site) = (net.clone(), site.clone());
            service_fn(move |request| {
                let (net, site) = (net.clone(), site.clone());
                async move { Ok::<_, Infallible>(respond(&net, &site, request).await) }
            })
        };
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new()).keep_alive(true);
        // 0x16: a TLS handshake record. The certificate is chosen now, so a mirror whose
        // fault begins mid-connection keeps its handshake.
        if first[0] == 0x16 {
            let acceptor = TlsAcceptor::from(net.certs.config(site.cert()));
            if let Ok(tls) = acceptor.accept(stream).await {
                let _ = http.serve_connection(TokioIo::new(tls), service).await;
            }
        } else {
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = stop.cancelled() => {}
        () = reset => {}
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A body, or for HEAD only its length (hyper sends no body for HEAD).
fn body(head: bool, bytes: Bytes, content_type: &'static str) -> Response<Full<Bytes>> {
    let length = bytes.len();
    let mut response = Response::new(Full::new(match head {
        true => Bytes::new(),
        false => bytes,
    }));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

async fn respond(net: &Network, site: &Site, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let head = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n"),
    };
    // A slow mirror is slow to answer (time to first byte), as an overloaded one is.
    if let Some(delay) = site.slow() {
        tokio::time::sleep(delay).await;
    }
    let path = request.uri().path();
    if path == "/" {
        let text = format!("{}: a simulated mirror (mirrorwatch simulate)\n", site.name);
        return plain(StatusCode::OK, &text);
    }
    match net.find(site, path) {
        Answer::Missing => plain(StatusCode::NOT_FOUND, "not found\n"),
        Answer::Time(t) => body(head, Bytes::from(format!("{t}\n")), "text/plain"),
        Answer::Data(bytes) => body(head, bytes, "application/x-gzip"),
        Answer::Repomd {
            body: bytes,
            etag,
            last_modified,
        } => {
            let unchanged = request
                .headers()
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
            let mut response = match unchanged {
                true => {
                    let mut r = Response::new(Full::new(Bytes::new()));
                    *r.status_mut() = StatusCode::NOT_MODIFIED;
                    r
                }
                false => body(head, bytes, "text/xml"),
            };
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                headers.insert(header::ETAG, v);
            }
            if let Ok(v) = HeaderValue::from_str(&last_modified) {
                headers.insert(header::LAST_MODIFIED, v);
            }
            response
        }
    }
}
