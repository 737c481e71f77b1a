//! Root hints: the IANA root servers built in, or a hints file in
//! zone-file text that overrides them (RFC 8109 §2).

use std::net::IpAddr;

use anchorage_wire::proto::rr::{Name, RData};
use anchorage_wire::text::{TextError, parse_records};

/// The IANA root hints (named.root), names and addresses only; TTLs are
/// those of the file. Priming replaces them with the live NS set.
const IANA_ROOT_SERVERS: [(&str, &str, &str); 13] = [
    ("a", "198.41.0.4", "2001:503:ba3e::2:30"),
    ("b", "170.247.170.2", "2801:1b8:10::b"),
    ("c", "192.33.4.12", "2001:500:2::c"),
    ("d", "199.7.91.13", "2001:500:2d::d"),
    ("e", "192.203.230.10", "2001:500:a8::e"),
    ("f", "192.5.5.241", "2001:500:2f::f"),
    ("g", "192.112.36.4", "2001:500:12::d0d"),
    ("h", "198.97.190.53", "2001:500:1::53"),
    ("i", "192.36.148.17", "2001:7fe::53"),
    ("j", "192.58.128.30", "2001:503:c27::2:30"),
    ("k", "193.0.14.129", "2001:7fd::1"),
    ("l", "199.7.83.42", "2001:500:9f::42"),
    ("m", "202.12.27.33", "2001:dc3::35"),
];

/// TTL of the NS set in the IANA hints file (six days).
const IANA_HINTS_TTL: u32 = 3_600_000;

/// Why a hints file was refused.
#[derive(Debug, thiserror::Error)]
pub enum HintsError {
    /// The text is not zone-file text.
    #[error("root hints do not parse")]
    Text(#[source] TextError),
    /// No NS record at the root.
    #[error("root hints have no NS record for the root")]
    NoRootNs,
    /// An NS name has no address in the file.
    #[error("root hints give no address for {ns}")]
    NoAddress {
        /// The NS name.
        ns: String,
    },
}

/// The root servers to start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootHints {
    /// Each root server's name and addresses.
    pub servers: Vec<(Name, Vec<IpAddr>)>,
    /// TTL of the NS set.
    pub ttl: u32,
}

impl RootHints {
    /// The IANA root servers, the production default.
    pub fn iana() -> Self {
        let servers = IANA_ROOT_SERVERS
            .iter()
            .filter_map(|(letter, v4, v6)| {
                let name = Name::from_ascii(format!("{letter}.root-servers.net.")).ok()?;
                let addrs = [v4, v6].iter().filter_map(|a| a.parse().ok()).collect();
                Some((name, addrs))
            })
            .collect();
        Self {
            servers,
            ttl: IANA_HINTS_TTL,
        }
    }

    /// Reads a hints file: NS records at the root, A/AAAA for their names.
    pub fn parse(text: &str) -> Result<Self, HintsError> {
        let records = parse_records(text).map_err(HintsError::Text)?;
        let mut servers: Vec<(Name, Vec<IpAddr>)> = Vec::new();
        let mut ttl = u32::MAX;
        for record in &records {
            if let RData::NS(ns) = &record.data
                && record.name.is_root()
            {
                ttl = ttl.min(record.ttl);
                servers.push((ns.0.to_lowercase(), Vec::new()));
            }
        }
        if servers.is_empty() {
            return Err(HintsError::NoRootNs);
        }
        for record in &records {
            let addr = match &record.data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(a) => IpAddr::V6(a.0),
                _ => continue,
            };
            if let Some((_, addrs)) = servers.iter_mut().find(|(n, _)| *n == record.name) {
                addrs.push(addr);
            }
        }
        if let Some((ns, _)) = servers.iter().find(|(_, a)| a.is_empty()) {
            return Err(HintsError::NoAddress { ns: ns.to_string() });
        }
        Ok(Self { servers, ttl })
    }

    /// Whether every hinted address is on loopback (a test hierarchy).
    pub fn all_loopback(&self) -> bool {
        self.servers
            .iter()
            .flat_map(|(_, a)| a)
            .all(IpAddr::is_loopback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_hints_hold_thirteen_servers_with_both_families() {
        let hints = RootHints::iana();
        assert_eq!(hints.servers.len(), 13);
        assert!(hints.servers.iter().all(|(_, a)| a.len() == 2));
        assert!(!hints.all_loopback());
    }

    #[test]
    fn hints_file_overrides_and_needs_addresses() {
        let hints =
            RootHints::parse(". 172800 IN NS ns.anchorage.\nns.anchorage. 172800 IN A 127.9.0.1\n")
                .unwrap();
        assert_eq!(hints.servers.len(), 1);
        assert_eq!(hints.ttl, 172_800);
        assert!(hints.all_loopback());
        let missing = RootHints::parse(". 172800 IN NS ns.anchorage.\n");
        assert!(matches!(missing, Err(HintsError::NoAddress { .. })));
        assert!(matches!(
            RootHints::parse("x. 1 IN A 127.0.0.1\n"),
            Err(HintsError::NoRootNs)
        ));
    }
}
