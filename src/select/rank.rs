//! Ranking one client's candidates: where each mirror stands for that client ([`Place`]), the
//! sort keys of a candidate ([`Ranked`]) and the bounded top-k that keeps the best
//! `serve.mirrorlist_length` while it scans ([`TopK`]). The order itself is the one the
//! module docs of `select` state.

use std::cmp::Ordering;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{index, order, Client, Group, Index, Pick, Want};
use crate::config::geo::Continent;
use crate::config::{Config, Mirror, Protocol};

/// Which candidates a ranking pass keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    Any,
    /// Only those in the client's subnet or ASN group.
    OwnNetwork,
}

/// The best `length` candidates so far, in order: most candidates lose against the last one
/// with a single comparison, so nothing is sorted but the answer itself.
pub(super) struct TopK<'a, 'p> {
    pub(super) config: &'a Config,
    pub(super) index: &'p Index,
    pub(super) place: &'p Place<'p>,
    pub(super) seed: u64,
    pub(super) length: usize,
    pub(super) best: Vec<Ranked<'a>>,
    pub(super) monopoly: Option<Ranked<'a>>,
    /// Candidates that passed every check for this client (private, group), kept or not.
    pub(super) qualified: usize,
}

impl<'a> TopK<'a, '_> {
    pub(super) fn rank<'c>(
        &mut self,
        candidates: impl Iterator<Item = &'c index::Candidate>,
        admit: Admit,
    ) {
        let (config, place, seed, length) = (self.config, self.place, self.seed, self.length);
        for candidate in candidates {
            let Some(mirror) = config.mirrors.get(candidate.mirror) else {
                continue;
            };
            let published = self.index.published(candidate.mirror);
            let (group, tier) = place.rank(mirror, candidate.continent, published);
            let matched = matches!(group, Group::Subnet | Group::Asn);
            if !matched && (mirror.private || admit == Admit::OwnNetwork) {
                continue;
            }
            self.qualified += 1;
            let behind = candidate.lag > 0;
            // With the list full, most candidates lose to its last entry: on group, freshness
            // and tier, or on a lower bound of their shuffle key, without a logarithm.
            let last = self.best.last().filter(|_| self.best.len() >= length);
            if let Some(last) = last.filter(|_| !(mirror.monopoly && matched)) {
                let prefix = group
                    .cmp(&last.group)
                    .then(behind.cmp(&last.behind))
                    .then(candidate.lag.cmp(&last.lag))
                    .then(tier.total_cmp(&last.tier));
                match prefix {
                    Ordering::Greater => continue,
                    Ordering::Equal
                        if order::shuffle_bound(
                            seed,
                            candidate.name_hash,
                            candidate.inverse_weight,
                        ) > last.shuffle =>
                    {
                        continue
                    }
                    _ => {}
                }
            }
            let ranked = Ranked {
                mirror,
                protocol: candidate.protocol,
                group,
                behind,
                lag: candidate.lag,
                tier,
                shuffle: order::shuffle_key(seed, candidate.name_hash, candidate.inverse_weight),
            };
            if mirror.monopoly
                && matched
                && self
                    .monopoly
                    .as_ref()
                    .is_none_or(|m| ranked.cmp(m) == Ordering::Less)
            {
                self.monopoly = Some(ranked.clone());
            }
            if self.best.len() >= length {
                match self.best.last() {
                    Some(last) if ranked.cmp(last) == Ordering::Less => {
                        self.best.pop();
                    }
                    _ => continue,
                }
            }
            let at = self
                .best
                .partition_point(|b| b.cmp(&ranked) == Ordering::Less);
            self.best.insert(at, ranked);
        }
    }
}

/// The client as seen by the ranking.
pub(super) struct Place<'c> {
    pub(super) client: &'c Client,
    pub(super) continent: Option<Continent>,
    pub(super) addr: IpAddr,
}

impl Place<'_> {
    /// The group of `mirror` for this client, and its tier inside the group (lower first).
    /// `published` is the list the mirror publishes at its subnet URL, as last fetched.
    pub(super) fn rank(
        &self,
        mirror: &Mirror,
        mirror_continent: Option<Continent>,
        published: &[IpNet],
    ) -> (Group, f64) {
        let longest = super::checks::subnets(mirror, published)
            .iter()
            .filter(|n| n.contains(&self.addr))
            .map(|n| n.prefix_len())
            .max();
        if let Some(len) = longest {
            // Longer prefix, lower tier: a /28 in the building beats the /16 of the university.
            return (Group::Subnet, f64::from(128 - len));
        }
        let client = self.client;
        if client.asn.is_some_and(|asn| mirror.asns.contains(&asn)) {
            return (Group::Asn, 0.0);
        }
        let same_country = matches!(
            (&client.country, &mirror.country),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b)
        );
        if same_country {
            let distance = match (client.coordinates, mirror.coordinates) {
                (Some(a), Some(b)) => order::distance_km(a, b),
                // Without a position the mirror cannot be placed: after those that can.
                _ => f64::INFINITY,
            };
            return (Group::Country, distance);
        }
        if self.continent.is_some() && self.continent == mirror_continent {
            return (Group::Continent, 0.0);
        }
        (Group::Other, 0.0)
    }
}

/// A candidate with its sort keys.
#[derive(Clone)]
pub(super) struct Ranked<'a> {
    pub(super) mirror: &'a Mirror,
    pub(super) protocol: Protocol,
    pub(super) group: Group,
    /// `lag > 0`, kept apart so that the order reads as the rule: current before behind.
    pub(super) behind: bool,
    pub(super) lag: u64,
    pub(super) tier: f64,
    pub(super) shuffle: f64,
}

impl<'a> Ranked<'a> {
    /// Group, then current before behind, then lag, then tier and the shuffle. Each ranking
    /// pass sees either fresh candidates (current, and own-network behind ones) or behind
    /// ones, and the behind pass is appended after the fresh one: see the module docs.
    pub(super) fn cmp(&self, other: &Self) -> Ordering {
        self.group
            .cmp(&other.group)
            .then(self.behind.cmp(&other.behind))
            .then(self.lag.cmp(&other.lag))
            .then(self.tier.total_cmp(&other.tier))
            .then(self.shuffle.total_cmp(&other.shuffle))
            // Equal keys only on a hash collision; the name keeps the order total anyway.
            .then_with(|| self.mirror.name.cmp(&other.mirror.name))
    }

    /// The pick, with the base URL the index found when it admitted the mirror.
    pub(super) fn pick(&self, want: &Want<'_>) -> Option<Pick<'a>> {
        Some(Pick {
            mirror: self.mirror,
            base: self.mirror.base_url(want.version, self.protocol)?,
            protocol: self.protocol,
            group: self.group,
            lag: self.lag,
        })
    }
}
