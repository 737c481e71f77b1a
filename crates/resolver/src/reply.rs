//! Replies to stub clients built from the iterator's answers.

use anchorage_iterator::Answer;
use anchorage_wire::QueryView;
use anchorage_wire::proto::op::{Edns, Message, OpCode, Query};
use anchorage_wire::proto::rr::rdata::opt::EdnsOption;
use anchorage_wire::proto::rr::{Name, Record, RecordType};
use anchorage_wire::response::{DEFAULT_UDP_PAYLOAD, EdeCode, MAX_EDE_TEXT, OPTION_EDE};

/// Record types a client sees only when it set DO (RFC 4035 §3.2.1).
fn is_dnssec_type(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3 | RecordType::DNSKEY
    )
}

/// The question name as the client spelled it.
pub(crate) fn client_name(query: &QueryView) -> Name {
    let mut name = Name::from_labels(query.qname().labels()).unwrap_or_else(|_| Name::root());
    name.set_fqdn(true);
    name
}

/// A reply header and question for `query`, with its OPT when it sent one.
pub(crate) fn reply_message(query: &QueryView) -> Message {
    let mut msg = Message::response(query.id(), OpCode::Query);
    msg.metadata.recursion_desired = query.recursion_desired();
    msg.metadata.recursion_available = true;
    msg.metadata.checking_disabled = query.checking_disabled();
    msg.add_query(Query::query(
        client_name(query),
        RecordType::from(query.qtype()),
    ));
    if let Some(edns) = query.edns() {
        let mut ours = Edns::new();
        ours.set_max_payload(DEFAULT_UDP_PAYLOAD);
        ours.set_dnssec_ok(edns.dnssec_ok());
        msg.set_edns(ours);
    }
    msg
}

/// Builds the reply to `query` from `answer` into `out`: DNSSEC records
/// only for DO clients (with the proofs of wildcard-expanded chain links
/// in the authority section), AD set when `secure` (the caller clears it for
/// clients that did not ask, RFC 6840 §5.7, after caching), every TTL at
/// most `ttl_cap` (the validator's, RFC 4035 §5.3.3), and an Extended DNS
/// Error when given and the client speaks EDNS.
pub fn build_reply(
    query: &QueryView,
    answer: &Answer,
    secure: bool,
    ttl_cap: Option<u32>,
    ede: Option<(EdeCode, &str)>,
    out: &mut Vec<u8>,
) {
    let mut msg = reply_message(query);
    let dnssec = query.dnssec_ok();
    msg.metadata.response_code = answer.rcode;
    msg.metadata.authentic_data = secure;
    if let (Some((code, text)), Some(edns)) = (ede, msg.edns.as_mut()) {
        let mut data = (code as u16).to_be_bytes().to_vec();
        let mut end = text.len().min(MAX_EDE_TEXT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        data.extend_from_slice(&text.as_bytes()[..end]);
        edns.options_mut()
            .insert(EdnsOption::Unknown(OPTION_EDE, data));
    }
    let wanted = |r: &&Record| {
        dnssec
            || !is_dnssec_type(r.record_type())
            || r.record_type() == RecordType::from(query.qtype())
    };
    // Upstream names carry our random 0x20 case: the client's own name goes
    // back as it spelled it, every other owner in lower case.
    let client = client_name(query);
    let respell = |r: &Record| {
        let mut r = r.clone();
        r.name = if r.name == client {
            client.clone()
        } else {
            r.name.to_lowercase()
        };
        if let Some(cap) = ttl_cap {
            r.ttl = r.ttl.min(cap);
        }
        r
    };
    for record in answer.answers.iter().filter(wanted) {
        msg.add_answer(respell(record));
    }
    for record in answer.authority.iter().filter(wanted) {
        msg.add_authority(respell(record));
    }
    // The NSEC/NSEC3 proofs of wildcard-expanded chain links came in
    // earlier replies: a validating stub needs them to check those links.
    if dnssec {
        for record in &answer.link_proofs {
            let record = respell(record);
            let known = msg.authorities.iter().any(|r| {
                r.name == record.name
                    && r.record_type() == record.record_type()
                    && r.data == record.data
            });
            if !known {
                msg.add_authority(record);
            }
        }
    }
    out.clear();
    // Invariant: every record came from a decoded message, so it encodes.
    if let Ok(bytes) = msg.to_vec() {
        out.extend_from_slice(&bytes);
    }
}
