//! What every sweep shares: the fetcher, the caps on requests in flight (global, per host
//! name, and the sweep slots that bound how many sweeps hold a working set at once) and the
//! probe settings a sweep reads.

use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{Fetcher, Limits};

/// What a sweep needs besides its plan: shared by every sweep of the engine.
#[derive(Clone)]
pub struct SweepContext {
    pub fetcher: Fetcher,
    /// The global cap on requests in flight.
    pub global: Arc<Semaphore>,
    /// Sweeps in progress: a sweep holds a slot from before it allocates anything until its
    /// report is made. About `concurrency / per_host` slots keep the global cap busy.
    pub sweeps: Arc<Semaphore>,
    /// Name lookups in progress, outside the sweep slots and the global cap: a resolver that
    /// never answers holds these ([`lookup_slots`]), never the slots healthy mirrors need.
    pub lookups: Arc<Semaphore>,
    /// How long a sweep may start new fetches, from when it takes its slot (`probe.interval`:
    /// a sweep still going when its next one is due has nothing left to say). Files not
    /// started by then are skipped; fetches under way end within their own timeout.
    pub budget: std::time::Duration,
    pub limits: Limits,
    /// Requests in flight to one host, across every sweep and the upstream poll.
    pub hosts: Arc<HostLimits>,
    pub check_data_files: bool,
    /// What the upstream has shown, so that data files are checked only for content it
    /// published (see [`UpstreamDigests::worth_checking`]).
    pub upstream: Arc<UpstreamDigests>,
    /// Also fetch the `TIME` file (an epoch) at the mirror's root.
    pub time_file: bool,
    /// Keep a sweep's connections for the next sweep of the mirror: only worth it when that
    /// comes before they expire (`probe.interval` shorter than the fetcher's idle timeout).
    /// Otherwise they are closed when the sweep ends, so that idle connections of every
    /// mirror swept in the last idle timeout do not pile up.
    pub keep_connections: bool,
}

/// What the upstream has shown of one target: the sha256 of each version remembered, oldest
/// first and the current one last, and when the current one was first seen (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamVersions {
    pub sha256: Vec<[u8; 32]>,
    pub current_since: i64,
}

impl UpstreamVersions {
    /// The current version's sha256, when one is known.
    pub fn current(&self) -> Option<&[u8; 32]> {
        self.sha256.last()
    }
}

/// What the upstream has shown, by target key: written by the state writer after each
/// upstream poll, read by sweeps (data files worth checking) and by the planner (which
/// copies may have changed, [`super::due`]).
#[derive(Debug, Default)]
pub struct UpstreamDigests(std::sync::RwLock<std::collections::HashMap<String, UpstreamVersions>>);

impl UpstreamDigests {
    /// Replace what is known with `digests`.
    pub fn set(&self, digests: std::collections::HashMap<String, UpstreamVersions>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = digests;
    }

    /// What is known, for reading several keys under one lock.
    pub fn read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, std::collections::HashMap<String, UpstreamVersions>> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a copy of `key` whose repomd.xml hashes to `sha256` is worth checking data
    /// files for: when the upstream has published that content, or when nothing is known
    /// of the upstream's `key` yet (its first poll may come after the first sweep). A copy
    /// the upstream never showed gets a verdict from its repomd.xml alone; checking its data
    /// files would cost requests for nothing a verdict uses.
    pub fn worth_checking(&self, key: &str, sha256: &[u8; 32]) -> bool {
        self.read()
            .get(key)
            .is_none_or(|known| known.sha256.is_empty() || known.sha256.iter().any(|d| d == sha256))
    }
}

/// How many sweeps may be in progress at once: enough to keep `concurrency` requests in
/// flight when each sweep has `per_host` of them, and at least one.
pub fn sweep_slots(concurrency: NonZeroUsize, per_host: NonZeroUsize) -> usize {
    (concurrency.get() / per_host).max(1)
}

/// How many name lookups may be in flight at once: twice the request cap, so that a dead
/// resolver costs each mirror about one lookup timeout, not a queue of them.
pub fn lookup_slots(concurrency: NonZeroUsize) -> usize {
    concurrency.get().saturating_mul(2)
}

/// One semaphore per host name, created on first use, so that the IPv4 and IPv6 sweeps of a
/// mirror (and a mirror sharing a host with another) together stay within the cap.
#[derive(Debug)]
pub struct HostLimits {
    per_host: NonZeroUsize,
    hosts: std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>,
}

impl HostLimits {
    pub fn new(per_host: NonZeroUsize) -> HostLimits {
        HostLimits {
            per_host,
            hosts: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Requests in flight to one host at most.
    pub fn per_host(&self) -> NonZeroUsize {
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
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host.get())))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_slots_keep_the_global_cap_busy() {
        let n = |n| NonZeroUsize::new(n).unwrap();
        assert_eq!(sweep_slots(n(64), n(4)), 16);
        assert_eq!(sweep_slots(n(2), n(4)), 1);
        assert_eq!(sweep_slots(n(10), n(1)), 10);
    }
}
