//! [`FakeMirror`]: a real HTTP(S) server on a loopback address, with an in-memory
//! file store, switchable behaviours ([`behaviour`]) and a request log. The accept loop
//! lives here; per-connection protocol handling is in `conn`, the wire format in [`http`];
//! [`network`] puts an upstream and N mirrors together.
//!
//! Paths are matched exactly as sent: no percent-decoding and no merging of `//` (a real
//! nginx would merge them), so URL-joining bugs show up as 404s; the request log shows the
//! exact path. A missing file is a 404. Dropping a `FakeMirror` aborts its tasks; the
//! listener is gone once the runtime next runs (`shutdown().await` waits for it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod behaviour;
mod conn;
pub mod http;
pub mod network;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::repodata::RepoTree;
use crate::tls::{self, TlsMode};
use behaviour::{with_leading_slash, Behaviour, PathMatch};

/// How to start a `FakeMirror`. `MirrorOptions::default()` is plain HTTP on the
/// next address from `next_loopback_v4()`.
#[derive(Clone, Debug, Default)]
pub struct MirrorOptions {
    /// Address to bind; `None` = `next_loopback_v4()`. Must be loopback.
    pub ip: Option<IpAddr>,
    /// Port to bind; 0 = any free port.
    pub port: u16,
    pub tls: TlsMode,
    /// Host name put in the certificate (besides the IP) and in `host_base_url()`.
    pub host_name: Option<String>,
}

impl MirrorOptions {
    /// Bind `[::1]` instead of a v4 loopback address.
    pub fn ipv6(mut self) -> Self {
        self.ip = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        self
    }

    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    pub fn with_tls(mut self, mode: TlsMode) -> Self {
        self.tls = mode;
        self
    }

    pub fn with_host_name(mut self, name: &str) -> Self {
        self.host_name = Some(name.to_string());
        self
    }
}

/// One request as the mirror saw it.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    /// Path as sent (no query, no decoding).
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Whether a 304 Not Modified was (to be) served.
    pub not_modified: bool,
    /// The status written, or `None` when no response was sent (black hole, close).
    pub status: Option<u16>,
    /// 1-based number of the TCP connection it came on (see `connections()`).
    pub connection: usize,
    pub peer: SocketAddr,
    pub at: SystemTime,
}

impl RequestRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header_value(&self.headers, name)
    }
}

/// A file in the store.
#[derive(Clone, Debug)]
pub struct StoredFile {
    pub body: Arc<Vec<u8>>,
    /// Strong ETag, quotes included.
    pub etag: String,
    pub modified: SystemTime,
}

/// State shared between the handle and the server tasks.
pub struct Shared {
    pub files: Mutex<BTreeMap<String, StoredFile>>,
    /// Default behaviour and (match, behaviour) rules, newest last.
    pub behaviour: Mutex<(Behaviour, Vec<(PathMatch, Behaviour)>)>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub connections: AtomicUsize,
    pub tls_failures: AtomicUsize,
    pub base_url: String,
}

impl Shared {
    /// The behaviour for a request path: newest matching rule, else the default.
    pub fn behaviour_for(&self, path: &str) -> Behaviour {
        let guard = self.behaviour.lock().unwrap();
        let (default, rules) = &*guard;
        rules
            .iter()
            .rev()
            .find(|(m, _)| m.matches(path))
            .map_or_else(|| default.clone(), |(_, b)| b.clone())
    }

    /// The default behaviour if it acts before any request is read.
    pub fn connection_behaviour(&self) -> Option<Behaviour> {
        let guard = self.behaviour.lock().unwrap();
        let (default, rules) = &*guard;
        (rules.is_empty() && default.is_connection_level()).then(|| default.clone())
    }

    pub fn file(&self, path: &str) -> Option<StoredFile> {
        self.files.lock().unwrap().get(path).cloned()
    }
}

/// A fake mirror. Stops (listener and all connections) on drop.
pub struct FakeMirror {
    shared: Arc<Shared>,
    addr: SocketAddr,
    options: MirrorOptions,
    acceptor: Option<TlsAcceptor>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl FakeMirror {
    /// Binds and starts serving. Panics if the address is not loopback or
    /// cannot be bound.
    pub async fn start(options: MirrorOptions) -> FakeMirror {
        let ip = options
            .ip
            .unwrap_or_else(|| IpAddr::V4(crate::next_loopback_v4()));
        assert!(ip.is_loopback(), "the kit only binds loopback, not {ip}");
        let listener = TcpListener::bind((ip, options.port))
            .await
            .unwrap_or_else(|e| panic!("binding {ip}:{}: {e}", options.port));
        let addr = listener.local_addr().unwrap();
        let acceptor = (options.tls != TlsMode::None).then(|| {
            let config = tls::server_config(options.tls, ip, options.host_name.as_deref());
            TlsAcceptor::from(config)
        });
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            files: Mutex::new(BTreeMap::new()),
            behaviour: Mutex::new((Behaviour::Normal, Vec::new())),
            log: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            tls_failures: AtomicUsize::new(0),
            base_url: format!("{scheme}://{addr}/"),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone(), acceptor.clone()));
        FakeMirror {
            shared,
            addr,
            options,
            acceptor,
            task: Mutex::new(Some(task)),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn tls_mode(&self) -> TlsMode {
        self.options.tls
    }

    pub fn host_name(&self) -> Option<&str> {
        self.options.host_name.as_deref()
    }

    /// `http://127.3.4.5:41234/`, `https://[::1]:41234/`, …: by IP, with a trailing `/`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Like `base_url()` but with the host name (if one was given) instead of the IP.
    pub fn host_base_url(&self) -> Option<String> {
        let scheme = if self.acceptor.is_some() {
            "https"
        } else {
            "http"
        };
        let host = self.options.host_name.as_deref()?;
        Some(format!("{scheme}://{host}:{}/", self.addr.port()))
    }

    /// `base_url()` joined with `path` (leading `/` optional).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.shared.base_url, path.trim_start_matches('/'))
    }

    /// Stores a file at `path` (leading `/` optional), modified now.
    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.put_with_mtime(path, bytes, SystemTime::now());
    }

    /// Stores a file with a given modification time (`Last-Modified`).
    pub fn put_with_mtime(&self, path: &str, bytes: impl Into<Vec<u8>>, modified: SystemTime) {
        let body: Vec<u8> = bytes.into();
        let digest = Sha256::digest(&body);
        let etag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let file = StoredFile {
            body: Arc::new(body),
            etag: format!("\"{etag}\""),
            modified: http::whole_seconds(modified),
        };
        let key = with_leading_slash(path);
        self.shared.files.lock().unwrap().insert(key, file);
    }

    /// Removes a file; true if it was there.
    pub fn remove(&self, path: &str) -> bool {
        let key = with_leading_slash(path);
        self.shared.files.lock().unwrap().remove(&key).is_some()
    }

    /// Removes every file under `prefix` (a directory; leading `/` optional).
    pub fn clear_prefix(&self, prefix: &str) {
        let dir = join(prefix, "");
        self.shared
            .files
            .lock()
            .unwrap()
            .retain(|k, _| !k.starts_with(&dir));
    }

    /// Paths of all stored files.
    pub fn paths(&self) -> Vec<String> {
        self.shared.files.lock().unwrap().keys().cloned().collect()
    }

    /// Stores every file of `tree` under `prefix` (e.g. `9/BaseOS/x86_64/os`).
    /// Files already there (e.g. of an older revision) stay, as on a real
    /// mirror; call `clear_prefix` first to replace a tree.
    pub fn serve_tree(&self, prefix: &str, tree: &RepoTree) {
        for (path, bytes) in tree.files() {
            self.put(&join(prefix, &path), bytes);
        }
    }

    /// The partial-sync case: `serve_tree`, then remove the file of the given
    /// data type (e.g. `"primary"`). Returns the removed path.
    pub fn serve_tree_without(&self, prefix: &str, tree: &RepoTree, data_type: &str) -> String {
        self.serve_tree(prefix, tree);
        let href = tree
            .href(data_type)
            .unwrap_or_else(|| panic!("tree has no {data_type} data"));
        let path = join(prefix, href);
        assert!(self.remove(&path));
        path
    }

    /// Applies `behaviour` to all paths and drops any per-path rules.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = (behaviour, Vec::new());
    }

    /// Adds a rule; the newest rule matching a path wins over older ones and
    /// over the default.
    pub fn set_behaviour_for(&self, paths: PathMatch, behaviour: Behaviour) {
        self.shared
            .behaviour
            .lock()
            .unwrap()
            .1
            .push((paths, behaviour));
    }

    /// Back to `Behaviour::Normal` everywhere.
    pub fn reset_behaviour(&self) {
        self.set_behaviour(Behaviour::Normal);
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests for exactly this path (leading `/` optional).
    pub fn requests_for(&self, path: &str) -> Vec<RequestRecord> {
        let path = with_leading_slash(path);
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.log.lock().unwrap().clear();
    }

    /// TCP connections accepted so far (including ones that failed TLS).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Connections whose TLS handshake failed (e.g. the client rejected the cert).
    pub fn tls_handshake_failures(&self) -> usize {
        self.shared.tls_failures.load(Ordering::SeqCst)
    }

    /// Stops listening and drops all connections; new connections are refused
    /// until `come_up`. Files, behaviour and log are kept.
    pub async fn go_down(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same address after `go_down` (no-op if up).
    pub async fn come_up(&self) {
        if self.task.lock().unwrap().is_some() {
            return;
        }
        let listener = TcpListener::bind(self.addr).await.unwrap();
        let task = tokio::spawn(accept_loop(
            listener,
            self.shared.clone(),
            self.acceptor.clone(),
        ));
        *self.task.lock().unwrap() = Some(task);
    }

    /// Stops the server and waits until its listener and connections are gone.
    pub async fn shutdown(self) {
        self.go_down().await;
    }
}

impl Drop for FakeMirror {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

/// `/<prefix>/<rel>` with single slashes at the joint (empty prefix = root).
pub fn join(prefix: &str, rel: &str) -> String {
    let prefix = prefix.trim_matches('/');
    let rel = rel.trim_start_matches('/');
    if prefix.is_empty() {
        format!("/{rel}")
    } else {
        format!("/{prefix}/{rel}")
    }
}

/// Accepts connections until aborted; dropping it (on abort) drops the
/// `JoinSet` and so aborts every connection task.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, acceptor: Option<TlsAcceptor>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                    let fut = conn::serve(shared.clone(), stream, peer, id, acceptor.clone());
                    conns.spawn(fut);
                }
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}
