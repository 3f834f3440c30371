//! "Why is this mirror in or out of the mirror list?": the selection rules evaluated for one
//! mirror, per IP family. Every verdict here comes from a function of
//! [`crate::select::checks`], the ones selection itself applies, so the page and the mirror
//! list cannot disagree. What depends on the client (private mirrors, locality) is stated,
//! not evaluated.

use maud::{html, Markup};

use super::format;
use super::table::family_label;
use crate::config::{Config, IpFamily, Mirror};
use crate::freshness::Verdict;
use crate::select::checks::{acceptable, acceptable_family, enabled, protocol_for};
use crate::select::Want;
use crate::state::{FamilySnapshot, MirrorSnapshot, RepoVerdict};

/// Non-qualifying repositories listed by name before the rest are only counted.
const LISTED: usize = 12;

/// One rule's outcome.
struct Check {
    pass: bool,
    rule: String,
    detail: String,
}

/// Whether this copy may be listed, and why not: the selection's content rule.
pub(super) fn qualifies(config: &Config, verdict: &Verdict) -> bool {
    acceptable(verdict, config.serve.max_lag.as_secs()).is_some()
}

/// The checks of one family, and how many repositories qualify over it.
fn family_checks(config: &Config, mirror: &Mirror, fam: &FamilySnapshot) -> (Vec<Check>, usize) {
    let name = family_label(fam.family);
    let mut checks = vec![Check {
        pass: acceptable_family(fam.state),
        rule: format!("{name} is up or degraded"),
        detail: format!("it is {}", fam.state.as_str()),
    }];
    let layout = &config.layout;
    for version in &layout.versions {
        let Some(repo) = layout
            .repos
            .iter()
            .find(|r| !r.vault && r.carried_by(version))
        else {
            continue;
        };
        let want = Want {
            version,
            repo,
            arch: None,
            protocol: None,
        };
        let offered = protocol_for(mirror, fam, &want);
        let answered: Vec<&str> = fam
            .protocols
            .iter()
            .map(|(p, up)| if *up { p.as_str() } else { "" })
            .filter(|p| !p.is_empty())
            .collect();
        checks.push(Check {
            pass: offered.is_some(),
            rule: format!("a protocol answered for {} over {name}", version.name),
            detail: match offered {
                Some((p, url)) => format!("offered over {}: {url}", p.as_str()),
                None if answered.is_empty() => "none answered in the last sweep".into(),
                None => format!(
                    "answered: {}, but no address for this version",
                    answered.join(", ")
                ),
            },
        });
    }
    let failing: Vec<&RepoVerdict> = fam
        .repos
        .iter()
        .filter(|r| !qualifies(config, &r.verdict))
        .collect();
    let good = fam.repos.len() - failing.len();
    let mut detail: Vec<String> = failing
        .iter()
        .take(LISTED)
        .map(|r| {
            format!(
                "{} {} {}: {}",
                r.version(),
                r.repo(),
                r.arch(),
                verdict_text(&r.verdict)
            )
        })
        .collect();
    if failing.len() > LISTED {
        detail.push(format!("and {} more", failing.len() - LISTED));
    }
    checks.push(Check {
        pass: good > 0,
        rule: format!(
            "copies current, or behind by at most {}",
            format::duration(config.serve.max_lag.as_secs())
        ),
        detail: match failing.is_empty() {
            true => format!("all {good} qualify"),
            false => format!(
                "{good} of {} qualify; not: {}",
                fam.repos.len(),
                detail.join("; ")
            ),
        },
    });
    (checks, good)
}

/// A verdict in words: `behind 2 versions (3 h)`, `error: timeout`.
pub(super) fn verdict_text(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Current => "current".into(),
        Verdict::Behind {
            estimated: true,
            lag_seconds,
            ..
        } => format!(
            "behind at least {} (estimated: content upstream never served)",
            format::duration(*lag_seconds)
        ),
        Verdict::Behind {
            versions,
            lag_seconds,
            ..
        } => match versions.map(std::num::NonZeroU32::get) {
            Some(1) => format!("behind 1 version ({})", format::duration(*lag_seconds)),
            Some(n) => format!("behind {n} versions ({})", format::duration(*lag_seconds)),
            None => format!("behind ({})", format::duration(*lag_seconds)),
        },
        Verdict::Unknown { newer: true, .. } => "unknown (newer than upstream)".into(),
        Verdict::Unknown {
            lag_seconds: Some(lag),
            ..
        } => format!("unknown (about {} old)", format::duration(*lag)),
        Verdict::Unknown { .. } => "unknown (content upstream never served)".into(),
        Verdict::Missing => "missing (404)".into(),
        Verdict::Incomplete { missing } => {
            format!("incomplete ({} data files missing)", missing.len())
        }
        Verdict::Error { reason } => format!("error: {}", reason.as_str()),
    }
}

pub(super) fn render(config: &Config, mirror: &Mirror, snap: Option<&MirrorSnapshot>) -> Markup {
    let is_enabled = enabled(mirror);
    let families: Vec<(IpFamily, Option<&FamilySnapshot>)> = config
        .probe
        .ip_families
        .iter()
        .map(|f| (*f, snap.and_then(|s| s.family(*f))))
        .collect();
    html! {
        section.checklist #why {
            h2 { "Why it is in or out of the mirror list" }
            ul.checks {
                (item(&Check { pass: is_enabled, rule: "enabled in the configuration".into(), detail: if is_enabled { "yes".into() } else { "disabled: never listed".into() } }))
            }
            @for (family, fam) in &families {
                h3 { (family_label(*family)) " clients" }
                @match fam {
                    None => {
                        ul.checks { (item(&Check { pass: false, rule: format!("probed over {}", family_label(*family)), detail: "not swept yet, or no address in this family".into() })) }
                        p.verdict.unlisted { "Not listed for " (family_label(*family)) " clients." }
                    }
                    Some(fam) => {
                        @let (checks, good) = family_checks(config, mirror, fam);
                        ul.checks { @for check in &checks { (item(check)) } }
                        @if is_enabled && checks.iter().all(|c| c.pass) {
                            p.verdict.listed { "Listed for " (family_label(*family)) " clients asking for any of the " (good) " qualifying repositories" @if mirror.private { ", if they are inside its subnets or ASNs (a private mirror)" } "." }
                        } @else {
                            p.verdict.unlisted { "Not listed for " (family_label(*family)) " clients." }
                        }
                    }
                }
            }
            p.hint { "Where it comes in a list then depends on the client: current copies before behind ones, then subnet, ASN, country and continent." }
        }
    }
}

fn item(check: &Check) -> Markup {
    html! {
        li.pass[check.pass].fail[!check.pass] {
            span.mark { @if check.pass { "✓" } @else { "✗" } }
            " " (check.rule) ": " span.detail { (check.detail) }
        }
    }
}
