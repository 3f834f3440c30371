//! The simulated network: its directories ([`Store`]), its sites (the upstream and every
//! mirror, [`Site`]), the upstream's history, and the changes the clock makes — a
//! publication, a mirror's sync, a fault beginning, a flap. Everything the servers answer
//! and everything the ground truth reports is read from here.
//!
//! Locks are std mutexes held for a copy or an update, never across `.await`, and never two
//! at once (a sync clones the upstream's copies, releases that lock, then takes its own).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::body::Bytes;
use tokio::sync::Notify;

use super::certs::Certs;
use super::faults::{FaultKind, Rng};
use super::revision::Revision;
pub use super::site::{Copy, Reach, Site, SiteEvent};
pub use super::store::{tree_name, Store};

/// Upstream revisions listed per directory in the ground truth.
const REVISIONS_KEPT: usize = 256;

/// What a request path names on a site.
pub enum Answer {
    Repomd {
        body: Bytes,
        etag: String,
        last_modified: String,
    },
    Data(Bytes),
    Time(i64),
    Missing,
}

/// One publication: its number (from 1), time and the directories it changed.
#[derive(Debug, Clone)]
pub struct Publication {
    pub number: u32,
    pub at: f64,
    pub dirs: Vec<u32>,
}

/// One upstream revision as the ground truth lists it.
#[derive(Debug, Clone)]
pub struct RevisionNote {
    pub number: u32,
    pub published_at: f64,
    pub sha256: String,
}

/// The upstream's history.
#[derive(Debug, Default)]
pub struct History {
    pub publications: Vec<Publication>,
    /// Per directory, oldest first (at most [`REVISIONS_KEPT`]).
    pub revisions: Vec<VecDeque<RevisionNote>>,
}

/// Figures the clock and the sites go by (also written into the configuration and truth).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub publish_every: Duration,
    /// The upstream is quiet after this many publications.
    pub publications: Option<u32>,
    /// `probe.full_every`, when the configuration sets it.
    pub full_every: Option<Duration>,
    pub probe_interval: Duration,
    /// `probe.timeout`: below the interval, as validation demands, and short enough that a
    /// mirror that does not answer costs little of a sweep.
    pub probe_timeout: Duration,
    pub upstream_interval: Duration,
    pub stale_after: Duration,
    pub flap_period: Duration,
    pub slow_delay: Duration,
}

/// The whole simulated network.
pub struct Network {
    pub store: Store,
    pub upstream: Arc<Site>,
    pub mirrors: Vec<Arc<Site>>,
    pub certs: Certs,
    pub history: Mutex<History>,
    pub timing: Timing,
    pub started_at: f64,
    pub seed: u64,
    /// Woken on every change (the truth file is rewritten).
    pub changed: Notify,
}

impl Network {
    pub fn history(&self) -> MutexGuard<'_, History> {
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What `path` names on `site`. Paths are taken as sent: `/<tree>/<dir>repodata/<file>`
    /// or `/<tree>/TIME`; anything else is a 404, as on a real mirror.
    pub fn find(&self, site: &Site, path: &str) -> Answer {
        let Some(rest) = path.strip_prefix('/') else {
            return Answer::Missing;
        };
        if let Some(tree) = rest.strip_suffix("/TIME") {
            return match self.store.is_tree(tree) {
                true => Answer::Time(site.state().last_sync as i64),
                false => Answer::Missing,
            };
        }
        let Some(cut) = rest.find("/repodata/") else {
            return Answer::Missing;
        };
        // `cut` is the index of an ASCII '/', so both slices fall on character boundaries.
        let (dir, file) = (&rest[..=cut], &rest[cut + 1..]);
        let Some(id) = self.store.lookup(dir) else {
            return Answer::Missing;
        };
        let Some(copy) = site.state().copies.get(id).cloned().flatten() else {
            return Answer::Missing;
        };
        if file == "repodata/repomd.xml" {
            return Answer::Repomd {
                body: copy.rev.repomd.clone(),
                etag: copy.rev.etag.clone(),
                last_modified: copy.rev.last_modified.clone(),
            };
        }
        if !copy.complete && copy.rev.primary_href() == Some(file) {
            return Answer::Missing;
        }
        match copy.rev.file(file) {
            Some(data) => Answer::Data(data.bytes.clone()),
            None => Answer::Missing,
        }
    }

    /// The upstream publishes new revisions of one to three repos (every arch of one
    /// version's repo at once, as AlmaLinux does). Returns the publication number.
    pub fn publish(&self, rng: &mut Rng, now: f64) -> u32 {
        let groups = &self.store.groups;
        let wanted = 1 + rng.below(groups.len().clamp(1, 3));
        let mut picked: Vec<usize> = Vec::new();
        while picked.len() < wanted.min(groups.len()) {
            let g = rng.below(groups.len());
            if !picked.contains(&g) {
                picked.push(g);
            }
        }
        let dirs: Vec<usize> = picked
            .iter()
            .filter_map(|g| groups.get(*g))
            .flatten()
            .copied()
            .collect();
        let mut fresh = Vec::new();
        {
            let state = self.upstream.state();
            for &d in &dirs {
                let number = state
                    .copies
                    .get(d)
                    .and_then(Option::as_ref)
                    .map_or(0, |c| c.rev.number + 1);
                if let Some(dir) = self.store.dirs.get(d) {
                    fresh.push((d, Arc::new(Revision::generate(&dir.key, number, now))));
                }
            }
        }
        let mut history = self.history();
        let number = history.publications.len() as u32 + 1;
        for (d, rev) in &fresh {
            if let Some(list) = history.revisions.get_mut(*d) {
                if list.len() >= REVISIONS_KEPT {
                    list.pop_front();
                }
                list.push_back(RevisionNote {
                    number: rev.number,
                    published_at: now,
                    sha256: rev.sha256.clone(),
                });
            }
        }
        history.publications.push(Publication {
            number,
            at: now,
            dirs: dirs.iter().map(|&d| d as u32).collect(),
        });
        drop(history);
        let mut state = self.upstream.state();
        for (d, rev) in fresh {
            if let Some(slot) = state.copies.get_mut(d) {
                *slot = Some(Copy {
                    rev,
                    complete: true,
                    since: now,
                });
            }
        }
        state.last_sync = now;
        number
    }

    /// Mirror `i` copies whatever the upstream serves now — unless it is stale; a partial
    /// mirror leaves the primary file of every changed directory out.
    pub fn sync(&self, i: usize, now: f64) {
        let Some(site) = self.mirrors.get(i) else {
            return;
        };
        let upstream: Vec<Option<Copy>> = self.upstream.state().copies.clone();
        let publish = self.history().publications.len() as u32;
        let mut state = site.state();
        if state.frozen {
            return;
        }
        let complete = !state.partial;
        let mut changed = Vec::new();
        for (d, (mine, theirs)) in state.copies.iter_mut().zip(&upstream).enumerate() {
            let (Some(mine), Some(theirs)) = (mine.as_mut(), theirs) else {
                continue;
            };
            if mine.rev.sha256 != theirs.rev.sha256 {
                *mine = Copy {
                    rev: theirs.rev.clone(),
                    complete,
                    since: now,
                };
                changed.push((d as u32, theirs.rev.number, complete));
            }
        }
        if !complete && !changed.is_empty() && state.first_incomplete.is_none() {
            state.first_incomplete = Some(now);
        }
        state.last_sync = now;
        state.push(SiteEvent::Sync {
            at: now,
            publish,
            changed,
        });
    }

    /// Mirror `i`'s planned fault begins; false when it cannot begin yet: a rollback needs
    /// the upstream quiet (no publication for a third of its period) and something synced
    /// since the start to roll back. The clock tries again later.
    pub fn start_fault(&self, i: usize, now: f64) -> bool {
        let Some(site) = self.mirrors.get(i) else {
            return true;
        };
        let Some(fault) = site.fault else {
            return true;
        };
        let rollback = match fault.kind {
            FaultKind::Rollback => match self.previous_revisions(site, now) {
                Some(previous) => previous,
                None => return false,
            },
            _ => Vec::new(),
        };
        let publish = self.history().publications.len() as u32;
        {
            let mut guard = site.state();
            let state = &mut *guard;
            state.active = Some((fault.kind, now));
            match fault.kind {
                FaultKind::Stale => state.frozen = true,
                FaultKind::Partial => state.partial = true,
                FaultKind::Slow => state.slow = Some(self.timing.slow_delay),
                FaultKind::BadTls => state.cert = fault.cert,
                FaultKind::Rollback => state.frozen = true,
                FaultKind::Down | FaultKind::Flapping | FaultKind::Ipv6Broken => {}
            }
            state.push(SiteEvent::Fault {
                at: now,
                kind: fault.kind,
            });
            if !rollback.is_empty() {
                let mut changed = Vec::new();
                for (d, rev) in rollback {
                    if let Some(Some(copy)) = state.copies.get_mut(d) {
                        changed.push((d as u32, rev.number, true));
                        state.rolled_back.push(d as u32);
                        *copy = Copy {
                            rev,
                            complete: true,
                            since: now,
                        };
                    }
                }
                state.push(SiteEvent::Sync {
                    at: now,
                    publish,
                    changed,
                });
            }
        }
        if fault.kind == FaultKind::BadTls {
            site.reset.notify_waiters();
        }
        let reach = *site.reach.borrow();
        match fault.kind {
            FaultKind::Down | FaultKind::Flapping => site.set_reach(
                Reach {
                    ipv4: false,
                    ipv6: false,
                },
                now,
            ),
            FaultKind::Ipv6Broken => site.set_reach(
                Reach {
                    ipv6: false,
                    ..reach
                },
                now,
            ),
            _ => {}
        }
        true
    }

    /// For a rollback of `site` at `now`: each directory it serves at a revision above 0,
    /// with the upstream's revision before that one, generated again as it was published.
    /// `None` while the upstream is not quiet, or when there is nothing to roll back.
    fn previous_revisions(&self, site: &Site, now: f64) -> Option<Vec<(usize, Arc<Revision>)>> {
        let serving: Vec<(usize, u32)> = site
            .state()
            .copies
            .iter()
            .enumerate()
            .filter_map(|(d, c)| Some((d, c.as_ref()?.rev.number)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let history = self.history();
        let quiet = self.timing.publish_every.as_secs_f64() / 3.0;
        if history
            .publications
            .last()
            .is_some_and(|p| now - p.at < quiet)
        {
            return None;
        }
        let previous: Vec<(usize, Arc<Revision>)> = serving
            .into_iter()
            .filter_map(|(d, n)| {
                let note = history
                    .revisions
                    .get(d)?
                    .iter()
                    .find(|r| r.number + 1 == n)?;
                let dir = self.store.dirs.get(d)?;
                Some((
                    d,
                    Arc::new(Revision::generate(&dir.key, note.number, note.published_at)),
                ))
            })
            .collect();
        (!previous.is_empty()).then_some(previous)
    }

    /// A flapping mirror turns from down to up or back.
    pub fn flap(&self, i: usize, now: f64) {
        if let Some(site) = self.mirrors.get(i) {
            let up = !site.reach.borrow().ipv4;
            let reach = Reach {
                ipv4: up,
                ipv6: up && site.ipv6,
            };
            site.set_reach(reach, now);
        }
    }
}
