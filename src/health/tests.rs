//! Unit tests for the health state machine, the rolling window and the score.

use super::*;
use crate::config::IpFamily;

const INTERVAL: i64 = 300;

fn settings(down_after: u32, up_after: u32) -> HealthSettings {
    HealthSettings {
        down_after: std::num::NonZeroU32::new(down_after).unwrap(),
        up_after: std::num::NonZeroU32::new(up_after).unwrap(),
        window: Duration::from_secs(3600),
    }
}

fn ok(ms: u64) -> SweepResult {
    SweepResult::Ok {
        latency: Duration::from_millis(ms),
    }
}

fn failed() -> SweepResult {
    SweepResult::Failed {
        reason: "connect".into(),
    }
}

fn partial(ok: u32, failed: u32) -> SweepResult {
    SweepResult::Partial {
        ok,
        failed,
        latency: Some(Duration::from_millis(20)),
    }
}

/// Feeds `sweeps` one interval apart after the last sweep; returns the state after each
/// and every transition.
fn feed(
    h: &mut FamilyHealth,
    sweeps: &[SweepResult],
    s: &HealthSettings,
) -> (Vec<State>, Vec<Transition>) {
    let mut now = h.last_sweep().unwrap_or(1_700_000_000);
    let (mut states, mut transitions) = (Vec::new(), Vec::new());
    for sweep in sweeps {
        now += INTERVAL;
        transitions.extend(h.record(sweep, now, s));
        states.push(h.state());
    }
    (states, transitions)
}

fn in_state(state: State, s: &HealthSettings) -> FamilyHealth {
    let mut h = FamilyHealth::new();
    let first = match state {
        State::Up => ok(10),
        State::Degraded => partial(5, 1),
        State::Down => failed(),
        State::Unknown => return h,
    };
    feed(&mut h, &[first], s);
    assert_eq!(h.state(), state);
    h
}

#[test]
fn first_sweep_decides_immediately() {
    let s = settings(3, 1);
    for (sweep, to) in [
        (ok(10), State::Up),
        (partial(3, 1), State::Degraded),
        (failed(), State::Down),
    ] {
        let mut h = FamilyHealth::new();
        assert_eq!(h.state(), State::Unknown);
        let t = h.record(&sweep, 1000, &s);
        assert_eq!(
            t,
            Some(Transition {
                from: State::Unknown,
                to
            })
        );
        assert_eq!(h.last_change(), Some(1000));
    }
}

#[test]
fn down_after_k_failures_not_k_minus_one() {
    for k in [1, 2, 3, 5] {
        let s = settings(k, 1);
        let mut h = in_state(State::Up, &s);
        let sweeps = vec![failed(); k as usize];
        let (states, transitions) = feed(&mut h, &sweeps, &s);
        let before = &states[..k as usize - 1];
        assert!(
            before.iter().all(|st| *st == State::Up),
            "k={k}: {states:?}"
        );
        assert_eq!(states.last(), Some(&State::Down));
        assert_eq!(
            transitions,
            vec![Transition {
                from: State::Up,
                to: State::Down
            }]
        );
        assert_eq!(h.consecutive_failures(), k);
    }
}

#[test]
fn an_ok_in_between_restarts_the_failure_count() {
    let s = settings(3, 1);
    let mut h = in_state(State::Up, &s);
    let (states, _) = feed(
        &mut h,
        &[failed(), failed(), ok(10), failed(), failed()],
        &s,
    );
    assert!(states.iter().all(|st| *st == State::Up), "{states:?}");
    let (states, _) = feed(&mut h, &[failed()], &s);
    assert_eq!(states, vec![State::Down]);
}

#[test]
fn one_ok_brings_a_fixed_mirror_back_with_up_after_1() {
    let s = settings(3, 1);
    let mut h = in_state(State::Down, &s);
    let (states, transitions) = feed(&mut h, &[ok(10)], &s);
    assert_eq!(states, vec![State::Up]);
    assert_eq!(
        transitions,
        vec![Transition {
            from: State::Down,
            to: State::Up
        }]
    );
}

#[test]
fn up_after_2_needs_two_consecutive_oks() {
    let s = settings(3, 2);
    let mut h = in_state(State::Down, &s);
    let (states, _) = feed(&mut h, &[ok(10), failed(), ok(10)], &s);
    assert_eq!(states, vec![State::Down; 3]);
    let (states, _) = feed(&mut h, &[ok(10)], &s);
    assert_eq!(states, vec![State::Up]);
    assert_eq!(h.consecutive_successes(), 2);
}

#[test]
fn flapping_input_does_not_flap_the_state() {
    let s = settings(3, 1);
    let ok_failed: Vec<_> = (0..100)
        .map(|i| if i % 2 == 0 { failed() } else { ok(10) })
        .collect();
    let ok_partial: Vec<_> = (0..100)
        .map(|i| if i % 2 == 0 { partial(9, 1) } else { ok(10) })
        .collect();
    let two_failed_one_ok: Vec<_> = (0..99)
        .map(|i| if i % 3 == 2 { ok(10) } else { failed() })
        .collect();
    for sweeps in [&ok_failed, &ok_partial, &two_failed_one_ok] {
        let mut h = in_state(State::Up, &s);
        let (_, transitions) = feed(&mut h, sweeps, &s);
        assert_eq!(transitions, vec![], "from up");
    }
    // From Down the first Ok is a real recovery, then the flapping is absorbed.
    let mut h = in_state(State::Down, &s);
    let (_, transitions) = feed(&mut h, &ok_failed, &s);
    assert_eq!(transitions.len(), 1, "{transitions:?}");
    assert_eq!(h.state(), State::Up);
}

#[test]
fn partial_sweeps_degrade_but_never_take_a_mirror_down() {
    let s = settings(3, 1);
    let mut h = in_state(State::Up, &s);
    let (states, transitions) = feed(&mut h, &vec![partial(130, 6); 20], &s);
    assert_eq!(&states[..3], &[State::Up, State::Up, State::Degraded]);
    assert!(states[2..].iter().all(|st| *st == State::Degraded));
    assert_eq!(
        transitions,
        vec![Transition {
            from: State::Up,
            to: State::Degraded
        }]
    );
    assert_eq!(
        h.last_failure().map(|f| f.reason.as_str()),
        Some("6 of 136 repomd.xml files failed")
    );
    let (states, _) = feed(&mut h, &[ok(10)], &s);
    assert_eq!(states, vec![State::Up]);
}

#[test]
fn mixed_partial_and_failed_runs() {
    let s = settings(3, 1);
    // Not all k were Failed: the mirror still serves something, so Degraded.
    let mut h = in_state(State::Up, &s);
    let (states, _) = feed(&mut h, &[failed(), failed(), partial(1, 1)], &s);
    assert_eq!(states, vec![State::Up, State::Up, State::Degraded]);
    // From Degraded, k - 1 failures keep it Degraded; the k-th takes it down.
    let (states, _) = feed(&mut h, &[failed(), failed(), failed()], &s);
    assert_eq!(states, vec![State::Degraded, State::Degraded, State::Down]);
}

#[test]
fn down_comes_back_through_degraded_on_partial_sweeps() {
    let s = settings(3, 1);
    let mut h = in_state(State::Down, &s);
    let (states, _) = feed(&mut h, &[partial(3, 1), failed(), partial(3, 1)], &s);
    assert_eq!(states, vec![State::Degraded; 3]);

    let s = settings(3, 2);
    let mut h = in_state(State::Down, &s);
    let (states, _) = feed(&mut h, &[partial(3, 1), ok(10), ok(10)], &s);
    assert_eq!(states, vec![State::Down, State::Degraded, State::Up]);
}

#[test]
fn partial_with_nothing_failed_or_nothing_fetched_is_classified_by_content() {
    let s = settings(1, 1);
    let mut h = in_state(State::Up, &s);
    let (states, _) = feed(&mut h, &[partial(10, 0)], &s);
    assert_eq!(states, vec![State::Up]);
    assert_eq!(h.last_success(), h.last_sweep());
    let (states, _) = feed(&mut h, &[partial(0, 10)], &s);
    assert_eq!(states, vec![State::Down]);
    let (states, _) = feed(&mut h, &[partial(0, 0)], &s);
    assert_eq!(states, vec![State::Down]);
    let ratio = h.success_ratio(h.last_sweep().unwrap_or(0), s.window);
    // Samples: the first Ok, 10/0, 0/10, 0/0 (stored as a failure).
    assert_eq!(ratio, Some(0.5));
}

/// The smallest thresholds act at once (a 0, which used to act as 1, cannot be configured:
/// the thresholds are `NonZeroU32`).
#[test]
fn thresholds_of_one_act_at_once() {
    let s = settings(1, 1);
    let mut h = in_state(State::Up, &s);
    let (states, _) = feed(&mut h, &[failed(), ok(1), partial(1, 1)], &s);
    assert_eq!(states, vec![State::Down, State::Up, State::Degraded]);
}

#[test]
fn a_gap_longer_than_the_window_forgets_the_old_state() {
    let s = settings(3, 1);
    let mut h = in_state(State::Up, &s);
    let last = h.last_sweep().unwrap_or(0);
    // A restart within the window keeps the hysteresis ...
    assert_eq!(h.record(&failed(), last + 600, &s), None);
    assert_eq!(h.state(), State::Up);
    // ... one after a long stop judges afresh.
    let t = h.record(&failed(), last + 600 + 3600, &s);
    assert_eq!(
        t,
        Some(Transition {
            from: State::Up,
            to: State::Down
        })
    );
    assert_eq!(h.consecutive_failures(), 1);
}

#[test]
fn timestamps_and_reasons() {
    let s = settings(3, 1);
    let mut h = FamilyHealth::new();
    h.record(&ok(10), 100, &s);
    h.record(&failed(), 400, &s);
    assert_eq!(h.last_sweep(), Some(400));
    assert_eq!(h.last_success(), Some(100));
    assert_eq!(h.last_change(), Some(100));
    assert_eq!(
        h.last_failure(),
        Some(&LastFailure {
            at: 400,
            reason: "connect".into()
        })
    );
}

fn family(state: State) -> Option<FamilyHealth> {
    Some(in_state(state, &settings(3, 1)))
}

#[test]
fn overall_combines_families() {
    use State::*;
    let cases = [
        (None, None, Unknown),
        (family(Unknown), family(Unknown), Unknown),
        (family(Up), None, Up),
        (None, family(Down), Down),
        (family(Up), family(Up), Up),
        (family(Up), family(Down), Degraded),
        (family(Down), family(Up), Degraded),
        (family(Down), family(Down), Down),
        (family(Up), family(Degraded), Degraded),
        (family(Degraded), family(Down), Degraded),
        (family(Degraded), None, Degraded),
        (family(Up), family(Unknown), Up),
        (family(Unknown), family(Down), Down),
    ];
    for (ipv4, ipv6, want) in cases {
        let label = |f: &Option<FamilyHealth>| f.as_ref().map(FamilyHealth::state);
        let (l4, l6) = (label(&ipv4), label(&ipv6));
        let m = MirrorHealth { ipv4, ipv6 };
        assert_eq!(m.overall(), want, "ipv4 {l4:?} ipv6 {l6:?}");
    }
}

#[test]
fn mirror_record_creates_only_the_swept_family() {
    let s = settings(3, 1);
    let mut m = MirrorHealth::default();
    let t = m.record(IpFamily::Ipv6, &failed(), 100, &s);
    assert_eq!(t.map(|t| t.to), Some(State::Down));
    assert!(m.ipv4.is_none());
    assert_eq!(
        m.family(IpFamily::Ipv6).map(|f| f.state()),
        Some(State::Down)
    );
    m.record(IpFamily::Ipv4, &ok(5), 100, &s);
    assert_eq!(m.overall(), State::Degraded);
}

#[test]
fn samples_outside_the_window_are_pruned_and_ignored() {
    let s = settings(3, 1);
    let mut h = FamilyHealth::new();
    // One failure, then 12 Ok sweeps 5 min apart: exactly one hour later it leaves.
    h.record(&failed(), 0, &s);
    for i in 1..=12 {
        h.record(&ok(10), i * INTERVAL, &s);
    }
    assert_eq!(
        h.samples().count(),
        12,
        "the failure at 0 is at the boundary"
    );
    assert_eq!(h.success_ratio(12 * INTERVAL, s.window), Some(1.0));
    // The query window narrows independently of what is kept.
    assert_eq!(
        h.success_ratio(12 * INTERVAL, Duration::from_secs(600)),
        Some(1.0)
    );
    assert_eq!(h.samples().count(), 12);
    // Long after, nothing is in the window any more.
    assert_eq!(h.success_ratio(100_000, s.window), None);
    assert_eq!(h.latency_quantile(0.5, 100_000, s.window), None);

    let mut h = FamilyHealth::new();
    h.record(&failed(), 0, &s);
    h.record(&ok(10), 1800, &s);
    assert_eq!(h.success_ratio(1800, s.window), Some(0.5));
    assert_eq!(h.success_ratio(3599, s.window), Some(0.5));
    assert_eq!(h.success_ratio(3600, s.window), Some(1.0));
}

#[test]
fn the_ring_is_capped() {
    let s = HealthSettings {
        window: Duration::from_secs(86_400 * 365),
        ..settings(3, 1)
    };
    let mut h = FamilyHealth::new();
    for i in 0..(MAX_SAMPLES as i64 + 100) {
        h.record(&ok(1), i, &s);
    }
    assert_eq!(h.samples().count(), MAX_SAMPLES);
    assert_eq!(h.samples().next().map(|s| s.at), Some(100));
}

#[test]
fn success_ratio_weighs_each_sweep_equally() {
    let s = settings(3, 1);
    let mut h = FamilyHealth::new();
    h.record(&ok(10), 10, &s);
    h.record(&failed(), 20, &s);
    h.record(&partial(3, 1), 30, &s);
    assert_eq!(h.success_ratio(30, s.window), Some(1.75 / 3.0));
}

#[test]
fn nearest_rank_quantiles_on_known_data() {
    let s = settings(3, 1);
    let mut h = FamilyHealth::new();
    // 1..=100 ms in a scrambled order, plus failures that carry no latency.
    for (i, ms) in (1..=100u64).rev().enumerate() {
        let at = i as i64;
        h.record(&ok((ms * 37) % 101), at, &s);
        h.record(&failed(), at, &s);
    }
    let q = |q| h.latency_quantile(q, 100, s.window);
    let ms = |ms| Some(Duration::from_millis(ms));
    assert_eq!(q(0.0), ms(1));
    assert_eq!(q(0.5), ms(50));
    assert_eq!(q(0.9), ms(90));
    assert_eq!(q(0.99), ms(99));
    assert_eq!(q(1.0), ms(100));
    assert_eq!(q(f64::NAN), None);

    let mut h = FamilyHealth::new();
    for (i, ms) in [30u64, 10, 20, 40, 1000, 50, 60, 70, 80, 90]
        .iter()
        .enumerate()
    {
        h.record(&ok(*ms), i as i64, &s);
    }
    let q = |q| h.latency_quantile(q, 10, s.window);
    assert_eq!(q(0.5), ms(50));
    assert_eq!(q(0.9), ms(90));
    assert_eq!(q(0.91), ms(1000));
    assert_eq!(q(0.99), ms(1000));
}

#[test]
fn latency_keeps_sub_millisecond_precision() {
    let s = settings(3, 1);
    let mut h = FamilyHealth::new();
    h.record(
        &SweepResult::Ok {
            latency: Duration::from_micros(250),
        },
        0,
        &s,
    );
    let p50 = h.latency_quantile(0.5, 0, s.window);
    assert_eq!(p50, Some(Duration::from_micros(250)));
}

const STALE: Duration = Duration::from_secs(12 * 3600);

#[test]
fn score_known_points_and_bounds() {
    let ms = Duration::from_millis;
    assert_eq!(score(Some(0), STALE, Some(1.0), Some(ms(50))), 100.0);
    assert_eq!(score(Some(0), STALE, Some(1.0), Some(ms(5000))), 50.0);
    assert_eq!(score(Some(0), STALE, Some(0.0), Some(ms(50))), 0.0);
    assert_eq!(score(Some(43_200), STALE, Some(1.0), Some(ms(50))), 0.0);
    assert_eq!(score(Some(21_600), STALE, Some(1.0), Some(ms(50))), 50.0);
    assert!((score(Some(0), STALE, Some(0.9), None) - 60.75).abs() < 1e-9);
    assert_eq!(score(None, STALE, None, None), 100.0 * 0.5 * 0.5 * 0.75);
    assert_eq!(score(Some(1), Duration::ZERO, Some(1.0), None), 0.0);
    for ratio in [-1.0, 2.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let v = score(Some(0), STALE, Some(ratio), Some(ms(1)));
        assert!((0.0..=100.0).contains(&v), "{ratio} -> {v}");
    }
}

#[test]
fn score_is_monotonic_in_each_input() {
    let lags = [0u64, 1, 60, 3600, 21_600, 43_199, 43_200, 1_000_000];
    let ratios = [0.0, 0.1, 0.5, 0.9, 0.99, 1.0];
    let latencies: Vec<Duration> = [0u64, 50, 100, 101, 200, 1000, 4999, 5000, 60_000]
        .iter()
        .map(|ms| Duration::from_millis(*ms))
        .collect();
    let mut checked = 0;
    for lag in lags {
        for ratio in ratios {
            for (i, latency) in latencies.iter().enumerate() {
                let here = score(Some(lag), STALE, Some(ratio), Some(*latency));
                assert!((0.0..=100.0).contains(&here));
                if let Some(next) = latencies.get(i + 1) {
                    assert!(score(Some(lag), STALE, Some(ratio), Some(*next)) <= here);
                }
                assert!(score(Some(lag + 1), STALE, Some(ratio), Some(*latency)) <= here);
                let better = (ratio + 0.01).min(1.0);
                assert!(score(Some(lag), STALE, Some(better), Some(*latency)) >= here);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, lags.len() * ratios.len() * latencies.len());
}

#[test]
fn unknown_score_inputs_sit_between_best_and_worst() {
    let (best, worst) = (Duration::ZERO, Duration::from_secs(10));
    let full = |lag, ratio, latency| score(lag, STALE, ratio, latency);
    let mid_lag = full(None, Some(1.0), Some(best));
    assert!(full(Some(43_200), Some(1.0), Some(best)) < mid_lag);
    assert!(mid_lag < full(Some(0), Some(1.0), Some(best)));
    let mid_ratio = full(Some(0), None, Some(best));
    assert!(full(Some(0), Some(0.0), Some(best)) < mid_ratio);
    assert!(mid_ratio < full(Some(0), Some(1.0), Some(best)));
    let mid_latency = full(Some(0), Some(1.0), None);
    assert!(full(Some(0), Some(1.0), Some(worst)) < mid_latency);
    assert!(mid_latency < full(Some(0), Some(1.0), Some(best)));
}

#[test]
fn state_labels_and_values() {
    let labels: Vec<_> = State::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(labels, ["unknown", "up", "degraded", "down"]);
    let values: Vec<_> = State::ALL.iter().map(|s| s.metric_value()).collect();
    assert_eq!(values, [None, Some(1.0), Some(0.5), Some(0.0)]);
    for state in State::ALL {
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(json, format!("\"{}\"", state.as_str()));
    }
}

#[test]
fn serde_round_trip_keeps_history_and_behaviour() {
    let s = settings(3, 2);
    let mut m = MirrorHealth::default();
    let sweeps = [ok(12), partial(5, 2), failed(), failed(), ok(40)];
    for (i, sweep) in sweeps.iter().enumerate() {
        m.record(IpFamily::Ipv4, sweep, 1000 + i as i64 * INTERVAL, &s);
    }
    m.record(IpFamily::Ipv6, &failed(), 1000, &s);
    let json = serde_json::to_string(&m).unwrap();
    let mut back: MirrorHealth = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
    // The restored counters carry on exactly where they left off (m = 2: one more Ok).
    let now = 1000 + 5 * INTERVAL;
    let t1 = m.record(IpFamily::Ipv4, &ok(10), now, &s);
    let t2 = back.record(IpFamily::Ipv4, &ok(10), now, &s);
    assert_eq!(t1, t2);
    assert_eq!(back, m);
}

#[test]
fn old_or_partial_state_files_still_load() {
    let m: MirrorHealth = serde_json::from_str(r#"{"ipv4":{"state":"up"}}"#).unwrap();
    assert_eq!(m.overall(), State::Up);
    assert!(m.ipv6.is_none());
    let m: MirrorHealth = serde_json::from_str("{}").unwrap();
    assert_eq!(m, MirrorHealth::default());
}
