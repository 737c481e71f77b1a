//! Every defect the manifest lists is really served: each test asks the
//! defect's server over loopback and checks the reply breaks DNS or DNSSEC
//! in the named way, against a control that shows the check can pass.

mod common;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use anchorage_testbed::authority::{POISON_ADDRESS, POISON_HOST, POISON_ZONE};
use anchorage_testbed::defects::{
    DEFECT_NSEC3_ITERATIONS, Defect, KEYTRAP_KEYS, KEYTRAP_SIGS, UNSUPPORTED_DIGEST_TYPE,
};
use anchorage_testbed::keys::{ALGORITHM_ED448, ALGORITHM_PRIVATEDNS, PRIVATE_ALGORITHM_NAME};
use anchorage_testbed::manifest::Category;
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_wire::canonical::{SignedData, signed_data};
use anchorage_wire::proto::dnssec::PublicKey;
use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::{RData, Record, RecordType};
use common::{QUERY_ID, count, tcp, try_udp, udp};

const NOW: u32 = 1_800_000_000;
const PLAN: AddressPlan = AddressPlan {
    net: 98,
    port: 5398,
};
/// How long the unresponsive server is given to stay silent; a working
/// server on the same testbed answers well within it.
const SILENCE: Duration = Duration::from_millis(500);

/// One testbed with every defect, shared by the tests of this file.
fn testbed() -> &'static Testbed {
    static TESTBED: OnceLock<Testbed> = OnceLock::new();
    TESTBED.get_or_init(|| {
        let hierarchy = build(HierarchyConfig {
            seed: 11,
            zones: 2,
            addresses: PLAN,
            validity: Validity::around(NOW, 3600, 86_400),
            defects: true,
        })
        .unwrap();
        Testbed::start_with_threads(hierarchy, 1).unwrap()
    })
}

/// The zone of `defect` and the address of the server that serves it.
fn zone_of(defect: Defect) -> (String, SocketAddr) {
    testbed();
    let index = Defect::ALL.iter().position(|d| *d == defect).unwrap();
    let ip = if defect.in_server() {
        PLAN.defect(index)
    } else {
        PLAN.host(0)
    };
    (
        format!("d-{}.com.", defect.name()),
        SocketAddr::from((ip, PLAN.port)),
    )
}

fn com_server() -> SocketAddr {
    SocketAddr::from((PLAN.tld(0), PLAN.port))
}

fn rrsigs(records: &[Record], covered: RecordType) -> Vec<RRSIG> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(s)) if s.input().type_covered == covered => {
                Some(s.clone())
            }
            _ => None,
        })
        .collect()
}

fn of_type(records: &[Record], rtype: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .cloned()
        .collect()
}

fn dnskeys(server: SocketAddr, zone: &str) -> Vec<DNSKEY> {
    tcp(server, zone, RecordType::DNSKEY, true)
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn parent_ds(zone: &str) -> Vec<DS> {
    udp(com_server(), zone, RecordType::DS, true)
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
            _ => None,
        })
        .collect()
}

/// Whether `sig` over `rrset` verifies with any of `keys`.
fn verifies(sig: &RRSIG, rrset: &[Record], keys: &[DNSKEY]) -> bool {
    let mut buf = SignedData::new();
    let data = signed_data(sig.input(), rrset, &mut buf).unwrap().to_vec();
    keys.iter().any(|k| {
        k.calculate_key_tag().ok() == Some(sig.input().key_tag)
            && k.public_key().verify(&data, sig.sig()).is_ok()
    })
}

/// The `www` A RRset and its RRSIGs from the zone of `defect`.
fn www_a(defect: Defect) -> (Vec<Record>, Vec<RRSIG>, Vec<DNSKEY>) {
    let (zone, server) = zone_of(defect);
    let reply = tcp(server, &format!("www.{zone}"), RecordType::A, true);
    (
        of_type(&reply.answers, RecordType::A),
        rrsigs(&reply.answers, RecordType::A),
        dnskeys(server, &zone),
    )
}

#[test]
fn the_manifest_lists_every_defect_with_its_verdict() {
    let manifest = testbed().manifest();
    for defect in Defect::ALL {
        let zone = format!("d-{}.com.", defect.name());
        let entry = manifest
            .entries
            .iter()
            .find(|e| e.name.ends_with(&zone))
            .unwrap_or_else(|| panic!("{defect:?} missing from the manifest"));
        if let Category::Bogus { reason } = &entry.category {
            assert_eq!(reason, defect.name());
        }
    }
}

#[test]
fn bad_signature_fails_where_the_control_zone_verifies() {
    let (a, sigs, keys) = www_a(Defect::BadSignature);
    assert_eq!(sigs.len(), 1);
    assert!(!verifies(&sigs[0], &a, &keys));
    // Same zone, same key: the DNSKEY RRset's signature is intact.
    let (zone, server) = zone_of(Defect::BadSignature);
    let reply = udp(server, &zone, RecordType::DNSKEY, true);
    let keyset = of_type(&reply.answers, RecordType::DNSKEY);
    let sig = &rrsigs(&reply.answers, RecordType::DNSKEY)[0];
    assert!(verifies(sig, &keyset, &keys));
}

#[test]
fn expired_signatures_ended_before_now_and_still_verify() {
    let (a, sigs, keys) = www_a(Defect::ExpiredRrsig);
    assert!(!sigs.is_empty());
    for sig in &sigs {
        assert!(sig.input().sig_expiration.get() < NOW);
        assert!(verifies(sig, &a, &keys), "only the dates are wrong");
    }
}

#[test]
fn not_yet_valid_signatures_start_after_now_and_still_verify() {
    let (a, sigs, keys) = www_a(Defect::NotYetValidRrsig);
    assert!(!sigs.is_empty());
    for sig in &sigs {
        assert!(sig.input().sig_inception.get() > NOW);
        assert!(verifies(sig, &a, &keys), "only the dates are wrong");
    }
}

#[test]
fn ds_mismatch_matches_no_dnskey_where_a_sound_zone_matches() {
    let (zone, server) = zone_of(Defect::DsMismatch);
    let keys = dnskeys(server, &zone);
    let ds = parent_ds(&zone);
    assert!(!ds.is_empty());
    let owner = anchorage_wire::proto::rr::Name::from_ascii(&zone).unwrap();
    assert!(
        !ds.iter()
            .any(|d| keys.iter().any(|k| d.covers(&owner, k).unwrap_or(false)))
    );
    // Control: the next defect zone's DS is sound.
    let (sound, sound_server) = zone_of(Defect::DnskeySignedByZskOnly);
    let sound_owner = anchorage_wire::proto::rr::Name::from_ascii(&sound).unwrap();
    let sound_keys = dnskeys(sound_server, &sound);
    assert!(parent_ds(&sound).iter().any(|d| {
        sound_keys
            .iter()
            .any(|k| d.covers(&sound_owner, k).unwrap_or(false))
    }));
}

#[test]
fn dnskey_rrset_is_signed_by_the_zsk_alone() {
    let (zone, server) = zone_of(Defect::DnskeySignedByZskOnly);
    let reply = udp(server, &zone, RecordType::DNSKEY, true);
    let keys = dnskeys(server, &zone);
    let sigs = rrsigs(&reply.answers, RecordType::DNSKEY);
    assert!(
        keys.iter().any(DNSKEY::secure_entry_point),
        "a KSK is there"
    );
    assert!(!sigs.is_empty());
    for sig in &sigs {
        let signer = keys
            .iter()
            .find(|k| k.calculate_key_tag().ok() == Some(sig.input().key_tag))
            .unwrap();
        assert!(!signer.secure_entry_point(), "signed by a KSK");
        assert!(verifies(
            sig,
            &of_type(&reply.answers, RecordType::DNSKEY),
            &keys
        ));
    }
}

#[test]
fn missing_rrsigs_leave_www_unsigned_with_do() {
    let (a, sigs, _) = www_a(Defect::MissingRrsigs);
    assert!(!a.is_empty());
    assert!(sigs.is_empty());
    let (zone, server) = zone_of(Defect::MissingRrsigs);
    let mail = udp(server, &format!("mail.{zone}"), RecordType::A, true);
    assert_eq!(count(&mail.answers, RecordType::RRSIG), 1, "control");
}

#[test]
fn missing_denial_gives_nxdomain_without_proof() {
    let (zone, server) = zone_of(Defect::MissingDenial);
    let reply = udp(server, &format!("nonexistent.{zone}"), RecordType::A, true);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(count(&reply.authorities, RecordType::SOA), 1);
    assert_eq!(count(&reply.authorities, RecordType::NSEC), 0);
    assert_eq!(count(&reply.authorities, RecordType::NSEC3), 0);
}

#[test]
fn unsupported_algorithm_zone_uses_ed448_down_to_its_ds() {
    let (zone, server) = zone_of(Defect::UnsupportedAlgorithm);
    let keys = dnskeys(server, &zone);
    assert!(!keys.is_empty());
    assert!(
        keys.iter()
            .all(|k| u8::from(k.public_key().algorithm()) == ALGORITHM_ED448)
    );
    assert!(
        parent_ds(&zone)
            .iter()
            .all(|d| u8::from(d.algorithm()) == ALGORITHM_ED448)
    );
}

#[test]
fn private_algorithm_zone_names_its_algorithm_in_keys_and_signatures() {
    let (a, sigs, keys) = www_a(Defect::PrivateAlgorithm);
    assert!(!a.is_empty() && !sigs.is_empty() && !keys.is_empty());
    for key in &keys {
        assert_eq!(u8::from(key.public_key().algorithm()), ALGORITHM_PRIVATEDNS);
        assert!(
            key.public_key()
                .public_bytes()
                .starts_with(PRIVATE_ALGORITHM_NAME)
        );
    }
    for sig in &sigs {
        assert_eq!(u8::from(sig.input().algorithm), ALGORITHM_PRIVATEDNS);
        assert!(sig.sig().starts_with(PRIVATE_ALGORITHM_NAME));
    }
    let (zone, _) = zone_of(Defect::PrivateAlgorithm);
    assert!(
        parent_ds(&zone)
            .iter()
            .all(|d| u8::from(d.algorithm()) == ALGORITHM_PRIVATEDNS)
    );
}

#[test]
fn unsupported_digest_ds_is_gost_only() {
    let (zone, _) = zone_of(Defect::UnsupportedDigest);
    let ds = parent_ds(&zone);
    assert!(!ds.is_empty());
    assert!(
        ds.iter()
            .all(|d| u8::from(d.digest_type()) == UNSUPPORTED_DIGEST_TYPE)
    );
}

#[test]
fn nsec3_denial_uses_500_iterations() {
    let (zone, server) = zone_of(Defect::Nsec3Iterations);
    let reply = udp(server, &format!("nonexistent.{zone}"), RecordType::A, true);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    let nsec3: Vec<u16> = reply
        .authorities
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC3(n)) => Some(n.iterations()),
            _ => None,
        })
        .collect();
    assert!(nsec3.len() >= 2, "{nsec3:?}");
    assert!(nsec3.iter().all(|i| *i == DEFECT_NSEC3_ITERATIONS));
}

#[test]
fn keytrap_zone_makes_a_naive_validator_try_every_key_with_every_signature() {
    let (a, sigs, keys) = www_a(Defect::KeyTrap);
    let tag = sigs.last().unwrap().input().key_tag;
    let colliding = keys
        .iter()
        .filter(|k| k.calculate_key_tag().ok() == Some(tag))
        .count();
    assert_eq!(colliding, KEYTRAP_KEYS);
    assert_eq!(sigs.len(), KEYTRAP_SIGS);
    assert!(sigs.iter().all(|s| s.input().key_tag == tag));
    // Only the last signature holds, so trying pairs in order costs
    // KEYTRAP_KEYS * (KEYTRAP_SIGS - 1) failures first.
    let good: Vec<bool> = sigs.iter().map(|s| verifies(s, &a, &keys)).collect();
    assert_eq!(good.iter().filter(|g| **g).count(), 1);
    assert!(good.last().copied().unwrap());
    // Small zone all the same: the DNSKEY RRset fits one TCP message.
    let (zone, server) = zone_of(Defect::KeyTrap);
    let reply = tcp(server, &zone, RecordType::DNSKEY, true);
    assert!(reply.answers.len() > KEYTRAP_KEYS);
}

#[test]
fn cname_loop_answers_each_link_once() {
    let (zone, server) = zone_of(Defect::CnameLoop);
    let reply = udp(server, &format!("loop1.{zone}"), RecordType::A, false);
    let links: Vec<(String, String)> = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::CNAME(c) => Some((r.name.to_ascii(), c.0.to_ascii())),
            _ => None,
        })
        .collect();
    assert_eq!(
        links,
        [
            (format!("loop1.{zone}"), format!("loop2.{zone}")),
            (format!("loop2.{zone}"), format!("loop1.{zone}")),
        ]
    );
    assert_eq!(count(&reply.answers, RecordType::A), 0);
}

#[test]
fn lame_server_refuses_its_own_zone() {
    let (zone, server) = zone_of(Defect::Lame);
    let reply = udp(server, &format!("www.{zone}"), RecordType::A, true);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(reply.answers.is_empty());
}

#[test]
fn unresponsive_server_stays_silent_while_others_answer() {
    let (zone, server) = zone_of(Defect::Unresponsive);
    let name = format!("www.{zone}");
    assert!(try_udp(server, &name, RecordType::A, true, SILENCE).is_none());
    // The same query to the parent is answered (a referral) at once.
    assert!(try_udp(com_server(), &name, RecordType::A, true, SILENCE).is_some());
}

#[test]
fn always_truncated_sets_tc_over_udp_and_answers_over_tcp() {
    let (zone, server) = zone_of(Defect::AlwaysTruncated);
    let name = format!("www.{zone}");
    let over_udp = udp(server, &name, RecordType::A, true);
    assert!(over_udp.metadata.truncation);
    assert!(over_udp.answers.is_empty());
    let over_tcp = tcp(server, &name, RecordType::A, true);
    assert!(!over_tcp.metadata.truncation);
    assert_eq!(count(&over_tcp.answers, RecordType::A), 1);
    assert_eq!(count(&over_tcp.answers, RecordType::RRSIG), 1);
}

#[test]
fn wrong_id_server_answers_under_another_id() {
    let (zone, server) = zone_of(Defect::WrongId);
    let reply = udp(server, &format!("www.{zone}"), RecordType::A, true);
    assert_ne!(reply.metadata.id, QUERY_ID);
    assert_eq!(count(&reply.answers, RecordType::A), 1);
}

#[test]
fn wrong_question_server_echoes_another_name() {
    let (zone, server) = zone_of(Defect::WrongQuestion);
    let asked = format!("www.{zone}");
    let reply = udp(server, &asked, RecordType::A, true);
    assert_eq!(reply.metadata.id, QUERY_ID);
    assert_eq!(reply.queries.len(), 1);
    assert_ne!(reply.queries[0].name().to_ascii(), asked);
    assert_eq!(count(&reply.answers, RecordType::A), 1);
}

#[test]
fn poisoning_server_adds_out_of_bailiwick_authority_and_additional() {
    let (zone, server) = zone_of(Defect::OutOfBailiwick);
    let bailiwick = anchorage_wire::proto::rr::Name::from_ascii(&zone).unwrap();
    let reply: Message = udp(server, &format!("www.{zone}"), RecordType::A, false);
    assert_eq!(count(&reply.answers, RecordType::A), 1);
    let outside = |records: &[Record]| {
        records
            .iter()
            .filter(|r| !bailiwick.zone_of(&r.name))
            .map(|r| (r.name.to_ascii(), r.data.clone()))
            .collect::<Vec<_>>()
    };
    let authority = outside(&reply.authorities);
    assert_eq!(authority.len(), 1);
    assert_eq!(authority[0].0, POISON_ZONE);
    let additional = outside(&reply.additionals);
    assert_eq!(additional.len(), 1);
    assert_eq!(additional[0].0, POISON_HOST);
    assert_eq!(additional[0].1, RData::A(POISON_ADDRESS.into()));
}
