//! Access control: which client addresses may use the resolver.
//!
//! An open resolver is a DDoS amplifier, so the default allows only
//! loopback and the private, shared (CGNAT) and link-local ranges an ISP's
//! subscribers sit in, and refuses everyone else. Operators widen or narrow
//! it by configuration; the most specific matching rule wins.

use core::net::IpAddr;
use core::str::FromStr;

use ipnet::IpNet;

/// What to do with a client's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Resolve it.
    Allow,
    /// Answer REFUSED (RFC 1035 §4.1.1) with EDE 18 "Prohibited" (RFC 8914).
    Refuse,
    /// Send nothing back.
    Drop,
}

/// Ranges allowed by default: loopback, RFC 1918, RFC 6598 shared address
/// space (carrier-grade NAT subscribers), IPv6 unique-local (RFC 4193) and
/// link-local.
pub const DEFAULT_ALLOW: [&str; 8] = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// A rule that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access rule {text:?} is not an address or CIDR prefix")]
pub struct AclError {
    /// The text that did not parse.
    pub text: String,
}

/// Access rules: prefixes with an action; the longest matching prefix wins,
/// and an address no rule matches is refused.
#[derive(Debug, Clone)]
pub struct Acl {
    rules: Vec<(IpNet, Access)>,
}

impl Default for Acl {
    fn default() -> Self {
        let mut acl = Self { rules: Vec::new() };
        for net in DEFAULT_ALLOW {
            // Invariant: the default prefixes above are valid CIDR text.
            acl.add(net, Access::Allow).expect("valid default prefix");
        }
        acl
    }
}

impl Acl {
    /// No rules at all: everyone is refused.
    pub fn empty() -> Self {
        Self { rules: Vec::new() }
    }

    /// Adds a rule for a prefix (`192.0.2.0/24`) or a single address.
    pub fn add(&mut self, prefix: &str, access: Access) -> Result<(), AclError> {
        let net = IpNet::from_str(prefix)
            .or_else(|_| IpAddr::from_str(prefix).map(IpNet::from))
            .map_err(|_| AclError {
                text: prefix.to_owned(),
            })?;
        self.rules.retain(|(n, _)| *n != net.trunc());
        self.rules.push((net.trunc(), access));
        // Longest prefix first, so the first match is the most specific.
        self.rules
            .sort_by_key(|(n, _)| core::cmp::Reverse(n.prefix_len()));
        Ok(())
    }

    /// The action for a client address.
    pub fn check(&self, client: IpAddr) -> Access {
        let client = canonical(client);
        self.rules
            .iter()
            .find(|(net, _)| net.contains(&client))
            .map_or(Access::Refuse, |(_, access)| *access)
    }
}

/// IPv4-mapped IPv6 addresses (from dual-stack sockets) judged as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_allows_private_ranges_and_refuses_the_internet() {
        let acl = Acl::default();
        for allowed in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.1",
            "192.168.0.9",
            "100.64.1.1",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(acl.check(ip(allowed)), Access::Allow, "{allowed}");
        }
        for refused in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(acl.check(ip(refused)), Access::Refuse, "{refused}");
        }
    }

    #[test]
    fn most_specific_rule_wins() {
        let mut acl = Acl::default();
        acl.add("10.9.0.0/16", Access::Refuse).unwrap();
        acl.add("10.9.8.7", Access::Drop).unwrap();
        acl.add("198.51.100.0/24", Access::Allow).unwrap();
        assert_eq!(acl.check(ip("10.1.0.1")), Access::Allow);
        assert_eq!(acl.check(ip("10.9.0.1")), Access::Refuse);
        assert_eq!(acl.check(ip("10.9.8.7")), Access::Drop);
        assert_eq!(acl.check(ip("198.51.100.200")), Access::Allow);
        // Re-adding a prefix replaces its action.
        acl.add("10.9.0.0/16", Access::Allow).unwrap();
        assert_eq!(acl.check(ip("10.9.0.1")), Access::Allow);
    }

    #[test]
    fn bad_rules_are_reported() {
        let mut acl = Acl::empty();
        assert_eq!(
            acl.add("10.0.0.0/33", Access::Allow),
            Err(AclError {
                text: "10.0.0.0/33".into()
            })
        );
        assert_eq!(acl.check(ip("127.0.0.1")), Access::Refuse);
    }
}
