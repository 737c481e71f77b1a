//! Fuzz entry points, shared by the `cargo fuzz` targets in `fuzz/` and the
//! corpus replay test that CI runs on stable.
//!
//! Each function takes arbitrary bytes and panics only on a real bug: a
//! parser that panics, or a message that does not survive an encode and
//! re-parse unchanged.

use hickory_proto::op::Message;
use hickory_proto::rr::Record;

use crate::canonical::{SignedData, signed_data};
use crate::query::QueryView;
use crate::response::{rejection_reply, truncate};

/// Parses `data` as a stub query and builds the reply each outcome earns.
///
/// # Panics
/// When a reply we built does not parse, or parses as a query.
pub fn query(data: &[u8]) {
    let mut out = Vec::new();
    match QueryView::parse(data) {
        Ok(view) => {
            crate::response::error_reply(
                &view,
                hickory_proto::op::ResponseCode::ServFail,
                None,
                &mut out,
            );
            let reply = QueryView::parse(&out);
            // A reply is not a query: the parser must say so, not panic.
            assert!(reply.is_err(), "our reply parsed as a query");
            let echoed = Message::from_vec(&out).expect("our error reply must parse");
            assert_eq!(echoed.id, view.id());
            assert_eq!(echoed.queries.len(), 1);
        }
        Err(error) => {
            if rejection_reply(data, &error, &mut out) {
                Message::from_vec(&out).expect("our rejection reply must parse");
            }
        }
    }
}

/// Parses `data` as a full message; if it parses, encodes it, and checks the
/// encoding parses again to the same message and the same bytes. Then puts
/// each run of same-type records through the canonical form and truncates
/// the encoding to several sizes, checking the result still parses.
///
/// # Panics
/// When any of those checks fails.
pub fn message(data: &[u8]) {
    let Ok(message) = Message::from_vec(data) else {
        return;
    };
    let Ok(encoded) = message.to_vec() else {
        return;
    };
    let again = Message::from_vec(&encoded).expect("re-encoded message must parse");
    let re_encoded = again.to_vec().expect("re-parsed message must encode");
    assert_eq!(encoded, re_encoded, "encoding is not a fixpoint");

    let mut buf = SignedData::new();
    for section in [&again.answers, &again.authorities, &again.additionals] {
        canonicalise_runs(section, &mut buf);
    }

    for limit in [512, 1232, encoded.len().saturating_sub(1)] {
        let mut cut = encoded.clone();
        if truncate(&mut cut, limit).is_ok() {
            assert!(cut.len() <= limit.max(encoded.len().min(limit)));
            Message::from_vec(&cut).expect("truncated message must parse");
        }
    }
}

fn canonicalise_runs(records: &[Record], buf: &mut SignedData) {
    use hickory_proto::dnssec::Algorithm;
    use hickory_proto::dnssec::rdata::SigInput;
    use hickory_proto::rr::SerialNumber;

    let mut start = 0;
    while start < records.len() {
        let first = &records[start];
        let len = records[start..]
            .iter()
            .take_while(|r| r.record_type() == first.record_type() && r.name == first.name)
            .count()
            .max(1);
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: Algorithm::RSASHA256,
            num_labels: first.name.num_labels(),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(2),
            sig_inception: SerialNumber::new(1),
            key_tag: 1,
            signer_name: first.name.clone(),
        };
        let _ = signed_data(&input, &records[start..start + len], buf);
        start += len;
    }
}
