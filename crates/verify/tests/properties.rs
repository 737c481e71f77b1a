//! Invariants on random input: key tags, record order, single-bit changes,
//! and the memo's comparison against the signed data `wire` builds.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anchorage_verify::key::FLAG_ZONE;
use anchorage_verify::signed::{CompareScratch, same_signed_data};
use anchorage_verify::{Budget, DnskeyVerifier, Scratch, Verifier, VerifyError, key_tag};
use anchorage_wire::canonical::{CanonicalName, write_canonical_name};
use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG, SigInput};
use anchorage_wire::proto::dnssec::{Algorithm, PublicKeyBuf};
use anchorage_wire::proto::rr::rdata::{A, AAAA, MX, NS, TXT};
use anchorage_wire::proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use anchorage_wire::{SignedData, signed_data};
use proptest::prelude::*;
use ring::signature::{Ed25519KeyPair, KeyPair};

const INCEPTION: u32 = 1_700_000_000;
const EXPIRATION: u32 = INCEPTION + 30 * 86_400;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(INCEPTION + 86_400))
}

/// RFC 4034 Appendix B, written as the sum of big-endian 16-bit words (a
/// trailing odd byte is the high half of a last word) folded once: the
/// same number as the appendix's byte loop, computed another way.
fn reference_key_tag(rdata: &[u8]) -> u16 {
    let words: u64 = rdata
        .chunks(2)
        .map(|w| u64::from(w[0]) * 256 + u64::from(*w.get(1).unwrap_or(&0)))
        .sum();
    let folded = words + ((words >> 16) & 0xFFFF);
    (folded % 65_536) as u16
}

/// A label of 1 to 8 letters or digits in mixed case.
fn label() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9]{1,8}").unwrap()
}

/// `labels` under `example.NET.`, in mixed case.
fn owner_under_zone() -> impl Strategy<Value = Name> {
    proptest::collection::vec(label(), 1..4)
        .prop_map(|labels| Name::from_ascii(format!("{}.example.NET.", labels.join("."))).unwrap())
}

/// Record data of one type: small, so duplicates happen.
fn rdata_of(rtype: RecordType) -> BoxedStrategy<RData> {
    match rtype {
        RecordType::A => (0u8..6)
            .prop_map(|n| RData::A(A(Ipv4Addr::new(192, 0, 2, n))))
            .boxed(),
        RecordType::AAAA => (0u16..6)
            .prop_map(|n| RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n))))
            .boxed(),
        RecordType::TXT => proptest::collection::vec("[a-z ]{0,12}", 1..3)
            .prop_map(|t| RData::TXT(TXT::new(t)))
            .boxed(),
        RecordType::MX => (0u16..3, label())
            .prop_map(|(pref, host)| {
                let exchange = Name::from_ascii(format!("{host}.Example.net.")).unwrap();
                RData::MX(MX::new(pref, exchange))
            })
            .boxed(),
        _ => label()
            .prop_map(|host| RData::NS(NS(Name::from_ascii(format!("{host}.NET.")).unwrap())))
            .boxed(),
    }
}

/// An RRset of 1 to 8 records (duplicates possible) at one owner.
fn rrset() -> impl Strategy<Value = Vec<Record>> {
    let types = prop_oneof![
        Just(RecordType::A),
        Just(RecordType::AAAA),
        Just(RecordType::TXT),
        Just(RecordType::MX),
        Just(RecordType::NS),
    ];
    (owner_under_zone(), types).prop_flat_map(|(owner, rtype)| {
        proptest::collection::vec(rdata_of(rtype), 1..8).prop_map(move |data| {
            data.into_iter()
                .map(|d| Record::from_rdata(owner.clone(), 300, d))
                .collect()
        })
    })
}

/// The same name with each ASCII letter's case chosen by `bits`.
fn recase(name: &Name, bits: u64) -> Name {
    let text: String = name
        .to_ascii()
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if bits >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    Name::from_ascii(text).unwrap()
}

/// The zone key of `example.net.`: deterministic Ed25519.
struct Zone {
    pair: Ed25519KeyPair,
    key: DnskeyVerifier,
}

impl Zone {
    fn new() -> Self {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[42; 32]).unwrap();
        let dnskey = DNSKEY::with_flags(
            FLAG_ZONE,
            PublicKeyBuf::new(pair.public_key().as_ref().to_vec(), Algorithm::ED25519),
        );
        let key = DnskeyVerifier::new(&Name::from_ascii("example.net.").unwrap(), &dnskey);
        Self { pair, key }
    }

    fn input(&self, rrset: &[Record], labels: u8) -> SigInput {
        SigInput {
            type_covered: rrset[0].record_type(),
            algorithm: Algorithm::ED25519,
            num_labels: labels,
            original_ttl: 300,
            sig_expiration: SerialNumber::new(EXPIRATION),
            sig_inception: SerialNumber::new(INCEPTION),
            key_tag: self.key.tag(),
            signer_name: Name::from_ascii("Example.net.").unwrap(),
        }
    }

    fn sign(&self, rrset: &[Record]) -> Record {
        let input = self.input(rrset, rrset[0].name.num_labels());
        let mut buf = SignedData::new();
        let data = signed_data(&input, rrset, &mut buf).unwrap();
        let sig = self.pair.sign(data).as_ref().to_vec();
        Record::from_rdata(
            rrset[0].name.clone(),
            300,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        )
    }
}

fn verify(
    v: &Verifier,
    key: &DnskeyVerifier,
    rrset: &[Record],
    rrsig: &Record,
) -> Result<bool, VerifyError> {
    v.verify_rrset(
        key,
        rrset,
        rrsig,
        now(),
        &mut Budget::new(1),
        &mut Scratch::new(),
    )
    .map(|ok| ok.memo_hit)
}

/// A change to an RRset that may or may not change what it signs.
#[derive(Debug, Clone)]
enum Edit {
    Reverse,
    Recase(u64),
    Duplicate(usize),
    Drop(usize),
    Replace(usize, u8),
    OtherOwner(usize),
    OtherClass(usize),
    Labels(u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        Just(Edit::Reverse),
        any::<u64>().prop_map(Edit::Recase),
        any::<usize>().prop_map(Edit::Duplicate),
        any::<usize>().prop_map(Edit::Drop),
        (any::<usize>(), any::<u8>()).prop_map(|(i, n)| Edit::Replace(i, n)),
        any::<usize>().prop_map(Edit::OtherOwner),
        any::<usize>().prop_map(Edit::OtherClass),
        (0u8..6).prop_map(Edit::Labels),
    ]
}

/// Applies `edit` to a copy of `rrset` and of the labels field.
fn apply(edit: &Edit, rrset: &[Record], labels: u8) -> (Vec<Record>, u8) {
    let mut out = rrset.to_vec();
    let pick = |i: usize| i % out.len();
    match *edit {
        Edit::Reverse => out.reverse(),
        Edit::Recase(bits) => {
            for r in &mut out {
                r.name = recase(&r.name, bits);
            }
        }
        Edit::Duplicate(i) => out.push(out[pick(i)].clone()),
        Edit::Drop(i) => {
            if out.len() > 1 {
                out.remove(pick(i));
            }
        }
        Edit::Replace(i, n) => {
            let i = pick(i);
            out[i].data = RData::A(A(Ipv4Addr::new(198, 51, 100, n)));
        }
        Edit::OtherOwner(i) => {
            let i = pick(i);
            out[i].name = Name::from_ascii("elsewhere.example.net.").unwrap();
        }
        Edit::OtherClass(i) => {
            let i = pick(i);
            out[i].dns_class = DNSClass::CH;
        }
        Edit::Labels(l) => return (out, l),
    }
    (out, labels)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn key_tag_matches_the_rfc4034_appendix_b_reference(
        flags in any::<u16>(),
        algorithm in 2u8..=255,
        key in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut rdata = flags.to_be_bytes().to_vec();
        rdata.extend([3, algorithm]);
        rdata.extend(&key);
        prop_assert_eq!(key_tag(&rdata), reference_key_tag(&rdata));
        let owner = Name::from_ascii("example.").unwrap();
        prop_assert_eq!(
            DnskeyVerifier::from_parts(&owner, flags, algorithm, &key).tag(),
            reference_key_tag(&rdata)
        );
    }

    #[test]
    fn rsamd5_key_tag_is_the_modulus_bits_appendix_b1_names(
        key in proptest::collection::vec(any::<u8>(), 3..300),
    ) {
        let owner = Name::from_ascii("example.").unwrap();
        let n = key.len();
        prop_assert_eq!(
            DnskeyVerifier::from_parts(&owner, 256, 1, &key).tag(),
            u16::from_be_bytes([key[n - 3], key[n - 2]])
        );
    }

    #[test]
    fn a_signed_rrset_verifies_in_any_order_and_owner_case(
        (rrset, shuffled) in rrset().prop_flat_map(|r| (Just(r.clone()), Just(r).prop_shuffle())),
        bits in any::<u64>(),
    ) {
        let zone = Zone::new();
        let rrsig = zone.sign(&rrset);
        let mut shuffled = shuffled;
        for r in &mut shuffled {
            r.name = recase(&r.name, bits);
        }
        let cold = Verifier::new(anchorage_verify::Limits { memo_entries: 0, ..Default::default() });
        prop_assert_eq!(verify(&cold, &zone.key, &shuffled, &rrsig), Ok(false));
        let memo = Verifier::default();
        prop_assert_eq!(verify(&memo, &zone.key, &rrset, &rrsig), Ok(false));
        prop_assert_eq!(verify(&memo, &zone.key, &shuffled, &rrsig), Ok(true), "reordered: a memo hit");
    }

    #[test]
    fn one_flipped_bit_in_signature_or_rdata_fails_even_after_a_memo_hit(
        rrset in rrset(),
        sig_bit in 0usize..512,
        record in any::<usize>(),
        rdata_bit in any::<usize>(),
    ) {
        let zone = Zone::new();
        let rrsig = zone.sign(&rrset);
        let memo = Verifier::default();
        prop_assert_eq!(verify(&memo, &zone.key, &rrset, &rrsig), Ok(false));

        let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &rrsig.data else { unreachable!() };
        let mut bytes = sig.sig().to_vec();
        bytes[sig_bit / 8] ^= 1 << (sig_bit % 8);
        let flipped = Record::from_rdata(
            rrsig.name.clone(),
            rrsig.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(sig.input().clone(), bytes))),
        );
        prop_assert!(verify(&memo, &zone.key, &rrset, &flipped).is_err());

        // One bit of one record's canonical RDATA, written back through the
        // wire form so every type is covered.
        let mut changed = rrset.clone();
        let i = record % changed.len();
        let mut wire = Vec::new();
        anchorage_wire::canonical::write_canonical_rdata(&changed[i].data, &mut wire).unwrap();
        let bit = rdata_bit % (wire.len() * 8);
        wire[bit / 8] ^= 1 << (bit % 8);
        let decoded = RData::read(
            &mut anchorage_wire::proto::serialize::binary::BinDecoder::new(&wire),
            changed[i].record_type(),
            anchorage_wire::proto::serialize::binary::Restrict::new(wire.len() as u16),
        );
        // A flip may make the RDATA unreadable; that is not an RRset.
        prop_assume!(decoded.is_ok());
        changed[i].data = decoded.unwrap();
        let mut rewritten = Vec::new();
        anchorage_wire::canonical::write_canonical_rdata(&changed[i].data, &mut rewritten).unwrap();
        // Case flips inside names are canonicalised away: the same RRset.
        prop_assume!(rewritten != {
            let mut original = Vec::new();
            anchorage_wire::canonical::write_canonical_rdata(&rrset[i].data, &mut original).unwrap();
            original
        });
        let mut a = SignedData::new();
        let mut b = SignedData::new();
        let input = zone.input(&rrset, rrset[0].name.num_labels());
        // Where duplicates were, a flipped copy may only repeat another
        // record: the same set, rightly still verified.
        prop_assume!(
            signed_data(&input, &rrset, &mut a).unwrap()
                != signed_data(&input, &changed, &mut b).unwrap()
        );
        prop_assert!(
            matches!(verify(&memo, &zone.key, &changed, &rrsig), Err(VerifyError::BadSignature { .. })),
            "changed RDATA must be verified again, and fail"
        );
    }

    #[test]
    fn memo_comparison_agrees_with_wire_signed_data(
        rrset in rrset(),
        edit in edit(),
    ) {
        let zone = Zone::new();
        let labels = rrset[0].name.num_labels();
        let input = zone.input(&rrset, labels);
        let mut buf = SignedData::new();
        let stored = signed_data(&input, &rrset, &mut buf).unwrap().to_vec();

        let (edited, edited_labels) = apply(&edit, &rrset, labels);
        let edited_input = zone.input(&edited, edited_labels);
        let mut other = SignedData::new();
        let expected = signed_data(&edited_input, &edited, &mut other).is_ok_and(|d| d == stored);
        let mut signer = Vec::new();
        write_canonical_name(&edited_input.signer_name, &mut signer);
        let mut owner = CanonicalName::new();
        if let Some(first) = edited.first() {
            owner.set(&first.name);
        }
        let got = same_signed_data(&edited_input, &signer, &owner, &edited, &stored, &mut CompareScratch::default());
        prop_assert_eq!(got, expected, "{:?}", edit);
    }
}
