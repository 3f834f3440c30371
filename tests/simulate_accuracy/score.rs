//! Scoring one sample of mirrorwatch's JSON API against the simulator's ground truth: each
//! family's last sweep and verdicts against what the mirror served while it ran, and what
//! proves each fault detected.

use std::collections::{BTreeMap, HashMap};

use fakemirrors::sim::truth::{Condition, EventTruth, MirrorTruth, Truth};
use fakemirrors::sim::FaultKind;
use mirrorwatch::freshness::{Verdict, VerdictKind};
use mirrorwatch::health::State;
use mirrorwatch::probe::FailureReason;
use mirrorwatch::state::records::LogResult;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub const INTERVAL: f64 = 2.0;
pub const UPSTREAM: f64 = 1.0;
/// `health.down_after` (the default).
pub const DOWN_AFTER: f64 = 3.0;
/// Slack for a sweep's own duration, the snapshot's publication (every 250 ms), the
/// sampling period and whole-second timestamps.
pub const SLACK: f64 = 2.0;

/// What mirrorwatch says about one mirror at one sample.
pub struct Sample<'a> {
    pub generated_at: f64,
    pub truth: &'a Truth,
    /// mirrorwatch's current upstream revision per directory (None: upstream moved mid-sample).
    pub upstream: Option<&'a HashMap<String, u32>>,
    pub dirs: &'a HashMap<(String, String, String), String>,
}

/// The copies a mirror served for `dir` at any time in [from, to]: (revision, complete).
pub fn served(m: &MirrorTruth, dir: &str, from: f64, to: f64) -> Vec<(u32, bool)> {
    let mut at_start = (0, true);
    let mut during = Vec::new();
    for event in &m.events {
        if let EventTruth::Sync { at, changed, .. } = event {
            if let Some(c) = changed.get(dir) {
                match *at <= from {
                    true => at_start = (c.revision, c.complete),
                    false if *at <= to => during.push((c.revision, c.complete)),
                    false => {}
                }
            }
        }
    }
    during.insert(0, at_start);
    during
}

/// `value` read as the daemon's own type (a verdict, a reason, a state); `None` when it is
/// absent or not one of them.
pub fn parse<T: DeserializeOwned>(value: &Value) -> Option<T> {
    T::deserialize(value).ok()
}

/// Whether `family` answered at time `t`, and whether a change fell in [from, to].
pub fn reach(m: &MirrorTruth, family: &str, from: f64, to: f64) -> (bool, bool) {
    let mut up = family == "ipv4" || m.ipv6.is_some();
    let mut changed = false;
    for event in &m.events {
        match event {
            EventTruth::Reach { at, ipv4, ipv6 } => {
                let now_up = if family == "ipv4" { *ipv4 } else { *ipv6 };
                if *at <= from {
                    up = now_up;
                } else if *at <= to {
                    changed = true;
                }
            }
            EventTruth::Fault { at, .. } if *at > from && *at <= to => changed = true,
            _ => {}
        }
    }
    (up, changed)
}

pub fn fault_at(m: &MirrorTruth, t: f64) -> Option<FaultKind> {
    m.events.iter().find_map(|e| match e {
        EventTruth::Fault { at, kind } if *at <= t => Some(*kind),
        _ => None,
    })
}

/// Check one family of one mirror against the truth; problems go to `errors`.
pub fn check_family(s: &Sample<'_>, m: &MirrorTruth, fam: &Value, errors: &mut Vec<String>) {
    let family = fam["family"].as_str().unwrap_or("?");
    let who = format!("{} {family}", m.name);
    let Some(last) = fam["log"].as_array().and_then(|l| l.last()) else {
        return;
    };
    let at = last["at"].as_f64().unwrap_or(0.0);
    let (from, to) = (
        at - 0.5,
        at + 1.5 + last["duration_seconds"].as_f64().unwrap_or(0.0),
    );
    let (up, changed) = reach(m, family, from, to);
    if changed {
        return; // the sweep straddled a change: either outcome is right
    }
    let result: Option<LogResult> = parse(&last["result"]);
    let reason: Option<FailureReason> = parse(&last["reason"]);
    let repos = fam["repos"].as_array().cloned().unwrap_or_default();
    let bad_tls = fault_at(m, from) == Some(FaultKind::BadTls);
    if !up || bad_tls {
        let want = if up {
            FailureReason::Tls
        } else {
            FailureReason::Connect
        };
        if result != Some(LogResult::Failed) || reason != Some(want) {
            errors.push(format!(
                "{who}: sweep at {at} should fail with {want}: {last}"
            ));
        }
        if let Some(r) = repos
            .iter()
            .find(|r| parse::<Verdict>(&r["verdict"]).map(|v| v.kind()) != Some(VerdictKind::Error))
        {
            errors.push(format!("{who}: unreachable, yet {r}"));
        }
        return;
    }
    if result != Some(LogResult::Ok) {
        errors.push(format!("{who}: sweep at {at} should succeed: {last}"));
    }
    let Some(upstream) = s.upstream else { return };
    for r in &repos {
        let key = (
            r["version"].as_str().unwrap_or("").to_string(),
            r["repo"].as_str().unwrap_or("").to_string(),
            r["arch"].as_str().unwrap_or("").to_string(),
        );
        let Some(dir) = s.dirs.get(&key) else {
            errors.push(format!("{who}: unknown repo {r}"));
            continue;
        };
        let copies = served(m, dir, from, to);
        let Some(&current) = upstream.get(dir) else {
            continue;
        };
        let v = &r["verdict"];
        let ok = match parse::<Verdict>(v) {
            Some(Verdict::Current) => copies.contains(&(current, true)),
            Some(Verdict::Incomplete { .. }) => copies.iter().any(|c| !c.1),
            Some(Verdict::Unknown { newer, .. }) => newer && copies.iter().any(|c| c.0 > current),
            // Estimated: a revision older than any mirrorwatch remembers. Its lag is a lower
            // bound (from the oldest remembered upstream version's data timestamp, which is
            // its publication time here), its content age an upper bound: right when the
            // mirror served an older revision than upstream, and the true lag of that
            // revision lies between the two.
            Some(Verdict::Behind {
                estimated: true,
                lag_seconds,
                content_age_seconds,
                ..
            }) => {
                let (lag, age) = (lag_seconds as f64, content_age_seconds.unwrap_or(0) as f64);
                let fits = copies.iter().filter(|c| c.0 < current).any(|c| {
                    s.truth.upstream.dirs[dir]
                        .iter()
                        .find(|x| x.revision == c.0 + 1)
                        .is_some_and(|x| {
                            let truth = s.generated_at - x.published_at;
                            lag <= truth + 1.0 && age + 1.0 >= truth
                        })
                });
                if !fits {
                    errors.push(format!(
                        "{who} {dir}: estimated lag {lag} s and content age {age} s do not bound the lag of any older revision it served"
                    ));
                }
                copies.iter().any(|c| c.0 < current)
            }
            Some(Verdict::Behind {
                versions: Some(versions),
                lag_seconds,
                ..
            }) => {
                let lag = lag_seconds as f64;
                let mine = current.saturating_sub(versions);
                let replaced = s.truth.upstream.dirs[dir]
                    .iter()
                    .find(|x| x.revision == mine + 1)
                    .map(|x| x.published_at);
                let lag_ok = replaced.is_some_and(|p| {
                    let truth = s.generated_at - p;
                    // Whole seconds on both sides; mirrorwatch dates a revision by the poll
                    // that first saw it, at most one upstream interval after its publication.
                    lag >= truth - UPSTREAM - 1.0 && lag <= truth + 1.0
                });
                if !lag_ok {
                    errors.push(format!(
                        "{who} {dir}: lag {lag} s, but revision {} appeared at {replaced:?} (snapshot at {})",
                        mine + 1,
                        s.generated_at
                    ));
                }
                copies.contains(&(mine, true))
            }
            _ => false,
        };
        if !ok {
            errors.push(format!(
                "{who} {dir}: verdict {v} but it served {copies:?} (upstream at {current}) during [{from}, {to}]"
            ));
        }
    }
}

/// A fault's detection: what, when it became observable, how long mirrorwatch may take,
/// and whether this sample shows it.
pub struct Detection {
    pub what: &'static str,
    pub observable: f64,
    pub allowance: f64,
    pub seen: bool,
}

/// Whether the last sweep in `f`'s log is at `since` or later, went as `result`, and (when
/// `reason` is given) failed for that reason.
pub fn last_entry_after(
    f: &Value,
    since: f64,
    result: LogResult,
    reason: Option<FailureReason>,
) -> bool {
    f["log"].as_array().and_then(|l| l.last()).is_some_and(|e| {
        e["at"].as_f64().unwrap_or(0.0) >= since - 1.0
            && parse(&e["result"]) == Some(result)
            && (reason.is_none() || parse(&e["reason"]) == reason)
    })
}

/// What proves `m`'s fault detected in `body` (the `/api/v1/mirrors/{name}` answer), and
/// whether its down families have reached the `down` state.
pub fn detections(t: &Truth, m: &MirrorTruth, body: &Value) -> Vec<Detection> {
    let detail: Vec<&Value> = body["families"]
        .as_array()
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    let summary: Vec<&Value> = body["mirror"]["families"]
        .as_array()
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    let all =
        |fams: &[&Value], p: &dyn Fn(&Value) -> bool| !fams.is_empty() && fams.iter().all(|f| p(f));
    let any = |fams: &[&Value], p: &dyn Fn(&Value) -> bool| fams.iter().any(|f| p(f));
    let ipv6: Vec<&Value> = detail
        .iter()
        .copied()
        .filter(|f| f["family"] == "ipv6")
        .collect();
    let state_down = |f: &Value| parse(&f["state"]) == Some(State::Down);
    let d = |what, observable, allowance, seen| Detection {
        what,
        observable,
        allowance,
        seen,
    };
    match &m.condition {
        Condition::Healthy => Vec::new(),
        Condition::Down { since } => vec![
            d(
                "down",
                *since,
                INTERVAL,
                all(&detail, &|f| {
                    last_entry_after(f, *since, LogResult::Failed, Some(FailureReason::Connect))
                }),
            ),
            d(
                "down: state down",
                *since,
                DOWN_AFTER * INTERVAL,
                all(&detail, &state_down),
            ),
        ],
        Condition::BadTls { since, .. } => vec![
            d(
                "bad_tls",
                *since,
                INTERVAL,
                all(&detail, &|f| {
                    last_entry_after(f, *since, LogResult::Failed, Some(FailureReason::Tls))
                }),
            ),
            d(
                "bad_tls: state down",
                *since,
                DOWN_AFTER * INTERVAL,
                all(&detail, &state_down),
            ),
        ],
        Condition::Ipv6Broken { since } => vec![
            d(
                "ipv6_broken",
                *since,
                INTERVAL,
                all(&ipv6, &|f| {
                    last_entry_after(f, *since, LogResult::Failed, Some(FailureReason::Connect))
                }),
            ),
            d(
                "ipv6_broken: state down",
                *since,
                DOWN_AFTER * INTERVAL,
                all(&ipv6, &state_down),
            ),
        ],
        Condition::Flapping { since, .. } => {
            let failed = |f: &Value| {
                f["log"].as_array().is_some_and(|l| {
                    l.iter().any(|e| {
                        e["at"].as_f64().unwrap_or(0.0) >= since - 1.0
                            && parse(&e["result"]) == Some(LogResult::Failed)
                    })
                })
            };
            vec![d("flapping", *since, INTERVAL, any(&detail, &failed))]
        }
        Condition::Slow {
            since,
            delay_seconds,
        } => {
            let slow = |f: &Value| {
                last_entry_after(f, *since + 1.0, LogResult::Ok, None)
                    && f["phases"]["processing"].as_f64().unwrap_or(0.0) >= 0.8 * delay_seconds
            };
            vec![d("slow", *since, 1.5 * INTERVAL, all(&detail, &slow))]
        }
        Condition::Partial {
            first_incomplete, ..
        } => {
            let seen = any(&summary, &|f| {
                parse::<BTreeMap<VerdictKind, u32>>(&f["repos"])
                    .and_then(|counts| counts.get(&VerdictKind::Incomplete).copied())
                    .unwrap_or(0)
                    > 0
            });
            vec![d(
                "partial",
                first_incomplete.unwrap_or(f64::INFINITY),
                INTERVAL,
                seen,
            )]
        }
        Condition::Stale { behind_since, .. } => {
            let from = behind_since.map_or(f64::INFINITY, |b| b + t.stale_after_seconds);
            let seen = any(&summary, &|f| f["stale"].as_u64().unwrap_or(0) > 0);
            vec![d("stale", from, UPSTREAM + INTERVAL, seen)]
        }
    }
}

/// Families that must be `up` now: all of a healthy, stale, partial or slow mirror's,
/// the IPv4 side of a broken-IPv6 one.
pub fn must_be_up(m: &MirrorTruth, family: &str) -> bool {
    match m.condition {
        Condition::Healthy
        | Condition::Stale { .. }
        | Condition::Partial { .. }
        | Condition::Slow { .. } => true,
        Condition::Ipv6Broken { .. } => family == "ipv4",
        _ => false,
    }
}

/// mirrorwatch's current upstream revision of every directory, by matching hashes.
pub fn upstream_revisions(
    truth: &Truth,
    body: &Value,
    errors: &mut Vec<String>,
) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for target in body["targets"].as_array().into_iter().flatten() {
        let dir = target["dir"].as_str().unwrap_or("");
        let Some(sha) = target["current"]["sha256"].as_str() else {
            continue;
        };
        match truth
            .upstream
            .dirs
            .get(dir)
            .and_then(|revs| revs.iter().find(|r| r.sha256 == sha))
        {
            Some(r) => {
                out.insert(dir.to_string(), r.revision);
            }
            None => errors.push(format!("upstream {dir}: hash {sha} was never published")),
        }
    }
    out
}
