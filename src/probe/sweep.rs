//! One sweep: every repomd.xml a mirror should carry, fetched over one IP family.
//!
//! The primary protocol (the first of `probe.protocols` the mirror has) fetches every file
//! with a conditional GET; each other protocol gets one reachability fetch. A repomd.xml not
//! seen before has the data files it references checked with HEAD (partial sync →
//! incomplete). Connections are kept within the sweep, so 136 files cost one handshake.
//!
//! Memory: a [`SweepPlan`] is built once per configuration and kept for the life of its
//! task, so it is small: one base URL per tree (the main one, each module's) and protocol,
//! and per file two indices into those and into the layout's table of paths ([`Targets`]),
//! which every plan of a configuration shares. URLs are joined when a file is fetched. A
//! sweep holds one of `ctx.sweeps` slots from start to end, so that only about
//! `concurrency / per_host` sweeps have a working set (fetch tasks, results) at a time.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use url::Url;

use super::{
    DnsAnswer, Failure, FailureReason, FetchOutcome, FetchRequest, Fetcher, Limits, Phase, Timings,
    TlsInfo,
};
use crate::config::{IpFamily, Layout, Mirror, Protocol};
use crate::repomd;

/// What a sweep needs besides its plan: shared by every sweep of the engine.
#[derive(Clone)]
pub struct SweepContext {
    pub fetcher: Fetcher,
    /// The global cap on requests in flight.
    pub global: Arc<Semaphore>,
    /// Sweeps in progress: a sweep holds a slot from before it allocates anything until its
    /// report is made. About `concurrency / per_host` slots keep the global cap busy.
    pub sweeps: Arc<Semaphore>,
    pub limits: Limits,
    /// Requests in flight to one host, across every sweep and the upstream poll.
    pub hosts: Arc<HostLimits>,
    pub check_data_files: bool,
    /// Also fetch the `TIME` file (an epoch) at the mirror's root.
    pub time_file: bool,
    /// Keep a sweep's connections for the next sweep of the mirror: only worth it when that
    /// comes before they expire (`probe.interval` shorter than the fetcher's idle timeout).
    /// Otherwise they are closed when the sweep ends, so that idle connections of every
    /// mirror swept in the last idle timeout do not pile up.
    pub keep_connections: bool,
}

/// How many sweeps may be in progress at once: enough to keep `concurrency` requests in
/// flight when each sweep has `per_host` of them, and at least one.
pub fn sweep_slots(concurrency: usize, per_host: usize) -> usize {
    (concurrency / per_host.max(1)).max(1)
}

/// One semaphore per host name, created on first use, so that the IPv4 and IPv6 sweeps of a
/// mirror (and a mirror sharing a host with another) together stay within the cap.
#[derive(Debug)]
pub struct HostLimits {
    per_host: usize,
    hosts: std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>,
}

impl HostLimits {
    pub fn new(per_host: usize) -> HostLimits {
        HostLimits {
            per_host: per_host.max(1),
            hosts: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Requests in flight to one host at most.
    pub fn per_host(&self) -> usize {
        self.per_host
    }

    /// The semaphore of `host`. A std mutex: it is held for a map lookup, never across `.await`.
    pub fn get(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = match self.hosts.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        hosts
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }
}

/// What the last sweep saw of one file: the conditional-GET validators and its hash.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Previous {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub sha256: Option<String>,
    /// Its data files were checked and all found.
    pub complete: bool,
}

/// [`Previous`] as a sweep uses it, compact: both validators in one allocation and the hash
/// as bytes. The scheduler keeps one per file of every (mirror, family) between sweeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The ETag, then the Last-Modified date.
    text: Box<str>,
    etag_len: u32,
    has_etag: bool,
    has_last_modified: bool,
    has_sha256: bool,
    complete: bool,
    sha256: [u8; 32],
}

impl Validators {
    /// `sha256` in hex, as in [`FileResult::Fetched`]; one that is not is treated as absent.
    pub fn new(
        etag: Option<&str>,
        last_modified: Option<&str>,
        sha256: Option<&str>,
        complete: bool,
    ) -> Validators {
        let mut bytes = [0u8; 32];
        let has_sha256 = sha256.is_some_and(|hex| hex::decode_to_slice(hex, &mut bytes).is_ok());
        Validators::from_bytes(etag, last_modified, has_sha256.then_some(&bytes), complete)
    }

    /// [`Validators::new`] with the sha256 as the 32 bytes the records keep: no hex on the way.
    pub fn from_bytes(
        etag: Option<&str>,
        last_modified: Option<&str>,
        sha256: Option<&[u8; 32]>,
        complete: bool,
    ) -> Validators {
        let (etag, has_etag) = (etag.unwrap_or_default(), etag.is_some());
        let mut text = String::with_capacity(etag.len() + last_modified.map_or(0, str::len));
        text.push_str(etag);
        text.push_str(last_modified.unwrap_or_default());
        Validators {
            text: text.into_boxed_str(),
            // An ETag over 4 GiB cannot come through the body cap's headers.
            etag_len: u32::try_from(etag.len()).unwrap_or(u32::MAX),
            has_etag,
            has_last_modified: last_modified.is_some(),
            has_sha256: sha256.is_some(),
            complete,
            sha256: sha256.copied().unwrap_or_default(),
        }
    }

    pub fn etag(&self) -> Option<&str> {
        let end = self.etag_len as usize;
        self.has_etag.then(|| self.text.get(..end)).flatten()
    }

    pub fn last_modified(&self) -> Option<&str> {
        let start = if self.has_etag {
            self.etag_len as usize
        } else {
            0
        };
        self.has_last_modified
            .then(|| self.text.get(start..))
            .flatten()
    }

    /// Whether the copy had this sha256 (hex).
    pub fn same_sha256(&self, sha256: &str) -> bool {
        let mut bytes = [0u8; 32];
        self.has_sha256 && hex::decode_to_slice(sha256, &mut bytes).is_ok() && bytes == self.sha256
    }

    /// Its data files were checked and all found.
    pub fn complete(&self) -> bool {
        self.complete
    }
}

impl From<&Previous> for Validators {
    fn from(p: &Previous) -> Validators {
        Validators::new(
            p.etag.as_deref(),
            p.last_modified.as_deref(),
            p.sha256.as_deref(),
            p.complete,
        )
    }
}

/// The repomd.xml files of a layout, in layout order, as paths relative to a mirror's base
/// (`9.8/BaseOS/x86_64/os/repodata/repomd.xml`). Built once per configuration and shared by
/// every plan made from it.
#[derive(Debug, Default)]
pub struct Targets {
    paths: Vec<Box<str>>,
}

/// What follows a target's key (its directory) in its repomd.xml path.
const REPOMD: &str = "repodata/repomd.xml";

impl Targets {
    pub fn new(layout: &Layout) -> Targets {
        Targets {
            paths: layout
                .targets()
                .map(|t| t.repomd_path().into_boxed_str())
                .collect(),
        }
    }

    /// The repomd.xml path of target `index`, relative to a mirror's base URL.
    fn path(&self, index: u32) -> &str {
        self.paths.get(index as usize).map_or("", |p| p)
    }

    /// The key of target `index`: its directory, `9.8/BaseOS/x86_64/os/`.
    fn key(&self, index: u32) -> &str {
        let path = self.path(index);
        path.strip_suffix(REPOMD).unwrap_or(path)
    }
}

/// One file of a plan: a target of the layout, under one of the plan's base URLs.
#[derive(Debug, Clone, Copy)]
struct PlannedFile {
    target: u32,
    tree: u32,
}

/// One sweep to run: built once per (configuration, mirror, family) and reused by every
/// sweep of it.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub mirror: String,
    pub family: IpFamily,
    pub primary: Protocol,
    pub secondary: Vec<Protocol>,
    targets: Arc<Targets>,
    /// Base URLs of the mirror's trees (the main one, then each module's it has files in),
    /// per protocol.
    trees: Vec<BTreeMap<Protocol, Url>>,
    files: Vec<PlannedFile>,
    /// `<base>/TIME` over the primary protocol.
    pub time_url: Option<Url>,
}

impl SweepPlan {
    /// The plan of `mirror` over `family`, probing `protocols` (in order of preference):
    /// `None` when the mirror has none of them. `targets` must be of `layout`.
    pub fn new(
        targets: &Arc<Targets>,
        layout: &Layout,
        protocols: &[Protocol],
        mirror: &Mirror,
        family: IpFamily,
    ) -> Option<SweepPlan> {
        let protocols: Vec<Protocol> = protocols
            .iter()
            .copied()
            .filter(|p| mirror.address.for_protocol(*p).is_some())
            .collect();
        let (&primary, secondary) = protocols.split_first()?;
        let mut modules: Vec<Option<&str>> = Vec::new();
        let mut trees: Vec<BTreeMap<Protocol, Url>> = Vec::new();
        let mut files = Vec::new();
        for (index, t) in layout.indexed_targets_for(mirror) {
            let module = t.version.module.as_deref();
            let tree = match modules.iter().position(|m| *m == module) {
                Some(tree) => tree,
                None => {
                    let urls = protocols
                        .iter()
                        .filter_map(|&p| Some((p, mirror.base_url(t.version, p)?.clone())))
                        .collect();
                    modules.push(module);
                    trees.push(urls);
                    trees.len() - 1
                }
            };
            if !trees[tree].contains_key(&primary) {
                continue;
            }
            let (Ok(target), Ok(tree)) = (u32::try_from(index), u32::try_from(tree)) else {
                continue;
            };
            files.push(PlannedFile { target, tree });
        }
        files.shrink_to_fit();
        Some(SweepPlan {
            mirror: mirror.name.clone(),
            family,
            primary,
            secondary: secondary.to_vec(),
            targets: targets.clone(),
            trees,
            files,
            time_url: mirror
                .address
                .for_protocol(primary)
                .and_then(|base| base.join("TIME").ok()),
        })
    }

    /// The number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The key of each file (`9.8/BaseOS/x86_64/os/`), in plan order: the order of a
    /// report's files and of the validators a sweep takes.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.files.iter().map(|f| self.targets.key(f.target))
    }

    /// The key of file `index`.
    pub fn key(&self, index: usize) -> Option<&str> {
        self.files.get(index).map(|f| self.targets.key(f.target))
    }

    /// The base URL of file `index`'s tree over `protocol`.
    fn base(&self, index: usize, protocol: Protocol) -> Option<&Url> {
        let file = self.files.get(index)?;
        self.trees.get(file.tree as usize)?.get(&protocol)
    }

    /// The repomd.xml URL of file `index` over `protocol`, joined now.
    pub fn url(&self, index: usize, protocol: Protocol) -> Option<Url> {
        let file = self.files.get(index)?;
        self.base(index, protocol)?
            .join(self.targets.path(file.target))
            .ok()
    }

    /// The mirror's main host: the first file's, over the primary protocol. Its address is
    /// the family's, and decides whether the family is absent.
    pub fn host(&self) -> Option<&str> {
        self.base(0, self.primary)?.host_str()
    }

    /// Every host name the files are on over the primary protocol (the main tree's and the
    /// modules'), each once.
    pub fn hosts(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = self
            .trees
            .iter()
            .filter_map(|tree| tree.get(&self.primary)?.host_str())
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileResult {
    Fetched {
        sha256: String,
        size: u64,
        timestamp: Option<i64>,
        /// Referenced data files not found (or of the wrong size); `None` when not checked.
        missing: Option<Vec<String>>,
    },
    /// 304: as the previous sweep saw it.
    NotModified,
    NotFound,
    Failed {
        reason: FailureReason,
        detail: String,
    },
}

#[derive(Debug, Clone)]
pub struct FileReport {
    pub key: String,
    pub result: FileResult,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl FileReport {
    /// A file that could not be fetched: no validators.
    fn failed(key: String, result: FileResult) -> FileReport {
        FileReport {
            key,
            result,
            etag: None,
            last_modified: None,
        }
    }
}

/// The outcome of one sweep.
#[derive(Debug, Clone)]
pub struct SweepReport {
    pub mirror: String,
    pub family: IpFamily,
    pub started: i64,
    pub duration: Duration,
    /// The mirror has no address in this family (no A or no AAAA record): nothing to judge.
    pub absent: bool,
    pub address: Option<IpAddr>,
    /// The sweep could not start (DNS) or no file could be fetched at all.
    pub failure: Option<Failure>,
    /// Timings of the first fetch, which opened the connection.
    pub phases: Option<super::Timings>,
    pub resolve: Duration,
    pub tls_not_after: Option<i64>,
    pub protocols: BTreeMap<Protocol, bool>,
    pub files: Vec<FileReport>,
    /// The median fetch time of the files that were fetched.
    pub latency: Option<Duration>,
    /// The epoch in the mirror's `TIME` file, when asked for and readable.
    pub time_file: Option<i64>,
}

impl SweepReport {
    fn new(plan: &SweepPlan, started: i64) -> SweepReport {
        SweepReport {
            mirror: plan.mirror.clone(),
            family: plan.family,
            started,
            duration: Duration::ZERO,
            absent: false,
            address: None,
            failure: None,
            phases: None,
            resolve: Duration::ZERO,
            tls_not_after: None,
            protocols: BTreeMap::new(),
            files: Vec::new(),
            latency: None,
            time_file: None,
        }
    }
}

fn dns_failure(detail: String) -> Failure {
    Failure {
        reason: FailureReason::Dns,
        phase: Phase::Resolve,
        detail,
    }
}

/// Resolve `host` in `family`: `Ok(None)` when the name has no address in that family.
pub async fn resolve(
    fetcher: &Fetcher,
    host: &str,
    family: IpFamily,
) -> (Result<Option<IpAddr>, Failure>, Duration) {
    let family = match family {
        IpFamily::Ipv4 => super::Family::V4,
        IpFamily::Ipv6 => super::Family::V6,
    };
    let lookup = fetcher.resolver().lookup(host, family).await;
    let result = match lookup.answer {
        DnsAnswer::Ok(addrs) => Ok(addrs.first().copied()),
        DnsAnswer::NoRecords => Ok(None),
        DnsAnswer::NxDomain => Err(dns_failure(format!("{host}: no such name"))),
        DnsAnswer::Failed(e) => Err(dns_failure(format!("{host}: {e}"))),
    };
    (result, lookup.elapsed)
}

/// Runs `futures` concurrently in the calling task; their outputs in the same order. For a
/// handful of futures: every one is polled on each wake-up.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// What a sweep keeps of one fetch besides its [`FileReport`]: enough for the report's
/// phases, TLS expiry and latency, not the response.
struct FetchStats {
    timings: Timings,
    tls: Option<TlsInfo>,
    reused: bool,
    ok: bool,
}

impl FetchStats {
    fn of(outcome: &FetchOutcome) -> FetchStats {
        FetchStats {
            timings: outcome.timings,
            tls: outcome.tls,
            reused: outcome.reused,
            ok: outcome.result.is_ok(),
        }
    }
}

/// Run one sweep of `plan`; `previous[i]` is what the last sweep saw of file `i` (see
/// [`SweepPlan::keys`]). The report has one file per planned file, in plan order. Never
/// fails as a call: every problem is in the report.
pub async fn sweep(
    ctx: &SweepContext,
    plan: &SweepPlan,
    previous: &[Option<Validators>],
    started: i64,
) -> SweepReport {
    let clock = Instant::now();
    // Whole sweeps wait here, before anything is allocated for them. The sweep's own state
    // (several KB: the fetches of the TIME file and of other protocols) is boxed only then,
    // so that it is not part of every waiting (mirror, family) task.
    let _slot = ctx.sweeps.acquire().await.ok();
    Box::pin(run_sweep(ctx, plan, previous, started, clock)).await
}

async fn run_sweep(
    ctx: &SweepContext,
    plan: &SweepPlan,
    previous: &[Option<Validators>],
    started: i64,
    clock: Instant,
) -> SweepReport {
    let mut report = SweepReport::new(plan, started);
    let Some(host) = plan.host() else {
        report.duration = clock.elapsed();
        return report;
    };
    let (resolved, resolve_time) = resolve(&ctx.fetcher, host, plan.family).await;
    report.resolve = resolve_time;
    let addr = match resolved {
        Ok(Some(addr)) => addr,
        Ok(None) => {
            report.absent = true;
            report.duration = clock.elapsed();
            return report;
        }
        Err(failure) => {
            report.failure = Some(failure);
            report.duration = clock.elapsed();
            return report;
        }
    };
    report.address = Some(addr);
    let routes = routes(ctx, plan, host, addr).await;
    // `per_host` workers inside this task take the files in order, each waiting for its
    // permits before it starts a file: no task and no copy of the validators per file, and
    // no more fetch state than requests the sweep may have in flight.
    let next = AtomicUsize::new(0);
    let worker = || async {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= plan.len() {
                return done;
            }
            let Some(url) = plan.url(index, plan.primary) else {
                continue;
            };
            let Some(route) = url.host_str().and_then(|h| routes.get(h)) else {
                continue;
            };
            let key = plan.key(index).unwrap_or_default().to_string();
            let addr = match &route.addr {
                Ok(addr) => *addr,
                // A module tree on a host that does not resolve: its files fail, the
                // others are judged as usual.
                Err(failure) => {
                    let result = FileResult::Failed {
                        reason: failure.reason,
                        detail: failure.detail.clone(),
                    };
                    done.push((index, FileReport::failed(key, result), None));
                    continue;
                }
            };
            let _local = route.limit.acquire().await.ok();
            let _global = ctx.global.acquire().await.ok();
            let previous = previous.get(index).and_then(Option::as_ref);
            let (mut file, stats) = fetch_file(ctx, previous, &url, addr).await;
            file.key = key;
            done.push((index, file, Some(stats)));
        }
    };
    let workers = ctx.hosts.per_host().min(plan.len()).max(1);
    let mut results: Vec<Option<(FileReport, Option<FetchStats>)>> = Vec::new();
    results.resize_with(plan.len(), || None);
    for (index, file, stats) in join_all((0..workers).map(|_| worker()).collect())
        .await
        .into_iter()
        .flatten()
    {
        if let Some(slot) = results.get_mut(index) {
            *slot = Some((file, stats));
        }
    }
    // The phases shown are those of a fetch that opened its own connection (connect and TLS
    // included), as a client arriving fresh would see them.
    let stats = || results.iter().flatten().filter_map(|(_, s)| s.as_ref());
    let cold = stats().find(|s| !s.reused).or_else(|| stats().next());
    report.phases = cold.map(|s| {
        let mut phases = s.timings;
        phases.resolve += resolve_time;
        phases
    });
    report.tls_not_after = stats().find_map(|s| s.tls.map(|t| t.not_after_unix));
    let mut latencies: Vec<Duration> = stats().filter(|s| s.ok).map(|s| s.timings.total).collect();
    latencies.sort();
    report.latency = latencies.get(latencies.len() / 2).copied();
    // One file per planned file, in plan order, whatever became of its fetch.
    report.files = results
        .into_iter()
        .enumerate()
        .map(|(index, result)| match result {
            Some((file, _)) => file,
            None => FileReport::failed(
                plan.key(index).unwrap_or_default().to_string(),
                FileResult::Failed {
                    reason: FailureReason::Protocol,
                    detail: "the fetch did not complete".into(),
                },
            ),
        })
        .collect();
    let answered = report
        .files
        .iter()
        .any(|f| !matches!(f.result, FileResult::Failed { .. }));
    report.protocols.insert(plan.primary, answered);
    if !answered {
        report.failure = report.files.iter().find_map(|f| match &f.result {
            FileResult::Failed { reason, detail } => Some(Failure {
                reason: *reason,
                phase: Phase::Processing,
                detail: detail.clone(),
            }),
            _ => None,
        });
    }
    if ctx.time_file {
        if let Some(url) = &plan.time_url {
            report.time_file = time_file(ctx, url, addr).await;
        }
    }
    for protocol in &plan.secondary {
        let up = reachable(ctx, plan, *protocol, addr).await;
        report.protocols.insert(*protocol, up);
    }
    if !ctx.keep_connections {
        for (host, route) in &routes {
            if let Ok(addr) = route.addr {
                ctx.fetcher.close_idle_to(host, addr);
            }
        }
    }
    report.duration = clock.elapsed();
    report
}

/// Where the files of one host name go: its address in the sweep's family (or why there is
/// none) and its per-host cap.
struct Route {
    addr: Result<IpAddr, Failure>,
    limit: Arc<Semaphore>,
}

/// A route for every host name the plan's files are on. The mirror's main host was resolved
/// already (`host` at `addr`); a module tree may live on another name (AlmaLinux has
/// `almalinux-kitten.mirror.example` beside `almalinux.mirror.example`), which gets its own
/// lookup, so that its files are fetched from its own address.
async fn routes<'p>(
    ctx: &SweepContext,
    plan: &'p SweepPlan,
    host: &'p str,
    addr: IpAddr,
) -> HashMap<&'p str, Route> {
    let mut routes = HashMap::new();
    routes.insert(
        host,
        Route {
            addr: Ok(addr),
            limit: ctx.hosts.get(host),
        },
    );
    for other in plan.hosts() {
        if routes.contains_key(other) {
            continue;
        }
        let addr = match resolve(&ctx.fetcher, other, plan.family).await.0 {
            Ok(Some(addr)) => Ok(addr),
            Ok(None) => Err(dns_failure(format!(
                "{other}: no {} address",
                plan.family.as_str()
            ))),
            Err(failure) => Err(failure),
        };
        let limit = ctx.hosts.get(other);
        routes.insert(other, Route { addr, limit });
    }
    routes
}

/// The epoch AlmaLinux writes to `<mirror>/TIME` on every sync (an integer, maybe with a
/// fraction); `None` when absent or not a number.
async fn time_file(ctx: &SweepContext, url: &Url, addr: IpAddr) -> Option<i64> {
    let _global = ctx.global.clone().acquire_owned().await.ok();
    let mut request = FetchRequest::get(url, addr);
    request.limits = ctx.limits;
    request.limits.max_body_bytes = request.limits.max_body_bytes.min(1024);
    let outcome = ctx.fetcher.fetch(&request).await;
    let body = match outcome.result {
        Ok(r) if r.status == 200 => r.body,
        _ => return None,
    };
    let text = std::str::from_utf8(&body).ok()?.trim();
    let whole = text.split('.').next()?;
    whole.parse::<i64>().ok()
}

/// One reachability fetch over another protocol: any HTTP answer below 500 counts.
async fn reachable(ctx: &SweepContext, plan: &SweepPlan, protocol: Protocol, addr: IpAddr) -> bool {
    let Some(url) = plan.url(0, protocol) else {
        return false;
    };
    let _global = ctx.global.clone().acquire_owned().await.ok();
    let mut request = FetchRequest::head(&url, addr);
    request.limits = ctx.limits;
    let outcome = ctx.fetcher.fetch(&request).await;
    matches!(&outcome.result, Ok(r) if r.status < 500)
}

/// Fetches one repomd.xml (conditionally when `previous` allows) and checks its data files
/// when it is new. The key of the report is left for the caller to set.
async fn fetch_file(
    ctx: &SweepContext,
    previous: Option<&Validators>,
    url: &Url,
    addr: IpAddr,
) -> (FileReport, FetchStats) {
    let none = Validators::default();
    let previous = previous.unwrap_or(&none);
    let mut request = FetchRequest::get(url, addr);
    request.limits = ctx.limits;
    // A copy whose data files were not all found is fetched in full until they are: a 304
    // would say nothing about the data files that may have arrived since.
    if previous.complete() || !ctx.check_data_files {
        request.if_none_match = previous.etag();
        request.if_modified_since = previous.last_modified();
    }
    let outcome = ctx.fetcher.fetch(&request).await;
    let stats = FetchStats::of(&outcome);
    // Validators are kept only with a copy that was read; a failure forgets them, so that
    // the next request (after a restart too) cannot be answered "not modified".
    let mut report = FileReport {
        key: String::new(),
        result: FileResult::NotModified,
        etag: None,
        last_modified: None,
    };
    report.result = match outcome.result {
        Err(failure) => FileResult::Failed {
            reason: failure.reason,
            detail: failure.detail,
        },
        Ok(r) if r.status == 304 => {
            report.etag = previous.etag().map(str::to_string);
            report.last_modified = previous.last_modified().map(str::to_string);
            FileResult::NotModified
        }
        Ok(r) if r.status == 404 || r.status == 410 => FileResult::NotFound,
        Ok(r) if r.status != 200 => FileResult::Failed {
            reason: FailureReason::HttpStatus,
            detail: format!("HTTP {}", r.status),
        },
        Ok(r) => {
            report.etag = r.etag;
            report.last_modified = r.last_modified;
            match repomd::parse(&r.body) {
                Err(e) => FileResult::Failed {
                    reason: FailureReason::BadXml,
                    detail: e.to_string(),
                },
                Ok(parsed) => {
                    // Only the sha256 identifies a mirror's copy: the other digests of
                    // `repomd::fingerprint` are for the upstream's metalink.
                    let sha256 = repomd::sha256_hex(&r.body);
                    let size = u64::try_from(r.body.len()).unwrap_or(u64::MAX);
                    // The body was parsed and hashed: it is not kept while data files are
                    // checked.
                    drop(r.body);
                    let known = previous.same_sha256(&sha256);
                    let missing = if ctx.check_data_files && !(known && previous.complete()) {
                        Some(missing_data_files(ctx, &parsed, url, addr).await)
                    } else {
                        None
                    };
                    FileResult::Fetched {
                        sha256,
                        size,
                        timestamp: parsed.newest_timestamp(),
                        missing,
                    }
                }
            }
        }
    };
    (report, stats)
}

/// The data files of `parsed` that the mirror does not serve with their stated size.
/// A file that could not be checked (timeout, 5xx) is not called missing.
async fn missing_data_files(
    ctx: &SweepContext,
    parsed: &repomd::Repomd,
    repomd_url: &Url,
    addr: IpAddr,
) -> Vec<String> {
    // repomd.xml lives in <repo>/repodata/; hrefs are relative to <repo>/.
    let Ok(repo_dir) = repomd_url.join("../") else {
        return Vec::new();
    };
    let mut missing = Vec::new();
    for data in parsed.data_files_to_check() {
        let Ok(url) = repo_dir.join(&data.href) else {
            continue;
        };
        let mut request = FetchRequest::head(&url, addr);
        request.limits = ctx.limits;
        let outcome = ctx.fetcher.fetch(&request).await;
        match &outcome.result {
            Ok(r) if r.status == 404 || r.status == 410 => missing.push(data.href.clone()),
            Ok(r) if r.status == 200 => {
                if let (Some(want), Some(got)) = (data.size, r.content_length) {
                    if want != got {
                        missing.push(format!("{} (size {got}, expected {want})", data.href));
                    }
                }
            }
            _ => {}
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn validators_keep_what_they_were_given() {
        let both = Validators::new(
            Some("\"5f0c-1a2b\""),
            Some("Tue, 14 Nov 2023 22:13:20 GMT"),
            Some(SHA),
            true,
        );
        assert_eq!(both.etag(), Some("\"5f0c-1a2b\""));
        assert_eq!(both.last_modified(), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
        assert!(both.same_sha256(SHA) && both.complete());
        assert!(!both.same_sha256(&SHA.replace('9', "8")));
        let date_only = Validators::new(None, Some("Tue, 14 Nov 2023 22:13:20 GMT"), None, false);
        assert_eq!(date_only.etag(), None);
        assert_eq!(
            date_only.last_modified(),
            Some("Tue, 14 Nov 2023 22:13:20 GMT")
        );
        assert!(!date_only.same_sha256(SHA) && !date_only.complete());
        let etag_only = Validators::new(Some("\"\""), None, Some("not hex"), false);
        assert_eq!(
            (etag_only.etag(), etag_only.last_modified()),
            (Some("\"\""), None)
        );
        assert!(!etag_only.same_sha256("not hex"));
        let previous = Previous {
            etag: Some("W/\"x\"".into()),
            last_modified: None,
            sha256: Some(SHA.into()),
            complete: true,
        };
        let v = Validators::from(&previous);
        assert_eq!((v.etag(), v.last_modified()), (Some("W/\"x\""), None));
        assert!(v.same_sha256(SHA) && v.complete());
        assert_eq!(Validators::default().etag(), None);
        assert_eq!(Validators::default().last_modified(), None);
    }

    #[test]
    fn sweep_slots_keep_the_global_cap_busy() {
        assert_eq!(sweep_slots(64, 4), 16);
        assert_eq!(sweep_slots(2, 4), 1);
        assert_eq!(sweep_slots(10, 0), 10);
    }
}
