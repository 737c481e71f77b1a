//! The hot paths of `wire` allocate nothing: parsing a query, and building
//! signed data or a reply into warm, reused buffers.
//!
//! One test only: stats_alloc's counters are process-wide, so no other test
//! may run beside it in this binary.

use std::hint::black_box;

use std::alloc::System;

use anchorage_wire::QueryView;
use anchorage_wire::canonical::{SignedData, signed_data};
use anchorage_wire::proto::dnssec::Algorithm;
use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, NSEC, SigInput};
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::rdata::{A, MX, TXT};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType, SerialNumber};
use anchorage_wire::response::{Ede, EdeCode, error_reply, truncate};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (and reallocations) made while `f` runs.
fn allocations<T>(f: impl FnOnce() -> T) -> usize {
    let region = Region::new(GLOBAL);
    let out = f();
    let change = region.change();
    drop(black_box(out));
    change.allocations + change.reallocations
}

#[test]
fn hot_paths_allocate_nothing() {
    counter_sees_allocations();
    parsing_a_query_with_edns_allocates_nothing();
    building_an_error_reply_into_a_warm_buffer_allocates_nothing();
    signed_data_into_warm_buffers_allocates_nothing();
}

/// `mail.Example.ORG. AAAA`, EDNS 1232 with DO and a client cookie.
const QUERY_WITH_EDNS: &[u8] = b"\x12\x34\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\
    \x04mail\x07Example\x03ORG\x00\x00\x1c\x00\x01\
    \x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x0c\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08";

fn counter_sees_allocations() {
    // Guards the tests below: a counter that never counts proves nothing.
    assert!(allocations(|| black_box(vec![1u8; 64])) >= 1);
}

fn parsing_a_query_with_edns_allocates_nothing() {
    let n = allocations(|| black_box(QueryView::parse(black_box(QUERY_WITH_EDNS))).unwrap());
    assert_eq!(n, 0);
}

fn building_an_error_reply_into_a_warm_buffer_allocates_nothing() {
    let query = QueryView::parse(QUERY_WITH_EDNS).unwrap();
    let mut out = Vec::with_capacity(512);
    let ede = Some(Ede {
        code: EdeCode::DnssecBogus,
        text: "signature expired",
    });
    let n = allocations(|| {
        error_reply(&query, ResponseCode::ServFail, ede, &mut out);
        truncate(&mut out, 512).unwrap();
    });
    assert_eq!(n, 0);
    assert!(out.len() > 40);
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn signed_data_into_warm_buffers_allocates_nothing() {
    let owner = name("www.Example.com.");
    let input = |rtype| SigInput {
        type_covered: rtype,
        algorithm: Algorithm::ECDSAP256SHA256,
        num_labels: 3,
        original_ttl: 300,
        sig_expiration: SerialNumber::new(2),
        sig_inception: SerialNumber::new(1),
        key_tag: 1,
        signer_name: name("example.com."),
    };
    let a: Vec<Record> = (1..=8)
        .rev()
        .map(|i| Record::from_rdata(owner.clone(), 300, RData::A(A::new(192, 0, 2, i))))
        .collect();
    let mx: Vec<Record> = ["b", "A", "c"]
        .iter()
        .map(|h| {
            let exchange = name(&format!("{h}.Mail.example.com."));
            Record::from_rdata(owner.clone(), 300, RData::MX(MX::new(10, exchange)))
        })
        .collect();
    let txt = vec![Record::from_rdata(
        owner.clone(),
        300,
        RData::TXT(TXT::new(vec!["v=spf1 -all".to_owned()])),
    )];
    let nsec = vec![Record::from_rdata(
        owner.clone(),
        300,
        RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
            name("zzz.example.com."),
            [
                RecordType::A,
                RecordType::MX,
                RecordType::RRSIG,
                RecordType::NSEC,
            ],
        ))),
    )];
    let mut buf = SignedData::new();
    for (rtype, rrset) in [
        (RecordType::A, &a),
        (RecordType::MX, &mx),
        (RecordType::TXT, &txt),
        (RecordType::NSEC, &nsec),
    ] {
        let sig = input(rtype);
        signed_data(&sig, rrset, &mut buf).unwrap(); // warm up
        let n = allocations(|| {
            black_box(signed_data(&sig, rrset, &mut buf).unwrap());
        });
        assert_eq!(n, 0, "{rtype} allocated");
    }
}
