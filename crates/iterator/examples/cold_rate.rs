//! Cold-cache rate: every distinct manifest name of an N-zone testbed
//! resolved once by a fresh recursor on one thread.
//!
//! `cargo run --release -p anchorage-iterator --example cold_rate -- 2000 200`
//! (zones, questions in flight). Prints names per second and upstream
//! queries per name. The testbed serves from its own thread; pin the
//! process with `taskset` to measure on fixed cores.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anchorage_iterator::config::Config;
use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Question, Recursor, RootHints, Transport};
use anchorage_testbed::AddressPlan;
use anchorage_testbed::cold::{self, ColdBed};

/// Loopback block of the benchmark's testbed.
const ADDRESSES: AddressPlan = AddressPlan {
    net: 171,
    port: 5453,
};

// Counts far below 2^52 print exactly as f64.
#[allow(clippy::cast_precision_loss)]
fn main() {
    let (zones, in_flight) = cold::args();
    let ColdBed { bed, questions } = cold::start(zones, ADDRESSES);
    let config = Config::loopback(
        RootHints::parse(&bed.root_hints()).expect("hints"),
        ADDRESSES.port,
    );
    let runtime = cold::runtime();
    let (elapsed, failures, sent) = runtime.block_on(async {
        let transport = Transport::loopback_only(config.edns_payload, config.max_outstanding);
        let r = Recursor::start(config, transport, Arc::new(TokioClock), 1)
            .await
            .expect("recursor");
        let started = tokio::time::Instant::now();
        let outcomes = cold::run_gated(questions.iter().cloned(), in_flight, |q| {
            let r = r.clone();
            async move { r.resolve(Question::new(q.0, q.1)).await.is_err() }
        })
        .await;
        let failures = outcomes.iter().filter(|o| o.unwrap_or(true)).count();
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
