//! In which order: groups, subnet specificity, distance, the sticky weighted shuffle, the cap,
//! and the URLs built from a pick.

use std::net::IpAddr;
use std::time::Duration;

use super::super::order;
use super::*;
use crate::config::geo::Continent;

/// Mirrors `m0`..`m{n-1}` with nothing to place them: all in [`Group::Other`].
fn plain(n: usize, serve: &[&str]) -> Snapshot {
    let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let yaml: Vec<String> = names.iter().map(|n| mirror(n, &[])).collect();
    snapshot(
        config(serve, &yaml),
        names.iter().map(|n| healthy(n)).collect(),
    )
}

#[test]
fn subnet_then_asn_then_country_then_continent_then_the_rest() {
    let yaml = [
        mirror("rest", &[]),
        mirror("us", &["country: US"]),
        mirror("fr", &["country: FR"]),
        mirror("de", &["country: DE"]),
        mirror("as", &["asn: 64500", "country: US"]),
        mirror("net", &["subnets: [\"198.51.100.0/24\"]", "country: US"]),
    ];
    let snap = snapshot(
        config(&[], &yaml),
        ["rest", "us", "fr", "de", "as", "net"]
            .into_iter()
            .map(healthy)
            .collect(),
    );
    let mut c = client("198.51.100.7");
    c.asn = Some(64500);
    c.country = Some("DE".into());
    c.continent = Some(Continent::EU);
    let picks = pick_x86(&snap, &c);
    assert_eq!(names(&picks)[..4], ["net", "as", "de", "fr"]);
    let groups: Vec<&str> = picks.iter().map(|p| p.group.as_str()).collect();
    let expected = ["subnet", "asn", "country", "continent", "other", "other"];
    assert_eq!(groups, expected);
}

#[test]
fn country_parameter_alone_gives_country_and_continent() {
    let yaml = [
        mirror("us", &["country: US"]),
        mirror("fr", &["country: FR"]),
        mirror("de", &["country: DE"]),
    ];
    let snap = snapshot(
        config(&[], &yaml),
        ["us", "fr", "de"].into_iter().map(healthy).collect(),
    );
    let mut c = client("192.0.2.1");
    c.country = Some("de".into());
    assert_eq!(names(&pick_x86(&snap, &c)), ["de", "fr", "us"]);
}

#[test]
fn most_specific_subnet_first() {
    let yaml = [
        mirror("s16", &["subnets: [\"10.0.0.0/16\"]"]),
        mirror("s24", &["subnets: [\"192.0.2.0/24\", \"10.0.5.0/24\"]"]),
        mirror("s28", &["subnets: [\"10.0.5.0/28\"]"]),
        mirror("other", &[]),
    ];
    let snap = snapshot(
        config(&[], &yaml),
        ["s16", "s24", "s28", "other"]
            .into_iter()
            .map(healthy)
            .collect(),
    );
    for addr in ["10.0.5.1", "10.0.5.3", "10.0.5.14"] {
        let picks = pick_x86(&snap, &client(addr));
        assert_eq!(names(&picks), ["s28", "s24", "s16", "other"], "{addr}");
    }
    // Outside the /28: s28 is just another mirror of the rest.
    let picks = pick_x86(&snap, &client("10.0.5.100"));
    assert_eq!(names(&picks)[..2], ["s24", "s16"]);
    assert_eq!(picks[2].group, Group::Other);
    assert_eq!(names(&pick_x86(&snap, &client("10.0.6.1")))[0], "s16");
}

#[test]
fn nearest_first_inside_the_country_only() {
    let at = |lat: f64, lon: f64| format!("coordinates: {{latitude: {lat}, longitude: {lon}}}");
    let yaml = [
        mirror("munich", &["country: DE", &at(48.14, 11.58)]),
        mirror("somewhere", &["country: DE"]),
        mirror("hamburg", &["country: DE", &at(53.55, 9.99)]),
        mirror("szczecin", &["country: PL", &at(53.43, 14.55)]),
        mirror("frankfurt", &["country: DE", &at(50.11, 8.68)]),
    ];
    let names_all = ["munich", "somewhere", "hamburg", "szczecin", "frankfurt"];
    let snap = snapshot(
        config(&[], &yaml),
        names_all.into_iter().map(healthy).collect(),
    );
    let mut berlin = client("192.0.2.1");
    berlin.country = Some("DE".into());
    berlin.coordinates = Some(crate::config::Coordinates {
        latitude: 52.52,
        longitude: 13.405,
    });
    // Szczecin is the nearest of all, but another country: continent group, after every
    // German mirror; the German one without coordinates after those with.
    assert_eq!(
        names(&pick_x86(&snap, &berlin)),
        ["hamburg", "frankfurt", "munich", "somewhere", "szczecin"]
    );
}

#[test]
fn the_same_network_gets_the_same_order_for_sticky_for() {
    let snap = plain(8, &["sticky_for: 1h"]);
    let order_at = |addr: &str, now: i64| {
        let w = want(&snap, "baseos", Some(Arch::X86_64));
        let picks = select(&snap, &w, &client(addr), now);
        names(&picks).join(" ")
    };
    // The window of 203.0.113.0/24 that contains NOW: [end - 1h, end).
    let addr: IpAddr = "203.0.113.5".parse().unwrap();
    let hour = Duration::from_secs(3600);
    let window = order::window(addr, NOW, hour);
    let end = (NOW..NOW + 3601)
        .find(|t| order::window(addr, *t, hour) != window)
        .unwrap();
    let start = end - 3600;
    let reference = order_at("203.0.113.5", start);
    for t in [start, start + 1, NOW, end - 1] {
        assert_eq!(order_at("203.0.113.5", t), reference);
        assert_eq!(order_at("203.0.113.250", t), reference, "same /24");
    }
    assert_ne!(order_at("203.0.113.5", end), reference, "next window");
    assert_ne!(order_at("198.18.7.5", start), reference, "another /24");
    let v6 = order_at("2001:db8:1:2::1", NOW);
    assert_eq!(order_at("2001:db8:1:2:ffff::9", NOW), v6, "same /64");
    assert_ne!(order_at("2001:db8:1:3::1", NOW), v6, "another /64");
}

#[test]
fn networks_do_not_all_reshuffle_at_the_same_second() {
    let hour = Duration::from_secs(3600);
    let boundaries: std::collections::BTreeSet<i64> = (0..50)
        .map(|i| {
            let addr: IpAddr = format!("198.51.{i}.1").parse().unwrap();
            let w = order::window(addr, NOW, hour);
            (NOW..NOW + 3601)
                .find(|t| order::window(addr, *t, hour) != w)
                .unwrap()
        })
        .collect();
    assert!(boundaries.len() > 40, "{boundaries:?}");
}

#[test]
fn the_shuffle_is_weighted_by_score() {
    let mut snap = plain(10, &[]);
    let mut heavy = healthy("m0");
    heavy.score = 100.0;
    let mut zero = healthy("m1");
    zero.score = 0.0;
    snap.mirrors[0] = Arc::new(heavy);
    snap.mirrors[1] = Arc::new(zero);
    for m in snap.mirrors.iter_mut().skip(2) {
        Arc::make_mut(m).score = 1.0;
    }
    let w = want(&snap, "baseos", Some(Arch::X86_64));
    let mut first = BTreeMap::<&str, u32>::new();
    for i in 0..500 {
        let c = client(&format!("10.{}.{}.1", i / 250, i % 250));
        let picks = select(&snap, &w, &c, NOW);
        assert_eq!(picks.len(), 10, "a score of 0 still counts as weight 1");
        *first.entry(picks[0].mirror.name.as_str()).or_default() += 1;
    }
    // Expected share for m0: 100 / (100 + 9) ≈ 92%.
    assert!(first.get("m0").copied().unwrap_or(0) > 400, "{first:?}");
}

#[test]
fn the_list_is_capped() {
    let snap = plain(15, &[]);
    assert_eq!(pick_x86(&snap, &client("192.0.2.1")).len(), 10, "default");
    let snap = plain(15, &["mirrorlist_length: 3"]);
    assert_eq!(pick_x86(&snap, &client("192.0.2.1")).len(), 3);
}

#[test]
fn urls_keep_basearch_literal_without_an_arch() {
    let snap = plain(1, &[]);
    let version = snap.config.layout.version("9.8").unwrap();
    let repo = snap.config.layout.repo("baseos").unwrap();
    let c = client("192.0.2.1");
    let mut w = want(&snap, "baseos", None);
    let picks = select(&snap, &w, &c, NOW);
    assert_eq!(
        url_for(&picks[0], version, repo, None),
        "https://m0/almalinux/9.8/BaseOS/$basearch/os/"
    );
    w.protocol = Some(Protocol::Http);
    w.arch = Some(Arch::Aarch64);
    let picks = select(&snap, &w, &c, NOW);
    assert_eq!(
        url_for(&picks[0], version, repo, w.arch),
        "http://m0/almalinux/9.8/BaseOS/aarch64/os/"
    );
}

/// The answer keeps only the best `mirrorlist_length` while it scans: a short list must be
/// exactly the head of a long one, for every client, across groups and tiers.
#[test]
fn a_short_list_is_the_head_of_a_long_one() {
    let countries = ["DE", "FR", "US", "JP", "BR"];
    let yaml: Vec<String> = (0..40)
        .map(|i| {
            let country = format!("country: {}", countries[i % countries.len()]);
            let extra = match i {
                7 => vec![country, "subnets: [\"10.0.0.0/8\"]".to_string()],
                8 => vec![country, "subnets: [\"10.1.0.0/16\"]".to_string()],
                _ => vec![country],
            };
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            mirror(&format!("m{i}"), &extra)
        })
        .collect();
    let build = |length: &str| {
        let mut snap = snapshot(
            config(&[length], &yaml),
            (0..40).map(|i| healthy(&format!("m{i}"))).collect(),
        );
        for (i, m) in snap.mirrors.iter_mut().enumerate() {
            Arc::make_mut(m).score = (i % 7) as f64 * 15.0;
        }
        snap
    };
    let (short, long) = (
        build("mirrorlist_length: 4"),
        build("mirrorlist_length: 100"),
    );
    for i in 0..200 {
        let mut c = client(&format!("10.{}.{}.9", i % 3, i));
        c.country = Some(countries[i % countries.len()].to_string());
        let head = names(&pick_x86(&short, &c));
        let all = names(&pick_x86(&long, &c));
        assert_eq!(all.len(), 40);
        assert_eq!(head, all[..4], "client {i}");
    }
}

/// One index serves every request against its snapshot, and a new snapshot gets a new one.
#[test]
fn the_index_is_per_snapshot() {
    let first = Arc::new(plain(12, &[]));
    let cache = IndexCache::default();
    let index = cache.index_for(&first);
    for i in 0..50 {
        let c = client(&format!("192.0.2.{i}"));
        for (repo, arch) in [("baseos", Some(Arch::X86_64)), ("appstream", None)] {
            let w = want(&first, repo, arch);
            let shared = select_with(&index, &first, &w, &c, NOW);
            assert_eq!(names(&shared), names(&select(&first, &w, &c, NOW)));
        }
    }
    assert!(Arc::ptr_eq(&index, &cache.index_for(&first)), "reused");

    // m0 loses its copy: the next snapshot must not be answered from the old index.
    let mut second = plain(12, &[]);
    second.mirrors[0] = Arc::new(with_verdict("m0", "baseos", "x86_64", Verdict::Missing));
    second.generated_at = NOW + 1;
    let second = Arc::new(second);
    let index = cache.index_for(&second);
    // A late request on the older snapshot gets its own index and leaves the newer one be.
    let late = cache.index_for(&first);
    assert!(!Arc::ptr_eq(&late, &index));
    assert!(Arc::ptr_eq(&index, &cache.index_for(&second)), "kept");
    let w = want(&second, "baseos", Some(Arch::X86_64));
    for i in 0..50 {
        let picks = select_with(&index, &second, &w, &client(&format!("192.0.2.{i}")), NOW);
        assert_eq!(picks.len(), 10);
        assert!(!names(&picks).contains(&"m0"));
    }
}
