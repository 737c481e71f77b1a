//! Building replies in wire form: headers, echoed questions, OPT records
//! with Extended DNS Errors, and truncation to the client's size.
//!
//! Everything writes into a caller-owned `Vec<u8>` that is cleared and
//! reused, so a warm server builds replies without allocating.
//!
//! # Limitations
//! [`truncate`] expects the OPT record, if any, to be the last record, as
//! every encoder we use (ours and hickory's) writes it.

use hickory_proto::op::ResponseCode;

use crate::name::read_name;
use crate::query::Disposition;
use crate::query::{
    FLAG_AA, FLAG_AD, FLAG_CD, FLAG_QR, FLAG_RA, FLAG_RD, FLAG_TC, HEADER_LEN, Header, QueryError,
    QueryView, RecordSpan, Section, TYPE_OPT, read_question,
};

/// UDP payload size we advertise and use by default (DNS Flag Day 2020).
pub const DEFAULT_UDP_PAYLOAD: u16 = 1232;
/// Largest UDP reply to a client without EDNS (RFC 1035 §4.2.1).
pub const MAX_PLAIN_UDP_REPLY: usize = 512;
/// EDNS option code of Extended DNS Errors (RFC 8914 §2).
pub const OPTION_EDE: u16 = 15;
/// Longest EDE EXTRA-TEXT we send; longer text is cut at a character
/// boundary so one diagnostic cannot crowd out the answer.
pub const MAX_EDE_TEXT: usize = 256;

/// Extended DNS Error info-codes (RFC 8914 §4 and the IANA registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum EdeCode {
    /// 0: none of the others.
    Other = 0,
    /// 1: a DNSKEY uses an algorithm we do not support.
    UnsupportedDnskeyAlgorithm = 1,
    /// 2: a DS uses a digest type we do not support.
    UnsupportedDsDigestType = 2,
    /// 3: stale answer served (RFC 8767).
    StaleAnswer = 3,
    /// 4: forged answer (policy).
    ForgedAnswer = 4,
    /// 5: DNSSEC indeterminate.
    DnssecIndeterminate = 5,
    /// 6: DNSSEC bogus.
    DnssecBogus = 6,
    /// 7: signature expired.
    SignatureExpired = 7,
    /// 8: signature not yet valid.
    SignatureNotYetValid = 8,
    /// 9: DNSKEY missing.
    DnskeyMissing = 9,
    /// 10: RRSIGs missing.
    RrsigsMissing = 10,
    /// 11: no zone key bit set.
    NoZoneKeyBitSet = 11,
    /// 12: NSEC missing.
    NsecMissing = 12,
    /// 13: cached error.
    CachedError = 13,
    /// 14: not ready.
    NotReady = 14,
    /// 15: blocked by policy.
    Blocked = 15,
    /// 16: censored.
    Censored = 16,
    /// 17: filtered.
    Filtered = 17,
    /// 18: prohibited (access control).
    Prohibited = 18,
    /// 19: stale NXDOMAIN answer.
    StaleNxdomainAnswer = 19,
    /// 20: not authoritative.
    NotAuthoritative = 20,
    /// 21: not supported.
    NotSupported = 21,
    /// 22: no reachable authority.
    NoReachableAuthority = 22,
    /// 23: network error.
    NetworkError = 23,
    /// 24: invalid data.
    InvalidData = 24,
    /// 27: unsupported NSEC3 iterations value (RFC 9276).
    UnsupportedNsec3Iterations = 27,
}

/// An Extended DNS Error to attach to a reply (RFC 8914).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ede<'a> {
    /// The info-code.
    pub code: EdeCode,
    /// Free text for operators; may be empty.
    pub text: &'a str,
}

/// The OPT record a reply carries (RFC 6891 §6.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyOpt<'a> {
    /// Our UDP payload size.
    pub udp_payload: u16,
    /// Echo of the client's DO bit.
    pub dnssec_ok: bool,
    /// Upper 8 bits of a 12-bit RCODE (BADVERS is 16, so 1).
    pub ext_rcode: u8,
    /// An Extended DNS Error to include.
    pub ede: Option<Ede<'a>>,
}

impl Default for ReplyOpt<'_> {
    fn default() -> Self {
        Self {
            udp_payload: DEFAULT_UDP_PAYLOAD,
            dnssec_ok: false,
            ext_rcode: 0,
            ede: None,
        }
    }
}

/// Why a message could not be truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TruncateError {
    /// The message itself is malformed.
    #[error("message to truncate is malformed")]
    Malformed(#[from] QueryError),
    /// An OPT record is present but not last.
    #[error("OPT record is not the last record")]
    OptNotLast,
    /// Even header, question and OPT exceed the limit.
    #[error("header, question and OPT alone exceed {limit} bytes")]
    TooSmall {
        /// The limit asked for.
        limit: usize,
    },
}

/// What [`truncate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// The message fit as it was.
    Fits,
    /// Additional records were dropped; everything needed is still there.
    DroppedAdditional,
    /// Answer or authority records were dropped and TC set.
    Truncated,
}

/// Writes a reply header and echoes the query's question into `out`.
///
/// Copies ID, opcode, RD and CD from the query, sets QR and RA, and echoes
/// the question with the client's letter case. Section counts are zero;
/// the caller appends records and sets the counts with [`set_counts`].
pub fn start_reply(query: &QueryView, rcode: ResponseCode, out: &mut Vec<u8>) {
    out.clear();
    let flags = FLAG_QR | FLAG_RA | (query.flags() & (FLAG_RD | FLAG_CD)) | rcode_low(rcode);
    write_header(out, query.id(), flags, 1);
    out.extend_from_slice(query.qname().as_bytes());
    out.extend_from_slice(&query.qtype().to_be_bytes());
    out.extend_from_slice(&query.qclass().to_be_bytes());
}

/// Sets the answer, authority and additional counts of a message.
pub fn set_counts(msg: &mut [u8], ancount: u16, nscount: u16, arcount: u16) {
    if let Some(h) = msg.get_mut(6..HEADER_LEN) {
        h[0..2].copy_from_slice(&ancount.to_be_bytes());
        h[2..4].copy_from_slice(&nscount.to_be_bytes());
        h[4..6].copy_from_slice(&arcount.to_be_bytes());
    }
}

/// Sets or clears the AD bit of a message (RFC 4035 §3.2.3).
pub fn set_authentic_data(msg: &mut [u8], on: bool) {
    set_flag(msg, FLAG_AD, on);
}

/// Sets or clears the AA bit of a message.
pub fn set_authoritative(msg: &mut [u8], on: bool) {
    set_flag(msg, FLAG_AA, on);
}

/// Appends an OPT record to `out` (its count is the caller's to set).
pub fn write_opt(out: &mut Vec<u8>, opt: &ReplyOpt<'_>) {
    out.push(0); // owner: root
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&opt.udp_payload.to_be_bytes());
    out.push(opt.ext_rcode);
    out.push(0); // version 0
    out.extend_from_slice(&(if opt.dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
    match opt.ede {
        None => out.extend_from_slice(&0u16.to_be_bytes()),
        Some(ede) => {
            let text = cut_at_char_boundary(ede.text, MAX_EDE_TEXT);
            let option_len = 2 + text.len() as u16;
            out.extend_from_slice(&(4 + option_len).to_be_bytes());
            out.extend_from_slice(&OPTION_EDE.to_be_bytes());
            out.extend_from_slice(&option_len.to_be_bytes());
            out.extend_from_slice(&(ede.code as u16).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// Writes a complete error reply to `query` (header, question, and an OPT
/// when the client used EDNS) into `out`.
pub fn error_reply(
    query: &QueryView,
    rcode: ResponseCode,
    ede: Option<Ede<'_>>,
    out: &mut Vec<u8>,
) {
    start_reply(query, rcode, out);
    if let Some(edns) = query.edns() {
        write_opt(
            out,
            &ReplyOpt {
                dnssec_ok: edns.dnssec_ok(),
                ext_rcode: rcode_high(rcode),
                ede,
                ..ReplyOpt::default()
            },
        );
        set_counts(out, 0, 0, 1);
    }
}

/// Writes the reply a rejected query earns into `out`, or returns false
/// when the right thing is to send nothing.
///
/// Echoes the ID, and the question when it parsed; adds an OPT for
/// BADVERS (RFC 6891 §6.1.3), the one error whose reply needs it.
pub fn rejection_reply(msg: &[u8], error: &QueryError, out: &mut Vec<u8>) -> bool {
    let Disposition::Reply(rcode) = error.disposition() else {
        return false;
    };
    let Ok(header) = Header::read(msg) else {
        return false;
    };
    out.clear();
    let flags =
        FLAG_QR | FLAG_RA | (header.flags & (FLAG_RD | FLAG_CD | 0x7800)) | rcode_low(rcode);
    let question = (header.qdcount == 1)
        .then(|| read_question(msg).ok())
        .flatten();
    write_header(out, header.id, flags, u16::from(question.is_some()));
    if let Some((name, qtype, qclass, _)) = question {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&qclass.to_be_bytes());
    }
    if matches!(error, QueryError::EdnsVersion { .. }) {
        write_opt(
            out,
            &ReplyOpt {
                ext_rcode: rcode_high(rcode),
                ..ReplyOpt::default()
            },
        );
        set_counts(out, 0, 0, 1);
    }
    true
}

/// Cuts `msg` to at most `limit` bytes without cutting a record.
///
/// Drops additional records first, whole RRsets at a time; if answer or
/// authority records must go too, keeps the whole RRsets that fit, drops
/// the rest and sets TC (RFC 2181 §9, RFC 1035 §4.2.1). The OPT record is
/// always kept (RFC 6891 §7).
pub fn truncate(msg: &mut Vec<u8>, limit: usize) -> Result<Truncation, TruncateError> {
    if msg.len() <= limit {
        return Ok(Truncation::Fits);
    }
    let header = Header::read(msg)?;
    let mut cursor = HEADER_LEN;
    for _ in 0..header.qdcount {
        let (_, end) = read_name(msg, cursor).map_err(|source| QueryError::Name {
            section: Section::Question,
            source,
        })?;
        cursor = end + 4;
        if cursor > msg.len() {
            return Err(QueryError::Truncated {
                section: Section::Question,
            }
            .into());
        }
    }
    let question_end = cursor;

    // Find the OPT record and check it is last.
    let total = u32::from(header.ancount) + u32::from(header.nscount) + u32::from(header.arcount);
    let mut opt_start = None;
    let mut scan = question_end;
    for i in 0..total {
        let rec = RecordSpan::read(msg, scan, section_of(&header, i))?;
        if rec.rtype == TYPE_OPT {
            if i + 1 != total {
                return Err(TruncateError::OptNotLast);
            }
            opt_start = Some(scan);
        }
        scan = rec.end;
    }
    let opt_len = opt_start.map_or(0, |s| scan - s);
    let budget = limit
        .checked_sub(opt_len)
        .filter(|b| *b >= question_end)
        .ok_or(TruncateError::TooSmall { limit })?;

    // Walk records; everything before `cursor` fits. Cut at the last RRset
    // boundary before the first record that does not.
    let real = total - u32::from(opt_start.is_some());
    let mut counts = [0u16; 3];
    let mut cursor = question_end;
    let mut kept = (counts, cursor);
    let mut previous = None;
    let mut outcome = Truncation::DroppedAdditional;
    let mut overflowed = false;
    for i in 0..real {
        let section = section_of(&header, i);
        let rec = RecordSpan::read(msg, cursor, section)?;
        let (owner, _) =
            read_name(msg, cursor).map_err(|source| QueryError::Name { section, source })?;
        let key = (section, owner.to_lowercase(), rec.rtype, rec.class);
        if previous.as_ref() != Some(&key) {
            kept = (counts, cursor);
        }
        if rec.end > budget {
            if section != Section::Additional {
                outcome = Truncation::Truncated;
            }
            overflowed = true;
            break;
        }
        counts[section_index(section)] += 1;
        cursor = rec.end;
        previous = Some(key);
    }
    if !overflowed {
        // Only bytes after the last record were over the limit.
        kept = (counts, cursor);
    }
    let ([an, ns, ar], keep_end) = kept;
    if let Some(start) = opt_start {
        msg.copy_within(start..start + opt_len, keep_end);
    }
    msg.truncate(keep_end + opt_len);
    set_counts(msg, an, ns, ar + u16::from(opt_start.is_some()));
    if outcome == Truncation::Truncated {
        set_flag(msg, FLAG_TC, true);
    }
    Ok(outcome)
}

fn section_of(header: &Header, index: u32) -> Section {
    let an = u32::from(header.ancount);
    let ns = u32::from(header.nscount);
    if index < an {
        Section::Answer
    } else if index < an + ns {
        Section::Authority
    } else {
        Section::Additional
    }
}

fn section_index(section: Section) -> usize {
    match section {
        Section::Question | Section::Answer => 0,
        Section::Authority => 1,
        Section::Additional => 2,
    }
}

fn write_header(out: &mut Vec<u8>, id: u16, flags: u16, qdcount: u16) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&qdcount.to_be_bytes());
    out.extend_from_slice(&[0; 6]);
}

fn set_flag(msg: &mut [u8], flag: u16, on: bool) {
    if let Some(word) = msg.get_mut(2..4) {
        let mut flags = u16::from_be_bytes([word[0], word[1]]);
        if on {
            flags |= flag;
        } else {
            flags &= !flag;
        }
        word.copy_from_slice(&flags.to_be_bytes());
    }
}

fn rcode_low(rcode: ResponseCode) -> u16 {
    u16::from(rcode.low())
}

fn rcode_high(rcode: ResponseCode) -> u8 {
    rcode.high()
}

fn cut_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::{A, TXT};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use super::*;

    const QUERY: &[u8] = b"\xbe\xef\x01\x10\x00\x01\x00\x00\x00\x00\x00\x01\
        \x03WwW\x07example\x03com\x00\x00\x01\x00\x01\
        \x00\x00\x29\x10\x00\x00\x00\x80\x00\x00\x00";

    #[test]
    fn error_reply_echoes_id_question_case_flags_and_carries_ede() {
        let query = QueryView::parse(QUERY).unwrap();
        let mut out = Vec::new();
        let ede = Ede {
            code: EdeCode::SignatureExpired,
            text: "RRSIG expired",
        };
        error_reply(&query, ResponseCode::ServFail, Some(ede), &mut out);
        let msg = Message::from_vec(&out).unwrap();
        assert_eq!(msg.id, 0xbeef);
        assert_eq!(msg.message_type, MessageType::Response);
        assert_eq!(msg.response_code, ResponseCode::ServFail);
        assert!(msg.recursion_desired && msg.recursion_available && msg.checking_disabled);
        assert!(!msg.authentic_data);
        assert_eq!(msg.queries[0].name().to_string(), "WwW.example.com.");
        let edns = msg.edns.as_ref().expect("OPT echoed to an EDNS client");
        assert_eq!(edns.max_payload(), DEFAULT_UDP_PAYLOAD);
        assert!(edns.flags().dnssec_ok);
        // EDE option: code 15, info-code 7, then the text.
        let tail = b"\x00\x0f\x00\x0f\x00\x07RRSIG expired";
        assert!(out.ends_with(tail));
    }

    #[test]
    fn error_reply_without_edns_has_no_opt() {
        let plain = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01";
        let query = QueryView::parse(plain).unwrap();
        let mut out = Vec::new();
        error_reply(&query, ResponseCode::Refused, None, &mut out);
        let msg = Message::from_vec(&out).unwrap();
        assert_eq!(msg.response_code, ResponseCode::Refused);
        assert!(msg.edns.is_none());
        assert_eq!(out.len(), plain.len());
    }

    #[test]
    fn ede_text_is_capped_at_a_char_boundary() {
        let query = QueryView::parse(QUERY).unwrap();
        let long = "é".repeat(MAX_EDE_TEXT);
        let mut out = Vec::new();
        error_reply(
            &query,
            ResponseCode::ServFail,
            Some(Ede {
                code: EdeCode::Other,
                text: &long,
            }),
            &mut out,
        );
        assert!(Message::from_vec(&out).is_ok());
        assert!(out.len() <= QUERY.len() + 4 + 2 + MAX_EDE_TEXT);
    }

    #[test]
    fn rejections_reply_as_the_rfcs_say() {
        let mut out = Vec::new();
        // BADVERS: extended RCODE 16 needs an OPT (RFC 6891 §6.1.3).
        let mut v1 = QUERY.to_vec();
        let n = v1.len();
        v1[n - 5] = 1; // EDNS version
        let err = QueryView::parse(&v1).unwrap_err();
        assert!(rejection_reply(&v1, &err, &mut out));
        let msg = Message::from_vec(&out).unwrap();
        // 16 is both BADVERS and BADSIG; hickory names it BADSIG.
        assert_eq!(u16::from(msg.response_code), 16);
        assert_eq!(msg.queries.len(), 1);

        // NOTIMP keeps the opcode and echoes the question.
        let mut notify = QUERY.to_vec();
        notify[2] = 0x20 | 0x01;
        let err = QueryView::parse(&notify).unwrap_err();
        assert!(rejection_reply(&notify, &err, &mut out));
        let msg = Message::from_vec(&out).unwrap();
        assert_eq!(msg.response_code, ResponseCode::NotImp);
        assert_eq!(msg.op_code, OpCode::Notify);

        // FORMERR for two questions: ID echoed, no question.
        let mut two = QUERY.to_vec();
        two[5] = 2;
        let err = QueryView::parse(&two).unwrap_err();
        assert!(rejection_reply(&two, &err, &mut out));
        assert_eq!(&out[..2], b"\xbe\xef");
        assert_eq!(&out[4..6], b"\x00\x00");
        assert_eq!(out[3] & 0x0f, 1);

        // Responses and runts are dropped.
        let mut response = QUERY.to_vec();
        response[2] |= 0x80;
        let err = QueryView::parse(&response).unwrap_err();
        assert!(!rejection_reply(&response, &err, &mut out));
        let err = QueryView::parse(&QUERY[..5]).unwrap_err();
        assert!(!rejection_reply(&QUERY[..5], &err, &mut out));
    }

    /// A response with `answers` A records, `extra` TXT records in the
    /// additional section, and an OPT.
    fn big_response(answers: u8, extra: usize) -> Vec<u8> {
        let name = Name::from_ascii("big.example.").unwrap();
        let mut msg = Message::response(7, OpCode::Query);
        msg.add_query(Query::query(name.clone(), RecordType::A));
        for i in 0..answers {
            msg.add_answer(Record::from_rdata(
                name.clone(),
                60,
                RData::A(A::new(10, 0, 0, i)),
            ));
        }
        for i in 0..extra {
            let other = Name::from_ascii(format!("t{i}.example.")).unwrap();
            msg.add_additional(Record::from_rdata(
                other,
                60,
                RData::TXT(TXT::new(vec!["x".repeat(200)])),
            ));
        }
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        msg.set_edns(edns);
        msg.to_vec().unwrap()
    }

    #[test]
    fn small_messages_are_left_alone() {
        let mut msg = big_response(2, 0);
        let before = msg.clone();
        assert_eq!(truncate(&mut msg, 512), Ok(Truncation::Fits));
        assert_eq!(msg, before);
    }

    #[test]
    fn additional_records_go_first_without_tc() {
        let mut msg = big_response(3, 5);
        assert!(msg.len() > 512);
        assert_eq!(truncate(&mut msg, 512), Ok(Truncation::DroppedAdditional));
        assert!(msg.len() <= 512);
        let parsed = Message::from_vec(&msg).unwrap();
        assert!(!parsed.truncation);
        assert_eq!(parsed.answers.len(), 3);
        assert!(parsed.additionals.len() < 5);
        assert!(parsed.edns.is_some(), "OPT must survive truncation");
    }

    #[test]
    fn answers_that_do_not_fit_set_tc_and_drop_whole_rrsets() {
        // 60 A records of 16+ bytes each cannot fit in 512 bytes.
        let mut msg = big_response(60, 2);
        assert_eq!(truncate(&mut msg, 512), Ok(Truncation::Truncated));
        assert!(msg.len() <= 512);
        let parsed = Message::from_vec(&msg).unwrap();
        assert!(parsed.truncation);
        // The A RRset is one RRset: it goes whole, never in part.
        assert_eq!(parsed.answers.len(), 0);
        assert!(parsed.additionals.is_empty());
        assert!(parsed.edns.is_some());
    }

    #[test]
    fn truncation_below_the_header_and_question_is_an_error() {
        let mut msg = big_response(60, 0);
        assert_eq!(
            truncate(&mut msg, 20),
            Err(TruncateError::TooSmall { limit: 20 })
        );
    }
}
