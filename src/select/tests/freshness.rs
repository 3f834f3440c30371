//! Freshness first: current copies before behind ones, behind ones only to fill the list,
//! the own-network exception and its bound, for one case each and as properties over many
//! random networks and clients.

use super::*;
use crate::config::geo::Continent;

/// A small deterministic generator (splitmix64): the same cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `healthy(name)` with `baseos`/`x86_64` given `verdict`.
fn x86(name: &str, verdict: Verdict) -> MirrorSnapshot {
    with_verdict(name, "baseos", "x86_64", verdict)
}

#[test]
fn current_copies_far_away_come_before_behind_ones_nearby() {
    // The case of the issue: the nearby mirrors have the old revision, the far ones the new.
    let mut yaml = Vec::new();
    let mut mirrors = Vec::new();
    for i in 0..10 {
        let name = format!("near{i}");
        yaml.push(mirror(&name, &["country: DE"]));
        mirrors.push(x86(&name, behind(600 + i * 60)));
    }
    for i in 0..5 {
        let name = format!("far{i}");
        yaml.push(mirror(&name, &["country: JP"]));
        mirrors.push(healthy(&name));
    }
    let snap = snapshot(config(&[], &yaml), mirrors);
    let mut c = client("192.0.2.1");
    c.country = Some("DE".into());
    let picks = pick_x86(&snap, &c);
    assert_eq!(picks.len(), 10);
    assert!(
        picks[..5].iter().all(|p| !p.behind()),
        "{:?}",
        names(&picks)
    );
    assert!(picks[..5].iter().all(|p| p.mirror.name.starts_with("far")));
    // Then the behind ones fill the list, nearest group first and by increasing lag.
    let lags: Vec<u64> = picks[5..].iter().map(|p| p.lag).collect();
    assert_eq!(lags, [600, 660, 720, 780, 840]);
    assert!(picks[5..].iter().all(|p| p.group == Group::Country));
}

#[test]
fn behind_copies_are_not_listed_when_enough_current_ones_qualify() {
    let mut yaml = Vec::new();
    let mut mirrors = Vec::new();
    for i in 0..12 {
        let name = format!("cur{i}");
        yaml.push(mirror(&name, &[]));
        mirrors.push(healthy(&name));
    }
    for i in 0..12 {
        let name = format!("old{i}");
        yaml.push(mirror(&name, &["country: DE"]));
        mirrors.push(x86(&name, behind(60)));
    }
    let snap = snapshot(config(&[], &yaml), mirrors);
    let mut c = client("192.0.2.1");
    c.country = Some("DE".into());
    let picks = pick_x86(&snap, &c);
    assert_eq!(picks.len(), 10);
    assert!(picks.iter().all(|p| !p.behind()), "{:?}", names(&picks));
}

#[test]
fn own_network_exception_within_its_bound_only() {
    let yaml = [
        mirror("isp", &["subnets: [\"198.51.100.0/24\"]"]),
        mirror("campus", &["asn: 64500"]),
        mirror("far", &[]),
    ];
    let cfg = config(&["own_network_max_lag: 30m"], &yaml);
    let c = {
        let mut c = client("198.51.100.7");
        c.asn = Some(64500);
        c
    };
    // 10 and 20 minutes behind: within the bound, they keep their place in front.
    let snap = snapshot(
        cfg.clone(),
        vec![
            x86("isp", behind(600)),
            x86("campus", behind(1200)),
            healthy("far"),
        ],
    );
    assert_eq!(names(&pick_x86(&snap, &c)), ["isp", "campus", "far"]);
    // Past the bound they are behind copies like any other: after every current one.
    let snap = snapshot(
        cfg.clone(),
        vec![
            x86("isp", behind(3600)),
            x86("campus", behind(1800)),
            healthy("far"),
        ],
    );
    assert_eq!(names(&pick_x86(&snap, &c)), ["campus", "far", "isp"]);
    // A client outside that network gets them after the current one, whatever the lag.
    let snap = snapshot(
        cfg,
        vec![
            x86("isp", behind(600)),
            x86("campus", behind(1200)),
            healthy("far"),
        ],
    );
    assert_eq!(
        names(&pick_x86(&snap, &client("192.0.2.1"))),
        ["far", "isp", "campus"]
    );
    // Off: `0s`.
    let off = config(&["own_network_max_lag: 0s"], &yaml);
    let snap = snapshot(
        off,
        vec![
            x86("isp", behind(600)),
            x86("campus", behind(1200)),
            healthy("far"),
        ],
    );
    assert_eq!(names(&pick_x86(&snap, &c)), ["far", "isp", "campus"]);
}

#[test]
fn within_a_group_current_first_then_behind_by_lag() {
    let yaml: Vec<String> = (0..6).map(|i| mirror(&format!("m{i}"), &[])).collect();
    let snap = snapshot(
        config(&[], &yaml),
        vec![
            x86("m0", behind(3000)),
            healthy("m1"),
            x86("m2", behind(100)),
            x86("m3", behind(2000)),
            healthy("m4"),
            x86("m5", behind(9000)),
        ],
    );
    let picks = pick_x86(&snap, &client("192.0.2.1"));
    // m5 is over `max_lag` (2h): never listed.
    assert_eq!(sorted(&picks[..2]), ["m1", "m4"]);
    assert_eq!(names(&picks[2..]), ["m2", "m3", "m0"]);
}

#[test]
fn a_behind_monopoly_mirror_is_still_alone_for_its_network() {
    let yaml = [
        mirror(
            "campus",
            &[
                "private: true",
                "monopoly: true",
                "subnets: [\"10.1.0.0/16\"]",
            ],
        ),
        mirror("public", &[]),
    ];
    let mut mirrors = vec![x86("campus", behind(5000)), healthy("public")];
    let mut yaml = yaml.to_vec();
    for i in 0..12 {
        let name = format!("p{i}");
        yaml.push(mirror(&name, &[]));
        mirrors.push(healthy(&name));
    }
    let snap = snapshot(config(&[], &yaml), mirrors);
    assert_eq!(names(&pick_x86(&snap, &client("10.1.2.3"))), ["campus"]);
}

#[test]
fn without_an_arch_the_largest_lag_of_the_carried_arches_counts() {
    let yaml = [mirror("mixed", &[]), mirror("cur", &[])];
    let mut mixed = healthy("mixed");
    for fam in &mut mixed.families {
        for copy in &mut fam.repos {
            if copy.repo() == "baseos" && copy.arch() == "aarch64" {
                copy.verdict = behind(700);
            }
        }
    }
    let snap = snapshot(config(&[], &yaml), vec![mixed, healthy("cur")]);
    let picks = select(
        &snap,
        &want(&snap, "baseos", None),
        &client("192.0.2.1"),
        NOW,
    );
    assert_eq!(names(&picks), ["cur", "mixed"]);
    assert_eq!(picks[1].lag, 700);
}

/// The properties of the order, checked on one answer. `fresh_count` is the number of copies
/// that are current (or on the client's own network within `own_max`) and `total` the number
/// that qualify at all.
fn check_answer(
    picks: &[Pick<'_>],
    length: usize,
    own_max: u64,
    fresh_count: usize,
    total: usize,
    context: &str,
) {
    let fresh = |p: &Pick<'_>| {
        !p.behind() || matches!(p.group, Group::Subnet | Group::Asn) && p.lag <= own_max
    };
    assert_eq!(picks.len(), total.min(length), "length: {context}");
    // Fresh first, and no behind copy before a current one anywhere (the exception aside).
    let first_stale = picks.iter().position(|p| !fresh(p)).unwrap_or(picks.len());
    assert!(
        picks[first_stale..].iter().all(|p| !fresh(p)),
        "a behind copy before a current one: {context}"
    );
    // Behind copies only to fill: every fresh one is listed before any of them.
    if first_stale < picks.len() {
        assert_eq!(
            first_stale, fresh_count,
            "behind while current remain: {context}"
        );
    } else {
        assert_eq!(first_stale, fresh_count.min(length), "{context}");
    }
    // Groups in order within each part; within a group current first, then lag upwards.
    for part in [&picks[..first_stale], &picks[first_stale..]] {
        for pair in part.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(a.group <= b.group, "groups out of order: {context}");
            if a.group == b.group {
                assert!(
                    (a.behind(), a.lag) <= (b.behind(), b.lag),
                    "lag out of order in {:?}: {context}",
                    a.group
                );
            }
        }
    }
    assert!(
        picks.iter().all(|p| p.lag <= 7200),
        "over max_lag: {context}"
    );
}

#[test]
fn behind_never_before_current_over_many_networks_and_clients() {
    let mut rng = Rng(0x5eed);
    let countries = ["DE", "FR", "US", "JP"];
    for round in 0..150 {
        let n = 4 + rng.below(30) as usize;
        let length = 1 + rng.below(12) as usize;
        let own_max = [0, 600, 1800][rng.below(3) as usize];
        let mut yaml = Vec::new();
        let mut mirrors = Vec::new();
        let mut verdicts = Vec::new();
        for i in 0..n {
            let name = format!("m{i}");
            let mut extra = Vec::new();
            let subnet;
            if rng.below(5) == 0 {
                subnet = format!("subnets: [\"198.51.100.{}/28\"]", 16 * rng.below(4));
                extra.push(subnet.as_str());
            }
            let asn;
            if rng.below(5) == 0 {
                asn = format!("asn: {}", 64500 + rng.below(3));
                extra.push(asn.as_str());
            }
            let country;
            if rng.below(4) != 0 {
                country = format!("country: {}", countries[rng.below(4) as usize]);
                extra.push(country.as_str());
            }
            yaml.push(mirror(&name, &extra));
            let verdict = match rng.below(6) {
                0 | 1 => Verdict::Current,
                2 | 3 => behind(1 + rng.below(7200)),
                4 => behind(7201 + rng.below(3600)),
                _ => Verdict::Error {
                    reason: crate::probe::FailureReason::Connect.into(),
                },
            };
            mirrors.push(x86(&name, verdict.clone()));
            verdicts.push(verdict);
        }
        let serve = [
            format!("mirrorlist_length: {length}"),
            format!("own_network_max_lag: {own_max}s"),
        ];
        let serve: Vec<&str> = serve.iter().map(String::as_str).collect();
        let snap = snapshot(config(&serve, &yaml), mirrors);
        let index = Index::new(&snap);
        for k in 0..12 {
            let mut c = client(&format!("198.51.100.{}", rng.below(64)));
            c.asn = (rng.below(2) == 0).then(|| 64500 + rng.below(3) as u32);
            c.country = (rng.below(3) != 0).then(|| countries[rng.below(4) as usize].into());
            c.continent = c.country.as_deref().and_then(continent_of);
            let w = want(&snap, "baseos", Some(Arch::X86_64));
            let picks = select_with(&index, &snap, &w, &c, NOW + 977 * k);
            // The oracle: which mirrors are fresh for this client, from the verdicts alone.
            let mut fresh_count = 0;
            let mut total = 0;
            for (m, verdict) in snap.config.mirrors.iter().zip(&verdicts) {
                let lag = match verdict {
                    Verdict::Current => 0,
                    Verdict::Behind { lag_seconds, .. } if *lag_seconds <= 7200 => *lag_seconds,
                    _ => continue,
                };
                total += 1;
                let own = match &m.subnets {
                    crate::config::Subnets::List(nets) => nets.iter().any(|n| n.contains(&c.addr)),
                    crate::config::Subnets::Url(_) => false,
                } || c.asn.is_some_and(|a| m.asns.contains(&a));
                if lag == 0 || own && lag <= own_max {
                    fresh_count += 1;
                }
            }
            let context = format!("round {round}, client {k}: {c:?}, answer {:?}", {
                picks
                    .iter()
                    .map(|p| (p.mirror.name.as_str(), p.group, p.lag))
                    .collect::<Vec<_>>()
            });
            check_answer(&picks, length, own_max, fresh_count, total, &context);
            // The index changes nothing: a throw-away one gives the same answer.
            let again = select(&snap, &w, &c, NOW + 977 * k);
            assert_eq!(names(&again), names(&picks), "{context}");
        }
    }
    let _ = Continent::EU;
}

/// Time per answer on a 530-mirror network, with every copy current and in the middle of a
/// release (5 current, the rest behind). Run by hand:
/// `cargo test --release --lib select::tests::freshness::timing -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn timing() {
    let countries = ["DE", "FR", "US", "JP", "BR", "IN"];
    let yaml: Vec<String> = (0..530)
        .map(|i| {
            let country = format!("country: {}", countries[i % countries.len()]);
            let asn = format!("asn: {}", 64500 + i % 50);
            mirror(&format!("m{i}"), &[country.as_str(), asn.as_str()])
        })
        .collect();
    let cfg = config(&[], &yaml);
    for (label, current) in [("all current", 530), ("release, 5 current", 5)] {
        let mirrors = (0..530)
            .map(|i| {
                let name = format!("m{i}");
                if i < current {
                    healthy(&name)
                } else {
                    x86(&name, behind(60 + i as u64))
                }
            })
            .collect();
        let snap = snapshot(cfg.clone(), mirrors);
        let index = Index::new(&snap);
        let w = want(&snap, "baseos", Some(Arch::X86_64));
        let n = 20_000u32;
        let started = std::time::Instant::now();
        let mut listed = 0;
        for k in 0..n {
            let mut c = client(&format!("198.51.{}.{}", k % 200, k % 250));
            c.country = Some(countries[k as usize % countries.len()].into());
            c.asn = Some(64500 + k % 60);
            listed += select_with(&index, &snap, &w, &c, NOW).len();
        }
        let per = started.elapsed() / n;
        eprintln!("{label}: {per:?} per answer ({listed} mirrors listed)");
    }
}
