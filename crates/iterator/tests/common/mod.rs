//! Test helpers: a recursor can only be built from a running testbed, with
//! the testbed's hints and a loopback-only transport, so no test can reach
//! the real root by accident.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anchorage_iterator::config::Config;
use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Answer, Question, Recursor, ResolveError, RootHints, Transport};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_wire::proto::rr::{Name, RecordType};

/// Unix time the test signatures are valid around (the iterator does not
/// validate; the value only has to be fixed).
pub const NOW: u32 = 1_800_000_000;
/// Bound on any one test's resolution work.
pub const TEST_TIMEOUT: Duration = Duration::from_mins(1);
/// Iterator tests use loopback blocks 127.160.x.x upward, one per test.
pub const PORT: u16 = 5453;

/// Starts a testbed on 127.`net`.x.x with `zones` second-level zones.
pub fn testbed(net: u8, zones: usize, defects: bool) -> Testbed {
    testbed_with_seed(net, zones, defects, 11)
}

/// As [`testbed`], from another seed.
pub fn testbed_with_seed(net: u8, zones: usize, defects: bool, seed: u64) -> Testbed {
    testbed_at(AddressPlan { net, port: PORT }, zones, defects, seed)
}

/// As [`testbed`], on `addresses`, from `seed`.
pub fn testbed_at(addresses: AddressPlan, zones: usize, defects: bool, seed: u64) -> Testbed {
    let hierarchy = build(HierarchyConfig {
        seed,
        zones,
        addresses,
        validity: Validity::around(NOW, 3600, 86_400),
        defects,
    })
    .expect("testbed builds");
    Testbed::start_with_threads(hierarchy, 1).expect("testbed starts")
}

/// The config every test uses: the testbed's hints, loopback allowed,
/// IPv6 off, short timeouts.
pub fn config(testbed: &Testbed) -> Config {
    let hints = RootHints::parse(&testbed.root_hints()).expect("testbed hints parse");
    config_for(hints, testbed.config().addresses.port)
}

/// As [`config`], for servers on loopback that `hints` and `port` name.
pub fn config_for(hints: RootHints, port: u16) -> Config {
    Config::loopback_lab(hints, port)
}

/// A recursor on `testbed` with a loopback-only transport.
pub async fn recursor(testbed: &Testbed) -> Recursor {
    recursor_with(config(testbed)).await
}

/// A recursor with `config`, whose hints must be a testbed's.
pub async fn recursor_with(config: Config) -> Recursor {
    let transport = Transport::loopback_only(config.edns_payload, config.max_outstanding);
    Recursor::start(config, transport, Arc::new(TokioClock), 7)
        .await
        .expect("recursor starts on testbed hints")
}

/// Resolves `name`/`qtype`, bounded in time.
pub async fn resolve(
    r: &Recursor,
    name: &str,
    qtype: RecordType,
) -> Result<Arc<Answer>, ResolveError> {
    bounded(r.resolve(Question::new(Name::from_ascii(name).unwrap(), qtype))).await
}

/// Runs `f` under [`TEST_TIMEOUT`].
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("within the test timeout")
}

/// The answer records as owner, type and data: what a client sees,
/// whatever the TTLs and the case an authority echoed.
pub fn records(answer: &Answer) -> Vec<(String, RecordType, String)> {
    answer
        .answers
        .iter()
        .map(|r| {
            let data = r.data.to_string().to_lowercase();
            (r.name.to_lowercase().to_ascii(), r.record_type(), data)
        })
        .collect()
}
