//! Verification allocates nothing once warm (STYLE.md: hot paths do not allocate).
//!
//! One test only: the counters are process-wide, so no other test may run
//! beside it in this binary.

mod common;

use std::alloc::System;
use std::hint::black_box;

use anchorage_verify::nsec3::{NSEC3_SHA1, nsec3_hash};
use anchorage_verify::rrsig::as_rrsig;
use anchorage_verify::{Budget, Limits, Scratch, Verifier, ds_digest};
use anchorage_wire::proto::rr::{Name, RecordType};
use anchorage_wire::{SignedData, signed_data};
use ring::signature::{RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, RsaPublicKeyComponents};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[allow(clippy::too_many_lines)]
#[test]
fn warm_verification_ds_and_nsec3_allocate_nothing_of_their_own() {
    let vectors = [
        (
            "rfc6605-p256.zone",
            "www.example.net.",
            RecordType::A,
            "example.net.",
        ),
        (
            "rfc6605-p384.zone",
            "www.example.net.",
            RecordType::A,
            "example.net.",
        ),
        (
            "rfc8080-ed25519.zone",
            "example.com.",
            RecordType::MX,
            "example.com.",
        ),
        ("root-dnskey-2026-05.zone", ".", RecordType::DNSKEY, "."),
    ];
    let loaded: Vec<_> = vectors
        .iter()
        .map(|(file, owner, rtype, signer)| {
            let zone = common::load(file);
            let keys = zone.keys(signer);
            let set = zone.rrset(owner, *rtype);
            let sig = zone.rrsigs(owner, *rtype)[0].clone();
            (zone.now(), keys, set, sig)
        })
        .collect();
    let cold = Verifier::new(Limits {
        memo_entries: 0,
        ..Limits::default()
    });
    let memo = Verifier::default();
    let mut scratch = Scratch::new();
    let mut run = |v: &Verifier, which: std::ops::Range<usize>| {
        for (now, keys, set, sig) in &loaded[which] {
            let found =
                v.verify_with_keys(keys, set, sig, *now, &mut Budget::default(), &mut scratch);
            assert!(found.is_ok(), "{found:?}");
        }
    };
    // Warm up: buffers grow to the largest RRset, the memo fills.
    run(&cold, 0..4);
    run(&memo, 0..4);

    // ECDSA and Ed25519 with no memo: the math runs, nothing allocates.
    let region = Region::new(GLOBAL);
    run(&cold, 0..3);
    let stats = region.change();
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "cold ECDSA/Ed25519: {stats:?}"
    );

    // Memo hits, RSA included.
    let region = Region::new(GLOBAL);
    run(&memo, 0..4);
    let stats = region.change();
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "memo hits: {stats:?}"
    );

    // DS digests and NSEC3 hashes.
    let name = Name::from_ascii("www.nic.de.").unwrap();
    let region = Region::new(GLOBAL);
    black_box(ds_digest(&loaded[3].1[1], 2).unwrap());
    black_box(nsec3_hash(&name, NSEC3_SHA1, b"\xaa\xbb", 10, 150).unwrap());
    let stats = region.change();
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "DS and NSEC3: {stats:?}"
    );

    // Cold RSA: ring 0.17 boxes its big integers on every verification; we
    // add nothing to what ring's own call allocates.
    let (now, keys, set, sig) = &loaded[3];
    let rrsig = as_rrsig(sig).unwrap();
    let mut buf = SignedData::new();
    let data = signed_data(rrsig.input(), set, &mut buf).unwrap().to_vec();
    let key = keys
        .iter()
        .find(|k| k.tag() == rrsig.input().key_tag)
        .unwrap();
    let public = key.public_key();
    let e_len = usize::from(public[0]);
    let ring_key = RsaPublicKeyComponents {
        n: &public[1 + e_len..],
        e: &public[1..=e_len],
    };
    let region = Region::new(GLOBAL);
    ring_key
        .verify(
            &RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            &data,
            rrsig.sig(),
        )
        .unwrap();
    let ring_only = region.change();
    let region = Region::new(GLOBAL);
    let ours = cold.verify_rrset(key, set, sig, *now, &mut Budget::default(), &mut scratch);
    let stats = region.change();
    assert!(ours.is_ok());
    // Under AWS-LC the key was parsed once and the Rust side allocates
    // nothing (its C heap is out of this allocator's sight).
    let expected = if cfg!(feature = "aws-lc") {
        0
    } else {
        ring_only.allocations
    };
    assert_eq!(
        stats.allocations, expected,
        "ours {stats:?}, ring's {ring_only:?}"
    );
    assert_eq!(stats.reallocations, 0);
}
