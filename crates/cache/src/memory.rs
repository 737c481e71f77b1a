//! Memory accounting and the sharded, byte-bounded LRU every cache uses.
//!
//! Each cache is split into shards chosen by key hash, each shard a
//! `lru::LruCache` behind its own mutex with its own share of the byte
//! budget. What a shard charges is what it really holds on the heap: the
//! LRU node of each entry, the heap bytes the entry owns, the allocator's
//! per-block overhead, and the hash table, sized as `hashbrown` sizes it.
//!
//! # Limitations
//! While the hash table grows, old and new tables live together for the
//! length of one rehash; the charge covers the larger one only. The table
//! charge assumes the worst growth `hashbrown` can reach for the highest
//! entry count seen (tombstones can double it), so it may overstate what a
//! shard holds, never understate it.

use std::hash::{BuildHasher, Hasher};
use std::mem::size_of;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lru::LruCache;

/// Smallest block glibc's malloc hands out, header included (glibc
/// `MINSIZE` on 64-bit targets).
pub const MALLOC_MIN_BLOCK: usize = 32;
/// Bytes of bookkeeping malloc keeps in front of each block (glibc chunk
/// header on 64-bit targets).
pub const MALLOC_HEADER: usize = 8;
/// Alignment malloc rounds every block to (glibc `MALLOC_ALIGNMENT`).
pub const MALLOC_ALIGN: usize = 16;
/// Bytes of one hash-table slot in `lru`'s map: a key pointer and a node
/// pointer.
const TABLE_SLOT: usize = 2 * size_of::<usize>();
/// Control bytes `hashbrown` adds past the last bucket (its SSE2 group width).
const TABLE_TAIL: usize = 16;

/// Heap bytes one allocation of `size` bytes really takes.
pub fn block_bytes(size: usize) -> usize {
    if size == 0 {
        return 0;
    }
    (size + MALLOC_HEADER)
        .next_multiple_of(MALLOC_ALIGN)
        .max(MALLOC_MIN_BLOCK)
}

/// Heap bytes of the LRU node holding one `V` under a `u64` key: the key,
/// the value and the two list pointers `lru` keeps, in one boxed block.
pub fn node_bytes<V>() -> usize {
    block_bytes(size_of::<(u64, V, usize, usize)>())
}

/// Heap bytes of `lru`'s hash table with `buckets` buckets.
fn table_bytes(buckets: usize) -> usize {
    if buckets == 0 {
        return 0;
    }
    block_bytes(buckets * TABLE_SLOT + buckets + TABLE_TAIL)
}

/// How many entries a `hashbrown` table of `buckets` buckets holds before
/// it grows (7/8 load, one free slot in tiny tables).
fn table_capacity(buckets: usize) -> usize {
    if buckets < 8 {
        buckets.saturating_sub(1)
    } else {
        buckets / 8 * 7
    }
}

/// Most buckets a table can reach while holding at most `entries` entries:
/// it only doubles when, counting the new entry, it is over half its
/// capacity; below that it rehashes in place.
pub(crate) fn worst_case_buckets(entries: usize) -> usize {
    if entries == 0 {
        return 0;
    }
    let mut buckets = 4;
    while table_capacity(buckets) / 2 < entries {
        buckets *= 2;
    }
    buckets
}

/// Something whose heap footprint the cache can charge.
pub(crate) trait HeapSize {
    /// Heap bytes owned by this value outside its own inline size.
    fn heap_bytes(&self) -> usize;
}

/// Passes a precomputed `u64` key hash through as the table hash.
///
/// Keys are already hashed with a per-process random SipHash key, so
/// hashing them again would only cost time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThrough;

/// The hasher [`PassThrough`] builds.
#[derive(Debug, Default)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys reach this hasher; fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;

    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

/// Counters one shard keeps under its own lock, so hits never bounce a
/// shared cache line between cores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShardCounters {
    pub(crate) hits: u64,
    pub(crate) stale_hits: u64,
    pub(crate) misses: u64,
    pub(crate) inserts: u64,
    pub(crate) evictions: u64,
    pub(crate) expirations: u64,
    pub(crate) prefetches: u64,
}

/// Why a value could not be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("entry needs {needed} bytes but a shard holds at most {budget}")]
pub struct TooLarge {
    /// Bytes the entry would take.
    pub needed: usize,
    /// Byte budget of one shard.
    pub budget: usize,
}

/// A value with the shard tick of its last move to the front.
struct Slot<V> {
    value: V,
    touched: u64,
}

/// One shard: an LRU list and what it costs.
///
/// A hit on an entry that moved to the front less than a quarter of the
/// shard's length ago leaves it in place: it is already among the most
/// recent quarter, and not moving it spares two cache misses and the list
/// writes on the hottest entries. Eviction order is exact LRU otherwise.
pub(crate) struct Shard<V> {
    lru: LruCache<u64, Slot<V>, PassThrough>,
    /// Counts moves to the front.
    tick: u64,
    budget: usize,
    entry_bytes: usize,
    high_water: usize,
    pub(crate) counters: ShardCounters,
}

impl<V: HeapSize> Shard<V> {
    fn new(budget: usize) -> Self {
        Self {
            lru: LruCache::unbounded_with_hasher(PassThrough),
            tick: 0,
            budget,
            entry_bytes: 0,
            high_water: 0,
            counters: ShardCounters::default(),
        }
    }

    /// Bytes one entry costs: its node and what it owns.
    fn charge(value: &V) -> usize {
        node_bytes::<Slot<V>>() + value.heap_bytes()
    }

    /// Bytes this shard holds: entries and hash table.
    pub(crate) fn bytes(&self) -> usize {
        self.entry_bytes + table_bytes(worst_case_buckets(self.high_water))
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.lru.len()
    }

    /// The entry under `hash`, marked most recently used.
    pub(crate) fn get_mut(&mut self, hash: u64) -> Option<&mut V> {
        let recent = (self.lru.len() / 4) as u64;
        let touched = self.lru.peek(&hash)?.touched;
        if self.tick - touched <= recent {
            return self.lru.peek_mut(&hash).map(|slot| &mut slot.value);
        }
        self.tick += 1;
        let slot = self.lru.get_mut(&hash)?;
        slot.touched = self.tick;
        Some(&mut slot.value)
    }

    /// The entry under `hash`, leaving the LRU order alone.
    #[cfg(test)]
    pub(crate) fn peek(&self, hash: u64) -> Option<&V> {
        self.lru.peek(&hash).map(|slot| &slot.value)
    }

    /// Removes the entry under `hash`, counting it as expired.
    pub(crate) fn expire(&mut self, hash: u64) {
        if let Some(old) = self.lru.pop(&hash) {
            self.entry_bytes -= Self::charge(&old.value);
            self.counters.expirations += 1;
        }
    }

    /// Stores `value` under `hash`, replacing any entry there and evicting
    /// least recently used entries until the shard fits its budget.
    pub(crate) fn insert(&mut self, hash: u64, value: V) -> Result<(), TooLarge> {
        if let Some(old) = self.lru.pop(&hash) {
            self.entry_bytes -= Self::charge(&old.value);
        }
        let charge = Self::charge(&value);
        let fits = |shard: &Self| {
            let entries = shard.high_water.max(shard.lru.len() + 1);
            shard.entry_bytes + charge + table_bytes(worst_case_buckets(entries)) <= shard.budget
        };
        while !fits(self) {
            let Some((_, old)) = self.lru.pop_lru() else {
                return Err(TooLarge {
                    needed: charge + table_bytes(worst_case_buckets(1)),
                    budget: self.budget,
                });
            };
            self.entry_bytes -= Self::charge(&old.value);
            self.counters.evictions += 1;
        }
        self.entry_bytes += charge;
        self.tick += 1;
        let touched = self.tick;
        self.lru.put(hash, Slot { value, touched });
        self.high_water = self.high_water.max(self.lru.len());
        self.counters.inserts += 1;
        Ok(())
    }
}

/// A shard padded to its own cache lines so neighbouring locks do not
/// share one.
#[repr(align(128))]
struct Padded<T>(T);

/// A byte-bounded cache split into independently locked shards.
pub(crate) struct Sharded<V> {
    shards: Box<[Padded<Mutex<Shard<V>>>]>,
}

impl<V: HeapSize> Sharded<V> {
    /// `shards` shards sharing `max_bytes` equally.
    pub(crate) fn new(max_bytes: usize, shards: usize) -> Self {
        let shards = shards.max(1);
        let budget = max_bytes / shards;
        Self {
            shards: (0..shards)
                .map(|_| Padded(Mutex::new(Shard::new(budget))))
                .collect(),
        }
    }

    /// Locks the shard that owns `hash`.
    pub(crate) fn shard(&self, hash: u64) -> MutexGuard<'_, Shard<V>> {
        // The table uses the low bits (bucket) and the top seven (tag);
        // the middle bits pick the shard so the two do not correlate.
        let index = ((hash >> 24) as usize) % self.shards.len();
        lock(&self.shards[index].0)
    }

    /// Sums the counters, bytes and entries of every shard.
    pub(crate) fn totals(&self) -> (ShardCounters, usize, usize) {
        let mut sum = ShardCounters::default();
        let (mut bytes, mut entries) = (0, 0);
        for shard in &self.shards {
            let s = lock(&shard.0);
            let c = s.counters;
            sum.hits += c.hits;
            sum.stale_hits += c.stale_hits;
            sum.misses += c.misses;
            sum.inserts += c.inserts;
            sum.evictions += c.evictions;
            sum.expirations += c.expirations;
            sum.prefetches += c.prefetches;
            bytes += s.bytes();
            entries += s.len();
        }
        (sum, bytes, entries)
    }
}

/// Locks a shard; a panic while it was held cannot leave it inconsistent
/// (every update completes before any call that could panic), so poisoning
/// is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Blob(Vec<u8>);

    impl HeapSize for Blob {
        fn heap_bytes(&self) -> usize {
            block_bytes(self.0.capacity())
        }
    }

    #[test]
    fn block_bytes_follow_malloc_rounding() {
        assert_eq!(block_bytes(0), 0);
        assert_eq!(block_bytes(1), 32);
        assert_eq!(block_bytes(24), 32);
        assert_eq!(block_bytes(25), 48);
        assert_eq!(block_bytes(100), 112);
    }

    #[test]
    fn worst_case_table_leaves_room_to_rehash_in_place() {
        for n in 1..5000 {
            let b = worst_case_buckets(n);
            assert!(b.is_power_of_two());
            assert!(table_capacity(b) / 2 >= n, "{n} entries in {b} buckets");
        }
    }

    #[test]
    fn shard_evicts_least_recently_used_to_stay_in_budget() {
        let mut shard = Shard::new(2000);
        for i in 0..100u64 {
            shard.insert(i, Blob(vec![0; 100])).unwrap();
            assert!(shard.bytes() <= 2000, "{} bytes after {i}", shard.bytes());
        }
        assert!(shard.counters.evictions > 0);
        assert!(shard.peek(99).is_some());
        assert!(shard.peek(0).is_none());
    }

    #[test]
    fn shard_refuses_an_entry_larger_than_its_budget() {
        let mut shard = Shard::new(500);
        let err = shard.insert(1, Blob(vec![0; 1000])).unwrap_err();
        assert_eq!(err.budget, 500);
        assert!(err.needed > 1000);
        assert_eq!(shard.len(), 0);
    }

    #[test]
    fn recently_used_entry_survives_eviction() {
        let mut shard = Shard::new(100_000);
        for i in 0..2000u64 {
            shard.insert(i, Blob(vec![0; 100])).unwrap();
        }
        let oldest = (0..2000u64).find(|&i| shard.peek(i).is_some()).unwrap();
        assert!(oldest > 0, "nothing was evicted");
        assert!(shard.get_mut(oldest).is_some());
        shard.insert(10_000, Blob(vec![0; 100])).unwrap();
        assert!(shard.peek(oldest).is_some(), "touched entry was evicted");
        assert!(
            shard.peek(oldest + 1).is_none(),
            "oldest untouched entry survived"
        );
    }
}
