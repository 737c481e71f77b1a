//! Cold-cache validation cost: every distinct manifest name of an N-zone
//! testbed resolved and validated once by a fresh recursor and validator
//! on one thread.
//!
//! `cargo run --release -p anchorage-validator --example cold_validate -- 2000 200`
//! (zones, questions in flight). Prints the validator's counters
//! ([`ValidatorStats`]) and the share of the resolving thread's CPU time
//! spent in signature verification. The testbed serves from its own
//! thread, which is not counted; pin with `taskset` for steadier figures.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anchorage_iterator::config::{Config, Limits as IterLimits};
use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Question, Recursor, RootHints, Transport};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_validator::{Limits, Security, TrustAnchors, Validator, ValidatorStats};
use anchorage_wire::proto::rr::Name;

/// Loopback block of the benchmark's testbed.
const NET: u8 = 43;
const PORT: u16 = 15462;
/// Unix time the testbed signs around, and the validator's clock.
const NOW: u32 = 1_800_000_000;
/// Longest the whole run may take.
const RUN_LIMIT: Duration = Duration::from_mins(10);

/// CPU time of the calling thread in nanoseconds (Linux schedstat).
fn thread_cpu_nanos() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat is readable")
}

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
        validity: Validity::around(NOW, 3600, 86_400),
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
        limits: IterLimits::default(),
        ..Config::default()
    };
    let anchors = TrustAnchors::from_zone_text(&bed.trust_anchor()).expect("anchor parses");
    let validator = Arc::new(Validator::new(Arc::new(anchors), Limits::default()));
    let now = UNIX_EPOCH + Duration::from_secs(u64::from(NOW));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (elapsed, cpu, failures, not_secure) = runtime.block_on(async {
        let transport = Transport::loopback_only(config.edns_payload, config.max_outstanding);
        let r = Recursor::start(config, transport, Arc::new(TokioClock), 1)
            .await
            .expect("recursor");
        let started = std::time::Instant::now();
        let cpu_before = thread_cpu_nanos();
        let gate = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let tasks: Vec<_> = questions
            .iter()
            .cloned()
            .map(|q| {
                let (r, v, gate) = (r.clone(), Arc::clone(&validator), gate.clone());
                tokio::spawn(async move {
                    let _permit = gate.acquire().await;
                    match r.resolve(q).await {
                        Ok(answer) => Some(v.validate(&answer, &r, now).await.status.security()),
                        Err(_) => None,
                    }
                })
            })
            .collect();
        let (mut failures, mut not_secure) = (0, 0);
        let all = async {
            for t in tasks {
                match t.await.ok().flatten() {
                    None => failures += 1,
                    Some(Security::Secure) => {}
                    Some(_) => not_secure += 1,
                }
            }
        };
        tokio::time::timeout(RUN_LIMIT, all)
            .await
            .expect("run within its limit");
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
