//! Every RRSIG check of RFC 4035 §5.3 beyond the math, on signatures made here
//! with deterministic Ed25519 keys.

mod common;

use std::net::Ipv4Addr;
use std::num::NonZeroUsize;
use std::time::SystemTime;

use anchorage_verify::key::{FLAG_REVOKE, FLAG_SEP, FLAG_ZONE};
use anchorage_verify::{Budget, DnskeyVerifier, Job, Limits, Scratch, Verifier, VerifyError};
use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG, SigInput};
use anchorage_wire::proto::dnssec::{Algorithm, PublicKeyBuf};
use anchorage_wire::proto::rr::rdata::A;
use anchorage_wire::proto::rr::{Name, RData, Record, SerialNumber};
use anchorage_wire::{SignedData, signed_data};
use common::at;
use ring::signature::{Ed25519KeyPair, KeyPair};

const INCEPTION: u32 = 1_700_000_000;
const EXPIRATION: u32 = INCEPTION + 30 * 86_400;
const NOW: u32 = INCEPTION + 86_400;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// A zone key that signs: deterministic Ed25519 from `seed`.
struct Signer {
    pair: Ed25519KeyPair,
    owner: Name,
    flags: u16,
}

impl Signer {
    fn new(owner: &str, seed: u8, flags: u16) -> Self {
        Self {
            pair: Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap(),
            owner: name(owner),
            flags,
        }
    }

    fn dnskey(&self) -> DNSKEY {
        DNSKEY::with_flags(
            self.flags,
            PublicKeyBuf::new(self.pair.public_key().as_ref().to_vec(), Algorithm::ED25519),
        )
    }

    fn dnskey_record(&self) -> Record {
        Record::from_rdata(
            self.owner.clone(),
            3600,
            RData::DNSSEC(DNSSECRData::DNSKEY(self.dnskey())),
        )
    }

    fn verifier(&self) -> DnskeyVerifier {
        DnskeyVerifier::new(&self.owner, &self.dnskey())
    }

    fn input(&self, rrset: &[Record]) -> SigInput {
        SigInput {
            type_covered: rrset[0].record_type(),
            algorithm: Algorithm::ED25519,
            num_labels: rrset[0].name.num_labels(),
            original_ttl: 3600,
            sig_expiration: SerialNumber::new(EXPIRATION),
            sig_inception: SerialNumber::new(INCEPTION),
            key_tag: self.verifier().tag(),
            signer_name: self.owner.clone(),
        }
    }

    fn sign_with(&self, rrset: &[Record], input: SigInput) -> Record {
        let mut buf = SignedData::new();
        let data = signed_data(&input, rrset, &mut buf).unwrap();
        let sig = self.pair.sign(data).as_ref().to_vec();
        Record::from_rdata(
            rrset[0].name.clone(),
            3600,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        )
    }

    fn sign(&self, rrset: &[Record]) -> Record {
        self.sign_with(rrset, self.input(rrset))
    }
}

fn a_rrset(owner: &str, ttl: u32) -> Vec<Record> {
    [1, 2, 3]
        .map(|n| Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::new(192, 0, 2, n)))))
        .to_vec()
}

fn check(
    key: &DnskeyVerifier,
    rrset: &[Record],
    rrsig: &Record,
    now: SystemTime,
) -> Result<anchorage_verify::Verified, VerifyError> {
    Verifier::default().verify_rrset(
        key,
        rrset,
        rrsig,
        now,
        &mut Budget::default(),
        &mut Scratch::new(),
    )
}

fn zsk() -> Signer {
    Signer::new("example.net.", 1, FLAG_ZONE)
}

#[test]
fn a_good_signature_verifies() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let v = check(&s.verifier(), &rrset, &s.sign(&rrset), at(NOW)).unwrap();
    assert!(!v.wildcard && !v.memo_hit);
}

#[test]
fn rrset_order_and_owner_case_do_not_matter() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let sig = s.sign(&rrset);
    let mut shuffled = a_rrset("WWW.Example.NET.", 300);
    shuffled.reverse();
    assert!(check(&s.verifier(), &shuffled, &sig, at(NOW)).is_ok());
}

#[test]
fn one_flipped_bit_in_signature_data_or_key_fails() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let sig = s.sign(&rrset);
    let flipped = common::flip_signature_bit(&sig, 0);
    assert_eq!(
        check(&s.verifier(), &rrset, &flipped, at(NOW)),
        Err(VerifyError::BadSignature {
            tag: s.verifier().tag()
        })
    );

    let mut data = rrset.clone();
    data[1] = Record::from_rdata(
        name("www.example.net."),
        300,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 3 ^ 0x80))),
    );
    assert!(matches!(
        check(&s.verifier(), &data, &sig, at(NOW)),
        Err(VerifyError::BadSignature { .. })
    ));

    // A flipped key bit changes the tag too; force the tag so the math is what fails.
    let mut key = s.pair.public_key().as_ref().to_vec();
    key[5] ^= 0x01;
    let bad_key = DnskeyVerifier::from_parts(&s.owner, FLAG_ZONE, 15, &key);
    let mut input = s.input(&rrset);
    input.key_tag = bad_key.tag();
    let sig = s.sign_with(&rrset, input);
    assert!(matches!(
        check(&bad_key, &rrset, &sig, at(NOW)),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn key_tag_mismatch_is_refused_without_spending_budget() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let mut input = s.input(&rrset);
    input.key_tag ^= 1;
    let sig = s.sign_with(&rrset, input);
    let mut budget = Budget::new(1);
    let err = Verifier::default().verify_rrset(
        &s.verifier(),
        &rrset,
        &sig,
        at(NOW),
        &mut budget,
        &mut Scratch::new(),
    );
    assert!(matches!(err, Err(VerifyError::KeyTagMismatch { .. })));
    assert_eq!(budget.spent(), 0);
}

#[test]
fn algorithm_mismatch_is_refused() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let mut input = s.input(&rrset);
    input.algorithm = Algorithm::ECDSAP256SHA256;
    let sig = s.sign_with(&rrset, input);
    assert_eq!(
        check(&s.verifier(), &rrset, &sig, at(NOW)),
        Err(VerifyError::AlgorithmMismatch { rrsig: 13, key: 15 })
    );
}

#[test]
fn signer_name_must_be_the_key_owner() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let mut input = s.input(&rrset);
    input.signer_name = name("net.");
    let sig = s.sign_with(&rrset, input);
    assert!(matches!(
        check(&s.verifier(), &rrset, &sig, at(NOW)),
        Err(VerifyError::SignerNotKeyOwner { .. })
    ));
}

#[test]
fn signer_must_be_an_ancestor_of_the_owner() {
    let s = Signer::new("example.org.", 2, FLAG_ZONE);
    let rrset = a_rrset("www.example.net.", 300);
    let sig = s.sign(&rrset);
    assert_eq!(
        check(&s.verifier(), &rrset, &sig, at(NOW)),
        Err(VerifyError::SignerNotAncestor)
    );
}

#[test]
fn key_without_zone_flag_cannot_verify() {
    let s = Signer::new("example.net.", 3, FLAG_SEP);
    let rrset = a_rrset("www.example.net.", 300);
    let sig = s.sign(&rrset);
    assert!(matches!(
        check(&s.verifier(), &rrset, &sig, at(NOW)),
        Err(VerifyError::NotZoneKey { .. })
    ));
}

#[test]
fn revoked_key_verifies_only_its_own_dnskey_self_signature() {
    let revoked = Signer::new("example.net.", 4, FLAG_ZONE | FLAG_SEP | FLAG_REVOKE);
    let other = Signer::new("example.net.", 5, FLAG_ZONE);
    let rrset = a_rrset("www.example.net.", 300);
    let sig = revoked.sign(&rrset);
    assert!(matches!(
        check(&revoked.verifier(), &rrset, &sig, at(NOW)),
        Err(VerifyError::RevokedKey { .. })
    ));

    let keys = vec![revoked.dnskey_record(), other.dnskey_record()];
    let self_sig = revoked.sign(&keys);
    assert!(check(&revoked.verifier(), &keys, &self_sig, at(NOW)).is_ok());

    let without = vec![other.dnskey_record()];
    let sig = revoked.sign(&without);
    assert!(matches!(
        check(&revoked.verifier(), &without, &sig, at(NOW)),
        Err(VerifyError::RevokedKey { .. })
    ));
}

#[test]
fn labels_field_above_owner_labels_is_refused() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let mut input = s.input(&rrset);
    input.num_labels = 4;
    let sig = Record::from_rdata(
        name("www.example.net."),
        3600,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, vec![0; 64]))),
    );
    assert_eq!(
        check(&s.verifier(), &rrset, &sig, at(NOW)),
        Err(VerifyError::LabelsExceedOwner {
            labels: 4,
            owner_labels: 3
        })
    );
}

#[test]
fn wildcard_expansion_verifies_and_is_reported() {
    let s = zsk();
    let wildcard = a_rrset("*.example.net.", 300);
    let sig = s.sign(&wildcard);
    let expanded = a_rrset("a.b.example.net.", 300);
    let sig = Record::from_rdata(name("a.b.example.net."), 3600, sig.data.clone());
    let v = check(&s.verifier(), &expanded, &sig, at(NOW)).unwrap();
    assert!(v.wildcard);
}

#[test]
fn validity_window_bounds_are_inclusive_and_one_second_out_fails() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let sig = s.sign(&rrset);
    let key = s.verifier();
    assert!(check(&key, &rrset, &sig, at(INCEPTION)).is_ok());
    assert!(check(&key, &rrset, &sig, at(EXPIRATION)).is_ok());
    assert_eq!(
        check(&key, &rrset, &sig, at(INCEPTION - 1)),
        Err(VerifyError::NotYetValid {
            inception: INCEPTION,
            now: INCEPTION - 1
        })
    );
    assert_eq!(
        check(&key, &rrset, &sig, at(EXPIRATION + 1)),
        Err(VerifyError::Expired {
            expiration: EXPIRATION,
            now: EXPIRATION + 1
        })
    );
}

#[test]
fn clock_skew_tolerance_widens_the_window() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let sig = s.sign(&rrset);
    let v = Verifier::new(Limits {
        clock_skew: 60,
        ..Limits::default()
    });
    let run = |t| {
        v.verify_rrset(
            &s.verifier(),
            &rrset,
            &sig,
            at(t),
            &mut Budget::default(),
            &mut Scratch::new(),
        )
    };
    assert!(run(INCEPTION - 60).is_ok());
    assert!(run(EXPIRATION + 60).unwrap().ttl == 0);
    assert!(matches!(
        run(INCEPTION - 61),
        Err(VerifyError::NotYetValid { .. })
    ));
    assert!(matches!(
        run(EXPIRATION + 61),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn inverted_window_is_refused() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let mut input = s.input(&rrset);
    input.sig_inception = SerialNumber::new(EXPIRATION);
    input.sig_expiration = SerialNumber::new(INCEPTION);
    let sig = s.sign_with(&rrset, input);
    assert!(matches!(
        check(&s.verifier(), &rrset, &sig, at(NOW)),
        Err(VerifyError::InvertedWindow { .. })
    ));
}

#[test]
fn window_across_the_2106_wrap_is_valid() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let mut input = s.input(&rrset);
    input.sig_inception = SerialNumber::new(u32::MAX - 100);
    input.sig_expiration = SerialNumber::new(1000);
    let sig = s.sign_with(&rrset, input);
    assert!(check(&s.verifier(), &rrset, &sig, at(10)).is_ok());
}

#[test]
fn ttl_is_capped_by_received_original_rrsig_ttl_and_remaining_lifetime() {
    let s = zsk();
    let long = a_rrset("www.example.net.", 86_400);
    let sig = s.sign(&long);
    let key = s.verifier();
    // Original TTL 3600 caps a received 86400.
    assert_eq!(check(&key, &long, &sig, at(NOW)).unwrap().ttl, 3600);
    // Received 300 is below everything.
    let short = a_rrset("www.example.net.", 300);
    assert_eq!(check(&key, &short, &sig, at(NOW)).unwrap().ttl, 300);
    // The RRSIG record's own TTL.
    let mut low_sig = sig.clone();
    low_sig.ttl = 100;
    assert_eq!(check(&key, &long, &low_sig, at(NOW)).unwrap().ttl, 100);
    // 42 seconds before expiry.
    assert_eq!(
        check(&key, &long, &sig, at(EXPIRATION - 42)).unwrap().ttl,
        42
    );
}

#[test]
fn rrsig_of_another_type_owner_or_record_kind_is_refused() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let sig = s.sign(&rrset);
    let key = s.verifier();
    let other_owner = a_rrset("ftp.example.net.", 300);
    assert_eq!(
        check(&key, &other_owner, &sig, at(NOW)),
        Err(VerifyError::OwnerMismatch)
    );
    let keys = vec![s.dnskey_record()];
    let sig_keys = Record::from_rdata(name("example.net."), 3600, sig.data.clone());
    assert_eq!(
        check(&key, &keys, &sig_keys, at(NOW)),
        Err(VerifyError::TypeMismatch {
            covered: 1,
            rrset: 48
        })
    );
    assert_eq!(
        check(&key, &rrset, &rrset[0], at(NOW)),
        Err(VerifyError::NotRrsig { rtype: 1 })
    );
}

#[test]
fn second_verification_is_a_memo_hit_that_still_checks_the_window() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let sig = s.sign(&rrset);
    let key = s.verifier();
    let v = Verifier::default();
    let mut scratch = Scratch::new();
    let mut budget = Budget::new(1);
    assert!(
        !v.verify_rrset(&key, &rrset, &sig, at(NOW), &mut budget, &mut scratch)
            .unwrap()
            .memo_hit
    );
    let again = v
        .verify_rrset(&key, &rrset, &sig, at(NOW), &mut budget, &mut scratch)
        .unwrap();
    assert!(
        again.memo_hit,
        "same key, RRSIG and data: no second verification"
    );
    assert_eq!(budget.spent(), 1, "a memo hit spends no budget");
    assert!(matches!(
        v.verify_rrset(
            &key,
            &rrset,
            &sig,
            at(EXPIRATION + 1),
            &mut budget,
            &mut scratch
        ),
        Err(VerifyError::Expired { .. })
    ));
    let flipped = common::flip_signature_bit(&sig, 3);
    assert!(
        v.verify_rrset(
            &key,
            &rrset,
            &flipped,
            at(NOW),
            &mut Budget::new(1),
            &mut scratch
        )
        .is_err()
    );
}

#[test]
fn keytrap_colliding_keys_stop_at_the_budget() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let sig = common::flip_signature_bit(&s.sign(&rrset), 0);
    // Many keys sharing the RRSIG's tag and algorithm, none verifying.
    let keys: Vec<DnskeyVerifier> = (0..100).map(|_| s.verifier()).collect();
    let mut budget = Budget::new(8);
    let err = Verifier::default().verify_with_keys(
        &keys,
        &rrset,
        &sig,
        at(NOW),
        &mut budget,
        &mut Scratch::new(),
    );
    assert_eq!(err, Err(VerifyError::BudgetExhausted { limit: 8 }));
    assert_eq!(budget.spent(), 8);
}

#[test]
fn verify_with_keys_finds_the_matching_key_among_others() {
    let s = zsk();
    let rrset = a_rrset("www.example.net.", 300);
    let sig = s.sign(&rrset);
    let keys = vec![
        Signer::new("example.net.", 9, FLAG_ZONE).verifier(),
        s.verifier(),
    ];
    let found = Verifier::default()
        .verify_with_keys(
            &keys,
            &rrset,
            &sig,
            at(NOW),
            &mut Budget::new(1),
            &mut Scratch::new(),
        )
        .unwrap();
    assert_eq!(found.index, 1);
    let none = Verifier::default().verify_with_keys(
        &keys[..1],
        &rrset,
        &sig,
        at(NOW),
        &mut Budget::new(1),
        &mut Scratch::new(),
    );
    assert!(matches!(none, Err(VerifyError::NoMatchingKey { .. })));
}

#[test]
fn batch_on_two_threads_gives_each_job_its_own_result_in_order() {
    let s = zsk();
    let sets: Vec<Vec<Record>> = (0..40)
        .map(|i| a_rrset(&format!("h{i}.example.net."), 300))
        .collect();
    let mut sigs: Vec<Record> = sets.iter().map(|r| s.sign(r)).collect();
    for i in (0..40).step_by(3) {
        sigs[i] = common::flip_signature_bit(&sigs[i], 1);
    }
    let key = s.verifier();
    let jobs: Vec<Job<'_>> = sets
        .iter()
        .zip(&sigs)
        .map(|(rrset, rrsig)| Job {
            key: &key,
            rrset,
            rrsig,
        })
        .collect();
    let results = Verifier::default().verify_batch(&jobs, at(NOW), NonZeroUsize::new(2).unwrap());
    assert_eq!(results.len(), 40);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.is_ok(), i % 3 != 0, "job {i}: {r:?}");
    }
}
