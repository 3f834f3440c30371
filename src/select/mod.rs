//! Mirror selection: which mirrors one client is sent to, and in which order. A pure function
//! of (query, client, snapshot, `now`): no I/O, no clock, no lock, so the HTTP handlers call it
//! with the snapshot they already hold and the tests call it with hand-built ones.
//!
//! # Who is listed
//! A mirror qualifies for a [`Want`] when all of these hold:
//! - it is enabled in the snapshot's configuration;
//! - its [`FamilySnapshot`] for the client's family exists (an IPv4-mapped IPv6 address counts
//!   as IPv4) and is `Up` or `Degraded` (`Degraded` only means that *some* files failed, often
//!   404s for an arch the mirror lacks; the exact file's verdict below is what counts);
//! - the wanted protocol (or, with none wanted, https and else http) answered in the last
//!   sweep of that family, and the mirror has an address for the version over it;
//! - its copy of the exact (version, repo, arch) is `current`, or `behind` by at most
//!   `serve.max_lag`. Without an arch, every arch of the repo the mirror carries must be, and it
//!   must carry at least one: an arch it answers 404 for is one it does not carry. `unknown`,
//!   `incomplete`, `missing` and `error` copies are never listed;
//! - a private mirror only for a client inside one of its subnets or ASNs.
//!
//! # Order
//! Groups first: subnet match → same ASN → same country → same continent → the rest
//! ([`Group`]). Inside the subnet group the most specific prefix comes first; inside the
//! country group the nearest mirror comes first when both sides have coordinates (mirrors
//! without come after those with). Every remaining tie is broken by a weighted shuffle (weight:
//! the mirror's score, at least 1) seeded by the client's /24 or /64, the sticky window and the
//! query, so one network sees one order for `serve.sticky_for`. An eligible private monopoly
//! mirror matching the client is returned alone. The list is cut at `serve.mirrorlist_length`.
//!
//! Vault repos have no verdicts (they are not probed), so they never qualify: the handler
//! answers them with the vault. Subnets published at a URL (`subnets: https://...`) are not
//! fetched here (no I/O): until someone resolves them into the configuration, such a mirror
//! matches by ASN only.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;

use url::Url;

use crate::config::geo::{continent_of, Continent};
use crate::config::{Arch, Config, Mirror, Protocol, Repo, Subnets, Version};
use crate::freshness::Verdict;
use crate::health::State;
use crate::state::{FamilySnapshot, Snapshot};

mod client;
mod order;
#[cfg(test)]
mod tests;

pub use client::{client_addr, Client};

/// What the client asked for. `version` and `repo` come from the snapshot's own layout (the
/// handler resolves aliases and rejects unknown names before selection).
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    pub version: &'a Version,
    pub repo: &'a Repo,
    /// `None`: the answer keeps `$basearch` literal, see the module docs.
    pub arch: Option<Arch>,
    /// `None`: https where it works, else http.
    pub protocol: Option<Protocol>,
}

/// Why a mirror is where it is in the answer, most preferred first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Subnet,
    Asn,
    Country,
    Continent,
    Other,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Subnet => "subnet",
            Group::Asn => "asn",
            Group::Country => "country",
            Group::Continent => "continent",
            Group::Other => "other",
        }
    }
}

/// One mirror of the answer.
#[derive(Debug, Clone, Copy)]
pub struct Pick<'a> {
    pub mirror: &'a Mirror,
    /// The mirror's base URL for the wanted version over `protocol` (ends in `/`).
    pub base: &'a Url,
    pub protocol: Protocol,
    pub group: Group,
}

/// Protocols in order of preference when the client names none: https first. Packages are
/// signature-checked either way, but https also protects the metadata (rarely signed) and
/// hides what is being installed.
const PREFERENCE: [Protocol; 2] = [Protocol::Https, Protocol::Http];

/// The mirrors for `client`, best first, at most `serve.mirrorlist_length` of them.
pub fn select<'a>(
    snapshot: &'a Snapshot,
    want: &Want<'_>,
    client: &Client,
    now: i64,
) -> Vec<Pick<'a>> {
    let config: &'a Config = &snapshot.config;
    let serve = &config.serve;
    let addr = client.canonical_addr();
    let family = client.family();
    let max_lag = serve.max_lag.as_secs();
    let seed = order::seed(addr, now, serve.sticky_for, want);
    // `country=` without GeoIP gives a country but no continent: derive it, so that the
    // continent group still works.
    let continent = client.continent.or_else(|| {
        let country = client.country.as_deref()?;
        continent_of(&country.to_ascii_uppercase())
    });
    let place = Place {
        client,
        continent,
        addr,
    };
    // The snapshot may still list a mirror removed or disabled by a reload in flight.
    let configured: HashMap<&str, &'a Mirror> = config
        .enabled_mirrors()
        .map(|m| (m.name.as_str(), m))
        .collect();

    let mut ranked: Vec<Ranked<'a>> = Vec::new();
    for snap in &snapshot.mirrors {
        let Some(&mirror) = configured.get(snap.name.as_str()) else {
            continue;
        };
        let Some(fam) = snap.family(family).filter(|f| serving(f.state)) else {
            continue;
        };
        if !content_ok(fam, want, max_lag) {
            continue;
        }
        let Some((protocol, base)) = protocol_for(mirror, fam, want) else {
            continue;
        };
        let (group, tier) = place.rank(mirror);
        if mirror.private && !matches!(group, Group::Subnet | Group::Asn) {
            continue;
        }
        ranked.push(Ranked {
            pick: Pick {
                mirror,
                base,
                protocol,
                group,
            },
            tier,
            shuffle: order::shuffle_key(seed, &mirror.name, snap.score),
        });
    }

    // A monopoly mirror matching the client is the whole answer, but only while it qualifies:
    // a broken campus mirror must not leave its campus with nothing.
    let monopoly = ranked
        .iter()
        .filter(|r| r.pick.mirror.monopoly && matches!(r.pick.group, Group::Subnet | Group::Asn))
        .min_by(|a, b| a.cmp(b));
    if let Some(only) = monopoly {
        return vec![only.pick];
    }

    ranked.sort_by(Ranked::cmp);
    let length = usize::try_from(serve.mirrorlist_length).unwrap_or(usize::MAX);
    ranked.into_iter().take(length).map(|r| r.pick).collect()
}

/// `<base><version>/<repo path>`, with `$basearch` replaced, or kept literal when `arch` is
/// `None` (what AlmaLinux answers, see COMPAT.md), e.g.
/// `http://mirror.example.net/almalinux/9.8/BaseOS/$basearch/os/`.
pub fn url_for(pick: &Pick<'_>, version: &Version, repo: &Repo, arch: Option<Arch>) -> String {
    let path = match arch {
        Some(arch) => repo.path_for(arch),
        None => repo.path.clone(),
    };
    format!("{}{}/{}", pick.base, version.name, path)
}

/// Whether a family in `state` may be offered. `Degraded` is accepted because it means only
/// that *some* files failed in recent sweeps — most often a 404 for an arch the mirror does
/// not carry, which would otherwise hide it for good — while the verdict for the exact file
/// asked for, checked separately, is the evidence that matters. `Unknown` (never swept) and
/// `Down` are not: their verdicts may be left over from older sweeps.
fn serving(state: State) -> bool {
    matches!(state, State::Up | State::Degraded)
}

/// Whether a verdict lets a copy be offered.
fn acceptable(verdict: &Verdict, max_lag: u64) -> bool {
    match verdict {
        Verdict::Current => true,
        Verdict::Behind { lag_seconds, .. } => *lag_seconds <= max_lag,
        // A hash never seen upstream cannot be vouched for: a metalink client would reject it.
        Verdict::Unknown { .. }
        | Verdict::Missing
        | Verdict::Incomplete { .. }
        | Verdict::Error { .. } => false,
    }
}

/// The content rule of the module docs for one family.
fn content_ok(fam: &FamilySnapshot, want: &Want<'_>, max_lag: u64) -> bool {
    let (version, repo) = (want.version.name.as_str(), want.repo.name.as_str());
    if let Some(arch) = want.arch {
        return fam
            .verdict(version, repo, arch.as_str())
            .is_some_and(|v| acceptable(v, max_lag));
    }
    let mut carried = false;
    for verdict in fam.arch_verdicts(version, repo) {
        match verdict {
            // A 404 means the mirror does not carry that arch: it says nothing about the others.
            Verdict::Missing => {}
            verdict if acceptable(verdict, max_lag) => carried = true,
            // One bad arch spoils the `$basearch` answer: a client of that arch would get it.
            _ => return false,
        }
    }
    carried
}

/// The protocol and base URL to offer: the wanted one, or the first of [`PREFERENCE`] that
/// answered in this family's last sweep and that the mirror has an address for.
fn protocol_for<'a>(
    mirror: &'a Mirror,
    fam: &FamilySnapshot,
    want: &Want<'_>,
) -> Option<(Protocol, &'a Url)> {
    PREFERENCE
        .into_iter()
        .filter(|p| want.protocol.is_none_or(|w| w == *p))
        .filter(|p| fam.protocols.get(p).copied().unwrap_or(false))
        .find_map(|p| Some((p, mirror.base_url(want.version, p)?)))
}

/// The client as seen by the ranking.
struct Place<'c> {
    client: &'c Client,
    continent: Option<Continent>,
    addr: IpAddr,
}

impl Place<'_> {
    /// The group of `mirror` for this client, and its tier inside the group (lower first).
    fn rank(&self, mirror: &Mirror) -> (Group, f64) {
        let longest = match &mirror.subnets {
            Subnets::List(nets) => nets
                .iter()
                .filter(|n| n.contains(&self.addr))
                .map(|n| n.prefix_len())
                .max(),
            Subnets::Url(_) => None,
        };
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
        let mirror_continent = mirror
            .continent
            .or_else(|| mirror.country.as_deref().and_then(continent_of));
        if self.continent.is_some() && self.continent == mirror_continent {
            return (Group::Continent, 0.0);
        }
        (Group::Other, 0.0)
    }
}

/// A candidate with its sort keys.
struct Ranked<'a> {
    pick: Pick<'a>,
    tier: f64,
    shuffle: f64,
}

impl Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pick
            .group
            .cmp(&other.pick.group)
            .then(self.tier.total_cmp(&other.tier))
            .then(self.shuffle.total_cmp(&other.shuffle))
            // Equal keys only on a hash collision; the name keeps the order total anyway.
            .then_with(|| self.pick.mirror.name.cmp(&other.pick.mirror.name))
    }
}
