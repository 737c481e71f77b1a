//! The aggressive NSEC/NSEC3 store (RFC 8198): validated denial ranges per
//! zone, used to answer NXDOMAIN and NODATA for names never asked before.
//!
//! The validator hands over each NSEC or NSEC3 record it proved, with its
//! RRSIGs and the TTL it may be used for (RFC 8198 §5.4, RFC 9077: the
//! smaller of the record's TTL and the SOA MINIMUM); the caller may add the
//! zone's SOA. A lookup finds the deepest zone held at or above the query
//! name and builds from its ranges either NXDOMAIN (RFC 4035 §3.1.3.2,
//! RFC 5155 §8.4) or NODATA (RFC 4035 §3.1.3.1, RFC 5155 §8.5–8.7), with the
//! records a reply's authority section needs.
//!
//! Ranges live in shards chosen by zone, each a set of ordered maps with
//! one LRU order over every range and SOA it holds, bounded in bytes.
//!
//! # Limitations
//! - Bytes are an estimate of the heap held: B-tree nodes are charged as if
//!   at their emptiest (5 of 11 slots), never less than they hold.
//! - NSEC3 hashes are computed under the shard's lock; their number per
//!   lookup is capped ([`MAX_NSEC3_HASHES_PER_LOOKUP`]).
//! - Only IN-class data; the class is not part of the key.
//! - A zone lives in one shard, so one zone holds at most a shard's share
//!   of the budget; its oldest ranges give way past that.

mod nsec;
mod nsec3;
mod store;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};
use anchorage_wire::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};

use crate::limits::CacheLimits;
use crate::memory::TooLarge;
use crate::negative::Denial;
use crate::stats::CacheStats;
use crate::{Timestamp, memory::ShardCounters};

pub use nsec3::{HashedName, NSEC3_HASH_LEN, Nsec3Hasher, Nsec3Params, VerifyHasher};

use store::{Shard, SlotKey};

/// Most NSEC3 hashes one lookup computes; past it the lookup gives up and
/// the query goes to the network. Bounds the CPU a deep query name can
/// cost (CVE-2023-50868; Unbound's `MAX_NSEC3_CALCULATIONS` is 8 too).
pub const MAX_NSEC3_HASHES_PER_LOOKUP: usize = 8;

/// Why a denial range was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AggressiveError {
    /// The record is neither NSEC nor NSEC3 (or, for the SOA call, not SOA).
    #[error("record of type {rtype} is not {expected}")]
    WrongType {
        /// Its type.
        rtype: RecordType,
        /// The type the call takes.
        expected: RecordType,
    },
    /// The record's owner or NSEC next name lies outside the zone.
    #[error("name {name} is outside zone {zone}")]
    OutsideZone {
        /// The name.
        name: Box<Name>,
        /// The zone given.
        zone: Box<Name>,
    },
    /// An NSEC3 owner that is not one base32hex hash label under the zone
    /// (RFC 5155 §3).
    #[error("NSEC3 owner {owner} is not a hashed name under its zone")]
    Nsec3Owner {
        /// The owner.
        owner: Box<Name>,
    },
    /// An NSEC3 next hashed owner of the wrong length for SHA-1.
    #[error("NSEC3 next hash is {len} bytes, expected {NSEC3_HASH_LEN}")]
    HashLength {
        /// Its length.
        len: usize,
    },
    /// A signature given is not an RRSIG.
    #[error("record of type {rtype} given as an RRSIG")]
    NotRrsig {
        /// Its type.
        rtype: RecordType,
    },
    /// TTL 0: nothing to keep.
    #[error("range TTL is zero")]
    ZeroTtl,
    /// A record could not be encoded.
    #[error("record could not be encoded: {reason}")]
    Encode {
        /// hickory's description.
        reason: String,
    },
    /// Larger than a shard.
    #[error("range does not fit in a cache shard")]
    TooLarge(#[from] TooLarge),
}

/// A denial built from stored ranges, TTLs reduced to what is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggressiveAnswer {
    /// NXDOMAIN or NODATA.
    pub denial: Denial,
    /// The zone whose ranges prove it.
    pub zone: Name,
    /// Seconds the answer stays true: the least left of any record used.
    pub ttl: u32,
    /// The zone's SOA and its RRSIGs, if the caller stored them and they
    /// are fresh; empty otherwise.
    pub soa: Vec<Record>,
    /// The NSEC/NSEC3 records and RRSIGs, for the authority section.
    pub proofs: Vec<Record>,
}

/// Validated NSEC and NSEC3 ranges per zone, bounded in bytes, sharded by
/// zone.
pub struct AggressiveCache {
    shards: Box<[Padded<Mutex<Shard>>]>,
    keys: RandomState,
    limits: CacheLimits,
}

/// A shard padded to its own cache lines.
#[repr(align(128))]
struct Padded<T>(T);

impl AggressiveCache {
    /// An empty store holding at most `limits.record_bytes` bytes.
    pub fn new(limits: CacheLimits) -> Self {
        let count = limits.shards.max(1);
        let budget = limits.record_bytes / count;
        Self {
            shards: (0..count)
                .map(|_| Padded(Mutex::new(Shard::new(budget))))
                .collect(),
            keys: RandomState::new(),
            limits,
        }
    }

    fn shard(&self, zone: &Name) -> MutexGuard<'_, Shard> {
        let index = (self.keys.hash_one(zone) as usize) % self.shards.len();
        lock(&self.shards[index].0)
    }

    /// Stores one validated NSEC or NSEC3 record of `zone` with its RRSIGs,
    /// usable for `ttl` seconds from `now` (capped by the negative limit).
    pub fn insert(
        &self,
        zone: &Name,
        ttl: u32,
        record: &Record,
        rrsigs: &[Record],
        now: Timestamp,
    ) -> Result<(), AggressiveError> {
        let zone = zone.to_lowercase();
        let ttl = self.ttl(ttl)?;
        let proof = Proof::encode(record, rrsigs)?;
        let expires = now.plus(ttl);
        match &record.data {
            RData::DNSSEC(DNSSECRData::NSEC(data)) => {
                let (owner, range) = nsec::parse(&zone, record, data, proof, expires)?;
                self.shard(&zone).insert_nsec(zone, owner, range)
            }
            RData::DNSSEC(DNSSECRData::NSEC3(data)) => {
                let (params, range) = nsec3::parse(&zone, record, data, proof, expires)?;
                self.shard(&zone).insert_nsec3(zone, params, range)
            }
            _ => Err(AggressiveError::WrongType {
                rtype: record.record_type(),
                expected: RecordType::NSEC,
            }),
        }
    }

    /// Stores the SOA of `zone` with its RRSIGs, put in front of the proofs
    /// of every denial built for the zone while it lasts.
    pub fn insert_soa(
        &self,
        zone: &Name,
        ttl: u32,
        soa: &Record,
        rrsigs: &[Record],
        now: Timestamp,
    ) -> Result<(), AggressiveError> {
        if soa.record_type() != RecordType::SOA {
            return Err(AggressiveError::WrongType {
                rtype: soa.record_type(),
                expected: RecordType::SOA,
            });
        }
        let zone = zone.to_lowercase();
        if zone != soa.name.to_lowercase() {
            return Err(AggressiveError::OutsideZone {
                name: Box::new(soa.name.clone()),
                zone: Box::new(zone),
            });
        }
        let ttl = self.ttl(ttl)?;
        let proof = Proof::encode(soa, rrsigs)?;
        self.shard(&zone).insert_soa(zone, proof, now.plus(ttl))
    }

    fn ttl(&self, ttl: u32) -> Result<u32, AggressiveError> {
        match ttl.min(self.limits.max_negative_ttl) {
            0 => Err(AggressiveError::ZeroTtl),
            ttl => Ok(ttl),
        }
    }

    /// A denial of `qname`/`qtype` built from fresh stored ranges, if the
    /// deepest zone held at or above `qname` proves one. NSEC3 hashes come
    /// from `hasher`.
    pub fn lookup(
        &self,
        qname: &Name,
        qtype: RecordType,
        hasher: &dyn Nsec3Hasher,
        now: Timestamp,
    ) -> Option<AggressiveAnswer> {
        let qname = qname.to_lowercase();
        // The DS RRset lives in the parent (RFC 4035 §2.4): its denial
        // comes from the zone above the name, never the name's own zone.
        let mut zone = if qtype == RecordType::DS && !qname.is_root() {
            qname.base_name()
        } else {
            qname.clone()
        };
        loop {
            let mut shard = self.shard(&zone);
            if shard.holds(&zone) {
                let answer = shard.lookup(&zone, &qname, qtype, hasher, now);
                match answer {
                    Some(_) => shard.counters.hits += 1,
                    None => shard.counters.misses += 1,
                }
                return answer;
            }
            drop(shard);
            if zone.is_root() {
                return None;
            }
            zone = zone.base_name();
        }
    }

    /// Counters, bytes and ranges, summed over the shards.
    pub fn stats(&self) -> CacheStats {
        let mut sum = ShardCounters::default();
        let (mut bytes, mut entries) = (0, 0);
        for shard in &self.shards {
            let s = lock(&shard.0);
            sum.hits += s.counters.hits;
            sum.misses += s.counters.misses;
            sum.inserts += s.counters.inserts;
            sum.evictions += s.counters.evictions;
            sum.expirations += s.counters.expirations;
            bytes += s.bytes();
            entries += s.len();
        }
        CacheStats::from_totals((sum, bytes, entries))
    }
}

/// Locks a shard; every update completes before anything that could
/// panic, so a poisoned lock holds consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records in wire form, written by one encoder so compression pointers
/// stay valid, read back in order.
pub(crate) struct Proof {
    blob: Box<[u8]>,
    records: u16,
}

impl Proof {
    fn encode(record: &Record, rrsigs: &[Record]) -> Result<Self, AggressiveError> {
        if let Some(bad) = rrsigs.iter().find(|r| r.record_type() != RecordType::RRSIG) {
            return Err(AggressiveError::NotRrsig {
                rtype: bad.record_type(),
            });
        }
        let mut buf = Vec::new();
        let mut encoder = BinEncoder::new(&mut buf);
        for r in std::iter::once(record).chain(rrsigs) {
            r.emit(&mut encoder).map_err(|e| AggressiveError::Encode {
                reason: e.to_string(),
            })?;
        }
        Ok(Self {
            blob: buf.into_boxed_slice(),
            records: (1 + rrsigs.len()).min(usize::from(u16::MAX)) as u16,
        })
    }

    /// Heap bytes the proof owns.
    pub(crate) fn heap_bytes(&self) -> usize {
        crate::memory::block_bytes(self.blob.len())
    }

    /// Appends the records to `out`, each TTL at most `left`.
    fn decode_into(&self, left: u32, out: &mut Vec<Record>) -> Option<()> {
        let mut decoder = BinDecoder::new(&self.blob);
        for _ in 0..self.records {
            let mut r = Record::read(&mut decoder).ok()?;
            r.ttl = r.ttl.min(left);
            out.push(r);
        }
        Some(())
    }
}

/// A sorted list of the types an NSEC/NSEC3 bitmap holds.
pub(crate) struct TypeList(Box<[u16]>);

impl TypeList {
    fn new(types: impl Iterator<Item = RecordType>) -> Self {
        let mut list: Vec<u16> = types.map(u16::from).collect();
        list.sort_unstable();
        list.dedup();
        Self(list.into_boxed_slice())
    }

    fn contains(&self, rtype: RecordType) -> bool {
        self.0.binary_search(&u16::from(rtype)).is_ok()
    }

    /// Whether the bitmap says the name exists with `qtype` or a CNAME
    /// that would answer for it: then it proves no NODATA.
    fn answers(&self, qtype: RecordType) -> bool {
        self.contains(qtype) || self.contains(RecordType::CNAME)
    }

    /// Whether the owner is a zone cut seen from the parent, or a DNAME:
    /// names below it are not this zone's to deny (RFC 6840 §4.1).
    fn is_cut(&self) -> bool {
        self.contains(RecordType::DNAME) || self.is_delegation()
    }

    /// Whether the owner is a delegation seen from the parent: NS, no SOA.
    fn is_delegation(&self) -> bool {
        self.contains(RecordType::NS) && !self.contains(RecordType::SOA)
    }

    /// Whether this bitmap at the query name proves NODATA for `qtype`.
    /// At a cut, only DS is the parent's to deny (RFC 6840 §4.1).
    fn proves_nodata(&self, qtype: RecordType) -> bool {
        let delegation = self.is_delegation();
        !self.answers(qtype) && (qtype == RecordType::DS || !delegation)
    }

    fn heap_bytes(&self) -> usize {
        crate::memory::block_bytes(self.0.len() * 2)
    }
}

/// Which stored records one denial uses, in the order they are given.
pub(crate) struct Found {
    denial: Denial,
    used: Vec<SlotKey>,
}

impl Found {
    fn new(denial: Denial, keys: impl IntoIterator<Item = SlotKey>) -> Self {
        let mut used: Vec<SlotKey> = Vec::new();
        for key in keys {
            if !used.contains(&key) {
                used.push(key);
            }
        }
        Self { denial, used }
    }
}

/// The map of one NSEC3 chain's ranges, by owner hash.
pub(crate) type Nsec3Ranges = BTreeMap<HashedName, Box<nsec3::Nsec3Range>>;

#[cfg(test)]
mod tests;
