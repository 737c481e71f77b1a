//! The authoritative servers over real loopback sockets: signed answers
//! with DO only, referrals, denial proofs, wildcards, truncation, and the
//! root KSK rollover while serving.

mod common;

use std::net::SocketAddr;

use anchorage_testbed::{AddressPlan, HierarchyConfig, RolloverStep, Testbed, Validity, build};
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::{RData, RecordType};
use common::{count, tcp, udp};

const NOW: u32 = 1_800_000_000;

fn start(net: u8, port: u16) -> Testbed {
    let hierarchy = build(HierarchyConfig {
        seed: 3,
        zones: 10,
        addresses: AddressPlan { net, port },
        validity: Validity::around(NOW, 3600, 86_400),
        defects: false,
    })
    .unwrap();
    Testbed::start_with_threads(hierarchy, 1).unwrap()
}

#[test]
fn root_dnskey_is_signed_only_when_do_is_set() {
    let testbed = start(92, 5392);
    let root: SocketAddr = "127.92.0.1:5392".parse().unwrap();
    let signed = udp(root, ".", RecordType::DNSKEY, true);
    assert!(signed.metadata.authoritative);
    assert_eq!(count(&signed.answers, RecordType::DNSKEY), 2);
    assert_eq!(count(&signed.answers, RecordType::RRSIG), 1);
    let plain = udp(root, ".", RecordType::DNSKEY, false);
    assert_eq!(count(&plain.answers, RecordType::RRSIG), 0);
    testbed.stop();
}

#[test]
fn root_refers_to_a_tld_with_glue_and_signed_ds() {
    let testbed = start(93, 5393);
    let root: SocketAddr = "127.93.0.1:5393".parse().unwrap();
    let reply = udp(root, "www.z0.com.", RecordType::A, true);
    assert!(!reply.metadata.authoritative);
    assert!(reply.answers.is_empty());
    assert_eq!(count(&reply.authorities, RecordType::NS), 1);
    assert_eq!(count(&reply.authorities, RecordType::DS), 1);
    assert_eq!(count(&reply.authorities, RecordType::RRSIG), 1);
    assert_eq!(count(&reply.additionals, RecordType::A), 1);
    testbed.stop();
}

#[test]
fn nxdomain_and_wildcard_answers_carry_their_proofs() {
    let testbed = start(94, 5394);
    // z0.com. is hosted on host 0 (127.94.2.1) and signed with NSEC.
    let host: SocketAddr = "127.94.2.1:5394".parse().unwrap();
    let nx = udp(host, "nonexistent.z0.com.", RecordType::A, true);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(count(&nx.authorities, RecordType::SOA), 1);
    assert!(count(&nx.authorities, RecordType::NSEC) >= 1);
    let wild = udp(host, "host1.wild.z0.com.", RecordType::A, true);
    assert_eq!(wild.metadata.response_code, ResponseCode::NoError);
    assert_eq!(wild.answers[0].name.to_string(), "host1.wild.z0.com.");
    let sig = wild
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s.input().num_labels),
            _ => None,
        })
        .unwrap();
    assert_eq!(sig, 3, "labels field of a wildcard signature");
    assert_eq!(count(&wild.authorities, RecordType::NSEC), 1);
    // z1.net. (host 1) uses NSEC3: NXDOMAIN needs three NSEC3 records (some may coincide).
    let host1: SocketAddr = "127.94.2.2:5394".parse().unwrap();
    let nx3 = udp(host1, "nonexistent.z1.net.", RecordType::A, true);
    assert_eq!(nx3.metadata.response_code, ResponseCode::NXDomain);
    assert!(count(&nx3.authorities, RecordType::NSEC3) >= 2);
    testbed.stop();
}

#[test]
fn large_rrset_is_truncated_over_udp_and_whole_over_tcp() {
    let testbed = start(95, 5395);
    let host: SocketAddr = "127.95.2.1:5395".parse().unwrap();
    let over_udp = udp(host, "big.z0.com.", RecordType::TXT, true);
    assert!(over_udp.metadata.truncation);
    let over_tcp = tcp(host, "big.z0.com.", RecordType::TXT, true);
    assert!(!over_tcp.metadata.truncation);
    assert_eq!(count(&over_tcp.answers, RecordType::TXT), 1);
    assert_eq!(count(&over_tcp.answers, RecordType::RRSIG), 1);
    testbed.stop();
}

#[test]
fn root_ksk_rollover_steps_show_while_serving() {
    let testbed = start(96, 5396);
    let root: SocketAddr = "127.96.0.1:5396".parse().unwrap();
    let validity = Validity::around(NOW, 3600, 86_400);
    let keys = |m: &Message| count(&m.answers, RecordType::DNSKEY);
    let sigs = |m: &Message| count(&m.answers, RecordType::RRSIG);
    let old_anchor = testbed.trust_anchor();

    testbed
        .roll_root(RolloverStep::PublishNew, validity)
        .unwrap();
    let m = udp(root, ".", RecordType::DNSKEY, true);
    assert_eq!((keys(&m), sigs(&m)), (3, 1));

    testbed
        .roll_root(RolloverStep::DoubleSign, validity)
        .unwrap();
    let m = udp(root, ".", RecordType::DNSKEY, true);
    assert_eq!((keys(&m), sigs(&m)), (3, 2));

    testbed.roll_root(RolloverStep::StopOld, validity).unwrap();
    let m = udp(root, ".", RecordType::DNSKEY, true);
    assert_eq!((keys(&m), sigs(&m)), (3, 1));
    assert_ne!(testbed.trust_anchor(), old_anchor);

    testbed
        .roll_root(RolloverStep::RevokeOld, validity)
        .unwrap();
    let m = udp(root, ".", RecordType::DNSKEY, true);
    let revoked = m
        .answers
        .iter()
        .filter(|r| matches!(&r.data, RData::DNSSEC(DNSSECRData::DNSKEY(k)) if k.revoke()))
        .count();
    assert_eq!((keys(&m), sigs(&m), revoked), (3, 2, 1));

    testbed
        .roll_root(RolloverStep::RemoveOld, validity)
        .unwrap();
    let m = udp(root, ".", RecordType::DNSKEY, true);
    assert_eq!((keys(&m), sigs(&m)), (2, 1));
    assert!(
        testbed
            .roll_root(RolloverStep::DoubleSign, validity)
            .is_err()
    );
    testbed.stop();
}

#[test]
fn one_prepared_referral_serves_names_of_any_length_and_case() {
    let testbed = start(91, 5391);
    let root: SocketAddr = "127.91.0.1:5391".parse().unwrap();
    let short = udp(root, "z0.com.", RecordType::A, true);
    let deep = "A.Very.Deep.Name.Below.WWW.z0.COM.";
    let long = udp(root, deep, RecordType::AAAA, true);
    assert_eq!(long.queries[0].name().to_ascii(), deep, "client's case");
    assert_eq!(count(&long.authorities, RecordType::DS), 1);
    assert_eq!(long.authorities, short.authorities);
    assert_eq!(long.additionals, short.additionals);
    testbed.stop();
}

#[test]
fn ds_nodata_under_opt_out_carries_the_closest_provable_encloser_proof() {
    let hierarchy = build(HierarchyConfig {
        seed: 3,
        zones: 45,
        addresses: AddressPlan {
            net: 88,
            port: 5388,
        },
        validity: Validity::around(NOW, 3600, 86_400),
        defects: false,
    })
    .unwrap();
    let testbed = Testbed::start_with_threads(hierarchy, 1).unwrap();
    // An unsigned delegation under org., whose NSEC3 chain uses opt-out.
    let entry = testbed
        .manifest()
        .of("insecure")
        .find(|e| e.name.ends_with(".org."))
        .expect("an insecure org. zone among 45")
        .name
        .clone();
    let labels: Vec<&str> = entry.trim_end_matches('.').split('.').collect();
    let zone = format!("{}.org.", labels[labels.len() - 2]);
    let root: SocketAddr = "127.88.0.1:5388".parse().unwrap();
    let referral = udp(root, &zone, RecordType::DS, true);
    let org = referral
        .additionals
        .iter()
        .find_map(|r| match &r.data {
            RData::A(a) => Some(SocketAddr::new(a.0.into(), 5388)),
            _ => None,
        })
        .expect("glue for org.");
    let reply = udp(org, &zone, RecordType::DS, true);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(count(&reply.answers, RecordType::DS), 0);
    assert_eq!(count(&reply.authorities, RecordType::SOA), 1);
    // RFC 5155 §7.2.4: closest provable encloser (org.) and the opt-out
    // NSEC3 covering the next closer name.
    let opt_out = reply.authorities.iter().any(|r| match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC3(n)) => n.opt_out(),
        _ => false,
    });
    assert!(
        count(&reply.authorities, RecordType::NSEC3) >= 2,
        "{zone}: {reply:?}"
    );
    assert!(opt_out, "the covering NSEC3 has the opt-out flag");
    testbed.stop();
}

#[test]
fn root_ns_answer_carries_the_root_servers_addresses_for_priming() {
    let testbed = start(87, 5387);
    let root: SocketAddr = "127.87.0.1:5387".parse().unwrap();
    let reply = udp(root, ".", RecordType::NS, true);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(count(&reply.answers, RecordType::NS) >= 1);
    // RFC 8109 §3.3: priming needs the addresses of the NS named.
    assert!(count(&reply.additionals, RecordType::A) >= 1, "{reply:?}");
    testbed.stop();
}
