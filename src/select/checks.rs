//! The rules that decide whether a mirror may be offered, one function each. Selection
//! ([`super::index`]) applies them to build its candidate lists, and the status page's "why
//! in or out" checklist evaluates the very same functions for one mirror, so the page cannot
//! disagree with the mirror list.

use ipnet::IpNet;
use url::Url;

use super::{Client, Want, PREFERENCE};
use crate::config::{Mirror, Protocol, Subnets};
use crate::freshness::Verdict;
use crate::health::State;
use crate::state::FamilySnapshot;

/// Whether a configured mirror takes part in selection at all.
pub fn enabled(mirror: &Mirror) -> bool {
    mirror.enabled
}

/// The subnets of `mirror`: those listed in the configuration, or, for a list published at
/// a URL, `published` (the list as last fetched; empty before the first fetch).
pub fn subnets<'a>(mirror: &'a Mirror, published: &'a [IpNet]) -> &'a [IpNet] {
    match &mirror.subnets {
        Subnets::List(nets) => nets,
        Subnets::Url(_) => published,
    }
}

/// Whether `client` is on one of `mirror`'s own networks: inside one of its subnets, or in
/// one of its ASNs. A private mirror is for such clients only, in the mirror list and in
/// the status API and pages alike.
pub fn on_own_network(client: &Client, mirror: &Mirror, published: &[IpNet]) -> bool {
    let addr = client.canonical_addr();
    subnets(mirror, published).iter().any(|n| n.contains(&addr))
        || client.asn.is_some_and(|asn| mirror.asns.contains(&asn))
}

/// Whether a family in `state` may be offered. `Degraded` is accepted because it means only
/// that *some* files failed in recent sweeps — most often a 404 for an arch the mirror does
/// not carry, which would otherwise hide it for good — while the verdict for the exact file
/// asked for, checked separately, is the evidence that matters. `Unknown` (never swept) and
/// `Down` are not: their verdicts may be left over from older sweeps.
pub fn acceptable_family(state: State) -> bool {
    matches!(state, State::Up | State::Degraded)
}

/// Whether a verdict lets a copy be offered, and its lag: `Some(0)` for a current copy, the
/// lag (at least 1 s, so that 0 always means current) for one behind by at most `max_lag`.
pub fn acceptable(verdict: &Verdict, max_lag: u64) -> Option<u64> {
    match verdict {
        Verdict::Current => Some(0),
        // An estimated copy's hash is one upstream never showed: no alternate of a metalink
        // can match it, so it is never offered (neither in a mirror list nor a metalink).
        Verdict::Behind {
            estimated: true, ..
        } => None,
        Verdict::Behind { lag_seconds, .. } => {
            (*lag_seconds <= max_lag).then(|| (*lag_seconds).max(1))
        }
        // A hash never seen upstream cannot be vouched for: a metalink client would reject it.
        Verdict::Unknown { .. }
        | Verdict::Missing
        | Verdict::Incomplete { .. }
        | Verdict::Error { .. } => None,
    }
}

/// The content rule of the module docs for one family: `None` when the copy does not
/// qualify, else its lag as [`acceptable`] gives it (without an arch, the largest of the
/// arches the mirror carries).
pub fn content_lag(fam: &FamilySnapshot, want: &Want<'_>, max_lag: u64) -> Option<u64> {
    let (version, repo) = (want.version.name.as_str(), want.repo.name.as_str());
    if let Some(arch) = want.arch {
        return acceptable(fam.verdict(version, repo, arch.as_str())?, max_lag);
    }
    let mut carried: Option<u64> = None;
    for verdict in fam.arch_verdicts(version, repo) {
        // A 404 means the mirror does not carry that arch: it says nothing about the others.
        if matches!(verdict, Verdict::Missing) {
            continue;
        }
        // One bad arch spoils the `$basearch` answer: a client of that arch would get it.
        let lag = acceptable(verdict, max_lag)?;
        carried = Some(carried.map_or(lag, |l| l.max(lag)));
    }
    carried
}

/// The protocol and base URL to offer: the wanted one, or the first of [`PREFERENCE`] that
/// answered in this family's last sweep and that the mirror has an address for.
pub fn protocol_for<'a>(
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
