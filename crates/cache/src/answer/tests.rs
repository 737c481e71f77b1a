use super::layout::tests::{WWW, reply};
use super::*;

/// A query for `qname`/A with RD, from client `id`, optionally with EDNS.
pub(crate) fn query(id: u16, qname: &[u8], edns_do: Option<bool>, cd: bool) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, if cd { 0x10 } else { 0 }, 0, 1, 0, 0, 0, 0, 0]);
    m.push(u8::from(edns_do.is_some()));
    m.extend_from_slice(qname);
    m.extend_from_slice(&[0, 1, 0, 1]);
    if let Some(dnssec_ok) = edns_do {
        m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0]);
        m.extend_from_slice(&[if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    }
    m
}

fn view(bytes: &[u8]) -> QueryView {
    QueryView::parse(bytes).unwrap()
}

fn ttls(msg: &[u8]) -> Vec<u32> {
    super::layout::walk_reply(msg)
        .unwrap()
        .ttl_offsets
        .iter()
        .map(|&at| {
            let at = usize::from(at);
            u32::from_be_bytes(msg[at..at + 4].try_into().unwrap())
        })
        .collect()
}

fn small_cache() -> AnswerCache {
    AnswerCache::new(CacheLimits {
        answer_bytes: 1 << 20,
        shards: 4,
        ..CacheLimits::default()
    })
}

const T0: Timestamp = Timestamp(1_000_000);

/// A small cache holding `reply`, stored at [`T0`].
fn holding(reply: &[u8]) -> AnswerCache {
    let cache = small_cache();
    cache.insert(reply, T0).unwrap();
    cache
}

#[test]
fn hit_patches_id_and_echoes_the_clients_letter_case() {
    let cache = holding(&reply(WWW, 0, &[300], None, None));
    let spelled = b"\x03wWw\x07ExAmPlE\x03cOm\x00";
    let q = query(0x4242, spelled, None, false);
    let mut out = Vec::new();
    assert_eq!(
        cache.lookup(&view(&q), T0, StalePolicy::FreshOnly, &mut out),
        Lookup::Hit { prefetch: false }
    );
    assert_eq!(&out[..2], &[0x42, 0x42]);
    assert_eq!(&out[12..12 + spelled.len()], spelled);
    // The answer's owner is a pointer to the question, so it echoes too.
    let parsed = anchorage_wire::proto::op::Message::from_vec(&out).unwrap();
    assert_eq!(parsed.answers[0].name.to_string(), "wWw.ExAmPlE.cOm.");
}

#[test]
fn ttls_count_down_and_entry_expires_at_smallest_ttl() {
    let cache = small_cache();
    assert_eq!(
        cache
            .insert(&reply(WWW, 0, &[300, 60], None, None), T0)
            .unwrap(),
        60
    );
    let q = query(1, WWW, None, false);
    let mut out = Vec::new();
    let at = |secs| T0.plus(secs);
    let _ = cache.lookup(&view(&q), at(20), StalePolicy::FreshOnly, &mut out);
    assert_eq!(ttls(&out), [280, 40]);
    assert_eq!(
        cache.lookup(&view(&q), at(59), StalePolicy::FreshOnly, &mut out),
        Lookup::Hit { prefetch: true }
    );
    assert_eq!(ttls(&out), [241, 1]);
    out.clear();
    assert_eq!(
        cache.lookup(&view(&q), at(60), StalePolicy::FreshOnly, &mut out),
        Lookup::Miss
    );
    assert!(out.is_empty());
}

#[test]
fn prefetch_is_signalled_once_in_the_last_tenth() {
    let cache = holding(&reply(WWW, 0, &[100], None, None));
    let q = query(1, WWW, None, false);
    let mut out = Vec::new();
    let mut look = |secs| cache.lookup(&view(&q), T0.plus(secs), StalePolicy::FreshOnly, &mut out);
    assert_eq!(look(89), Lookup::Hit { prefetch: false });
    assert_eq!(look(90), Lookup::Hit { prefetch: true });
    assert_eq!(look(95), Lookup::Hit { prefetch: false });
    assert_eq!(cache.stats().prefetches, 1);
}

#[test]
fn stale_answers_are_served_only_when_upstream_failed() {
    let cache = holding(&reply(WWW, 0, &[300], None, Some(false)));
    let q = query(7, WWW, Some(false), false);
    let mut out = Vec::new();
    let later = T0.plus(400);
    assert_eq!(
        cache.lookup(&view(&q), later, StalePolicy::FreshOnly, &mut out),
        Lookup::Miss
    );
    assert_eq!(
        cache.lookup(&view(&q), later, StalePolicy::UpstreamFailed, &mut out),
        Lookup::Stale
    );
    assert_eq!(ttls(&out), [STALE_TTL]);
    let parsed = anchorage_wire::proto::op::Message::from_vec(&out).unwrap();
    let edns = parsed.edns.expect("stale reply to an EDNS client has OPT");
    let opts = format!("{:?}", edns.options());
    assert!(opts.contains("15"), "no EDE option in {opts}");
    assert_eq!(
        &out[out.len() - 2..],
        &(EdeCode::StaleAnswer as u16).to_be_bytes()
    );
    let stats = cache.stats();
    assert_eq!((stats.stale_hits, stats.misses), (1, 1));
}

#[test]
fn stale_entries_are_dropped_past_the_stale_limit() {
    let limits = CacheLimits {
        max_stale: 1000,
        ..CacheLimits::default()
    };
    let cache = AnswerCache::new(CacheLimits {
        answer_bytes: 1 << 20,
        ..limits
    });
    cache
        .insert(&reply(WWW, 0, &[300], None, None), T0)
        .unwrap();
    let q = query(7, WWW, None, false);
    let mut out = Vec::new();
    assert_eq!(
        cache.lookup(
            &view(&q),
            T0.plus(1299),
            StalePolicy::UpstreamFailed,
            &mut out
        ),
        Lookup::Stale
    );
    assert_eq!(
        cache.lookup(
            &view(&q),
            T0.plus(1300),
            StalePolicy::UpstreamFailed,
            &mut out
        ),
        Lookup::Miss
    );
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.expirations), (0, 1));
}

#[test]
fn do_and_cd_bits_are_part_of_the_key() {
    let cache = holding(&reply(WWW, 0, &[300], None, Some(true)));
    let mut out = Vec::new();
    let mut look = |edns, cd| {
        let q = query(1, WWW, edns, cd);
        cache.lookup(&view(&q), T0, StalePolicy::FreshOnly, &mut out)
    };
    assert_eq!(look(Some(true), false), Lookup::Hit { prefetch: false });
    assert_eq!(look(Some(false), false), Lookup::Miss);
    assert_eq!(look(None, false), Lookup::Miss);
    assert_eq!(look(Some(true), true), Lookup::Miss);
}

#[test]
fn opt_is_echoed_only_to_edns_clients() {
    let cache = holding(&reply(WWW, 0, &[300], None, Some(false)));
    let mut out = Vec::new();
    let plain = query(1, WWW, None, false);
    let _ = cache.lookup(&view(&plain), T0, StalePolicy::FreshOnly, &mut out);
    let parsed = anchorage_wire::proto::op::Message::from_vec(&out).unwrap();
    assert!(parsed.edns.is_none());
    let edns = query(1, WWW, Some(false), false);
    let _ = cache.lookup(&view(&edns), T0, StalePolicy::FreshOnly, &mut out);
    let parsed = anchorage_wire::proto::op::Message::from_vec(&out).unwrap();
    assert!(parsed.edns.is_some());
    assert_eq!(parsed.answers.len(), 1);
}

#[test]
fn negative_ttl_is_soa_minimum_capped_by_configuration() {
    let cache = AnswerCache::new(CacheLimits {
        answer_bytes: 1 << 20,
        max_negative_ttl: 600,
        ..CacheLimits::default()
    });
    // min(SOA TTL 900, MINIMUM 120) = 120.
    assert_eq!(
        cache
            .insert(&reply(WWW, 3, &[], Some((900, 120)), None), T0)
            .unwrap(),
        120
    );
    let q = query(1, WWW, None, false);
    let mut out = Vec::new();
    let _ = cache.lookup(&view(&q), T0.plus(20), StalePolicy::FreshOnly, &mut out);
    assert_eq!(ttls(&out), [100]);
    assert_eq!(out[3] & 0x0F, 3, "NXDOMAIN kept");
    // NODATA with both values above the cap: the cap wins.
    let other = b"\x04mail\x07example\x03com\x00";
    assert_eq!(
        cache
            .insert(&reply(other, 0, &[], Some((7200, 86_400)), None), T0)
            .unwrap(),
        600
    );
    assert_eq!(
        cache.insert(&reply(other, 0, &[], None, None), T0),
        Err(InsertError::NegativeWithoutSoa)
    );
}

#[test]
fn positive_ttls_are_clamped_to_the_configured_bounds() {
    let cache = AnswerCache::new(CacheLimits {
        answer_bytes: 1 << 20,
        min_ttl: 50,
        max_ttl: 1000,
        ..CacheLimits::default()
    });
    assert_eq!(
        cache
            .insert(&reply(WWW, 0, &[10, 5000, 0x8000_0000], None, None), T0)
            .unwrap(),
        50
    );
    let mut out = Vec::new();
    let _ = cache.lookup(
        &view(&query(1, WWW, None, false)),
        T0,
        StalePolicy::FreshOnly,
        &mut out,
    );
    // The top-bit TTL counts as zero (RFC 2181 §8), then is raised to 50.
    assert_eq!(ttls(&out), [50, 1000, 50]);
}

#[test]
fn uncacheable_replies_are_refused() {
    let cache = small_cache();
    assert_eq!(
        cache.insert(&reply(WWW, 2, &[300], None, None), T0),
        Err(InsertError::Rcode { rcode: 2 })
    );
    let mut tc = reply(WWW, 0, &[300], None, None);
    tc[2] |= 0x02;
    assert_eq!(cache.insert(&tc, T0), Err(InsertError::Truncated));
    assert_eq!(
        cache.insert(&reply(WWW, 0, &[300, 0], None, None), T0),
        Err(InsertError::ZeroTtl)
    );
    assert!(matches!(
        cache.insert(&[0; 5], T0),
        Err(InsertError::Malformed(_))
    ));
    assert_eq!(cache.stats().entries, 0);
}

#[test]
fn ad_bit_is_cleared_for_clients_that_did_not_ask() {
    let cache = small_cache();
    let mut r = reply(WWW, 0, &[300], None, None);
    r[3] |= 0x20;
    cache.insert(&r, T0).unwrap();
    let mut out = Vec::new();
    let mut q = query(1, WWW, None, false);
    let _ = cache.lookup(&view(&q), T0, StalePolicy::FreshOnly, &mut out);
    assert_eq!(out[3] & 0x20, 0);
    q[3] |= 0x20; // the client sets AD: it understands it (RFC 6840 §5.7)
    let _ = cache.lookup(&view(&q), T0, StalePolicy::FreshOnly, &mut out);
    assert_eq!(out[3] & 0x20, 0x20);
}

#[test]
fn newer_reply_replaces_older_one_for_the_same_key() {
    let cache = holding(&reply(WWW, 0, &[300], None, None));
    cache
        .insert(&reply(WWW, 0, &[600, 600], None, None), T0)
        .unwrap();
    let mut out = Vec::new();
    let _ = cache.lookup(
        &view(&query(1, WWW, None, false)),
        T0,
        StalePolicy::FreshOnly,
        &mut out,
    );
    assert_eq!(ttls(&out), [600, 600]);
    assert_eq!(cache.stats().entries, 1);
}

fn numbered_name(i: u32) -> Vec<u8> {
    let label = format!("h{i}");
    let mut name = vec![label.len() as u8];
    name.extend_from_slice(label.as_bytes());
    name.extend_from_slice(b"\x07example\x03com\x00");
    name
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]

    #[test]
    fn memory_bound_is_never_exceeded_under_random_inserts(
        budget in 20_000usize..200_000,
        ops in proptest::collection::vec((0u32..5000, 1usize..12), 1..600),
    ) {
        let cache = AnswerCache::new(CacheLimits {
            answer_bytes: budget,
            shards: 4,
            ..CacheLimits::default()
        });
        for (name, records) in ops {
            let r = reply(&numbered_name(name), 0, &vec![300; records], None, Some(true));
            let _ = cache.insert(&r, T0);
            let stats = cache.stats();
            proptest::prop_assert!(stats.bytes <= budget, "{} > {budget}", stats.bytes);
        }
    }
}

#[test]
fn recently_hit_answers_survive_and_cold_ones_are_evicted() {
    let cache = AnswerCache::new(CacheLimits {
        answer_bytes: 40_000,
        shards: 1,
        ..CacheLimits::default()
    });
    let mut out = Vec::new();
    let first = numbered_name(0);
    cache
        .insert(&reply(&first, 0, &[300], None, None), T0)
        .unwrap();
    for i in 1..1000 {
        cache
            .insert(&reply(&numbered_name(i), 0, &[300], None, None), T0)
            .unwrap();
        // Keep the first one hot.
        let q = query(1, &first, None, false);
        assert_ne!(
            cache.lookup(&view(&q), T0, StalePolicy::FreshOnly, &mut out),
            Lookup::Miss,
            "hot entry evicted at {i}"
        );
    }
    let stats = cache.stats();
    assert!(stats.evictions > 500);
    let cold = query(1, &numbered_name(1), None, false);
    assert_eq!(
        cache.lookup(&view(&cold), T0, StalePolicy::FreshOnly, &mut out),
        Lookup::Miss
    );
}

#[test]
fn batched_lookups_give_what_single_lookups_give() {
    let cache = small_cache();
    let names: Vec<Vec<u8>> = (0..40).map(numbered_name).collect();
    // Even names cached fresh, every fourth one with a short TTL that will
    // have expired: a mix of hits, misses and stale entries, some sharing
    // a shard, over more than one batch.
    for (i, name) in names.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let ttl = if i % 4 == 0 { 10 } else { 300 };
        cache
            .insert(&reply(name, 0, &[ttl], None, Some(true)), T0)
            .unwrap();
    }
    let now = T0.plus(20);
    let bytes: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| query(i as u16, n, Some(true), false))
        .collect();
    let views: Vec<QueryView> = bytes.iter().map(|b| view(b)).collect();
    for policy in [StalePolicy::FreshOnly, StalePolicy::UpstreamFailed] {
        let mut outs = vec![Vec::new(); views.len()];
        let mut results = vec![Lookup::Miss; views.len()];
        cache.lookup_many(&views, now, policy, &mut outs, &mut results);
        let mut out = Vec::new();
        for (i, v) in views.iter().enumerate() {
            let single = cache.lookup(v, now, policy, &mut out);
            assert_eq!(results[i], single, "query {i}, {policy:?}");
            if single != Lookup::Miss {
                assert_eq!(outs[i], out, "query {i}, {policy:?}");
                assert_eq!(outs[i][..2], (i as u16).to_be_bytes());
            }
        }
        let kinds = |want: fn(&Lookup) -> bool| results.iter().filter(|r| want(r)).count();
        assert_eq!(kinds(|r| matches!(r, Lookup::Hit { .. })), 10);
        assert_eq!(
            kinds(|r| *r == Lookup::Miss),
            if policy == StalePolicy::FreshOnly {
                30
            } else {
                20
            }
        );
    }
}

#[test]
fn batched_lookups_under_contention_still_answer_every_query() {
    let cache = AnswerCache::new(CacheLimits {
        answer_bytes: 1 << 20,
        shards: 2,
        ..CacheLimits::default()
    });
    let names: Vec<Vec<u8>> = (0..64).map(numbered_name).collect();
    for name in &names {
        cache
            .insert(&reply(name, 0, &[300], None, None), T0)
            .unwrap();
    }
    let bytes: Vec<Vec<u8>> = names.iter().map(|n| query(7, n, None, false)).collect();
    let views: Vec<QueryView> = bytes.iter().map(|b| view(b)).collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut outs = vec![Vec::new(); views.len()];
                for _ in 0..200 {
                    let mut results = vec![Lookup::Miss; views.len()];
                    cache.lookup_many(&views, T0, StalePolicy::FreshOnly, &mut outs, &mut results);
                    assert!(
                        results
                            .iter()
                            .all(|r| *r == Lookup::Hit { prefetch: false })
                    );
                }
            });
        }
    });
    assert_eq!(cache.stats().hits, 4 * 200 * 64);
}

/// A reply for name `i` that no other name's reply can pass for: `1 + i %
/// 4` A records, every TTL `1000 + i`.
fn marked_reply(i: u32) -> Vec<u8> {
    let ttls = vec![1000 + i; 1 + (i % 4) as usize];
    reply(&numbered_name(i), 0, &ttls, None, Some(true))
}

/// Name `i` spelled in mixed case, as a 0x20-randomising client would.
fn mixed_case_name(i: u32) -> Vec<u8> {
    let mut name = numbered_name(i);
    name[1] = b'H';
    // The first letter of `example`, after its length byte.
    let example = name.len() - b"example\x03com\x00".len();
    name[example] = b'E';
    name
}

/// Checks that `out`, served for a query with `id` for name `i`, is name
/// `i`'s reply with the query's ID and spelling; panics otherwise.
fn assert_reply_is_for(out: &[u8], id: u16, i: u32) {
    let name = mixed_case_name(i);
    assert_eq!(out[..2], id.to_be_bytes(), "ID of name {i}");
    assert_eq!(&out[12..12 + name.len()], &name[..], "question of name {i}");
    assert_eq!(ttls(out), vec![1000 + i; 1 + (i % 4) as usize], "name {i}");
}

/// A deterministic xorshift stream of name numbers below `names`.
fn picks(seed: u64, names: u32) -> impl Iterator<Item = u32> {
    let mut state = seed | 1;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % u64::from(names)) as u32
    })
}

/// Looks fresh answers to `views` up at `now`: all with `lookup_many` when
/// `batched`, else one `lookup` each.
fn look_up_all(
    cache: &AnswerCache,
    views: &[QueryView],
    now: Timestamp,
    batched: bool,
    outs: &mut [Vec<u8>],
    results: &mut [Lookup],
) {
    if batched {
        cache.lookup_many(views, now, StalePolicy::FreshOnly, outs, results);
    } else {
        for ((v, out), result) in views.iter().zip(outs).zip(results) {
            *result = cache.lookup(v, now, StalePolicy::FreshOnly, out);
        }
    }
}

#[test]
fn concurrent_hits_inserts_and_evictions_never_serve_another_names_reply() {
    const NAMES: u32 = 3000;
    const ROUNDS: usize = 6000;
    // Room for a few hundred of the names in two shards: the writers
    // evict on nearly every insert while readers hit the same shards.
    let budget = 100_000;
    let cache = AnswerCache::new(CacheLimits {
        answer_bytes: budget,
        shards: 2,
        ..CacheLimits::default()
    });
    let replies: Vec<Vec<u8>> = (0..NAMES).map(marked_reply).collect();
    let queries: Vec<Vec<u8>> = (0..NAMES)
        .map(|i| query(i as u16, &mixed_case_name(i), Some(true), false))
        .collect();
    let (inserted, looked_up) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let (cache, replies) = (&cache, &replies);
                s.spawn(move || {
                    picks(w + 1, NAMES)
                        .take(ROUNDS)
                        .filter(|&i| cache.insert(&replies[i as usize], T0).is_ok())
                        .count() as u64
                })
            })
            .collect();
        let readers: Vec<_> = (0..4u64)
            .map(|r| {
                let (cache, queries) = (&cache, &queries);
                s.spawn(move || {
                    let mut counted = [0u64; 3]; // hits, misses, lookups
                    let mut outs = vec![Vec::new(); LOOKUP_BATCH];
                    let mut results = [Lookup::Miss; LOOKUP_BATCH];
                    let mut names = picks(100 + r, NAMES);
                    for _ in 0..ROUNDS / LOOKUP_BATCH {
                        let batch: Vec<u32> = names.by_ref().take(LOOKUP_BATCH).collect();
                        let views: Vec<QueryView> =
                            batch.iter().map(|&i| view(&queries[i as usize])).collect();
                        look_up_all(cache, &views, T0, r % 2 == 0, &mut outs, &mut results);
                        for (k, &i) in batch.iter().enumerate() {
                            match results[k] {
                                Lookup::Hit { prefetch: false } => {
                                    assert_reply_is_for(&outs[k], i as u16, i);
                                    counted[0] += 1;
                                }
                                Lookup::Miss => counted[1] += 1,
                                other => panic!("name {i}: {other:?}"),
                            }
                            counted[2] += 1;
                        }
                    }
                    counted
                })
            })
            .collect();
        let inserted: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let looked_up = readers
            .into_iter()
            .map(|r| r.join().unwrap())
            .fold([0u64; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
        (inserted, looked_up)
    });
    let [hits, misses, lookups] = looked_up;
    let stats = cache.stats();
    assert!(hits > 0 && misses > 0, "{hits} hits, {misses} misses");
    assert_eq!(hits + misses, lookups);
    assert_eq!(
        (stats.hits, stats.misses, stats.stale_hits),
        (hits, misses, 0)
    );
    assert_eq!(stats.inserts, inserted);
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(stats.bytes <= budget, "{} bytes held", stats.bytes);
    // What the counters say is held is what a sweep finds.
    let mut out = Vec::new();
    let held = (0..NAMES)
        .filter(|&i| {
            let hit = cache.lookup(
                &view(&queries[i as usize]),
                T0,
                StalePolicy::FreshOnly,
                &mut out,
            );
            if hit != Lookup::Miss {
                assert_reply_is_for(&out, i as u16, i);
            }
            hit != Lookup::Miss
        })
        .count();
    assert_eq!(held, stats.entries);
}

#[test]
fn prefetch_is_signalled_once_however_many_threads_hit() {
    let cache = holding(&reply(WWW, 0, &[100], None, None));
    let bytes = query(1, WWW, None, false);
    let late = T0.plus(95);
    let signalled: u64 = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (cache, bytes) = (&cache, &bytes);
                s.spawn(move || {
                    let views = vec![view(bytes); LOOKUP_BATCH];
                    let mut outs = vec![Vec::new(); LOOKUP_BATCH];
                    let mut results = [Lookup::Miss; LOOKUP_BATCH];
                    let mut signalled = 0;
                    for _ in 0..100 {
                        look_up_all(cache, &views, late, t % 2 == 0, &mut outs, &mut results);
                        signalled += results
                            .iter()
                            .filter(|r| **r == Lookup::Hit { prefetch: true })
                            .count() as u64;
                        assert!(results.iter().all(|r| matches!(r, Lookup::Hit { .. })));
                    }
                    signalled
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    let stats = cache.stats();
    assert_eq!((signalled, stats.prefetches), (1, 1));
    assert_eq!(stats.hits, 4 * 100 * LOOKUP_BATCH as u64);
}
