//! Zone cuts and NS addresses learned from referrals, behind
//! [`DelegationStore`] so they can move to the `cache` crate later.
//!
//! Only sanitised data comes in: the walk stores a cut only after the
//! referral passed [`crate::sanitize::scrub`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anchorage_wire::proto::rr::Name;

use crate::hints::RootHints;

/// One NS of a zone cut and the addresses known for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsServer {
    /// The NS name, lower case.
    pub name: Name,
    /// Its addresses (glue or resolved); empty when still unknown.
    pub addrs: Vec<IpAddr>,
}

/// A zone cut: a zone and its servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The zone apex, lower case.
    pub zone: Name,
    /// Its servers.
    pub servers: Vec<NsServer>,
}

impl Cut {
    /// The root cut the hints describe.
    pub fn from_hints(hints: &RootHints) -> Self {
        Self {
            zone: Name::root(),
            servers: hints
                .servers
                .iter()
                .map(|(name, addrs)| NsServer {
                    name: name.clone(),
                    addrs: addrs.clone(),
                })
                .collect(),
        }
    }
}

/// Where the walk keeps and finds zone cuts and NS addresses.
pub trait DelegationStore: Send {
    /// The deepest unexpired cut at or above `name`; the root hints when
    /// nothing else is known.
    fn closest_cut(&mut self, name: &Name, now: Instant) -> Cut;
    /// Stores a cut for `ttl` seconds.
    fn insert_cut(&mut self, cut: &Cut, ttl: u32, now: Instant);
    /// Unexpired addresses of an NS name.
    fn addresses(&mut self, ns: &Name, now: Instant) -> Option<Vec<IpAddr>>;
    /// Stores the addresses of an NS name for `ttl` seconds.
    fn insert_addresses(&mut self, ns: &Name, addrs: &[IpAddr], ttl: u32, now: Instant);
    /// Adds addresses to those stored for an NS name (the other address
    /// type arriving) for `ttl` seconds, never keeping the stored ones
    /// past their own expiry.
    fn add_addresses(&mut self, ns: &Name, addrs: &[IpAddr], ttl: u32, now: Instant);
    /// Whether the root NS set must be primed (never primed, or expired).
    fn needs_priming(&self, now: Instant) -> bool;
}

/// Longest TTL kept for delegation data (RFC 8767 §4 suggests a week as
/// the upper bound of any cached TTL).
pub const MAX_DELEGATION_TTL: u32 = 604_800;

#[derive(Debug, Clone)]
struct Entry<T> {
    value: T,
    expires: Instant,
}

/// In-memory [`DelegationStore`], bounded in entries.
#[derive(Debug)]
pub struct DelegationCache {
    hints: Cut,
    cuts: HashMap<Name, Entry<Cut>>,
    addresses: HashMap<Name, Entry<Vec<IpAddr>>>,
    capacity: usize,
}

impl DelegationCache {
    /// An empty store that falls back to `hints`, holding at most
    /// `capacity` cuts and as many NS addresses.
    pub fn new(hints: &RootHints, capacity: usize) -> Self {
        Self {
            hints: Cut::from_hints(hints),
            cuts: HashMap::new(),
            addresses: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The stored cut for exactly `zone`, if unexpired.
    pub fn cut(&self, zone: &Name, now: Instant) -> Option<&Cut> {
        self.cuts
            .get(zone)
            .filter(|e| e.expires > now)
            .map(|e| &e.value)
    }

    fn expiry(now: Instant, ttl: u32) -> Instant {
        now + Duration::from_secs(u64::from(ttl.min(MAX_DELEGATION_TTL)))
    }

    fn make_room<T>(map: &mut HashMap<Name, Entry<T>>, capacity: usize, now: Instant) {
        if map.len() >= capacity {
            map.retain(|_, e| e.expires > now);
        }
        if map.len() >= capacity {
            // Still full of live entries: drop an arbitrary one; a lost cut
            // costs a referral, never a wrong answer.
            if let Some(key) = map.keys().next().cloned() {
                map.remove(&key);
            }
        }
    }
}

impl DelegationStore for DelegationCache {
    fn closest_cut(&mut self, name: &Name, now: Instant) -> Cut {
        let name = name.to_lowercase();
        let mut labels = name.num_labels();
        let mut found = None;
        loop {
            let zone = name.trim_to(usize::from(labels));
            if let Some(cut) = self.cut(&zone, now) {
                found = Some(cut.clone());
                break;
            }
            if labels == 0 {
                break;
            }
            labels -= 1;
        }
        let mut cut = found.unwrap_or_else(|| self.hints.clone());
        for server in &mut cut.servers {
            if server.addrs.is_empty()
                && let Some(addrs) = self.addresses(&server.name, now)
            {
                server.addrs = addrs;
            }
        }
        cut
    }

    fn insert_cut(&mut self, cut: &Cut, ttl: u32, now: Instant) {
        Self::make_room(&mut self.cuts, self.capacity, now);
        let expires = Self::expiry(now, ttl);
        for server in &cut.servers {
            if !server.addrs.is_empty() {
                self.insert_addresses(&server.name, &server.addrs, ttl, now);
            }
        }
        self.cuts.insert(
            cut.zone.to_lowercase(),
            Entry {
                value: cut.clone(),
                expires,
            },
        );
    }

    fn addresses(&mut self, ns: &Name, now: Instant) -> Option<Vec<IpAddr>> {
        self.addresses
            .get(ns)
            .filter(|e| e.expires > now)
            .map(|e| e.value.clone())
    }

    fn insert_addresses(&mut self, ns: &Name, addrs: &[IpAddr], ttl: u32, now: Instant) {
        Self::make_room(&mut self.addresses, self.capacity, now);
        self.addresses.insert(
            ns.to_lowercase(),
            Entry {
                value: addrs.to_vec(),
                expires: Self::expiry(now, ttl),
            },
        );
    }

    fn add_addresses(&mut self, ns: &Name, addrs: &[IpAddr], ttl: u32, now: Instant) {
        let key = ns.to_lowercase();
        let expires = Self::expiry(now, ttl);
        if let Some(entry) = self.addresses.get_mut(&key).filter(|e| e.expires > now) {
            for addr in addrs {
                if !entry.value.contains(addr) {
                    entry.value.push(*addr);
                }
            }
            entry.expires = entry.expires.min(expires);
            return;
        }
        self.insert_addresses(&key, addrs, ttl, now);
    }

    fn needs_priming(&self, now: Instant) -> bool {
        self.cut(&Name::root(), now).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn hints() -> RootHints {
        RootHints::parse(". 100 IN NS ns.root.\nns.root. 100 IN A 127.1.0.1\n").unwrap()
    }

    #[test]
    fn closest_cut_is_the_deepest_unexpired_one() {
        let now = Instant::now();
        let mut store = DelegationCache::new(&hints(), 10);
        assert!(store.needs_priming(now));
        assert!(store.closest_cut(&name("www.a.test."), now).zone.is_root());
        let cut = Cut {
            zone: name("a.test."),
            servers: vec![NsServer {
                name: name("ns.elsewhere."),
                addrs: Vec::new(),
            }],
        };
        store.insert_cut(&cut, 60, now);
        store.insert_addresses(
            &name("ns.elsewhere."),
            &["127.1.0.9".parse().unwrap()],
            30,
            now,
        );
        let found = store.closest_cut(&name("WWW.A.test."), now);
        assert_eq!(found.zone, name("a.test."));
        assert_eq!(found.servers[0].addrs.len(), 1, "addresses filled in");
        let later = now + Duration::from_secs(45);
        assert!(
            store.closest_cut(&name("www.a.test."), later).servers[0]
                .addrs
                .is_empty()
        );
        let expired = now + Duration::from_secs(61);
        assert!(
            store
                .closest_cut(&name("www.a.test."), expired)
                .zone
                .is_root()
        );
    }

    #[test]
    fn added_addresses_join_the_stored_ones_without_outliving_them() {
        let now = Instant::now();
        let mut store = DelegationCache::new(&hints(), 10);
        let ns = name("ns.elsewhere.");
        let v4: IpAddr = "127.1.0.9".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        store.add_addresses(&ns, &[v4], 30, now);
        store.add_addresses(&ns, &[v6, v4], 300, now);
        assert_eq!(store.addresses(&ns, now), Some(vec![v4, v6]));
        assert_eq!(store.addresses(&ns, now + Duration::from_secs(31)), None);
        store.add_addresses(&ns, &[v6], 300, now + Duration::from_secs(31));
        assert_eq!(
            store.addresses(&ns, now + Duration::from_secs(32)),
            Some(vec![v6]),
            "the expired A is not revived"
        );
    }

    #[test]
    fn store_stays_within_capacity() {
        let now = Instant::now();
        let mut store = DelegationCache::new(&hints(), 3);
        for i in 0..10 {
            let cut = Cut {
                zone: name(&format!("z{i}.test.")),
                servers: Vec::new(),
            };
            store.insert_cut(&cut, 60, now);
        }
        assert!(store.cuts.len() <= 3);
    }
}
