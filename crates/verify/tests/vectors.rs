//! RFC example vectors and real captured root and .de data.

mod common;

use std::time::Duration;

use anchorage_verify::ds::{DIGEST_SHA256, ds_digest};
use anchorage_verify::{
    Budget, DsError, Limits, Scratch, Unsupported, Verifier, VerifyError, match_ds, nsec3_hash,
};
use anchorage_wire::proto::rr::{Name, RecordType};
use common::{base32hex, flip_signature_bit, hex, load};

fn verifier() -> Verifier {
    Verifier::new(Limits::default())
}

/// Verifies every RRSIG over `owner`/`rtype` in `file` with the file's keys at its `now`.
fn verify_all(file: &str, owner: &str, rtype: RecordType, signer: &str) -> usize {
    let zone = load(file);
    let keys = zone.keys(signer);
    let rrset = zone.rrset(owner, rtype);
    let sigs = zone.rrsigs(owner, rtype);
    assert!(!sigs.is_empty(), "{file}: no RRSIG over {owner} {rtype}");
    let v = verifier();
    for sig in &sigs {
        let mut budget = Budget::default();
        let found = v
            .verify_with_keys(
                &keys,
                &rrset,
                sig,
                zone.now(),
                &mut budget,
                &mut Scratch::new(),
            )
            .unwrap_or_else(|e| panic!("{file} {owner} {rtype}: {e}"));
        assert!(!found.verified.memo_hit);
    }
    sigs.len()
}

#[test]
fn rfc5702_rsasha512_example_verifies() {
    assert_eq!(
        verify_all(
            "rfc5702-rsasha512.zone",
            "www.example.net.",
            RecordType::A,
            "example.net."
        ),
        1
    );
    assert_eq!(
        load("rfc5702-rsasha512.zone").keys("example.net.")[0].tag(),
        3740
    );
}

#[test]
fn rfc5702_rsasha256_example_with_512_bit_key_is_unsupported_not_bogus() {
    let zone = load("rfc5702-rsasha256.zone");
    let keys = zone.keys("example.net.");
    assert_eq!(keys[0].tag(), 9033);
    let err = verifier()
        .verify_rrset(
            &keys[0],
            &zone.rrset("www.example.net.", RecordType::A),
            &zone.rrsigs("www.example.net.", RecordType::A)[0],
            zone.now(),
            &mut Budget::default(),
            &mut Scratch::new(),
        )
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::Unsupported(Unsupported::RsaModulusBits { bits: 512 })
    );
    assert!(err.is_unsupported());
}

#[test]
fn rfc6605_p256_example_verifies_and_its_ds_matches() {
    assert_eq!(
        verify_all(
            "rfc6605-p256.zone",
            "www.example.net.",
            RecordType::A,
            "example.net."
        ),
        1
    );
    let zone = load("rfc6605-p256.zone");
    let key = &zone.keys("example.net.")[0];
    assert_eq!(key.tag(), 55648);
    assert_eq!(match_ds(&zone.ds("example.net.")[0], key), Ok(()));
}

#[test]
fn rfc6605_p384_example_verifies_and_its_sha384_ds_matches() {
    assert_eq!(
        verify_all(
            "rfc6605-p384.zone",
            "www.example.net.",
            RecordType::A,
            "example.net."
        ),
        1
    );
    let zone = load("rfc6605-p384.zone");
    let key = &zone.keys("example.net.")[0];
    assert_eq!(key.tag(), 10771);
    assert_eq!(match_ds(&zone.ds("example.net.")[0], key), Ok(()));
}

#[test]
fn rfc8080_ed25519_examples_verify_and_their_ds_match() {
    assert_eq!(
        verify_all(
            "rfc8080-ed25519.zone",
            "example.com.",
            RecordType::MX,
            "example.com."
        ),
        2
    );
    let zone = load("rfc8080-ed25519.zone");
    let keys = zone.keys("example.com.");
    let tags: Vec<u16> = keys
        .iter()
        .map(anchorage_verify::DnskeyVerifier::tag)
        .collect();
    assert_eq!(tags, [3613, 35217]);
    for ds in zone.ds("example.com.") {
        let key = keys.iter().find(|k| k.tag() == ds.key_tag()).unwrap();
        assert_eq!(match_ds(&ds, key), Ok(()));
    }
}

#[test]
fn rfc4034_ds_example_matches_its_key() {
    let zone = load("rfc4034-ds.zone");
    let key = &zone.keys("dskey.example.com.")[0];
    assert_eq!(key.tag(), 60485);
    assert_eq!(match_ds(&zone.ds("dskey.example.com.")[0], key), Ok(()));
}

#[test]
fn ds_of_another_owner_does_not_match() {
    let zone = load("rfc4034-ds.zone");
    let key = &zone.keys("dskey.example.com.")[0];
    let moved = anchorage_verify::DnskeyVerifier::from_parts(
        &Name::from_ascii("other.example.com.").unwrap(),
        key.flags(),
        key.algorithm(),
        key.public_key(),
    );
    assert_eq!(
        match_ds(&zone.ds("dskey.example.com.")[0], &moved),
        Err(DsError::DigestMismatch { digest_type: 1 })
    );
}

#[test]
fn root_ksk_tags_revoked_tags_and_ds_digests_match_the_published_values() {
    let zone = load("root-anchors.zone");
    let keys = zone.keys(".");
    let ds = zone.ds(".");
    let expected = [(19036, 19164), (20326, 20454), (38696, 38824)];
    for (key, (tag, revoked_tag)) in keys.iter().zip(expected) {
        assert_eq!(key.tag(), tag);
        let revoked = anchorage_verify::DnskeyVerifier::from_parts(
            &Name::root(),
            key.flags() | anchorage_verify::key::FLAG_REVOKE,
            key.algorithm(),
            key.public_key(),
        );
        assert_eq!(revoked.tag(), revoked_tag);
        let published = ds.iter().find(|d| d.key_tag() == tag).unwrap();
        assert_eq!(match_ds(published, key), Ok(()));
        assert_eq!(
            ds_digest(key, DIGEST_SHA256).unwrap().as_bytes(),
            published.digest()
        );
    }
}

/// Every RRSIG of a captured vector verifies at its `now` and fails one second after expiry.
fn captured(file: &str, needs: Option<&str>) {
    let zone = load(file);
    let mut keyring = zone.records.clone();
    if let Some(parent) = needs {
        keyring.extend(load(parent).records);
    }
    let all = common::Zone {
        records: keyring,
        now: zone.now,
    };
    let sigs: Vec<_> = zone
        .records
        .iter()
        .filter(|r| r.record_type() == RecordType::RRSIG)
        .cloned()
        .collect();
    assert!(!sigs.is_empty());
    for sig in &sigs {
        let input = anchorage_verify::rrsig::as_rrsig(sig)
            .unwrap()
            .input()
            .clone();
        let owner = sig.name.to_ascii();
        let rrset = zone.rrset(&owner, input.type_covered);
        let keys = all.keys(&input.signer_name.to_ascii());
        let v = verifier();
        let found = v
            .verify_with_keys(
                &keys,
                &rrset,
                sig,
                zone.now(),
                &mut Budget::default(),
                &mut Scratch::new(),
            )
            .unwrap_or_else(|e| panic!("{file}: {owner} {}: {e}", input.type_covered));
        assert!(found.verified.ttl <= input.original_ttl);

        let expiry = common::at(input.sig_expiration.get());
        let fresh = verifier();
        assert!(
            fresh
                .verify_with_keys(
                    &keys,
                    &rrset,
                    sig,
                    expiry,
                    &mut Budget::default(),
                    &mut Scratch::new()
                )
                .is_ok(),
            "{file}: valid at the expiry second itself"
        );
        assert!(
            matches!(
                fresh.verify_with_keys(
                    &keys,
                    &rrset,
                    sig,
                    expiry + Duration::from_secs(1),
                    &mut Budget::default(),
                    &mut Scratch::new()
                ),
                Err(VerifyError::Expired { .. })
            ),
            "{file}: {owner} must fail one second after expiry"
        );
        let flipped = flip_signature_bit(sig, 10);
        assert!(
            matches!(
                verifier().verify_with_keys(
                    &keys,
                    &rrset,
                    &flipped,
                    zone.now(),
                    &mut Budget::default(),
                    &mut Scratch::new()
                ),
                Err(VerifyError::BadSignature { .. })
            ),
            "{file}: {owner} flipped signature bit must fail"
        );
    }
}

#[test]
fn root_dnskey_2024_08_verifies_at_its_time() {
    captured("root-dnskey-2024-08.zone", None);
}

#[test]
fn root_dnskey_2025_08_verifies_at_its_time() {
    captured("root-dnskey-2025-08.zone", None);
}

#[test]
fn root_dnskey_2026_05_verifies_at_its_time() {
    captured("root-dnskey-2026-05.zone", None);
}

#[test]
fn de_chain_2026_05_verifies_at_its_time() {
    captured("de-chain-2026-05.zone", Some("root-dnskey-2026-05.zone"));
}

#[test]
fn de_chain_ds_records_match_the_child_keys() {
    let zone = load("de-chain-2026-05.zone");
    for (owner, tag) in [("de.", 26755), ("nic.de.", 26155)] {
        let keys = zone.keys(owner);
        let ds = &zone.ds(owner)[0];
        let key = keys.iter().find(|k| k.tag() == tag).unwrap();
        assert_eq!(match_ds(ds, key), Ok(()));
    }
}

#[test]
fn rfc5155_appendix_a_hashes_match() {
    let salt = hex("aabbccdd");
    for (name, expected) in [
        ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
        ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
        ("ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"),
        ("ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
        ("ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r"),
        ("w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"),
        ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
        ("x.w.example.", "b4um86eghhds6nea196smvmlo4ors995"),
        ("y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"),
        ("x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s"),
        ("xx.example.", "t644ebqk9bibcna874givr6joj62mlhv"),
    ] {
        let hash = nsec3_hash(&Name::from_ascii(name).unwrap(), 1, &salt, 12, 150).unwrap();
        assert_eq!(base32hex(&hash.0), expected, "{name}");
    }
}
