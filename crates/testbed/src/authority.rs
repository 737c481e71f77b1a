//! A zone as one server serves it: the zone, its delegation points in wire
//! form, and the replies already prepared for it ([`crate::reply`]).
//!
//! Finding the reply for a query reads only wire bytes and the cache; the
//! answer logic ([`crate::answer`]) and the encoder run on a miss only.
//! Every name below a cut shares one referral, keyed by the cut.
//!
//! Sans-IO, like the answer logic.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use anchorage_wire::WireName;
use anchorage_wire::canonical::write_canonical_name;
use anchorage_wire::proto::rr::rdata::{A, NS};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use crate::answer::answer;
use crate::reply::{EncodeError, Prepared, ReplyCache, ReplyKey};
use crate::zone::{Zone, label_count};

/// Most labels in a domain name (RFC 1035 §2.3.4: 255 bytes, 2 per label).
const MAX_LABELS: usize = 128;
/// Key qtype under which a cut's referral is kept: every qtype gets it.
const REFERRAL_QTYPE: u16 = 0;
/// Address the poisoning server claims for [`POISON_HOST`].
pub const POISON_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 66, 6, 6);
/// The name whose address the poisoning server forges (out of bailiwick
/// for every zone but `com.`).
pub const POISON_HOST: &str = "ns1.com.";
/// The zone whose delegation the poisoning server forges in authority.
pub const POISON_ZONE: &str = "com.";
/// TTL of the forged records: long, as a real attacker's would be.
const POISON_TTL: u32 = 86_400;

/// A zone ready to answer, with its prepared replies.
#[derive(Debug)]
pub struct Authority {
    zone: Zone,
    apex_labels: usize,
    cuts: HashSet<Box<[u8]>>,
    replies: ReplyCache,
    poison: bool,
}

impl Authority {
    /// Serves `zone` correctly.
    pub fn new(zone: Zone) -> Self {
        Self::with_poison(zone, false)
    }

    /// Serves `zone`; with `poison`, every reply also carries forged
    /// out-of-bailiwick records in authority and additional.
    pub fn with_poison(zone: Zone, poison: bool) -> Self {
        let cuts = zone
            .nodes()
            .filter(|(name, _)| zone.is_cut(name))
            .map(|(name, _)| {
                let mut wire = Vec::new();
                write_canonical_name(name, &mut wire);
                wire.into_boxed_slice()
            })
            .collect();
        Self {
            apex_labels: label_count(zone.origin()),
            zone,
            cuts,
            replies: ReplyCache::default(),
            poison,
        }
    }

    /// The zone.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The replies prepared so far.
    pub fn replies(&self) -> &ReplyCache {
        &self.replies
    }

    /// The reply for `qname` (lower case), `qtype` and DO, from the cache
    /// or made and kept now.
    pub fn reply(
        &self,
        qname: &WireName,
        qtype: u16,
        dnssec: bool,
    ) -> Result<Arc<Prepared>, EncodeError> {
        let (template, key_qtype) = match self.cut_above(qname.as_bytes(), qtype) {
            Some(cut) => (cut, REFERRAL_QTYPE),
            None => (qname.as_bytes(), qtype),
        };
        let key = ReplyKey::new(template, key_qtype, dnssec);
        if let Some(prepared) = self.replies.get(&key) {
            return Ok(prepared);
        }
        let prepared = Arc::new(self.prepare(qname, qtype, dnssec, template)?);
        self.replies.insert(&key, prepared.clone());
        Ok(prepared)
    }

    /// Answers and encodes behind a question for `template`, which must
    /// be a name `qname` ends with (or any name, for a forged question);
    /// nothing is cached.
    pub fn prepare(
        &self,
        qname: &WireName,
        qtype: u16,
        dnssec: bool,
        template: &[u8],
    ) -> Result<Prepared, EncodeError> {
        let name = Name::from_labels(qname.labels()).unwrap_or_else(|_| Name::root());
        let mut reply = answer(&self.zone, &name, RecordType::from(qtype), dnssec);
        if self.poison {
            // Invariant: the constants are valid names.
            let zone = Name::from_ascii(POISON_ZONE).unwrap_or_else(|_| Name::root());
            let host = Name::from_ascii(POISON_HOST).unwrap_or_else(|_| Name::root());
            reply.authority.push(Record::from_rdata(
                zone,
                POISON_TTL,
                RData::NS(NS(host.clone())),
            ));
            reply.additional.push(Record::from_rdata(
                host,
                POISON_TTL,
                RData::A(A::from(POISON_ADDRESS)),
            ));
        }
        Prepared::encode(&reply, template)
    }

    /// The highest delegation point at or above `qname` (wire, lower case),
    /// unless the query is for DS at the cut itself (RFC 4035 §3.1.4.1).
    fn cut_above<'q>(&self, qname: &'q [u8], qtype: u16) -> Option<&'q [u8]> {
        if self.cuts.is_empty() {
            return None;
        }
        let mut starts = [0usize; MAX_LABELS];
        let mut labels = 0;
        let mut pos = 0;
        while let Some(&len) = qname.get(pos) {
            if len == 0 || labels == MAX_LABELS {
                break;
            }
            starts[labels] = pos;
            labels += 1;
            pos += 1 + usize::from(len);
        }
        let below_apex = labels.checked_sub(self.apex_labels + 1)?;
        // Highest first: the label just below the apex, then deeper.
        (0..=below_apex).rev().find_map(|i| {
            let suffix = &qname[starts[i]..];
            let is_ds_at_cut = i == 0 && qtype == u16::from(RecordType::DS);
            (!is_ds_at_cut && self.cuts.contains(suffix)).then_some(suffix)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_wire::proto::rr::rdata::SOA;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn wire(s: &str) -> WireName {
        let mut out = Vec::new();
        write_canonical_name(&name(s), &mut out);
        WireName::from_wire(&out).unwrap()
    }

    fn zone() -> Zone {
        let mut zone = Zone::new(name("example."));
        let soa = SOA::new(name("ns.example."), name("h.example."), 1, 60, 60, 60, 60);
        zone.add_rdata(&name("example."), 60, RData::SOA(soa));
        zone.add_rdata(&name("www.example."), 60, RData::A(A::new(127, 0, 0, 1)));
        zone.add_rdata(
            &name("sub.example."),
            60,
            RData::NS(NS(name("ns.sub.example."))),
        );
        zone.add_rdata(&name("ns.sub.example."), 60, RData::A(A::new(127, 0, 0, 2)));
        zone
    }

    #[test]
    fn names_below_a_cut_share_one_referral() {
        let authority = Authority::new(zone());
        let a = authority.reply(&wire("a.sub.example."), 1, false).unwrap();
        let b = authority
            .reply(&wire("b.c.sub.example."), 28, false)
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.template(), wire("sub.example.").as_bytes());
        assert_eq!(authority.replies().len(), 1);
    }

    #[test]
    fn ds_at_the_cut_is_answered_not_referred() {
        let authority = Authority::new(zone());
        let ds = authority.reply(&wire("sub.example."), 43, false).unwrap();
        assert_eq!(ds.template(), wire("sub.example.").as_bytes());
        let ns = authority.reply(&wire("sub.example."), 2, false).unwrap();
        assert!(!Arc::ptr_eq(&ds, &ns));
        assert_eq!(authority.replies().len(), 2);
    }

    #[test]
    fn answers_are_kept_per_name_type_and_do() {
        let authority = Authority::new(zone());
        let first = authority.reply(&wire("www.example."), 1, true).unwrap();
        let again = authority.reply(&wire("www.example."), 1, true).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        authority.reply(&wire("www.example."), 1, false).unwrap();
        authority.reply(&wire("www.example."), 28, true).unwrap();
        assert_eq!(authority.replies().len(), 3);
    }
}
