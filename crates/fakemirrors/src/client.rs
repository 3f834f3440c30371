//! A minimal raw HTTP/1.1 client for tests (no reqwest): one connection, plain
//! or TLS (trusting the kit CA by default), request/response with keep-alive,
//! and responses that report a body cut short instead of failing. Only
//! loopback addresses may be used.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::mirror::http::{find_head_end, header_value, status_has_no_body};

/// Any byte stream the client can talk over.
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientIo for T {}

/// A response as received.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// False if the connection ended before the announced body was complete.
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")?.parse().ok()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection.
pub struct Conn {
    io: Box<dyn ClientIo>,
    buf: Vec<u8>,
    host: String,
}

fn check_loopback(addr: SocketAddr) -> io::Result<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kit client: {addr} is not loopback"
        )))
    }
}

impl Conn {
    /// Plain TCP.
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        check_loopback(addr)?;
        let tcp = TcpStream::connect(addr).await?;
        Ok(Conn {
            io: Box::new(tcp),
            buf: Vec::new(),
            host: addr.to_string(),
        })
    }

    /// TLS trusting only the kit CA; `server_name` is a DNS name or an IP literal.
    pub async fn connect_tls(addr: SocketAddr, server_name: &str) -> io::Result<Conn> {
        Conn::connect_tls_with(addr, server_name, crate::tls::client_config()).await
    }

    /// TLS with a caller-supplied config. Handshake errors come back as
    /// `io::Error`s wrapping a `rustls::Error` (see `tls_error`).
    pub async fn connect_tls_with(
        addr: SocketAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
    ) -> io::Result<Conn> {
        check_loopback(addr)?;
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tcp = TcpStream::connect(addr).await?;
        let tls = TlsConnector::from(config).connect(name, tcp).await?;
        Ok(Conn {
            io: Box::new(tls),
            buf: Vec::new(),
            host: format!("{server_name}:{}", addr.port()),
        })
    }

    /// Sends a request (with `Host`, plus `headers`) and reads its response.
    pub async fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Response> {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("\r\n");
        self.send_raw(req.as_bytes()).await?;
        self.read_response(method == "HEAD").await
    }

    /// Writes bytes as they are (e.g. a hand-made or pipelined request).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Reads more input; 0 at EOF (a TLS EOF without close_notify counts as EOF).
    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        match self.io.read(&mut chunk).await {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Reads one response; `head_only` for responses to HEAD.
    pub async fn read_response(&mut self, head_only: bool) -> io::Result<Response> {
        let end = loop {
            if let Some(end) = find_head_end(&self.buf) {
                break end;
            }
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a complete response head",
                ));
            }
        };
        let head: Vec<u8> = self.buf.drain(..end).collect();
        let text = String::from_utf8_lossy(&head);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let bad = || io::Error::new(io::ErrorKind::InvalidData, status_line.to_string());
        if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
            return Err(bad());
        }
        let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let reason = parts.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut resp = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
            complete: true,
        };
        if head_only || status_has_no_body(status) {
            return Ok(resp);
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        if chunked {
            (resp.body, resp.complete) = self.read_chunked().await?;
        } else if let Some(len) = resp.content_length() {
            while self.buf.len() < len && self.fill().await? > 0 {}
            let take = len.min(self.buf.len());
            resp.body = self.buf.drain(..take).collect();
            resp.complete = take == len;
        } else {
            while self.fill().await? > 0 {}
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    /// One CRLF-terminated line without its CRLF; `None` at EOF.
    async fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let mut line: Vec<u8> = self.buf.drain(..p + 2).collect();
                line.truncate(p);
                return Ok(Some(line));
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Decodes a chunked body: (body, complete).
    async fn read_chunked(&mut self) -> io::Result<(Vec<u8>, bool)> {
        let mut body = Vec::new();
        loop {
            let Some(line) = self.read_line().await? else {
                return Ok((body, false));
            };
            let size_text = String::from_utf8_lossy(&line);
            let size_hex = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Skip trailers up to the empty line.
                while let Some(trailer) = self.read_line().await? {
                    if trailer.is_empty() {
                        return Ok((body, true));
                    }
                }
                return Ok((body, false));
            }
            while self.buf.len() < size + 2 {
                if self.fill().await? == 0 {
                    body.extend(self.buf.drain(..size.min(self.buf.len())));
                    return Ok((body, false));
                }
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    /// Reads whatever arrives until EOF (e.g. to prove the server closed).
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }
}

/// The rustls error inside an `io::Error` from a TLS connect, if any.
pub fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// One-shot request to `url` (`http://` or `https://` with a loopback IP
/// literal host; https trusts the kit CA), with `Connection: close`.
pub async fn fetch_with(url: &str, method: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
    let url = url::Url::parse(url).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let ip: IpAddr = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.into(),
        Some(url::Host::Ipv6(ip)) => ip.into(),
        _ => return Err(io::Error::other("kit client: host must be an IP literal")),
    };
    let addr = SocketAddr::new(ip, url.port_or_known_default().unwrap_or(80));
    let mut conn = match url.scheme() {
        "http" => Conn::connect(addr).await?,
        "https" => Conn::connect_tls(addr, &ip.to_string()).await?,
        other => return Err(io::Error::other(format!("kit client: scheme {other}"))),
    };
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target = format!("{target}?{q}");
    }
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    conn.request(method, &target, &all).await
}

/// `fetch_with(url, "GET", &[])`.
pub async fn fetch(url: &str) -> io::Result<Response> {
    fetch_with(url, "GET", &[]).await
}
