//! Which upstream addresses may be queried: production refuses loopback,
//! private and other special ranges learned from the internet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `addr` is a public unicast address a resolver may query.
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// Special-purpose IPv4 ranges (RFC 6890 §2.2.2 and RFC 1918).
fn is_public_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, ..] = a.octets();
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o0 == 0
        || o0 >= 240
        // Shared address space 100.64/10 (RFC 6598).
        || (o0 == 100 && (o1 & 0xc0) == 64))
}

/// Special-purpose IPv6 ranges (RFC 6890 §2.2.3).
fn is_public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        // Unique local fc00::/7 (RFC 4193), link-local fe80::/10.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        // Documentation 2001:db8::/32 (RFC 3849).
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // IPv4-mapped ::ffff:0:0/96 could smuggle a private v4 address.
        || a.to_ipv4_mapped().is_some())
}

/// Whether the walk may send to `addr` under the operator's switches.
pub fn may_query(addr: IpAddr, allow_loopback: bool, ipv6: bool) -> bool {
    if addr.is_ipv6() && !ipv6 {
        return false;
    }
    if allow_loopback {
        // The testbed: loopback only, never a private or public address
        // by accident; the transport's guard checks again.
        return addr.is_loopback() || is_public(addr);
    }
    is_public(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_loopback_and_private_ranges() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "::1",
            "fd00::1",
            "100.64.0.1",
        ] {
            assert!(!may_query(a.parse().unwrap(), false, true), "{a}");
        }
        assert!(may_query("198.41.0.4".parse().unwrap(), false, true));
        assert!(may_query(
            "2001:503:ba3e::2:30".parse().unwrap(),
            false,
            true
        ));
    }

    #[test]
    fn testbed_switch_allows_loopback_and_ipv6_switch_blocks_v6() {
        assert!(may_query("127.9.0.1".parse().unwrap(), true, false));
        assert!(!may_query("10.0.0.1".parse().unwrap(), true, false));
        assert!(!may_query(
            "2001:503:ba3e::2:30".parse().unwrap(),
            true,
            false
        ));
    }
}
