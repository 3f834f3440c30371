//! Per-mirror, per-IP-family health: a state machine with hysteresis, a rolling window of
//! sweep samples (success ratio, latency percentiles), a mirror's overall state from its
//! families ([`MirrorHealth`]) and the mirror score. Pure: every function that needs the
//! time takes `now` in unix seconds, so tests replay any history.
//!
//! # State machine
//!
//! One sweep of one (mirror, family) is [`SweepResult::Ok`], [`SweepResult::Partial`] or
//! [`SweepResult::Failed`]. With `k = down_after` and `m = up_after` (both at least 1), the
//! rows are checked top to bottom and the first match wins:
//!
//! | from            | sweep        | condition                          | to         |
//! |-----------------|--------------|------------------------------------|------------|
//! | Unknown         | Ok / Partial / Failed | first sweep decides        | Up / Degraded / Down |
//! | any             | any          | last sweep older than `window`     | as from Unknown |
//! | any             | Failed       | `k` Failed in a row                | Down       |
//! | Up              | Partial, Failed | `k` not-Ok in a row             | Degraded   |
//! | Degraded, Down  | Ok           | `m` Ok in a row                    | Up         |
//! | Down            | Ok, Partial  | `m` not-Failed in a row            | Degraded   |
//! | any             | any          | otherwise                          | unchanged  |
//!
//! Why: leaving a state needs a run of evidence (k to get worse, m to get better), so a
//! mirror failing every other sweep stays where it is instead of paging twice an hour, and
//! the default `m = 1` brings a fixed mirror back after one interval. A Partial counts as
//! "bad" on the way down (it leads to Degraded, never to Down) and as "alive" on the way up.
//! A new mirror has no state to protect, so its first sweep decides at once: a dead mirror is
//! not offered to clients for k intervals. The same holds after a gap longer than `window`
//! (mirrorwatch was stopped for a day): the remembered state is too old to be evidence.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::settings::HealthSettings;

mod mirror;
mod score;
#[cfg(test)]
mod tests;

pub use mirror::MirrorHealth;
pub use score::score;

/// Samples kept per family whatever the window: bounds memory and state-file size when the
/// probe interval is much shorter than the window (1 h at 5 min is 12 samples).
pub const MAX_SAMPLES: usize = 1024;

/// Health of one family, or of a whole mirror ([`MirrorHealth::overall`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not swept yet.
    #[default]
    Unknown,
    Up,
    /// Answers, but not everything: some repomd.xml files fail, or one family is down.
    Degraded,
    Down,
}

impl State {
    /// Every state, in the order a metrics state set lists them.
    pub const ALL: [State; 4] = [State::Unknown, State::Up, State::Degraded, State::Down];

    /// Stable label value (metrics, JSON): `unknown`, `up`, `degraded`, `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
        }
    }

    /// Gauge value: up 1, degraded 0.5, down 0, so `== 0` alerts on down and `< 1` on
    /// anything short of up. Unknown has none: emitting 0 would page on a mirror that simply
    /// has not been swept yet, so no sample is written for it.
    pub fn metric_value(self) -> Option<f64> {
        match self {
            State::Unknown => None,
            State::Up => Some(1.0),
            State::Degraded => Some(0.5),
            State::Down => Some(0.0),
        }
    }
}

/// The outcome of one sweep (every repomd.xml a mirror should carry) for one family.
#[derive(Debug, Clone, PartialEq)]
pub enum SweepResult {
    /// Every file fetched; `latency` is the sweep's representative latency from the prober.
    Ok { latency: Duration },
    /// Some files fetched, some failed (404, 500, ...): degraded, not down.
    Partial {
        ok: u32,
        failed: u32,
        latency: Option<Duration>,
    },
    /// Nothing fetched; `reason` says why (a classified reason, for people).
    Failed { reason: String },
}

/// A state change, for logging at info and for the state-changes counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
}

/// One sweep in the rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Unix seconds.
    pub at: i64,
    /// Files fetched and failed; a plain Ok or Failed sweep counts as 1/0 or 0/1, so each
    /// sweep weighs the same in the success ratio however many files it covered.
    pub ok: u32,
    pub failed: u32,
    /// Microseconds rather than milliseconds: loopback and nearby mirrors answer in < 1 ms.
    pub latency_us: Option<u32>,
}

impl Sample {
    fn ratio(&self) -> f64 {
        let total = f64::from(self.ok) + f64::from(self.failed);
        if total > 0.0 {
            f64::from(self.ok) / total
        } else {
            0.0
        }
    }
}

/// The last failure, kept so the API can tell a mirror admin why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastFailure {
    pub at: i64,
    pub reason: String,
}

/// What a sweep counts as in the state machine (a Partial with nothing failed is an Ok).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Partial,
    Failed,
}

/// Health of one (mirror, IP family); persisted in the state file. Fields are private so
/// the counters and the ring stay consistent with each other; `serde(default)` lets a state
/// file written by an older version (fewer fields) still load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FamilyHealth {
    state: State,
    /// Consecutive Failed sweeps.
    failures: u32,
    /// Consecutive Ok sweeps.
    successes: u32,
    /// Consecutive Partial-or-Failed sweeps (the road to Degraded).
    not_ok: u32,
    /// Consecutive Ok-or-Partial sweeps (the road out of Down).
    not_failed: u32,
    last_sweep: Option<i64>,
    last_change: Option<i64>,
    last_success: Option<i64>,
    last_failure: Option<LastFailure>,
    samples: VecDeque<Sample>,
}

impl FamilyHealth {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Consecutive Failed sweeps (shows how close an Up family is to Down).
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// Consecutive fully successful sweeps.
    pub fn consecutive_successes(&self) -> u32 {
        self.successes
    }

    pub fn last_sweep(&self) -> Option<i64> {
        self.last_sweep
    }

    /// When the state last changed (including the first sweep out of Unknown).
    pub fn last_change(&self) -> Option<i64> {
        self.last_change
    }

    /// The last fully successful sweep.
    pub fn last_success(&self) -> Option<i64> {
        self.last_success
    }

    /// The last Failed or Partial sweep and its reason.
    pub fn last_failure(&self) -> Option<&LastFailure> {
        self.last_failure.as_ref()
    }

    /// The retained samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    /// Fold one sweep in; returns the transition if the state changed.
    pub fn record(
        &mut self,
        result: &SweepResult,
        now: i64,
        settings: &HealthSettings,
    ) -> Option<Transition> {
        let window = secs(settings.window);
        // Consecutive-ness means nothing across a gap longer than the window (see module doc).
        let stale = self
            .last_sweep
            .is_some_and(|last| now.saturating_sub(last) >= window);
        if stale {
            self.failures = 0;
            self.successes = 0;
            self.not_ok = 0;
            self.not_failed = 0;
        }
        let outcome = self.remember(result, now, window);
        let prior = if stale { State::Unknown } else { self.state };
        let next = decide(prior, outcome, self, settings);
        if next == self.state {
            return None;
        }
        let from = std::mem::replace(&mut self.state, next);
        self.last_change = Some(now);
        Some(Transition { from, to: next })
    }

    /// Update counters, timestamps and the ring; returns how the sweep counts.
    fn remember(&mut self, result: &SweepResult, now: i64, window: i64) -> Outcome {
        let (outcome, ok, failed, latency) = match result {
            SweepResult::Ok { latency } => (Outcome::Ok, 1, 0, Some(*latency)),
            SweepResult::Failed { .. } => (Outcome::Failed, 0, 1, None),
            // Classified by what happened, so the ratio and the state agree: nothing failed
            // is a success, nothing fetched is a failure.
            SweepResult::Partial {
                ok,
                failed,
                latency,
            } => match (*ok, *failed) {
                (0, f) => (Outcome::Failed, 0, f.max(1), None),
                (o, 0) => (Outcome::Ok, o, 0, *latency),
                (o, f) => (Outcome::Partial, o, f, *latency),
            },
        };
        let bump = |n: u32| n.saturating_add(1);
        let (is_ok, is_failed) = (outcome == Outcome::Ok, outcome == Outcome::Failed);
        self.successes = if is_ok { bump(self.successes) } else { 0 };
        self.failures = if is_failed { bump(self.failures) } else { 0 };
        self.not_ok = if is_ok { 0 } else { bump(self.not_ok) };
        self.not_failed = if is_failed { 0 } else { bump(self.not_failed) };
        self.last_sweep = Some(now);
        match (outcome, result) {
            (Outcome::Ok, _) => self.last_success = Some(now),
            (_, SweepResult::Failed { reason }) => {
                self.last_failure = Some(LastFailure {
                    at: now,
                    reason: reason.clone(),
                });
            }
            _ => {
                self.last_failure = Some(LastFailure {
                    at: now,
                    reason: format!(
                        "{failed} of {} repomd.xml files failed",
                        ok.saturating_add(failed)
                    ),
                });
            }
        }
        // retain rather than pop_front: a clock stepped backwards leaves the ring unsorted.
        let cutoff = now.saturating_sub(window);
        self.samples.retain(|s| s.at > cutoff);
        self.samples.push_back(Sample {
            at: now,
            ok,
            failed,
            latency_us: latency.map(|d| u32::try_from(d.as_micros()).unwrap_or(u32::MAX)),
        });
        while self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
        outcome
    }

    fn in_window(&self, now: i64, window: Duration) -> impl Iterator<Item = &Sample> {
        // (now − window, now]: a 1 h window at a 5 min interval holds exactly 12 sweeps.
        let cutoff = now.saturating_sub(secs(window));
        self.samples.iter().filter(move |s| s.at > cutoff)
    }

    /// Mean per-sweep success ratio in (now − window, now]; None without a sample. A Partial
    /// sweep counts as its fraction of files fetched.
    pub fn success_ratio(&self, now: i64, window: Duration) -> Option<f64> {
        let (sum, n) = self
            .in_window(now, window)
            .fold((0.0, 0u32), |(sum, n), s| (sum + s.ratio(), n + 1));
        (n > 0).then(|| sum / f64::from(n))
    }

    /// Nearest-rank quantile (`q` in [0, 1], e.g. 0.5, 0.9, 0.99) of the sweep latencies in
    /// the window: the smallest value with at least q of the samples at or below it, so it is
    /// always a latency that was really measured. None without a latency sample.
    pub fn latency_quantile(&self, q: f64, now: i64, window: Duration) -> Option<Duration> {
        if q.is_nan() {
            return None;
        }
        let mut values: Vec<u32> = self
            .in_window(now, window)
            .filter_map(|s| s.latency_us)
            .collect();
        values.sort_unstable();
        // The small epsilon keeps 0.9 × 10 from rounding up to rank 10 through float error.
        let rank = (q.clamp(0.0, 1.0) * values.len() as f64 - 1e-9).ceil() as usize;
        let index = rank.max(1) - 1;
        values
            .get(index)
            .map(|&us| Duration::from_micros(u64::from(us)))
    }
}

/// The table in the module doc; `prior` is Unknown when the history is too old to count.
fn decide(prior: State, outcome: Outcome, h: &FamilyHealth, settings: &HealthSettings) -> State {
    let (k, m) = (settings.down_after.get(), settings.up_after.get());
    match (prior, outcome) {
        (State::Unknown, Outcome::Ok) => State::Up,
        (State::Unknown, Outcome::Partial) => State::Degraded,
        (State::Unknown, Outcome::Failed) => State::Down,
        _ if h.failures >= k => State::Down,
        (State::Up, _) if h.not_ok >= k => State::Degraded,
        (State::Degraded | State::Down, Outcome::Ok) if h.successes >= m => State::Up,
        (State::Down, _) if h.not_failed >= m => State::Degraded,
        (state, _) => state,
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
