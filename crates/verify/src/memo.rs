//! A bounded memo of signature checks that succeeded.
//!
//! Each entry is SHA-256 over (key fingerprint, signature, signed data): a
//! hit proves this exact key already verified this exact signature over
//! these exact bytes, so the math can be skipped. Only the math: validity
//! window, flags and names are checked again on every call.
//!
//! The table is fixed at construction (sets of [`WAYS`] entries, LRU within
//! a set, sharded behind mutexes), so lookups and inserts never allocate and
//! an attacker filling it only evicts, never grows it.

use std::sync::{Mutex, PoisonError};

/// Entries per set; a new entry evicts the least recently used of its set.
pub const WAYS: usize = 4;
/// Default number of remembered verifications (32 bytes each: 512 KiB).
/// A tunable: about the distinct signed RRsets a busy resolver sees in the
/// lifetime of their signatures.
pub const DEFAULT_MEMO_ENTRIES: usize = 16 * 1024;
/// Mutexes the table is split over, so threads of a batch rarely meet.
const SHARDS: usize = 16;

/// The memo key: SHA-256 of key fingerprint, signature and signed data.
pub type MemoKey = [u8; 32];

/// A fixed-size set-associative memo of verified signatures.
pub struct Memo {
    shards: Box<[Mutex<Shard>]>,
    sets_per_shard: usize,
}

struct Shard {
    sets: Box<[Set]>,
}

#[derive(Clone, Copy, Default)]
struct Set {
    /// Most recently used first.
    keys: [MemoKey; WAYS],
    len: u8,
}

impl Memo {
    /// A memo holding at least `entries` verifications (0 disables it).
    pub fn new(entries: usize) -> Self {
        let sets = entries.div_ceil(WAYS);
        let sets_per_shard = sets.div_ceil(SHARDS);
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    sets: vec![Set::default(); sets_per_shard].into_boxed_slice(),
                })
            })
            .collect();
        Self {
            shards,
            sets_per_shard,
        }
    }

    /// How many verifications fit.
    pub fn capacity(&self) -> usize {
        self.sets_per_shard * SHARDS * WAYS
    }

    /// Whether `key` was recorded (and not evicted since); marks it used.
    pub fn contains(&self, key: &MemoKey) -> bool {
        let Some((shard, set)) = self.locate(key) else {
            return false;
        };
        let mut shard = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let set = &mut shard.sets[set];
        let len = usize::from(set.len);
        match set.keys[..len].iter().position(|k| k == key) {
            Some(at) => {
                set.keys[..=at].rotate_right(1);
                true
            }
            None => false,
        }
    }

    /// Records `key`, evicting the least recently used entry of its set.
    pub fn insert(&self, key: &MemoKey) {
        let Some((shard, set)) = self.locate(key) else {
            return;
        };
        let mut shard = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let set = &mut shard.sets[set];
        let len = usize::from(set.len);
        if set.keys[..len].contains(key) {
            return;
        }
        let used = (len + 1).min(WAYS);
        set.keys[..used].rotate_right(1);
        set.keys[0] = *key;
        set.len = used as u8;
    }

    /// Shard and set of `key`; the key is a digest, so its bytes are uniform.
    fn locate(&self, key: &MemoKey) -> Option<(usize, usize)> {
        if self.sets_per_shard == 0 {
            return None;
        }
        let mut head = [0u8; 8];
        head.copy_from_slice(&key[..8]);
        let bits = u64::from_le_bytes(head);
        let shard = (bits % SHARDS as u64) as usize;
        let set = ((bits / SHARDS as u64) % self.sets_per_shard as u64) as usize;
        Some((shard, set))
    }
}

impl core::fmt::Debug for Memo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Memo")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> MemoKey {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&n.to_le_bytes());
        k[31] = 1;
        k
    }

    #[test]
    fn recorded_keys_are_found_and_others_are_not() {
        let memo = Memo::new(64);
        memo.insert(&key(1));
        assert!(memo.contains(&key(1)));
        assert!(!memo.contains(&key(2)));
    }

    #[test]
    fn a_full_set_evicts_its_least_recently_used_entry() {
        let memo = Memo::new(64);
        let stride = (SHARDS * memo.sets_per_shard) as u64;
        // Five keys landing in the same set.
        let keys: Vec<MemoKey> = (0..=WAYS as u64).map(|i| key(7 + i * stride)).collect();
        for k in &keys[..WAYS] {
            memo.insert(k);
        }
        assert!(memo.contains(&keys[0])); // now most recently used
        memo.insert(&keys[WAYS]);
        assert!(memo.contains(&keys[0]));
        assert!(!memo.contains(&keys[1]), "oldest unused entry is evicted");
        assert!(memo.contains(&keys[WAYS]));
    }

    #[test]
    fn memo_never_holds_more_than_its_capacity() {
        let memo = Memo::new(100);
        for i in 0..10_000 {
            memo.insert(&key(i));
        }
        let held = (0..10_000).filter(|&i| memo.contains(&key(i))).count();
        assert!(held <= memo.capacity(), "{held} > {}", memo.capacity());
        assert!(held > 0);
    }

    #[test]
    fn zero_capacity_memo_remembers_nothing() {
        let memo = Memo::new(0);
        memo.insert(&key(1));
        assert!(!memo.contains(&key(1)));
    }
}
