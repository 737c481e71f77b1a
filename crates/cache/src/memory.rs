//! Memory accounting, and the sharded, byte-bounded LRU under the negative
//! and RRset caches (the answer cache has its own CLOCK table, `answer::table`).
//!
//! Each cache is split into shards chosen by key hash, each shard behind
//! its own mutex with its own share of the byte budget. A shard is an
//! open-addressing index over a slab of entries linked in LRU order (see
//! [`Shard`]), laid out so a hit costs few cache misses. What a shard
//! charges is what it really holds on the heap: index, slab and free list
//! at their allocated capacity, and the heap blocks each value owns, with
//! the allocator's per-block overhead.
//!
//! # Limitations
//! While the index grows, old and new index live together for the length
//! of one rehash; the charge covers the new one only.

use std::mem::size_of;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Smallest block glibc's malloc hands out, header included (glibc
/// `MINSIZE` on 64-bit targets).
pub const MALLOC_MIN_BLOCK: usize = 32;
/// Bytes of bookkeeping malloc keeps in front of each block (glibc chunk
/// header on 64-bit targets).
pub const MALLOC_HEADER: usize = 8;
/// Alignment malloc rounds every block to (glibc `MALLOC_ALIGNMENT`).
pub const MALLOC_ALIGN: usize = 16;
/// Heap bytes one allocation of `size` bytes really takes.
pub fn block_bytes(size: usize) -> usize {
    if size == 0 {
        return 0;
    }
    (size + MALLOC_HEADER)
        .next_multiple_of(MALLOC_ALIGN)
        .max(MALLOC_MIN_BLOCK)
}

/// How many entries a `hashbrown` table (std's `HashMap`, which the
/// aggressive store uses) of `buckets` buckets holds before
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

/// Counters one shard keeps under its own lock. The answer cache keeps
/// only its insert and removal counts here; its lookups count into
/// per-thread stripes (`answer::counters`), so hits write no shard line.
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

impl ShardCounters {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &Self) {
        self.hits += other.hits;
        self.stale_hits += other.stale_hits;
        self.misses += other.misses;
        self.inserts += other.inserts;
        self.evictions += other.evictions;
        self.expirations += other.expirations;
        self.prefetches += other.prefetches;
    }
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

/// End of an LRU list link.
const NIL: u32 = u32::MAX;
/// Index slot bits holding the top half of the key hash; the low half
/// holds the entry's slab position plus one, zero meaning empty.
const TAG_MASK: u64 = 0xFFFF_FFFF_0000_0000;
/// Smallest index and slab sizes.
const MIN_SLOTS: usize = 16;

/// One stored value, its key hash and its LRU links, in the slab.
struct Entry<V> {
    hash: u64,
    /// Shard tick of the entry's last move to the front (wrapping).
    touched: u32,
    prev: u32,
    next: u32,
    value: V,
}

/// A slab slot: an entry, or a link in the chain of free slots.
enum Slot<V> {
    Used(Entry<V>),
    Free { next: u32 },
}

/// One shard: an open-addressing index (linear probing, backward-shift
/// removal) of hash tags and slab positions, entries in one slab `Vec`
/// with an intrusive LRU list, and what it all costs.
///
/// A hit reads one index slot, one slab entry and the value's own heap
/// block. A hit on an entry moved to the front less than a quarter of the
/// shard's length ago leaves it in place: it is already among the most
/// recent quarter, and not moving it spares the writes to its neighbours.
/// Eviction order is exact LRU otherwise.
pub(crate) struct Shard<V> {
    index: Vec<u64>,
    slab: Vec<Slot<V>>,
    /// First free slab slot, chained through `Slot::Free`.
    free: u32,
    head: u32,
    tail: u32,
    len: usize,
    /// Counts moves to the front.
    tick: u32,
    budget: usize,
    /// Heap bytes the values own.
    value_bytes: usize,
    pub(crate) counters: ShardCounters,
}

impl<V: HeapSize> Shard<V> {
    fn new(budget: usize) -> Self {
        Self {
            index: Vec::new(),
            slab: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            len: 0,
            tick: 0,
            budget,
            value_bytes: 0,
            counters: ShardCounters::default(),
        }
    }

    /// Bytes of index and slab with the given capacities.
    fn table_bytes(index_slots: usize, slab_slots: usize) -> usize {
        block_bytes(index_slots * size_of::<u64>()) + block_bytes(slab_slots * size_of::<Slot<V>>())
    }

    /// Bytes this shard holds: index, slab and values.
    pub(crate) fn bytes(&self) -> usize {
        Self::table_bytes(self.index.capacity(), self.slab.capacity()) + self.value_bytes
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Index position and slab position of the entry under `hash`.
    fn find(&self, hash: u64) -> Option<(usize, u32)> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut pos = (hash as usize) & mask;
        loop {
            let slot = self.index[pos];
            if slot == 0 {
                return None;
            }
            if slot & TAG_MASK == hash & TAG_MASK {
                let at = (slot as u32) - 1;
                if matches!(&self.slab[at as usize], Slot::Used(e) if e.hash == hash) {
                    return Some((pos, at));
                }
            }
            pos = (pos + 1) & mask;
        }
    }

    fn entry(&self, at: u32) -> &Entry<V> {
        match &self.slab[at as usize] {
            Slot::Used(e) => e,
            // Invariant: the index and list only name used slab slots.
            Slot::Free { .. } => unreachable!("index or list names a free slot"),
        }
    }

    fn entry_mut(&mut self, at: u32) -> &mut Entry<V> {
        match &mut self.slab[at as usize] {
            Slot::Used(e) => e,
            // Invariant: the index and list only name used slab slots.
            Slot::Free { .. } => unreachable!("index or list names a free slot"),
        }
    }

    fn unlink(&mut self, at: u32) {
        let (prev, next) = {
            let e = self.entry(at);
            (e.prev, e.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.entry_mut(p).next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.entry_mut(n).prev = prev,
        }
    }

    fn push_front(&mut self, at: u32) {
        self.tick = self.tick.wrapping_add(1);
        let (head, tick) = (self.head, self.tick);
        let e = self.entry_mut(at);
        e.prev = NIL;
        e.next = head;
        e.touched = tick;
        match head {
            NIL => self.tail = at,
            h => self.entry_mut(h).prev = at,
        }
        self.head = at;
    }

    /// The entry under `hash`, marked most recently used.
    pub(crate) fn get_mut(&mut self, hash: u64) -> Option<&mut V> {
        let (_, at) = self.find(hash)?;
        let recent = (self.len / 4) as u32;
        if self.tick.wrapping_sub(self.entry(at).touched) > recent {
            self.unlink(at);
            self.push_front(at);
        }
        Some(&mut self.entry_mut(at).value)
    }

    /// The entry under `hash`, leaving the LRU order alone.
    pub(crate) fn peek(&self, hash: u64) -> Option<&V> {
        self.find(hash).map(|(_, at)| &self.entry(at).value)
    }

    /// Takes the entry at index position `pos` (slab position `at`) out.
    fn remove_at(&mut self, pos: usize, at: u32) -> V {
        self.unlink(at);
        // Backward-shift deletion keeps every probe run unbroken.
        let mask = self.index.len() - 1;
        let (mut hole, mut probe) = (pos, pos);
        loop {
            probe = (probe + 1) & mask;
            let slot = self.index[probe];
            if slot == 0 {
                break;
            }
            let home = (self.entry((slot as u32) - 1).hash as usize) & mask;
            let stays = if hole <= probe {
                hole < home && home <= probe
            } else {
                hole < home || home <= probe
            };
            if !stays {
                self.index[hole] = slot;
                hole = probe;
            }
        }
        self.index[hole] = 0;
        self.len -= 1;
        let freed = Slot::Free { next: self.free };
        self.free = at;
        match std::mem::replace(&mut self.slab[at as usize], freed) {
            Slot::Used(entry) => {
                self.value_bytes -= entry.value.heap_bytes();
                entry.value
            }
            // Invariant: `find` returned a used slot.
            Slot::Free { .. } => unreachable!("removed a free slot"),
        }
    }

    /// Removes the entry under `hash`, counting it as expired.
    pub(crate) fn expire(&mut self, hash: u64) {
        if let Some((pos, at)) = self.find(hash) {
            self.remove_at(pos, at);
            self.counters.expirations += 1;
        }
    }

    fn evict_lru(&mut self) -> bool {
        if self.tail == NIL {
            return false;
        }
        let hash = self.entry(self.tail).hash;
        // Invariant: every listed entry is indexed.
        let (pos, at) = self.find(hash).expect("listed entry is indexed");
        self.remove_at(pos, at);
        self.counters.evictions += 1;
        true
    }

    /// Index and slab capacities needed for one more entry.
    fn grown(&self) -> (usize, usize) {
        // Up to 7/8 full: with eight slots to a cache line, even a long
        // linear probe run stays within one or two lines.
        let index = if (self.len + 1) * 8 > self.index.len() * 7 {
            (self.index.len() * 2).max(MIN_SLOTS)
        } else {
            self.index.len()
        };
        // The slab grows by half, not double: its spare capacity is
        // charged, and halves waste less of the budget on average.
        let slab = if self.free == NIL && self.slab.len() == self.slab.capacity() {
            (self.slab.capacity() + self.slab.capacity() / 2).max(MIN_SLOTS)
        } else {
            self.slab.capacity()
        };
        (index, slab)
    }

    fn rehash(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.index, vec![0; slots]);
        let mask = slots - 1;
        for slot in old.into_iter().filter(|&s| s != 0) {
            let mut pos = (self.entry((slot as u32) - 1).hash as usize) & mask;
            while self.index[pos] != 0 {
                pos = (pos + 1) & mask;
            }
            self.index[pos] = slot;
        }
    }

    /// Stores `value` under `hash`, replacing any entry there and evicting
    /// least recently used entries until the shard fits its budget.
    pub(crate) fn insert(&mut self, hash: u64, value: V) -> Result<(), TooLarge> {
        if let Some((pos, at)) = self.find(hash) {
            self.remove_at(pos, at);
        }
        let charge = value.heap_bytes();
        let needed = charge + Self::table_bytes(MIN_SLOTS, MIN_SLOTS);
        if needed > self.budget {
            return Err(TooLarge {
                needed,
                budget: self.budget,
            });
        }
        loop {
            let (index, slab) = self.grown();
            let tables = Self::table_bytes(index.max(self.index.capacity()), slab);
            if self.value_bytes + charge + tables <= self.budget {
                break;
            }
            if !self.evict_lru() {
                return Err(TooLarge {
                    needed,
                    budget: self.budget,
                });
            }
        }
        let (index, slab) = self.grown();
        if slab > self.slab.capacity() {
            self.slab.reserve_exact(slab - self.slab.len());
        }
        if index > self.index.len() {
            self.rehash(index);
        }
        let entry = Entry {
            hash,
            touched: 0,
            prev: NIL,
            next: NIL,
            value,
        };
        let at = if self.free == NIL {
            self.slab.push(Slot::Used(entry));
            // Invariant: the slab stays under u32::MAX slots, far more
            // than any shard budget allows.
            (self.slab.len() - 1) as u32
        } else {
            let at = self.free;
            let used = Slot::Used(entry);
            if let Slot::Free { next } = std::mem::replace(&mut self.slab[at as usize], used) {
                self.free = next;
            }
            at
        };
        let mask = self.index.len() - 1;
        let mut pos = (hash as usize) & mask;
        while self.index[pos] != 0 {
            pos = (pos + 1) & mask;
        }
        self.index[pos] = (hash & TAG_MASK) | u64::from(at + 1);
        self.push_front(at);
        self.len += 1;
        self.value_bytes += charge;
        self.counters.inserts += 1;
        Ok(())
    }
}

/// A shard padded to its own cache lines so neighbouring locks do not
/// share one.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

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
        // The index uses the low bits (home slot) and the top 32 (tag);
        // bits from the middle pick the shard so they do not correlate.
        let index = ((hash >> 24) as usize) % self.shards.len();
        lock(&self.shards[index].0)
    }

    /// Sums the counters, bytes and entries of every shard.
    pub(crate) fn totals(&self) -> (ShardCounters, usize, usize) {
        sum_shards(&self.shards, |s| (s.counters, s.bytes(), s.len()))
    }
}

/// Sums what `read` says of each shard (counters, bytes, entries), each
/// shard locked in turn.
pub(crate) fn sum_shards<T>(
    shards: &[Padded<Mutex<T>>],
    read: impl Fn(&T) -> (ShardCounters, usize, usize),
) -> (ShardCounters, usize, usize) {
    let mut sum = ShardCounters::default();
    let (mut bytes, mut entries) = (0, 0);
    for shard in shards {
        let (counters, b, e) = read(&lock(&shard.0));
        sum.add(&counters);
        bytes += b;
        entries += e;
    }
    (sum, bytes, entries)
}

/// Locks a shard; a panic while it was held cannot leave it inconsistent
/// (every update completes before any call that could panic), so poisoning
/// is ignored.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
    fn worst_case_hashbrown_table_leaves_room_to_rehash_in_place() {
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

    impl model_check::Checked for Shard<Blob> {
        fn insert(&mut self, key: u64, len: usize) {
            Shard::insert(self, key, Blob(vec![0; len])).unwrap();
        }
        fn remove(&mut self, key: u64) {
            self.expire(key);
        }
        fn hit(&mut self, key: u64) {
            assert!(self.get_mut(key).is_some());
        }
        fn held(&self, key: u64) -> Option<usize> {
            self.peek(key).map(|b| b.0.len())
        }
        fn entries(&self) -> usize {
            self.len()
        }
        fn evictions(&self) -> u64 {
            self.counters.evictions
        }
    }

    #[test]
    fn index_agrees_with_a_map_under_random_inserts_and_removals() {
        model_check::agrees_with_a_map(&mut Shard::new(1 << 20));
    }
}

/// One model check for both open-addressing tables: the record caches'
/// shard index here and the answer cache's slots (`answer::table`).
#[cfg(test)]
pub(crate) mod model_check {
    use std::collections::HashMap;

    /// A table under check, seen as a map from key hashes to entry lengths.
    pub(crate) trait Checked {
        fn insert(&mut self, key: u64, len: usize);
        fn remove(&mut self, key: u64);
        /// A hit on a key the table holds.
        fn hit(&mut self, key: u64);
        /// The length of the entry under `key`, if held.
        fn held(&self, key: u64) -> Option<usize>;
        fn entries(&self) -> usize;
        fn evictions(&self) -> u64;
    }

    /// Drives `table` through random inserts, removals and hits over few
    /// distinct keys with clashing low bits, so probe runs are long and
    /// removals shift them; then checks that it holds what a `HashMap`
    /// holds, and evicted nothing (its budget must hold every key).
    pub(crate) fn agrees_with_a_map(table: &mut impl Checked) {
        let mut model = HashMap::new();
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for round in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = (state % 300) << 40 | (state % 7);
            if state.is_multiple_of(3) {
                table.remove(key);
                model.remove(&key);
            } else {
                let len = (round % 50) as usize + 1;
                table.insert(key, len);
                if state.is_multiple_of(5) {
                    table.hit(key);
                }
                model.insert(key, len);
            }
        }
        assert_eq!(table.entries(), model.len());
        for (&key, &len) in &model {
            assert_eq!(table.held(key), Some(len), "key {key:#x}");
        }
        assert_eq!(table.evictions(), 0);
    }
}
