//! The pipeline against the testbed: validated answers, the answer cache,
//! and aggressive use of validated denials (RFC 8198) against a
//! random-subdomain flood.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anchorage_iterator::config::{Config, Limits, QnameMinimisation};
use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Recursor, RootHints, Transport};
use anchorage_resolver::{Pipeline, PipelineConfig, Resolve};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_validator::{Limits as ValidatorLimits, TrustAnchors, Validator};
use anchorage_wire::QueryView;
use anchorage_wire::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use anchorage_wire::proto::rr::{Name, RecordType};

/// Testbed on 127.150.x.x:5450 (this file's block).
const NET: u8 = 150;
const PORT: u16 = 5450;
/// Bound on the whole test.
const LIMIT: Duration = Duration::from_mins(1);

fn now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    u32::try_from(secs).unwrap()
}

async fn pipeline(testbed: &Testbed) -> Pipeline {
    let config = Config {
        hints: RootHints::parse(&testbed.root_hints()).unwrap(),
        allow_loopback_upstreams: true,
        ipv6_upstream: false,
        upstream_port: PORT,
        qname_minimisation: QnameMinimisation::Relaxed,
        limits: Limits {
            deadline: Duration::from_secs(8),
            initial_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
        ..Config::default()
    };
    // Loopback-only: this test cannot send a packet anywhere else.
    let transport = Transport::loopback_only(config.edns_payload, config.max_outstanding);
    let recursor = Recursor::start(config, transport, Arc::new(TokioClock), 3)
        .await
        .unwrap();
    let anchors = TrustAnchors::from_zone_text(&testbed.trust_anchor()).unwrap();
    let validator = Validator::new(Arc::new(anchors), ValidatorLimits::default());
    Pipeline::new(recursor, validator, &PipelineConfig::default())
}

fn query(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true);
    msg.set_edns(edns);
    msg.to_vec().unwrap()
}

async fn ask(p: &Pipeline, id: u16, name: &str, rtype: RecordType) -> Message {
    let bytes = query(id, name, rtype);
    let view = QueryView::parse(&bytes).unwrap();
    let mut out = Vec::new();
    if !p.answer_now(&view, &mut out) {
        out = p.resolve(view).await;
    }
    Message::from_vec(&out).unwrap()
}

fn sent(p: &Pipeline) -> u64 {
    let stats = p.recursor().transport().stats();
    stats.udp_sent.load(Ordering::Relaxed) + stats.tcp_sent.load(Ordering::Relaxed)
}

#[tokio::test]
async fn a_random_subdomain_flood_is_answered_from_validated_ranges() {
    tokio::time::timeout(LIMIT, async {
        let testbed = Testbed::start_with_threads(
            build(HierarchyConfig {
                seed: 9,
                zones: 10,
                addresses: AddressPlan {
                    net: NET,
                    port: PORT,
                },
                validity: Validity::around(now(), 3600, 86_400),
                defects: false,
            })
            .unwrap(),
            1,
        )
        .unwrap();
        let p = pipeline(&testbed).await;

        // A secure name: AD, the client's spelling on the answer (not our
        // random 0x20 case), then a cache hit with no upstream query.
        let first = ask(&p, 1, "wWw.Z0.com.", RecordType::A).await;
        assert_eq!(first.response_code, ResponseCode::NoError);
        assert!(first.authentic_data);
        let owners: Vec<String> = first.answers.iter().map(|r| r.name.to_string()).collect();
        assert!(owners.iter().all(|n| n == "wWw.Z0.com."), "{owners:?}");
        let before = sent(&p);
        let again = ask(&p, 2, "WWW.z0.com.", RecordType::A).await;
        assert!(again.authentic_data);
        assert_eq!(again.answers[0].name.to_string(), "WWW.z0.com.");
        assert_eq!(sent(&p), before, "a cache hit asks nobody");

        // z0.com. uses NSEC, z1.net. NSEC3: 200 random names in each.
        for zone in ["z0.com.", "z1.net."] {
            let start = sent(&p);
            for i in 0..200u16 {
                let name = format!("flood{}x{i}.{zone}", u32::from(i) * 7919 % 10007);
                let reply = ask(&p, 100 + i, &name, RecordType::A).await;
                assert_eq!(reply.response_code, ResponseCode::NXDomain, "{name}");
                assert!(reply.authentic_data, "{name}: a validated denial");
            }
            let spent = sent(&p) - start;
            eprintln!("{zone}: {spent} upstream queries for 200 random names");
            // The first names reach the zone's server; the rest are denied
            // from stored ranges. Without RFC 8198 this is >= 200.
            assert!(spent < 40, "{zone}: {spent} upstream queries for 200 names");
        }
        testbed.stop();
    })
    .await
    .unwrap();
}
