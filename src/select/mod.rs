//! Mirror selection: which mirrors one client is sent to, and in which order. A pure function
//! of (query, client, snapshot, `now`): no I/O, no clock, no lock, so the HTTP handlers call it
//! with the snapshot they already hold and the tests call it with hand-built ones.
//!
//! # Who is listed
//! A mirror qualifies for a [`Want`] when all of these hold (each rule is one function of
//! [`checks`], which the status page's checklist evaluates too):
//! - it is enabled in the snapshot's configuration;
//! - its `FamilySnapshot` for the client's family exists (an IPv4-mapped IPv6 address counts
//!   as IPv4) and is `Up` or `Degraded` (`Degraded` only means that *some* files failed, often
//!   404s for an arch the mirror lacks; the exact file's verdict below is what counts);
//! - the wanted protocol (or, with none wanted, https and else http) answered in the last
//!   sweep of that family, and the mirror has an address for the version over it;
//! - its copy of the exact (version, repo, arch) is `current`, or `behind` by at most
//!   `serve.max_lag`. Without an arch, every arch of the repo the mirror carries must be, and it
//!   must carry at least one: an arch it answers 404 for is one it does not carry. `unknown`,
//!   `incomplete`, `missing` and `error` copies are never listed, nor estimated `behind` ones
//!   (content upstream never showed: no metalink alternate can match it);
//! - a private mirror only for a client inside one of its subnets or ASNs.
//!
//! # Order
//! Freshness first, then locality. A copy is *fresh* when it is `current`, or when it is
//! `behind` by at most `serve.own_network_max_lag` (capped at `serve.max_lag`) on a mirror in
//! the client's subnet or ASN group (the own-network exception: an ISP's or campus's own
//! mirror a few minutes behind keeps its place). Every other qualifying copy is *behind*.
//!
//! 1. The fresh copies, ordered by locality group: subnet match → same ASN → same country →
//!    same continent → the rest ([`Group`]). Within a group, current copies first, then the
//!    own-network behind ones by increasing lag.
//! 2. Only when fewer than `serve.mirrorlist_length` fresh copies qualify for this client (in
//!    all groups together), behind copies (lag at most `serve.max_lag`) fill the rest of the
//!    list, after every fresh one, again by group and within a group by increasing lag.
//!
//! So a behind copy never comes before a current copy of the same or a farther group (the
//! own-network exception aside), and never while enough current mirrors exist.
//!
//! Inside a group, after freshness and lag: in the subnet group the most specific prefix
//! comes first; in the country group the nearest mirror comes first when both sides have
//! coordinates (mirrors without come after those with). Every remaining tie is broken by a
//! weighted shuffle (weight: the mirror's score, at least 1) seeded by the client's /24 or
//! /64, the sticky window and the query, so one network sees one order for
//! `serve.sticky_for`. An eligible private monopoly mirror matching the client is returned
//! alone, a fresh one before a behind one: for its network it is the only reachable mirror.
//! The list is cut at `serve.mirrorlist_length`.
//!
//! Vault repos have no verdicts (they are not probed), so they never qualify: the handler
//! answers them with the vault. Subnets published at a URL (`subnets: https://...`) are not
//! fetched here (no I/O): [`crate::subnets`] fetches them and the snapshot carries the last
//! good list of each, which the [`Index`] takes once per snapshot and the ranking matches
//! exactly like listed subnets. Until a list has been fetched, such a mirror matches by ASN
//! only.

use url::Url;

use crate::config::geo::continent_of;
use crate::config::{Arch, Config, Mirror, Protocol, Repo, Version};
use crate::state::Snapshot;

pub mod checks;
mod client;
mod index;
mod order;
mod rank;
#[cfg(test)]
mod tests;

pub use client::{client_addr, Client};
pub use index::{Index, IndexCache};
use rank::{Admit, Place, TopK};

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
    /// Seconds the copy is behind upstream: 0 when current. Without an arch, the largest lag
    /// of the arches the mirror carries.
    pub lag: u64,
}

impl Pick<'_> {
    /// The copy is behind upstream (not current).
    pub fn behind(&self) -> bool {
        self.lag > 0
    }
}

/// Protocols in order of preference when the client names none: https first. Packages are
/// signature-checked either way, but https also protects the metadata (rarely signed) and
/// hides what is being installed.
const PREFERENCE: [Protocol; 2] = [Protocol::Https, Protocol::Http];

/// The mirrors for `client`, best first, at most `serve.mirrorlist_length` of them. Builds a
/// throw-away [`Index`]; a server answering many requests uses [`select_with`] and an
/// [`IndexCache`].
pub fn select<'a>(
    snapshot: &'a Snapshot,
    want: &Want<'_>,
    client: &Client,
    now: i64,
) -> Vec<Pick<'a>> {
    select_with(&Index::new(snapshot), snapshot, want, client, now)
}

/// [`select`] with the per-snapshot work taken from `index`, which must have been built for
/// `snapshot`. Per request, only what depends on the client is left: its group and tier for
/// each qualifying mirror, the seeded shuffle and the cut. The current copies are ranked
/// first, alone; the behind ones are read only for the client's own network (a short prefix
/// of the list, by lag) and when fewer than `serve.mirrorlist_length` current ones qualify.
pub fn select_with<'a>(
    index: &Index,
    snapshot: &'a Snapshot,
    want: &Want<'_>,
    client: &Client,
    now: i64,
) -> Vec<Pick<'a>> {
    let config: &'a Config = &snapshot.config;
    let serve = &config.serve;
    let addr = client.canonical_addr();
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
    let lists = index.candidates(snapshot, want, client.family());
    let length = usize::try_from(serve.mirrorlist_length.get()).unwrap_or(usize::MAX);
    let own_max = serve.own_network_max_lag.min(serve.max_lag).as_secs();
    let mut top = TopK {
        config,
        index,
        place: &place,
        seed,
        length,
        best: Vec::with_capacity(length.min(lists.current.len()) + 1),
        monopoly: None,
        qualified: 0,
    };
    // 1. Current copies, and behind ones on the client's own network within `own_max`:
    //    ranked together, these by lag after the current ones of their group.
    top.rank(lists.current.iter(), Admit::Any);
    let own = lists
        .behind
        .iter()
        .take_while(|c| c.lag <= own_max)
        .filter(|c| c.local);
    top.rank(own, Admit::OwnNetwork);
    let (mut best, monopoly, fresh) = (top.best, top.monopoly, top.qualified);

    // 2. Fewer than `length` fresh ones for this client: behind copies fill the rest, after
    //    every fresh one, by group and then lag. A monopoly mirror that is behind is looked
    //    for even with the list full: for its network it is the only choice.
    let fill = length.saturating_sub(fresh);
    let mut tail = Vec::new();
    let mut tail_monopoly = None;
    if fill > 0 || monopoly.is_none() && lists.monopoly {
        // With `fill > 0` every fresh candidate is in `best`: those ranked in step 1 are
        // not ranked again.
        let ranked_before = |c: &&index::Candidate| {
            c.local
                && c.lag <= own_max
                && config
                    .mirrors
                    .get(c.mirror)
                    .is_some_and(|m| best.iter().any(|r| std::ptr::eq(r.mirror, m)))
        };
        let mut rest = TopK {
            config,
            index,
            place: &place,
            seed,
            length: fill,
            best: Vec::with_capacity(fill.min(lists.behind.len()) + 1),
            monopoly: None,
            qualified: 0,
        };
        rest.rank(
            lists.behind.iter().filter(|c| !ranked_before(c)),
            Admit::Any,
        );
        (tail, tail_monopoly) = (rest.best, rest.monopoly);
    }

    // A monopoly mirror matching the client is the whole answer, but only while it qualifies:
    // a broken campus mirror must not leave its campus with nothing. A current (or own
    // network, within bound) one before a behind one.
    if let Some(only) = monopoly.or(tail_monopoly) {
        return only.pick(want).into_iter().collect();
    }
    best.append(&mut tail);
    best.iter().filter_map(|r| r.pick(want)).collect()
}

/// `<base><version>/<repo path>`, with `$basearch` replaced, or kept literal when `arch` is
/// `None` (what AlmaLinux answers, see docs/formats.md), e.g.
/// `http://mirror.example.net/almalinux/9.8/BaseOS/$basearch/os/`.
pub fn url_for(pick: &Pick<'_>, version: &Version, repo: &Repo, arch: Option<Arch>) -> String {
    let mut url = String::new();
    write_url(&mut url, pick, version, repo, arch);
    url
}

/// [`url_for`], appended to `out`: a mirror list writes its lines without a `String` each.
pub fn write_url(
    out: &mut String,
    pick: &Pick<'_>,
    version: &Version,
    repo: &Repo,
    arch: Option<Arch>,
) {
    out.push_str(pick.base.as_str());
    out.push_str(&version.name);
    out.push('/');
    match arch {
        None => out.push_str(&repo.path),
        Some(arch) => {
            let mut parts = repo.path.split("$basearch");
            out.push_str(parts.next().unwrap_or_default());
            for part in parts {
                out.push_str(arch.as_str());
                out.push_str(part);
            }
        }
    }
}
