//! Answer-cache hit path: lookup, copy, ID and TTL patch, at 1M entries,
//! on one thread and on two; and the heap bytes per stored wire byte.

// Ratios are printed for people; precision past 52 bits does not matter.
#![allow(clippy::cast_precision_loss)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cpu_time::ThreadTime;

#[path = "../../../bench/control.rs"]
mod control;

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
    for i in [0, 42, ENTRIES - 1] {
        let mut buf = [0; 64];
        let len = write_query(i, &mut buf);
        assert_eq!(buf[..len], query(i), "write_query agrees with query");
    }
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

/// Writes the client query for entry `i` (as [`query`] builds it) into
/// `buf` without allocating; returns its length.
fn write_query(i: u32, buf: &mut [u8; 64]) -> usize {
    buf[..12].copy_from_slice(&[(i >> 8) as u8, i as u8, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    buf[12] = 11;
    buf[13] = b'H';
    buf[14..17].copy_from_slice(b"ost");
    let mut n = i;
    for k in (17..24).rev() {
        buf[k] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let tail: &[u8] =
        b"\x07example\x03com\x00\x00\x01\x00\x01\x00\x00\x29\x04\xD0\x00\x00\x80\x00\x00\x00";
    buf[24..24 + tail.len()].copy_from_slice(tail);
    24 + tail.len()
}

/// Times `iters` hits in this thread's CPU time (the machine is shared, so
/// wall time would count other processes), preparing queries outside the
/// clock, without allocating (two threads allocating between their timed
/// stretches would meet in malloc and in the counting allocator's shared
/// counters); one lookup at a time, or `lookup_many` over batches of
/// [`BATCH`].
fn timed_hits(
    cache: &AnswerCache,
    iters: u64,
    seed: u64,
    pick: Pick<'_>,
    batched: bool,
) -> Duration {
    let mut state = seed | 1;
    let mut buf = [0u8; 64];
    let len = write_query(0, &mut buf);
    let mut views: Vec<QueryView> = (0..CHUNK)
        .map(|_| QueryView::parse(&buf[..len]).expect("query"))
        .collect();
    let mut out = Vec::with_capacity(512);
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(512)).collect();
    let mut results = [Lookup::Miss; BATCH];
    let mut spent = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        for view in &mut views[..n] {
            let len = write_query(next(&mut state, pick), &mut buf);
            view.parse_into(&buf[..len]).expect("query");
        }
        let views = &views[..n];
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
            for view in views {
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
/// Steps of the control loop per round and thread (about 50 ms).
const CONTROL_STEPS: u64 = 30_000_000;
/// Rounds in the paired measurement.
const PAIRED_ROUNDS: usize = 41;

/// The control's steps per round and thread, timed in thread CPU time
/// like the hits.
fn timed_control(steps: u64, seed: u64) -> Duration {
    let start = ThreadTime::now();
    black_box(control::control_steps(steps, seed));
    start.elapsed()
}

/// 2/1 of `work`: its time on one thread over the longer of two threads
/// running it at once (each thread's CPU time), as a throughput ratio;
/// and the one thread's time.
fn two_over_one(
    work: &(dyn Fn(u64) -> Duration + Sync),
    seed: u64,
    two_first: bool,
) -> (f64, Duration) {
    let two = || {
        std::thread::scope(|s| {
            let a = s.spawn(|| work(seed));
            let b = s.spawn(|| work(seed.wrapping_mul(0x2545_F491)));
            let (a, b) = (a.join().expect("thread"), b.join().expect("thread"));
            a.max(b)
        })
    };
    let (t1, t2) = if two_first {
        let t2 = two();
        (work(seed), t2)
    } else {
        let t1 = work(seed);
        (t1, two())
    };
    (2.0 * t1.as_secs_f64() / t2.as_secs_f64(), t1)
}

/// Two threads' scaling measured in pairs: each round times one thread
/// and two threads a few milliseconds apart (criterion's separate 1-thread
/// and 2-thread phases are seconds apart, and this host's speed drifts
/// between them), for the cache and, in the same round, for the control.
/// Prints, per case, the median [min..max] over rounds of the cache's 2/1,
/// of the control's 2/1, and of their quotient (1.0: the cache scales as
/// well as code that shares nothing), and one thread's hits/s.
/// `only`: run just the cases whose "pick/mode" name contains it.
fn paired(only: Option<&str>) {
    let cache = filled_cache();
    let draws = zipf_draws();
    println!(
        "paired rounds ({PAIRED_ROUNDS} x {PAIRED_HITS} hits per thread, control in the same rounds), thread CPU time:"
    );
    // One name: one entry, in L1, nothing written: the cache's compute floor.
    let cases = [
        ("one", Pick::One),
        ("zipf", Pick::Zipf(&draws)),
        ("uniform", Pick::Uniform),
    ];
    for (name, pick) in cases {
        for (mode, batched) in [("single", false), ("batched", true)] {
            if only.is_some_and(|only| !format!("{name}/{mode}").contains(only)) {
                continue;
            }
            let hits = |seed| timed_hits(&cache, PAIRED_HITS, seed, pick, batched);
            let control = |seed| timed_control(CONTROL_STEPS, seed);
            let (mut ours, mut base, mut quotient, mut rates) = (vec![], vec![], vec![], vec![]);
            for round in 0..PAIRED_ROUNDS {
                let seed = 0x9E37_79B9 + round as u64 * 2;
                // Order rotates: cache or control first, two or one thread first.
                let two_first = round % 2 == 1;
                let ((r, one), (c, _)) = if round % 4 < 2 {
                    let r = two_over_one(&hits, seed, two_first);
                    (r, two_over_one(&control, seed, two_first))
                } else {
                    let c = two_over_one(&control, seed, two_first);
                    (two_over_one(&hits, seed, two_first), c)
                };
                ours.push(r);
                base.push(c);
                quotient.push(r / c);
                rates.push(PAIRED_HITS as f64 / one.as_secs_f64());
            }
            let show = |xs: Vec<f64>| {
                let (median, min, max) = control::median_min_max(xs);
                format!("{median:.2}x [{min:.2}..{max:.2}]")
            };
            println!(
                "paired {name:7} {mode:7}  1 thread {:.2}M hits/s  2/1 {}  control 2/1 {}  cache/control {}",
                control::median_min_max(rates).0 / 1e6,
                show(ours),
                show(base),
                show(quotient),
            );
        }
    }
}

criterion_group!(benches, hits);

fn main() {
    // `--paired [case]` (after `--`): the paired scaling measurement
    // instead of criterion's, of every case or those matching `case`.
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--paired") {
        paired(
            args.get(at + 1)
                .map(String::as_str)
                .filter(|a| !a.starts_with('-')),
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
