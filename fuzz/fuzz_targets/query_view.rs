//! `QueryView::parse` and the reply each outcome earns: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| anchorage_wire::fuzzing::query(data));
