//! What the pipeline tests share: a testbed signed around now, a pipeline
//! on its hints and trust anchor with a loopback-only transport, and a stub
//! client's queries asked through the fast path first, as the server does.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anchorage_iterator::config::Config;
use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Recursor, RootHints, Transport};
use anchorage_resolver::{Pipeline, PipelineConfig, Resolve};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_validator::{Limits as ValidatorLimits, TrustAnchors, Validator};
use anchorage_wire::QueryView;
use anchorage_wire::proto::op::{Edns, Message, MessageType, OpCode, Query};
use anchorage_wire::proto::rr::{Name, RecordType};

/// Bound on each test.
pub const LIMIT: Duration = Duration::from_mins(1);

/// Signatures from an hour ago until `lifetime` seconds from now: the
/// validator checks them on the real clock.
pub fn validity(lifetime: u32) -> Validity {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Validity::around(u32::try_from(secs).unwrap(), 3600, lifetime)
}

/// A hierarchy of `zones` second-level zones (seed 9, no defects) on
/// 127.`net`.x.x:`port`, one thread per server.
pub fn testbed(net: u8, port: u16, zones: usize, validity: Validity) -> Testbed {
    Testbed::start_with_threads(
        build(HierarchyConfig {
            seed: 9,
            zones,
            addresses: AddressPlan { net, port },
            validity,
            defects: false,
        })
        .unwrap(),
        1,
    )
    .unwrap()
}

/// A pipeline on `testbed`'s hints and root anchor; its transport cannot
/// send a packet anywhere but loopback.
pub async fn pipeline(testbed: &Testbed) -> Pipeline {
    let config = Config::loopback_lab(
        RootHints::parse(&testbed.root_hints()).unwrap(),
        testbed.config().addresses.port,
    );
    let transport = Transport::loopback_only(config.edns_payload, config.max_outstanding);
    let recursor = Recursor::start(config, transport, Arc::new(TokioClock), 3)
        .await
        .unwrap();
    let anchors = TrustAnchors::from_zone_text(&testbed.trust_anchor()).unwrap();
    let validator = Validator::new(Arc::new(anchors), ValidatorLimits::default());
    Pipeline::new(recursor, validator, &PipelineConfig::default())
}

/// A recursive query with EDNS, DO as `dnssec_ok` says.
pub fn query(id: u16, name: &str, rtype: RecordType, dnssec_ok: bool) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(dnssec_ok);
    msg.set_edns(edns);
    msg.to_vec().unwrap()
}

/// Asks through the fast path first, as the server does; the reply, and
/// true when it came from the cache.
pub async fn ask(
    p: &Pipeline,
    id: u16,
    name: &str,
    rtype: RecordType,
    dnssec_ok: bool,
) -> (Message, bool) {
    let bytes = query(id, name, rtype, dnssec_ok);
    let view = QueryView::parse(&bytes).unwrap();
    let mut out = Vec::new();
    let hit = p.answer_now(&view, &mut out);
    if !hit {
        out = p.resolve(view).await;
    }
    (Message::from_vec(&out).unwrap(), hit)
}
