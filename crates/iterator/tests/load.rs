//! Many distinct questions at once against the testbed, bounded in count
//! and time.

mod common;

use std::collections::HashSet;

use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::RecordType;
use common::{recursor, resolve, testbed_with_seed};

/// Distinct questions resolved at once.
const QUESTIONS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_distinct_questions_resolve_concurrently() {
    // Seed 33: under debug overflow checks some seeds trip an addition
    // in the testbed's big-TXT builder (testbed content.rs, reported).
    let bed = testbed_with_seed(170, 120, false, 33);
    let r = recursor(&bed).await;
    let mut seen = HashSet::new();
    let questions: Vec<(String, RecordType)> = bed
        .manifest()
        .entries
        .iter()
        .filter(|e| seen.insert((e.name.clone(), e.qtype)))
        .map(|e| (e.name.clone(), e.qtype.parse().unwrap()))
        .take(QUESTIONS)
        .collect();
    assert_eq!(questions.len(), QUESTIONS);
    let tasks: Vec<_> = questions
        .into_iter()
        .map(|(name, qtype)| {
            let r = r.clone();
            tokio::spawn(async move { (resolve(&r, &name, qtype).await, name) })
        })
        .collect();
    let mut answered = 0;
    for task in tasks {
        let (result, name) = task.await.unwrap();
        let answer = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(
            answer.rcode,
            ResponseCode::NoError | ResponseCode::NXDomain
        ));
        answered += 1;
    }
    assert_eq!(answered, QUESTIONS);
    bed.stop();
}
