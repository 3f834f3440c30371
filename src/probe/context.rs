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
pub fn sweep_slots(concurrency: NonZeroUsize, per_host: NonZeroUsize) -> usize {
    (concurrency.get() / per_host).max(1)
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
