//! One sweep: every repomd.xml a mirror should carry, fetched over one IP family.
//!
//! The primary protocol (the first of `probe.protocols` the mirror has) fetches every file
//! with a conditional GET; each other protocol gets one reachability fetch. A repomd.xml not
//! seen before has the data files it references checked with HEAD (partial sync →
//! incomplete). Connections are kept within the sweep, so 136 files cost one handshake. A
//! sweep holds one of `ctx.sweeps` slots from start to end, so that only about
//! `concurrency / per_host` sweeps have a working set (fetch tasks, results) at a time.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use tracing::Instrument;
use url::Url;

use super::context::SweepContext;
use super::due::Due;
use super::plan::SweepPlan;
use super::report::{FileReport, FileResult, SweepReport};
use super::resolve::{lookup_permit, resolve, routes, Route};
use super::validators::Validators;
use super::{Failure, FailureReason, FetchOutcome, FetchRequest, Phase, Timings, TlsInfo};
use crate::config::Protocol;
use crate::repomd;

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
    /// The final HTTP status, for the log.
    status: Option<u16>,
}

impl FetchStats {
    fn of(outcome: &FetchOutcome) -> FetchStats {
        FetchStats {
            timings: outcome.timings,
            tls: outcome.tls,
            reused: outcome.reused,
            ok: outcome.result.is_ok(),
            status: outcome.result.as_ref().ok().map(|r| r.status),
        }
    }
}

/// Run one sweep of `plan`; `previous[i]` is what the last sweep saw of file `i` (see
/// [`SweepPlan::keys`]), and `due[i]` what is done with file `i` ([`super::due`]; a file
/// past the end of `due` is fetched). When no due file answers, the files not due are
/// fetched too, in the same sweep: a sample alone never makes a sweep fail. The report has
/// one file per planned file, in plan order. Never fails as a call: every problem is in the
/// report.
pub async fn sweep(
    ctx: &SweepContext,
    plan: &SweepPlan,
    previous: &[Option<Validators>],
    due: &[Due],
    started: i64,
) -> SweepReport {
    let clock = Instant::now();
    // The mirror's name is looked up before the sweep takes a slot, under its own cap: a
    // resolver that never answers keeps lookups waiting, not the slots of mirrors that
    // resolve. Every (mirror, family) task holds this future between sweeps, so it stays
    // small: the permit is awaited here, and the lookup's own state (large) is boxed only
    // while a lookup is under way; what waits for the slot is its result.
    let looked_up = match plan.host() {
        Some(host) => {
            let _permit = lookup_permit(ctx, host).await;
            Some(Box::pin(resolve(&ctx.fetcher, host, plan.family)).await)
        }
        None => None,
    };
    // Whole sweeps wait here, before their working set is allocated. The sweep's own state
    // (several KB: the fetches of the TIME file and of other protocols) is boxed only then,
    // so that it is not part of every waiting (mirror, family) task.
    let _slot = ctx.sweeps.acquire().await.ok();
    // The span too is made only once the sweep runs.
    let span = tracing::info_span!("sweep", mirror = %plan.mirror, family = plan.family.as_str());
    let sweep = run_sweep(ctx, plan, previous, due, started, clock, looked_up);
    Box::pin(sweep.instrument(span)).await
}

/// After this many timeouts or connection failures in a row to one host, a sweep skips that
/// host's remaining files: a dead or drip-feeding host then costs a sweep about two
/// timeouts, not one per file.
pub(super) const GIVE_UP_AFTER: u32 = 3;

async fn run_sweep(
    ctx: &SweepContext,
    plan: &SweepPlan,
    previous: &[Option<Validators>],
    due: &[Due],
    started: i64,
    clock: Instant,
    looked_up: Option<(Result<Option<IpAddr>, Failure>, Duration)>,
) -> SweepReport {
    let mut report = SweepReport::new(plan, started);
    let (Some(host), Some((resolved, resolve_time))) = (plan.host(), looked_up) else {
        report.duration = clock.elapsed();
        return report;
    };
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
    // Other host names (a module tree elsewhere) are looked up here, rarely.
    let routes = routes(ctx, plan, host, addr).await;
    let deadline = Instant::now() + ctx.budget;
    let give_up = |route: &Route| {
        route.failures.load(Ordering::Relaxed) >= GIVE_UP_AFTER || Instant::now() >= deadline
    };
    // `per_host` workers inside this task take the files of a pass in order, each waiting
    // for its permits before it starts a file: no task and no copy of the validators per
    // file, and no more fetch state than requests the sweep may have in flight. The first
    // pass takes the due files; the second, only when none of those answered, the others
    // (fetched, not verified). A pass ends at `end`.
    let what = |i: usize| due.get(i).copied().unwrap_or(Due::Fetch);
    let is_due = |i: usize| what(i) != Due::No;
    let (mut order, rest): (Vec<usize>, Vec<usize>) = (0..plan.len()).partition(|&i| is_due(i));
    let due_count = order.len();
    order.extend(rest);
    let (next, end) = (AtomicUsize::new(0), AtomicUsize::new(due_count));
    let worker = || async {
        let mut done = Vec::new();
        loop {
            let at = next.fetch_add(1, Ordering::Relaxed);
            let Some(&index) = order.get(at).filter(|_| at < end.load(Ordering::Relaxed)) else {
                return done;
            };
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
                    let file = FileReport::failed(key, result);
                    log_file(&file, None);
                    done.push((index, file, None));
                    continue;
                }
            };
            if give_up(route) {
                done.push((index, FileReport::skipped(key), None));
                continue;
            }
            let _local = route.limit.acquire().await.ok();
            let _global = ctx.global.acquire().await.ok();
            // Permits can take a while: the host may have failed meanwhile.
            if give_up(route) {
                done.push((index, FileReport::skipped(key), None));
                continue;
            }
            let previous = previous.get(index).and_then(Option::as_ref);
            let verify = what(index) == Due::Verify;
            let (mut file, stats) = fetch_file(ctx, previous, verify, &key, &url, addr).await;
            match &file.result {
                FileResult::Failed {
                    reason: FailureReason::Timeout | FailureReason::Connect,
                    ..
                } => route.failures.fetch_add(1, Ordering::Relaxed),
                _ => route.failures.swap(0, Ordering::Relaxed),
            };
            file.key = key;
            log_file(&file, Some(&stats));
            done.push((index, file, Some(stats)));
        }
    };
    let mut results: Vec<Option<(FileReport, Option<FetchStats>)>> = Vec::new();
    results.resize_with(plan.len(), || None);
    for (from, to) in [(0, due_count), (due_count, plan.len())] {
        // The files not due are checked only when none of the due ones answered.
        let answered = results.iter().flatten().any(|(f, _)| f.result.answered());
        if from >= to || answered {
            continue;
        }
        next.store(from, Ordering::Relaxed);
        end.store(to, Ordering::Relaxed);
        let workers = ctx.hosts.per_host().get().min(to - from);
        for (index, file, stats) in join_all((0..workers).map(|_| worker()).collect())
            .await
            .into_iter()
            .flatten()
        {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some((file, stats));
            }
        }
    }
    // The phases shown are those of a fetch that opened its own connection (connect and TLS
    // included), as a client arriving fresh would see them.
    let stats = || results.iter().flatten().filter_map(|(_, s)| s.as_ref());
    let cold = stats().find(|s| !s.reused).or_else(|| stats().next());
    report.phases = cold.map(|s| {
        let mut phases = s.timings;
        phases.resolve += report.resolve;
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
            None if !is_due(index) => {
                FileReport::not_due(plan.key(index).unwrap_or_default().to_string())
            }
            None => FileReport::failed(
                plan.key(index).unwrap_or_default().to_string(),
                FileResult::Failed {
                    reason: FailureReason::Protocol,
                    detail: "the fetch did not complete".into(),
                },
            ),
        })
        .collect();
    let skipped = report
        .files
        .iter()
        .filter(|f| f.result == FileResult::Skipped);
    let skipped = skipped.count();
    if skipped > 0 {
        tracing::info!(
            skipped,
            "files skipped: a host kept failing, or the sweep ran out of time"
        );
    }
    let answered = report.files.iter().any(|f| f.result.answered());
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

/// One debug event per file, inside the sweep's span. The fields are only evaluated when
/// the event is enabled: nothing is formatted or allocated otherwise.
fn log_file(file: &FileReport, stats: Option<&FetchStats>) {
    let (reason, detail) = match &file.result {
        FileResult::Failed { reason, detail } => (Some(reason.as_str()), Some(detail.as_str())),
        _ => (None, None),
    };
    tracing::debug!(
        key = %file.key,
        result = file.result.kind(),
        status = stats.and_then(|s| s.status),
        reason,
        detail,
        duration = stats.map(|s| tracing::field::debug(s.timings.total)),
        "file probed"
    );
}

/// Fetches one repomd.xml (conditionally when `previous` allows) and checks its data files
/// when it is new and the upstream published it; when `verify`, a HEAD first, which may
/// find it unchanged ([`verify`]). The key of the report is left for the caller to set.
async fn fetch_file(
    ctx: &SweepContext,
    previous: Option<&Validators>,
    verify: bool,
    key: &str,
    url: &Url,
    addr: IpAddr,
) -> (FileReport, FetchStats) {
    if let Some(previous) = previous.filter(|_| verify) {
        if let Some(found) = self::verify(ctx, previous, url, addr).await {
            return found;
        }
    }
    let mut request = FetchRequest::get(url, addr);
    request.limits = ctx.limits;
    // A copy whose data files were not all found is fetched in full until they are: a 304
    // would say nothing about the data files that may have arrived since. That is, unless
    // they were not looked for, the upstream having never published that content.
    let unchecked = |p: &Validators| {
        p.sha256()
            .is_some_and(|sha256| !ctx.upstream.worth_checking(key, sha256))
    };
    let conditional = |p: &&Validators| p.complete() || !ctx.check_data_files || unchecked(p);
    if let Some(previous) = previous.filter(conditional) {
        request.if_none_match = previous.etag();
        request.if_modified_since = previous.last_modified();
    }
    let outcome = ctx.fetcher.fetch(&request).await;
    let stats = FetchStats::of(&outcome);
    // The response's validators, for a copy read in full.
    let (mut etag, mut last_modified) = (None, None);
    let result = match outcome.result {
        Err(failure) => FileResult::Failed {
            reason: failure.reason,
            detail: failure.detail,
        },
        Ok(r) if r.status == 304 => FileResult::NotModified,
        Ok(r) if r.status == 404 || r.status == 410 => FileResult::NotFound,
        Ok(r) if r.status != 200 => FileResult::Failed {
            reason: FailureReason::HttpStatus,
            detail: format!("HTTP {}", r.status),
        },
        Ok(r) => {
            (etag, last_modified) = (r.etag, r.last_modified);
            match repomd::parse(&r.body) {
                Err(e) => FileResult::Failed {
                    reason: FailureReason::BadXml,
                    detail: e.to_string(),
                },
                Ok(parsed) => {
                    // Only the sha256 identifies a mirror's copy: the other digests of
                    // `repomd::fingerprint` are for the upstream's metalink.
                    let digest = repomd::sha256(&r.body);
                    let size = u64::try_from(r.body.len()).unwrap_or(u64::MAX);
                    // The body was parsed and hashed: it is not kept while data files are
                    // checked.
                    drop(r.body);
                    let known =
                        previous.is_some_and(|p| p.complete() && p.sha256() == Some(&digest));
                    let missing = if ctx.check_data_files
                        && !known
                        && ctx.upstream.worth_checking(key, &digest)
                    {
                        Some(missing_data_files(ctx, &parsed, url, addr).await)
                    } else {
                        None
                    };
                    FileResult::Fetched {
                        sha256: hex::encode(digest),
                        size,
                        timestamp: parsed.newest_timestamp(),
                        revision: parsed.numeric_revision(),
                        missing,
                    }
                }
            }
        }
    };
    let next = Validators::next(
        previous,
        result.fetched(etag.as_deref(), last_modified.as_deref()),
    );
    let report = FileReport {
        key: String::new(),
        result,
        next,
    };
    (report, stats)
}

/// A HEAD of a settled file, without conditional headers (nor `Accept-Encoding`: there is
/// no body to encode), its ETag compared with the one kept — or, when either side has
/// none, its Last-Modified. `None` when the answer does not settle it: the validators
/// differ or are missing, or the server answered anything but 200, 404 or 410 (a server
/// that refuses HEAD); the file is then fetched as usual. A failure to connect or a
/// timeout is the file's result, as a GET's would be.
async fn verify(
    ctx: &SweepContext,
    previous: &Validators,
    url: &Url,
    addr: IpAddr,
) -> Option<(FileReport, FetchStats)> {
    let mut request = FetchRequest::head(url, addr);
    request.limits = ctx.limits;
    request.identity = false;
    let outcome = ctx.fetcher.fetch(&request).await;
    let stats = FetchStats::of(&outcome);
    let result = match outcome.result {
        Err(failure) => match failure.reason {
            FailureReason::Connect | FailureReason::Timeout | FailureReason::Tls => {
                FileResult::Failed {
                    reason: failure.reason,
                    detail: failure.detail,
                }
            }
            _ => return None,
        },
        Ok(r) if r.status == 404 || r.status == 410 => FileResult::NotFound,
        Ok(r) if r.status == 200 => {
            let same = match (previous.etag(), r.etag.as_deref()) {
                (Some(kept), Some(now)) => kept == now,
                _ => matches!(
                    (previous.last_modified(), r.last_modified.as_deref()),
                    (Some(kept), Some(now)) if kept == now
                ),
            };
            if !same {
                return None;
            }
            FileResult::NotModified
        }
        Ok(_) => return None,
    };
    let next = Validators::next(Some(previous), result.fetched(None, None));
    let report = FileReport {
        key: String::new(),
        result,
        next,
    };
    Some((report, stats))
}

/// At most this many data files of one copy are checked. createrepo_c writes about a
/// dozen; a mirror's own repomd.xml could list a thousand.
const MAX_DATA_FILES: usize = 64;

/// The data files of `parsed` that the mirror does not serve with their stated size.
/// A file that could not be checked (timeout, 5xx) is not called missing, nor is one past
/// [`MAX_DATA_FILES`] or left when the check's deadline, one probe timeout for all of a
/// copy's data files together, has passed.
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
    let deadline = Instant::now() + ctx.limits.total_timeout;
    let mut missing = Vec::new();
    for data in parsed.data_files_to_check().take(MAX_DATA_FILES) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            tracing::debug!(%repomd_url, "data-file check cut off by its deadline");
            break;
        }
        let Ok(url) = repo_dir.join(&data.href) else {
            continue;
        };
        let mut request = FetchRequest::head(&url, addr);
        request.limits = ctx.limits;
        request.limits.total_timeout = left;
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
