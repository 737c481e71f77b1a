//! The RRset cache: RRsets with their RRSIGs, how much we trust where they
//! came from, and what validation said about them.
//!
//! An entry is keyed by (lower-cased owner, type, class). Data of lower
//! [`Rank`] never replaces fresh data of higher rank (RFC 2181 §5.4.1);
//! bogus data is kept only briefly (RFC 9520 §3). Records are kept in wire
//! form, so the bytes charged are the bytes held; they are decoded on
//! lookup, which is the iterator's and validator's path, not the stub
//! client's.
//!
//! # Limitations
//! TTLs are not capped by RRSIG expiration here: the validator hands over
//! records with TTLs already capped (RFC 4035 §5.3.3). Serve-stale is the
//! answer cache's job; an expired RRset is gone.

use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use anchorage_wire::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};
use anchorage_wire::query::Section;

use crate::limits::{CacheLimits, MAX_BOGUS_TTL, MAX_TTL};
use crate::memory::{HeapSize, Sharded, TooLarge, block_bytes};
use crate::stats::CacheStats;
use crate::{Security, Timestamp};

/// How far cached data is trusted, by where it was found (RFC 2181
/// §5.4.1), lowest first. Ranks for zone-file and zone-transfer data are
/// left out: a resolver has neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    /// The additional section (glue included), or the authority section
    /// of a non-authoritative reply.
    Additional = 0,
    /// The answer section of a non-authoritative reply.
    NonAuthoritativeAnswer = 1,
    /// The authority section of an authoritative reply.
    Authority = 2,
    /// The answer section of an authoritative reply.
    AuthoritativeAnswer = 3,
}

impl Rank {
    /// The rank of records found in `section` of a reply whose AA bit is
    /// `authoritative`; `None` for the question section, which holds no
    /// data.
    pub fn of(section: Section, authoritative: bool) -> Option<Self> {
        Some(match (section, authoritative) {
            (Section::Question, _) => return None,
            (Section::Answer, true) => Self::AuthoritativeAnswer,
            (Section::Answer, false) => Self::NonAuthoritativeAnswer,
            (Section::Authority, true) => Self::Authority,
            (Section::Authority, false) | (Section::Additional, _) => Self::Additional,
        })
    }
}

/// Why an RRset was not cached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RrsetError {
    /// No records given.
    #[error("RRset is empty")]
    Empty,
    /// A record's owner, type or class differs from the first record's.
    #[error("record {index} does not belong to the RRset of the first record")]
    Mixed {
        /// Its position in the records given.
        index: usize,
    },
    /// A signature is not an RRSIG over the RRset's type.
    #[error("signature {index} is not an RRSIG over the RRset")]
    NotItsRrsig {
        /// Its position in the signatures given.
        index: usize,
    },
    /// Some record or signature has TTL 0: for this transaction only.
    #[error("RRset has TTL 0")]
    ZeroTtl,
    /// A record could not be encoded.
    #[error("record could not be encoded: {reason}")]
    Encode {
        /// hickory's description.
        reason: String,
    },
    /// Larger than a shard.
    #[error("RRset does not fit in a cache shard")]
    TooLarge(#[from] TooLarge),
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum RrsetInsert {
    /// Stored, to be kept for `ttl` seconds.
    Stored {
        /// Lifetime after clamping.
        ttl: u32,
    },
    /// Not stored: fresh data of higher rank is cached (RFC 2181 §5.4.1).
    KeptHigherRank {
        /// The rank of the data kept.
        kept: Rank,
    },
}

/// A cached RRset, TTLs reduced to what is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRrset {
    /// The records, as stored.
    pub records: Vec<Record>,
    /// The RRSIGs over them.
    pub rrsigs: Vec<Record>,
    /// Where the data came from.
    pub rank: Rank,
    /// What validation concluded.
    pub security: Security,
    /// Seconds left.
    pub ttl: u32,
}

struct RrsetEntry {
    /// Lower-cased owner in wire form, then records and RRSIGs in wire form.
    blob: Box<[u8]>,
    name_len: u8,
    records: u16,
    rrsigs: u16,
    rank: Rank,
    security: Security,
    stored_at: Timestamp,
    ttl: u32,
}

impl HeapSize for RrsetEntry {
    fn heap_bytes(&self) -> usize {
        block_bytes(self.blob.len())
    }
}

impl RrsetEntry {
    fn expires(&self) -> Timestamp {
        self.stored_at.plus(self.ttl)
    }

    fn decode(&self, left: u32) -> Option<CachedRrset> {
        let mut decoder = BinDecoder::new(&self.blob[usize::from(self.name_len)..]);
        let mut read = || {
            Record::read(&mut decoder).ok().map(|mut r| {
                r.ttl = r.ttl.min(left);
                r
            })
        };
        let records = (0..self.records)
            .map(|_| read())
            .collect::<Option<Vec<_>>>()?;
        let rrsigs = (0..self.rrsigs)
            .map(|_| read())
            .collect::<Option<Vec<_>>>()?;
        Some(CachedRrset {
            records,
            rrsigs,
            rank: self.rank,
            security: self.security,
            ttl: left,
        })
    }
}

/// The rank of `old`, if it is the RRset named `lower`, fresh at `now`,
/// and of higher rank than `rank` (RFC 2181 §5.4.1: it is kept).
fn outranked(old: Option<&RrsetEntry>, lower: &[u8], rank: Rank, now: Timestamp) -> Option<Rank> {
    old.filter(|old| {
        old.blob[..usize::from(old.name_len)] == *lower && now < old.expires() && old.rank > rank
    })
    .map(|old| old.rank)
}

/// RRsets with their RRSIGs, rank and security, bounded in bytes.
pub struct RrsetCache {
    entries: Sharded<RrsetEntry>,
    keys: RandomState,
    limits: CacheLimits,
}

impl RrsetCache {
    /// An empty cache holding at most `limits.record_bytes` bytes.
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            entries: Sharded::new(limits.record_bytes, limits.shards),
            keys: RandomState::new(),
            limits,
        }
    }

    fn key_hash(&self, lower: &[u8], rtype: RecordType, class: DNSClass) -> u64 {
        let mut h = self.keys.build_hasher();
        lower.hash(&mut h);
        u16::from(rtype).hash(&mut h);
        u16::from(class).hash(&mut h);
        h.finish()
    }

    /// Caches `records` (one RRset) with the `rrsigs` over it, found at
    /// `rank`, received at `now`. The lifetime is the smallest TTL among
    /// records and signatures, clamped to the configured bounds, and at
    /// most the bogus limit for bogus data (RFC 9520 §3).
    ///
    /// Fresh data of higher rank is kept and this call stores nothing;
    /// data of the same or higher rank replaces what is there.
    pub fn insert(
        &self,
        records: &[Record],
        rrsigs: &[Record],
        rank: Rank,
        security: Security,
        now: Timestamp,
    ) -> Result<RrsetInsert, RrsetError> {
        let first = records.first().ok_or(RrsetError::Empty)?;
        let (rtype, class) = (first.record_type(), first.dns_class);
        let lower_name = first.name.to_lowercase();
        if let Some(index) = records.iter().position(|r| {
            r.record_type() != rtype || r.dns_class != class || r.name.to_lowercase() != lower_name
        }) {
            return Err(RrsetError::Mixed { index });
        }
        if let Some(index) = rrsigs.iter().position(|r| {
            !matches!(&r.data, RData::DNSSEC(DNSSECRData::RRSIG(sig))
                if sig.input().type_covered == rtype)
                || r.name.to_lowercase() != lower_name
        }) {
            return Err(RrsetError::NotItsRrsig { index });
        }
        let smallest = records
            .iter()
            .chain(rrsigs)
            .map(|r| if r.ttl > MAX_TTL { 0 } else { r.ttl })
            .min()
            .unwrap_or(0);
        if smallest == 0 {
            return Err(RrsetError::ZeroTtl);
        }
        let mut ttl = smallest.clamp(
            self.limits.min_ttl.max(1),
            self.limits.max_ttl.max(self.limits.min_ttl).max(1),
        );
        if security == Security::Bogus {
            ttl = ttl.min(self.limits.bogus_ttl.clamp(1, MAX_BOGUS_TTL));
        }
        let encode_error = |e: &dyn std::fmt::Display| RrsetError::Encode {
            reason: e.to_string(),
        };
        let lower = lower_name.to_bytes().map_err(|e| encode_error(&e))?;
        let hash = self.key_hash(&lower, rtype, class);
        // Lower-ranked copies (glue and authority copies of RRsets already
        // held as answers) are common: turned away before they are encoded.
        if let Some(kept) = outranked(self.entries.shard(hash).peek(hash), &lower, rank, now) {
            return Ok(RrsetInsert::KeptHigherRank { kept });
        }
        let mut blob = lower.clone();
        {
            // One encoder for all records: its compression pointers count
            // from the first record, where `decode` starts reading.
            let mut wire = Vec::new();
            let mut encoder = BinEncoder::new(&mut wire);
            for record in records.iter().chain(rrsigs) {
                record.emit(&mut encoder).map_err(|e| encode_error(&e))?;
            }
            blob.extend_from_slice(&wire);
        }
        let mut shard = self.entries.shard(hash);
        // Checked again: another thread may have stored it while we encoded.
        if let Some(kept) = outranked(shard.get_mut(hash).map(|old| &*old), &lower, rank, now) {
            return Ok(RrsetInsert::KeptHigherRank { kept });
        }
        let entry = RrsetEntry {
            blob: blob.into_boxed_slice(),
            // Invariant: a wire name is at most 255 bytes (RFC 1035 §2.3.4).
            name_len: lower.len() as u8,
            // Invariant: one message holds at most 65 535 records.
            records: records.len().min(usize::from(u16::MAX)) as u16,
            rrsigs: rrsigs.len().min(usize::from(u16::MAX)) as u16,
            rank,
            security,
            stored_at: now,
            ttl,
        };
        shard.insert(hash, entry)?;
        Ok(RrsetInsert::Stored { ttl })
    }

    /// The cached RRset `name`/`rtype`/`class`, if one is fresh at `now`.
    pub fn lookup(
        &self,
        name: &Name,
        rtype: RecordType,
        class: DNSClass,
        now: Timestamp,
    ) -> Option<CachedRrset> {
        let lower = name.to_lowercase().to_bytes().ok()?;
        let hash = self.key_hash(&lower, rtype, class);
        let mut shard = self.entries.shard(hash);
        let fresh = match shard.get_mut(hash) {
            Some(entry) if entry.blob[..usize::from(entry.name_len)] == lower[..] => {
                let expires = entry.expires();
                (now < expires)
                    .then(|| entry.decode(u32::try_from(expires.since(now)).unwrap_or(u32::MAX)))
                    .flatten()
            }
            _ => {
                shard.counters.misses += 1;
                return None;
            }
        };
        if fresh.is_some() {
            shard.counters.hits += 1;
        } else {
            // Expired, or stored bytes that no longer decode: either way gone.
            shard.expire(hash);
            shard.counters.misses += 1;
        }
        fresh
    }

    /// Records what validation concluded about a cached RRset; bogus data
    /// then lives at most the bogus limit from `now` (RFC 9520 §3).
    /// Returns false if the RRset is not cached or has expired.
    pub fn set_security(
        &self,
        name: &Name,
        rtype: RecordType,
        class: DNSClass,
        security: Security,
        now: Timestamp,
    ) -> bool {
        let Ok(lower) = name.to_lowercase().to_bytes() else {
            return false;
        };
        let hash = self.key_hash(&lower, rtype, class);
        let mut shard = self.entries.shard(hash);
        let Some(entry) = shard.get_mut(hash) else {
            return false;
        };
        if entry.blob[..usize::from(entry.name_len)] != lower[..] || now >= entry.expires() {
            return false;
        }
        entry.security = security;
        if security == Security::Bogus {
            let cap = self.limits.bogus_ttl.clamp(1, MAX_BOGUS_TTL);
            let left = u32::try_from(entry.expires().since(now)).unwrap_or(u32::MAX);
            if left > cap {
                let elapsed = u32::try_from(now.since(entry.stored_at)).unwrap_or(u32::MAX);
                entry.ttl = elapsed.saturating_add(cap);
            }
        }
        true
    }

    /// Counters, bytes and entries, summed over the shards.
    pub fn stats(&self) -> CacheStats {
        CacheStats::from_totals(self.entries.totals())
    }
}

#[cfg(test)]
mod tests;
