//! What selection can work out once per snapshot instead of once per request: for each
//! (version, repo, arch, family, protocol) asked for, the mirrors whose copy qualifies, with
//! the protocol to offer, their shuffle weight and the hash of their name — in two lists,
//! current copies and behind ones (by increasing lag), so that a request ranks the current
//! ones alone and reads the behind ones only when it needs them ([`Lists`]).
//!
//! Everything here depends on the snapshot alone, never on the client, so one [`Index`] serves
//! every request made against its snapshot. Lists are filled on first use: a layout of 136
//! repository directories gives a few thousand possible questions, most never asked.
//! [`IndexCache`] keeps the index of the latest snapshot for the HTTP handlers.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, Weak};

use ipnet::IpNet;

use super::checks::{acceptable_family, content_lag, protocol_for};
use super::{order, Want};
use crate::config::geo::{continent_of, Continent};
use crate::config::{Arch, IpFamily, Protocol, Subnets};
use crate::state::Snapshot;

/// One mirror that may be offered for one question.
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    /// Position in `snapshot.config.mirrors`.
    pub mirror: usize,
    pub protocol: Protocol,
    /// One over the weight of the weighted shuffle (the mirror's score, at least 1).
    pub inverse_weight: f64,
    /// See [`order::name_hash`].
    pub name_hash: u64,
    /// The mirror's continent, given or derived from its country.
    pub continent: Option<Continent>,
    /// Seconds behind upstream: 0 for a current copy; without an arch, the largest lag of
    /// the arches the mirror carries.
    pub lag: u64,
    /// The mirror lists subnets or ASNs, so it can be on a client's own network.
    pub local: bool,
}

/// The qualifying mirrors for one question, split by freshness.
#[derive(Debug, Default)]
pub(super) struct Lists {
    /// Copies that are current, in snapshot order.
    pub current: Box<[Candidate]>,
    /// Copies behind by at most `serve.max_lag`, by increasing lag (snapshot order on ties).
    pub behind: Box<[Candidate]>,
    /// Some mirror of `behind` is a monopoly mirror.
    pub monopoly: bool,
}

/// (version, repo, arch, family, protocol), versions and repos by position in the layout.
type ListKey = (usize, usize, Option<Arch>, IpFamily, Option<Protocol>);

/// The per-snapshot part of selection. Build it with [`Index::new`] for the snapshot it is
/// used with: the lists hold positions, which mean nothing against another snapshot.
#[derive(Debug)]
pub struct Index {
    /// For each `snapshot.mirrors` entry, its position in the configuration (`None`: removed
    /// or disabled by a reload the snapshot has not caught up with).
    configured: Vec<Option<usize>>,
    /// For each configured mirror (by position), the subnets of the list it publishes at a
    /// URL, as the snapshot has them: matched like listed ones (see [`super::Place`]).
    published: Vec<Option<Arc<[IpNet]>>>,
    lists: RwLock<HashMap<ListKey, Arc<Lists>>>,
}

impl Index {
    pub fn new(snapshot: &Snapshot) -> Index {
        let by_name: HashMap<&str, usize> = snapshot
            .config
            .mirrors
            .iter()
            .enumerate()
            .filter(|(_, m)| super::checks::enabled(m))
            .map(|(i, m)| (m.name.as_str(), i))
            .collect();
        let configured = snapshot
            .mirrors
            .iter()
            .map(|m| by_name.get(m.name.as_str()).copied())
            .collect();
        let published = snapshot
            .config
            .mirrors
            .iter()
            .map(|m| snapshot.subnets.shared_nets_for(m))
            .collect();
        Index {
            configured,
            published,
            lists: RwLock::new(HashMap::new()),
        }
    }

    /// The fetched subnets of the configured mirror at `position` (empty: none).
    pub(super) fn published(&self, position: usize) -> &[IpNet] {
        match self.published.get(position) {
            Some(Some(nets)) => nets,
            _ => &[],
        }
    }

    /// The mirrors whose copy of what `want` names qualifies over `family`.
    pub(super) fn candidates(
        &self,
        snapshot: &Snapshot,
        want: &Want<'_>,
        family: IpFamily,
    ) -> Arc<Lists> {
        let layout = &snapshot.config.layout;
        let version = layout
            .versions
            .iter()
            .position(|v| std::ptr::eq(v, want.version));
        let repo = layout.repos.iter().position(|r| std::ptr::eq(r, want.repo));
        // A `Want` built from another configuration than the snapshot's (a test, or a caller
        // holding an older layout) is answered correctly, just not remembered.
        let Some(key) = version
            .zip(repo)
            .map(|(v, r)| (v, r, want.arch, family, want.protocol))
        else {
            return self.build(snapshot, want, family);
        };
        let known = self
            .lists
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(list) = known {
            return list;
        }
        let list = self.build(snapshot, want, family);
        self.lists
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert(list)
            .clone()
    }

    fn build(&self, snapshot: &Snapshot, want: &Want<'_>, family: IpFamily) -> Arc<Lists> {
        let config = &snapshot.config;
        let max_lag = config.serve.max_lag.as_secs();
        let (mut current, mut behind) = (Vec::new(), Vec::new());
        for (snap, position) in snapshot.mirrors.iter().zip(&self.configured) {
            let Some((position, mirror)) = position.and_then(|p| Some((p, config.mirrors.get(p)?)))
            else {
                continue;
            };
            let Some(fam) = snap.family(family).filter(|f| acceptable_family(f.state)) else {
                continue;
            };
            let Some(lag) = content_lag(fam, want, max_lag) else {
                continue;
            };
            let Some((protocol, _)) = protocol_for(mirror, fam, want) else {
                continue;
            };
            let candidate = Candidate {
                mirror: position,
                protocol,
                inverse_weight: order::inverse_weight(snap.score),
                name_hash: order::name_hash(&mirror.name),
                continent: mirror
                    .continent
                    .or_else(|| mirror.country.as_deref().and_then(continent_of)),
                lag,
                local: !mirror.asns.is_empty()
                    || matches!(&mirror.subnets, Subnets::List(nets) if !nets.is_empty())
                    || !self.published(position).is_empty(),
            };
            // `content_lag` gives a behind copy a lag of at least 1 s, so 0 means current.
            match lag {
                0 => current.push(candidate),
                _ => behind.push(candidate),
            }
        }
        // Stable: equal lags keep snapshot order.
        behind.sort_by_key(|c| c.lag);
        let monopoly = behind
            .iter()
            .any(|c| config.mirrors.get(c.mirror).is_some_and(|m| m.monopoly));
        Arc::new(Lists {
            monopoly,
            current: current.into(),
            behind: behind.into(),
        })
    }
}

/// The index of the latest snapshot, shared by the HTTP handlers. It holds the snapshot
/// weakly, so an old snapshot is freed as soon as nobody else uses it.
#[derive(Debug, Default)]
pub struct IndexCache {
    current: RwLock<Option<(Weak<Snapshot>, Arc<Index>)>>,
}

impl IndexCache {
    /// The index for `snapshot`, built on the first request that uses a new snapshot.
    pub fn index_for(&self, snapshot: &Arc<Snapshot>) -> Arc<Index> {
        let same = |held: &Option<(Weak<Snapshot>, Arc<Index>)>| {
            held.as_ref()
                .filter(|(weak, _)| std::ptr::eq(weak.as_ptr(), Arc::as_ptr(snapshot)))
                .map(|(_, index)| index.clone())
        };
        if let Some(index) = same(&self.current.read().unwrap_or_else(PoisonError::into_inner)) {
            return index;
        }
        let mut held = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = same(&held) {
            return index;
        }
        let index = Arc::new(Index::new(snapshot));
        // A request still answering from the previous snapshot, just after a newer one was
        // published, gets an index of its own: it must not evict the newer snapshot's index,
        // whose lists the requests after it are filling.
        let newer_held = held
            .as_ref()
            .and_then(|(weak, _)| weak.upgrade())
            .is_some_and(|h| h.generated_at > snapshot.generated_at);
        if !newer_held {
            *held = Some((Arc::downgrade(snapshot), index.clone()));
        }
        index
    }
}
