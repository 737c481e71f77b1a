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
