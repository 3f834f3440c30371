//! A sweep's DNS: the mirror's host looked up in the sweep's family (no address: the family
//! is absent), and a route (address and per-host cap) for every host name its files are on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::context::SweepContext;
use super::plan::SweepPlan;
use super::{DnsAnswer, Failure, FailureReason, Fetcher, Phase};
use crate::config::IpFamily;

pub(super) fn dns_failure(detail: String) -> Failure {
    Failure {
        reason: FailureReason::Dns,
        phase: Phase::Resolve,
        detail,
    }
}

/// [`resolve`] under the sweeps' cap on lookups in flight (`ctx.lookups`), which an address
/// given as such does not need. Waiting for the cap is not counted as resolve time.
pub(super) async fn resolve_capped(
    ctx: &SweepContext,
    host: &str,
    family: IpFamily,
) -> (Result<Option<IpAddr>, Failure>, Duration) {
    let _permit = lookup_permit(ctx, host).await;
    resolve(&ctx.fetcher, host, family).await
}

/// A place under the cap on lookups in flight, for looking `host` up; none is needed (nor
/// taken) when `host` is an address.
pub(super) async fn lookup_permit<'c>(
    ctx: &'c SweepContext,
    host: &str,
) -> Option<tokio::sync::SemaphorePermit<'c>> {
    match super::dns::ip_literal(host) {
        Some(_) => None,
        None => ctx.lookups.acquire().await.ok(),
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

/// Where the files of one host name go: its address in the sweep's family (or why there is
/// none) and its per-host cap.
pub(super) struct Route {
    pub(super) addr: Result<IpAddr, Failure>,
    pub(super) limit: Arc<Semaphore>,
    /// Timeouts and connection failures in a row in this sweep (any answer resets it): at
    /// [`super::sweep::GIVE_UP_AFTER`], the host's remaining files are skipped.
    pub(super) failures: AtomicU32,
}

/// A route for every host name the plan's files are on. The mirror's main host was resolved
/// already (`host` at `addr`); a module tree may live on another name (AlmaLinux has
/// `almalinux-kitten.mirror.example` beside `almalinux.mirror.example`), which gets its own
/// lookup, so that its files are fetched from its own address.
pub(super) async fn routes<'p>(
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
            failures: AtomicU32::new(0),
        },
    );
    for other in plan.hosts() {
        if routes.contains_key(other) {
            continue;
        }
        let addr = match resolve_capped(ctx, other, plan.family).await.0 {
            Ok(Some(addr)) => Ok(addr),
            Ok(None) => Err(dns_failure(format!(
                "{other}: no {} address",
                plan.family.as_str()
            ))),
            Err(failure) => Err(failure),
        };
        let limit = ctx.hosts.get(other);
        let failures = AtomicU32::new(0);
        routes.insert(
            other,
            Route {
                addr,
                limit,
                failures,
            },
        );
    }
    routes
}
