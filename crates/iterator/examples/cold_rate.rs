//! Cold-cache rate: every distinct manifest name of an N-zone testbed
//! resolved once by a fresh recursor on one thread.
//!
//! `cargo run --release -p anchorage-iterator --example cold_rate -- 2000 200`
//! (zones, questions in flight). Prints names per second and upstream
//! queries per name. The testbed serves from its own thread; pin the
//! process with `taskset` to measure on fixed cores.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anchorage_iterator::config::{Config, Limits};
use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Question, Recursor, RootHints, Transport};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_wire::proto::rr::Name;

/// Loopback block of the benchmark's testbed.
const NET: u8 = 171;
const PORT: u16 = 5453;
/// Longest the whole run may take.
const RUN_LIMIT: Duration = Duration::from_mins(10);

// Counts far below 2^52 print exactly as f64.
#[allow(clippy::cast_precision_loss)]
fn main() {
    let mut args = std::env::args().skip(1);
    let zones: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let in_flight: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let hierarchy = build(HierarchyConfig {
        seed: 11,
        zones,
        addresses: AddressPlan {
            net: NET,
            port: PORT,
        },
        validity: Validity::around(1_800_000_000, 3600, 86_400),
        defects: false,
    })
    .expect("testbed builds");
    let bed = Testbed::start_with_threads(hierarchy, 1).expect("testbed starts");
    let mut seen = HashSet::new();
    let questions: Vec<Question> = bed
        .manifest()
        .entries
        .iter()
        .filter(|e| seen.insert((e.name.clone(), e.qtype)))
        .map(|e| Question::new(Name::from_ascii(&e.name).unwrap(), e.qtype.parse().unwrap()))
        .collect();
    let config = Config {
        hints: RootHints::parse(&bed.root_hints()).expect("hints"),
        allow_loopback_upstreams: true,
        ipv6_upstream: false,
        upstream_port: PORT,
        limits: Limits::default(),
        ..Config::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (elapsed, failures, sent) = runtime.block_on(async {
        let transport = Transport::loopback_only(config.edns_payload, config.max_outstanding);
        let r = Recursor::start(config, transport, Arc::new(TokioClock), 1)
            .await
            .expect("recursor");
        let started = tokio::time::Instant::now();
        let gate = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let tasks: Vec<_> = questions
            .iter()
            .cloned()
            .map(|q| {
                let (r, gate) = (r.clone(), gate.clone());
                tokio::spawn(async move {
                    let _permit = gate.acquire().await;
                    r.resolve(q).await.is_err()
                })
            })
            .collect();
        let mut failures = 0;
        let all = async {
            for t in tasks {
                failures += usize::from(t.await.unwrap_or(true));
            }
        };
        tokio::time::timeout(RUN_LIMIT, all)
            .await
            .expect("run within its limit");
        let stats = r.transport().stats();
        let sent = stats.udp_sent.load(Ordering::Relaxed) + stats.tcp_sent.load(Ordering::Relaxed);
        (started.elapsed(), failures, sent)
    });
    bed.stop();
    let names = questions.len();
    println!(
        "zones={zones} names={names} failures={failures} elapsed={:.2}s rate={:.0} names/s upstream_queries={sent} per_name={:.2}",
        elapsed.as_secs_f64(),
        names as f64 / elapsed.as_secs_f64(),
        sent as f64 / names as f64,
    );
}
