//! Who is listed: health per family, verdicts, lag, arches, protocols, private mirrors.

use super::*;

#[test]
fn only_up_current_or_slightly_behind_copies_are_listed() {
    // "removed" is in the snapshot but not in the configuration (a reload in flight).
    let configured = [
        "good", "down", "unswept", "stale", "near", "partial", "error", "unknown", "missing",
    ];
    let mut yaml: Vec<String> = configured.iter().map(|n| mirror(n, &[])).collect();
    yaml.push(mirror("disabled", &["enabled: false"]));
    let config = config(&[], &yaml);
    let snap = snapshot(
        config,
        vec![
            healthy("good"),
            with_state("down", IpFamily::Ipv4, State::Down),
            with_state("unswept", IpFamily::Ipv4, State::Unknown),
            with_verdict("stale", "baseos", "x86_64", behind(3 * 3600)),
            with_verdict("near", "baseos", "x86_64", behind(3600)),
            with_verdict(
                "partial",
                "baseos",
                "x86_64",
                Verdict::Incomplete {
                    missing: ["repodata/x-primary.xml.gz".into()].into(),
                },
            ),
            with_verdict(
                "error",
                "baseos",
                "x86_64",
                Verdict::Error {
                    reason: crate::probe::FailureReason::Timeout.into(),
                },
            ),
            with_verdict(
                "unknown",
                "baseos",
                "x86_64",
                Verdict::Unknown {
                    newer: true,
                    lag_seconds: None,
                },
            ),
            with_verdict("missing", "baseos", "x86_64", Verdict::Missing),
            healthy("disabled"),
            healthy("removed"),
        ],
    );
    let picks = pick_x86(&snap, &client("192.0.2.1"));
    assert_eq!(sorted(&picks), ["good", "near"]);
    // The bad copy is only baseos/x86_64: the same mirrors are fine for appstream.
    let appstream = select(
        &snap,
        &want(&snap, "appstream", Some(Arch::X86_64)),
        &client("192.0.2.1"),
        NOW,
    );
    assert_eq!(
        sorted(&appstream),
        ["error", "good", "missing", "near", "partial", "stale", "unknown"]
    );
}

#[test]
fn lag_limit_is_inclusive_and_configurable() {
    let config = config(&["max_lag: 1h"], &[mirror("at", &[]), mirror("over", &[])]);
    let snap = snapshot(
        config,
        vec![
            with_verdict("at", "baseos", "x86_64", behind(3600)),
            with_verdict("over", "baseos", "x86_64", behind(3601)),
        ],
    );
    assert_eq!(names(&pick_x86(&snap, &client("192.0.2.1"))), ["at"]);
}

#[test]
fn without_arch_every_carried_arch_must_qualify() {
    let all_names = ["all", "lagging", "no_aarch64", "nothing", "broken", "near"];
    let yaml: Vec<String> = all_names.iter().map(|n| mirror(n, &[])).collect();
    let error = Verdict::Error {
        reason: crate::probe::FailureReason::Connect.into(),
    };
    let mut nothing = with_verdict("nothing", "baseos", "x86_64", Verdict::Missing);
    for fam in &mut nothing.families {
        fam.repos
            .retain(|r| r.repo() != "baseos" || r.arch() != "aarch64");
    }
    let snap = snapshot(
        config(&[], &yaml),
        vec![
            healthy("all"),
            with_verdict("lagging", "baseos", "aarch64", behind(3 * 3600)),
            with_verdict("no_aarch64", "baseos", "aarch64", Verdict::Missing),
            nothing,
            with_verdict("broken", "baseos", "aarch64", error),
            with_verdict("near", "baseos", "aarch64", behind(600)),
        ],
    );
    let c = client("192.0.2.1");
    let any_arch = select(&snap, &want(&snap, "baseos", None), &c, NOW);
    assert_eq!(sorted(&any_arch), ["all", "near", "no_aarch64"]);
    let x86 = pick_x86(&snap, &c);
    assert_eq!(
        sorted(&x86),
        ["all", "broken", "lagging", "near", "no_aarch64"]
    );
}

#[test]
fn the_client_family_decides_which_probes_count() {
    let all_names = ["both", "v6_down", "v4_only", "v6_degraded", "v4_down"];
    let yaml: Vec<String> = all_names.iter().map(|n| mirror(n, &[])).collect();
    let mut v4_only = healthy("v4_only");
    v4_only.families.retain(|f| f.family == IpFamily::Ipv4);
    let snap = snapshot(
        config(&[], &yaml),
        vec![
            healthy("both"),
            with_state("v6_down", IpFamily::Ipv6, State::Down),
            v4_only,
            with_state("v6_degraded", IpFamily::Ipv6, State::Degraded),
            with_state("v4_down", IpFamily::Ipv4, State::Down),
        ],
    );
    let v6 = pick_x86(&snap, &client("2001:db8::1"));
    assert_eq!(sorted(&v6), ["both", "v4_down", "v6_degraded"]);
    // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6: they are IPv4 clients.
    let mapped = pick_x86(&snap, &client("::ffff:192.0.2.1"));
    assert_eq!(
        sorted(&mapped),
        ["both", "v4_only", "v6_degraded", "v6_down"]
    );
}

#[test]
fn protocol_must_answer_and_https_is_preferred() {
    let http_only = "  - name: plain\n    address:\n      http: http://plain/almalinux/\n";
    let yaml = [
        mirror("both", &[]),
        mirror("https_broken", &[]),
        http_only.to_string(),
    ];
    let mut broken = healthy("https_broken");
    for fam in &mut broken.families {
        fam.protocols.insert(Protocol::Https, false);
    }
    let snap = snapshot(
        config(&[], &yaml),
        vec![healthy("both"), broken, healthy("plain")],
    );
    let c = client("192.0.2.1");
    let mut w = want(&snap, "baseos", Some(Arch::X86_64));
    let protocols = |picks: &[Pick<'_>]| {
        let mut out: Vec<(String, &'static str)> = picks
            .iter()
            .map(|p| (p.mirror.name.clone(), p.protocol.as_str()))
            .collect();
        out.sort();
        out
    };
    let any = select(&snap, &w, &c, NOW);
    assert_eq!(
        protocols(&any),
        [
            ("both".to_string(), "https"),
            ("https_broken".to_string(), "http"),
            ("plain".to_string(), "http"),
        ]
    );
    assert!(any.iter().all(|p| p.base.scheme() == p.protocol.as_str()));
    w.protocol = Some(Protocol::Https);
    assert_eq!(names(&select(&snap, &w, &c, NOW)), ["both"]);
    w.protocol = Some(Protocol::Http);
    assert_eq!(sorted(&select(&snap, &w, &c, NOW)).len(), 3);
}

#[test]
fn private_mirrors_only_for_their_networks() {
    let yaml = [
        mirror(
            "corp",
            &["private: true", "subnets: [\"10.2.0.0/16\"]", "asn: 64510"],
        ),
        mirror("public", &[]),
    ];
    let snap = snapshot(config(&[], &yaml), vec![healthy("corp"), healthy("public")]);
    assert_eq!(
        names(&pick_x86(&snap, &client("10.2.7.1"))),
        ["corp", "public"]
    );
    let mut by_asn = client("192.0.2.1");
    by_asn.asn = Some(64510);
    assert_eq!(names(&pick_x86(&snap, &by_asn)), ["corp", "public"]);
    assert_eq!(names(&pick_x86(&snap, &client("10.3.0.1"))), ["public"]);
}

#[test]
fn a_matching_monopoly_mirror_is_alone_while_it_qualifies() {
    let yaml = [
        mirror(
            "campus",
            &[
                "private: true",
                "monopoly: true",
                "subnets: [\"10.1.0.0/16\"]",
            ],
        ),
        mirror("near", &["subnets: [\"10.1.2.0/24\"]"]),
        mirror("public", &[]),
    ];
    let up = snapshot(
        config(&[], &yaml),
        vec![healthy("campus"), healthy("near"), healthy("public")],
    );
    let inside = pick_x86(&up, &client("10.1.2.3"));
    assert_eq!(names(&inside), ["campus"]);
    assert_eq!(inside[0].group, Group::Subnet);
    // Outside its network the monopoly mirror is private like any other: not listed.
    assert_eq!(
        sorted(&pick_x86(&up, &client("192.0.2.1"))),
        ["near", "public"]
    );
    // Campus down: its clients still get an answer, from the other mirrors.
    let down = snapshot(
        up.config.clone(),
        vec![
            with_state("campus", IpFamily::Ipv4, State::Down),
            healthy("near"),
            healthy("public"),
        ],
    );
    assert_eq!(
        names(&pick_x86(&down, &client("10.1.2.3"))),
        ["near", "public"]
    );
}

#[test]
fn estimated_behind_copies_are_never_listed() {
    // Within max_lag by its lower bound, but its content is one upstream never showed: no
    // alternate of a metalink can match it, so neither list offers it.
    let yaml = vec![mirror("good", &[]), mirror("estimated", &[])];
    let snap = snapshot(
        config(&[], &yaml),
        vec![
            healthy("good"),
            with_verdict(
                "estimated",
                "baseos",
                "x86_64",
                Verdict::behind_estimated(60, 3 * 3600),
            ),
        ],
    );
    assert_eq!(sorted(&pick_x86(&snap, &client("192.0.2.1"))), ["good"]);
    let any_arch = select(
        &snap,
        &want(&snap, "baseos", None),
        &client("192.0.2.1"),
        NOW,
    );
    assert_eq!(sorted(&any_arch), ["good"]);
}
