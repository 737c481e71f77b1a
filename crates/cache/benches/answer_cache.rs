//! Answer-cache hit path: lookup, copy, ID and TTL patch, at 1M entries,
//! on one thread and on two; and the heap bytes per stored wire byte.

// Ratios are printed for people; precision past 52 bits does not matter.
#![allow(clippy::cast_precision_loss)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cpu_time::ThreadTime;

use anchorage_cache::{AnswerCache, CacheLimits, Lookup, StalePolicy, Timestamp};
use anchorage_wire::QueryView;
use criterion::{Criterion, Throughput, criterion_group};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// Entries in the cache, as the target asks.
const ENTRIES: u32 = 1_000_000;
/// Queries parsed ahead of each timed run of lookups (kept out of the time).
const CHUNK: usize = 1024;
const NOW: Timestamp = Timestamp(1_000_000);
/// Queries per `lookup_many` call, as a server's batched receive hands over.
const BATCH: usize = 32;

fn qname(i: u32) -> Vec<u8> {
    let label = format!("host{i:07}");
    let mut name = vec![label.len() as u8];
    name.extend_from_slice(label.as_bytes());
    name.extend_from_slice(b"\x07example\x03com\x00");
    name
}

/// A typical positive reply: two A records, OPT with DO.
fn reply(i: u32) -> Vec<u8> {
    let mut m = vec![0, 0, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 1];
    m.extend_from_slice(&qname(i));
    m.extend_from_slice(&[0, 1, 0, 1]);
    for k in 0..2u8 {
        m.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4, 192, 0, 2, k]);
    }
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
    m
}

/// A client query for entry `i`, in mixed case, with EDNS and DO.
fn query(i: u32) -> Vec<u8> {
    let mut m = vec![(i >> 8) as u8, i as u8, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    let mut name = qname(i);
    name[1] = b'H';
    m.extend_from_slice(&name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
    m
}

fn filled_cache() -> AnswerCache {
    let cache = AnswerCache::new(CacheLimits {
        answer_bytes: 1 << 30,
        ..CacheLimits::default()
    });
    let region = Region::new(GLOBAL);
    let mut wire = 0usize;
    for i in 0..ENTRIES {
        let r = reply(i);
        wire += r.len();
        cache.insert(&r, NOW).expect("reply fits");
    }
    let change = region.change();
    // Both counters already include reallocations.
    let held = change.bytes_allocated - change.bytes_deallocated;
    let stats = cache.stats();
    eprintln!(
        "memory: {ENTRIES} entries, {wire} wire bytes, {held} heap bytes held \
         ({:.2} x wire), {} bytes accounted",
        held as f64 / wire as f64,
        stats.bytes
    );
    cache
}

/// How queries pick entries.
#[derive(Clone, Copy)]
enum Pick<'a> {
    /// The same entry every time: the compute floor, everything in L1.
    One,
    /// Every entry equally likely: no locality at all, the worst case.
    Uniform,
    /// Zipf with exponent 1, as name popularity at resolvers roughly is;
    /// holds entries drawn ahead from that distribution, so drawing one
    /// does not run a binary search whose 8 MB table would push the
    /// cache's own lines out between timed runs.
    Zipf(&'a [u32]),
}

/// Entries drawn from Zipf(1) over the ranks, as many as entries.
fn zipf_draws() -> Vec<u32> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=ENTRIES)
        .map(|rank| {
            acc += 1.0 / f64::from(rank);
            acc
        })
        .collect();
    for p in &mut cdf {
        *p /= acc;
    }
    let mut state = 0x5DEE_CE66_D1CE_u64;
    (0..ENTRIES)
        .map(|_| {
            let u = (step(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            let rank = cdf.partition_point(|&p| p < u).min(cdf.len() - 1) as u64;
            // Scatter ranks over the entries so popular names are not
            // neighbours in memory by accident of insertion order.
            ((rank * 7919) % u64::from(ENTRIES)) as u32
        })
        .collect()
}

/// A cheap deterministic xorshift step.
fn step(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn next(state: &mut u64, pick: Pick<'_>) -> u32 {
    let r = step(state);
    match pick {
        Pick::One => 42,
        Pick::Uniform => (r % u64::from(ENTRIES)) as u32,
        Pick::Zipf(draws) => draws[(r % draws.len() as u64) as usize],
    }
}

/// Times `iters` hits in this thread's CPU time (the machine is shared, so
/// wall time would count other processes), parsing queries outside the clock;
/// one lookup at a time, or `lookup_many` over batches of [`BATCH`].
fn timed_hits(
    cache: &AnswerCache,
    iters: u64,
    seed: u64,
    pick: Pick<'_>,
    batched: bool,
) -> Duration {
    let mut state = seed | 1;
    let mut views: Vec<QueryView> = Vec::with_capacity(CHUNK);
    let mut out = Vec::with_capacity(512);
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(512)).collect();
    let mut results = [Lookup::Miss; BATCH];
    let mut spent = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        views.clear();
        views.extend(
            (0..n).map(|_| QueryView::parse(&query(next(&mut state, pick))).expect("query")),
        );
        let start = ThreadTime::now();
        if batched {
            for batch in views.chunks(BATCH) {
                cache.lookup_many(batch, NOW, StalePolicy::FreshOnly, &mut outs, &mut results);
                debug_assert!(
                    results[..batch.len()]
                        .iter()
                        .all(|r| matches!(r, Lookup::Hit { .. }))
                );
                black_box((&results, &outs));
            }
        } else {
            for view in &views {
                let hit = cache.lookup(view, NOW, StalePolicy::FreshOnly, &mut out);
                debug_assert!(matches!(hit, Lookup::Hit { .. }));
                black_box((&hit, &out));
            }
        }
        spent += start.elapsed();
        left -= n as u64;
    }
    spent
}

fn hits(c: &mut Criterion) {
    let cache = filled_cache();
    let draws = zipf_draws();
    let mut group = c.benchmark_group("answer_hit_1m");
    for (name, pick) in [
        ("one_name", Pick::One),
        ("zipf", Pick::Zipf(&draws)),
        ("uniform", Pick::Uniform),
    ] {
        for (mode, batched) in [("single", false), ("batched", true)] {
            group.throughput(Throughput::Elements(1));
            group.bench_function(format!("{name}/{mode}/1_thread"), |b| {
                b.iter_custom(|iters| timed_hits(&cache, iters, 0x9E37_79B9, pick, batched));
            });
            group.throughput(Throughput::Elements(2));
            let seed = AtomicUsize::new(1);
            group.bench_function(format!("{name}/{mode}/2_threads"), |b| {
                b.iter_custom(|iters| {
                    std::thread::scope(|s| {
                        let spawn = || {
                            let seed = seed.fetch_add(1, Ordering::Relaxed) as u64;
                            let cache = &cache;
                            s.spawn(move || {
                                let seed = seed.wrapping_mul(0x2545_F491);
                                timed_hits(cache, iters, seed, pick, batched)
                            })
                        };
                        let (a, b) = (spawn(), spawn());
                        let (a, b) = (a.join().expect("thread"), b.join().expect("thread"));
                        a.max(b)
                    })
                });
            });
        }
    }
    group.finish();
}

/// Hits per round and thread in the paired measurement (about 50 ms).
const PAIRED_HITS: u64 = 250_000;
/// Rounds in the paired measurement.
const PAIRED_ROUNDS: usize = 21;

/// Two threads' scaling measured in pairs: each round times one thread
/// and then two (or two then one, alternately) a few milliseconds apart,
/// so that the host changing speed between criterion's separate 1-thread
/// and 2-thread phases does not land in the ratio. Prints, per case, the
/// median [min..max] of the per-round ratios and one thread's hits/s.
fn paired() {
    let cache = filled_cache();
    let draws = zipf_draws();
    println!("paired rounds ({PAIRED_ROUNDS} x {PAIRED_HITS} hits per thread), thread CPU time:");
    // One name: everything in L1 and nothing written, the control: what
    // two threads gain when they share no line and no memory bandwidth.
    let cases = [
        ("one", Pick::One),
        ("zipf", Pick::Zipf(&draws)),
        ("uniform", Pick::Uniform),
    ];
    for (name, pick) in cases {
        for (mode, batched) in [("single", false), ("batched", true)] {
            let one = |seed| timed_hits(&cache, PAIRED_HITS, seed, pick, batched);
            let two = |seed: u64| {
                std::thread::scope(|s| {
                    let a = s.spawn(|| one(seed));
                    let b = s.spawn(|| one(seed.wrapping_mul(0x2545_F491)));
                    let (a, b) = (a.join().expect("thread"), b.join().expect("thread"));
                    a.max(b)
                })
            };
            let (mut ratios, mut rates) = (Vec::new(), Vec::new());
            for round in 0..PAIRED_ROUNDS {
                let seed = 0x9E37_79B9 + round as u64 * 2;
                let (t1, t2) = if round % 2 == 0 {
                    let t1 = one(seed);
                    (t1, two(seed + 1))
                } else {
                    let t2 = two(seed + 1);
                    (one(seed), t2)
                };
                ratios.push(2.0 * t1.as_secs_f64() / t2.as_secs_f64());
                rates.push(PAIRED_HITS as f64 / t1.as_secs_f64());
            }
            let median = |xs: &mut Vec<f64>| {
                xs.sort_by(f64::total_cmp);
                (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
            };
            let (r, rmin, rmax) = median(&mut ratios);
            let (h, _, _) = median(&mut rates);
            println!(
                "paired {name:7} {mode:7}  1 thread {:.2}M hits/s  2/1 {r:.2}x [{rmin:.2}..{rmax:.2}]",
                h / 1e6
            );
        }
    }
}

criterion_group!(benches, hits);

fn main() {
    // `--paired` (after `--`): the paired scaling measurement instead of criterion's.
    if std::env::args().any(|a| a == "--paired") {
        paired();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
