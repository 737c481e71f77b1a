//! Parses one stub query N times with the parser named on the command line,
//! so `bench/wire-instructions.sh` can count instructions per parse with
//! callgrind: a figure the machine's load does not disturb.
//!
//! Usage: `parse_cost <hickory|anchorage|anchorage-reuse> <plain|edns> <n>`

use std::hint::black_box;

use anchorage_wire::QueryView;
use anchorage_wire::proto::op::Message;

const PLAIN: &[u8] = b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
    \x03www\x07example\x03com\x00\x00\x01\x00\x01";
const EDNS: &[u8] = b"\x12\x34\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\
    \x04mail\x07Example\x03ORG\x00\x00\x1c\x00\x01\
    \x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x0c\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(parser), Some(query), Some(n)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: parse_cost <hickory|anchorage|anchorage-reuse> <plain|edns> <n>");
        std::process::exit(2);
    };
    let query = if query == "edns" { EDNS } else { PLAIN };
    let n: u64 = n.parse().expect("n is a number");
    let mut view = QueryView::new();
    let mut ok = 0u64;
    for _ in 0..n {
        ok += u64::from(match parser.as_str() {
            "hickory" => Message::from_vec(black_box(query)).is_ok(),
            "anchorage" => QueryView::parse(black_box(query)).is_ok(),
            _ => view.parse_into(black_box(query)).is_ok(),
        });
    }
    assert_eq!(ok, n, "every parse must succeed");
}
