//! The negative cache: NXDOMAIN and NODATA with their SOA and proofs
//! (RFC 2308).
//!
//! An NXDOMAIN entry answers every type at its name; a NODATA entry answers
//! one type. Records are kept in wire form, so the bytes charged are the
//! bytes held; they are decoded on lookup, off the answer cache's hot path.
//!
//! # Limitations
//! Does not derive denial for names below an NXDOMAIN name (RFC 8020);
//! the aggressive NSEC cache is the place for synthesised denial.

use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use anchorage_wire::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use anchorage_wire::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};

use crate::limits::{CacheLimits, MAX_BOGUS_TTL};
use crate::memory::{HeapSize, Sharded, TooLarge, block_bytes};
use crate::stats::CacheStats;
use crate::{Security, Timestamp};

/// Which denial an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    /// The name does not exist (RCODE 3).
    NxDomain,
    /// The name exists but has no records of the type asked.
    NoData,
}

/// Why a denial was not cached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegativeError {
    /// The record given as SOA is not one.
    #[error("record of type {rtype} given as the SOA")]
    NotSoa {
        /// Its type.
        rtype: RecordType,
    },
    /// TTL 0 after the RFC 2308 §5 rule: not cacheable.
    #[error("negative TTL is zero")]
    ZeroTtl,
    /// A record could not be encoded.
    #[error("record could not be encoded: {reason}")]
    Encode {
        /// hickory's description.
        reason: String,
    },
    /// Larger than a shard.
    #[error("denial does not fit in a cache shard")]
    TooLarge(#[from] TooLarge),
}

/// A cached denial, TTLs reduced to what is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeAnswer {
    /// NXDOMAIN or NODATA.
    pub denial: Denial,
    /// The SOA of the zone that denied.
    pub soa: Record,
    /// The NSEC/NSEC3 records and RRSIGs that prove it.
    pub proofs: Vec<Record>,
    /// What validation concluded.
    pub security: Security,
}

struct NegativeEntry {
    /// Lower-cased owner in wire form, then the SOA and proofs in wire form.
    blob: Box<[u8]>,
    name_len: u8,
    records: u16,
    denial: Denial,
    security: Security,
    stored_at: Timestamp,
    ttl: u32,
}

impl HeapSize for NegativeEntry {
    fn heap_bytes(&self) -> usize {
        block_bytes(self.blob.len())
    }
}

/// NXDOMAIN and NODATA answers, bounded in bytes.
pub struct NegativeCache {
    entries: Sharded<NegativeEntry>,
    keys: RandomState,
    limits: CacheLimits,
}

impl NegativeCache {
    /// An empty cache holding at most `limits.record_bytes` bytes.
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            entries: Sharded::new(limits.record_bytes, limits.shards),
            keys: RandomState::new(),
            limits,
        }
    }

    fn key_hash(&self, lower: &[u8], qclass: DNSClass, slot: Option<RecordType>) -> u64 {
        let mut h = self.keys.build_hasher();
        lower.hash(&mut h);
        u16::from(qclass).hash(&mut h);
        slot.map(u16::from).hash(&mut h);
        h.finish()
    }

    /// Caches a denial of `qname` (every type for NXDOMAIN, `qtype` for
    /// NODATA). TTL = min(SOA TTL, SOA MINIMUM, configured cap) (RFC 2308
    /// §5), at most the bogus limit for bogus data (RFC 9520 §3).
    #[allow(clippy::too_many_arguments)] // the RFC 2308 key and payload, one argument each
    pub fn insert(
        &self,
        qname: &Name,
        qtype: RecordType,
        qclass: DNSClass,
        denial: Denial,
        soa: &Record,
        proofs: &[Record],
        security: Security,
        now: Timestamp,
    ) -> Result<u32, NegativeError> {
        let RData::SOA(soa_data) = &soa.data else {
            return Err(NegativeError::NotSoa {
                rtype: soa.record_type(),
            });
        };
        let mut ttl = soa
            .ttl
            .min(soa_data.minimum)
            .min(self.limits.max_negative_ttl);
        if security == Security::Bogus {
            ttl = ttl.min(self.limits.bogus_ttl.min(MAX_BOGUS_TTL));
        }
        if ttl == 0 {
            return Err(NegativeError::ZeroTtl);
        }
        let encode = |r: &dyn BinEncodable| {
            r.to_bytes().map_err(|e| NegativeError::Encode {
                reason: e.to_string(),
            })
        };
        let lower = encode(&qname.to_lowercase())?;
        // The SOA and proofs go through one encoder: its compression
        // pointers count from the SOA, where `decode` starts reading.
        // (Encoding each record alone made later records' pointers aim
        // into the wrong bytes once joined.)
        let mut records = Vec::new();
        {
            let mut encoder = BinEncoder::new(&mut records);
            for record in core::iter::once(soa).chain(proofs) {
                record
                    .emit(&mut encoder)
                    .map_err(|e| NegativeError::Encode {
                        reason: e.to_string(),
                    })?;
            }
        }
        let mut blob = lower.clone();
        blob.extend_from_slice(&records);
        let slot = (denial == Denial::NoData).then_some(qtype);
        let hash = self.key_hash(&lower, qclass, slot);
        let entry = NegativeEntry {
            blob: blob.into_boxed_slice(),
            // Invariant: a wire name is at most 255 bytes (RFC 1035 §2.3.4).
            name_len: lower.len() as u8,
            records: (1 + proofs.len()).min(usize::from(u16::MAX)) as u16,
            denial,
            security,
            stored_at: now,
            ttl,
        };
        self.entries.shard(hash).insert(hash, entry)?;
        Ok(ttl)
    }

    /// The cached denial for `qname`/`qtype`, if one is fresh at `now`.
    pub fn lookup(
        &self,
        qname: &Name,
        qtype: RecordType,
        qclass: DNSClass,
        now: Timestamp,
    ) -> Option<NegativeAnswer> {
        let lower = qname.to_lowercase().to_bytes().ok()?;
        for slot in [None, Some(qtype)] {
            let hash = self.key_hash(&lower, qclass, slot);
            let mut shard = self.entries.shard(hash);
            let Some(entry) = shard.get_mut(hash) else {
                continue;
            };
            if entry.blob[..usize::from(entry.name_len)] != lower[..] {
                continue;
            }
            let expires = entry.stored_at.plus(entry.ttl);
            if now >= expires {
                shard.expire(hash);
                continue;
            }
            let left = u32::try_from(expires.since(now)).unwrap_or(u32::MAX);
            let answer = entry.decode(left);
            match answer {
                Some(a) => {
                    shard.counters.hits += 1;
                    return Some(a);
                }
                None => shard.expire(hash),
            }
        }
        self.entries.shard(0).counters.misses += 1;
        None
    }

    /// Counters, bytes and entries, summed over the shards.
    pub fn stats(&self) -> CacheStats {
        CacheStats::from_totals(self.entries.totals())
    }
}

impl NegativeEntry {
    fn decode(&self, left: u32) -> Option<NegativeAnswer> {
        let mut decoder = BinDecoder::new(&self.blob[usize::from(self.name_len)..]);
        let mut read = || {
            Record::read(&mut decoder).ok().map(|mut r| {
                r.ttl = r.ttl.min(left);
                r
            })
        };
        let soa = read()?;
        let proofs = (1..self.records)
            .map(|_| read())
            .collect::<Option<Vec<_>>>()?;
        Some(NegativeAnswer {
            denial: self.denial,
            soa,
            proofs,
            security: self.security,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_wire::proto::rr::rdata::{A, SOA};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let data = SOA::new(
            name("ns.example.com."),
            name("host.example.com."),
            1,
            3600,
            600,
            86_400,
            minimum,
        );
        Record::from_rdata(name("example.com."), ttl, RData::SOA(data))
    }

    fn cache() -> NegativeCache {
        NegativeCache::new(CacheLimits {
            record_bytes: 1 << 20,
            shards: 4,
            max_negative_ttl: 3600,
            ..CacheLimits::default()
        })
    }

    const T0: Timestamp = Timestamp(5_000);

    #[test]
    fn soa_and_proofs_come_back_exactly_as_stored() {
        use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, NSEC};
        // Names sharing suffixes with the SOA's, so an encoder compresses
        // them: every record must still decode to itself.
        let proofs = [
            Record::from_rdata(
                name("a.example.com."),
                300,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                    name("c.example.com."),
                    [RecordType::A, RecordType::RRSIG, RecordType::NSEC],
                ))),
            ),
            Record::from_rdata(
                name("example.com."),
                300,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                    name("a.example.com."),
                    [RecordType::SOA, RecordType::NS, RecordType::NSEC],
                ))),
            ),
        ];
        let c = cache();
        let stored = soa(900, 300);
        c.insert(
            &name("b.example.com."),
            RecordType::A,
            DNSClass::IN,
            Denial::NxDomain,
            &stored,
            &proofs,
            Security::Secure,
            T0,
        )
        .unwrap();
        let found = c
            .lookup(&name("b.example.com."), RecordType::A, DNSClass::IN, T0)
            .unwrap();
        assert_eq!(found.soa.name, stored.name);
        assert_eq!(found.soa.data, stored.data);
        assert_eq!(found.proofs.len(), 2);
        for (got, want) in found.proofs.iter().zip(&proofs) {
            assert_eq!(got.name, want.name);
            assert_eq!(got.data, want.data);
        }
    }

    #[test]
    fn negative_ttl_is_the_smaller_of_soa_ttl_and_minimum_capped() {
        let c = cache();
        let insert = |q: &str, s: Record, sec| {
            c.insert(
                &name(q),
                RecordType::A,
                DNSClass::IN,
                Denial::NxDomain,
                &s,
                &[],
                sec,
                T0,
            )
        };
        assert_eq!(
            insert("a.example.com.", soa(900, 300), Security::Secure),
            Ok(300)
        );
        assert_eq!(
            insert("b.example.com.", soa(200, 300), Security::Secure),
            Ok(200)
        );
        assert_eq!(
            insert("c.example.com.", soa(86_400, 86_400), Security::Secure),
            Ok(3600)
        );
        assert_eq!(
            insert("d.example.com.", soa(900, 300), Security::Bogus),
            Ok(60)
        );
        assert_eq!(
            insert("e.example.com.", soa(0, 300), Security::Secure),
            Err(NegativeError::ZeroTtl)
        );
    }

    #[test]
    fn nxdomain_covers_every_type_and_nodata_only_its_own() {
        let c = cache();
        let proof = Record::from_rdata(name("x.example.com."), 600, RData::A(A::new(192, 0, 2, 1)));
        c.insert(
            &name("Gone.Example.com."),
            RecordType::A,
            DNSClass::IN,
            Denial::NxDomain,
            &soa(900, 300),
            std::slice::from_ref(&proof),
            Security::Secure,
            T0,
        )
        .unwrap();
        c.insert(
            &name("here.example.com."),
            RecordType::AAAA,
            DNSClass::IN,
            Denial::NoData,
            &soa(900, 300),
            &[],
            Security::Insecure,
            T0,
        )
        .unwrap();
        let got = c
            .lookup(
                &name("gone.example.com."),
                RecordType::MX,
                DNSClass::IN,
                T0.plus(100),
            )
            .unwrap();
        assert_eq!(got.denial, Denial::NxDomain);
        assert_eq!(got.soa.ttl, 200);
        assert_eq!(got.proofs.len(), 1);
        assert_eq!(got.proofs[0].ttl, 200, "proof TTL capped by what is left");
        let nodata = c
            .lookup(
                &name("here.example.com."),
                RecordType::AAAA,
                DNSClass::IN,
                T0,
            )
            .unwrap();
        assert_eq!(
            (nodata.denial, nodata.security),
            (Denial::NoData, Security::Insecure)
        );
        assert!(
            c.lookup(&name("here.example.com."), RecordType::A, DNSClass::IN, T0)
                .is_none()
        );
    }

    #[test]
    fn denials_expire_with_the_injected_clock() {
        let c = cache();
        c.insert(
            &name("gone.example.com."),
            RecordType::A,
            DNSClass::IN,
            Denial::NxDomain,
            &soa(900, 300),
            &[],
            Security::Secure,
            T0,
        )
        .unwrap();
        let look = |t| c.lookup(&name("gone.example.com."), RecordType::A, DNSClass::IN, t);
        assert!(look(T0.plus(299)).is_some());
        assert!(look(T0.plus(300)).is_none());
        assert_eq!(c.stats().entries, 0);
    }
}
