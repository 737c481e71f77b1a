//! The answer cache's shards: open addressing over slots that each point
//! straight at one heap block holding an entry, evicted by CLOCK.
//!
//! A hit touches the shard's lock, one slot (key hash and pointer) and the
//! entry's own block: two dependent memory reads where a slab and an LRU
//! list took four or more. Recency is one bit in the slot, set by a hit on
//! a line it has already read; the eviction hand clears it and evicts
//! the first entry found without it (second chance). Nothing is relinked
//! on a hit, so no neighbour's cache line is written.
//!
//! # Limitations
//! CLOCK approximates LRU: an entry hit once since the hand last passed it
//! survives one more pass, however long ago that hit was. While the slots
//! grow, old and new live together for one rehash; the charge covers the
//! new ones only.

use std::mem::size_of;
use std::sync::{Mutex, MutexGuard};

use crate::memory::{Padded, ShardCounters, TooLarge, block_bytes, lock, sum_shards};

/// Slot hash bit recording a hit since the hand last passed (the top bit:
/// the low bits choose the home slot, the middle ones the shard).
const REFERENCED: u64 = 1 << 63;
/// Smallest slot array.
const MIN_SLOTS: usize = 16;

/// One slot: the key hash (with [`REFERENCED`]) and the entry, if any.
#[derive(Default)]
struct Slot {
    hash: u64,
    entry: Option<Box<[u8]>>,
}

impl Slot {
    fn holds(&self, hash: u64) -> bool {
        self.entry.is_some() && (self.hash ^ hash) & !REFERENCED == 0
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
    pub(crate) fn hit(&mut self, pos: usize) -> &mut [u8] {
        let slot = &mut self.slots[pos];
        if slot.hash & REFERENCED == 0 {
            slot.hash |= REFERENCED;
        }
        // Invariant: `pos` came from `find`, which only names full slots.
        slot.entry
            .as_deref_mut()
            .expect("found slot holds an entry")
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
            let home = (self.slots[probe].hash as usize) & mask;
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

    /// Removes the entry at slot `pos`, counting it as expired.
    pub(crate) fn expire(&mut self, pos: usize) {
        self.remove_at(pos);
        self.counters.expirations += 1;
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
                if slot.hash & REFERENCED == 0 {
                    // The hand stays: backward shift may have moved the
                    // next entry into this slot.
                    self.remove_at(pos);
                    self.counters.evictions += 1;
                    return true;
                }
                slot.hash &= !REFERENCED;
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
            let mut pos = (slot.hash as usize) & mask;
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
        let hash = hash & !REFERENCED;
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
            hash,
            entry: Some(entry),
        };
        self.len += 1;
        self.entry_bytes += charge;
        self.counters.inserts += 1;
        Ok(())
    }
}

/// The answer cache's shards, each behind its own lock.
pub(crate) struct Tables {
    shards: Box<[Padded<Mutex<Table>>]>,
}

impl Tables {
    /// `shards` shards sharing `max_bytes` equally.
    pub(crate) fn new(max_bytes: usize, shards: usize) -> Self {
        let shards = shards.max(1);
        let budget = max_bytes / shards;
        Self {
            shards: (0..shards)
                .map(|_| Padded(Mutex::new(Table::new(budget))))
                .collect(),
        }
    }

    /// Which shard owns `hash`.
    pub(crate) fn shard_of(&self, hash: u64) -> usize {
        // Slots use the low bits (home) and the top one (recency); bits
        // from the middle pick the shard so they do not correlate.
        ((hash >> 24) as usize) % self.shards.len()
    }

    /// Locks shard `index`.
    pub(crate) fn lock(&self, index: usize) -> MutexGuard<'_, Table> {
        lock(&self.shards[index].0)
    }

    /// Tries to lock shard `index` without waiting.
    pub(crate) fn try_lock(&self, index: usize) -> Option<MutexGuard<'_, Table>> {
        match self.shards[index].0.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Sums the counters, bytes and entries of every shard.
    pub(crate) fn totals(&self) -> (ShardCounters, usize, usize) {
        sum_shards(&self.shards, |s| (s.counters, s.bytes(), s.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn slots_agree_with_a_map_under_random_inserts_and_removals() {
        let mut t = Table::new(1 << 22);
        let mut model = std::collections::HashMap::new();
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for round in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Few distinct keys with clashing low bits, so probe runs are
            // long and removals shift them; some with the top bit set.
            let key = (state % 300) << 40 | (state % 7) | ((state & 1) << 63);
            let key = key & !REFERENCED;
            if state.is_multiple_of(3) {
                if let Some(pos) = t.find(key) {
                    t.expire(pos);
                }
                model.remove(&key);
            } else {
                let len = (round % 50) as usize + 1;
                t.insert(key, blob(len)).unwrap();
                if state.is_multiple_of(5) {
                    let pos = t.find(key).unwrap();
                    t.hit(pos);
                }
                model.insert(key, len);
            }
        }
        assert_eq!(t.len(), model.len());
        for (key, len) in &model {
            let pos = t.find(*key).expect("key present");
            assert_eq!(t.peek(pos).map(<[u8]>::len), Some(*len));
        }
        assert_eq!(t.counters.evictions, 0);
    }
}
