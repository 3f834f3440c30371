//! Where a redirect may lead. A mirror's server chooses its `Location`, so without a policy
//! a mirror operator could point the monitor anywhere: at the other IP family (an IPv4
//! probe answered over IPv6 would count as "IPv4 up"), or at addresses inside the monitor's
//! own network, turning the prober into a port scanner whose findings the public API prints.
//!
//! The policy, applied to every hop after the first (the first hop's address is the
//! mirror's own, as configured or resolved):
//! - the target's address is in the probed family;
//! - it is never unspecified, multicast, broadcast or reserved;
//! - it is a public address, or in the same scope as the first hop's: a mirror on a
//!   private, loopback or link-local address (a lab, a campus network) may redirect within
//!   that scope, a mirror on a public address only to public addresses.
//!
//! A refused redirect fails the fetch as `bad_redirect`, without connecting to the target.
//! Redirects to other hosts are otherwise allowed (mirrors do send clients to a CDN or to a
//! sibling host), each within the redirect limit and the fetch's deadline.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How far an address reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Public,
    /// RFC 1918, shared (100.64.0.0/10), unique local (fc00::/7), and the ranges set
    /// aside for benchmarks and documentation.
    Private,
    Loopback,
    LinkLocal,
    /// Unspecified, multicast, broadcast, reserved: never a server.
    Unusable,
}

/// The scope of `addr` (an IPv4-mapped IPv6 address as its IPv4 address).
pub fn scope(addr: IpAddr) -> Scope {
    match addr.to_canonical() {
        IpAddr::V4(v4) => scope_v4(v4),
        IpAddr::V6(v6) => scope_v6(v6),
    }
}

fn scope_v4(a: Ipv4Addr) -> Scope {
    let [b0, b1, b2, _] = a.octets();
    if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || b0 == 0 || b0 >= 240 {
        Scope::Unusable
    } else if a.is_loopback() {
        Scope::Loopback
    } else if a.is_link_local() {
        Scope::LinkLocal
    } else if a.is_private()
        || (b0 == 100 && (64..128).contains(&b1))
        || (b0 == 198 && (18..20).contains(&b1))
        || a.is_documentation()
        || (b0 == 192 && b1 == 0 && b2 == 0)
    {
        Scope::Private
    } else {
        Scope::Public
    }
}

fn scope_v6(a: Ipv6Addr) -> Scope {
    let s = a.segments();
    if a.is_unspecified() || a.is_multicast() {
        Scope::Unusable
    } else if a.is_loopback() {
        Scope::Loopback
    } else if s[0] & 0xffc0 == 0xfe80 {
        Scope::LinkLocal
    } else if s[0] & 0xfe00 == 0xfc00 || (s[0] == 0x2001 && s[1] == 0x0db8) {
        Scope::Private
    } else {
        Scope::Public
    }
}

/// Whether a redirect from a mirror first reached at `first` may go on to `target`; the
/// refusal says why, without the target's address.
pub fn check(first: IpAddr, target: IpAddr) -> Result<(), &'static str> {
    let (first, target) = (first.to_canonical(), target.to_canonical());
    if first.is_ipv4() != target.is_ipv4() {
        return Err("its address is in the other IP family");
    }
    match (scope(first), scope(target)) {
        (_, Scope::Unusable) => Err("its address is not one a server can have"),
        (_, Scope::Public) => Ok(()),
        (from, to) if from == to => Ok(()),
        _ => Err("its address is not public, unlike the mirror's"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn scopes() {
        for (addr, want) in [
            ("192.0.2.10", Scope::Private),
            ("10.1.2.3", Scope::Private),
            ("172.31.0.1", Scope::Private),
            ("172.32.0.1", Scope::Public),
            ("100.64.0.1", Scope::Private),
            ("100.128.0.1", Scope::Public),
            ("127.0.0.2", Scope::Loopback),
            ("169.254.169.254", Scope::LinkLocal),
            ("0.0.0.0", Scope::Unusable),
            ("224.0.0.1", Scope::Unusable),
            ("255.255.255.255", Scope::Unusable),
            ("8.8.8.8", Scope::Public),
            ("::1", Scope::Loopback),
            ("::", Scope::Unusable),
            ("fe80::1", Scope::LinkLocal),
            ("fd00::1", Scope::Private),
            ("2001:db8::1", Scope::Private),
            ("2a01:4f8::1", Scope::Public),
            ("ff02::1", Scope::Unusable),
            ("::ffff:127.0.0.1", Scope::Loopback),
            ("::ffff:10.0.0.1", Scope::Private),
        ] {
            assert_eq!(scope(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn a_redirect_stays_in_its_family_and_scope() {
        // A public mirror: public targets only, in its own family.
        assert!(check(ip("8.8.8.8"), ip("1.1.1.1")).is_ok());
        assert!(check(ip("8.8.8.8"), ip("2a01:4f8::1")).is_err());
        assert!(check(ip("8.8.8.8"), ip("127.0.0.1")).is_err());
        assert!(check(ip("8.8.8.8"), ip("10.0.0.1")).is_err());
        assert!(check(ip("8.8.8.8"), ip("169.254.169.254")).is_err());
        assert!(check(ip("2a01:4f8::1"), ip("::1")).is_err());
        // A mirror on loopback (as in the tests) or on a private network: its own scope too.
        assert!(check(ip("127.0.0.2"), ip("127.0.0.3")).is_ok());
        assert!(check(ip("127.0.0.2"), ip("8.8.8.8")).is_ok());
        assert!(check(ip("127.0.0.2"), ip("10.0.0.1")).is_err());
        assert!(check(ip("127.0.0.2"), ip("::1")).is_err());
        assert!(check(ip("10.0.0.2"), ip("10.9.9.9")).is_ok());
        assert!(check(ip("::1"), ip("::1")).is_ok());
        // Never anywhere unusable, whatever the scope.
        assert!(check(ip("127.0.0.2"), ip("0.0.0.0")).is_err());
        assert!(check(ip("::1"), ip("::")).is_err());
        // An IPv4-mapped address is IPv4.
        assert!(check(ip("127.0.0.2"), ip("::ffff:127.0.0.3")).is_ok());
    }
}
