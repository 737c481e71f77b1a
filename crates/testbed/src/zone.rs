//! One zone's data: names in canonical order, RRsets and their RRSIGs, and
//! the NSEC3 chain kept apart from the names it hashes.
//!
//! # Limitations
//! Class IN only.

use std::collections::BTreeMap;

use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

/// Default TTL of testbed records.
pub const DEFAULT_TTL: u32 = 3600;
/// Length of an NSEC3 SHA-1 hash (RFC 5155 §3.1.7).
pub const NSEC3_HASH_LEN: usize = 20;

/// An RRset with the signatures over it.
#[derive(Debug, Clone, Default)]
pub struct RrSet {
    /// The records, all of one owner, class and type.
    pub records: Vec<Record>,
    /// RRSIG records covering them.
    pub rrsigs: Vec<Record>,
}

/// Everything at one owner name; empty for an empty non-terminal.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// RRsets by type code.
    pub rrsets: BTreeMap<u16, RrSet>,
}

impl Node {
    /// The RRset of `rtype`, if any.
    pub fn rrset(&self, rtype: RecordType) -> Option<&RrSet> {
        self.rrsets.get(&u16::from(rtype))
    }

    /// Whether an RRset of `rtype` is here.
    pub fn has(&self, rtype: RecordType) -> bool {
        self.rrsets.contains_key(&u16::from(rtype))
    }
}

/// NSEC3 parameters of a zone (RFC 5155 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nsec3Params {
    /// Extra hash iterations.
    pub iterations: u16,
    /// The salt.
    pub salt: Vec<u8>,
    /// Whether insecure delegations are left out of the chain (RFC 5155 §6).
    pub opt_out: bool,
}

/// A zone's NSEC3 records, keyed by the raw hash of the owner.
#[derive(Debug, Clone)]
pub struct Nsec3Chain {
    /// The parameters every NSEC3 in the chain uses.
    pub params: Nsec3Params,
    /// NSEC3 RRsets (one record each) by hashed owner.
    pub records: BTreeMap<[u8; NSEC3_HASH_LEN], RrSet>,
}

/// A zone: its apex and every name in it, including glue below cuts.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: Name,
    nodes: BTreeMap<Name, Node>,
    nsec3: Option<Nsec3Chain>,
}

impl Zone {
    /// An empty zone for `origin`.
    pub fn new(origin: Name) -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(origin.clone(), Node::default());
        Self {
            origin,
            nodes,
            nsec3: None,
        }
    }

    /// The apex.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// Adds a record; empty non-terminals between it and the apex appear.
    pub fn add(&mut self, record: Record) {
        let owner = record.name.to_lowercase();
        debug_assert!(
            self.origin.zone_of(&owner),
            "{owner} outside {}",
            self.origin
        );
        let mut parent = owner.base_name();
        while label_count(&parent) > label_count(&self.origin) {
            self.nodes.entry(parent.clone()).or_default();
            parent = parent.base_name();
        }
        let rtype = u16::from(record.record_type());
        self.nodes
            .entry(owner)
            .or_default()
            .rrsets
            .entry(rtype)
            .or_default()
            .records
            .push(record);
    }

    /// Adds a record made of its parts.
    pub fn add_rdata(&mut self, owner: &Name, ttl: u32, rdata: RData) {
        self.add(Record::from_rdata(owner.clone(), ttl, rdata));
    }

    /// The node at `name`, if the name exists.
    pub fn node(&self, name: &Name) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// The node at `name`, for changing it.
    pub fn node_mut(&mut self, name: &Name) -> Option<&mut Node> {
        self.nodes.get_mut(name)
    }

    /// Removes an RRset and its signatures; returns whether it was there.
    pub fn remove_rrset(&mut self, name: &Name, rtype: RecordType) -> bool {
        self.nodes
            .get_mut(name)
            .is_some_and(|n| n.rrsets.remove(&u16::from(rtype)).is_some())
    }

    /// Every name in canonical order.
    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = (&Name, &Node)> {
        self.nodes.iter()
    }

    /// Every node, for changing.
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = (&Name, &mut Node)> {
        self.nodes.iter_mut()
    }

    /// Names up to and including `name` in canonical order, last first.
    pub fn nodes_before(&self, name: &Name) -> impl Iterator<Item = (&Name, &Node)> {
        self.nodes.range(..=name.clone()).rev()
    }

    /// The NSEC3 chain, if the zone uses NSEC3.
    pub fn nsec3(&self) -> Option<&Nsec3Chain> {
        self.nsec3.as_ref()
    }

    /// Sets or clears the NSEC3 chain.
    pub fn set_nsec3(&mut self, chain: Option<Nsec3Chain>) {
        self.nsec3 = chain;
    }

    /// The NSEC3 chain, for changing.
    pub fn nsec3_mut(&mut self) -> Option<&mut Nsec3Chain> {
        self.nsec3.as_mut()
    }

    /// The delegation point at or above `name` (below the apex), if any:
    /// the highest name with NS that is not the apex.
    pub fn cut_above(&self, name: &Name) -> Option<&Name> {
        let apex_labels = label_count(&self.origin);
        let labels = label_count(name);
        (apex_labels + 1..=labels)
            .map(|n| name.trim_to(n))
            .find_map(|candidate| {
                self.nodes
                    .get_key_value(&candidate)
                    .filter(|(_, node)| node.has(RecordType::NS))
                    .map(|(k, _)| k)
            })
    }

    /// Whether `name` is a delegation point of this zone.
    pub fn is_cut(&self, name: &Name) -> bool {
        name != &self.origin && self.nodes.get(name).is_some_and(|n| n.has(RecordType::NS))
    }

    /// Whether `name` is below a delegation point (glue or occluded data).
    pub fn is_below_cut(&self, name: &Name) -> bool {
        self.cut_above(name).is_some_and(|cut| cut != name)
    }

    /// The apex SOA record.
    pub fn soa(&self) -> Option<&Record> {
        self.nodes
            .get(&self.origin)
            .and_then(|n| n.rrset(RecordType::SOA))
            .and_then(|s| s.records.first())
    }

    /// Number of records, RRSIGs and NSEC3 records included.
    pub fn record_count(&self) -> usize {
        let plain: usize = self
            .nodes
            .values()
            .flat_map(|n| n.rrsets.values())
            .map(|s| s.records.len() + s.rrsigs.len())
            .sum();
        let nsec3: usize = self.nsec3.as_ref().map_or(0, |c| {
            c.records
                .values()
                .map(|s| s.records.len() + s.rrsigs.len())
                .sum()
        });
        plain + nsec3
    }
}

/// Labels of `name`, a leading `*` counted (hickory's `num_labels` skips it).
pub fn label_count(name: &Name) -> usize {
    name.iter().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_wire::proto::rr::rdata::{A, NS};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn adding_a_deep_name_creates_empty_non_terminals() {
        let mut zone = Zone::new(name("example."));
        zone.add_rdata(&name("a.b.c.example."), 60, RData::A(A::new(127, 0, 0, 1)));
        assert!(zone.node(&name("b.c.example.")).unwrap().rrsets.is_empty());
        assert!(zone.node(&name("c.example.")).unwrap().rrsets.is_empty());
    }

    #[test]
    fn names_below_a_cut_are_found_as_glue() {
        let mut zone = Zone::new(name("example."));
        zone.add_rdata(
            &name("sub.example."),
            60,
            RData::NS(NS(name("ns.sub.example."))),
        );
        zone.add_rdata(&name("ns.sub.example."), 60, RData::A(A::new(127, 0, 0, 1)));
        assert!(zone.is_cut(&name("sub.example.")));
        assert!(zone.is_below_cut(&name("ns.sub.example.")));
        assert!(!zone.is_below_cut(&name("sub.example.")));
        assert_eq!(
            zone.cut_above(&name("x.ns.sub.example.")),
            Some(&name("sub.example."))
        );
    }

    #[test]
    fn nodes_are_in_canonical_order() {
        let mut zone = Zone::new(name("example."));
        for owner in [
            "z.example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
        ] {
            zone.add_rdata(&name(owner), 60, RData::A(A::new(127, 0, 0, 1)));
        }
        let order: Vec<String> = zone.nodes().map(|(n, _)| n.to_string()).collect();
        // RFC 4034 §6.1's example order, lower-cased.
        assert_eq!(
            order,
            [
                "example.",
                "a.example.",
                "yljkjljk.a.example.",
                "z.a.example.",
                "z.example."
            ]
        );
    }
}
