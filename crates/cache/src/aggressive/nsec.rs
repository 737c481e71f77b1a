//! NSEC ranges and the denials they prove (RFC 4035 §3.1.3, §5.4;
//! RFC 8198 §5.1), in canonical name order (RFC 4034 §6.1), which is
//! hickory's `Name` order.

use std::collections::BTreeMap;
use std::mem::size_of;
use std::ops::Bound;
use std::sync::Arc;

use anchorage_wire::proto::dnssec::rdata::NSEC;
use anchorage_wire::proto::rr::{Name, Record, RecordType};

use super::store::SlotKey;
use super::{AggressiveError, Found, Proof, TypeList};
use crate::Timestamp;
use crate::negative::Denial;

/// The NSEC ranges of one zone, by owner; boxed so B-tree nodes stay small.
pub(crate) type NsecRanges = BTreeMap<Arc<Name>, Box<NsecRange>>;

/// A validated NSEC's next name and types; its owner is the map key.
pub(crate) struct NsecRange {
    next: Name,
    types: TypeList,
    pub(crate) proof: Proof,
    pub(crate) expires: Timestamp,
    pub(crate) tick: u64,
}

impl NsecRange {
    /// Heap bytes the range owns, its box included.
    pub(crate) fn heap_bytes(&self) -> usize {
        crate::memory::block_bytes(size_of::<Self>())
            + super::store::name_heap(&self.next)
            + self.types.heap_bytes()
            + self.proof.heap_bytes()
    }

    /// Whether the range at `owner` covers `name`: owner < name < next,
    /// the last NSEC of a zone wrapping to the apex (RFC 4034 §4.1.1).
    fn covers(&self, owner: &Name, zone: &Name, name: &Name) -> bool {
        if *owner < self.next {
            owner < name && *name < self.next
        } else {
            owner < name && zone.zone_of(name)
        }
    }
}

/// Checks an NSEC of `zone` and builds its range.
pub(crate) fn parse(
    zone: &Name,
    record: &Record,
    nsec: &NSEC,
    proof: Proof,
    expires: Timestamp,
) -> Result<(Name, NsecRange), AggressiveError> {
    let owner = record.name.to_lowercase();
    let next = nsec.next_domain_name().to_lowercase();
    for name in [&owner, &next] {
        if !zone.zone_of(name) {
            return Err(AggressiveError::OutsideZone {
                name: Box::new(name.clone()),
                zone: Box::new(zone.clone()),
            });
        }
    }
    let range = NsecRange {
        next,
        types: TypeList::new(nsec.type_bit_maps()),
        proof,
        expires,
        tick: 0,
    };
    Ok((owner, range))
}

/// A range with its owner.
type Entry<'a> = (&'a Arc<Name>, &'a NsecRange);

/// The fresh range owned by exactly `name`.
fn at<'a>(
    ranges: &'a NsecRanges,
    name: &Name,
    now: Timestamp,
    expired: &mut Vec<SlotKey>,
) -> Option<Entry<'a>> {
    let entry = ranges.get_key_value(name).map(|(k, v)| (k, v.as_ref()));
    fresh(entry, now, expired)
}

/// The fresh range covering `name`, if the one before it does.
fn covering<'a>(
    zone: &Name,
    ranges: &'a NsecRanges,
    name: &Name,
    now: Timestamp,
    expired: &mut Vec<SlotKey>,
) -> Option<Entry<'a>> {
    let before = ranges
        .range::<Name, _>((Bound::Unbounded, Bound::Excluded(name)))
        .next_back()
        .map(|(k, v)| (k, v.as_ref()));
    fresh(before, now, expired).filter(|(owner, r)| r.covers(owner, zone, name))
}

fn fresh<'a>(
    entry: Option<Entry<'a>>,
    now: Timestamp,
    expired: &mut Vec<SlotKey>,
) -> Option<Entry<'a>> {
    let (owner, range) = entry?;
    if range.expires > now {
        return Some((owner, range));
    }
    expired.push(SlotKey::Nsec(Arc::clone(owner)));
    None
}

/// The longest common ancestor of two names of one zone.
pub(crate) fn common_ancestor(a: &Name, b: &Name) -> Name {
    let shared = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count();
    a.trim_to(shared)
}

/// `*.name`.
pub(crate) fn wildcard_of(name: &Name) -> Option<Name> {
    name.prepend_label("*").ok()
}

/// What the NSEC ranges of `zone` prove about `qname`/`qtype`, if anything.
pub(crate) fn find(
    zone: &Name,
    ranges: &NsecRanges,
    qname: &Name,
    qtype: RecordType,
    now: Timestamp,
    expired: &mut Vec<SlotKey>,
) -> Option<Found> {
    if ranges.is_empty() {
        return None;
    }
    if let Some((owner, range)) = at(ranges, qname, now, expired) {
        return range
            .types
            .proves_nodata(qtype)
            .then(|| Found::new(Denial::NoData, [SlotKey::Nsec(Arc::clone(owner))]));
    }
    let (owner, cover) = covering(zone, ranges, qname, now, expired)?;
    // The name sits below a delegation or DNAME the range starts at:
    // another zone's to answer (RFC 6840 §4.1).
    if cover.types.is_cut() && owner.zone_of(qname) {
        return None;
    }
    let cover_key = SlotKey::Nsec(Arc::clone(owner));
    // Names exist below qname: it is an empty non-terminal, and has no
    // records of any type.
    if qname.zone_of(&cover.next) && cover.next != *qname {
        return Some(Found::new(Denial::NoData, [cover_key]));
    }
    let encloser = {
        let by_owner = common_ancestor(qname, owner);
        let by_next = common_ancestor(qname, &cover.next);
        if by_owner.num_labels() >= by_next.num_labels() {
            by_owner
        } else {
            by_next
        }
    };
    let wildcard = wildcard_of(&encloser)?;
    if let Some((wild_owner, wild)) = at(ranges, &wildcard, now, expired) {
        // The wildcard exists: it would answer, so only a wildcard NODATA
        // is provable (RFC 4035 §3.1.3.4).
        return wild.types.proves_nodata(qtype).then(|| {
            Found::new(
                Denial::NoData,
                [cover_key, SlotKey::Nsec(Arc::clone(wild_owner))],
            )
        });
    }
    let (wild_cover, _) = covering(zone, ranges, &wildcard, now, expired)?;
    Some(Found::new(
        Denial::NxDomain,
        [cover_key, SlotKey::Nsec(Arc::clone(wild_cover))],
    ))
}
