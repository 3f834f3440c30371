//! Scoring mirrorwatch's JSON API against the simulator's ground truth: each family's last
//! sweep and verdicts against what the mirror served while it ran, and what proves each
//! fault detected. [`Scorer`] does it round after round, for the accuracy test (seconds)
//! and the soak (`bench/soak.sh`, an hour).
#![allow(dead_code)] // each of the two test binaries uses part of it

use std::collections::{BTreeMap, HashMap};

use fakemirrors::client::fetch;
use fakemirrors::sim::truth::{unix_now, Condition, EventTruth, MirrorTruth, Truth};
use fakemirrors::sim::FaultKind;
use mirrorwatch::config::Config;
use mirrorwatch::freshness::{Verdict, VerdictKind};
use mirrorwatch::health::State;
use mirrorwatch::probe::FailureReason;
use mirrorwatch::state::records::LogResult;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Slack for a sweep's own duration, the snapshot's publication (every 250 ms), the
/// sampling period and whole-second timestamps.
pub const SLACK: f64 = 2.0;

/// The daemon's timing, in seconds: what the deadlines are made of.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// `probe.interval`.
    pub interval: f64,
    /// `freshness.upstream_interval`.
    pub upstream: f64,
    /// `health.down_after`.
    pub down_after: f64,
    /// `probe.full_every` as the daemon applies it: every file is checked this often.
    pub full_every: f64,
}

impl Timing {
    pub fn of(config: &Config) -> Timing {
        Timing {
            interval: config.probe.interval.as_secs_f64(),
            upstream: config.freshness.upstream_interval.as_secs_f64(),
            down_after: f64::from(config.health.down_after.get()),
            full_every: config.probe.full_every().as_secs_f64(),
        }
    }
}

/// What mirrorwatch says about one mirror at one sample.
pub struct Sample<'a> {
    pub generated_at: f64,
    pub timing: Timing,
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
    let log = fam["log"].as_array().cloned().unwrap_or_default();
    // The sweep that started at `checked`: from its start to its end, with the slack of
    // whole-second times.
    let window = |checked: f64| {
        let sweep = log.iter().find(|e| e["at"].as_f64() == Some(checked));
        let duration = sweep.unwrap_or(last)["duration_seconds"]
            .as_f64()
            .unwrap_or(0.0);
        (checked - 0.5, checked + 1.5 + duration)
    };
    let (from, to) = window(at);
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
        // A sweep need not check every file: the verdict is about the copy seen when it was
        // last checked.
        let (from, to) = r["checked_at"].as_f64().map_or((from, to), window);
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
                let mine = current.saturating_sub(versions.get());
                let replaced = s.truth.upstream.dirs[dir]
                    .iter()
                    .find(|x| x.revision == mine + 1)
                    .map(|x| x.published_at);
                let lag_ok = replaced.is_some_and(|p| {
                    let truth = s.generated_at - p;
                    // Whole seconds on both sides; mirrorwatch dates a revision by the poll
                    // that first saw it, at most one upstream interval after its publication.
                    lag >= truth - s.timing.upstream - 1.0 && lag <= truth + 1.0
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
pub fn detections(
    t: &Truth,
    timing: Timing,
    dirs: &HashMap<(String, String, String), String>,
    m: &MirrorTruth,
    body: &Value,
) -> Vec<Detection> {
    let (interval, upstream) = (timing.interval, timing.upstream);
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
                interval,
                all(&detail, &|f| {
                    last_entry_after(f, *since, LogResult::Failed, Some(FailureReason::Connect))
                }),
            ),
            d(
                "down: state down",
                *since,
                timing.down_after * interval,
                all(&detail, &state_down),
            ),
        ],
        Condition::BadTls { since, .. } => vec![
            d(
                "bad_tls",
                *since,
                interval,
                all(&detail, &|f| {
                    last_entry_after(f, *since, LogResult::Failed, Some(FailureReason::Tls))
                }),
            ),
            d(
                "bad_tls: state down",
                *since,
                timing.down_after * interval,
                all(&detail, &state_down),
            ),
        ],
        Condition::Ipv6Broken { since } => vec![
            d(
                "ipv6_broken",
                *since,
                interval,
                all(&ipv6, &|f| {
                    last_entry_after(f, *since, LogResult::Failed, Some(FailureReason::Connect))
                }),
            ),
            d(
                "ipv6_broken: state down",
                *since,
                timing.down_after * interval,
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
            vec![d("flapping", *since, interval, any(&detail, &failed))]
        }
        Condition::Slow {
            since,
            delay_seconds,
        } => {
            let slow = |f: &Value| {
                last_entry_after(f, *since + 1.0, LogResult::Ok, None)
                    && f["phases"]["processing"].as_f64().unwrap_or(0.0) >= 0.8 * delay_seconds
            };
            vec![d("slow", *since, 1.5 * interval, all(&detail, &slow))]
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
                interval,
                seen,
            )]
        }
        Condition::Rollback {
            since,
            dirs: rolled,
        } => {
            // Every directory it rolled back judged behind, over every family. A settled
            // copy is checked again within `full_every`.
            let behind = |f: &Value| {
                let repos = f["repos"].as_array().cloned().unwrap_or_default();
                rolled.iter().all(|dir| {
                    repos.iter().any(|r| {
                        let key = (
                            r["version"].as_str().unwrap_or("").to_string(),
                            r["repo"].as_str().unwrap_or("").to_string(),
                            r["arch"].as_str().unwrap_or("").to_string(),
                        );
                        dirs.get(&key) == Some(dir)
                            && parse::<Verdict>(&r["verdict"]).map(|v| v.kind())
                                == Some(VerdictKind::Behind)
                    })
                })
            };
            vec![d(
                "rollback",
                *since,
                timing.full_every,
                all(&detail, &behind),
            )]
        }
        Condition::Stale { behind_since, .. } => {
            let from = behind_since.map_or(f64::INFINITY, |b| b + t.stale_after_seconds);
            let seen = any(&summary, &|f| f["stale"].as_u64().unwrap_or(0) > 0);
            // It declared a sync every publication and stopped: behind its schedule once
            // its lag passes what the schedule allows.
            let schedule = &body["mirror"]["schedule"];
            let allowed = schedule["allowed_lag_seconds"]
                .as_f64()
                .unwrap_or(f64::INFINITY);
            vec![
                d("stale", from, upstream + interval, seen),
                d(
                    "stale: behind schedule",
                    behind_since.map_or(f64::INFINITY, |b| b + allowed),
                    upstream + interval,
                    schedule["behind"] == true,
                ),
            ]
        }
    }
}

/// Families that must be `up` now: all of a healthy, stale, partial, slow or rolled-back
/// mirror's, the IPv4 side of a broken-IPv6 one.
pub fn must_be_up(m: &MirrorTruth, family: &str) -> bool {
    match m.condition {
        Condition::Healthy
        | Condition::Stale { .. }
        | Condition::Partial { .. }
        | Condition::Slow { .. }
        | Condition::Rollback { .. } => true,
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

/// When a fault became observable, its deadline, and when a round first showed it.
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    pub from: f64,
    pub deadline: f64,
    pub seen: Option<f64>,
}

/// What one round read, beside what it scored.
pub struct Round {
    pub truth: Truth,
    /// `/api/v1/mirrors` said `ready`.
    pub ready: bool,
    /// The longest any swept (mirror, family) had gone since its last sweep, when the
    /// answers were in (seconds; 0 before any sweep).
    pub worst_gap: f64,
}

/// Scores the daemon at `base` against the simulator's truth at `truth_url`, round after
/// round: wrong verdicts and states go to `wrong` at once, detections are timed in
/// `watches` and judged by [`Scorer::missed`].
pub struct Scorer {
    pub timing: Timing,
    /// When the daemon started: nothing is expected of it before.
    pub start: f64,
    dirs: HashMap<(String, String, String), String>,
    /// Every event seen so far, per mirror: the simulator keeps only its latest, and a long
    /// run needs the syncs its flapping mirrors' reach events pushed out.
    events: HashMap<String, Vec<EventTruth>>,
    pub wrong: Vec<String>,
    /// (mirror, what) → its watch.
    pub watches: BTreeMap<(String, &'static str), Watch>,
    pub rounds: usize,
    /// Families scored, over all rounds.
    pub checked: usize,
    /// Seconds between rounds, beyond the half second [`SLACK`] allows for: a detection
    /// is only seen at the next round.
    pub sampling: f64,
}

async fn get_json(url: &str) -> Option<Value> {
    let response = fetch(url).await.ok()?;
    (response.status == 200)
        .then(|| serde_json::from_str(&response.text()).ok())
        .flatten()
}

impl Scorer {
    pub fn new(config: &Config, start: f64) -> Scorer {
        let dirs = config
            .layout
            .targets()
            .map(|t| {
                let key = (
                    t.version.name.clone(),
                    t.repo.name.clone(),
                    t.arch.to_string(),
                );
                (key, t.dir())
            })
            .collect();
        Scorer {
            timing: Timing::of(config),
            start,
            dirs,
            events: HashMap::new(),
            wrong: Vec::new(),
            watches: BTreeMap::new(),
            rounds: 0,
            checked: 0,
            sampling: 0.0,
        }
    }

    /// `m` with every event seen so far; a gap between two rounds' events is an error.
    fn complete(&mut self, m: &mut MirrorTruth) {
        let kept = self.events.entry(m.name.clone()).or_default();
        let known = kept.len() as u64;
        if m.events_dropped > known {
            self.wrong.push(format!(
                "{}: {} events went by between two rounds",
                m.name,
                m.events_dropped - known
            ));
        }
        for (i, event) in m.events.iter().enumerate() {
            if m.events_dropped + i as u64 >= known {
                kept.push(event.clone());
            }
        }
        m.events.clone_from(kept);
        m.events_dropped = 0;
    }

    /// One round: the truth, the daemon's upstream and every mirror's answer, scored.
    /// `None` when the truth or the daemon did not answer.
    pub async fn round(&mut self, base: &str, truth_url: &str) -> Option<Round> {
        let now = unix_now();
        let mut truth: Truth = serde_json::from_value(get_json(truth_url).await?).ok()?;
        let before = get_json(&format!("{base}/api/v1/upstream")).await;
        let mut bodies = Vec::new();
        for m in &truth.mirrors {
            bodies.push(get_json(&format!("{base}/api/v1/mirrors/{}", m.name)).await);
        }
        let after = get_json(&format!("{base}/api/v1/upstream")).await;
        let list = get_json(&format!("{base}/api/v1/mirrors")).await;
        let (Some(before), Some(after), Some(list)) = (before, after, list) else {
            return None;
        };
        // When the answers were all in: detection times are not flattered by the fetching.
        let answered = unix_now();
        let ready = list["ready"] == true;
        let worst_gap = worst_gap(&list, answered);
        let mut mirrors = std::mem::take(&mut truth.mirrors);
        for m in &mut mirrors {
            self.complete(m);
        }
        truth.mirrors = mirrors;
        self.rounds += 1;
        let up_before = upstream_revisions(&truth, &before, &mut self.wrong);
        let up_after = upstream_revisions(&truth, &after, &mut Vec::new());
        // mirrorwatch knows the upstream within one poll.
        for (dir, rev) in &up_after {
            let newer = truth.upstream.dirs[dir]
                .iter()
                .find(|r| r.revision == rev + 1);
            if let Some(n) = newer.filter(|n| n.published_at < now - self.timing.upstream - SLACK) {
                self.wrong.push(format!(
                    "upstream {dir}: still at {rev}, {} published at {}",
                    n.revision, n.published_at
                ));
            }
        }
        let stable = (up_before == up_after).then_some(&up_before);
        for (m, body) in truth.mirrors.iter().zip(&bodies) {
            let Some(body) = body else {
                self.wrong.push(format!("{}: no API answer", m.name));
                continue;
            };
            let sample = Sample {
                generated_at: body["generated_at"].as_f64().unwrap_or(0.0),
                timing: self.timing,
                truth: &truth,
                upstream: stable,
                dirs: &self.dirs,
            };
            for fam in body["families"].as_array().into_iter().flatten() {
                self.checked += 1;
                check_family(&sample, m, fam, &mut self.wrong);
                let family = fam["family"].as_str().unwrap_or("");
                if must_be_up(m, family) && fam["state"] != "up" {
                    self.wrong.push(format!(
                        "{} {family}: {} is {}",
                        m.name,
                        describe(m),
                        fam["state"]
                    ));
                }
            }
            self.check_schedule(m, body);
            for d in detections(&truth, self.timing, &self.dirs, m, body) {
                let from = d.observable.max(self.start);
                let deadline = from + d.allowance + SLACK + self.sampling;
                let watch = self
                    .watches
                    .entry((m.name.clone(), d.what))
                    .or_insert(Watch {
                        from,
                        deadline,
                        seen: None,
                    });
                (watch.from, watch.deadline) = (from, deadline);
                if d.seen && watch.seen.is_none() {
                    watch.seen = Some(answered);
                }
            }
        }
        Some(Round {
            truth,
            ready,
            worst_gap,
        })
    }

    /// A mirror behind its declared schedule must be one that stopped following (stale),
    /// and no sooner than its lag allowed; every simulated mirror declares one.
    fn check_schedule(&mut self, m: &MirrorTruth, body: &Value) {
        let schedule = &body["mirror"]["schedule"];
        if schedule.is_null() {
            self.wrong
                .push(format!("{}: no schedule, yet it declares one", m.name));
            return;
        }
        if schedule["behind"] != true {
            return;
        }
        let allowed = schedule["allowed_lag_seconds"].as_f64().unwrap_or(0.0);
        let generated_at = body["generated_at"].as_f64().unwrap_or(0.0);
        let early = match &m.condition {
            Condition::Stale {
                behind_since: Some(b),
                ..
            } => generated_at + SLACK < b + allowed,
            // Put back to an older snapshot and syncing no more: as far behind as that.
            Condition::Rollback { .. } => false,
            _ => true,
        };
        if early {
            self.wrong.push(format!(
                "{}: {} is behind schedule ({schedule}) at {generated_at}",
                m.name,
                describe(m)
            ));
        }
    }

    /// Whether a fault is still within its deadline and not yet seen at `now`.
    pub fn pending(&self, now: f64) -> bool {
        self.watches
            .values()
            .any(|w| w.seen.is_none() && w.deadline >= now)
    }

    /// Each watch's outcome, one line each; the faults seen late or not at all by `now`
    /// go to the returned list.
    pub fn missed(&self, now: f64) -> (Vec<String>, Vec<String>) {
        let (mut lines, mut missed) = (Vec::new(), Vec::new());
        for ((mirror, what), w) in &self.watches {
            let seen = w.seen.map_or("not seen".into(), |s| {
                format!("seen {:.1} s after it could be", s - w.from)
            });
            lines.push(format!(
                "{mirror}: {what}: {seen} (allowed {:.1} s)",
                w.deadline - w.from
            ));
            match w.seen {
                Some(at) if at <= w.deadline => {}
                Some(at) => missed.push(format!(
                    "{mirror}: {what} seen at {at:.1}, after its deadline {:.1}",
                    w.deadline
                )),
                None if w.deadline < now => missed.push(format!(
                    "{mirror}: {what} never seen (deadline {:.1})",
                    w.deadline
                )),
                None => {}
            }
        }
        (lines, missed)
    }
}

/// The longest time since any swept (mirror, family)'s last sweep, in an
/// `/api/v1/mirrors` answer.
fn worst_gap(list: &Value, now: f64) -> f64 {
    list["mirrors"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["families"].as_array().into_iter().flatten())
        .filter_map(|f| f["last_sweep"].as_f64())
        .filter(|&at| at > 0.0)
        .map(|at| now - at)
        .fold(0.0, f64::max)
}

/// A mirror's fault, for messages.
pub fn describe(m: &MirrorTruth) -> String {
    serde_json::to_string(&m.condition).unwrap_or_default()
}
