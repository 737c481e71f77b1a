//! Resolution against the testbed: every kind of name, chains, denials,
//! glueless delegations and the defect servers.

mod common;

use std::sync::atomic::Ordering;

use anchorage_iterator::ResolveError;
use anchorage_iterator::recursor::RecursorError;
use anchorage_iterator::{Recursor, RootHints, Transport};
use anchorage_wire::EdeCode;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::{Name, RecordType};
use common::{recursor, resolve, testbed};

fn rtype(mnemonic: &str) -> RecordType {
    mnemonic.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_and_insecure_names_of_every_type_resolve_with_their_signatures() {
    let bed = testbed(160, 10, false);
    let r = recursor(&bed).await;
    let mut checked = 0;
    for entry in bed
        .manifest()
        .of("secure")
        .chain(bed.manifest().of("insecure"))
    {
        let qtype = rtype(entry.qtype);
        let answer = resolve(&r, &entry.name, qtype)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        assert_eq!(answer.rcode, ResponseCode::NoError, "{}", entry.name);
        assert!(
            answer.records_of(qtype).next().is_some(),
            "{} {qtype}",
            entry.name
        );
        let signed = answer.records_of(RecordType::RRSIG).next().is_some();
        assert_eq!(
            signed,
            entry.category.label() == "secure",
            "{} {qtype}",
            entry.name
        );
        checked += 1;
    }
    assert!(checked >= 40, "{checked}");
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cname_chain_across_zones_is_followed_and_keeps_both_zones_proofs() {
    let bed = testbed(161, 10, false);
    let r = recursor(&bed).await;
    let answer = resolve(&r, "alias.z0.com.", RecordType::A).await.unwrap();
    let cname = answer.records_of(RecordType::CNAME).next().unwrap();
    assert_eq!(cname.name, Name::from_ascii("alias.z0.com.").unwrap());
    let a = answer.records_of(RecordType::A).next().unwrap();
    assert_eq!(a.name, Name::from_ascii("www.z1.net.").unwrap());
    assert_eq!(answer.zone, Name::from_ascii("z1.net.").unwrap());
    assert!(answer.records_of(RecordType::RRSIG).count() >= 2);
    let in_zone = resolve(&r, "cname.z0.com.", RecordType::A).await.unwrap();
    assert_eq!(in_zone.records_of(RecordType::CNAME).count(), 1);
    assert_eq!(in_zone.records_of(RecordType::A).count(), 1);
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dname_redirects_into_the_target_zone() {
    let bed = testbed(162, 10, false);
    let r = recursor(&bed).await;
    let answer = resolve(&r, "ns2.dname.z0.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(answer.records_of(RecordType::DNAME).count(), 1);
    let a = answer.records_of(RecordType::A).next().unwrap();
    assert_eq!(a.name, Name::from_ascii("ns2.hoster.net.").unwrap());
    let missing = resolve(&r, "nothing.dname.z0.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(missing.rcode, ResponseCode::NXDomain);
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_wildcards_and_empty_non_terminals_carry_their_proofs() {
    let bed = testbed(163, 10, false);
    let r = recursor(&bed).await;
    for (label, rcode) in [
        ("nxdomain", ResponseCode::NXDomain),
        ("nodata", ResponseCode::NoError),
    ] {
        for entry in bed.manifest().of(label) {
            let answer = resolve(&r, &entry.name, rtype(entry.qtype)).await.unwrap();
            assert_eq!(answer.rcode, rcode, "{}", entry.name);
            assert!(answer.is_nodata() || rcode == ResponseCode::NXDomain);
            assert!(
                answer
                    .authority
                    .iter()
                    .any(|r| r.record_type() == RecordType::SOA),
                "{}",
                entry.name
            );
            let denial = answer
                .authority
                .iter()
                .any(|r| matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3));
            assert!(denial, "{}: {:?}", entry.name, answer.authority);
        }
    }
    for entry in bed.manifest().of("wildcard") {
        let answer = resolve(&r, &entry.name, RecordType::A).await.unwrap();
        assert_eq!(
            answer.records_of(RecordType::A).count(),
            1,
            "{}",
            entry.name
        );
        assert!(
            answer
                .authority
                .iter()
                .any(|r| matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3))
        );
    }
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glueless_delegation_is_resolved_through_the_hosting_zone() {
    let bed = testbed(164, 10, false);
    let r = recursor(&bed).await;
    // Zone 6 (z6.net.) is glueless: its NS is ns7.hoster.net.
    let answer = resolve(&r, "www.z6.net.", RecordType::A).await.unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let cut = r.cached_cut(&Name::from_ascii("z6.net.").unwrap()).unwrap();
    assert_eq!(
        cut.servers[0].name,
        Name::from_ascii("ns7.hoster.net.").unwrap()
    );
    assert!(
        r.cached_cut(&Name::from_ascii("hoster.net.").unwrap())
            .is_some()
    );
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrals_keep_ds_proofs_for_the_validator() {
    let bed = testbed(165, 10, false);
    let r = recursor(&bed).await;
    let answer = resolve(&r, "www.z0.com.", RecordType::A).await.unwrap();
    let zones: Vec<String> = answer.cuts.iter().map(|c| c.child.to_string()).collect();
    assert_eq!(zones, ["com.", "z0.com."]);
    assert!(
        answer
            .cuts
            .iter()
            .all(|c| c.records.iter().any(|r| r.record_type() == RecordType::DS))
    );
    // The unsigned zone's referral proves there is no DS.
    let insecure = resolve(&r, "www.z8.xn--j6w193g.", RecordType::A)
        .await
        .unwrap();
    let last = insecure.cuts.last().unwrap();
    assert!(
        last.records
            .iter()
            .all(|r| r.record_type() != RecordType::DS)
    );
    assert!(
        last.records
            .iter()
            .any(|r| matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3))
    );
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_servers_fail_safely_or_are_worked_around() {
    let bed = testbed(166, 2, true);
    let r = recursor(&bed).await;
    let t = r.transport().stats();

    let truncated = resolve(&r, "www.d-always-truncated.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(truncated.records_of(RecordType::A).count(), 1);
    assert!(t.tcp_sent.load(Ordering::Relaxed) >= 1);

    let lame = resolve(&r, "www.d-lame.com.", RecordType::A)
        .await
        .unwrap_err();
    assert_eq!(lame.ede(), EdeCode::NoReachableAuthority);
    assert_eq!(lame.rcode(), ResponseCode::ServFail);

    let silent = resolve(&r, "www.d-unresponsive.com.", RecordType::A)
        .await
        .unwrap_err();
    assert_eq!(silent.ede(), EdeCode::NoReachableAuthority);

    let looped = resolve(&r, "loop1.d-cname-loop.com.", RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(looped, ResolveError::ChainLoop { .. }), "{looped}");
    assert_eq!(looped.rcode(), ResponseCode::ServFail);

    assert!(
        resolve(&r, "www.d-wrong-id.com.", RecordType::A)
            .await
            .is_err()
    );
    assert!(t.wrong_id.load(Ordering::Relaxed) >= 1);
    assert!(
        resolve(&r, "www.d-wrong-question.com.", RecordType::A)
            .await
            .is_err()
    );
    assert!(t.wrong_question.load(Ordering::Relaxed) >= 1);
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisoned_records_never_reach_the_answer_or_the_cache() {
    let bed = testbed(167, 2, true);
    let r = recursor(&bed).await;
    let answer = resolve(&r, "www.d-out-of-bailiwick.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let com = Name::from_ascii("com.").unwrap();
    assert!(
        answer
            .answers
            .iter()
            .chain(&answer.authority)
            .all(|r| r.name != com)
    );
    let cut = r.cached_cut(&com).unwrap();
    let poison: std::net::IpAddr = anchorage_testbed::authority::POISON_ADDRESS.into();
    assert!(
        cut.servers.iter().all(|s| !s.addrs.contains(&poison)),
        "{cut:?}"
    );
    bed.stop();
}

// One runtime thread: all twenty tasks start (and join the first walk)
// before any reply is read. On two worker threads a loaded machine could
// finish the first walk before the last task started, and a latecomer then
// walks again from the cached cut: that is not sharing failing.
#[tokio::test]
async fn identical_questions_in_flight_share_one_walk() {
    let bed = testbed(168, 4, false);
    let r = recursor(&bed).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move { resolve(&r, "www.z3.org.", RecordType::A).await })
        })
        .collect();
    let mut queries = Vec::new();
    for task in tasks {
        queries.push(task.await.unwrap().unwrap().queries);
    }
    let sent = r.transport().stats().udp_sent.load(Ordering::Relaxed);
    assert!(
        sent <= u64::from(queries[0]) + 1,
        "sent {sent}, one walk {}",
        queries[0]
    );
    bed.stop();
}

#[tokio::test]
async fn a_recursor_refuses_real_hints_on_a_loopback_only_transport() {
    let transport = Transport::loopback_only(1232, 4);
    let err = Recursor::start(
        anchorage_iterator::Config::default(),
        transport,
        std::sync::Arc::new(anchorage_iterator::recursor::TokioClock),
        1,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RecursorError::HintsNotLoopback));
    let hints = RootHints::parse(". 1 IN NS a.\na. 1 IN A 127.0.0.1\n").unwrap();
    let config = anchorage_iterator::Config {
        hints,
        ..anchorage_iterator::Config::default()
    };
    let err = Recursor::start(
        config,
        Transport::loopback_only(1232, 4),
        std::sync::Arc::new(anchorage_iterator::recursor::TokioClock),
        1,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RecursorError::LoopbackHintsRefused));
}
