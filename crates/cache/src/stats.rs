//! Counters each cache exports.

use crate::memory::ShardCounters;

/// A snapshot of one cache's counters, summed over its shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from a fresh entry.
    pub hits: u64,
    /// Lookups answered from an expired entry (serve-stale).
    pub stale_hits: u64,
    /// Lookups that found nothing usable.
    pub misses: u64,
    /// Entries stored.
    pub inserts: u64,
    /// Entries dropped to make room (LRU).
    pub evictions: u64,
    /// Entries dropped because they expired.
    pub expirations: u64,
    /// Hits that told the caller to refresh the entry.
    pub prefetches: u64,
    /// Heap bytes held now.
    pub bytes: usize,
    /// Entries held now.
    pub entries: usize,
}

impl CacheStats {
    pub(crate) fn from_totals((c, bytes, entries): (ShardCounters, usize, usize)) -> Self {
        Self {
            hits: c.hits,
            stale_hits: c.stale_hits,
            misses: c.misses,
            inserts: c.inserts,
            evictions: c.evictions,
            expirations: c.expirations,
            prefetches: c.prefetches,
            bytes,
            entries,
        }
    }
}
