//! The process's file-descriptor limit, shared by the HTTP server and the prober: raised at
//! start from its soft value to its hard one, and split so that HTTP clients can never take
//! the descriptors probes need (their sockets, DNS lookups, the state file, the reload
//! watcher).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors kept out of the HTTP server's reach whatever the probe settings: the
/// listener, logging, the state and subnet files, the reload watcher, the runtime's own.
pub const BASE_RESERVE: u64 = 128;

/// Descriptors one probe request may hold at once: its socket, a DNS socket for each family,
/// and a pooled connection kept alive beside it.
pub const PER_PROBE: u64 = 4;

/// What the limit was, and what it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    /// The soft limit found at start.
    pub before: u64,
    /// The soft limit now (the hard one, unless raising failed).
    pub soft: u64,
    /// The hard limit (`u64::MAX` for none).
    pub hard: u64,
}

/// The kernel's ceiling for a soft limit when the hard one is "unlimited" (`fs.nr_open`'s
/// default); a larger value would be refused.
const NR_OPEN_DEFAULT: u64 = 1 << 20;

/// Raise the soft `RLIMIT_NOFILE` to the hard one and log both. Never fails: when raising is
/// refused, the soft limit stays as it was (and is what [`connection_cap`] works from).
pub fn raise() -> NoFile {
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let before = limit.current.unwrap_or(u64::MAX);
    let target = hard.min(NR_OPEN_DEFAULT).max(before.min(NR_OPEN_DEFAULT));
    let mut soft = before;
    if target > before {
        let new = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, new) {
            Ok(()) => soft = target,
            Err(error) => {
                tracing::warn!(soft = before, hard, %error, "cannot raise the file-descriptor limit")
            }
        }
    }
    tracing::info!(soft_at_start = before, soft, hard, "file-descriptor limit");
    NoFile { before, soft, hard }
}

/// Descriptors kept for probing when `concurrency` probe requests may run at once.
pub fn reserve(concurrency: u32) -> u64 {
    BASE_RESERVE + PER_PROBE * u64::from(concurrency)
}

/// The connection cap the HTTP server can honour: `wanted`, lowered to what the soft limit
/// leaves after the `reserve`; at least 1, so that the server still answers (a warning says
/// so when the limit is that tight).
pub fn connection_cap(wanted: u32, soft: u64, reserve: u64) -> u32 {
    let room = soft.saturating_sub(reserve);
    let cap = u64::from(wanted).min(room).max(1);
    u32::try_from(cap).unwrap_or(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve_to_the_probes() {
        assert_eq!(reserve(64), 128 + 256);
        assert_eq!(connection_cap(4096, 65536, reserve(64)), 4096);
        assert_eq!(connection_cap(4096, 1024, reserve(64)), 1024 - 384);
        assert_eq!(connection_cap(4096, 100, reserve(64)), 1);
        assert_eq!(connection_cap(10, u64::MAX, 0), 10);
    }

    #[test]
    fn raising_keeps_the_hard_limit() {
        let found = raise();
        assert!(found.soft >= found.before);
        assert!(found.soft <= found.hard);
        assert_eq!(
            getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX),
            found.soft
        );
    }
}
