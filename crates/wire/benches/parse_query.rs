//! `QueryView::parse` against hickory-proto's `Message::from_vec` on typical
//! stub queries, measured in the same run.

use std::hint::black_box;

use anchorage_wire::QueryView;
use anchorage_wire::proto::op::Message;
use criterion::{Criterion, criterion_group, criterion_main};

/// `www.example.com. A`, RD, no EDNS: what an old stub sends.
const PLAIN: &[u8] = b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
    \x03www\x07example\x03com\x00\x00\x01\x00\x01";
/// `mail.Example.ORG. AAAA`, RD+AD, EDNS 1232 with DO and a client cookie:
/// what dig and modern stubs send.
const EDNS: &[u8] = b"\x12\x34\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\
    \x04mail\x07Example\x03ORG\x00\x00\x1c\x00\x01\
    \x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x0c\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08";

fn parse(c: &mut Criterion) {
    for (label, query) in [("plain", PLAIN), ("edns_do_cookie", EDNS)] {
        // Both must accept the query, or the comparison means nothing.
        assert!(QueryView::parse(query).is_ok());
        assert!(Message::from_vec(query).is_ok());
        let mut group = c.benchmark_group(format!("parse_query/{label}"));
        group.bench_function("hickory", |b| {
            b.iter(|| Message::from_vec(black_box(query)));
        });
        group.bench_function("anchorage", |b| {
            b.iter(|| QueryView::parse(black_box(query)));
        });
        // What a server's receive loop does: one view per worker, reused.
        let mut view = QueryView::new();
        group.bench_function("anchorage_reuse", |b| {
            b.iter(|| view.parse_into(black_box(query)).is_ok());
        });
        group.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
