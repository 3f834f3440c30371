//! `/mirrors/{name}`: one mirror for its admin. Why it is in or out of the mirror list, what
//! it declares, each family's health and TLS expiry, every repository's verdict grouped by
//! version, the recent sweeps with their phases, and the last state changes.

use maud::{html, Markup};

use super::checklist::{self, qualifies, verdict_text};
use super::history::History;
use super::table::{family_label, sponsor, urlencode};
use super::{format, svg};
use crate::config::{Config, Mirror};
use crate::freshness::schedule;
use crate::serve::viewer::Viewer;
use crate::state::{FamilySnapshot, MirrorSnapshot, Phases, Snapshot};

/// `None` when no mirror of that name is configured, or when `viewer` may not see it.
pub(super) fn render(
    snapshot: &Snapshot,
    history: &History,
    name: &str,
    viewer: &Viewer,
) -> Option<Markup> {
    let config = &snapshot.config;
    let mirror = config
        .mirrors
        .iter()
        .find(|m| m.name == name)
        .filter(|m| viewer.sees(snapshot, m))?;
    let snap = snapshot.mirror(name);
    let now = snapshot.generated_at;
    let past = history.mirrors.get(name);
    let state = match (mirror.enabled, snap) {
        (false, _) => "disabled",
        (true, Some(s)) => s.state.as_str(),
        (true, None) => "unknown",
    };
    let api = format!("/api/v1/mirrors/{}", urlencode(name));
    let dashboard = config.serve.dashboard_url.as_ref().map(|u| {
        u.as_str()
            .replace("%7Bmirror%7D", &urlencode(name))
            .replace("{mirror}", &urlencode(name))
    });
    Some(html! {
        h1 { (name) " " span.state.(state) { (state) } }
        p.links {
            a href=(api) { "JSON API" }
            @if let Some(url) = &dashboard { " · " a href=(url) { "dashboard" } }
            " · " a href="/" { "all mirrors" }
        }
        (facts(config, mirror, snap, now))
        (syncs(&history.propagation.syncs_of(name), now))
        @if let Some(past) = past {
            section {
                h2 { "Lag over the last sweeps" }
                (svg::lag_sparkline(&past.lag, svg::SPARK_LARGE))
            }
        }
        (checklist::render(config, mirror, snap))
        @if let Some(snap) = snap {
            @for fam in &snap.families { (family(fam, now)) }
            (verdicts(config, snap, now))
        }
        section {
            h2 { "State changes" }
            @match past.filter(|p| !p.states.is_empty()) {
                None => { p.hint { "None recorded yet." } }
                Some(past) => {
                    table {
                        thead { tr { th { "when" } th { "from" } th { "to" } } }
                        tbody {
                            @for c in past.states.iter().rev() {
                                tr {
                                    td { time datetime=(format::iso(c.at)) { (format::utc(c.at)) } " (" (format::ago(c.at, now)) ")" }
                                    td { span.state.(c.from.as_str()) { (c.from.as_str()) } }
                                    td { span.state.(c.to.as_str()) { (c.to.as_str()) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The moments the mirror was seen moving to a newer upstream version, and the typical gap
/// between them: its observed cadence, to set against what it declares.
fn syncs(times: &[i64], now: i64) -> Markup {
    let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    html! {
        dl.facts {
            dt { "Observed syncs" }
            dd {
                @match times.last() {
                    None => { "none among the upstream changes kept" }
                    Some(last) => {
                        (times.len()) " seen; the last " (format::ago(*last, now))
                        @if let Some(median) = gaps.get(gaps.len() / 2) { ", typically " (format::duration(median.unsigned_abs())) " apart" }
                    }
                }
            }
        }
    }
}

fn facts(config: &Config, mirror: &Mirror, snap: Option<&MirrorSnapshot>, now: i64) -> Markup {
    let place: Vec<&str> = [&mirror.city, &mirror.state_province, &mirror.country]
        .into_iter()
        .filter_map(|s| s.as_deref())
        .collect();
    let upstream_interval = config.freshness.upstream_interval;
    let tls = snap
        .into_iter()
        .flat_map(|s| &s.families)
        .filter_map(|f| f.tls_not_after)
        .min();
    html! {
        dl.facts {
            dt { "Sponsor" } dd { (sponsor(mirror)) @if mirror.sponsor.is_none() { "—" } }
            dt { "Location" } dd { (place.join(", ")) @if let Some(c) = mirror.continent { " (" (c.code()) ")" } }
            dt { "Score" } dd { @match snap { Some(s) => { (format!("{:.0}", s.score)) " of 100" } None => { "not swept yet" } } }
            dt { "Declared update frequency" } dd { @match mirror.update_frequency { Some(f) => { "every " (format::duration(f.as_secs())) } None => { "not declared" } } }
            @if let Some(s) = schedule::schedule(mirror, snap, upstream_interval) {
                dt { "Sync schedule" } dd.reason[s.behind] {
                    @if s.behind { b { "behind schedule" } } @else { "kept" }
                    ": largest lag " @match s.max_lag_seconds { Some(l) => { (format::duration(l)) } None => { "none" } }
                    ", allowed " (format::duration(s.allowed_lag_seconds)) " (twice the declared frequency and one upstream poll)"
                }
            }
            dt { "TLS certificate" } dd { @match tls { Some(t) => { "expires " (format::expiry(t, now)) " (" (format::utc(t)) ")" } None => { "none seen" } } }
            dt { "Addresses" } dd {
                @for url in [&mirror.address.https, &mirror.address.http].into_iter().flatten() { code { (url.as_str()) } " " }
                @if let Some(r) = &mirror.address.rsync { code { (r) } }
            }
            @if mirror.private || mirror.monopoly {
                dt { "Flags" } dd { @if mirror.private { "private " } @if mirror.monopoly { "monopoly" } }
            }
            dt { "Defined in" } dd { code { (mirror.origin) } }
            dt { "Probe interval" } dd { (format::duration(config.probe.interval.as_secs())) }
        }
    }
}

/// One family: health, latency, the last sweep's phases, the last failure and the log with
/// each sweep's phases.
fn family(fam: &FamilySnapshot, now: i64) -> Markup {
    let name = family_label(fam.family);
    let when = |at: Option<i64>| at.map_or_else(|| "never".to_string(), |t| format::ago(t, now));
    html! {
        section.family {
            h2 { (name) " " span.state.(fam.state.as_str()) { (fam.state.as_str()) } }
            dl.facts {
                dt { "Address" } dd { @match fam.address { Some(a) => { (a.to_string()) } None => { "—" } } }
                dt { "Last sweep" } dd { (when(fam.last_sweep)) }
                dt { "Last success" } dd { (when(fam.last_success)) }
                dt { "Latency p50 / p90 / p99" } dd {
                    @for (i, q) in [fam.latency_p50, fam.latency_p90, fam.latency_p99].iter().enumerate() {
                        @if i > 0 { " / " }
                        @match q { Some(q) => { (format::millis(*q)) } None => { "—" } }
                    }
                }
                @if let Some(r) = fam.success_ratio { dt { "Sweeps succeeding" } dd { (format::percent(r)) } }
                @if let Some(t) = fam.tls_not_after { dt { "TLS expiry" } dd { (format::expiry(t, now)) } }
                @if let Some(p) = &fam.phases {
                    dt { "Last sweep's phases" } dd { (phases(p)) }
                }
                @if let Some(note) = &fam.last_failure {
                    dt { "Last failure" } dd.reason { (format::ago(note.at, now)) ": " b { (note.reason.as_str()) } " — " (note.detail) }
                }
            }
            @if !fam.log.is_empty() {
                h3 { "Recent sweeps" }
                table.log {
                    thead { tr { th { "when" } th { "result" } th { "took" } th { "phases of the first fetch" } th title="of the files this sweep checked: those that may have changed, and its share of the rest" { "files ok" } th { "failed" } th { "reason" } } }
                    tbody {
                        @for e in fam.log.iter().rev() {
                            tr {
                                td { time datetime=(format::iso(e.at)) title=(format::utc(e.at)) { (format::ago(e.at, now)) } }
                                td { span.(e.result.as_str()) { (e.result.as_str()) } }
                                td { (format::millis(f64::from(e.duration_seconds))) }
                                td.phases { @match e.phases { Some(p) => { (phases(&Phases::from(p))) } None => { "—" } } }
                                td { (e.files_ok) }
                                td { (e.files_failed) }
                                td.reason {
                                    @if let Some(r) = e.reason { b { (r.as_str()) } }
                                    @if let Some(d) = &e.detail { " — " (format::clip(d, 200)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// When a copy was last checked, for a title.
fn checked(at: i64, now: i64) -> String {
    match at {
        0 => "not checked yet".to_string(),
        at => format!("checked {}", format::ago(at, now)),
    }
}

/// A fetch's phases in one line.
fn phases(p: &Phases) -> Markup {
    html! {
        "resolve " (format::millis(p.resolve)) ", connect " (format::millis(p.connect))
        ", TLS " (format::millis(p.tls)) ", first byte " (format::millis(p.processing))
        ", transfer " (format::millis(p.transfer))
    }
}

/// Every repository's verdict per family, grouped by version, with whether it qualifies;
/// when its copy was last checked is the cell's title (a sweep need not check every file).
fn verdicts(config: &Config, snap: &MirrorSnapshot, now: i64) -> Markup {
    let Some(first) = snap.families.first() else {
        return html! {};
    };
    html! {
        section.verdicts {
            h2 { "Repositories" }
            @for version in &config.layout.versions {
                @let rows: Vec<_> = first.repos.iter().enumerate().filter(|(_, r)| r.version() == version.name).collect();
                @if !rows.is_empty() {
                    h3 { (version.name) }
                    table.repos {
                        thead { tr {
                            th { "repo" } th { "arch" }
                            @for f in &snap.families { th { (family_label(f.family)) } th { "qualifies" } }
                        } }
                        tbody {
                            @for (i, r) in &rows {
                                tr {
                                    td { (r.repo()) } td { (r.arch()) }
                                    @for f in &snap.families {
                                        @match f.repos.get(*i).filter(|o| o.target() == r.target()) {
                                            Some(v) => {
                                                td.(v.verdict.as_str()) title=(checked(v.checked_at, now)) { (verdict_text(&v.verdict)) }
                                                td { @if qualifies(config, &v.verdict) { "yes" } @else { "no" } }
                                            }
                                            None => { td { "—" } td { "—" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
