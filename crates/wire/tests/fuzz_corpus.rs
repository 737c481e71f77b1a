//! Replays the committed fuzz corpora (`fuzz/corpus/`) through the same
//! entry points the `cargo fuzz` targets call, on stable, in every test run.

use std::fs;
use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} panics", path.display());
        count += 1;
    }
    assert!(count >= 10, "corpus {target} has only {count} inputs");
}

#[test]
fn query_view_corpus_replays_without_panic() {
    replay("query_view", anchorage_wire::fuzzing::query);
}

#[test]
fn message_round_trip_corpus_replays_without_panic() {
    replay("message_round_trip", anchorage_wire::fuzzing::message);
}
