//! The answer cache's lookup counters (hits, stale hits, misses,
//! prefetches), striped by thread.
//!
//! Counted in the shard, as inserts and evictions are, they would write the
//! shard's cache line on every hit, and two threads hitting one shard would
//! pass it between their cores. Each thread instead adds to a stripe of its
//! own, on its own cache line, once per lookup or per batch; a snapshot sums
//! the stripes. Adds are atomic, so the sums are exact however threads map
//! to stripes.
//!
//! # Limitations
//! Threads beyond [`STRIPES`] share stripes (round robin by first use), and
//! with them cache lines.

use std::cell::Cell;
use std::mem::size_of;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::memory::{Padded, ShardCounters, block_bytes};

/// Counter stripes per cache: more than a server runs lookup threads.
const STRIPES: usize = 16;

/// One thread's share of the counters.
#[derive(Default)]
struct Stripe {
    hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    prefetches: AtomicU64,
}

/// Lookup counters of one answer cache.
pub(crate) struct LookupCounters {
    stripes: Box<[Padded<Stripe>]>,
}

impl LookupCounters {
    /// All zero.
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Padded(Stripe::default())).collect(),
        }
    }

    /// Heap bytes the stripes take, as malloc rounds them.
    pub(crate) fn heap_bytes() -> usize {
        block_bytes(STRIPES * size_of::<Padded<Stripe>>())
    }

    /// Adds the lookup counts of `tally` (its other counts are the
    /// shards') to this thread's stripe.
    pub(crate) fn add(&self, tally: &ShardCounters) {
        let stripe = &self.stripes[stripe_of_this_thread()].0;
        for (counter, n) in [
            (&stripe.hits, tally.hits),
            (&stripe.stale_hits, tally.stale_hits),
            (&stripe.misses, tally.misses),
            (&stripe.prefetches, tally.prefetches),
        ] {
            if n != 0 {
                counter.fetch_add(n, Relaxed);
            }
        }
    }

    /// Adds the sums over all stripes to `into`.
    pub(crate) fn sum_into(&self, into: &mut ShardCounters) {
        for Padded(stripe) in &self.stripes {
            into.hits += stripe.hits.load(Relaxed);
            into.stale_hits += stripe.stale_hits.load(Relaxed);
            into.misses += stripe.misses.load(Relaxed);
            into.prefetches += stripe.prefetches.load(Relaxed);
        }
    }
}

/// The stripe this thread adds to, chosen on its first lookup.
fn stripe_of_this_thread() -> usize {
    /// Next stripe to hand out.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // No destructor and a const initialiser: the first use allocates
        // nothing and registers nothing.
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|stripe| {
        if stripe.get() == usize::MAX {
            stripe.set(NEXT.fetch_add(1, Relaxed) % STRIPES);
        }
        stripe.get()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_sum_exactly() {
        let counters = LookupCounters::new();
        let tally = ShardCounters {
            hits: 3,
            misses: 1,
            prefetches: 2,
            ..ShardCounters::default()
        };
        // More threads than stripes, so some share one.
        std::thread::scope(|s| {
            for _ in 0..STRIPES + 4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        counters.add(&tally);
                    }
                });
            }
        });
        let mut sum = ShardCounters::default();
        counters.sum_into(&mut sum);
        let n = (STRIPES as u64 + 4) * 1000;
        assert_eq!(
            (sum.hits, sum.misses, sum.prefetches, sum.stale_hits),
            (3 * n, n, 2 * n, 0)
        );
    }
}
