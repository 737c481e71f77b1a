//! Heap checks with a counting allocator: the hit path (single and
//! batched) allocates nothing,
//! and the bytes a cache accounts for cover what it really holds.
//!
//! The counters are process-wide and the test harness allocates when a
//! test ends, so the checks run in sequence inside one test.

// Ratios are printed for people; precision past 52 bits does not matter.
#![allow(clippy::cast_precision_loss)]

use anchorage_cache::{AggressiveCache, AnswerCache, CacheLimits, Lookup, StalePolicy, Timestamp};
use anchorage_wire::QueryView;
use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, NSEC};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const NOW: Timestamp = Timestamp(1_000_000);

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

fn query(i: u32) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    m.extend_from_slice(&qname(i));
    m.extend_from_slice(&[0, 1, 0, 1]);
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
    m
}

/// Bytes allocated and not freed since `region` started.
fn held(region: &Region<'_, std::alloc::System>) -> usize {
    let c = region.change();
    // `bytes_allocated` and `bytes_deallocated` already include reallocations.
    c.bytes_allocated - c.bytes_deallocated
}

#[test]
fn hit_path_allocates_nothing_and_accounting_covers_the_real_heap() {
    cache_hit_allocates_nothing();
    accounted_bytes_cover_the_real_heap_and_stay_within_twice_the_wire();
    empty_answer_cache_accounts_for_its_shards_locks_and_counters();
    aggressive_store_accounts_for_the_heap_it_holds();
}

fn cache_hit_allocates_nothing() {
    let cache = AnswerCache::new(CacheLimits::default());
    for i in 0..100 {
        cache.insert(&reply(i), NOW).unwrap();
    }
    let views: Vec<QueryView> = (0..100)
        .map(|i| QueryView::parse(&query(i)).unwrap())
        .collect();
    let mut out = Vec::with_capacity(512);
    // A thread's first read lock ever registers it with crossbeam's
    // thread index (one small block, for the thread's life); another
    // cache takes that one, so the hits below are any thread's hits.
    let _ = AnswerCache::new(CacheLimits::default()).lookup(
        &views[0],
        NOW,
        StalePolicy::FreshOnly,
        &mut out,
    );
    let region = Region::new(GLOBAL);
    for view in &views {
        let hit = cache.lookup(view, NOW.plus(10), StalePolicy::FreshOnly, &mut out);
        assert_eq!(hit, Lookup::Hit { prefetch: false });
    }
    let change = region.change();
    assert_eq!(change.allocations + change.reallocations, 0, "{change:?}");

    let mut outs: Vec<Vec<u8>> = (0..views.len()).map(|_| Vec::with_capacity(512)).collect();
    let mut results = vec![Lookup::Miss; views.len()];
    let region = Region::new(GLOBAL);
    cache.lookup_many(
        &views,
        NOW.plus(10),
        StalePolicy::FreshOnly,
        &mut outs,
        &mut results,
    );
    let change = region.change();
    assert_eq!(change.allocations + change.reallocations, 0, "{change:?}");
    assert!(
        results
            .iter()
            .all(|r| *r == Lookup::Hit { prefetch: false })
    );
}

fn accounted_bytes_cover_the_real_heap_and_stay_within_twice_the_wire() {
    for shards in [1, 16] {
        let region = Region::new(GLOBAL);
        let cache = AnswerCache::new(CacheLimits {
            shards,
            ..CacheLimits::default()
        });
        let mut wire = 0;
        for i in 0..50_000 {
            let r = reply(i);
            wire += r.len();
            cache.insert(&r, NOW).unwrap();
        }
        let real = held(&region);
        let accounted = cache.stats().bytes;
        eprintln!(
            "{shards} shards: {wire} wire bytes, {real} heap bytes ({:.2} x), {accounted} accounted",
            real as f64 / wire as f64
        );
        assert!(accounted >= real, "accounted {accounted} < real {real}");
        // The target: heap held at most twice the wire bytes.
        assert!(real <= 2 * wire, "real {real} for {wire} wire bytes");
    }
}

/// The fixed part of the charge (shard array, each shard's lock stripes,
/// the counter stripes) is what `AnswerCache::new` really allocates: no
/// entries' slack to hide an error in it.
fn empty_answer_cache_accounts_for_its_shards_locks_and_counters() {
    for shards in [1, 256] {
        let region = Region::new(GLOBAL);
        let cache = AnswerCache::new(CacheLimits {
            shards,
            ..CacheLimits::default()
        });
        let real = held(&region);
        let accounted = cache.stats().bytes;
        assert!(
            accounted >= real,
            "{shards} shards: accounted {accounted} < real {real}"
        );
        assert!(
            accounted <= real + real / 20,
            "{shards} shards: accounted {accounted} for {real}"
        );
    }
}

fn aggressive_store_accounts_for_the_heap_it_holds() {
    let zone = Name::from_ascii("example.").unwrap();
    let owner = |i: u32| {
        // Every third name long enough to spill hickory's inline buffer.
        let pad = if i.is_multiple_of(3) {
            "-with-a-long-label-here"
        } else {
            ""
        };
        Name::from_ascii(format!("n{i:05}{pad}.example.")).unwrap()
    };
    let records: Vec<Record> = (0..20_000)
        .map(|i| {
            let data = NSEC::new(owner(i + 1), [RecordType::A, RecordType::NSEC]);
            Record::from_rdata(owner(i), 300, RData::DNSSEC(DNSSECRData::NSEC(data)))
        })
        .collect();
    for shards in [1, 16] {
        let region = Region::new(GLOBAL);
        // One zone lives in one shard, so each shard gets room for it all.
        let cache = AggressiveCache::new(CacheLimits {
            shards,
            record_bytes: shards * (64 << 20),
            ..CacheLimits::default()
        });
        for r in &records {
            cache.insert(&zone, 300, r, &[], NOW).unwrap();
        }
        let real = held(&region);
        let stats = cache.stats();
        eprintln!(
            "aggressive, {shards} shards: {} ranges, {real} heap bytes, {} accounted",
            stats.entries, stats.bytes
        );
        assert_eq!(stats.entries, records.len());
        assert!(
            stats.bytes >= real,
            "accounted {} < real {real}",
            stats.bytes
        );
        assert!(
            stats.bytes <= 3 * real,
            "accounted {} for {real}",
            stats.bytes
        );
    }
}
