//! `QueryView` agrees with hickory-proto on every query hickory can encode,
//! and never panics on arbitrary bytes.

use anchorage_wire::QueryView;
use anchorage_wire::proto::op::{Edns, Message, MessageType, OpCode, Query};
use anchorage_wire::proto::rr::{Name, RecordType};
use anchorage_wire::proto::serialize::binary::BinEncodable;
use proptest::prelude::*;

fn arb_name() -> impl Strategy<Value = Name> {
    prop::collection::vec("[a-zA-Z0-9_-]{1,20}", 0..6).prop_map(|labels| {
        let mut name = Name::from_labels(labels.iter().map(String::as_bytes)).unwrap();
        name.set_fqdn(true);
        name
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn view_agrees_with_hickory(
        id in any::<u16>(),
        qname in arb_name(),
        qtype in prop::sample::select(vec![1u16, 2, 5, 6, 15, 16, 28, 43, 48, 65, 255, 65280]),
        rd in any::<bool>(),
        cd in any::<bool>(),
        edns in prop::option::of((512u16..=65535, any::<bool>())),
    ) {
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(qname.clone(), RecordType::from(qtype)));
        msg.metadata.recursion_desired = rd;
        msg.metadata.checking_disabled = cd;
        if let Some((payload, dnssec_ok)) = edns {
            let mut e = Edns::new();
            e.set_max_payload(payload);
            e.enable_dnssec();
            if !dnssec_ok {
                e.flags_mut().dnssec_ok = false;
            }
            msg.set_edns(e);
        }
        let wire = msg.to_vec().unwrap();
        let view = QueryView::parse(&wire).unwrap();
        prop_assert_eq!(view.id(), id);
        prop_assert_eq!(view.qtype(), qtype);
        prop_assert_eq!(view.qclass(), 1);
        prop_assert_eq!(view.recursion_desired(), rd);
        prop_assert_eq!(view.checking_disabled(), cd);
        prop_assert_eq!(view.qname().as_bytes(), &qname.to_bytes().unwrap()[..]);
        prop_assert_eq!(
            view.qname_lower().as_bytes(),
            &qname.to_lowercase().to_bytes().unwrap()[..]
        );
        prop_assert_eq!(view.dnssec_ok(), edns.is_some_and(|(_, d)| d));
        prop_assert_eq!(view.max_udp_reply(), edns.map_or(512, |(p, _)| usize::from(p)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = QueryView::parse(&bytes);
    }

    #[test]
    fn every_prefix_of_a_valid_query_is_rejected(cut in 0usize..48) {
        let wire = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x03www\x07example\x00\x00\x01\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00";
        prop_assume!(cut < wire.len());
        prop_assert!(QueryView::parse(&wire[..cut]).is_err());
        prop_assert!(QueryView::parse(wire).is_ok());
    }
}
