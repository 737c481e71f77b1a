//! Full message parse, re-encode, re-parse; canonical form and truncation
//! of whatever parsed: never a panic, always a fixpoint.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| anchorage_wire::fuzzing::message(data));
