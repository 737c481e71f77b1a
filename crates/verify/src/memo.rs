//! A bounded memo of signature checks that succeeded.
//!
//! Each entry holds the exact bytes of one successful check: key
//! fingerprint, signature and signed data. A lookup names the key and the
//! signature and hands a comparison for the signed data, so a hit proves
//! this exact key already verified this exact signature over these exact
//! bytes, and the math can be skipped. Only the math: validity window,
//! flags and names are checked again on every call.
//!
//! Nothing in a lookup can be collided: the keyed hash (SipHash, random per
//! memo) only picks the set and filters candidates; the decision is a byte
//! comparison. Key fingerprints are SHA-256 of the DNSKEY and its owner.
//!
//! The memory is fixed at construction: sets of [`WAYS`] slots (LRU within
//! a set) index a byte arena written as a ring, so entries of any size fit
//! without allocating, an old entry dies when the ring laps it, and an
//! attacker filling the memo only evicts, never grows it. The table is
//! sharded behind mutexes so threads of a batch rarely meet.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Mutex, PoisonError};

/// Slots per set; a new entry evicts the least recently used of its set.
pub const WAYS: usize = 4;
/// Default number of slots: about the distinct signed RRsets a busy
/// resolver sees in the lifetime of their signatures. A tunable.
pub const DEFAULT_MEMO_ENTRIES: usize = 16 * 1024;
/// Default arena size in bytes (8 MiB): 512 bytes per default slot, room
/// for an RSA-2048 signature over a small RRset (about 400 bytes). A tunable.
pub const DEFAULT_MEMO_BYTES: usize = 512 * DEFAULT_MEMO_ENTRIES;
/// Mutexes the table is split over, so threads of a batch rarely meet.
const SHARDS: usize = 16;
/// Key fingerprint length (SHA-256).
pub const FINGERPRINT_LEN: usize = 32;
/// Signature bytes fed to the set-picking hash: enough that honest
/// signatures spread, and the hash key keeps an attacker from aiming.
const HASHED_SIG_BYTES: usize = 32;
/// An entry larger than this share of its shard's arena is not kept, so
/// one huge RRset cannot flush a shard at once.
const MAX_ENTRY_SHARE: usize = 4;

/// A fixed-size set-associative memo of verified signatures.
pub struct Memo {
    shards: Box<[Mutex<Shard>]>,
    sets_per_shard: usize,
    hasher: RandomState,
}

struct Shard {
    sets: Box<[Set]>,
    arena: Box<[u8]>,
    /// Bytes ever written to the arena (absolute position of the next entry).
    head: u64,
}

#[derive(Clone, Copy, Default)]
struct Set {
    /// Most recently used first; only the first `len` are filled.
    slots: [Slot; WAYS],
    len: u8,
}

/// Where one entry's bytes lie: `fingerprint || sig || data` at absolute
/// arena position `at`.
#[derive(Clone, Copy, Default)]
struct Slot {
    hash: u64,
    at: u64,
    sig_len: u16,
    data_len: u32,
}

impl Slot {
    fn len(&self) -> usize {
        FINGERPRINT_LEN + usize::from(self.sig_len) + self.data_len as usize
    }
}

impl Memo {
    /// A memo of at least `entries` slots over an arena of `bytes` bytes
    /// (either 0 disables it).
    pub fn new(entries: usize, bytes: usize) -> Self {
        let (sets_per_shard, arena_per_shard) = if entries == 0 || bytes < SHARDS {
            (0, 0)
        } else {
            (entries.div_ceil(WAYS).div_ceil(SHARDS), bytes / SHARDS)
        };
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    sets: vec![Set::default(); sets_per_shard].into_boxed_slice(),
                    arena: vec![0; arena_per_shard].into_boxed_slice(),
                    head: 0,
                })
            })
            .collect();
        Self {
            shards,
            sets_per_shard,
            hasher: RandomState::new(),
        }
    }

    /// How many slots there are (an upper bound on the entries held).
    pub fn capacity(&self) -> usize {
        self.sets_per_shard * SHARDS * WAYS
    }

    /// Whether an entry for this key and signature holds signed data that
    /// `same_data` accepts; marks it used. `same_data` runs under the
    /// shard's lock, on the stored signed data.
    pub fn find(
        &self,
        fingerprint: &[u8; FINGERPRINT_LEN],
        sig: &[u8],
        mut same_data: impl FnMut(&[u8]) -> bool,
    ) -> bool {
        if self.sets_per_shard == 0 {
            return false;
        }
        let hash = self.hash(fingerprint, sig);
        let (shard, set) = self.locate(hash);
        let mut shard = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Shard { sets, arena, head } = &mut *shard;
        let set = &mut sets[set];
        let len = usize::from(set.len);
        let found = set.slots[..len].iter().position(|slot| {
            slot.hash == hash
                && entry(arena, *head, slot)
                    .and_then(|bytes| split(bytes, fingerprint, sig))
                    .is_some_and(&mut same_data)
        });
        match found {
            Some(at) => {
                set.slots[..=at].rotate_right(1);
                true
            }
            None => false,
        }
    }

    /// Records that `sig` by the key `fingerprint` verified over `data`,
    /// evicting the least recently used slot of its set.
    pub fn insert(&self, fingerprint: &[u8; FINGERPRINT_LEN], sig: &[u8], data: &[u8]) {
        if self.sets_per_shard == 0 {
            return;
        }
        let (Ok(sig_len), Ok(data_len)) = (u16::try_from(sig.len()), u32::try_from(data.len()))
        else {
            return;
        };
        let hash = self.hash(fingerprint, sig);
        let (shard, set) = self.locate(hash);
        let mut shard = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Shard { sets, arena, head } = &mut *shard;
        let set = &mut sets[set];
        let len = usize::from(set.len);
        let known = set.slots[..len].iter().any(|slot| {
            slot.hash == hash
                && entry(arena, *head, slot)
                    .and_then(|bytes| split(bytes, fingerprint, sig))
                    .is_some_and(|stored| stored == data)
        });
        if known {
            return;
        }
        let mut slot = Slot {
            hash,
            at: 0,
            sig_len,
            data_len,
        };
        let Some(at) = append(arena, head, &[fingerprint, sig, data]) else {
            return;
        };
        slot.at = at;
        let used = (len + 1).min(WAYS);
        set.slots[..used].rotate_right(1);
        set.slots[0] = slot;
        set.len = used as u8;
    }

    /// The keyed hash that picks an entry's set; not a proof of anything.
    fn hash(&self, fingerprint: &[u8; FINGERPRINT_LEN], sig: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(fingerprint);
        h.write(&sig[..sig.len().min(HASHED_SIG_BYTES)]);
        h.write_usize(sig.len());
        h.finish()
    }

    /// Shard and set of a hash.
    fn locate(&self, hash: u64) -> (usize, usize) {
        let shard = (hash % SHARDS as u64) as usize;
        let set = ((hash / SHARDS as u64) % self.sets_per_shard as u64) as usize;
        (shard, set)
    }
}

/// The bytes of `slot`, unless the ring has lapped them since.
fn entry<'a>(arena: &'a [u8], head: u64, slot: &Slot) -> Option<&'a [u8]> {
    let cap = arena.len() as u64;
    if head - slot.at > cap {
        return None;
    }
    // Invariant: `append` never lets an entry straddle the arena's end.
    let start = (slot.at % cap) as usize;
    arena.get(start..start + slot.len())
}

/// The signed data of an entry, if its key and signature are these.
fn split<'a>(bytes: &'a [u8], fingerprint: &[u8], sig: &[u8]) -> Option<&'a [u8]> {
    let (fp, rest) = bytes.split_at_checked(FINGERPRINT_LEN)?;
    let (stored_sig, data) = rest.split_at_checked(sig.len())?;
    (fp == fingerprint && stored_sig == sig).then_some(data)
}

/// Writes `parts` contiguously at the ring's head; returns their absolute
/// position, or `None` if the entry is too large to keep.
fn append(arena: &mut [u8], head: &mut u64, parts: &[&[u8]]) -> Option<u64> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len == 0 || len > arena.len() / MAX_ENTRY_SHARE {
        return None;
    }
    let cap = arena.len() as u64;
    let mut at = *head;
    let offset = at % cap;
    if offset + len as u64 > cap {
        // Skip the tail so the entry stays contiguous.
        at += cap - offset;
    }
    let mut pos = (at % cap) as usize;
    for part in parts {
        arena[pos..pos + part.len()].copy_from_slice(part);
        pos += part.len();
    }
    *head = at + len as u64;
    Some(at)
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

    const FP: [u8; 32] = [7; 32];

    fn sig(n: u64) -> [u8; 64] {
        let mut s = [0x5a; 64];
        s[..8].copy_from_slice(&n.to_le_bytes());
        s
    }

    fn has(memo: &Memo, n: u64, data: &[u8]) -> bool {
        memo.find(&FP, &sig(n), |stored| stored == data)
    }

    #[test]
    fn recorded_checks_are_found_and_others_are_not() {
        let memo = Memo::new(64, 64 * 1024);
        memo.insert(&FP, &sig(1), b"signed data");
        assert!(has(&memo, 1, b"signed data"));
        assert!(!has(&memo, 2, b"signed data"), "another signature");
        assert!(!has(&memo, 1, b"signed dat4"), "other data");
        assert!(!memo.find(&[8; 32], &sig(1), |_| true), "another key");
        let mut short = sig(1).to_vec();
        short.pop();
        assert!(
            !memo.find(&FP, &short, |_| true),
            "a prefix of the signature"
        );
    }

    #[test]
    fn the_data_comparison_decides_and_sees_the_stored_bytes() {
        let memo = Memo::new(64, 64 * 1024);
        memo.insert(&FP, &sig(1), b"abc");
        let mut seen = Vec::new();
        assert!(!memo.find(&FP, &sig(1), |stored| {
            seen.extend_from_slice(stored);
            false
        }));
        assert_eq!(seen, b"abc");
    }

    #[test]
    fn a_full_set_evicts_its_least_recently_used_slot() {
        let memo = Memo::new(64, 64 * 1024);
        // Signatures landing in one set: found by their hash.
        let target = memo.locate(memo.hash(&FP, &sig(0)));
        let same: Vec<u64> = (0..)
            .filter(|&n| memo.locate(memo.hash(&FP, &sig(n))) == target)
            .take(WAYS + 1)
            .collect();
        for &n in &same[..WAYS] {
            memo.insert(&FP, &sig(n), b"d");
        }
        assert!(has(&memo, same[0], b"d")); // now most recently used
        memo.insert(&FP, &sig(same[WAYS]), b"d");
        assert!(has(&memo, same[0], b"d"));
        assert!(!has(&memo, same[1], b"d"), "oldest unused slot is evicted");
        assert!(has(&memo, same[WAYS], b"d"));
    }

    #[test]
    fn entries_the_arena_has_lapped_are_gone() {
        // One shard's arena holds about four 300-byte entries.
        let memo = Memo::new(1024, SHARDS * 1200);
        let data = [1u8; 200];
        for n in 0..200 {
            memo.insert(&FP, &sig(n), &data);
        }
        let held: Vec<u64> = (0..200).filter(|&n| has(&memo, n, &data)).collect();
        assert!(!held.is_empty());
        assert!(held.len() <= SHARDS * 4, "{} held", held.len());
        assert!(held.contains(&199), "the newest entry survives");
    }

    #[test]
    fn an_entry_too_large_for_its_shard_is_not_kept() {
        let memo = Memo::new(64, SHARDS * 1024);
        memo.insert(&FP, &sig(1), &[0; 1024]);
        assert!(!has(&memo, 1, &[0; 1024]));
    }

    #[test]
    fn memo_never_holds_more_than_its_capacity() {
        let memo = Memo::new(100, 1 << 20);
        for n in 0..10_000 {
            memo.insert(&FP, &sig(n), b"d");
        }
        let held = (0..10_000).filter(|&n| has(&memo, n, b"d")).count();
        assert!(held <= memo.capacity(), "{held} > {}", memo.capacity());
        assert!(held > 0);
    }

    #[test]
    fn zero_capacity_memo_remembers_nothing() {
        for memo in [Memo::new(0, 1 << 20), Memo::new(64, 0)] {
            memo.insert(&FP, &sig(1), b"d");
            assert!(!has(&memo, 1, b"d"));
        }
    }
}
