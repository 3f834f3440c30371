//! The client address: `X-Forwarded-For` only behind a trusted proxy.

use std::net::IpAddr;

use ipnet::IpNet;

use super::super::client_addr;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn trusted() -> Vec<IpNet> {
    vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]
}

fn from(peer: &str, xff: Option<&str>) -> IpAddr {
    client_addr(ip(peer), xff, &trusted())
}

#[test]
fn forwarded_for_is_used_from_a_trusted_proxy() {
    assert_eq!(from("10.0.0.1", Some("203.0.113.9")), ip("203.0.113.9"));
    assert_eq!(from("fd00::1", Some("2001:db8::7")), ip("2001:db8::7"));
    // The right-most address that is not one of our proxies: the left ones are the client's word.
    assert_eq!(
        from("10.0.0.1", Some("198.51.100.1, 203.0.113.9, 10.0.0.2")),
        ip("203.0.113.9")
    );
    // Only proxies in the chain: the left-most is the best there is.
    assert_eq!(from("10.0.0.1", Some("10.0.0.3,10.0.0.2")), ip("10.0.0.3"));
    // Ports and brackets, as some proxies write them; mapped addresses become IPv4.
    assert_eq!(
        from("10.0.0.1", Some("[2001:db8::5]:443")),
        ip("2001:db8::5")
    );
    assert_eq!(from("10.0.0.1", Some("[2001:db8::5]")), ip("2001:db8::5"));
    assert_eq!(
        from("10.0.0.1", Some("203.0.113.9:5678")),
        ip("203.0.113.9")
    );
    assert_eq!(
        from("10.0.0.1", Some("::ffff:203.0.113.9")),
        ip("203.0.113.9")
    );
    // A dual-stack socket reports an IPv4 proxy as IPv4-mapped: still trusted.
    assert_eq!(
        from("::ffff:10.0.0.1", Some("203.0.113.9")),
        ip("203.0.113.9")
    );
}

#[test]
fn forwarded_for_is_ignored_from_anyone_else() {
    assert_eq!(from("192.0.2.1", Some("203.0.113.9")), ip("192.0.2.1"));
    assert_eq!(from("2001:db8::1", Some("203.0.113.9")), ip("2001:db8::1"));
    assert_eq!(
        client_addr(ip("10.0.0.1"), Some("203.0.113.9"), &[]),
        ip("10.0.0.1")
    );
    assert_eq!(from("::ffff:192.0.2.1", None), ip("192.0.2.1"));
}

#[test]
fn garbage_falls_back_to_the_peer() {
    for xff in [
        "",
        " ",
        "unknown",
        "203.0.113.9, garbage",
        "garbage, 203.0.113.9",
        "1.2.3",
    ] {
        let got = from("10.0.0.1", Some(xff));
        // "garbage, 203.0.113.9": the right-most entry is read first and is untrusted, so it
        // is the answer before the garbage is reached.
        let expected = if xff == "garbage, 203.0.113.9" {
            "203.0.113.9"
        } else {
            "10.0.0.1"
        };
        assert_eq!(got, ip(expected), "{xff:?}");
    }
    assert_eq!(from("10.0.0.1", None), ip("10.0.0.1"));
}
