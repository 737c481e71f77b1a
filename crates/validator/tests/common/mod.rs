//! Test helpers: a testbed on loopback, a loopback-only recursor on its
//! hints, and a validator on its root trust anchor.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anchorage_iterator::config::Config;
use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Answer, Question, Recursor, ResolveError, RootHints, Transport};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_validator::{Limits, TrustAnchors, Validated, Validator};
use anchorage_wire::proto::rr::{Name, RecordType};

/// Unix time the testbed's signatures are valid around.
pub const NOW: u32 = 1_800_000_000;
/// Bound on any one test's resolution and validation work.
pub const TEST_TIMEOUT: Duration = Duration::from_mins(1);
/// Validator tests use loopback blocks 127.230.x.x upward, one per test.
pub const PORT: u16 = 5471;

/// The injected clock of the tests.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(NOW))
}

/// Starts a testbed on 127.`net`.x.x.
pub fn testbed(net: u8, zones: usize, defects: bool) -> Testbed {
    testbed_at(AddressPlan { net, port: PORT }, zones, defects)
}

/// Starts a testbed at `addresses`.
pub fn testbed_at(addresses: AddressPlan, zones: usize, defects: bool) -> Testbed {
    let hierarchy = build(HierarchyConfig {
        seed: 11,
        zones,
        addresses,
        validity: Validity::around(NOW, 3600, 86_400),
        defects,
    })
    .expect("testbed builds");
    Testbed::start_with_threads(hierarchy, 1).expect("testbed starts")
}

/// A loopback-only recursor on the testbed's hints.
pub async fn recursor(bed: &Testbed) -> Recursor {
    let config = Config::loopback_lab(
        RootHints::parse(&bed.root_hints()).expect("testbed hints parse"),
        bed.config().addresses.port,
    );
    let transport = Transport::loopback_only(config.edns_payload, config.max_outstanding);
    Recursor::start(config, transport, Arc::new(TokioClock), 7)
        .await
        .expect("recursor starts on testbed hints")
}

/// A validator trusting the testbed's root KSK.
pub fn validator(bed: &Testbed, limits: Limits) -> Validator {
    let anchors = TrustAnchors::from_zone_text(&bed.trust_anchor()).expect("anchor parses");
    Validator::new(Arc::new(anchors), limits)
}

/// Resolves `name`/`qtype`.
pub async fn resolve(
    r: &Recursor,
    name: &str,
    qtype: RecordType,
) -> Result<Arc<Answer>, ResolveError> {
    bounded(r.resolve(Question::new(Name::from_ascii(name).unwrap(), qtype))).await
}

/// Resolves and validates `name`/`qtype` at `now`.
pub async fn check(
    v: &Validator,
    r: &Recursor,
    name: &str,
    qtype: RecordType,
    now: SystemTime,
) -> (Arc<Answer>, Validated) {
    let answer = resolve(r, name, qtype)
        .await
        .unwrap_or_else(|e| panic!("{name} {qtype}: {e}"));
    let validated = bounded(v.validate(&answer, r, now)).await;
    (answer, validated)
}

/// Runs `f` under [`TEST_TIMEOUT`].
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("within the test timeout")
}
