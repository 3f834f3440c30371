//! DNS through hickory-resolver: A and AAAA looked up separately, each timed, never
//! answered from a cache (the resolver's cache size is 0), so that a timing is a real
//! round trip. An IP-literal host skips DNS altogether.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

/// IP family of a probe target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Stable label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    fn record_type(self) -> RecordType {
        match self {
            Family::V4 => RecordType::A,
            Family::V6 => RecordType::AAAA,
        }
    }
}

/// How to reach DNS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsConfig {
    /// Name servers (UDP, then TCP) to ask; empty = the system's (`/etc/resolv.conf`).
    pub name_servers: Vec<SocketAddr>,
    /// Bound on one query to one server.
    pub timeout: Duration,
    /// Tries per query.
    pub attempts: NonZeroUsize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            name_servers: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// The resolver could not be set up (e.g. an unreadable `/etc/resolv.conf`).
#[derive(Debug, thiserror::Error)]
#[error("DNS resolver setup: {0}")]
pub struct DnsSetupError(String);

/// What one lookup (one family) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsAnswer {
    /// At least one address, in the order received.
    Ok(Vec<IpAddr>),
    /// The name exists but has no record of this family.
    NoRecords,
    /// The name does not exist.
    NxDomain,
    /// No answer: timeout, refused, SERVFAIL, … (text for logs, not a label).
    Failed(String),
}

impl DnsAnswer {
    /// Stable label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            DnsAnswer::Ok(_) => "ok",
            DnsAnswer::NoRecords => "no_records",
            DnsAnswer::NxDomain => "nxdomain",
            DnsAnswer::Failed(_) => "failed",
        }
    }

    /// The addresses found (none unless `Ok`).
    pub fn addrs(&self) -> &[IpAddr] {
        match self {
            DnsAnswer::Ok(addrs) => addrs,
            _ => &[],
        }
    }
}

/// One family's lookup and how long it took (zero for an IP literal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyLookup {
    pub answer: DnsAnswer,
    pub elapsed: Duration,
}

/// Both families of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub v4: FamilyLookup,
    pub v6: FamilyLookup,
    /// The host was an IP literal: its own family is `Ok([ip])`, the other
    /// `NoRecords`, both with zero time.
    pub literal: bool,
}

impl Resolution {
    pub fn family(&self, family: Family) -> &FamilyLookup {
        match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }
}

/// A resolver without a cache. Cheap to clone (shared connections).
#[derive(Clone)]
pub struct DnsResolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsResolver").finish_non_exhaustive()
    }
}

impl DnsResolver {
    pub fn new(config: &DnsConfig) -> Result<DnsResolver, DnsSetupError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if config.name_servers.is_empty() {
            TokioResolver::builder(provider).map_err(|e| DnsSetupError(e.to_string()))?
        } else {
            let servers = config.name_servers.iter().map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            });
            let resolver_config = ResolverConfig::from_name_servers(servers.collect());
            TokioResolver::builder_with_config(resolver_config, provider)
        };
        let options: &mut ResolverOpts = builder.options_mut();
        // Timings must be real round trips: nothing is ever answered from a cache.
        options.cache_size = 0;
        // The prober measures DNS, not /etc/hosts.
        options.use_hosts_file = ResolveHosts::Never;
        options.timeout = config.timeout;
        options.attempts = config.attempts.get();
        let inner = builder.build().map_err(|e| DnsSetupError(e.to_string()))?;
        Ok(DnsResolver { inner })
    }

    /// Looks up A and AAAA of `host` separately (concurrently), each timed.
    /// `host` is a name or an IP literal (`127.3.4.5`, `::1`, `[::1]`).
    pub async fn resolve(&self, host: &str) -> Resolution {
        if let Some(ip) = ip_literal(host) {
            let (own, other) = (
                FamilyLookup {
                    answer: DnsAnswer::Ok(vec![ip]),
                    elapsed: Duration::ZERO,
                },
                FamilyLookup {
                    answer: DnsAnswer::NoRecords,
                    elapsed: Duration::ZERO,
                },
            );
            let (v4, v6) = match ip {
                IpAddr::V4(_) => (own, other),
                IpAddr::V6(_) => (other, own),
            };
            return Resolution {
                v4,
                v6,
                literal: true,
            };
        }
        let (v4, v6) = tokio::join!(self.lookup(host, Family::V4), self.lookup(host, Family::V6));
        Resolution {
            v4,
            v6,
            literal: false,
        }
    }

    /// Looks up one family of `host` (an IP literal answers itself, in zero time).
    pub async fn lookup(&self, host: &str, family: Family) -> FamilyLookup {
        if let Some(ip) = ip_literal(host) {
            let answer = if Family::of(ip) == family {
                DnsAnswer::Ok(vec![ip])
            } else {
                DnsAnswer::NoRecords
            };
            return FamilyLookup {
                answer,
                elapsed: Duration::ZERO,
            };
        }
        // Mirror host names are absolute: a trailing dot keeps the search list
        // (and its extra round trips) out of the measurement.
        let name = if host.ends_with('.') {
            host.to_string()
        } else {
            format!("{host}.")
        };
        let started = Instant::now();
        let result = self.inner.lookup(name.as_str(), family.record_type()).await;
        let elapsed = started.elapsed();
        let answer = match result {
            Ok(lookup) => {
                let addrs: Vec<IpAddr> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                        _ => None,
                    })
                    .collect();
                if addrs.is_empty() {
                    DnsAnswer::NoRecords
                } else {
                    DnsAnswer::Ok(addrs)
                }
            }
            Err(e) => classify(&e),
        };
        FamilyLookup { answer, elapsed }
    }
}

fn classify(error: &NetError) -> DnsAnswer {
    if error.is_nx_domain() {
        DnsAnswer::NxDomain
    } else if error.is_no_records_found() {
        DnsAnswer::NoRecords
    } else {
        DnsAnswer::Failed(error.to_string())
    }
}

/// The address if `host` is an IP literal (IPv6 with or without brackets).
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
