//! The RRsets of accepted replies, kept in the `cache` crate's
//! [`RrsetCache`] so a later walk need not ask again: a CNAME target in
//! another zone that some walk already resolved, or the address of an NS
//! name an earlier answer taught.
//!
//! Only what survived the bailiwick scrub ([`crate::sanitize::scrub`]) is
//! stored, ranked by section and AA (RFC 2181 §5.4.1), with its RRSIGs and
//! security [`Security::Unchecked`]. The walk consults it
//! ([`crate::walk`]), following cached CNAMEs and DNAMEs; the validator
//! still checks every answer.
//!
//! # Limitations
//! CNAMEs synthesised from a DNAME are not stored (unsigned, they need
//! the DNAME beside them); the walk synthesises them again from the
//! cached DNAME. The store does not know which zone served an RRset; the
//! walk takes it from the delegation store and checks it. DNSKEY
//! questions always go upstream (the trust-anchor probe needs the
//! current set).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use anchorage_cache::{
    CacheLimits, CacheStats, CachedRrset, Rank, RrsetCache, Security, Timestamp,
};
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use anchorage_wire::query::Section;

use crate::sanitize::Scrubbed;

/// DNAME owners remembered for [`RrsetStore::may_hold_dname`]; past it
/// the set starts over: a DNAME forgotten there costs an upstream query,
/// never a wrong answer.
pub const MAX_DNAME_OWNERS: usize = 10_000;

/// RRsets learned from replies, bounded in bytes.
pub struct RrsetStore {
    cache: RrsetCache,
    /// The instant taken as second zero of the cache's clock.
    epoch: Instant,
    /// Owners (lower case) of the DNAMEs stored, so a walk looks a DNAME
    /// up only where one may be cached, not above every name it starts;
    /// the flag spares the lock while there is none.
    dname_owners: RwLock<HashSet<Name>>,
    any_dname: AtomicBool,
}

impl std::fmt::Debug for RrsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RrsetStore")
            .field("stats", &self.cache.stats())
            .finish_non_exhaustive()
    }
}

impl RrsetStore {
    /// An empty store within `limits.record_bytes`, whose clock starts at
    /// `epoch`.
    pub fn new(limits: CacheLimits, epoch: Instant) -> Self {
        Self {
            cache: RrsetCache::new(limits),
            epoch,
            dname_owners: RwLock::new(HashSet::new()),
            any_dname: AtomicBool::new(false),
        }
    }

    fn stamp(&self, now: Instant) -> Timestamp {
        Timestamp(now.saturating_duration_since(self.epoch).as_secs())
    }

    /// Stores the RRsets of one accepted, scrubbed reply; returns how many
    /// were stored (not kept out by fresher data of higher rank, TTL 0 or
    /// size).
    pub fn store(&self, scrubbed: &Scrubbed, now: Instant) -> usize {
        let now = self.stamp(now);
        let aa = scrubbed.authoritative;
        let dnames: Vec<&Name> = scrubbed
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::DNAME)
            .map(|r| &r.name)
            .collect();
        let mut stored = 0;
        for (records, section) in [
            (&scrubbed.answers, Section::Answer),
            (&scrubbed.authority, Section::Authority),
            (&scrubbed.glue, Section::Additional),
        ] {
            let Some(rank) = Rank::of(section, aa) else {
                continue;
            };
            for (set, sigs) in rrsets(records) {
                let Some(first) = set.first() else { continue };
                let synthesised = first.record_type() == RecordType::CNAME
                    && sigs.is_empty()
                    && dnames
                        .iter()
                        .any(|d| **d != first.name && d.zone_of(&first.name));
                if synthesised {
                    continue;
                }
                if let Ok(anchorage_cache::RrsetInsert::Stored { .. }) =
                    self.cache
                        .insert(&set, &sigs, rank, Security::Unchecked, now)
                {
                    stored += 1;
                    if first.record_type() == RecordType::DNAME {
                        self.note_dname(&first.name);
                    }
                }
            }
        }
        stored
    }

    /// The fresh cached RRset `name`/`rtype` (class IN), if any.
    pub fn lookup(&self, name: &Name, rtype: RecordType, now: Instant) -> Option<CachedRrset> {
        self.cache
            .lookup(name, rtype, DNSClass::IN, self.stamp(now))
    }

    /// Whether any DNAME may be cached: false means none is.
    pub fn may_hold_dnames(&self) -> bool {
        self.any_dname.load(Ordering::Relaxed)
    }

    /// Whether a DNAME owned by `owner` may be cached: false means it is
    /// not (a true answer may be stale: the RRset expired or was evicted).
    pub fn may_hold_dname(&self, owner: &Name) -> bool {
        self.may_hold_dnames()
            && self
                .dname_owners
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(owner)
    }

    fn note_dname(&self, owner: &Name) {
        let mut owners = self
            .dname_owners
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if owners.len() >= MAX_DNAME_OWNERS {
            owners.clear();
        }
        owners.insert(owner.to_lowercase());
        self.any_dname.store(true, Ordering::Relaxed);
    }

    /// Counters, bytes and entries of the cache.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }
}

/// Whether an RRSIG over `cached` has fewer labels than the owner: the
/// RRset was expanded from a wildcard and its proof of no closer match
/// was in the reply's authority section, which is not cached
/// (RFC 4035 §5.3.4).
pub fn wildcard_expanded(cached: &CachedRrset) -> bool {
    cached.rrsigs.iter().any(|r| match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sig.input().num_labels < r.name.num_labels(),
        _ => false,
    })
}

/// The signer names of the RRSIGs over `cached`, lower case.
pub fn signers(cached: &CachedRrset) -> Vec<Name> {
    cached
        .rrsigs
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().signer_name.to_lowercase()),
            _ => None,
        })
        .collect()
}

/// An RRset and the RRSIGs over it.
type SetWithSigs<'a> = (Cow<'a, [Record]>, Cow<'a, [Record]>);

/// The RRsets of one section, each with the RRSIGs over it (same owner,
/// type covered), in order of first appearance. Records of one RRset
/// usually stand together: those are borrowed, not copied.
fn rrsets(records: &[Record]) -> Vec<SetWithSigs<'_>> {
    // (owner index, type, data indices, RRSIG indices)
    let mut sets: Vec<(usize, RecordType, Vec<usize>, Vec<usize>)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let (rtype, sig) = match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => (sig.input().type_covered, true),
            _ => (r.record_type(), false),
        };
        // Name equality ignores case (RFC 4343).
        let found = sets.iter_mut().find(|(owner, t, _, _)| {
            *t == rtype && records.get(*owner).is_some_and(|o| o.name == r.name)
        });
        let set = if let Some(set) = found {
            set
        } else {
            sets.push((i, rtype, Vec::new(), Vec::new()));
            let Some(set) = sets.last_mut() else { continue };
            set
        };
        if sig { set.3.push(i) } else { set.2.push(i) }
    }
    let take = |indices: &[usize]| -> Cow<'_, [Record]> {
        match (indices.first(), indices.last()) {
            (Some(&a), Some(&b)) if b - a + 1 == indices.len() => records
                .get(a..=b)
                .map_or(Cow::Owned(Vec::new()), Cow::Borrowed),
            _ => Cow::Owned(
                indices
                    .iter()
                    .filter_map(|&i| records.get(i).cloned())
                    .collect(),
            ),
        }
    };
    sets.iter()
        .filter(|(_, _, data, _)| !data.is_empty())
        .map(|(_, _, data, sigs)| (take(data), take(sigs)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_wire::text::parse_records;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn dname_reply(owner: &str) -> Scrubbed {
        Scrubbed {
            authoritative: true,
            answers: parse_records(&format!("{owner} 300 IN DNAME target.test.\n")).unwrap(),
            ..Scrubbed::default()
        }
    }

    #[test]
    fn dname_owners_are_remembered_within_their_bound() {
        let now = Instant::now();
        let store = RrsetStore::new(CacheLimits::default(), now);
        assert!(!store.may_hold_dnames());
        assert_eq!(store.store(&dname_reply("D.example."), now), 1);
        assert!(store.may_hold_dname(&name("d.example.")));
        assert!(!store.may_hold_dname(&name("example.")));
        for i in 0..MAX_DNAME_OWNERS {
            store.store(&dname_reply(&format!("d{i}.example.")), now);
        }
        let owners = store
            .dname_owners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        assert!(owners <= MAX_DNAME_OWNERS, "{owners}");
        assert!(store.may_hold_dname(&name(&format!("d{}.example.", MAX_DNAME_OWNERS - 1))));
    }
}
