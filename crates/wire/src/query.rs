//! An allocation-free view of a stub client's query.
//!
//! [`QueryView::parse`] checks a whole query message (header, the one
//! question, every record after it, the OPT record) and keeps what a resolver
//! needs in fixed buffers: the owner name as the client spelled it and
//! lower-cased for cache keys, qtype, qclass, flags and EDNS parameters.
//! Every failure is a [`QueryError`] that says which reply it earns.
//!
//! # Limitations
//! Records in the answer and authority sections of a query are bounds-checked
//! and skipped, never interpreted. TSIG and SIG(0) are not verified.

use hickory_proto::op::ResponseCode;

use crate::name::{NameError, WireName, read_name_into, skip_name};

/// Size of the fixed DNS header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// Smallest UDP payload an EDNS requester may advertise; lower values are
/// treated as 512 (RFC 6891 §6.2.3).
pub const MIN_EDNS_PAYLOAD: u16 = 512;
/// RR type of the EDNS OPT pseudo-record (RFC 6891 §6.1.1).
pub const TYPE_OPT: u16 = 41;
/// EDNS option code of DNS COOKIE (RFC 7873 §4).
pub const OPTION_COOKIE: u16 = 10;
/// Length of a client cookie (RFC 7873 §4).
pub const CLIENT_COOKIE_LEN: usize = 8;
/// Longest server cookie (RFC 7873 §4: 8 to 32 bytes).
pub const MAX_SERVER_COOKIE_LEN: usize = 32;

const QTYPE_IXFR: u16 = 251;
const QTYPE_AXFR: u16 = 252;

/// Which part of the message a structural error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The question section.
    Question,
    /// The answer section.
    Answer,
    /// The authority section.
    Authority,
    /// The additional section.
    Additional,
}

/// Why a query was not accepted, each mapped to the reply it earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Too short to hold a header; nothing can be echoed, so it is dropped.
    #[error("message is {len} bytes, shorter than a DNS header")]
    ShortHeader {
        /// Length received.
        len: usize,
    },
    /// The QR bit is set: a response, not a query. Answering it could start
    /// a packet loop between two servers, so it is dropped.
    #[error("message is a response (QR=1), not a query")]
    NotAQuery,
    /// An opcode other than QUERY (RFC 1035 §4.1.1).
    #[error("opcode {opcode} is not implemented")]
    Opcode {
        /// The opcode received.
        opcode: u8,
    },
    /// QDCOUNT is not exactly one (RFC 9619).
    #[error("query holds {count} questions, expected exactly one")]
    QuestionCount {
        /// The QDCOUNT received.
        count: u16,
    },
    /// A name could not be read.
    #[error("bad name in the {section:?} section")]
    Name {
        /// Where the name stands.
        section: Section,
        /// What is wrong with it.
        #[source]
        source: NameError,
    },
    /// A record or the question runs past the end of the message.
    #[error("the {section:?} section runs past the end of the message")]
    Truncated {
        /// The section that was cut.
        section: Section,
    },
    /// An OPT record outside the additional section, a second one (RFC 6891
    /// §6.1.1), or one whose owner is not the root.
    #[error("misplaced or duplicate OPT record")]
    BadOpt,
    /// An EDNS option runs past the end of the OPT RDATA.
    #[error("EDNS option runs past the end of the OPT record")]
    BadOption,
    /// A COOKIE option of a length RFC 7873 §5.2.2 calls malformed.
    #[error("COOKIE option is {len} bytes long")]
    BadCookie {
        /// Length of the option data.
        len: usize,
    },
    /// Bytes after the last record counted in the header.
    #[error("{count} bytes after the last record")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// EDNS version above 0 (RFC 6891 §6.1.3).
    #[error("EDNS version {version} is not supported")]
    EdnsVersion {
        /// The version the client asked for.
        version: u8,
    },
    /// AXFR or IXFR: zone transfers are for authoritative servers.
    #[error("zone transfer (qtype {qtype}) refused by a recursive resolver")]
    ZoneTransfer {
        /// The qtype asked for.
        qtype: u16,
    },
}

/// What a server does about a query it could not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Send nothing back.
    Drop,
    /// Reply with this RCODE, echoing the ID and, where it parsed, the question.
    Reply(ResponseCode),
}

impl QueryError {
    /// The reply a client gets for this error.
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::ShortHeader { .. } | Self::NotAQuery => Disposition::Drop,
            Self::Opcode { .. } => Disposition::Reply(ResponseCode::NotImp),
            Self::QuestionCount { .. }
            | Self::Name { .. }
            | Self::Truncated { .. }
            | Self::BadOpt
            | Self::BadOption
            | Self::BadCookie { .. }
            | Self::TrailingBytes { .. } => Disposition::Reply(ResponseCode::FormErr),
            // RFC 6891 §6.1.3: BADVERS, with an OPT of the highest version we support.
            Self::EdnsVersion { .. } => Disposition::Reply(ResponseCode::BADVERS),
            Self::ZoneTransfer { .. } => Disposition::Reply(ResponseCode::Refused),
        }
    }
}

/// A DNS COOKIE sent by the client (RFC 7873).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie {
    client: [u8; CLIENT_COOKIE_LEN],
    server: [u8; MAX_SERVER_COOKIE_LEN],
    server_len: u8,
}

impl Cookie {
    /// The 8-byte client cookie.
    pub fn client(&self) -> &[u8; CLIENT_COOKIE_LEN] {
        &self.client
    }

    /// The server cookie the client echoed, empty on a first contact.
    pub fn server(&self) -> &[u8] {
        &self.server[..usize::from(self.server_len)]
    }
}

/// The EDNS parameters of a query (RFC 6891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    udp_payload: u16,
    version: u8,
    dnssec_ok: bool,
    cookie: Option<Cookie>,
}

impl Edns {
    /// The UDP payload size the client advertised, as sent.
    pub fn udp_payload(&self) -> u16 {
        self.udp_payload
    }

    /// The EDNS version asked for.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The DO bit: the client wants DNSSEC records (RFC 3225).
    pub fn dnssec_ok(&self) -> bool {
        self.dnssec_ok
    }

    /// The client's DNS COOKIE, if it sent one.
    pub fn cookie(&self) -> Option<&Cookie> {
        self.cookie.as_ref()
    }
}

/// A checked stub query, held entirely inline.
#[derive(Debug, Clone, Copy)]
pub struct QueryView {
    id: u16,
    flags: u16,
    qname: WireName,
    qname_lower: WireName,
    qtype: u16,
    qclass: u16,
    question_end: usize,
    edns: Option<Edns>,
}

impl Default for QueryView {
    fn default() -> Self {
        Self::new()
    }
}

impl QueryView {
    /// An empty view, to be filled by [`QueryView::parse_into`].
    pub const fn new() -> Self {
        Self {
            id: 0,
            flags: 0,
            qname: WireName::ROOT,
            qname_lower: WireName::ROOT,
            qtype: 0,
            qclass: 0,
            question_end: 0,
            edns: None,
        }
    }

    /// Parses and checks a query message without allocating.
    pub fn parse(msg: &[u8]) -> Result<Self, QueryError> {
        let mut view = Self::new();
        view.parse_into(msg)?;
        Ok(view)
    }

    /// Parses `msg` into this view, reusing its buffers: what a server's
    /// receive loop calls. On error the view's contents are unspecified.
    pub fn parse_into(&mut self, msg: &[u8]) -> Result<(), QueryError> {
        let header = Header::read(msg)?;
        if header.flags & FLAG_QR != 0 {
            return Err(QueryError::NotAQuery);
        }
        let opcode = header.opcode();
        if opcode != 0 {
            return Err(QueryError::Opcode { opcode });
        }
        if header.qdcount != 1 {
            return Err(QueryError::QuestionCount {
                count: header.qdcount,
            });
        }
        let (qtype, qclass, question_end) = read_question_into(msg, &mut self.qname)?;
        let mut cursor = question_end;
        self.edns = None;
        let records = [header.ancount, header.nscount, header.arcount];
        for (section, count) in [
            (Section::Answer, records[0]),
            (Section::Authority, records[1]),
            (Section::Additional, records[2]),
        ]
        .into_iter()
        .filter(|&(_, count)| count > 0)
        {
            for _ in 0..count {
                let record = RecordSpan::read(msg, cursor, section)?;
                if record.rtype == TYPE_OPT {
                    if section != Section::Additional
                        || self.edns.is_some()
                        || record.owner_end - cursor != 1
                        || msg[cursor] != 0
                    {
                        return Err(QueryError::BadOpt);
                    }
                    parse_opt(msg, &record, &mut self.edns)?;
                }
                cursor = record.end;
            }
        }
        if cursor != msg.len() {
            return Err(QueryError::TrailingBytes {
                count: msg.len() - cursor,
            });
        }
        if let Some(e) = &self.edns
            && e.version != 0
        {
            return Err(QueryError::EdnsVersion { version: e.version });
        }
        if qtype == QTYPE_AXFR || qtype == QTYPE_IXFR {
            return Err(QueryError::ZoneTransfer { qtype });
        }
        self.id = header.id;
        self.flags = header.flags;
        self.qname_lower.set_lowercase_of(&self.qname);
        self.qtype = qtype;
        self.qclass = qclass;
        self.question_end = question_end;
        Ok(())
    }

    /// The message ID.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The raw header flags (second 16-bit word of the header).
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// The RD bit: the client wants recursion.
    pub fn recursion_desired(&self) -> bool {
        self.flags & FLAG_RD != 0
    }

    /// The CD bit: the client will check signatures itself (RFC 4035 §3.2.2).
    pub fn checking_disabled(&self) -> bool {
        self.flags & FLAG_CD != 0
    }

    /// The AD bit in the query: the client understands AD (RFC 6840 §5.7).
    pub fn authentic_data(&self) -> bool {
        self.flags & FLAG_AD != 0
    }

    /// The question's name as the client spelled it.
    pub fn qname(&self) -> &WireName {
        &self.qname
    }

    /// The question's name lower-cased: the cache-key form.
    pub fn qname_lower(&self) -> &WireName {
        &self.qname_lower
    }

    /// The question's type.
    pub fn qtype(&self) -> u16 {
        self.qtype
    }

    /// The question's class.
    pub fn qclass(&self) -> u16 {
        self.qclass
    }

    /// Offset in the message just after the question section.
    pub fn question_end(&self) -> usize {
        self.question_end
    }

    /// The EDNS parameters, if the query carried an OPT record.
    pub fn edns(&self) -> Option<&Edns> {
        self.edns.as_ref()
    }

    /// The DO bit: EDNS present with DNSSEC OK set.
    pub fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|e| e.dnssec_ok)
    }

    /// Largest UDP reply this client accepts: its EDNS payload (at least 512)
    /// or 512 without EDNS (RFC 1035 §4.2.1, RFC 6891 §6.2.3).
    pub fn max_udp_reply(&self) -> usize {
        usize::from(
            self.edns
                .map_or(MIN_EDNS_PAYLOAD, |e| e.udp_payload.max(MIN_EDNS_PAYLOAD)),
        )
    }
}

pub(crate) const FLAG_QR: u16 = 0x8000;
pub(crate) const FLAG_AA: u16 = 0x0400;
pub(crate) const FLAG_TC: u16 = 0x0200;
pub(crate) const FLAG_RD: u16 = 0x0100;
pub(crate) const FLAG_RA: u16 = 0x0080;
pub(crate) const FLAG_AD: u16 = 0x0020;
pub(crate) const FLAG_CD: u16 = 0x0010;

/// The fixed header, decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) id: u16,
    pub(crate) flags: u16,
    pub(crate) qdcount: u16,
    pub(crate) ancount: u16,
    pub(crate) nscount: u16,
    pub(crate) arcount: u16,
}

impl Header {
    pub(crate) fn read(msg: &[u8]) -> Result<Self, QueryError> {
        let Some(h) = msg.first_chunk::<HEADER_LEN>() else {
            return Err(QueryError::ShortHeader { len: msg.len() });
        };
        let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Ok(Self {
            id: word(0),
            flags: word(2),
            qdcount: word(4),
            ancount: word(6),
            nscount: word(8),
            arcount: word(10),
        })
    }

    pub(crate) fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0F) as u8
    }
}

/// Reads the single question after the header: name, type, class, end.
pub(crate) fn read_question(msg: &[u8]) -> Result<(WireName, u16, u16, usize), QueryError> {
    let mut qname = WireName::ROOT;
    let (qtype, qclass, end) = read_question_into(msg, &mut qname)?;
    Ok((qname, qtype, qclass, end))
}

/// Reads the question's name into `qname`; returns type, class and end.
fn read_question_into(msg: &[u8], qname: &mut WireName) -> Result<(u16, u16, usize), QueryError> {
    let name_end = read_name_into(msg, HEADER_LEN, qname).map_err(|source| QueryError::Name {
        section: Section::Question,
        source,
    })?;
    let Some(tc) = msg.get(name_end..name_end + 4) else {
        return Err(QueryError::Truncated {
            section: Section::Question,
        });
    };
    let qtype = u16::from_be_bytes([tc[0], tc[1]]);
    let qclass = u16::from_be_bytes([tc[2], tc[3]]);
    Ok((qtype, qclass, name_end + 4))
}

/// Where one resource record sits in a message: the offsets and fixed
/// fields of a record, found without reading its RDATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    /// Offset just past the owner name (where TYPE starts; TTL is 4 on).
    pub owner_end: usize,
    /// TYPE.
    pub rtype: u16,
    /// CLASS.
    pub class: u16,
    /// TTL as sent (for OPT: extended RCODE, version and flags).
    pub ttl: u32,
    /// Offset of the RDATA.
    pub rdata_start: usize,
    /// Offset just past the record: where the next one starts.
    pub end: usize,
}

impl RecordSpan {
    /// Bounds-checks the record at `pos` in `msg`, found in `section`
    /// (named in errors), without interpreting its RDATA.
    pub fn read(msg: &[u8], pos: usize, section: Section) -> Result<Self, QueryError> {
        let owner_end =
            skip_name(msg, pos).map_err(|source| QueryError::Name { section, source })?;
        let Some(fixed) = msg.get(owner_end..owner_end + 10) else {
            return Err(QueryError::Truncated { section });
        };
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata_start = owner_end + 10;
        let end = rdata_start + rdlen;
        if end > msg.len() {
            return Err(QueryError::Truncated { section });
        }
        Ok(Self {
            owner_end,
            rtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            class: u16::from_be_bytes([fixed[2], fixed[3]]),
            ttl: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            rdata_start,
            end,
        })
    }
}

/// Decodes an OPT record's fixed fields and the options we act on into
/// `slot`, in place.
fn parse_opt(msg: &[u8], record: &RecordSpan, slot: &mut Option<Edns>) -> Result<(), QueryError> {
    // RFC 6891 §6.1.3: CLASS is the payload size; TTL is ext-RCODE, version, flags.
    let [_ext_rcode, version, flags_hi, _flags_lo] = record.ttl.to_be_bytes();
    let edns = slot.insert(Edns {
        udp_payload: record.class,
        version,
        dnssec_ok: flags_hi & 0x80 != 0,
        cookie: None,
    });
    let mut options = &msg[record.rdata_start..record.end];
    while !options.is_empty() {
        let Some((head, rest)) = options.split_first_chunk::<4>() else {
            return Err(QueryError::BadOption);
        };
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let Some((data, rest)) = rest.split_at_checked(len) else {
            return Err(QueryError::BadOption);
        };
        if code == OPTION_COOKIE {
            edns.cookie = Some(parse_cookie(data)?);
        }
        options = rest;
    }
    Ok(())
}

fn parse_cookie(data: &[u8]) -> Result<Cookie, QueryError> {
    let server_len = data.len().wrapping_sub(CLIENT_COOKIE_LEN);
    if data.len() != CLIENT_COOKIE_LEN && !(8..=MAX_SERVER_COOKIE_LEN).contains(&server_len) {
        return Err(QueryError::BadCookie { len: data.len() });
    }
    let (client, server) = data.split_at(CLIENT_COOKIE_LEN);
    let mut cookie = Cookie {
        client: [0; CLIENT_COOKIE_LEN],
        server: [0; MAX_SERVER_COOKIE_LEN],
        server_len: server.len() as u8,
    };
    cookie.client.copy_from_slice(client);
    cookie.server[..server.len()].copy_from_slice(server);
    Ok(cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `www.Example.com. A` with RD, no EDNS.
    pub(crate) const PLAIN: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
        \x03www\x07Example\x03com\x00\x00\x01\x00\x01";

    fn with_opt(base: &[u8], payload: u16, version: u8, flags: u16, options: &[u8]) -> Vec<u8> {
        let mut m = base.to_vec();
        m[11] += 1; // ARCOUNT
        m.push(0);
        m.extend_from_slice(&TYPE_OPT.to_be_bytes());
        m.extend_from_slice(&payload.to_be_bytes());
        m.extend_from_slice(&[0, version]);
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&(options.len() as u16).to_be_bytes());
        m.extend_from_slice(options);
        m
    }

    #[test]
    fn plain_query_keeps_case_and_lowercases_key() {
        let q = QueryView::parse(PLAIN).unwrap();
        assert_eq!(q.id(), 0x1234);
        assert!(q.recursion_desired());
        assert!(!q.checking_disabled());
        assert_eq!(q.qname().to_string(), "www.Example.com.");
        assert_eq!(q.qname_lower().to_string(), "www.example.com.");
        assert_eq!((q.qtype(), q.qclass()), (1, 1));
        assert!(q.edns().is_none());
        assert_eq!(q.max_udp_reply(), 512);
        assert_eq!(q.question_end(), PLAIN.len());
    }

    #[test]
    fn edns_fields_and_cookie_are_read() {
        let mut opt = vec![0, 10, 0, 24];
        opt.extend_from_slice(&[1; 8]);
        opt.extend_from_slice(&[2; 16]);
        opt.extend_from_slice(&[0, 12, 0, 2, 0, 0]); // padding, skipped
        let m = with_opt(PLAIN, 4096, 0, 0x8000, &opt);
        let q = QueryView::parse(&m).unwrap();
        let e = q.edns().unwrap();
        assert_eq!(e.udp_payload(), 4096);
        assert!(q.dnssec_ok());
        assert_eq!(q.max_udp_reply(), 4096);
        let c = e.cookie().unwrap();
        assert_eq!(c.client(), &[1; 8]);
        assert_eq!(c.server(), &[2; 16]);
    }

    #[test]
    fn tiny_edns_payload_counts_as_512() {
        let m = with_opt(PLAIN, 100, 0, 0, &[]);
        assert_eq!(QueryView::parse(&m).unwrap().max_udp_reply(), 512);
    }

    #[test]
    fn errors_map_to_the_rfc_replies() {
        let reply = |m: &[u8]| QueryView::parse(m).unwrap_err().disposition();
        assert_eq!(reply(&PLAIN[..11]), Disposition::Drop);

        let mut response = PLAIN.to_vec();
        response[2] |= 0x80;
        assert_eq!(reply(&response), Disposition::Drop);

        let mut notify = PLAIN.to_vec();
        notify[2] = 4 << 3;
        assert_eq!(reply(&notify), Disposition::Reply(ResponseCode::NotImp));

        let mut two = PLAIN.to_vec();
        two[5] = 2;
        assert_eq!(reply(&two), Disposition::Reply(ResponseCode::FormErr));

        let mut zero = PLAIN.to_vec();
        zero[5] = 0;
        assert_eq!(reply(&zero), Disposition::Reply(ResponseCode::FormErr));

        assert_eq!(
            reply(&PLAIN[..PLAIN.len() - 1]),
            Disposition::Reply(ResponseCode::FormErr)
        );

        let mut trailing = PLAIN.to_vec();
        trailing.push(0);
        assert_eq!(
            QueryView::parse(&trailing).unwrap_err(),
            QueryError::TrailingBytes { count: 1 }
        );

        let v1 = with_opt(PLAIN, 1232, 1, 0, &[]);
        assert_eq!(reply(&v1), Disposition::Reply(ResponseCode::BADVERS));

        let twice = with_opt(&with_opt(PLAIN, 1232, 0, 0, &[]), 1232, 0, 0, &[]);
        assert_eq!(QueryView::parse(&twice).unwrap_err(), QueryError::BadOpt);

        let bad_cookie = with_opt(PLAIN, 1232, 0, 0, &[0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(
            QueryView::parse(&bad_cookie).unwrap_err(),
            QueryError::BadCookie { len: 9 }
        );

        let cut_option = with_opt(PLAIN, 1232, 0, 0, &[0, 10, 0, 8, 1]);
        assert_eq!(
            QueryView::parse(&cut_option).unwrap_err(),
            QueryError::BadOption
        );

        let mut axfr = PLAIN.to_vec();
        let n = axfr.len();
        axfr[n - 3] = 252;
        assert_eq!(reply(&axfr), Disposition::Reply(ResponseCode::Refused));
    }

    #[test]
    fn opt_outside_additional_is_formerr() {
        let mut m = with_opt(PLAIN, 1232, 0, 0, &[]);
        m[11] = 0; // ARCOUNT
        m[7] = 1; // ANCOUNT
        assert_eq!(QueryView::parse(&m).unwrap_err(), QueryError::BadOpt);
    }

    #[test]
    fn compressed_question_is_followed_backwards_only() {
        // A pointer into the header: bytes 2..5 read as the name "\000.".
        let mut m = PLAIN[..12].to_vec();
        m.extend_from_slice(b"\xC0\x02\x00\x01\x00\x01");
        let q = QueryView::parse(&m).unwrap();
        assert_eq!(q.qname().as_bytes(), b"\x01\x00\x00");
        assert_eq!(q.question_end(), 18);
        // A pointer to itself is a loop.
        let mut m = PLAIN[..12].to_vec();
        m.extend_from_slice(b"\xC0\x0C\x00\x01\x00\x01");
        assert!(matches!(
            QueryView::parse(&m),
            Err(QueryError::Name {
                source: NameError::ForwardPointer { .. },
                ..
            })
        ));
    }
}
