//! The answer cache: whole replies in wire form, served by copy and patch.
//!
//! An entry is keyed by (lower-cased qname, qtype, qclass, DO, CD) and holds
//! the reply's bytes, without its OPT record, followed by the offsets of its
//! TTL fields. A hit copies the bytes into the caller's buffer, patches the
//! ID and RD bit, writes the client's spelling of the question over the
//! stored one (so 0x20 case randomisation is echoed, and every compressed
//! name pointing at the question follows it), rewrites each TTL to what is
//! left of it, and appends an OPT record if the client sent one. Nothing
//! is parsed and nothing allocated beyond the caller's buffer.
//!
//! Entries expire at their smallest TTL. Expired entries are kept for the
//! configured stale limit and served only when the caller says upstream
//! failed (RFC 8767), with TTL 30 and EDE 3.
//!
//! # Limitations
//! Extended DNS Errors in a stored reply are dropped with its OPT record.
//! A reply whose OPT record is not last is refused.

use std::hash::{BuildHasher, Hasher, RandomState};

use anchorage_wire::query::{HEADER_LEN, QueryView};
use anchorage_wire::response::{Ede, EdeCode, ReplyOpt, write_opt};

use crate::Timestamp;
use crate::limits::{CacheLimits, MAX_TTL, STALE_TTL};
use crate::memory::{HeapSize, Sharded, TooLarge, block_bytes};
use crate::stats::CacheStats;
use crate::walk::{WalkError, walk_reply};

/// RCODE NOERROR (RFC 1035 §4.1.1).
const RCODE_NOERROR: u8 = 0;
/// RCODE NXDOMAIN (RFC 1035 §4.1.1).
const RCODE_NXDOMAIN: u8 = 3;
/// Header flag bits we patch or read (RFC 1035 §4.1.1, RFC 4035 §3.2).
const FLAG_TC: u16 = 0x0200;
const FLAG_CD: u16 = 0x0010;
const FLAG_RD_BYTE2: u8 = 0x01;
const FLAG_AD_BYTE3: u8 = 0x20;
/// Key bits: the DO and CD flags of the query.
const KEY_DO: u8 = 1;
const KEY_CD: u8 = 2;

/// The key bits for a query's DO and CD flags.
fn key_bits(dnssec_ok: bool, checking_disabled: bool) -> u8 {
    (if dnssec_ok { KEY_DO } else { 0 }) | (if checking_disabled { KEY_CD } else { 0 })
}

/// Whether a lookup may return an expired answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StalePolicy {
    /// Only fresh answers: the normal case.
    FreshOnly,
    /// Upstream failed: an expired answer within the stale limit will do
    /// (RFC 8767 §4).
    UpstreamFailed,
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Lookup {
    /// Nothing usable; `out` is untouched.
    Miss,
    /// A fresh answer is in `out`. `prefetch` is set once per entry, on the
    /// first hit in the last tenth of its TTL: refresh it in the background.
    Hit {
        /// The entry is about to expire.
        prefetch: bool,
    },
    /// An expired answer is in `out`, with TTL 30 and EDE 3.
    Stale,
}

/// Why a reply was not cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// The reply is malformed.
    #[error("reply is malformed")]
    Malformed(#[from] WalkError),
    /// Only NOERROR and NXDOMAIN replies are cached here.
    #[error("replies with RCODE {rcode} are not cached")]
    Rcode {
        /// The RCODE.
        rcode: u8,
    },
    /// A truncated reply is incomplete (RFC 2181 §9).
    #[error("truncated replies are not cached")]
    Truncated,
    /// A negative reply without SOA cannot be cached (RFC 2308 §5).
    #[error("negative reply carries no SOA")]
    NegativeWithoutSoa,
    /// Some record has TTL 0: the reply is for this query only.
    #[error("reply has a record with TTL 0")]
    ZeroTtl,
    /// The reply alone is larger than a shard.
    #[error("reply does not fit in a cache shard")]
    TooLarge(#[from] TooLarge),
}

/// One cached reply.
struct AnswerEntry {
    /// The reply without OPT, then its TTL offsets as big-endian `u16`s.
    data: Box<[u8]>,
    stored_at: Timestamp,
    /// Lifetime: the smallest TTL in the reply.
    ttl: u32,
    msg_len: u16,
    key_bits: u8,
    prefetch_signalled: bool,
}

impl HeapSize for AnswerEntry {
    fn heap_bytes(&self) -> usize {
        block_bytes(self.data.len())
    }
}

impl AnswerEntry {
    fn matches(&self, query: &QueryView, key_bits: u8) -> bool {
        let name = query.qname_lower().as_bytes();
        let qend = HEADER_LEN + name.len();
        let Some(stored) = self.data.get(HEADER_LEN..qend + 4) else {
            return false;
        };
        let (stored_name, type_class) = stored.split_at(name.len());
        self.key_bits == key_bits
            && stored_name.eq_ignore_ascii_case(name)
            && type_class[..2] == query.qtype().to_be_bytes()
            && type_class[2..] == query.qclass().to_be_bytes()
    }

    fn expires(&self) -> Timestamp {
        self.stored_at.plus(self.ttl)
    }

    /// Writes the reply for `query` into `out`, TTLs reduced by `elapsed`
    /// seconds, or all set to [`STALE_TTL`] when `stale`.
    fn write_reply(&self, query: &QueryView, elapsed: u64, stale: bool, out: &mut Vec<u8>) {
        let (msg, offsets) = self.data.split_at(usize::from(self.msg_len));
        out.clear();
        out.extend_from_slice(msg);
        out[..2].copy_from_slice(&query.id().to_be_bytes());
        out[2] = (out[2] & !FLAG_RD_BYTE2) | u8::from(query.recursion_desired());
        if !(query.dnssec_ok() || query.authentic_data()) {
            // RFC 6840 §5.8: AD only to clients that asked for it.
            out[3] &= !FLAG_AD_BYTE3;
        }
        let name = query.qname().as_bytes();
        out[HEADER_LEN..HEADER_LEN + name.len()].copy_from_slice(name);
        let elapsed = u32::try_from(elapsed).unwrap_or(u32::MAX);
        for pair in offsets.chunks_exact(2) {
            let at = usize::from(u16::from_be_bytes([pair[0], pair[1]]));
            // Invariant: offsets were found by walking this very message.
            let field = &mut out[at..at + 4];
            let ttl = if stale {
                STALE_TTL
            } else {
                u32::from_be_bytes([field[0], field[1], field[2], field[3]]).saturating_sub(elapsed)
            };
            field.copy_from_slice(&ttl.to_be_bytes());
        }
        if let Some(edns) = query.edns() {
            let ede = stale.then_some(Ede {
                code: EdeCode::StaleAnswer,
                text: "",
            });
            write_opt(
                out,
                &ReplyOpt {
                    dnssec_ok: edns.dnssec_ok(),
                    ede,
                    ..ReplyOpt::default()
                },
            );
            let arcount = u16::from_be_bytes([out[10], out[11]]).wrapping_add(1);
            out[10..12].copy_from_slice(&arcount.to_be_bytes());
        }
    }
}

/// Whole replies in wire form, bounded in bytes, sharded by key hash.
pub struct AnswerCache {
    entries: Sharded<AnswerEntry>,
    keys: RandomState,
    limits: CacheLimits,
}

impl AnswerCache {
    /// An empty cache holding at most `limits.answer_bytes` bytes.
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            entries: Sharded::new(limits.answer_bytes, limits.shards),
            keys: RandomState::new(),
            limits,
        }
    }

    fn key_hash(&self, lower_name: &[u8], qtype: u16, qclass: u16, key_bits: u8) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write(lower_name);
        h.write_u16(qtype);
        h.write_u16(qclass);
        h.write_u8(key_bits);
        h.finish()
    }

    /// Looks `query` up and, on a hit, writes the reply into `out`.
    pub fn lookup(
        &self,
        query: &QueryView,
        now: Timestamp,
        policy: StalePolicy,
        out: &mut Vec<u8>,
    ) -> Lookup {
        let key_bits = key_bits(query.dnssec_ok(), query.checking_disabled());
        let hash = self.key_hash(
            query.qname_lower().as_bytes(),
            query.qtype(),
            query.qclass(),
            key_bits,
        );
        let mut shard = self.entries.shard(hash);
        let Some(entry) = shard.get_mut(hash) else {
            shard.counters.misses += 1;
            return Lookup::Miss;
        };
        if !entry.matches(query, key_bits) {
            shard.counters.misses += 1;
            return Lookup::Miss;
        }
        let expires = entry.expires();
        if now < expires {
            let remaining = expires.since(now);
            let prefetch = !entry.prefetch_signalled && remaining * 10 <= u64::from(entry.ttl);
            entry.prefetch_signalled |= prefetch;
            entry.write_reply(query, now.since(entry.stored_at), false, out);
            shard.counters.hits += 1;
            shard.counters.prefetches += u64::from(prefetch);
            return Lookup::Hit { prefetch };
        }
        if now >= expires.plus(self.limits.max_stale) {
            shard.expire(hash);
            shard.counters.misses += 1;
            return Lookup::Miss;
        }
        if policy == StalePolicy::FreshOnly {
            shard.counters.misses += 1;
            return Lookup::Miss;
        }
        entry.write_reply(query, 0, true, out);
        shard.counters.stale_hits += 1;
        Lookup::Stale
    }

    /// Stores a complete reply received or built at `now`, keyed by its
    /// question, its CD bit and the DO bit of its OPT record (which a
    /// reply copies from its query, RFC 3225 §3). Returns the lifetime.
    ///
    /// TTLs are clamped to the configured bounds and written back; in a
    /// negative reply (NXDOMAIN, or no answer records) the SOA's TTL
    /// becomes min(TTL, MINIMUM) (RFC 2308 §5) and every TTL is capped by
    /// the negative limit.
    pub fn insert(&self, reply: &[u8], now: Timestamp) -> Result<u32, InsertError> {
        let layout = walk_reply(reply)?;
        if layout.flags & FLAG_TC != 0 {
            return Err(InsertError::Truncated);
        }
        if layout.rcode != RCODE_NOERROR && layout.rcode != RCODE_NXDOMAIN {
            return Err(InsertError::Rcode {
                rcode: layout.rcode,
            });
        }
        let negative = layout.rcode == RCODE_NXDOMAIN || layout.ancount == 0;
        if negative && layout.soa.is_none() {
            return Err(InsertError::NegativeWithoutSoa);
        }
        let msg_len = layout.opt_start.unwrap_or(reply.len());
        let mut data = Vec::with_capacity(msg_len + 2 * layout.ttl_offsets.len());
        data.extend_from_slice(&reply[..msg_len]);
        if layout.opt_start.is_some() {
            let arcount = u16::from_be_bytes([data[10], data[11]]) - 1;
            data[10..12].copy_from_slice(&arcount.to_be_bytes());
        }
        let mut lifetime = u32::MAX;
        for &at in &layout.ttl_offsets {
            let field = &mut data[usize::from(at)..usize::from(at) + 4];
            let mut ttl = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
            if ttl > MAX_TTL {
                ttl = 0;
            }
            ttl = if negative {
                if let Some((soa_at, minimum)) = layout.soa
                    && soa_at == at
                {
                    ttl = ttl.min(minimum);
                }
                ttl.min(self.limits.max_negative_ttl)
            } else {
                ttl.clamp(
                    self.limits.min_ttl,
                    self.limits.max_ttl.max(self.limits.min_ttl),
                )
            };
            field.copy_from_slice(&ttl.to_be_bytes());
            lifetime = lifetime.min(ttl);
        }
        if lifetime == 0 || lifetime == u32::MAX {
            return Err(InsertError::ZeroTtl);
        }
        for &at in &layout.ttl_offsets {
            data.extend_from_slice(&at.to_be_bytes());
        }
        let key_bits = key_bits(layout.dnssec_ok, layout.flags & FLAG_CD != 0);
        let lower = layout.qname.to_lowercase();
        let hash = self.key_hash(lower.as_bytes(), layout.qtype, layout.qclass, key_bits);
        let entry = AnswerEntry {
            data: data.into_boxed_slice(),
            stored_at: now,
            ttl: lifetime,
            // Invariant: `walk_reply` refuses messages over 65 535 bytes.
            msg_len: msg_len as u16,
            key_bits,
            prefetch_signalled: false,
        };
        self.entries.shard(hash).insert(hash, entry)?;
        Ok(lifetime)
    }

    /// Counters, bytes and entries, summed over the shards.
    pub fn stats(&self) -> CacheStats {
        CacheStats::from_totals(self.entries.totals())
    }
}

#[cfg(test)]
mod tests;
