//! One sweep: every repomd.xml a mirror should carry, fetched over one IP family.
//!
//! The primary protocol (the first of `probe.protocols` the mirror has) fetches every file
//! with a conditional GET; each other protocol gets one reachability fetch. A repomd.xml not
//! seen before has the data files it references checked with HEAD (partial sync →
//! incomplete). Connections are kept within the sweep, so 136 files cost one handshake.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use url::Url;

use super::{
    DnsAnswer, Failure, FailureReason, FetchOutcome, FetchRequest, Fetcher, Limits, Phase,
};
use crate::config::{IpFamily, Protocol};
use crate::repomd;

/// What a sweep needs besides its plan: shared by every sweep of the engine.
#[derive(Clone)]
pub struct SweepContext {
    pub fetcher: Fetcher,
    /// The global cap on requests in flight.
    pub global: Arc<Semaphore>,
    pub limits: Limits,
    /// Requests in flight to one host, across every sweep and the upstream poll.
    pub hosts: Arc<HostLimits>,
    pub check_data_files: bool,
    /// Also fetch the `TIME` file (an epoch) at the mirror's root.
    pub time_file: bool,
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

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// The target directory, `9.8/BaseOS/x86_64/os/`: the key of everything about it.
    pub key: String,
    /// Its repomd.xml per protocol the mirror has.
    pub urls: BTreeMap<Protocol, Url>,
    pub previous: Option<Previous>,
}

/// One sweep to run.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub mirror: String,
    pub family: IpFamily,
    pub primary: Protocol,
    pub secondary: Vec<Protocol>,
    pub files: Vec<PlannedFile>,
    /// `<base>/TIME` over the primary protocol.
    pub time_url: Option<Url>,
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

/// Run one sweep. Never fails as a call: every problem is in the report.
pub async fn sweep(ctx: &SweepContext, plan: &SweepPlan, started: i64) -> SweepReport {
    let clock = Instant::now();
    let mut report = SweepReport::new(plan, started);
    let Some(host) = plan
        .files
        .first()
        .and_then(|f| f.urls.get(&plan.primary))
        .and_then(|u| u.host_str())
        .map(str::to_string)
    else {
        report.duration = clock.elapsed();
        return report;
    };
    let (resolved, resolve_time) = resolve(&ctx.fetcher, &host, plan.family).await;
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
    let per_host = ctx.hosts.get(&host);
    let mut tasks = tokio::task::JoinSet::new();
    let mut results: Vec<(usize, FileReport, FetchOutcome)> = Vec::new();
    // Take the permits before spawning, so that at most `concurrency` fetch
    // futures (about 7.5 KB each) exist at a time instead of one per file of every sweep.
    for (index, file) in plan.files.iter().enumerate() {
        let Some(url) = file.urls.get(&plan.primary).cloned() else {
            continue;
        };
        let local = per_host.clone().acquire_owned().await.ok();
        let global = ctx.global.clone().acquire_owned().await.ok();
        let (ctx, file) = (ctx.clone(), file.clone());
        tasks.spawn(async move {
            let _permits = (local, global);
            let (report, mut outcome) = fetch_file(&ctx, &file, &url, addr).await;
            // The body was parsed and hashed: do not keep it until the sweep ends.
            if let Ok(response) = &mut outcome.result {
                response.body = Vec::new();
            }
            (index, report, outcome)
        });
        while let Some(joined) = tasks.try_join_next() {
            if let Ok(result) = joined {
                results.push(result);
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|(index, ..)| *index);
    // The phases shown are those of a fetch that opened its own connection (connect and TLS
    // included), as a client arriving fresh would see them.
    let cold = results
        .iter()
        .map(|(_, _, o)| o)
        .find(|o| !o.reused)
        .or_else(|| results.first().map(|(_, _, o)| o));
    report.phases = cold.map(|o| {
        let mut phases = o.timings;
        phases.resolve += resolve_time;
        phases
    });
    report.tls_not_after = results
        .iter()
        .find_map(|(_, _, o)| o.tls.map(|t| t.not_after_unix));
    let mut latencies: Vec<Duration> = results
        .iter()
        .filter(|(_, _, o)| o.result.is_ok())
        .map(|(_, _, o)| o.timings.total)
        .collect();
    report.files = results.into_iter().map(|(_, file, _)| file).collect();
    latencies.sort();
    report.latency = latencies.get(latencies.len() / 2).copied();
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
    report.duration = clock.elapsed();
    report
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
    let Some(url) = plan.files.first().and_then(|f| f.urls.get(&protocol)) else {
        return false;
    };
    let _global = ctx.global.clone().acquire_owned().await.ok();
    let mut request = FetchRequest::head(url, addr);
    request.limits = ctx.limits;
    let outcome = ctx.fetcher.fetch(&request).await;
    matches!(&outcome.result, Ok(r) if r.status < 500)
}

async fn fetch_file(
    ctx: &SweepContext,
    file: &PlannedFile,
    url: &Url,
    addr: IpAddr,
) -> (FileReport, FetchOutcome) {
    let previous = file.previous.clone().unwrap_or_default();
    let mut request = FetchRequest::get(url, addr);
    request.limits = ctx.limits;
    // A copy whose data files were not all found is fetched in full until they are: a 304
    // would say nothing about the data files that may have arrived since.
    if previous.complete || !ctx.check_data_files {
        request.if_none_match = previous.etag.as_deref();
        request.if_modified_since = previous.last_modified.as_deref();
    }
    let outcome = ctx.fetcher.fetch(&request).await;
    // Validators are kept only with a copy that was read; a failure forgets them, so that
    // the next request (after a restart too) cannot be answered "not modified".
    let mut report = FileReport {
        key: file.key.clone(),
        result: FileResult::NotModified,
        etag: None,
        last_modified: None,
    };
    report.result = match &outcome.result {
        Err(failure) => FileResult::Failed {
            reason: failure.reason,
            detail: failure.detail.clone(),
        },
        Ok(r) if r.status == 304 => {
            report.etag = previous.etag.clone();
            report.last_modified = previous.last_modified.clone();
            FileResult::NotModified
        }
        Ok(r) if r.status == 404 || r.status == 410 => FileResult::NotFound,
        Ok(r) if r.status != 200 => FileResult::Failed {
            reason: FailureReason::HttpStatus,
            detail: format!("HTTP {}", r.status),
        },
        Ok(r) => {
            report.etag = r.etag.clone();
            report.last_modified = r.last_modified.clone();
            match repomd::parse(&r.body) {
                Err(e) => FileResult::Failed {
                    reason: FailureReason::BadXml,
                    detail: e.to_string(),
                },
                Ok(parsed) => {
                    let print = repomd::fingerprint(&r.body);
                    let known = previous.sha256.as_deref() == Some(print.sha256.as_str());
                    let missing = if ctx.check_data_files && !(known && previous.complete) {
                        Some(missing_data_files(ctx, &parsed, url, addr).await)
                    } else {
                        None
                    };
                    FileResult::Fetched {
                        sha256: print.sha256,
                        size: print.size,
                        timestamp: parsed.newest_timestamp(),
                        missing,
                    }
                }
            }
        }
    };
    (report, outcome)
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
