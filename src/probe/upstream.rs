//! Polling the upstream: the reference repomd.xml of every (version, repo, arch), with
//! conditional GET, trying each configured upstream base URL in turn.

use std::collections::HashMap;
use std::net::IpAddr;

use tracing::Instrument;
use url::Url;

use super::resolve::resolve;
use super::{FailureReason, FetchRequest, Fetched, Next, SweepContext, Validators};
use crate::config::IpFamily;
use crate::freshness::Observation;
use crate::repomd;

/// One upstream repomd.xml: its key (`9.8/BaseOS/x86_64/os/`) and its URL per upstream base.
#[derive(Debug, Clone)]
pub struct UpstreamFile {
    pub key: String,
    pub urls: Vec<Url>,
    pub previous: Option<Validators>,
}

#[derive(Debug, Clone)]
pub enum UpstreamResult {
    Fetched(Observation),
    NotModified,
    Failed {
        reason: FailureReason,
        detail: String,
    },
}

impl UpstreamResult {
    /// A short name for logs: `fetched`, `not_modified` or `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamResult::Fetched(_) => "fetched",
            UpstreamResult::NotModified => "not_modified",
            UpstreamResult::Failed { .. } => "failed",
        }
    }

    /// What this result does to the version the records keep: a failed poll leaves it
    /// standing (see [`Validators::next`]).
    fn fetched<'a>(&'a self, etag: Option<&'a str>, last_modified: Option<&'a str>) -> Fetched<'a> {
        match self {
            // The upstream is the reference: its data files are not checked.
            UpstreamResult::Fetched(o) => Fetched::Read {
                etag,
                last_modified,
                sha256: &o.sha256,
                missing: Some(&[]),
            },
            UpstreamResult::NotModified | UpstreamResult::Failed { .. } => Fetched::Kept,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UpstreamReport {
    pub key: String,
    pub at: i64,
    pub result: UpstreamResult,
    /// What became of the file's validators ([`Validators::next`]).
    pub next: Next,
}

/// Poll every file once; hosts are resolved once per poll (IPv4 first, then IPv6). One
/// tracing span per poll, with a debug event per file.
pub async fn poll(ctx: &SweepContext, files: &[UpstreamFile], now: i64) -> Vec<UpstreamReport> {
    let span = tracing::info_span!("upstream_poll", files = files.len());
    poll_files(ctx, files, now).instrument(span).await
}

async fn poll_files(ctx: &SweepContext, files: &[UpstreamFile], now: i64) -> Vec<UpstreamReport> {
    let mut hosts: Vec<String> = files
        .iter()
        .flat_map(|f| &f.urls)
        .filter_map(|u| u.host_str().map(str::to_string))
        .collect();
    hosts.sort();
    hosts.dedup();
    let mut lookups = tokio::task::JoinSet::new();
    for host in hosts {
        let fetcher = ctx.fetcher.clone();
        lookups.spawn(
            async move {
                let mut found = Err(format!("{host}: no address"));
                for family in [IpFamily::Ipv4, IpFamily::Ipv6] {
                    match resolve(&fetcher, &host, family).await.0 {
                        Ok(Some(addr)) => {
                            found = Ok(addr);
                            break;
                        }
                        Ok(None) => {}
                        Err(failure) => found = Err(failure.detail),
                    }
                }
                (host, found)
            }
            .in_current_span(),
        );
    }
    let mut addrs: HashMap<String, Result<IpAddr, String>> = HashMap::new();
    while let Some(Ok((host, found))) = lookups.join_next().await {
        addrs.insert(host, found);
    }
    let addrs = std::sync::Arc::new(addrs);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, file) in files.iter().enumerate() {
        let host = file
            .urls
            .first()
            .and_then(|u| u.host_str())
            .unwrap_or_default();
        let per_host = ctx.hosts.get(host);
        let (ctx, file, addrs) = (ctx.clone(), file.clone(), addrs.clone());
        tasks.spawn(
            async move {
                let _local = per_host.acquire_owned().await.ok();
                let _global = ctx.global.clone().acquire_owned().await.ok();
                (index, poll_one(&ctx, &file, &addrs, now).await)
            }
            .in_current_span(),
        );
    }
    let mut reports = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            reports.push(result);
        }
    }
    reports.sort_by_key(|(index, _)| *index);
    reports.into_iter().map(|(_, report)| report).collect()
}

async fn poll_one(
    ctx: &SweepContext,
    file: &UpstreamFile,
    addrs: &HashMap<String, Result<IpAddr, String>>,
    now: i64,
) -> UpstreamReport {
    let previous = file.previous.as_ref();
    let mut result = UpstreamResult::Failed {
        reason: FailureReason::Dns,
        detail: "no upstream URL".into(),
    };
    // The response's validators, for a file read in full.
    let (mut etag, mut last_modified) = (None, None);
    // The last fetch's status and time, for the log.
    let (mut status, mut duration) = (None, None);
    // The first base that answers wins; a failure is reported only when all fail.
    for url in &file.urls {
        let host = url.host_str().unwrap_or_default();
        let addr = match addrs.get(host) {
            Some(Ok(addr)) => *addr,
            Some(Err(detail)) => {
                result = UpstreamResult::Failed {
                    reason: FailureReason::Dns,
                    detail: detail.clone(),
                };
                continue;
            }
            None => continue,
        };
        let mut request = FetchRequest::get(url, addr);
        request.limits = ctx.limits;
        request.if_none_match = previous.and_then(Validators::etag);
        request.if_modified_since = previous.and_then(Validators::last_modified);
        let outcome = ctx.fetcher.fetch(&request).await;
        status = outcome.result.as_ref().ok().map(|r| r.status);
        duration = Some(outcome.timings.total);
        result = match outcome.result {
            Err(failure) => UpstreamResult::Failed {
                reason: failure.reason,
                detail: failure.detail,
            },
            Ok(r) if r.status == 304 => UpstreamResult::NotModified,
            Ok(r) if r.status != 200 => UpstreamResult::Failed {
                reason: FailureReason::HttpStatus,
                detail: format!("HTTP {}", r.status),
            },
            Ok(r) => match repomd::parse(&r.body) {
                Err(e) => UpstreamResult::Failed {
                    reason: FailureReason::BadXml,
                    detail: e.to_string(),
                },
                Ok(parsed) => {
                    (etag, last_modified) = (r.etag, r.last_modified);
                    UpstreamResult::Fetched(Observation::new(repomd::fingerprint(&r.body), &parsed))
                }
            },
        };
        if !matches!(result, UpstreamResult::Failed { .. }) {
            break;
        }
    }
    let next = Validators::next(
        previous,
        result.fetched(etag.as_deref(), last_modified.as_deref()),
    );
    let (reason, detail) = match &result {
        UpstreamResult::Failed { reason, detail } => (Some(reason.as_str()), Some(detail.as_str())),
        _ => (None, None),
    };
    tracing::debug!(
        key = %file.key,
        result = result.kind(),
        status,
        reason,
        detail,
        duration = duration.map(tracing::field::debug),
        "upstream file polled"
    );
    UpstreamReport {
        key: file.key.clone(),
        at: now,
        result,
        next,
    }
}
