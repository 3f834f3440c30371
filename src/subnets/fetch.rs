//! Fetching one published list with reqwest, the client for auxiliary fetches. (The probe
//! engine keeps its own hyper-level client because it times each phase and pins the IP
//! family; a list only has to arrive, within bounds.)
//!
//! The client trusts what the probes trust (system roots plus `probe.ca_files`, rustls with
//! ring, handed to reqwest preconfigured) and resolves names through the probes' resolver
//! (`probe.dns_servers`). Bounds: [`CONNECT_TIMEOUT`], [`TOTAL_TIMEOUT`], [`MAX_BYTES`] (read
//! chunk by chunk and given up past it), [`MAX_REDIRECTS`]; no proxy from the environment, no
//! decompression.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::config::Config;
use crate::probe::tls::{client_config, TrustConfig};
use crate::probe::{DnsAnswer, DnsConfig, DnsResolver};

/// Bound on connecting (TCP and TLS) to the server of a list.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one whole fetch, redirects and body included.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest list accepted: 1 MiB is tens of thousands of CIDRs, far more than any mirror's.
pub const MAX_BYTES: usize = 1 << 20;
/// Redirects followed.
pub const MAX_REDIRECTS: usize = 5;

/// A client for the lists, built from the configuration in force.
pub fn client(config: &Config) -> Result<reqwest::Client, String> {
    let p = &config.probe;
    let mut extra_ca_pem = Vec::new();
    for path in &p.ca_files {
        let pem = crate::files::read_to_string(path)
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        extra_ca_pem.push(pem);
    }
    let tls = client_config(&TrustConfig {
        system_roots: true,
        extra_ca_pem,
    })
    .map_err(|e| e.to_string())?;
    let dns = DnsResolver::new(&DnsConfig {
        name_servers: p.dns_servers.clone(),
        timeout: p.connect_timeout,
        ..DnsConfig::default()
    })
    .map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .dns_resolver(Arc::new(ProbeDns(dns)))
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(p.user_agent.clone())
        .build()
        .map_err(|e| e.to_string())
}

/// The probes' resolver, for reqwest: IPv4 addresses first, then IPv6.
struct ProbeDns(DnsResolver);

impl Resolve for ProbeDns {
    fn resolve(&self, name: Name) -> Resolving {
        let dns = self.0.clone();
        Box::pin(async move {
            let found = dns.resolve(name.as_str()).await;
            let mut addrs: Vec<SocketAddr> = Vec::new();
            let mut failures = Vec::new();
            for lookup in [&found.v4, &found.v6] {
                match &lookup.answer {
                    DnsAnswer::Ok(ips) => {
                        addrs.extend(ips.iter().map(|ip| SocketAddr::new(*ip, 0)))
                    }
                    other => failures.push(format!("{other:?}")),
                }
            }
            if addrs.is_empty() {
                let message = format!("{}: no address ({})", name.as_str(), failures.join(", "));
                return Err(message.into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Why a fetch gave no list.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Request(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("larger than {MAX_BYTES} bytes")]
    TooLarge,
}

/// The body at `url`, within the bounds of the module docs.
pub async fn fetch(client: &reqwest::Client, url: &Url) -> Result<Vec<u8>, FetchError> {
    let request = |e: reqwest::Error| FetchError::Request(error_chain(&e));
    let mut response = client.get(url.as_str()).send().await.map_err(request)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request)? {
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error with its causes, `: `-separated (reqwest's own text hides the useful part).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
