//! Canonical form and signed data (RFC 4034 §6, RFC 4035 §5.3.2), checked
//! three ways: real signatures from the root and .de must verify over our
//! signed data; hickory-proto's own encoder must agree on random RRsets;
//! and the cases where hickory departs from the RFCs are pinned.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anchorage_wire::canonical::{
    CanonicalError, CanonicalName, SignedData, signed_data, signed_data_with, write_canonical_name,
    write_canonical_rdata,
};
use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, NSEC, SigInput};
use anchorage_wire::proto::dnssec::{Algorithm, PublicKey, TBS};
use anchorage_wire::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, NULL, SOA, SRV, TXT};
use anchorage_wire::proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use anchorage_wire::proto::serialize::binary::{BinEncodable, BinEncoder};
use anchorage_wire::text::parse_records;
use proptest::prelude::*;

fn vector(file: &str) -> Vec<Record> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    parse_records(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn rrsig_of(record: &Record) -> Option<&anchorage_wire::proto::dnssec::rdata::RRSIG> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig),
        _ => None,
    }
}

/// ring's RSA public key from DNSKEY key material (RFC 3110 §2).
fn rsa_components(key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (elen, rest) = match key[0] {
        0 => (usize::from(u16::from_be_bytes([key[1], key[2]])), &key[3..]),
        n => (usize::from(n), &key[1..]),
    };
    (rest[elen..].to_vec(), rest[..elen].to_vec())
}

/// Verifies every RRSIG in `records` with the RSA/SHA-256 DNSKEYs in
/// `keys`, over the signed data we build; returns how many verified.
fn verify_all(records: &[Record], keys: &[Record], tamper: bool) -> (usize, usize) {
    let mut buf = SignedData::new();
    let (mut good, mut total) = (0, 0);
    for sig_record in records.iter().filter(|r| rrsig_of(r).is_some()) {
        let sig = rrsig_of(sig_record).unwrap();
        let input = sig.input();
        let mut rrset: Vec<Record> = records
            .iter()
            .filter(|r| r.name == sig_record.name && r.record_type() == input.type_covered)
            .cloned()
            .collect();
        assert!(!rrset.is_empty());
        if tamper {
            // Flip the last bit of one record's canonical RDATA.
            let mut bytes = Vec::new();
            write_canonical_rdata(&rrset[0].data, &mut bytes).unwrap();
            *bytes.last_mut().unwrap() ^= 1;
            rrset[0].data = RData::Unknown {
                code: input.type_covered,
                rdata: NULL::with(bytes),
            };
        }
        total += 1;
        let data = signed_data(input, &rrset, &mut buf).unwrap();
        let verified = keys.iter().any(|k| {
            let RData::DNSSEC(DNSSECRData::DNSKEY(key)) = &k.data else {
                return false;
            };
            if key.calculate_key_tag().unwrap() != input.key_tag || k.name != input.signer_name {
                return false;
            }
            assert_eq!(input.algorithm, Algorithm::RSASHA256);
            let (n, e) = rsa_components(key.public_key().public_bytes());
            let params = if n.len() * 8 >= 2048 {
                &ring::signature::RSA_PKCS1_2048_8192_SHA256
            } else {
                &ring::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            };
            ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(params, data, sig.sig())
                .is_ok()
        });
        good += usize::from(verified);
    }
    (good, total)
}

fn dnskeys(records: &[Record]) -> Vec<Record> {
    records
        .iter()
        .filter(|r| r.record_type() == RecordType::DNSKEY)
        .cloned()
        .collect()
}

#[test]
fn real_root_signatures_verify_over_our_signed_data() {
    for file in [
        "root-dnskey-2024-08.zone",
        "root-dnskey-2025-08.zone",
        "root-dnskey-2026-05.zone",
    ] {
        let records = vector(file);
        let (good, total) = verify_all(&records, &dnskeys(&records), false);
        assert!(total >= 1, "{file}: no signatures");
        assert_eq!(good, total, "{file}: {good} of {total} verified");
    }
}

#[test]
fn real_de_chain_signatures_verify_over_our_signed_data() {
    let root = vector("root-dnskey-2026-05.zone");
    let chain = vector("de-chain-2026-05.zone");
    let mut keys = dnskeys(&root);
    keys.extend(dnskeys(&chain));
    let (good, total) = verify_all(&chain, &keys, false);
    // DS, DNSKEY, DS, DNSKEY, SOA, NS, A: both RSA-2048 and RSA-1024 keys.
    assert_eq!(total, 7);
    assert_eq!(good, total);
}

#[test]
fn tampered_rrsets_fail_to_verify() {
    let root = vector("root-dnskey-2026-05.zone");
    let chain = vector("de-chain-2026-05.zone");
    let mut keys = dnskeys(&root);
    keys.extend(dnskeys(&chain));
    let (good, total) = verify_all(&chain, &keys, true);
    assert_eq!(total, 7);
    assert_eq!(good, 0, "a changed or missing record still verified");
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn input_for(rtype: RecordType, owner: &Name, labels: u8) -> SigInput {
    SigInput {
        type_covered: rtype,
        algorithm: Algorithm::ECDSAP256SHA256,
        num_labels: labels,
        original_ttl: 3600,
        sig_expiration: SerialNumber::new(1_900_000_000),
        sig_inception: SerialNumber::new(1_800_000_000),
        key_tag: 4242,
        signer_name: owner.base_name(),
    }
}

fn record(owner: &Name, data: RData) -> Record {
    Record::from_rdata(owner.clone(), 300, data)
}

fn hickory_tbs(input: &SigInput, rrset: &[Record]) -> Vec<u8> {
    TBS::from_input(&rrset[0].name, DNSClass::IN, input, rrset.iter())
        .unwrap()
        .as_ref()
        .to_vec()
}

#[test]
fn wildcard_expansion_signs_the_star_owner() {
    let owner = name("a.B.example.");
    let star = name("*.b.example.");
    let mut input = input_for(RecordType::A, &owner, 2);
    input.signer_name = name("example.");
    let expanded = [record(&owner, RData::A(A::new(192, 0, 2, 1)))];
    let direct = [record(&star, RData::A(A::new(192, 0, 2, 1)))];
    let mut buf = SignedData::new();
    let from_expanded = signed_data(&input, &expanded, &mut buf).unwrap().to_vec();
    // The star owner's own RRSIG has labels 2 as well (`*` is not counted).
    assert_eq!(
        from_expanded,
        signed_data(&input, &direct, &mut buf).unwrap()
    );
    let star_wire = b"\x01*\x01b\x07example\x00";
    assert!(
        from_expanded
            .windows(star_wire.len())
            .any(|w| w == star_wire)
    );
    assert_eq!(from_expanded, hickory_tbs(&input, &expanded));
}

fn canonical(name: &Name) -> CanonicalName {
    let mut c = CanonicalName::new();
    assert!(c.set(name));
    c
}

#[test]
fn canonical_name_compares_and_cuts_on_label_boundaries() {
    let www = canonical(&name("WWW.Example.NET."));
    assert_eq!(www.as_bytes(), b"\x03www\x07example\x03net\x00");
    assert_eq!((www.labels(), www.rrsig_labels()), (3, 3));
    assert!(www.eq_name(&name("www.EXAMPLE.net.")));
    assert!(!www.eq_name(&name("example.net.")));
    assert!(!www.eq_name(&name("www.example.net.example.")));
    assert!(!www.eq_name(&name("wwx.example.net.")));
    assert_eq!(www.suffix(2), Some(&b"\x07example\x03net\x00"[..]));
    assert_eq!(www.suffix(0), Some(&b"\x00"[..]));
    assert_eq!(www.suffix(3), Some(www.as_bytes()));
    assert_eq!(www.suffix(4), None);
    for ancestor in ["www.example.net.", "example.net.", "net.", "."] {
        let mut wire = Vec::new();
        write_canonical_name(&name(ancestor), &mut wire);
        assert!(www.is_at_or_below(&wire), "{ancestor}");
    }
    for other in ["xample.net.", "a.www.example.net.", "example.com."] {
        let mut wire = Vec::new();
        write_canonical_name(&name(other), &mut wire);
        assert!(!www.is_at_or_below(&wire), "{other}");
    }
    // A label holding what looks like a name: the tail matches the bytes
    // of `example.net.` but does not start on a label.
    let tricky = Name::from_labels([&b"x\x07example"[..], b"net"]).unwrap();
    let tricky = canonical(&tricky);
    assert!(tricky.as_bytes().ends_with(b"\x07example\x03net\x00"));
    assert!(!tricky.is_at_or_below(b"\x07example\x03net\x00"));
    assert_eq!(canonical(&name("*.a.example.")).rrsig_labels(), 2);
    assert_eq!(canonical(&Name::root()).as_bytes(), b"\x00");
}

#[test]
fn signed_data_with_canonical_names_equals_signed_data() {
    let mut a = SignedData::new();
    let mut b = SignedData::new();
    for (owner, labels) in [
        ("A.b.Example.", 3),
        ("a.B.example.", 2),
        ("*.b.example.", 2),
    ] {
        let owner = name(owner);
        let mut input = input_for(RecordType::A, &owner, labels);
        input.signer_name = name("Example.");
        let rrset = [
            record(&owner, RData::A(A::new(192, 0, 2, 2))),
            record(
                &name(&owner.to_ascii().to_uppercase()),
                RData::A(A::new(192, 0, 2, 1)),
            ),
        ];
        let mut signer = Vec::new();
        write_canonical_name(&input.signer_name, &mut signer);
        let want = signed_data(&input, &rrset, &mut a).unwrap();
        let got = signed_data_with(&input, &signer, &canonical(&owner), &rrset, &mut b).unwrap();
        assert_eq!(want, got);
    }
}

#[test]
fn labels_field_above_owner_labels_is_an_error() {
    let owner = name("a.example.");
    let rrset = [record(&owner, RData::A(A::new(192, 0, 2, 1)))];
    let mut buf = SignedData::new();
    assert_eq!(
        signed_data(&input_for(RecordType::A, &owner, 3), &rrset, &mut buf),
        Err(CanonicalError::LabelsExceedOwner {
            labels: 3,
            owner_labels: 2
        })
    );
    let star = name("*.example.");
    let rrset = [record(&star, RData::A(A::new(192, 0, 2, 1)))];
    assert!(matches!(
        signed_data(&input_for(RecordType::A, &star, 2), &rrset, &mut buf),
        Err(CanonicalError::LabelsExceedOwner { .. })
    ));
}

#[test]
fn records_outside_the_rrset_are_rejected() {
    let owner = name("a.example.");
    let other = name("b.example.");
    let mut buf = SignedData::new();
    let input = input_for(RecordType::A, &owner, 2);
    let empty: [Record; 0] = [];
    assert_eq!(
        signed_data(&input, &empty, &mut buf),
        Err(CanonicalError::EmptyRrset)
    );
    let mixed = [
        record(&owner, RData::A(A::new(192, 0, 2, 1))),
        record(&other, RData::A(A::new(192, 0, 2, 2))),
    ];
    assert_eq!(
        signed_data(&input, &mixed, &mut buf),
        Err(CanonicalError::NotInRrset { index: 1 })
    );
    let wrong_type = [record(
        &owner,
        RData::AAAA(AAAA::new(0, 0, 0, 0, 0, 0, 0, 1)),
    )];
    assert_eq!(
        signed_data(&input, &wrong_type, &mut buf),
        Err(CanonicalError::NotInRrset { index: 0 })
    );
    // Owner case does not matter (RFC 4343).
    let upper = [
        record(&owner, RData::A(A::new(192, 0, 2, 1))),
        record(&name("A.EXAMPLE."), RData::A(A::new(192, 0, 2, 2))),
    ];
    assert!(signed_data(&input, &upper, &mut buf).is_ok());
}

#[test]
fn canonical_order_is_by_lowercased_rdata_where_hickory_sorts_by_case() {
    // "B" (0x42) sorts before "a" (0x61) as sent, but after it once
    // lower-cased: RFC 4034 §6.3 orders the canonical form.
    let owner = name("example.");
    let rrset = [
        record(&owner, RData::MX(MX::new(10, name("B.example.")))),
        record(&owner, RData::MX(MX::new(10, name("a.example.")))),
    ];
    let mut buf = SignedData::new();
    let data = signed_data(&input_for(RecordType::MX, &owner, 1), &rrset, &mut buf).unwrap();
    let a = data.windows(3).position(|w| w == b"\x01a\x07").unwrap();
    let b = data.windows(3).position(|w| w == b"\x01b\x07").unwrap();
    assert!(a < b, "a.example. must come first");
    let hickory = hickory_tbs(&input_for(RecordType::MX, &owner, 1), &rrset);
    assert_ne!(
        data, hickory,
        "hickory-proto fixed its ordering: drop this note"
    );
}

#[test]
fn dname_target_is_lowercased_though_hickory_keeps_it_raw() {
    // hickory-proto decodes DNAME as unknown RDATA; RFC 4034 §6.2 lists
    // DNAME among the types whose embedded names are lower-cased.
    let owner = name("example.");
    let rrset = [record(
        &owner,
        RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(b"\x07Example\x03NET\x00".to_vec()),
        },
    )];
    let mut buf = SignedData::new();
    let data = signed_data(&input_for(RecordType::DNAME, &owner, 1), &rrset, &mut buf).unwrap();
    assert!(data.ends_with(b"\x07example\x03net\x00"));
    // A compressed DNAME target cannot be canonicalised without its message.
    let compressed = [record(
        &owner,
        RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(b"\x03www\xc0\x0c".to_vec()),
        },
    )];
    assert_eq!(
        signed_data(
            &input_for(RecordType::DNAME, &owner, 1),
            &compressed,
            &mut buf
        ),
        Err(CanonicalError::BadRdata { rtype: 39 })
    );
}

#[test]
fn nsec_next_name_keeps_its_case() {
    let data = RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
        name("Zz.Example."),
        [
            RecordType::A,
            RecordType::RRSIG,
            RecordType::NSEC,
            RecordType::CAA,
        ],
    )));
    let mut ours = Vec::new();
    write_canonical_rdata(&data, &mut ours).unwrap();
    assert!(ours.starts_with(b"\x02Zz\x07Example\x00"));
    assert_eq!(ours, hickory_canonical(&data));
}

fn hickory_canonical(data: &RData) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = BinEncoder::new(&mut out);
    encoder.set_canonical_form(true);
    data.emit(&mut encoder).unwrap();
    out
}

// ---- property tests against hickory-proto's encoder ----

fn arb_label(lower_only: bool) -> impl Strategy<Value = String> {
    if lower_only {
        "[a-z0-9]{1,8}".boxed()
    } else {
        "[a-zA-Z0-9]{1,8}".boxed()
    }
}

fn arb_name(lower_only: bool) -> impl Strategy<Value = Name> {
    prop::collection::vec(arb_label(lower_only), 1..4)
        .prop_map(|labels| Name::from_ascii(format!("{}.", labels.join("."))).unwrap())
}

/// RDATA of one type, names lower case so hickory's ordering (by the bytes
/// as sent) agrees with the canonical one.
fn arb_rdata(rtype: u8) -> BoxedStrategy<RData> {
    match rtype % 8 {
        0 => any::<[u8; 4]>()
            .prop_map(|b| RData::A(A::from(std::net::Ipv4Addr::from(b))))
            .boxed(),
        1 => any::<[u8; 16]>()
            .prop_map(|b| RData::AAAA(AAAA::from(std::net::Ipv6Addr::from(b))))
            .boxed(),
        2 => prop::collection::vec("[ -~]{0,20}", 1..3)
            .prop_map(|t| RData::TXT(TXT::new(t)))
            .boxed(),
        3 => (any::<u16>(), arb_name(true))
            .prop_map(|(p, n)| RData::MX(MX::new(p, n)))
            .boxed(),
        4 => arb_name(true).prop_map(|n| RData::NS(NS(n))).boxed(),
        5 => (any::<u16>(), any::<u16>(), any::<u16>(), arb_name(true))
            .prop_map(|(a, b, c, n)| RData::SRV(SRV::new(a, b, c, n)))
            .boxed(),
        6 => (arb_name(true), arb_name(true), any::<u32>())
            .prop_map(|(m, r, s)| RData::SOA(SOA::new(m, r, s, 7200, 3600, 1_209_600, 300)))
            .boxed(),
        _ => arb_name(true).prop_map(|n| RData::CNAME(CNAME(n))).boxed(),
    }
}

fn arb_rrset() -> impl Strategy<Value = (Name, Vec<RData>)> {
    (arb_name(false), 0u8..8)
        .prop_flat_map(|(owner, kind)| (Just(owner), prop::collection::vec(arb_rdata(kind), 1..8)))
}

/// Any-case RDATA of the types whose names canonical form lower-cases.
fn arb_mixed_case_rdata() -> impl Strategy<Value = RData> {
    prop_oneof![
        (any::<u16>(), arb_name(false)).prop_map(|(p, n)| RData::MX(MX::new(p, n))),
        arb_name(false).prop_map(|n| RData::NS(NS(n))),
        arb_name(false).prop_map(|n| RData::CNAME(CNAME(n))),
        (any::<u16>(), any::<u16>(), any::<u16>(), arb_name(false))
            .prop_map(|(a, b, c, n)| RData::SRV(SRV::new(a, b, c, n))),
        (arb_name(false), arb_name(false))
            .prop_map(|(m, r)| RData::SOA(SOA::new(m, r, 1, 2, 3, 4, 5))),
        (arb_name(false), prop::collection::vec(1u16..300, 0..6)).prop_map(|(n, types)| {
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                n,
                types.into_iter().map(RecordType::from),
            )))
        }),
    ]
}

fn distinct(rdatas: Vec<RData>) -> Vec<RData> {
    let mut seen = BTreeMap::new();
    for r in rdatas {
        let mut key = Vec::new();
        write_canonical_rdata(&r, &mut key).unwrap();
        seen.entry(key).or_insert(r);
    }
    seen.into_values().collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn signed_data_matches_hickory_tbs((owner, rdatas) in arb_rrset(), strip in 0u8..3) {
        let rdatas = distinct(rdatas);
        let rrset: Vec<Record> = rdatas.into_iter().map(|d| record(&owner, d)).collect();
        let labels = owner.num_labels().saturating_sub(strip);
        let input = input_for(rrset[0].record_type(), &owner, labels);
        let mut buf = SignedData::new();
        let ours = signed_data(&input, &rrset, &mut buf).unwrap();
        prop_assert_eq!(ours, &hickory_tbs(&input, &rrset)[..]);
    }

    #[test]
    fn canonical_rdata_matches_hickory_in_any_case(data in arb_mixed_case_rdata()) {
        let mut ours = Vec::new();
        write_canonical_rdata(&data, &mut ours).unwrap();
        prop_assert_eq!(ours, hickory_canonical(&data));
    }

    #[test]
    fn order_and_duplicates_do_not_change_signed_data(
        (owner, rdatas) in arb_rrset(),
        dup in any::<prop::sample::Index>(),
    ) {
        let rrset: Vec<Record> = rdatas.into_iter().map(|d| record(&owner, d)).collect();
        let input = input_for(rrset[0].record_type(), &owner, owner.num_labels());
        let mut buf = SignedData::new();
        let first = signed_data(&input, &rrset, &mut buf).unwrap().to_vec();
        let mut shuffled = rrset.clone();
        shuffled.reverse();
        shuffled.push(dup.get(&rrset).clone());
        prop_assert_eq!(&first, signed_data(&input, &shuffled, &mut buf).unwrap());
    }
}
