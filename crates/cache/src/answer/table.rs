//! The answer cache's shards: open addressing over slots that each point
//! straight at one heap block holding an entry, evicted by CLOCK, each
//! shard behind a reader-writer lock that hits only read-lock.
//!
//! A hit touches its thread's stripe of the shard's lock, one slot (key
//! hash and pointer) and the entry's own block: two dependent memory reads
//! where a slab and an LRU list took four or more. Recency is one bit in
//! the slot, set by a hit only when it is clear; the eviction hand clears
//! it and evicts the first entry found without it (second chance). A
//! second bit records that an entry has told a caller to prefetch. Nothing
//! is relinked on a hit, so no neighbour's cache line is written.
//!
//! Why a sharded lock: a mutex, or a plain reader-writer lock (std's or
//! parking_lot's), writes its lock word on every acquire, so two threads
//! hitting the same shards pass those cache lines between their cores on
//! about every other hit. crossbeam's `ShardedLock` gives each thread a
//! lock stripe of its own (on its own cache line) for reading; writers
//! (insert, expiry) lock all eight stripes in turn, on a path that follows
//! an upstream query anyway.
//!
//! # Limitations
//! CLOCK approximates LRU: an entry hit once since the hand last passed it
//! survives one more pass, however long ago that hit was. While the slots
//! grow, old and new live together for one rehash; the charge covers the
//! new ones only. More than eight threads share lock stripes (crossbeam's
//! count), and so cache lines again.

use std::mem::size_of;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};

use crate::memory::{Padded, ShardCounters, TooLarge, block_bytes};

/// Slot hash bit recording a hit since the hand last passed (the top bit:
/// the low bits choose the home slot, the middle ones the shard).
const REFERENCED: u64 = 1 << 63;
/// Slot hash bit recording that a hit on the entry told its caller to
/// prefetch it.
const PREFETCHED: u64 = 1 << 62;
/// The slot hash bits that are not the key's.
const FLAGS: u64 = REFERENCED | PREFETCHED;
/// Smallest slot array.
const MIN_SLOTS: usize = 16;
/// Heap bytes of one `ShardedLock`'s read stripes: crossbeam-utils 0.8
/// allocates 8 `RwLock`s, each in a 128-byte `CachePadded` on x86-64 and
/// aarch64 (checked by the heap test in `tests/heap.rs`).
const LOCK_STRIPES_BYTES: usize = 8 * 128;

/// One slot: the key hash (with the [`FLAGS`] bits) and the entry, if
/// any. Readers may set flag bits under a read lock, hence the atomic;
/// everything else changes under the write lock only.
#[derive(Default)]
struct Slot {
    hash: AtomicU64,
    entry: Option<Box<[u8]>>,
}

impl Slot {
    fn holds(&self, hash: u64) -> bool {
        self.entry.is_some() && (self.hash.load(Relaxed) ^ hash) & !FLAGS == 0
    }

    /// The slot's key hash without flags, for its home position.
    fn key(&self) -> u64 {
        self.hash.load(Relaxed) & !FLAGS
    }
}

/// One shard of the answer cache.
pub(crate) struct Table {
    slots: Vec<Slot>,
    len: usize,
    /// Next slot the eviction hand looks at.
    hand: usize,
    budget: usize,
    /// Heap bytes the entries' blocks take.
    entry_bytes: usize,
    pub(crate) counters: ShardCounters,
}

impl Table {
    fn new(budget: usize) -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
            hand: 0,
            budget,
            entry_bytes: 0,
            counters: ShardCounters::default(),
        }
    }

    fn slot_bytes(slots: usize) -> usize {
        block_bytes(slots * size_of::<Slot>())
    }

    /// Heap bytes this shard holds.
    pub(crate) fn bytes(&self) -> usize {
        Self::slot_bytes(self.slots.capacity()) + self.entry_bytes
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slot position of the entry under `hash`.
    pub(crate) fn find(&self, hash: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut pos = (hash as usize) & mask;
        loop {
            let slot = &self.slots[pos];
            slot.entry.as_ref()?;
            if slot.holds(hash) {
                return Some(pos);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// The entry's bytes at slot `pos`, marked as used.
    pub(crate) fn hit(&self, pos: usize) -> Option<&[u8]> {
        let slot = self.slots.get(pos)?;
        // Written only when clear, so hits on a hot entry leave its line
        // shared between cores.
        if slot.hash.load(Relaxed) & REFERENCED == 0 {
            slot.hash.fetch_or(REFERENCED, Relaxed);
        }
        slot.entry.as_deref()
    }

    /// Records that the entry at slot `pos` told a caller to prefetch it;
    /// true for the first caller only, however many race.
    pub(crate) fn claim_prefetch(&self, pos: usize) -> bool {
        self.slots.get(pos).is_some_and(|slot| {
            slot.hash.load(Relaxed) & PREFETCHED == 0
                && slot.hash.fetch_or(PREFETCHED, Relaxed) & PREFETCHED == 0
        })
    }

    /// The entry's bytes at slot `pos`, recency left alone.
    pub(crate) fn peek(&self, pos: usize) -> Option<&[u8]> {
        self.slots.get(pos)?.entry.as_deref()
    }

    /// Takes the entry at slot `pos` out, keeping probe runs unbroken
    /// (backward-shift deletion).
    fn remove_at(&mut self, pos: usize) {
        let mask = self.slots.len() - 1;
        let (mut hole, mut probe) = (pos, pos);
        loop {
            probe = (probe + 1) & mask;
            if self.slots[probe].entry.is_none() {
                break;
            }
            let home = (self.slots[probe].key() as usize) & mask;
            let stays = if hole <= probe {
                hole < home && home <= probe
            } else {
                hole < home || home <= probe
            };
            if !stays {
                self.slots.swap(hole, probe);
                hole = probe;
            }
        }
        if let Some(entry) = self.slots[hole].entry.take() {
            self.entry_bytes -= block_bytes(entry.len());
        }
        self.len -= 1;
    }

    /// Removes the entry under `hash`, counting it as expired, if `expired`
    /// says so of its bytes; a reader saw it expired under a read lock,
    /// and it may have been replaced since.
    pub(crate) fn expire_if(&mut self, hash: u64, expired: impl FnOnce(&[u8]) -> bool) -> bool {
        let Some(pos) = self.find(hash) else {
            return false;
        };
        if !self.peek(pos).is_some_and(expired) {
            return false;
        }
        self.remove_at(pos);
        self.counters.expirations += 1;
        true
    }

    /// Evicts the first entry the hand finds unreferenced, clearing the
    /// bits it passes. Returns false when the shard is empty.
    fn evict_one(&mut self) -> bool {
        if self.len == 0 {
            return false;
        }
        let mask = self.slots.len() - 1;
        loop {
            let pos = self.hand & mask;
            let slot = &mut self.slots[pos];
            if slot.entry.is_some() {
                let hash = slot.hash.get_mut();
                if *hash & REFERENCED == 0 {
                    // The hand stays: backward shift may have moved the
                    // next entry into this slot.
                    self.remove_at(pos);
                    self.counters.evictions += 1;
                    return true;
                }
                *hash &= !REFERENCED;
            }
            self.hand = (pos + 1) & mask;
        }
    }

    /// Slot count needed for one more entry: up to 7/8 full.
    fn grown(&self) -> usize {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            (self.slots.len() * 2).max(MIN_SLOTS)
        } else {
            self.slots.len()
        }
    }

    fn rehash(&mut self, slots: usize) {
        let old = std::mem::take(&mut self.slots);
        self.slots.reserve_exact(slots);
        self.slots.resize_with(slots, Slot::default);
        let mask = slots - 1;
        for slot in old.into_iter().filter(|s| s.entry.is_some()) {
            let mut pos = (slot.key() as usize) & mask;
            while self.slots[pos].entry.is_some() {
                pos = (pos + 1) & mask;
            }
            self.slots[pos] = slot;
        }
        self.hand = 0;
    }

    /// Stores `entry` under `hash`, replacing any entry there and evicting
    /// until the shard fits its budget.
    pub(crate) fn insert(&mut self, hash: u64, entry: Box<[u8]>) -> Result<(), TooLarge> {
        let hash = hash & !FLAGS;
        if let Some(pos) = self.find(hash) {
            self.remove_at(pos);
        }
        let charge = block_bytes(entry.len());
        let needed = charge + Self::slot_bytes(MIN_SLOTS);
        if needed > self.budget {
            return Err(TooLarge {
                needed,
                budget: self.budget,
            });
        }
        while self.entry_bytes + charge + Self::slot_bytes(self.grown()) > self.budget {
            if !self.evict_one() {
                return Err(TooLarge {
                    needed,
                    budget: self.budget,
                });
            }
        }
        let slots = self.grown();
        if slots > self.slots.len() {
            self.rehash(slots);
        }
        let mask = self.slots.len() - 1;
        let mut pos = (hash as usize) & mask;
        while self.slots[pos].entry.is_some() {
            pos = (pos + 1) & mask;
        }
        self.slots[pos] = Slot {
            hash: AtomicU64::new(hash),
            entry: Some(entry),
        };
        self.len += 1;
        self.entry_bytes += charge;
        self.counters.inserts += 1;
        Ok(())
    }
}

/// The answer cache's shards, each behind its own sharded lock.
pub(crate) struct Tables {
    shards: Box<[Padded<ShardedLock<Table>>]>,
    /// Heap bytes of the shards and their locks, before any entry.
    fixed_bytes: usize,
}

impl Tables {
    /// `shards` shards sharing `max_bytes`, less what the shards and their
    /// locks take, equally.
    pub(crate) fn new(max_bytes: usize, shards: usize) -> Self {
        let shards = shards.max(1);
        let fixed_bytes = block_bytes(shards * size_of::<Padded<ShardedLock<Table>>>())
            + shards * block_bytes(LOCK_STRIPES_BYTES);
        let budget = max_bytes.saturating_sub(fixed_bytes) / shards;
        Self {
            shards: (0..shards)
                .map(|_| Padded(ShardedLock::new(Table::new(budget))))
                .collect(),
            fixed_bytes,
        }
    }

    /// Which shard owns `hash`.
    pub(crate) fn shard_of(&self, hash: u64) -> usize {
        // Slots use the low bits (home) and the top two (flags); bits from
        // the middle pick the shard so they do not correlate.
        ((hash >> 24) as usize) % self.shards.len()
    }

    // A panic while a shard was locked cannot leave it inconsistent (every
    // update completes before any call that could panic), so poisoning is
    // ignored.

    /// Read-locks shard `index`: lookups.
    pub(crate) fn read(&self, index: usize) -> ShardedLockReadGuard<'_, Table> {
        self.shards[index]
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Read-locks shard `index` if no writer holds or waits for it.
    pub(crate) fn try_read(&self, index: usize) -> Option<ShardedLockReadGuard<'_, Table>> {
        match self.shards[index].0.try_read() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Write-locks shard `index`: inserts and expiries.
    pub(crate) fn write(&self, index: usize) -> ShardedLockWriteGuard<'_, Table> {
        self.shards[index]
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sums the counters kept under the write lock, the bytes and the
    /// entries of every shard.
    pub(crate) fn totals(&self) -> (ShardCounters, usize, usize) {
        let mut sum = ShardCounters::default();
        let (mut bytes, mut entries) = (self.fixed_bytes, 0);
        for index in 0..self.shards.len() {
            let table = self.read(index);
            sum.add(&table.counters);
            bytes += table.bytes();
            entries += table.len();
        }
        (sum, bytes, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::model_check;

    fn blob(len: usize) -> Box<[u8]> {
        vec![0; len].into_boxed_slice()
    }

    #[test]
    fn shard_stays_within_budget_and_evicts() {
        let mut t = Table::new(4000);
        for i in 0..200u64 {
            t.insert(i, blob(100)).unwrap();
            assert!(t.bytes() <= 4000, "{} bytes after {i}", t.bytes());
        }
        assert!(t.counters.evictions > 0);
        assert!(t.find(199).is_some());
    }

    #[test]
    fn referenced_entry_gets_a_second_chance() {
        let mut t = Table::new(20_000);
        for i in 0..500u64 {
            t.insert(i, blob(100)).unwrap();
        }
        let kept = (0..500u64).find(|&i| t.find(i).is_some()).unwrap();
        let pos = t.find(kept).unwrap();
        t.hit(pos);
        // Evict a handful: the hand skips the referenced entry once.
        for i in 0..5 {
            t.insert(10_000 + i, blob(100)).unwrap();
        }
        assert!(t.find(kept).is_some(), "referenced entry evicted");
        assert!(t.counters.evictions >= 5);
    }

    impl model_check::Checked for Table {
        fn insert(&mut self, key: u64, len: usize) {
            // Flag bits in the hash given are not the key's: dropped.
            let flags = if key & 1 == 1 { FLAGS } else { 0 };
            Table::insert(self, key | flags, blob(len)).unwrap();
        }
        fn remove(&mut self, key: u64) {
            self.expire_if(key, |_| true);
        }
        fn hit(&mut self, key: u64) {
            let pos = self.find(key).expect("key held");
            assert!(Table::hit(self, pos).is_some());
        }
        fn held(&self, key: u64) -> Option<usize> {
            self.peek(self.find(key)?).map(<[u8]>::len)
        }
        fn entries(&self) -> usize {
            self.len()
        }
        fn evictions(&self) -> u64 {
            self.counters.evictions
        }
    }

    #[test]
    fn slots_agree_with_a_map_under_random_inserts_and_removals() {
        model_check::agrees_with_a_map(&mut Table::new(1 << 22));
    }
}
