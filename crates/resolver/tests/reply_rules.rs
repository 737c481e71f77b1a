//! What the pipeline puts in a reply against the testbed: TTLs capped by
//! signature lifetimes and negative trust anchors, the proofs of
//! wildcard-expanded chain links for DO clients, and the same replies
//! from the batched fast path as from one query at a time.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anchorage_resolver::Resolve;
use anchorage_testbed::Testbed;
use anchorage_validator::NegativeTrustAnchors;
use anchorage_wire::QueryView;
use anchorage_wire::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use anchorage_wire::proto::rr::{DNSClass, Name, Record, RecordType};

use common::{LIMIT, ask, pipeline, validity};

/// This file's loopback block: 127.44.x.x, one port per test.
const NET: u8 = 44;
/// TTL of the testbed's data records.
const ZONE_TTL: u32 = 3600;

/// A four-zone testbed on `port`, signed for `lifetime` seconds.
fn testbed(port: u16, lifetime: u32) -> Testbed {
    common::testbed(NET, port, 4, validity(lifetime))
}

/// Every record of the reply but OPT.
fn records(msg: &Message) -> impl Iterator<Item = &Record> {
    msg.answers
        .iter()
        .chain(&msg.authorities)
        .chain(&msg.additionals)
        .filter(|r| r.record_type() != RecordType::OPT)
}

fn max_ttl(msg: &Message) -> u32 {
    records(msg).map(|r| r.ttl).max().unwrap_or(0)
}

#[tokio::test]
async fn a_secure_answer_lives_no_longer_than_its_signatures() {
    const PORT: u16 = 15480;
    // Every signature expires in two minutes; the records say an hour.
    let lifetime = 120;
    let bed = testbed(PORT, lifetime);
    tokio::time::timeout(LIMIT, async {
        let p = pipeline(&bed).await;
        for (dnssec_ok, name) in [(true, "www.z0.com."), (false, "www.z0.com.")] {
            let (first, hit) = ask(&p, 7, name, RecordType::A, dnssec_ok).await;
            assert!(!hit);
            assert_eq!(first.response_code, ResponseCode::NoError);
            assert!(first.authentic_data || !dnssec_ok, "secure");
            assert!(!first.answers.is_empty());
            assert!(
                max_ttl(&first) <= lifetime,
                "DO={dnssec_ok}: TTL {} outlives signatures ending in {lifetime}s",
                max_ttl(&first)
            );
            // The cache keeps the capped reply, not the zone's TTLs.
            let (again, hit) = ask(&p, 7, name, RecordType::A, dnssec_ok).await;
            assert!(hit, "DO={dnssec_ok}: second ask is a cache hit");
            assert!(max_ttl(&again) <= lifetime, "{}", max_ttl(&again));
        }
        // A negative answer too: its SOA and NSEC records are signed alike.
        let (denied, _) = ask(&p, 7, "nonexistent.z0.com.", RecordType::A, true).await;
        assert_eq!(denied.response_code, ResponseCode::NXDomain);
        assert!(denied.authentic_data);
        assert!(max_ttl(&denied) <= lifetime, "{}", max_ttl(&denied));
    })
    .await
    .unwrap();
    bed.stop();
}

#[tokio::test]
async fn an_answer_insecure_by_a_negative_trust_anchor_lives_no_longer_than_it() {
    const PORT: u16 = 15481;
    let bed = testbed(PORT, 86_400);
    tokio::time::timeout(LIMIT, async {
        let p = pipeline(&bed).await;
        // Without an anchor: secure, with the zone's own TTL.
        let (plain, _) = ask(&p, 7, "www.z1.net.", RecordType::A, true).await;
        assert!(plain.authentic_data);
        assert!(max_ttl(&plain) > 600, "{}", max_ttl(&plain));
        assert!(max_ttl(&plain) <= ZONE_TTL);

        let nta_life = 90;
        let ntas = NegativeTrustAnchors::empty().with(
            &Name::from_ascii("z0.com.").unwrap(),
            Some(Duration::from_secs(nta_life)),
            SystemTime::now(),
        );
        p.validator().set_negative_anchors(Arc::new(ntas));
        for rtype in [RecordType::A, RecordType::MX] {
            let name = if rtype == RecordType::A {
                "www.z0.com."
            } else {
                "z0.com."
            };
            let (reply, _) = ask(&p, 7, name, rtype, true).await;
            assert_eq!(reply.response_code, ResponseCode::NoError);
            assert!(!reply.authentic_data, "{name}: insecure under the NTA");
            assert!(!reply.answers.is_empty());
            let ttl = max_ttl(&reply);
            assert!(
                u64::from(ttl) <= nta_life,
                "{name} {rtype}: TTL {ttl} outlives the NTA's {nta_life}s"
            );
            let (again, hit) = ask(&p, 7, name, rtype, true).await;
            assert!(hit);
            assert!(u64::from(max_ttl(&again)) <= nta_life);
        }
        // A chain into the anchored zone is insecure and capped too.
        let (alias, _) = ask(&p, 7, "alias.z3.xn--j6w193g.", RecordType::A, true).await;
        assert_eq!(alias.response_code, ResponseCode::NoError);
        assert!(!alias.authentic_data);
        assert!(
            u64::from(max_ttl(&alias)) <= nta_life,
            "{}",
            max_ttl(&alias)
        );
    })
    .await
    .unwrap();
    bed.stop();
}

#[tokio::test]
async fn a_do_client_gets_the_proof_of_a_wildcard_link_mid_chain() {
    const PORT: u16 = 15482;
    let bed = testbed(PORT, 86_400);
    let names: Vec<String> = bed
        .manifest()
        .of("cname")
        .filter(|e| e.name.contains(".wcname."))
        .map(|e| e.name.clone())
        .collect();
    assert!(names.len() >= 2, "{names:?}");
    tokio::time::timeout(LIMIT, async {
        let p = pipeline(&bed).await;
        for name in &names {
            // host.wcname.zN CNAME (from *.wcname.zN) www.zN+1: the wildcard
            // is proven by zN's NSEC/NSEC3, which zN+1's reply lacks.
            let zone = name.split_once(".wcname.").unwrap().1.to_owned();
            let proofs = |msg: &Message| -> Vec<Record> {
                msg.authorities
                    .iter()
                    .filter(|r| matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3))
                    .filter(|r| r.name.to_ascii().to_lowercase().ends_with(&zone))
                    .cloned()
                    .collect()
            };
            for round in ["resolved", "cached"] {
                let (secure, _) = ask(&p, 7, name, RecordType::A, true).await;
                assert_eq!(secure.response_code, ResponseCode::NoError);
                assert!(secure.authentic_data, "{name}");
                assert!(
                    secure
                        .answers
                        .iter()
                        .any(|r| r.record_type() == RecordType::A)
                );
                let found = proofs(&secure);
                assert!(
                    !found.is_empty(),
                    "{name} ({round}): no proof of the wildcard"
                );
                // Signed: the stub can check them.
                assert!(
                    secure.authorities.iter().any(|r| {
                        r.record_type() == RecordType::RRSIG
                            && found.iter().any(|p| p.name == r.name)
                    }),
                    "{name} ({round}): proof without its RRSIG"
                );
                // No record twice.
                let mut seen: Vec<&Record> = Vec::new();
                for r in &secure.authorities {
                    assert!(
                        !seen.iter().any(|s| s.name == r.name && s.data == r.data),
                        "{name}: {r} twice"
                    );
                    seen.push(r);
                }
            }
            // A client without DO sees no DNSSEC records at all.
            let (plain, _) = ask(&p, 7, name, RecordType::A, false).await;
            assert_eq!(plain.response_code, ResponseCode::NoError);
            assert!(
                plain.authorities.iter().all(|r| !matches!(
                    r.record_type(),
                    RecordType::NSEC | RecordType::NSEC3 | RecordType::RRSIG
                )),
                "{name}: {:?}",
                plain.authorities
            );
        }
    })
    .await
    .unwrap();
    bed.stop();
}

/// Header and EDNS flags of a batch-test query, or-ed together.
const RD: u8 = 1;
const DO: u8 = 2;
const AD: u8 = 4;
const CD: u8 = 8;

/// One query of the batch test: name, type, class, flags.
type Ask = (&'static str, RecordType, DNSClass, u8);

fn packet(id: u16, (name, rtype, class, flags): Ask) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = flags & RD != 0;
    msg.metadata.authentic_data = flags & AD != 0;
    msg.metadata.checking_disabled = flags & CD != 0;
    let mut question = Query::query(Name::from_ascii(name).unwrap(), rtype);
    question.set_query_class(class);
    msg.add_query(question);
    let mut edns = Edns::new();
    edns.set_dnssec_ok(flags & DO != 0);
    msg.set_edns(edns);
    msg.to_vec().unwrap()
}

/// The queries of the batch test, each with whether it is answered at
/// once (after the warm-up) and its RCODE then.
fn batch_kinds() -> [(Ask, bool, ResponseCode); 10] {
    use DNSClass::{CH, IN};
    use RecordType::{A, ANY, MX};
    use ResponseCode::{NXDomain, NoError, Refused};
    [
        (("WwW.z0.COM.", A, IN, RD | DO), true, NoError),
        (("www.z0.com.", A, IN, RD | AD), true, NoError),
        (("www.z2.xn--j6w193g.", A, IN, RD | DO), false, NoError),
        (("www.z0.com.", A, IN, DO), true, NoError),
        (("www.z1.net.", A, IN, DO), true, Refused),
        (("z0.com.", ANY, IN, RD | DO), true, NoError),
        (("z0.com.", MX, CH, RD | DO), true, Refused),
        (("nonexistent.z0.com.", A, IN, RD | DO), true, NXDomain),
        (("z0.com.", MX, IN, RD | DO), true, NoError),
        (("z0.com.", MX, IN, RD | DO | CD), false, NoError),
    ]
}

#[tokio::test]
async fn a_batch_gets_the_replies_of_one_by_one_answers() {
    const PORT: u16 = 15483;
    let bed = testbed(PORT, 86_400);
    tokio::time::timeout(LIMIT, async {
        let p = pipeline(&bed).await;
        for (name, rtype, dnssec_ok) in [
            ("www.z0.com.", RecordType::A, true),
            ("www.z0.com.", RecordType::A, false),
            ("z0.com.", RecordType::MX, true),
            ("nonexistent.z0.com.", RecordType::A, true),
        ] {
            let (warm, hit) = ask(&p, 7, name, rtype, dnssec_ok).await;
            assert!(
                !hit && !warm.answers.is_empty() || warm.response_code == ResponseCode::NXDomain
            );
        }
        let kinds = batch_kinds();
        // 40 queries: first a run of 20 for the cache (more than one
        // lookup batch), then runs broken by ANY and CH.
        let for_cache = [0, 1, 2, 3, 4, 7, 8, 9];
        let packets: Vec<(Vec<u8>, usize)> = (0..40u16)
            .map(|id| {
                let kind = if id < 20 {
                    for_cache[usize::from(id) % for_cache.len()]
                } else {
                    usize::from(id * 7) % kinds.len()
                };
                (packet(100 + id, kinds[kind].0), kind)
            })
            .collect();
        let views: Vec<QueryView> = packets
            .iter()
            .map(|(bytes, _)| QueryView::parse(bytes).unwrap())
            .collect();
        let mut same = false;
        // A second boundary between the two passes ages TTLs by one: retry.
        for _ in 0..3 {
            let mut batch = vec![Vec::new(); views.len()];
            let mut answered = vec![false; views.len()];
            p.answer_many_now(&views, &mut batch, &mut answered);
            let mut single = vec![Vec::new(); views.len()];
            let single_answered: Vec<bool> = views
                .iter()
                .zip(&mut single)
                .map(|(view, reply)| p.answer_now(view, reply))
                .collect();
            assert_eq!(answered, single_answered);
            for (i, (_, kind)) in packets.iter().enumerate() {
                let (ask, now, rcode) = kinds[*kind];
                assert_eq!(answered[i], now, "{ask:?}");
                if now {
                    let msg = Message::from_vec(&batch[i]).unwrap();
                    assert_eq!(usize::from(msg.id), 100 + i);
                    assert_eq!(msg.response_code, rcode, "{ask:?}");
                } else {
                    assert!(
                        batch[i].is_empty(),
                        "{ask:?}: a miss leaves the reply alone"
                    );
                }
            }
            if batch == single {
                same = true;
                break;
            }
        }
        assert!(same, "batched replies differ from one-by-one replies");
    })
    .await
    .unwrap();
    bed.stop();
}
