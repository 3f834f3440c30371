//! `/`: the network at a glance. Mirrors up, degraded and down per IP family; whether the
//! upstream answers and when each repository last changed; the latest upstream changes with
//! how far each has spread; then the table of every mirror.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::history::History;
use super::table::{self, family_label, TableQuery};
use super::{format, svg};
use crate::health::State;
use crate::serve::viewer::Viewer;
use crate::state::Snapshot;

pub(super) fn render(
    snapshot: &Snapshot,
    history: &History,
    query: &TableQuery,
    viewer: &Viewer,
) -> Markup {
    html! {
        h1 { "Mirror status" }
        @if !snapshot.ready {
            p.notice { "The first sweep is not finished yet: some mirrors have not been probed." }
        }
        section.summary {
            (families(snapshot))
            (upstream(snapshot))
            (changes(snapshot, history))
        }
        section #mirrors {
            h2 { "Mirrors" }
            (table::filters(snapshot, query, viewer))
            (table::table(snapshot, history, query, viewer))
        }
    }
}

/// Mirrors by state, per family probed.
fn families(snapshot: &Snapshot) -> Markup {
    let families = &snapshot.config.probe.ip_families;
    let count = |family, state| {
        snapshot
            .mirrors
            .iter()
            .filter_map(|m| m.family(family))
            .filter(|f| f.state == state)
            .count()
    };
    let states = [State::Up, State::Degraded, State::Down, State::Unknown];
    html! {
        div.card {
            h2 { "Mirrors by state" }
            table.states {
                thead { tr { th { "family" } @for s in states { th { (s.as_str()) } } } }
                tbody {
                    @for family in families {
                        tr {
                            th { (family_label(*family)) }
                            @for s in states {
                                td { a.state.(s.as_str()) href={"/?state=" (s.as_str()) "#mirrors"} { (count(*family, s)) } }
                            }
                        }
                    }
                }
            }
            p.hint { "A family without an address is absent, not down." br; "The links filter by overall state." }
        }
    }
}

/// One (version, repo) upstream: when it last changed (the newest of its arches), whether
/// every arch answered, and the arches.
type UpstreamRepo<'a> = (Option<i64>, bool, Vec<&'a str>);

/// Whether the upstream answers, and when each (version, repo) last changed.
fn upstream(snapshot: &Snapshot) -> Markup {
    let now = snapshot.generated_at;
    let mut repos: BTreeMap<(&str, &str), UpstreamRepo<'_>> = BTreeMap::new();
    for t in &snapshot.upstream {
        let entry = repos
            .entry((t.version.as_str(), t.repo.as_str()))
            .or_insert((None, true, Vec::new()));
        entry.0 = entry.0.max(t.current.as_ref().map(|c| c.first_seen));
        entry.1 &= t.up;
        entry.2.push(t.arch.as_str());
    }
    let failing: Vec<_> = snapshot.upstream.iter().filter(|t| !t.up).collect();
    html! {
        div.card {
            h2 { "Upstream" }
            @if snapshot.upstream.is_empty() {
                p { "Not polled yet." }
            } @else if snapshot.upstream_up() {
                p { span.state.up { "reachable" } ": all repositories answered." }
            } @else {
                p { span.state.down { "not reachable" } ": " (failing.len()) " of " (snapshot.upstream.len()) " repository directories failed their last poll." }
                ul {
                    @for t in failing.iter().take(5) {
                        li { code { (t.dir) } @if let Some(e) = &t.last_error { " — " (format::clip(e, 160)) } }
                    }
                }
            }
            @let newest = repos.values().filter_map(|(at, _, _)| *at).max();
            @if let Some(at) = newest {
                p { "Last change " time datetime=(format::iso(at)) title=(format::utc(at)) { (format::ago(at, now)) } "." }
            }
            @if !repos.is_empty() {
                details {
                summary { "Each repository's last change (" (repos.len()) ")" }
                table.upstream {
                    thead { tr { th { "version" } th { "repo" } th { "last changed" } th { "arches" } } }
                    tbody {
                        @for ((version, repo), (changed, up, arches)) in &repos {
                            tr.down[!*up] {
                                td { (version) }
                                td { (repo) }
                                td { @if let Some(at) = changed { time datetime=(format::iso(*at)) title=(format::utc(*at)) { (format::ago(*at, now)) } } @else { "—" } }
                                td { (arches.join(" ")) }
                            }
                        }
                    }
                }
                }
            }
        }
    }
}

/// How long `change` took to reach half, 90 % and all of the mirrors expected to carry it,
/// from its arches' propagation (the slowest arch counts).
fn reach_times(history: &History, change: &super::history::UpstreamChange) -> Markup {
    let arches: Vec<&crate::serve::propagation::Change> = history
        .propagation
        .changes
        .iter()
        .filter(|p| {
            p.version == change.version
                && p.repo == change.repo
                && change
                    .arches
                    .iter()
                    .any(|(arch, sha)| *arch == p.arch && *sha == p.sha256)
        })
        .collect();
    // `None` until every arch has reached the share.
    let slowest = |share: f64| -> Option<i64> {
        arches
            .iter()
            .map(|c| c.time_to(share))
            .collect::<Option<Vec<i64>>>()?
            .into_iter()
            .max()
    };
    html! {
        @if arches.is_empty() { "—" } @else {
            @for (share, label) in [(0.5, "50 %"), (0.9, "90 %"), (1.0, "all")] {
                span.reach { (label) " " @match slowest(share) { Some(s) => { (format::duration(s.unsigned_abs())) } None => { "not yet" } } } " "
            }
        }
    }
}

/// The latest upstream changes, newest first, with the share of mirrors current and a chart
/// of how that share grew.
fn changes(snapshot: &Snapshot, history: &History) -> Markup {
    let now = snapshot.generated_at;
    html! {
        div.card.changes {
            h2 { "Latest upstream changes" }
            @if history.changes.is_empty() {
                p.hint { "None seen since the history began. Each new version of a" br; "repository appears here with how far it has spread." }
            } @else {
                table.changes {
                    thead { tr { th { "repository" } th { "changed" } th { "copies current" } th { "spread since" } th title="Time to reach that share of the mirrors expected to carry it (the slowest arch)" { "reached" } } }
                    tbody {
                        @for change in history.changes.iter().rev() {
                            tr {
                                @let arches: Vec<&str> = change.arches.iter().map(|(a, _)| a.as_str()).collect();
                                td {
                                    (change.version) " " b { (change.repo) } " "
                                    @match arches.as_slice() {
                                        [one] => { small { (one) } }
                                        _ => { small title=(arches.join(" ")) { (arches.len()) " arches" } }
                                    }
                                }
                                td { time datetime=(format::iso(change.at)) title=(format::utc(change.at)) { (format::ago(change.at, now)) } }
                                td { @match change.share() { Some(s) => { (format::percent(s)) } None => { "—" } } }
                                td { (svg::spread_chart(change.at, &change.spread, now)) }
                                td.reach { (reach_times(history, change)) }
                            }
                        }
                    }
                }
            }
        }
    }
}
