use anchorage_wire::proto::dnssec::rdata::{NSEC, NSEC3, RRSIG, SigInput};
use anchorage_wire::proto::dnssec::{Algorithm, Nsec3HashAlgorithm};
use anchorage_wire::proto::rr::rdata::SOA;
use anchorage_wire::proto::rr::{RData, SerialNumber};
use data_encoding::BASE32HEX_NOPAD;

use super::*;

use RecordType::{A, AAAA, CNAME, DS, MX, NS, NSEC as NSEC_T, RRSIG as RRSIG_T, SOA as SOA_T, TXT};

const T0: Timestamp = Timestamp(10_000);
const TTL: u32 = 300;

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn cache(record_bytes: usize, shards: usize) -> AggressiveCache {
    AggressiveCache::new(CacheLimits {
        record_bytes,
        shards,
        max_negative_ttl: 3600,
        ..CacheLimits::default()
    })
}

fn rrsig(owner: &Name, covered: RecordType, signer: &Name) -> Record {
    let input = SigInput {
        type_covered: covered,
        algorithm: Algorithm::ECDSAP256SHA256,
        num_labels: owner.num_labels(),
        original_ttl: TTL,
        sig_expiration: SerialNumber::new(2_000_000_000),
        sig_inception: SerialNumber::new(1_000_000_000),
        key_tag: 4242,
        signer_name: signer.clone(),
    };
    let data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, vec![7; 64])));
    Record::from_rdata(owner.clone(), TTL, data)
}

fn nsec(owner: &str, next: &str, types: &[RecordType]) -> Record {
    let data = NSEC::new(name(next), types.iter().copied());
    Record::from_rdata(name(owner), TTL, RData::DNSSEC(DNSSECRData::NSEC(data)))
}

fn soa(zone: &str) -> Record {
    let data = SOA::new(
        name("ns.example."),
        name("host.example."),
        1,
        3600,
        600,
        86_400,
        TTL,
    );
    Record::from_rdata(name(zone), TTL, RData::SOA(data))
}

/// A complete NSEC chain of `zone` over `names` (apex first), each with
/// its types, as the zone's signer would build it.
fn nsec_chain(names: &[(&str, &[RecordType])]) -> Vec<Record> {
    let mut sorted: Vec<(Name, &[RecordType])> = names.iter().map(|&(n, t)| (name(n), t)).collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    (0..sorted.len())
        .map(|i| {
            let (owner, types) = &sorted[i];
            let next = &sorted[(i + 1) % sorted.len()].0;
            nsec(&owner.to_ascii(), &next.to_ascii(), types)
        })
        .collect()
}

/// A complete NSEC3 chain (SHA-1, no salt, no extra iterations, as RFC
/// 9276 §3.1 asks) of `zone` over `names`.
fn nsec3_chain(zone: &str, names: &[(&str, &[RecordType])], opt_out: bool) -> Vec<Record> {
    let params = params();
    let mut hashed: Vec<(HashedName, &[RecordType])> = names
        .iter()
        .map(|&(n, t)| (VerifyHasher::default().hash(&name(n), &params).unwrap(), t))
        .collect();
    hashed.sort_by_key(|h| h.0);
    (0..hashed.len())
        .map(|i| {
            let (owner, types) = hashed[i];
            let next = hashed[(i + 1) % hashed.len()].0;
            let data = NSEC3::new(
                Nsec3HashAlgorithm::SHA1,
                opt_out,
                0,
                Vec::new(),
                next.to_vec(),
                types.iter().copied(),
            );
            let label = BASE32HEX_NOPAD.encode(&owner).to_ascii_lowercase();
            let owner = name(&format!("{label}.{zone}"));
            Record::from_rdata(owner, TTL, RData::DNSSEC(DNSSECRData::NSEC3(data)))
        })
        .collect()
}

fn params() -> Nsec3Params {
    Nsec3Params {
        algorithm: 1,
        iterations: 0,
        salt: Box::new([]),
    }
}

fn store(c: &AggressiveCache, zone: &str, records: &[Record]) {
    for r in records {
        c.insert(&name(zone), TTL, r, &[], T0).unwrap();
    }
}

/// A cache holding `records`, the denial records of `zone`.
fn holding(zone: &str, records: &[Record]) -> AggressiveCache {
    let c = cache(1 << 20, 4);
    store(&c, zone, records);
    c
}

/// A cache holding the NSEC chain of example. over `names`.
fn holding_nsec_chain(names: &[(&str, &[RecordType])]) -> AggressiveCache {
    holding("example.", &nsec_chain(names))
}

fn look(c: &AggressiveCache, q: &str, qtype: RecordType) -> Option<AggressiveAnswer> {
    c.lookup(&name(q), qtype, &VerifyHasher::default(), T0.plus(10))
}

fn owners(answer: &AggressiveAnswer) -> Vec<String> {
    answer.proofs.iter().map(|r| r.name.to_ascii()).collect()
}

const APEX: &[RecordType] = &[SOA_T, NS, NSEC_T, RRSIG_T];
const HOST: &[RecordType] = &[A, NSEC_T, RRSIG_T];

#[test]
fn nsec_nxdomain_needs_a_cover_for_the_name_and_for_the_wildcard() {
    let chain = nsec_chain(&[
        ("example.", APEX),
        ("b.example.", HOST),
        ("d.example.", HOST),
    ]);
    // Only the range b→d: it covers c.example. but not *.example.
    let c = holding("example.", &chain[1..2]);
    assert_eq!(look(&c, "c.example.", A), None, "no wildcard cover yet");
    store(&c, "example.", &chain[..1]);
    let got = look(&c, "C.Example.", A).unwrap();
    assert_eq!(got.denial, Denial::NxDomain);
    assert_eq!(owners(&got), ["b.example.", "example."]);
    assert_eq!(got.ttl, TTL - 10);
    // The last range wraps to the apex and covers names after d.
    store(&c, "example.", &chain[2..]);
    let after = look(&c, "zz.example.", MX).unwrap();
    assert_eq!(after.denial, Denial::NxDomain);
    assert_eq!(owners(&after), ["d.example.", "example."]);
    assert_eq!(look(&c, "other.test.", A), None, "zone not held");
}

#[test]
fn nsec_nodata_needs_a_match_lacking_the_type_and_cname() {
    let c = holding_nsec_chain(&[
        ("example.", APEX),
        ("alias.example.", &[CNAME, NSEC_T, RRSIG_T]),
        ("host.example.", HOST),
    ]);
    let got = look(&c, "host.example.", AAAA).unwrap();
    assert_eq!(got.denial, Denial::NoData);
    assert_eq!(owners(&got), ["host.example."]);
    assert_eq!(look(&c, "host.example.", A), None, "type exists");
    assert_eq!(look(&c, "alias.example.", TXT), None, "CNAME answers");
}

#[test]
fn nsec_existing_wildcard_gives_wildcard_nodata_or_nothing() {
    let c = holding_nsec_chain(&[
        ("example.", APEX),
        ("*.example.", &[TXT, NSEC_T, RRSIG_T]),
        ("m.example.", HOST),
    ]);
    let got = look(&c, "q.example.", A).unwrap();
    assert_eq!(got.denial, Denial::NoData);
    assert_eq!(owners(&got), ["m.example.", "*.example."]);
    assert_eq!(look(&c, "q.example.", TXT), None, "wildcard answers TXT");
}

#[test]
fn nsec_empty_non_terminal_gives_nodata() {
    let c = holding_nsec_chain(&[("example.", APEX), ("a.ent.example.", HOST)]);
    let got = look(&c, "ent.example.", A).unwrap();
    assert_eq!(got.denial, Denial::NoData);
    assert_eq!(owners(&got), ["example."]);
}

#[test]
fn names_below_a_delegation_or_dname_are_not_denied() {
    let c = holding_nsec_chain(&[
        ("example.", APEX),
        ("child.example.", &[NS, NSEC_T, RRSIG_T]),
        ("moved.example.", &[RecordType::DNAME, NSEC_T, RRSIG_T]),
    ]);
    assert_eq!(look(&c, "www.child.example.", A), None);
    assert_eq!(look(&c, "www.moved.example.", A), None);
    assert_eq!(look(&c, "child.example.", A), None, "the child answers");
    let ds = look(&c, "child.example.", DS).unwrap();
    assert_eq!(
        (ds.denial, owners(&ds)),
        (Denial::NoData, vec!["child.example.".to_owned()])
    );
}

#[test]
fn ds_denial_comes_from_the_parent_zone() {
    // The child's own apex NSEC lacks DS, as every apex NSEC does; it must
    // not deny the DS that the parent holds.
    let c = holding(
        "child.example.",
        &nsec_chain(&[("child.example.", APEX), ("www.child.example.", HOST)]),
    );
    assert_eq!(look(&c, "child.example.", DS), None);
    assert!(look(&c, "child.example.", MX).is_some());
}

#[test]
fn nsec3_closest_encloser_proof_gives_nxdomain() {
    let chain = nsec3_chain(
        "example.",
        &[
            ("example.", APEX),
            ("a.example.", HOST),
            ("b.example.", HOST),
            ("c.example.", HOST),
        ],
        false,
    );
    let c = holding("example.", &chain);
    let got = look(&c, "x.y.a.example.", A).unwrap();
    assert_eq!(got.denial, Denial::NxDomain);
    // Closest encloser a.example. matched, y.a.example. and *.a.example.
    // covered: two or three distinct records.
    let h = |n: &str| {
        let hash = VerifyHasher::default().hash(&name(n), &params()).unwrap();
        format!(
            "{}.example.",
            BASE32HEX_NOPAD.encode(&hash).to_ascii_lowercase()
        )
    };
    assert_eq!(owners(&got)[0], h("a.example."));
    assert!((2..=3).contains(&got.proofs.len()));
    let nodata = look(&c, "b.example.", MX).unwrap();
    assert_eq!(nodata.denial, Denial::NoData);
    assert_eq!(owners(&nodata), [h("b.example.")]);
    assert_eq!(look(&c, "b.example.", A), None);
}

#[test]
fn nsec3_opt_out_range_never_proves_nxdomain() {
    let names: &[(&str, &[RecordType])] = &[("example.", APEX), ("a.example.", HOST)];
    let c = holding("example.", &nsec3_chain("example.", names, true));
    assert_eq!(look(&c, "nothere.example.", A), None);
    // A match is still a match: NODATA holds with opt-out.
    assert_eq!(
        look(&c, "a.example.", MX).map(|a| a.denial),
        Some(Denial::NoData)
    );
    let plain = holding("example.", &nsec3_chain("example.", names, false));
    assert_eq!(
        look(&plain, "nothere.example.", A).map(|a| a.denial),
        Some(Denial::NxDomain)
    );
}

#[test]
fn refused_hash_or_too_many_hashes_gives_no_answer() {
    let c = holding(
        "example.",
        &nsec3_chain(
            "example.",
            &[("example.", APEX), ("a.example.", HOST)],
            false,
        ),
    );
    let refuse = |_: &Name, _: &Nsec3Params| None;
    let at = T0.plus(1);
    assert!(c.lookup(&name("q.example."), A, &refuse, at).is_none());
    assert!(
        c.lookup(&name("q.example."), A, &VerifyHasher::default(), at)
            .is_some()
    );
    let deep = format!("{}example.", "l.".repeat(MAX_NSEC3_HASHES_PER_LOOKUP));
    assert!(
        c.lookup(&name(&deep), A, &VerifyHasher::default(), at)
            .is_none()
    );
}

#[test]
fn ranges_and_soa_expire_with_the_injected_clock() {
    let c = cache(1 << 20, 4);
    let zone = name("example.");
    let chain = nsec_chain(&[("example.", APEX), ("m.example.", HOST)]);
    c.insert(&zone, 100, &chain[0], &[], T0).unwrap();
    c.insert(&zone, 300, &chain[1], &[], T0).unwrap();
    c.insert_soa(&zone, 50, &soa("example."), &[], T0).unwrap();
    let hasher = VerifyHasher::default();
    let at = |secs| c.lookup(&name("a.example."), A, &hasher, T0.plus(secs));
    let early = at(20).unwrap();
    assert_eq!((early.ttl, early.soa.len()), (30, 1));
    assert!(early.proofs.iter().all(|r| r.ttl <= 30));
    let later = at(60).unwrap();
    assert_eq!(
        (later.ttl, later.soa.len()),
        (40, 0),
        "SOA gone, range stays"
    );
    assert_eq!(at(100), None);
    assert!(c.stats().expirations >= 1);
    let z = c.lookup(&name("z.example."), A, &hasher, T0.plus(100));
    assert_eq!(z, None, "wildcard cover expired with the apex range");
    assert_eq!(
        c.lookup(&name("m.example."), MX, &hasher, T0.plus(299))
            .map(|a| a.ttl),
        Some(1)
    );
    assert_eq!(
        c.lookup(&name("m.example."), MX, &hasher, T0.plus(300)),
        None
    );
}

#[test]
fn rrsigs_and_soa_come_back_with_the_proof() {
    let c = cache(1 << 20, 4);
    let zone = name("example.");
    let chain = nsec_chain(&[("example.", APEX), ("m.example.", HOST)]);
    for r in &chain {
        c.insert(&zone, TTL, r, &[rrsig(&r.name, NSEC_T, &zone)], T0)
            .unwrap();
    }
    let soa_sig = rrsig(&zone, SOA_T, &zone);
    c.insert_soa(
        &zone,
        TTL,
        &soa("example."),
        std::slice::from_ref(&soa_sig),
        T0,
    )
    .unwrap();
    let got = look(&c, "b.example.", A).unwrap();
    let types: Vec<RecordType> = got.proofs.iter().map(Record::record_type).collect();
    assert_eq!(types, [NSEC_T, RRSIG_T]);
    let soa_types: Vec<RecordType> = got.soa.iter().map(Record::record_type).collect();
    assert_eq!(soa_types, [SOA_T, RRSIG_T]);
    assert_eq!(got.soa[1].data, soa_sig.data);
}

#[test]
fn malformed_ranges_are_refused() {
    let c = cache(1 << 20, 4);
    let zone = name("example.");
    let outside = nsec("a.example.", "b.other.", HOST);
    assert!(matches!(
        c.insert(&zone, TTL, &outside, &[], T0),
        Err(AggressiveError::OutsideZone { .. })
    ));
    let not_denial = soa("example.");
    assert!(matches!(
        c.insert(&zone, TTL, &not_denial, &[], T0),
        Err(AggressiveError::WrongType { .. })
    ));
    let mut bad_owner = nsec3_chain("example.", &[("example.", APEX)], false).remove(0);
    bad_owner.name = name("not-base32-zz.example.");
    assert!(matches!(
        c.insert(&zone, TTL, &bad_owner, &[], T0),
        Err(AggressiveError::Nsec3Owner { .. })
    ));
    let good = nsec("a.example.", "b.example.", HOST);
    assert_eq!(
        c.insert(&zone, 0, &good, &[], T0),
        Err(AggressiveError::ZeroTtl)
    );
    assert!(matches!(
        c.insert(&zone, TTL, &good, std::slice::from_ref(&good), T0),
        Err(AggressiveError::NotRrsig { .. })
    ));
    assert_eq!(c.stats().entries, 0);
}

/// A cheap deterministic xorshift step.
fn step(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn random_label(state: &mut u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
    let len = 1 + (step(state) % 20) as usize;
    (0..len)
        .map(|i| {
            let pick = (step(state) % 37) as usize;
            // No leading hyphen.
            char::from(ALPHABET[if i == 0 { pick % 36 } else { pick }])
        })
        .collect()
}

#[test]
fn thousand_random_subdomains_are_denied_from_two_ranges() {
    let names: &[(&str, &[RecordType])] = &[("example.", APEX), ("www.example.", HOST)];
    for chain in [nsec_chain(names), nsec3_chain("example.", names, false)] {
        let c = holding("example.", &chain);
        let mut state = 0x2545_F491_4F6C_DD1D;
        for _ in 0..1000 {
            let q = format!("{}.example.", random_label(&mut state));
            if q == "www.example." {
                continue;
            }
            let got = look(&c, &q, A).unwrap_or_else(|| panic!("{q} not denied"));
            assert_eq!(got.denial, Denial::NxDomain, "{q}");
            assert!(got.proofs.len() <= 3);
        }
        let stats = c.stats();
        assert_eq!(stats.entries, 2);
        assert!(stats.hits >= 999);
    }
}

fn owner(i: u32) -> String {
    format!("host{i:06}.a-rather-long-label-to-spill-names.example.")
}

/// Whether range `i` of the long-name test is held: NODATA at its owner.
fn held(c: &AggressiveCache, i: u32) -> bool {
    c.lookup(&name(&owner(i)), MX, &VerifyHasher::default(), T0)
        .is_some()
}

#[test]
fn memory_bound_holds_and_least_recently_used_ranges_go_first() {
    let budget = 64 * 1024;
    let c = cache(budget, 1);
    let zone = name("example.");
    for i in 0..2000 {
        let r = nsec(&owner(i), &owner(i + 1), HOST);
        c.insert(&zone, TTL, &r, &[], T0).unwrap();
        // Keep the first range in use, so LRU must pass over it.
        assert!(held(&c, 0));
        assert!(c.stats().bytes <= budget, "{} after {i}", c.stats().bytes);
    }
    let stats = c.stats();
    assert!(stats.evictions > 0);
    assert!(stats.entries > 50, "only {} ranges held", stats.entries);
    assert!(held(&c, 1999), "newest range evicted");
    assert!(held(&c, 0), "recently used range evicted");
    assert!(!held(&c, 1), "oldest unused range kept");
}

#[test]
fn range_larger_than_a_shard_is_refused_without_flushing() {
    let c = cache(16 * 1024, 1);
    let zone = name("example.");
    c.insert(&zone, TTL, &nsec("a.example.", "b.example.", HOST), &[], T0)
        .unwrap();
    let sigs: Vec<Record> = (0..200)
        .map(|_| rrsig(&name("c.example."), NSEC_T, &zone))
        .collect();
    let big = nsec("c.example.", "d.example.", HOST);
    assert!(matches!(
        c.insert(&zone, TTL, &big, &sigs, T0),
        Err(AggressiveError::TooLarge(_))
    ));
    assert_eq!(c.stats().entries, 1);
}
