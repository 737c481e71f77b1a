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
//! Each entry is one heap block (a small header, the reply, the offsets)
//! that its shard's slot points at, evicted by CLOCK rather than strict
//! LRU. A hit read-locks its shard through a lock stripe of its own
//! thread, counts into a counter stripe of its own thread, and writes
//! shared memory only to set a clear bit: two threads' hits pass no cache
//! line between their cores (see `table.rs` and `counters.rs`).
//! [`AnswerCache::lookup_many`] serves a batch of queries with their
//! memory reads overlapped: the server's batched receive path.
//!
//! Entries expire at their smallest TTL. Expired entries are kept for the
//! configured stale limit and served only when the caller says upstream
//! failed (RFC 8767), with TTL 30 and EDE 3.
//!
//! # Limitations
//! Extended DNS Errors in a stored reply are dropped with its OPT record.
//! A reply whose OPT record is not last is refused.

use std::hash::{BuildHasher, Hasher, RandomState};

use crossbeam_utils::sync::ShardedLockReadGuard;

use anchorage_wire::query::{HEADER_LEN, QueryView};
use anchorage_wire::response::{Ede, EdeCode, ReplyOpt, write_opt};

use crate::Timestamp;
use crate::limits::{CacheLimits, MAX_TTL, STALE_TTL};
use crate::memory::{ShardCounters, TooLarge};
use crate::stats::CacheStats;

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

/// Bytes in front of each stored reply: stored-at time (8), lifetime (4),
/// message length (2), key bits (1).
const ENTRY_HEADER: usize = 15;

/// The fixed fields of one cached reply, kept in the first
/// [`ENTRY_HEADER`] bytes of its block so a hit reads one heap block.
/// The block never changes once stored; whether the entry has signalled
/// prefetch is a bit in its slot.
#[derive(Debug, Clone, Copy)]
struct EntryHeader {
    stored_at: Timestamp,
    /// Lifetime: the smallest TTL in the reply.
    ttl: u32,
    msg_len: u16,
    key_bits: u8,
}

impl EntryHeader {
    /// Reads the header of an entry block; `None` only for a block
    /// shorter than a header, which `insert` never stores.
    fn read(entry: &[u8]) -> Option<Self> {
        let h = entry.first_chunk::<ENTRY_HEADER>()?;
        let mut stored_at = [0; 8];
        stored_at.copy_from_slice(&h[..8]);
        Some(Self {
            stored_at: Timestamp(u64::from_le_bytes(stored_at)),
            ttl: u32::from_le_bytes([h[8], h[9], h[10], h[11]]),
            msg_len: u16::from_le_bytes([h[12], h[13]]),
            key_bits: h[14],
        })
    }

    fn write(&self, h: &mut [u8; ENTRY_HEADER]) {
        h[..8].copy_from_slice(&self.stored_at.0.to_le_bytes());
        h[8..12].copy_from_slice(&self.ttl.to_le_bytes());
        h[12..14].copy_from_slice(&self.msg_len.to_le_bytes());
        h[14] = self.key_bits;
    }

    fn expires(&self) -> Timestamp {
        self.stored_at.plus(self.ttl)
    }
}

/// One cached reply: its header, the reply without OPT, then its TTL
/// offsets as big-endian `u16`s.
struct StoredReply<'a> {
    header: EntryHeader,
    msg: &'a [u8],
    offsets: &'a [u8],
}

impl<'a> StoredReply<'a> {
    fn new(entry: &'a [u8]) -> Option<Self> {
        let header = EntryHeader::read(entry)?;
        let body = &entry[ENTRY_HEADER..];
        let (msg, offsets) = body.split_at_checked(usize::from(header.msg_len))?;
        Some(Self {
            header,
            msg,
            offsets,
        })
    }

    fn matches(&self, query: &QueryView, key_bits: u8) -> bool {
        let name = query.qname_lower().as_bytes();
        let qend = HEADER_LEN + name.len();
        let Some(stored) = self.msg.get(HEADER_LEN..qend + 4) else {
            return false;
        };
        let (stored_name, type_class) = stored.split_at(name.len());
        self.header.key_bits == key_bits
            && stored_name.eq_ignore_ascii_case(name)
            && type_class[..2] == query.qtype().to_be_bytes()
            && type_class[2..] == query.qclass().to_be_bytes()
    }

    /// Writes the reply for `query` into `out`, TTLs reduced by `elapsed`
    /// seconds, or all set to [`STALE_TTL`] when `stale`.
    fn write_reply(&self, query: &QueryView, elapsed: u64, stale: bool, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(self.msg);
        out[..2].copy_from_slice(&query.id().to_be_bytes());
        out[2] = (out[2] & !FLAG_RD_BYTE2) | u8::from(query.recursion_desired());
        if !(query.dnssec_ok() || query.authentic_data()) {
            // RFC 6840 §5.8: AD only to clients that asked for it.
            out[3] &= !FLAG_AD_BYTE3;
        }
        let name = query.qname().as_bytes();
        out[HEADER_LEN..HEADER_LEN + name.len()].copy_from_slice(name);
        let elapsed = u32::try_from(elapsed).unwrap_or(u32::MAX);
        for pair in self.offsets.chunks_exact(2) {
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

/// Most queries [`AnswerCache::lookup_many`] works on together, holding
/// up to this many shard locks at once.
pub const LOOKUP_BATCH: usize = 16;

/// What a lookup found under its shard's read lock.
#[derive(Debug, Clone, Copy)]
enum Found {
    /// The lookup's answer.
    Answer(Lookup),
    /// An entry past the stale limit: a miss, and the entry is to go,
    /// which takes the write lock.
    PastStale,
}

impl Found {
    /// Counts this outcome into `tally`.
    fn count(self, tally: &mut ShardCounters) {
        match self {
            Self::Answer(Lookup::Hit { prefetch }) => {
                tally.hits += 1;
                tally.prefetches += u64::from(prefetch);
            }
            Self::Answer(Lookup::Stale) => tally.stale_hits += 1,
            Self::Answer(Lookup::Miss) | Self::PastStale => tally.misses += 1,
        }
    }
}

/// Whole replies in wire form, bounded in bytes, sharded by key hash.
pub struct AnswerCache {
    tables: Tables,
    counters: LookupCounters,
    keys: RandomState,
    limits: CacheLimits,
}

impl AnswerCache {
    /// An empty cache holding at most `limits.answer_bytes` bytes.
    pub fn new(limits: CacheLimits) -> Self {
        let counters = LookupCounters::new();
        let tables_bytes = limits
            .answer_bytes
            .saturating_sub(LookupCounters::heap_bytes());
        Self {
            tables: Tables::new(tables_bytes, limits.shards),
            counters,
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

    fn query_hash(&self, query: &QueryView) -> u64 {
        let key_bits = key_bits(query.dnssec_ok(), query.checking_disabled());
        self.key_hash(
            query.qname_lower().as_bytes(),
            query.qtype(),
            query.qclass(),
            key_bits,
        )
    }

    /// Looks `query` up and, on a hit, writes the reply into `out`.
    pub fn lookup(
        &self,
        query: &QueryView,
        now: Timestamp,
        policy: StalePolicy,
        out: &mut Vec<u8>,
    ) -> Lookup {
        let hash = self.query_hash(query);
        let shard = self.tables.shard_of(hash);
        let found = self.lookup_in(&self.tables.read(shard), hash, query, now, policy, out);
        let mut tally = ShardCounters::default();
        found.count(&mut tally);
        self.counters.add(&tally);
        self.settle(shard, hash, now, found)
    }

    /// Looks up many queries at once, as [`lookup`](Self::lookup) does
    /// one: `results[i]` says what `queries[i]` found, and its reply is in
    /// `outs[i]`. Works on the first `min` of the three lengths.
    ///
    /// Faster per query than single lookups when the cache is larger than
    /// the CPU's caches: the memory reads of up to [`LOOKUP_BATCH`] queries
    /// are issued together and overlap, where single lookups wait for each
    /// in turn.
    pub fn lookup_many(
        &self,
        queries: &[QueryView],
        now: Timestamp,
        policy: StalePolicy,
        outs: &mut [Vec<u8>],
        results: &mut [Lookup],
    ) {
        let n = queries.len().min(outs.len()).min(results.len());
        for start in (0..n).step_by(LOOKUP_BATCH) {
            let end = (start + LOOKUP_BATCH).min(n);
            self.lookup_batch(
                &queries[start..end],
                now,
                policy,
                &mut outs[start..end],
                &mut results[start..end],
            );
        }
    }

    /// One batch of at most [`LOOKUP_BATCH`] queries.
    fn lookup_batch(
        &self,
        queries: &[QueryView],
        now: Timestamp,
        policy: StalePolicy,
        outs: &mut [Vec<u8>],
        results: &mut [Lookup],
    ) {
        let mut hashes = [0u64; LOOKUP_BATCH];
        let mut shards = [0usize; LOOKUP_BATCH];
        for (k, query) in queries.iter().enumerate() {
            hashes[k] = self.query_hash(query);
            shards[k] = self.tables.shard_of(hashes[k]);
        }
        // Read locks are only tried, never waited for, while others are
        // held: a writer waiting for a shard holds new readers back, so
        // two batches waiting each behind a writer for a shard the other
        // holds would wait forever. A query whose shard is being written
        // is looked up alone afterwards.
        let mut guards: [Option<ShardedLockReadGuard<'_, Table>>; LOOKUP_BATCH] =
            [const { None }; LOOKUP_BATCH];
        let mut holder = [None::<usize>; LOOKUP_BATCH];
        for k in 0..queries.len() {
            holder[k] = match (0..k).find(|&j| shards[j] == shards[k]) {
                Some(j) => holder[j],
                None => self.tables.try_read(shards[k]).map(|guard| {
                    guards[k] = Some(guard);
                    k
                }),
            };
        }
        // Each pass reads one level for every query before the next level
        // of any, so the CPU keeps their cache misses in flight together.
        let mut found = [None::<usize>; LOOKUP_BATCH];
        for k in 0..queries.len() {
            if let Some(table) = holder[k].and_then(|h| guards[h].as_deref()) {
                found[k] = table.find(hashes[k]);
            }
        }
        for k in 0..queries.len() {
            if let (Some(table), Some(pos)) =
                (holder[k].and_then(|h| guards[h].as_deref()), found[k])
                && let Some(entry) = table.peek(pos)
            {
                // A reply spans two or three cache lines: reading its
                // first, middle and last byte brings them all in.
                std::hint::black_box(
                    [entry.first(), entry.get(entry.len() / 2), entry.last()]
                        .map(Option::<&u8>::copied),
                );
            }
        }
        let mut outcomes = [Found::Answer(Lookup::Miss); LOOKUP_BATCH];
        for (k, query) in queries.iter().enumerate() {
            if let Some(table) = holder[k].and_then(|h| guards[h].as_deref()) {
                outcomes[k] = self.lookup_in(table, hashes[k], query, now, policy, &mut outs[k]);
            }
        }
        drop(guards);
        let mut tally = ShardCounters::default();
        for (k, query) in queries.iter().enumerate() {
            if holder[k].is_none() {
                let table = self.tables.read(shards[k]);
                outcomes[k] = self.lookup_in(&table, hashes[k], query, now, policy, &mut outs[k]);
            }
            outcomes[k].count(&mut tally);
            results[k] = self.settle(shards[k], hashes[k], now, outcomes[k]);
        }
        self.counters.add(&tally);
    }

    /// The answer for `found`; an entry found past the stale limit is
    /// removed first, under the write lock (the caller holds no lock).
    fn settle(&self, shard: usize, hash: u64, now: Timestamp, found: Found) -> Lookup {
        match found {
            Found::Answer(lookup) => lookup,
            Found::PastStale => {
                let max_stale = self.limits.max_stale;
                self.tables.write(shard).expire_if(hash, |entry| {
                    EntryHeader::read(entry).is_some_and(|h| now >= h.expires().plus(max_stale))
                });
                Lookup::Miss
            }
        }
    }

    /// Looks `query` (whose key hashes to `hash`) up in its read-locked
    /// shard.
    fn lookup_in(
        &self,
        table: &Table,
        hash: u64,
        query: &QueryView,
        now: Timestamp,
        policy: StalePolicy,
        out: &mut Vec<u8>,
    ) -> Found {
        let miss = Found::Answer(Lookup::Miss);
        let key_bits = key_bits(query.dnssec_ok(), query.checking_disabled());
        let Some(pos) = table.find(hash) else {
            return miss;
        };
        let Some(stored) = table
            .hit(pos)
            .and_then(StoredReply::new)
            .filter(|s| s.matches(query, key_bits))
        else {
            return miss;
        };
        let header = stored.header;
        let expires = header.expires();
        if now < expires {
            let remaining = expires.since(now);
            let prefetch = remaining * 10 <= u64::from(header.ttl) && table.claim_prefetch(pos);
            stored.write_reply(query, now.since(header.stored_at), false, out);
            return Found::Answer(Lookup::Hit { prefetch });
        }
        if now >= expires.plus(self.limits.max_stale) {
            return Found::PastStale;
        }
        if policy == StalePolicy::FreshOnly {
            return miss;
        }
        stored.write_reply(query, 0, true, out);
        Found::Answer(Lookup::Stale)
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
        let mut data = Vec::with_capacity(ENTRY_HEADER + msg_len + 2 * layout.ttl_offsets.len());
        data.resize(ENTRY_HEADER, 0);
        data.extend_from_slice(&reply[..msg_len]);
        let msg = &mut data[ENTRY_HEADER..];
        if layout.opt_start.is_some() {
            let arcount = u16::from_be_bytes([msg[10], msg[11]]) - 1;
            msg[10..12].copy_from_slice(&arcount.to_be_bytes());
        }
        let mut lifetime = u32::MAX;
        for &at in &layout.ttl_offsets {
            let field = &mut msg[usize::from(at)..usize::from(at) + 4];
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
        let header = EntryHeader {
            stored_at: now,
            ttl: lifetime,
            // Invariant: `walk_reply` refuses messages over 65 535 bytes.
            msg_len: msg_len as u16,
            key_bits,
        };
        if let Some(h) = data.first_chunk_mut::<ENTRY_HEADER>() {
            header.write(h);
        }
        self.tables
            .write(self.tables.shard_of(hash))
            .insert(hash, data.into_boxed_slice())?;
        Ok(lifetime)
    }

    /// Counters, bytes and entries, summed over the shards.
    pub fn stats(&self) -> CacheStats {
        let (mut counters, bytes, entries) = self.tables.totals();
        self.counters.sum_into(&mut counters);
        CacheStats::from_totals((counters, bytes + LookupCounters::heap_bytes(), entries))
    }
}

mod counters;
pub mod layout;
mod table;

use counters::LookupCounters;
use layout::{WalkError, walk_reply};
use table::{Table, Tables};

#[cfg(test)]
mod tests;
