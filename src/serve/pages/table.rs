//! The mirror table of `/`: one row per configured mirror, sorted and filtered on the server
//! by query parameters (`?sort=-lag&state=down&country=DE&continent=EU`), so that it works
//! without JavaScript; `sort.js` re-sorts the same rows in the browser on a header click,
//! reading each cell's `data-v` (or its text).

use std::cmp::Ordering;
use std::collections::HashMap;

use maud::{html, Markup};
use serde::Deserialize;

use super::history::{lag_of, History};
use super::{format, svg};
use crate::config::geo::continent_of;
use crate::config::{Config, IpFamily, Mirror, Protocol};
use crate::freshness::VerdictKind;
use crate::health::State;
use crate::serve::viewer::Viewer;
use crate::state::{FamilySnapshot, MirrorSnapshot, Snapshot};

/// A certificate expiring within this many seconds is shown as a warning.
const TLS_WARN: i64 = 14 * 86_400;
/// Failure details are cut to this many characters in the table (the mirror's page has
/// them whole).
const REASON_CHARS: usize = 140;

/// What `/` was asked for. Unknown sort keys sort by name; filters are exact and
/// case-insensitive.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TableQuery {
    /// A column key, `-` in front for descending: `name`, `sponsor`, `country`, `state`,
    /// `lag`, `latency`, `score`, `tls`.
    pub sort: Option<String>,
    /// `up`, `degraded`, `down`, `unknown` or `disabled`.
    pub state: Option<String>,
    pub country: Option<String>,
    pub continent: Option<String>,
}

/// The sortable columns: (key, header).
const KEYS: [(&str, &str); 8] = [
    ("name", "Mirror"),
    ("sponsor", "Sponsor"),
    ("country", "Country"),
    ("state", "State"),
    ("lag", "Max lag"),
    ("latency", "p50"),
    ("score", "Score"),
    ("tls", "TLS expiry"),
];

/// One row, with the values it sorts by.
pub(super) struct Row<'a> {
    pub mirror: &'a Mirror,
    pub snap: Option<&'a MirrorSnapshot>,
    /// `disabled` for a mirror the configuration turned off.
    pub state: &'static str,
    pub continent: Option<&'static str>,
    pub lag: Option<u64>,
    pub latency: Option<f64>,
    pub tls: Option<i64>,
}

impl<'a> Row<'a> {
    fn new(mirror: &'a Mirror, snap: Option<&'a MirrorSnapshot>) -> Row<'a> {
        let families = snap.map(|s| s.families.as_slice()).unwrap_or_default();
        Row {
            mirror,
            snap,
            state: match (mirror.enabled, snap) {
                (false, _) => "disabled",
                (true, Some(s)) => s.state.as_str(),
                (true, None) => State::Unknown.as_str(),
            },
            continent: mirror
                .continent
                .or_else(|| continent_of(mirror.country.as_deref()?))
                .map(|c| c.code()),
            lag: snap.and_then(lag_of),
            latency: families
                .iter()
                .filter_map(|f| f.latency_p50)
                .min_by(f64::total_cmp),
            tls: families.iter().filter_map(|f| f.tls_not_after).min(),
        }
    }

    fn cmp_by(&self, other: &Row<'_>, key: &str) -> Ordering {
        // Rows without a value go last whichever the direction: see `rows`.
        fn opt<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Ordering {
            a.partial_cmp(&b).unwrap_or(Ordering::Equal)
        }
        let (a, b) = (self.mirror, other.mirror);
        match key {
            "name" => a.name.cmp(&b.name),
            "sponsor" => a.sponsor.cmp(&b.sponsor),
            "country" => a.country.cmp(&b.country),
            "state" => state_rank(self.state).cmp(&state_rank(other.state)),
            "lag" => opt(self.lag, other.lag),
            "latency" => opt(self.latency, other.latency),
            "score" => opt(self.snap.map(|s| s.score), other.snap.map(|s| s.score)),
            "tls" => opt(self.tls, other.tls),
            _ => Ordering::Equal,
        }
    }

    fn has(&self, key: &str) -> bool {
        match key {
            "sponsor" => self.mirror.sponsor.is_some(),
            "country" => self.mirror.country.is_some(),
            "lag" => self.lag.is_some(),
            "latency" => self.latency.is_some(),
            "score" => self.snap.is_some(),
            "tls" => self.tls.is_some(),
            _ => true,
        }
    }

    fn matches(&self, query: &TableQuery) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref()
                .filter(|w| !w.is_empty())
                .is_none_or(|w| have.is_some_and(|h| h.eq_ignore_ascii_case(w)))
        };
        same(&query.state, Some(self.state))
            && same(&query.country, self.mirror.country.as_deref())
            && same(&query.continent, self.continent)
    }
}

/// Worst first when ascending: what needs attention.
fn state_rank(state: &str) -> u8 {
    match state {
        "down" => 0,
        "degraded" => 1,
        "unknown" => 2,
        "up" => 3,
        _ => 4,
    }
}

/// The sort key and direction of a query: (`lag`, descending) for `-lag`.
fn sort_of(query: &TableQuery) -> (&str, bool) {
    let raw = query.sort.as_deref().unwrap_or("name");
    let (key, descending) = match raw.strip_prefix('-') {
        Some(key) => (key, true),
        None => (raw, false),
    };
    match KEYS.iter().find(|(k, _)| *k == key) {
        Some((k, _)) => (k, descending),
        None => ("name", false),
    }
}

/// Every configured mirror that passes the filters, in the order asked for (ties by name).
pub(super) fn rows<'a>(
    snapshot: &'a Snapshot,
    query: &TableQuery,
    viewer: &Viewer,
) -> Vec<Row<'a>> {
    let by_name: HashMap<&str, &MirrorSnapshot> = snapshot
        .mirrors
        .iter()
        .map(|m| (m.name.as_str(), m.as_ref()))
        .collect();
    let mut rows: Vec<Row<'a>> = snapshot
        .config
        .mirrors
        .iter()
        .filter(|m| viewer.sees(snapshot, m))
        .map(|m| Row::new(m, by_name.get(m.name.as_str()).copied()))
        .filter(|r| r.matches(query))
        .collect();
    let (key, descending) = sort_of(query);
    rows.sort_by(|a, b| {
        let by_key = match descending {
            true => b.cmp_by(a, key),
            false => a.cmp_by(b, key),
        };
        b.has(key)
            .cmp(&a.has(key))
            .then(by_key)
            .then_with(|| a.mirror.name.cmp(&b.mirror.name))
    });
    rows
}

/// The query string of `query` with `sort` replaced.
fn link(query: &TableQuery, sort: &str) -> String {
    let mut parts = vec![format!("sort={sort}")];
    for (name, value) in [
        ("state", &query.state),
        ("country", &query.country),
        ("continent", &query.continent),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            let value: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            parts.push(format!("{name}={value}"));
        }
    }
    format!("?{}#mirrors", parts.join("&"))
}

/// The filter form: a plain GET form, so it works without JavaScript.
pub(super) fn filters(snapshot: &Snapshot, query: &TableQuery, viewer: &Viewer) -> Markup {
    let mut countries: Vec<&str> = snapshot
        .config
        .mirrors
        .iter()
        .filter(|m| viewer.sees(snapshot, m))
        .filter_map(|m| m.country.as_deref())
        .collect();
    countries.sort_unstable();
    countries.dedup();
    let chosen = |have: &Option<String>, value: &str| {
        have.as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(value))
    };
    html! {
        form.filters method="get" action="/#mirrors" {
            label { "State "
                select name="state" {
                    option value="" { "any" }
                    @for s in ["up", "degraded", "down", "unknown", "disabled"] {
                        option value=(s) selected[chosen(&query.state, s)] { (s) }
                    }
                }
            }
            label { "Country "
                select name="country" {
                    option value="" { "any" }
                    @for c in &countries {
                        option value=(c) selected[chosen(&query.country, c)] { (c) }
                    }
                }
            }
            label { "Continent "
                select name="continent" {
                    option value="" { "any" }
                    @for c in crate::config::geo::Continent::ALL {
                        option value=(c.code()) selected[chosen(&query.continent, c.code())] { (c.code()) }
                    }
                }
            }
            @if let Some(sort) = &query.sort {
                input type="hidden" name="sort" value=(sort);
            }
            button type="submit" { "Filter" }
            " "
            a href="/#mirrors" { "reset" }
        }
    }
}

/// The table itself.
pub(super) fn table(
    snapshot: &Snapshot,
    history: &History,
    query: &TableQuery,
    viewer: &Viewer,
) -> Markup {
    let config = &snapshot.config;
    let now = snapshot.generated_at;
    let rows = rows(snapshot, query, viewer);
    let shown = config.mirrors.iter().filter(|m| viewer.sees(snapshot, m));
    let (key, descending) = sort_of(query);
    let families = &config.probe.ip_families;
    html! {
        p.count { (rows.len()) " of " (shown.count()) " mirrors shown." }
        table #mirror-table .mirrors data-sort=(if descending { format!("-{key}") } else { key.to_string() }) {
            thead { tr {
                @for (k, label) in &KEYS[..4] { (header(query, k, label, key, descending)) }
                @for family in families { th { (family_label(*family)) } }
                th { "Protocols" }
                th { "Verdicts" }
                @for (k, label) in &KEYS[4..] { (header(query, k, label, key, descending)) }
                th { "Lag, last sweeps" }
                th { "Reason when not up" }
            } }
            tbody {
                @for row in &rows { (table_row(config, history, row, now)) }
            }
        }
        @if rows.is_empty() {
            p.notice { "No mirror matches these filters." }
        }
    }
}

fn header(query: &TableQuery, key: &str, label: &str, sorted: &str, descending: bool) -> Markup {
    let next = match (key == sorted, descending) {
        (true, false) => format!("-{key}"),
        _ => key.to_string(),
    };
    let mark = match (key == sorted, descending) {
        (true, false) => " ▲",
        (true, true) => " ▼",
        _ => "",
    };
    html! { th data-key=(key) { a href=(link(query, &next)) { (label) (mark) } } }
}

pub(super) fn family_label(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "IPv4",
        IpFamily::Ipv6 => "IPv6",
    }
}

/// A sponsor's link, only for an http(s) URL (a `javascript:` one is shown as text).
pub(super) fn sponsor(mirror: &Mirror) -> Markup {
    let url = mirror
        .sponsor_url
        .as_deref()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    html! {
        @match (&mirror.sponsor, url) {
            (Some(name), Some(url)) => { a href=(url) rel="nofollow" { (name) } }
            (Some(name), None) => { (name) }
            (None, _) => {}
        }
    }
}

/// The first family that is not up and has a failure: what the "reason" column shows.
pub(super) fn reason(snap: &MirrorSnapshot) -> Option<(IpFamily, &FamilySnapshot)> {
    snap.families
        .iter()
        .filter(|f| f.state != State::Up)
        .find(|f| f.last_failure.is_some())
        .map(|f| (f.family, f))
}

fn table_row(config: &Config, history: &History, row: &Row<'_>, now: i64) -> Markup {
    let m = row.mirror;
    let snap = row.snap;
    let family = |f: IpFamily| snap.and_then(|s| s.family(f));
    // The family that answered, for the verdict counts; else the first.
    let main = snap.and_then(|s| {
        s.families
            .iter()
            .find(|f| matches!(f.state, State::Up | State::Degraded))
            .or(s.families.first())
    });
    let mut protocols: Vec<Protocol> = snap
        .map(|s| s.families.as_slice())
        .unwrap_or_default()
        .iter()
        .flat_map(|f| f.protocols.iter().filter(|(_, up)| **up).map(|(p, _)| *p))
        .collect();
    protocols.sort_unstable();
    protocols.dedup();
    let samples = history.mirrors.get(&m.name).map(|h| &h.lag);
    html! {
        tr.(row.state) {
            td { a href={"/mirrors/" (urlencode(&m.name))} { (m.name) } }
            td { (sponsor(m)) }
            td title=[row.continent] { (m.country.as_deref().unwrap_or("")) }
            td data-v=(state_rank(row.state)) { span.state.(row.state) { (row.state) } }
            @for f in &config.probe.ip_families {
                td { @match family(*f) { Some(f) => { span.state.(f.state.as_str()) { (f.state.as_str()) } } None => { "—" } } }
            }
            td { @for (i, p) in protocols.iter().enumerate() { @if i > 0 { " " } (p.as_str()) } }
            td.counts { @if let Some(f) = main { (counts(f)) } }
            td data-v=[row.lag] { @if let Some(lag) = row.lag { @if lag == 0 { "0" } @else { (format::duration(lag)) } } }
            td data-v=[row.latency.map(|l| format!("{l:.4}"))] { @if let Some(l) = row.latency { (format::millis(l)) } }
            td { @if let Some(s) = snap { (format!("{:.0}", s.score)) } }
            td.warn[row.tls.is_some_and(|t| t - now < TLS_WARN)] data-v=[row.tls] {
                @if let Some(t) = row.tls { (format::expiry(t, now)) }
            }
            td { @if let Some(samples) = samples { (svg::lag_sparkline(samples, svg::SPARK)) } }
            td.reason {
                @if let Some((fam, f)) = snap.and_then(reason) {
                    @if let Some(note) = &f.last_failure {
                        (fam.as_str()) ": " b { (note.reason.as_str()) } " — " (format::clip(&note.detail, REASON_CHARS))
                    }
                }
            }
        }
    }
}

/// `130 current · 4 behind`: the non-zero counts by verdict, in label order.
pub(super) fn counts(f: &FamilySnapshot) -> Markup {
    let counts = f.counts();
    let shown: Vec<(VerdictKind, u32)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    html! {
        @for (i, (kind, n)) in shown.iter().enumerate() {
            @if i > 0 { " · " }
            span.(kind.as_str()) { (n) " " (kind.as_str()) }
        }
    }
}

/// A mirror name as one path segment.
pub(super) fn urlencode(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
