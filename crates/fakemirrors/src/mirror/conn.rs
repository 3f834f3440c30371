//! One accepted connection of a `FakeMirror`: optional TLS handshake, then the
//! HTTP/1.1 request loop (keep-alive, `Connection: close`, GET/HEAD,
//! conditional requests) with the configured `Behaviour` applied per request.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::behaviour::{content_type, oversize_body, Behaviour, HTML_PAGE, INVALID_XML};
use super::http::{self, ReadError, Request};
use super::{RequestRecord, Shared, StoredFile};

/// A byte stream the server talks HTTP over, with access to its TCP socket.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {
    fn tcp(&self) -> &TcpStream;
}

impl Io for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Io for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// What to do with the connection after a request.
enum Next {
    KeepAlive,
    Close,
    Reset,
    Hang,
    Drop,
}

/// A response before delivery.
struct Plan {
    status: u16,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
    not_modified: bool,
}

/// How the body goes out.
enum Delivery {
    Full,
    Slow(u64),
    Truncate(usize),
}

/// Serves one TCP connection until it ends or the server is stopped.
pub async fn serve(
    shared: Arc<Shared>,
    mut tcp: TcpStream,
    peer: SocketAddr,
    id: usize,
    acceptor: Option<TlsAcceptor>,
) {
    let _ = tcp.set_nodelay(true);
    match shared.connection_behaviour() {
        Some(Behaviour::BlackHole) => return drain(&mut tcp).await,
        Some(Behaviour::CloseImmediately) => return close_gracefully(Box::new(tcp)).await,
        Some(Behaviour::Reset) => return reset(Box::new(tcp)),
        _ => {}
    }
    let mut io: Box<dyn Io> = match acceptor {
        None => Box::new(tcp),
        Some(acceptor) => match acceptor.accept(tcp).await {
            Ok(tls) => Box::new(tls),
            Err(_) => {
                shared.tls_failures.fetch_add(1, Ordering::SeqCst);
                return;
            }
        },
    };
    let mut buf = Vec::new();
    loop {
        let next = match http::read_request(&mut io, &mut buf).await {
            Ok(Some(req)) => respond(&shared, &mut io, req, peer, id).await,
            Ok(None) | Err(ReadError::Io(_)) => Next::Drop,
            Err(ReadError::Malformed(status, why)) => {
                let mut plan = text_plan(status, &format!("{why}\n"));
                plan.headers.push(("Connection".into(), "close".into()));
                let head = http::format_head(status, &plan.headers);
                let _ = io.write_all(&[head, plan.body.to_vec()].concat()).await;
                Next::Close
            }
        };
        match next {
            Next::KeepAlive => continue,
            Next::Close => return close_gracefully(io).await,
            Next::Reset => return reset(io),
            Next::Hang => return drain(&mut io).await,
            Next::Drop => return,
        }
    }
}

/// Answers one request according to the behaviour for its path.
async fn respond(
    shared: &Shared,
    io: &mut Box<dyn Io>,
    req: Request,
    peer: SocketAddr,
    id: usize,
) -> Next {
    let behaviour = shared.behaviour_for(&req.path);
    let mut delay = None;
    let mut delivery = Delivery::Full;
    let plan = match &behaviour {
        Behaviour::Normal => normal_plan(shared, &req),
        Behaviour::Status(code) => text_plan(*code, &format!("kit: status {code}\n")),
        Behaviour::Delay(d) => {
            delay = Some(*d);
            normal_plan(shared, &req)
        }
        Behaviour::SlowBody { bytes_per_sec } => {
            delivery = Delivery::Slow((*bytes_per_sec).max(1));
            normal_plan(shared, &req)
        }
        Behaviour::Truncate { keep } => {
            delivery = Delivery::Truncate(*keep);
            normal_plan(shared, &req)
        }
        Behaviour::Oversize { bytes } => {
            body_plan(200, content_type(&req.path), oversize_body(*bytes))
        }
        Behaviour::Html => body_plan(200, "text/html; charset=utf-8", HTML_PAGE.into()),
        Behaviour::InvalidXml => body_plan(200, "text/xml", INVALID_XML.into()),
        Behaviour::RedirectLoop => {
            let here = format!("{}{}", shared.base_url.trim_end_matches('/'), req.path);
            if req.query.as_deref() == Some("kitloop=1") {
                redirect_plan(&here)
            } else {
                redirect_plan(&format!("{here}?kitloop=1"))
            }
        }
        Behaviour::RedirectTo(url) => redirect_plan(url),
        Behaviour::RedirectBase(base) => {
            let query = req.query.as_ref().map(|q| format!("?{q}"));
            let rel = req.path.trim_start_matches('/');
            redirect_plan(&format!("{base}{rel}{}", query.unwrap_or_default()))
        }
        Behaviour::BlackHole | Behaviour::CloseImmediately | Behaviour::Reset => {
            log(shared, &req, None, false, peer, id);
            return match behaviour {
                Behaviour::BlackHole => Next::Hang,
                Behaviour::Reset => Next::Reset,
                _ => Next::Close,
            };
        }
    };
    log(shared, &req, Some(plan.status), plan.not_modified, peer, id);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let close = req.wants_close() || matches!(delivery, Delivery::Truncate(_));
    let mut headers = vec![
        ("Server".to_string(), "mirrorwatch-kit".to_string()),
        ("Date".to_string(), http::http_date(SystemTime::now())),
    ];
    headers.extend(plan.headers);
    let no_body = http::status_has_no_body(plan.status);
    if !no_body {
        headers.push(("Content-Length".into(), plan.body.len().to_string()));
    }
    if close {
        headers.push(("Connection".into(), "close".into()));
    }
    let body: &[u8] = if no_body || req.method == "HEAD" {
        &[]
    } else {
        &plan.body
    };
    let head = http::format_head(plan.status, &headers);
    let sent = match delivery {
        Delivery::Full => io.write_all(&[head.as_slice(), body].concat()).await,
        Delivery::Truncate(keep) => {
            let kept = &body[..keep.min(body.len())];
            io.write_all(&[head.as_slice(), kept].concat()).await
        }
        Delivery::Slow(rate) => drip(io, &head, body, rate).await,
    };
    if sent.is_err() || io.flush().await.is_err() {
        return Next::Drop;
    }
    if close {
        Next::Close
    } else {
        Next::KeepAlive
    }
}

/// Writes the head at once, then the body in chunks of `rate / 10` bytes,
/// sleeping 100 ms before each chunk.
async fn drip(io: &mut Box<dyn Io>, head: &[u8], body: &[u8], rate: u64) -> std::io::Result<()> {
    io.write_all(head).await?;
    io.flush().await?;
    let chunk = usize::try_from(rate.div_ceil(10))
        .unwrap_or(usize::MAX)
        .max(1);
    for part in body.chunks(chunk) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        io.write_all(part).await?;
        io.flush().await?;
    }
    Ok(())
}

/// The `Behaviour::Normal` answer: the stored file, 304, 404 or 405.
fn normal_plan(shared: &Shared, req: &Request) -> Plan {
    if req.method != "GET" && req.method != "HEAD" {
        let mut plan = text_plan(405, "method not allowed\n");
        plan.headers.push(("Allow".into(), "GET, HEAD".into()));
        return plan;
    }
    let Some(file) = shared.file(&req.path) else {
        return text_plan(404, "not found\n");
    };
    let validators = vec![
        ("ETag".to_string(), file.etag.clone()),
        ("Last-Modified".to_string(), http::http_date(file.modified)),
    ];
    if is_not_modified(req, &file) {
        return Plan {
            status: 304,
            headers: validators,
            body: Arc::new(Vec::new()),
            not_modified: true,
        };
    }
    let mut headers = vec![(
        "Content-Type".to_string(),
        content_type(&req.path).to_string(),
    )];
    headers.extend(validators);
    Plan {
        status: 200,
        headers,
        body: file.body,
        not_modified: false,
    }
}

/// RFC 9110 §13.2.2: `If-None-Match` wins; `If-Modified-Since` only without it.
fn is_not_modified(req: &Request, file: &StoredFile) -> bool {
    if let Some(tags) = req.header("if-none-match") {
        return tags
            .split(',')
            .map(|t| t.trim())
            .any(|t| t == "*" || t.trim_start_matches("W/") == file.etag);
    }
    match req
        .header("if-modified-since")
        .and_then(http::parse_http_date)
    {
        Some(since) => file.modified <= since,
        None => false,
    }
}

fn body_plan(status: u16, content_type: &str, body: Vec<u8>) -> Plan {
    Plan {
        status,
        headers: vec![("Content-Type".into(), content_type.into())],
        body: Arc::new(body),
        not_modified: false,
    }
}

fn text_plan(status: u16, text: &str) -> Plan {
    body_plan(status, "text/plain; charset=utf-8", text.into())
}

fn redirect_plan(location: &str) -> Plan {
    let mut plan = text_plan(302, &format!("moved to {location}\n"));
    plan.headers.push(("Location".into(), location.into()));
    plan
}

fn log(
    shared: &Shared,
    req: &Request,
    status: Option<u16>,
    not_modified: bool,
    peer: SocketAddr,
    id: usize,
) {
    shared.log.lock().unwrap().push(RequestRecord {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        not_modified,
        status,
        connection: id,
        peer,
        at: SystemTime::now(),
    });
}

/// Reads and discards until the peer closes (or errors); never writes.
async fn drain<S: AsyncRead + Unpin + ?Sized>(io: &mut S) {
    let mut sink = [0u8; 4096];
    while let Ok(n) = io.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

/// Sends FIN (and TLS close_notify), then drains what the peer still sends
/// for up to two seconds, so that unread input does not turn the close into
/// a reset.
async fn close_gracefully(mut io: Box<dyn Io>) {
    let _ = io.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), drain(&mut io)).await;
}

/// Aborts the connection with RST (`SO_LINGER` 0, then close).
fn reset(io: Box<dyn Io>) {
    let _ = io.tcp().set_zero_linger();
    drop(io);
}
