//! The ground truth: which mirror is in which condition and since when, what each one
//! serves, and the upstream's publications — what a test scores mirrorwatch's verdicts
//! against. [`super::control`] serves it and keeps it written to a file.
//!
//! Times are unix seconds with a fraction; revisions are numbered per directory from 0 (the
//! content the simulation starts with).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::faults::{BadCert, FaultKind};
use super::network::{Network, Publication, Site, SiteEvent};

/// Everything the simulator knows, at `generated_at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub generated_at: f64,
    pub started_at: f64,
    pub seed: u64,
    pub publish_every_seconds: f64,
    pub probe_interval_seconds: f64,
    pub upstream_interval_seconds: f64,
    /// `freshness.stale_after` in the generated configuration.
    pub stale_after_seconds: f64,
    pub flap_period_seconds: f64,
    pub slow_delay_seconds: f64,
    pub upstream: UpstreamTruth,
    pub mirrors: Vec<MirrorTruth>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamTruth {
    pub address: String,
    pub publications: Vec<PublicationTruth>,
    /// Per directory (`9.8/BaseOS/x86_64/os/`), its revisions, oldest first.
    pub dirs: BTreeMap<String, Vec<RevisionTruth>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicationTruth {
    pub number: u32,
    pub at: f64,
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionTruth {
    pub revision: u32,
    pub published_at: f64,
    pub sha256: String,
}

/// A mirror's condition now. Before its planned fault begins a mirror is `healthy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    Healthy,
    /// Stopped following at `since`; behind from the first publication it missed.
    Stale {
        since: f64,
        behind_since: Option<f64>,
        versions_behind: u32,
    },
    /// Syncs without primary files from `since`; the first incomplete copy appeared at
    /// `first_incomplete`.
    Partial {
        since: f64,
        first_incomplete: Option<f64>,
        incomplete: usize,
    },
    Down {
        since: f64,
    },
    Slow {
        since: f64,
        delay_seconds: f64,
    },
    /// Down at `since`, then up and down every `period_seconds`.
    Flapping {
        since: f64,
        period_seconds: f64,
        reachable: bool,
    },
    Ipv6Broken {
        since: f64,
    },
    BadTls {
        since: f64,
        certificate: BadCert,
    },
    /// Rolled back to the previous revision of `dirs` at `since`, and syncs no more.
    Rollback {
        since: f64,
        dirs: Vec<String>,
    },
}

/// A fault that will begin at `at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedTruth {
    pub kind: FaultKind,
    pub at: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MirrorTruth {
    pub name: String,
    pub host: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Option<Ipv6Addr>,
    pub port: u16,
    pub country: String,
    pub follow_delay_seconds: f64,
    pub condition: Condition,
    pub planned: Option<PlannedTruth>,
    pub reachable_ipv4: bool,
    pub reachable_ipv6: bool,
    pub last_sync: f64,
    /// What it serves now, per directory it carries.
    pub repos: BTreeMap<String, CopyTruth>,
    /// The latest events, oldest first; `events_dropped` older ones are gone.
    pub events: Vec<EventTruth>,
    pub events_dropped: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyTruth {
    pub revision: u32,
    pub since: f64,
    pub complete: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventTruth {
    /// A sync; `changed` gives each directory's new revision and whether it is complete.
    Sync {
        at: f64,
        publication: u32,
        changed: BTreeMap<String, CopyChange>,
    },
    Fault {
        at: f64,
        kind: FaultKind,
    },
    Reach {
        at: f64,
        ipv4: bool,
        ipv6: bool,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyChange {
    pub revision: u32,
    pub complete: bool,
}

impl EventTruth {
    pub fn at(&self) -> f64 {
        match self {
            EventTruth::Sync { at, .. }
            | EventTruth::Fault { at, .. }
            | EventTruth::Reach { at, .. } => *at,
        }
    }
}

impl Truth {
    pub fn mirror(&self, name: &str) -> Option<&MirrorTruth> {
        self.mirrors.iter().find(|m| m.name == name)
    }
}

/// Unix seconds now, with a fraction.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The truth now; only the mirror named `only` when given.
pub fn build(net: &Network, only: Option<&str>) -> Truth {
    let history = net.history();
    let key = |d: u32| {
        net.store
            .dirs
            .get(d as usize)
            .map_or_else(String::new, |dir| dir.key.clone())
    };
    let upstream = UpstreamTruth {
        address: format!("{}:{}", net.upstream.ipv4, net.upstream.port),
        publications: history
            .publications
            .iter()
            .map(|p| PublicationTruth {
                number: p.number,
                at: p.at,
                dirs: p.dirs.iter().map(|&d| key(d)).collect(),
            })
            .collect(),
        dirs: net
            .store
            .dirs
            .iter()
            .zip(&history.revisions)
            .map(|(dir, revs)| {
                let list = revs
                    .iter()
                    .map(|r| RevisionTruth {
                        revision: r.number,
                        published_at: r.published_at,
                        sha256: r.sha256.clone(),
                    })
                    .collect();
                (dir.key.clone(), list)
            })
            .collect(),
    };
    let publications = history.publications.clone();
    drop(history);
    let latest: Vec<(u32, f64)> = net
        .upstream
        .state()
        .copies
        .iter()
        .map(|c| c.as_ref().map_or((0, 0.0), |c| (c.rev.number, c.since)))
        .collect();
    let mirrors = net
        .mirrors
        .iter()
        .filter(|m| only.is_none_or(|name| m.name == name))
        .map(|m| mirror(net, m, &publications, &latest, &key))
        .collect();
    let t = &net.timing;
    Truth {
        generated_at: unix_now(),
        started_at: net.started_at,
        seed: net.seed,
        publish_every_seconds: t.publish_every.as_secs_f64(),
        probe_interval_seconds: t.probe_interval.as_secs_f64(),
        upstream_interval_seconds: t.upstream_interval.as_secs_f64(),
        stale_after_seconds: t.stale_after.as_secs_f64(),
        flap_period_seconds: t.flap_period.as_secs_f64(),
        slow_delay_seconds: t.slow_delay.as_secs_f64(),
        upstream,
        mirrors,
    }
}

fn mirror(
    net: &Network,
    site: &Site,
    publications: &[Publication],
    latest: &[(u32, f64)],
    key: &dyn Fn(u32) -> String,
) -> MirrorTruth {
    let reach = *site.reach.borrow();
    let state = site.state();
    let mut behind = 0u32;
    let mut incomplete = 0usize;
    let mut repos = BTreeMap::new();
    for (d, copy) in state.copies.iter().enumerate() {
        let Some(copy) = copy else { continue };
        let newest = latest.get(d).map_or(0, |l| l.0);
        behind = behind.max(newest.saturating_sub(copy.rev.number));
        incomplete += usize::from(!copy.complete);
        repos.insert(
            key(d as u32),
            CopyTruth {
                revision: copy.rev.number,
                since: copy.since,
                complete: copy.complete,
            },
        );
    }
    // A stale mirror is behind from the first publication its last sync did not copy that
    // touched a directory it carries: one published just before it stopped, while its sync
    // was still due, counts.
    let behind_since = || {
        publications
            .iter()
            .filter(|p| p.at > state.last_sync)
            .find(|p| {
                p.dirs
                    .iter()
                    .any(|&d| state.copies.get(d as usize).is_some_and(Option::is_some))
            })
            .map(|p| p.at)
    };
    let condition = match state.active {
        None => Condition::Healthy,
        Some((kind, since)) => match kind {
            FaultKind::Stale => Condition::Stale {
                since,
                behind_since: behind_since(),
                versions_behind: behind,
            },
            FaultKind::Partial => Condition::Partial {
                since,
                first_incomplete: state.first_incomplete,
                incomplete,
            },
            FaultKind::Down => Condition::Down { since },
            FaultKind::Slow => Condition::Slow {
                since,
                delay_seconds: net.timing.slow_delay.as_secs_f64(),
            },
            FaultKind::Flapping => Condition::Flapping {
                since,
                period_seconds: net.timing.flap_period.as_secs_f64(),
                reachable: reach.ipv4,
            },
            FaultKind::Ipv6Broken => Condition::Ipv6Broken { since },
            FaultKind::Rollback => Condition::Rollback {
                since,
                dirs: state.rolled_back.iter().map(|&d| key(d)).collect(),
            },
            FaultKind::BadTls => Condition::BadTls {
                since,
                certificate: state.cert.unwrap_or(BadCert::Expired),
            },
        },
    };
    let planned = match (state.active, site.fault) {
        (None, Some(f)) => Some(PlannedTruth {
            kind: f.kind,
            at: net.started_at + f.onset.as_secs_f64(),
        }),
        _ => None,
    };
    let events = state
        .events
        .iter()
        .map(|e| match e {
            SiteEvent::Sync {
                at,
                publish,
                changed,
            } => EventTruth::Sync {
                at: *at,
                publication: *publish,
                changed: changed
                    .iter()
                    .map(|&(d, revision, complete)| (key(d), CopyChange { revision, complete }))
                    .collect(),
            },
            SiteEvent::Fault { at, kind } => EventTruth::Fault {
                at: *at,
                kind: *kind,
            },
            SiteEvent::Reach { at, reach } => EventTruth::Reach {
                at: *at,
                ipv4: reach.ipv4,
                ipv6: reach.ipv6,
            },
        })
        .collect();
    MirrorTruth {
        name: site.name.clone(),
        host: site.host.clone(),
        ipv4: site.ipv4,
        ipv6: site.ipv6.then_some(Ipv6Addr::LOCALHOST),
        port: site.port,
        country: site.country.to_string(),
        follow_delay_seconds: site.follow_delay.as_secs_f64(),
        condition,
        planned,
        reachable_ipv4: reach.ipv4,
        reachable_ipv6: reach.ipv6,
        last_sync: state.last_sync,
        repos,
        events,
        events_dropped: state.events_dropped,
    }
}
