//! The pipeline against the testbed: validated answers, the answer cache,
//! and aggressive use of validated denials (RFC 8198) against a
//! random-subdomain flood.

mod common;

use std::sync::atomic::Ordering;

use anchorage_resolver::Pipeline;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::RecordType;

use common::{LIMIT, ask, pipeline, testbed, validity};

/// Testbed on 127.150.x.x:5450 (this file's block).
const NET: u8 = 150;
const PORT: u16 = 5450;

fn sent(p: &Pipeline) -> u64 {
    let stats = p.recursor().transport().stats();
    stats.udp_sent.load(Ordering::Relaxed) + stats.tcp_sent.load(Ordering::Relaxed)
}

#[tokio::test]
async fn a_random_subdomain_flood_is_answered_from_validated_ranges() {
    tokio::time::timeout(LIMIT, async {
        let testbed = testbed(NET, PORT, 10, validity(86_400));
        let p = pipeline(&testbed).await;

        // A secure name: AD, the client's spelling on the answer (not our
        // random 0x20 case), then a cache hit with no upstream query.
        let (first, _) = ask(&p, 1, "wWw.Z0.com.", RecordType::A, true).await;
        assert_eq!(first.response_code, ResponseCode::NoError);
        assert!(first.authentic_data);
        let owners: Vec<String> = first.answers.iter().map(|r| r.name.to_string()).collect();
        assert!(owners.iter().all(|n| n == "wWw.Z0.com."), "{owners:?}");
        let before = sent(&p);
        let (again, _) = ask(&p, 2, "WWW.z0.com.", RecordType::A, true).await;
        assert!(again.authentic_data);
        assert_eq!(again.answers[0].name.to_string(), "WWW.z0.com.");
        assert_eq!(sent(&p), before, "a cache hit asks nobody");

        // z0.com. uses NSEC, z1.net. NSEC3: 200 random names in each.
        for zone in ["z0.com.", "z1.net."] {
            let start = sent(&p);
            for i in 0..200u16 {
                let name = format!("flood{}x{i}.{zone}", u32::from(i) * 7919 % 10007);
                let (reply, _) = ask(&p, 100 + i, &name, RecordType::A, true).await;
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
