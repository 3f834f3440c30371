//! One site of the simulated network — the upstream or a mirror: what it serves per
//! directory, whether it accepts connections, its fault, and what happened to it (for the
//! ground truth).

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::faults::{BadCert, FaultKind, PlannedFault};
use super::revision::Revision;
use super::store::Store;

/// Events remembered per site for the ground truth: enough to say what a mirror served at
/// any moment of the last few publications, bounded so a long demo does not grow.
const EVENTS_KEPT: usize = 64;

/// What a site serves for one directory.
#[derive(Debug, Clone)]
pub struct Copy {
    pub rev: Arc<Revision>,
    /// False after a partial sync: the primary file is missing.
    pub complete: bool,
    /// Unix seconds when the site got this copy.
    pub since: f64,
}

/// Whether a site accepts connections, per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub ipv4: bool,
    pub ipv6: bool,
}

/// Something that happened to a site, for the ground truth.
#[derive(Debug, Clone)]
pub enum SiteEvent {
    /// A sync to the upstream as of publication `publish`: (dir, revision, complete).
    Sync {
        at: f64,
        publish: u32,
        changed: Vec<(u32, u32, bool)>,
    },
    Fault {
        at: f64,
        kind: FaultKind,
    },
    Reach {
        at: f64,
        reach: Reach,
    },
}

/// The mutable part of a site.
#[derive(Debug)]
pub struct SiteState {
    /// Per directory of the store; `None` where the site does not carry it (a 404).
    pub copies: Vec<Option<Copy>>,
    pub last_sync: f64,
    /// The fault in force and since when.
    pub active: Option<(FaultKind, f64)>,
    pub slow: Option<Duration>,
    pub cert: Option<BadCert>,
    /// Stale: no longer follows the upstream.
    pub frozen: bool,
    /// Partial: syncs leave the primary file out.
    pub partial: bool,
    pub first_incomplete: Option<f64>,
    /// Rollback: the directories it rolled back.
    pub rolled_back: Vec<u32>,
    pub events: VecDeque<SiteEvent>,
    pub events_dropped: u64,
}

impl SiteState {
    pub fn push(&mut self, event: SiteEvent) {
        if self.events.len() >= EVENTS_KEPT {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(event);
    }
}

/// The upstream or one mirror.
pub struct Site {
    pub name: String,
    /// The host name in its URLs (an IP literal for the upstream).
    pub host: String,
    pub country: &'static str,
    pub ipv4: Ipv4Addr,
    /// Has an AAAA record (`::1`).
    pub ipv6: bool,
    pub port: u16,
    /// Carries the module trees (`address_optional`).
    pub modules: bool,
    /// How long after a publication it syncs.
    pub follow_delay: Duration,
    pub fault: Option<PlannedFault>,
    state: Mutex<SiteState>,
    pub reach: watch::Sender<Reach>,
    /// Closes every open connection, as a web server reloaded with a new certificate does
    /// (the prober keeps connections across sweeps: without this, a new certificate would
    /// go unseen until they expire).
    pub reset: Notify,
}

impl Site {
    /// A site serving revision 0 of every directory it carries.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        host: String,
        country: &'static str,
        ipv4: Ipv4Addr,
        ipv6: bool,
        port: u16,
        modules: bool,
        follow_delay: Duration,
        fault: Option<PlannedFault>,
        store: &Store,
        initial: &[Arc<Revision>],
        now: f64,
    ) -> Site {
        let copies = store
            .dirs
            .iter()
            .zip(initial)
            .map(|(dir, rev)| {
                (modules || dir.module.is_none()).then(|| Copy {
                    rev: rev.clone(),
                    complete: true,
                    since: now,
                })
            })
            .collect();
        let (reach, _) = watch::channel(Reach { ipv4: true, ipv6 });
        Site {
            name,
            host,
            country,
            ipv4,
            ipv6,
            port,
            modules,
            follow_delay,
            fault,
            state: Mutex::new(SiteState {
                copies,
                last_sync: now,
                active: None,
                slow: None,
                cert: None,
                frozen: false,
                partial: false,
                first_incomplete: None,
                rolled_back: Vec::new(),
                events: VecDeque::new(),
                events_dropped: 0,
            }),
            reach,
            reset: Notify::new(),
        }
    }

    /// The state, for a short read or update (never held across `.await`).
    pub fn state(&self) -> MutexGuard<'_, SiteState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn slow(&self) -> Option<Duration> {
        self.state().slow
    }

    pub fn cert(&self) -> Option<BadCert> {
        self.state().cert
    }

    /// Change what accepts connections; a change is remembered as an event.
    pub fn set_reach(&self, reach: Reach, at: f64) {
        if self.reach.send_replace(reach) != reach {
            self.state().push(SiteEvent::Reach { at, reach });
        }
    }
}
