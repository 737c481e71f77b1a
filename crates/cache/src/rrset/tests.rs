use std::net::Ipv4Addr;

use anchorage_wire::proto::dnssec::Algorithm;
use anchorage_wire::proto::dnssec::rdata::{RRSIG, SigInput};
use anchorage_wire::proto::rr::SerialNumber;
use anchorage_wire::proto::rr::rdata::A;

use super::*;

const T0: Timestamp = Timestamp(50_000);

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn a(owner: &str, ttl: u32, last: u8) -> Record {
    Record::from_rdata(
        name(owner),
        ttl,
        RData::A(A(Ipv4Addr::new(192, 0, 2, last))),
    )
}

fn rrsig(owner: &str, covered: RecordType, ttl: u32) -> Record {
    let owner = name(owner);
    let input = SigInput {
        type_covered: covered,
        algorithm: Algorithm::ECDSAP256SHA256,
        num_labels: owner.num_labels(),
        original_ttl: ttl,
        sig_expiration: SerialNumber::new(2_000_000_000),
        sig_inception: SerialNumber::new(1_000_000_000),
        key_tag: 4242,
        signer_name: name("example."),
    };
    let data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, vec![7; 64])));
    Record::from_rdata(owner, ttl, data)
}

fn cache() -> RrsetCache {
    RrsetCache::new(CacheLimits {
        record_bytes: 1 << 20,
        shards: 4,
        bogus_ttl: 60,
        ..CacheLimits::default()
    })
}

fn lookup(cache: &RrsetCache, owner: &str, now: Timestamp) -> Option<CachedRrset> {
    cache.lookup(&name(owner), RecordType::A, DNSClass::IN, now)
}

fn addresses(rrset: &CachedRrset) -> Vec<u8> {
    rrset
        .records
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0.octets()[3],
            other => panic!("not an A record: {other:?}"),
        })
        .collect()
}

/// Stores www.example./A as secure authoritative data: 192.0.2.1 and
/// 192.0.2.2 with `ttls`, signed by one RRSIG with `sig_ttl`. Returns what
/// the cache said and the RRSIG.
fn insert_signed_www(cache: &RrsetCache, ttls: [u32; 2], sig_ttl: u32) -> (RrsetInsert, Record) {
    let records = [a("www.example.", ttls[0], 1), a("www.example.", ttls[1], 2)];
    let sig = rrsig("www.example.", RecordType::A, sig_ttl);
    let stored = cache
        .insert(
            &records,
            std::slice::from_ref(&sig),
            Rank::AuthoritativeAnswer,
            Security::Secure,
            T0,
        )
        .unwrap();
    (stored, sig)
}

#[test]
fn rrset_comes_back_with_its_rrsigs_rank_and_security() {
    let cache = cache();
    let (stored, sig) = insert_signed_www(&cache, [300, 300], 300);
    assert_eq!(stored, RrsetInsert::Stored { ttl: 300 });
    // Case does not matter for the key.
    let got = lookup(&cache, "WWW.Example.", T0.plus(100)).unwrap();
    assert_eq!(addresses(&got), [1, 2]);
    let mut sig = sig;
    sig.ttl = 200;
    assert_eq!(got.rrsigs, [sig]);
    assert_eq!(got.rank, Rank::AuthoritativeAnswer);
    assert_eq!(got.security, Security::Secure);
    assert_eq!(got.ttl, 200);
    assert!(got.records.iter().all(|r| r.ttl == 200));
    assert!(
        cache
            .lookup(&name("www.example."), RecordType::AAAA, DNSClass::IN, T0)
            .is_none()
    );
}

/// Stores one unsigned A record `owner` -> 192.0.2.`last`.
fn put(
    cache: &RrsetCache,
    (owner, ttl, last): (&str, u32, u8),
    rank: Rank,
    security: Security,
    when: Timestamp,
) -> Result<RrsetInsert, RrsetError> {
    cache.insert(&[a(owner, ttl, last)], &[], rank, security, when)
}

const NS1: &str = "ns1.example.";

#[test]
fn lower_rank_never_replaces_fresh_higher_rank() {
    let cache = cache();
    let unchecked = Security::Unchecked;
    let _ = put(
        &cache,
        (NS1, 3600, 1),
        Rank::AuthoritativeAnswer,
        unchecked,
        T0,
    )
    .unwrap();
    for rank in [
        Rank::Additional,
        Rank::NonAuthoritativeAnswer,
        Rank::Authority,
    ] {
        assert_eq!(
            put(&cache, (NS1, 3600, 99), rank, unchecked, T0.plus(10)),
            Ok(RrsetInsert::KeptHigherRank {
                kept: Rank::AuthoritativeAnswer
            })
        );
        assert_eq!(addresses(&lookup(&cache, NS1, T0.plus(10)).unwrap()), [1]);
    }
    // The same rank replaces: newer data from an equally trusted source.
    let _ = put(
        &cache,
        (NS1, 3600, 2),
        Rank::AuthoritativeAnswer,
        unchecked,
        T0.plus(20),
    )
    .unwrap();
    assert_eq!(addresses(&lookup(&cache, NS1, T0.plus(20)).unwrap()), [2]);
}

#[test]
fn higher_rank_replaces_lower_and_any_rank_replaces_expired() {
    let cache = cache();
    let unchecked = Security::Unchecked;
    let _ = put(&cache, (NS1, 100, 99), Rank::Additional, unchecked, T0).unwrap();
    let _ = put(&cache, (NS1, 100, 1), Rank::Authority, unchecked, T0).unwrap();
    assert_eq!(addresses(&lookup(&cache, NS1, T0).unwrap()), [1]);
    // Once the higher-ranked data expired, glue may take its place.
    let later = T0.plus(100);
    assert_eq!(
        put(&cache, (NS1, 100, 8), Rank::Additional, unchecked, later),
        Ok(RrsetInsert::Stored { ttl: 100 })
    );
    assert_eq!(addresses(&lookup(&cache, NS1, later).unwrap()), [8]);
}

#[test]
fn entry_expires_at_its_smallest_ttl_including_signatures() {
    let cache = cache();
    let (stored, _) = insert_signed_www(&cache, [300, 200], 120);
    assert_eq!(stored, RrsetInsert::Stored { ttl: 120 });
    assert_eq!(lookup(&cache, "www.example.", T0.plus(119)).unwrap().ttl, 1);
    assert!(lookup(&cache, "www.example.", T0.plus(120)).is_none());
    assert_eq!(cache.stats().expirations, 1);
}

#[test]
fn bogus_data_is_kept_only_for_the_bogus_limit() {
    let cache = cache();
    let bad = ("bad.example.", 86_400, 1);
    let stored = put(&cache, bad, Rank::AuthoritativeAnswer, Security::Bogus, T0);
    assert_eq!(stored, Ok(RrsetInsert::Stored { ttl: 60 }));
    assert!(lookup(&cache, bad.0, T0.plus(59)).is_some());
    assert!(lookup(&cache, bad.0, T0.plus(60)).is_none());
    // A configured limit above RFC 9520's five minutes is cut to it.
    let long = RrsetCache::new(CacheLimits {
        bogus_ttl: 86_400,
        ..CacheLimits::default()
    });
    assert_eq!(
        put(&long, bad, Rank::Authority, Security::Bogus, T0),
        Ok(RrsetInsert::Stored { ttl: MAX_BOGUS_TTL })
    );
}

fn set_security(cache: &RrsetCache, owner: &str, security: Security, when: Timestamp) -> bool {
    cache.set_security(&name(owner), RecordType::A, DNSClass::IN, security, when)
}

const WWW: &str = "www.example.";

/// A cache holding `owner`/A (TTL 3600) stored at T0 as an authoritative
/// answer not validated yet.
fn cache_with_unchecked(owner: &str) -> RrsetCache {
    let cache = cache();
    let stored = put(
        &cache,
        (owner, 3600, 1),
        Rank::AuthoritativeAnswer,
        Security::Unchecked,
        T0,
    );
    assert_eq!(stored, Ok(RrsetInsert::Stored { ttl: 3600 }));
    cache
}

#[test]
fn data_found_bogus_later_expires_within_the_bogus_limit() {
    let cache = cache_with_unchecked(WWW);
    let when = T0.plus(1000);
    assert!(set_security(&cache, WWW, Security::Bogus, when));
    let got = lookup(&cache, WWW, when).unwrap();
    assert_eq!((got.security, got.ttl), (Security::Bogus, 60));
    assert!(lookup(&cache, WWW, when.plus(60)).is_none());
    assert!(!set_security(&cache, WWW, Security::Secure, when.plus(60)));
}

#[test]
fn data_found_secure_later_keeps_its_ttl() {
    let cache = cache_with_unchecked(WWW);
    assert!(set_security(&cache, WWW, Security::Secure, T0));
    let got = lookup(&cache, WWW, T0.plus(600)).unwrap();
    assert_eq!((got.security, got.ttl), (Security::Secure, 3000));
}

#[test]
fn malformed_rrsets_are_refused() {
    let cache = cache();
    let insert = |records: &[Record], sigs: &[Record]| {
        cache.insert(records, sigs, Rank::Authority, Security::Unchecked, T0)
    };
    assert_eq!(insert(&[], &[]), Err(RrsetError::Empty));
    assert_eq!(
        insert(&[a("a.example.", 300, 1), a("b.example.", 300, 2)], &[]),
        Err(RrsetError::Mixed { index: 1 })
    );
    assert_eq!(
        insert(
            &[a("a.example.", 300, 1)],
            &[rrsig("a.example.", RecordType::AAAA, 300)]
        ),
        Err(RrsetError::NotItsRrsig { index: 0 })
    );
    assert_eq!(
        insert(
            &[a("a.example.", 300, 1)],
            &[rrsig("b.example.", RecordType::A, 300)]
        ),
        Err(RrsetError::NotItsRrsig { index: 0 })
    );
    assert_eq!(
        insert(&[a("a.example.", 0, 1)], &[]),
        Err(RrsetError::ZeroTtl)
    );
    assert_eq!(cache.stats().entries, 0);
}

#[test]
fn ranks_follow_rfc_2181_order() {
    assert_eq!(
        Rank::of(Section::Answer, true),
        Some(Rank::AuthoritativeAnswer)
    );
    assert_eq!(Rank::of(Section::Authority, true), Some(Rank::Authority));
    assert_eq!(
        Rank::of(Section::Answer, false),
        Some(Rank::NonAuthoritativeAnswer)
    );
    assert_eq!(Rank::of(Section::Authority, false), Some(Rank::Additional));
    assert_eq!(Rank::of(Section::Additional, true), Some(Rank::Additional));
    assert_eq!(Rank::of(Section::Question, true), None);
    assert!(Rank::AuthoritativeAnswer > Rank::Authority);
    assert!(Rank::Authority > Rank::NonAuthoritativeAnswer);
    assert!(Rank::NonAuthoritativeAnswer > Rank::Additional);
}

#[test]
fn memory_bound_holds_under_many_rrsets() {
    let budget = 64 * 1024;
    let cache = RrsetCache::new(CacheLimits {
        record_bytes: budget,
        shards: 2,
        ..CacheLimits::default()
    });
    for i in 0..3000u32 {
        let owner = format!("h{i}.example.");
        let _ = cache
            .insert(
                &[a(&owner, 300, 1), a(&owner, 300, 2)],
                &[rrsig(&owner, RecordType::A, 300)],
                Rank::Authority,
                Security::Unchecked,
                T0,
            )
            .unwrap();
        assert!(cache.stats().bytes <= budget);
    }
    let stats = cache.stats();
    assert!(stats.evictions > 0);
    assert_eq!(
        addresses(&lookup(&cache, "h2999.example.", T0).unwrap()),
        [1, 2]
    );
}
