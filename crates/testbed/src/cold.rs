//! The cold-cache runs of the iterator and validator examples: the command
//! line both take, a testbed of N zones signed around a fixed time, each
//! distinct question of its manifest, a one-thread runtime, and the
//! questions asked with a bound on how many are in flight.
//!
//! What a run measures (names per second, CPU time, validator counters)
//! stays in each example.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anchorage_wire::proto::rr::{Name, RecordType};
use tokio::sync::Semaphore;

use crate::{AddressPlan, HierarchyConfig, Testbed, Validity, build};

/// Unix time a cold-run testbed signs around, and so a validator's clock.
pub const SIGNED_AROUND: u32 = 1_800_000_000;
/// Second-level zones of a run when the command line does not say.
pub const DEFAULT_ZONES: usize = 2000;
/// Questions in flight at once when the command line does not say.
pub const DEFAULT_IN_FLIGHT: usize = 200;
/// Longest a whole run may take.
pub const RUN_LIMIT: Duration = Duration::from_mins(10);

/// The zones and questions in flight from the command line
/// (`-- <zones> <in flight>`), each defaulted when missing or unreadable.
pub fn args() -> (usize, usize) {
    let mut args = std::env::args().skip(1);
    let zones = args.next().and_then(|a| a.parse().ok());
    let in_flight = args.next().and_then(|a| a.parse().ok());
    (
        zones.unwrap_or(DEFAULT_ZONES),
        in_flight.unwrap_or(DEFAULT_IN_FLIGHT),
    )
}

/// A running cold-run testbed and the questions of a run.
pub struct ColdBed {
    /// The testbed, serving from one thread.
    pub bed: Testbed,
    /// Each distinct name and type of its manifest, once, in manifest order.
    pub questions: Vec<(Name, RecordType)>,
}

/// Starts `zones` second-level zones (seed 11, no defects, signed for a
/// day around [`SIGNED_AROUND`]) at `addresses`.
///
/// # Panics
/// If the testbed cannot be built or bound: the examples have nothing to
/// run then.
pub fn start(zones: usize, addresses: AddressPlan) -> ColdBed {
    let hierarchy = build(HierarchyConfig {
        seed: 11,
        zones,
        addresses,
        validity: Validity::around(SIGNED_AROUND, 3600, 86_400),
        defects: false,
    })
    .expect("testbed builds");
    let bed = Testbed::start_with_threads(hierarchy, 1).expect("testbed starts");
    let mut seen = HashSet::new();
    let questions = bed
        .manifest()
        .entries
        .iter()
        .filter(|e| seen.insert((e.name.clone(), e.qtype)))
        .map(|e| {
            let name = Name::from_ascii(&e.name).expect("manifest names parse");
            let qtype = e.qtype.parse().expect("manifest types parse");
            (name, qtype)
        })
        .collect();
    ColdBed { bed, questions }
}

/// The runtime of a run: one thread, whose work the examples measure.
///
/// # Panics
/// If the runtime cannot be built.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `job` on each of `items`, each on its own task, at most `in_flight`
/// at once; the outcomes in the order of `items`, `None` for a task that
/// panicked.
///
/// # Panics
/// If the whole run takes longer than [`RUN_LIMIT`].
pub async fn run_gated<T, F, Fut>(
    items: impl IntoIterator<Item = T>,
    in_flight: usize,
    job: F,
) -> Vec<Option<Fut::Output>>
where
    F: Fn(T) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let gate = Arc::new(Semaphore::new(in_flight));
    let tasks: Vec<_> = items
        .into_iter()
        .map(|item| {
            let (gate, work) = (Arc::clone(&gate), job(item));
            tokio::spawn(async move {
                let _permit = gate.acquire().await;
                work.await
            })
        })
        .collect();
    let all = async {
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(task.await.ok());
        }
        outcomes
    };
    tokio::time::timeout(RUN_LIMIT, all)
        .await
        .expect("run within its limit")
}
