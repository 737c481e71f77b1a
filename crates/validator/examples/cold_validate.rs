//! Cold-cache validation cost: every distinct manifest name of an N-zone
//! testbed resolved and validated once by a fresh recursor and validator
//! on one thread.
//!
//! `cargo run --release -p anchorage-validator --example cold_validate -- 2000 200`
//! (zones, questions in flight). Prints the validator's counters
//! ([`ValidatorStats`]) and the share of the resolving thread's CPU time
//! spent in signature verification. The testbed serves from its own
//! thread, which is not counted; pin with `taskset` for steadier figures.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anchorage_iterator::config::Config;
use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Question, Recursor, RootHints, Transport};
use anchorage_testbed::AddressPlan;
use anchorage_testbed::cold::{self, ColdBed, SIGNED_AROUND};
use anchorage_validator::{Limits, Security, TrustAnchors, Validator, ValidatorStats};

/// Loopback block of the benchmark's testbed.
const ADDRESSES: AddressPlan = AddressPlan {
    net: 43,
    port: 15462,
};

/// CPU time of the calling thread in nanoseconds (Linux schedstat).
fn thread_cpu_nanos() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat is readable")
}

fn main() {
    let (zones, in_flight) = cold::args();
    let ColdBed { bed, questions } = cold::start(zones, ADDRESSES);
    let config = Config::loopback(
        RootHints::parse(&bed.root_hints()).expect("hints"),
        ADDRESSES.port,
    );
    let anchors = TrustAnchors::from_zone_text(&bed.trust_anchor()).expect("anchor parses");
    let validator = Arc::new(Validator::new(Arc::new(anchors), Limits::default()));
    // The validator's clock: the time the testbed signs around.
    let now = UNIX_EPOCH + Duration::from_secs(u64::from(SIGNED_AROUND));
    let runtime = cold::runtime();
    let (elapsed, cpu, failures, not_secure) = runtime.block_on(async {
        let transport = Transport::loopback_only(config.edns_payload, config.max_outstanding);
        let r = Recursor::start(config, transport, Arc::new(TokioClock), 1)
            .await
            .expect("recursor");
        let started = std::time::Instant::now();
        let cpu_before = thread_cpu_nanos();
        let outcomes = cold::run_gated(questions.iter().cloned(), in_flight, |q| {
            let (r, v) = (r.clone(), Arc::clone(&validator));
            async move {
                match r.resolve(Question::new(q.0, q.1)).await {
                    Ok(answer) => Some(v.validate(&answer, &r, now).await.status.security()),
                    Err(_) => None,
                }
            }
        })
        .await;
        let (mut failures, mut not_secure) = (0, 0);
        for outcome in outcomes {
            match outcome.flatten() {
                None => failures += 1,
                Some(Security::Secure) => {}
                Some(_) => not_secure += 1,
            }
        }
        let cpu = thread_cpu_nanos() - cpu_before;
        (started.elapsed(), cpu, failures, not_secure)
    });
    bed.stop();
    report(
        zones,
        questions.len(),
        failures,
        not_secure,
        elapsed,
        cpu,
        validator.stats(),
    );
}

/// Prints the run's figures and the validator's counters.
// Counts far below 2^52 print exactly as f64.
#[allow(clippy::cast_precision_loss)]
fn report(
    zones: usize,
    names: usize,
    failures: usize,
    not_secure: usize,
    elapsed: Duration,
    cpu: u64,
    stats: ValidatorStats,
) {
    let ValidatorStats {
        validations,
        secure,
        insecure,
        bogus,
        indeterminate,
        signature_checks,
        memo_hits,
        nsec3_hashes,
        fetches,
        verify_nanos,
    } = stats;
    println!(
        "zones={zones} names={} failures={failures} not_secure={not_secure} elapsed={:.2}s \
         thread_cpu={:.3}s per_name={:.1}us",
        names,
        elapsed.as_secs_f64(),
        cpu as f64 / 1e9,
        cpu as f64 / 1e3 / names as f64,
    );
    println!(
        "validations={validations} secure={secure} insecure={insecure} bogus={bogus} \
         indeterminate={indeterminate} fetches={fetches}"
    );
    println!(
        "signature_checks={signature_checks} memo_hits={memo_hits} nsec3_hashes={nsec3_hashes} \
         verify={:.3}s verification_share={:.1}%",
        verify_nanos as f64 / 1e9,
        100.0 * verify_nanos as f64 / cpu as f64,
    );
}
