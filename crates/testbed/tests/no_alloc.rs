//! A server answers from prepared replies without allocating: once a
//! reply is in a zone's cache, the next query for it (or, for a referral,
//! for any name below the cut) costs no allocation.

mod common;

use std::alloc::System;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

use anchorage_testbed::authority::Authority;
use anchorage_testbed::server::{Behaviour, Catalog, ServerSpec, handle};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Validity, build};
use anchorage_wire::proto::rr::RecordType;
use common::query_bytes;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (and reallocations) made while `f` runs. The counters are
/// process-wide: this file holds one test only.
fn allocations<T>(f: impl FnOnce() -> T) -> usize {
    let region = Region::new(GLOBAL);
    let out = f();
    let change = region.change();
    drop(std::hint::black_box(out));
    change.allocations + change.reallocations
}

const NOW: u32 = 1_800_000_000;

/// A server for the root and the zones of host 0, never bound to a socket.
fn spec() -> ServerSpec {
    let plan = AddressPlan {
        net: 89,
        port: 5389,
    };
    let hierarchy = build(HierarchyConfig {
        seed: 2,
        zones: 1,
        addresses: plan,
        validity: Validity::around(NOW, 3600, 86_400),
        defects: false,
    })
    .unwrap();
    let mut catalog = Catalog::default();
    for served in hierarchy.zones {
        if served.server == plan.root() || served.server == plan.host(0) {
            catalog.insert(Arc::new(RwLock::new(Arc::new(Authority::new(served.zone)))));
        }
    }
    ServerSpec {
        addr: SocketAddr::from((plan.root(), plan.port)),
        catalog: Arc::new(catalog),
        behaviour: Behaviour::Normal,
        log: None,
    }
}

#[test]
fn cached_answers_and_referrals_allocate_nothing() {
    let spec = spec();
    let mut out = Vec::with_capacity(anchorage_testbed::server::MAX_MESSAGE);
    let answer = query_bytes("www.z0.com.", RecordType::A, true);
    let referral = query_bytes("www.z0.net.", RecordType::A, true);
    let other_below_cut = query_bytes("deep.name.below.NET.", RecordType::MX, true);
    // First use prepares and caches: that allocates.
    assert!(allocations(|| assert!(handle(&spec, &answer, true, &mut out))) > 0);
    assert!(allocations(|| assert!(handle(&spec, &referral, true, &mut out))) > 0);
    for query in [&answer, &referral, &other_below_cut] {
        let spent = allocations(|| assert!(handle(&spec, query, true, &mut out)));
        assert_eq!(spent, 0, "{:?}", &query[12..]);
    }
}
