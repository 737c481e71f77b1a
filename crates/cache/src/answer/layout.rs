//! The layout of a reply in wire form: what the answer cache patches on
//! every hit (the TTL fields), the SOA's negative TTL and the OPT record,
//! found with wire's bounds-checked record walker.
//!
//! # Limitations
//! RDATA is skipped, never interpreted, except the SOA MINIMUM field.

use anchorage_wire::name::{NameError, WireName, read_name};
use anchorage_wire::query::{HEADER_LEN, QueryError, RecordSpan, Section, TYPE_OPT};

use crate::limits::MAX_MESSAGE_LEN;

/// RR type of SOA (RFC 1035 §3.3.13).
pub const TYPE_SOA: u16 = 6;
/// Smallest SOA RDATA: two root names and five 32-bit fields (RFC 1035 §3.3.13).
const MIN_SOA_RDATA: usize = 2 + 5 * 4;

/// Why a reply could not be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    /// Shorter than a header.
    #[error("reply is {len} bytes, shorter than a DNS header")]
    ShortHeader {
        /// Length received.
        len: usize,
    },
    /// Longer than any DNS message.
    #[error("reply is {len} bytes, longer than {MAX_MESSAGE_LEN}")]
    TooLong {
        /// Length received.
        len: usize,
    },
    /// Not exactly one question.
    #[error("reply holds {count} questions, expected exactly one")]
    QuestionCount {
        /// QDCOUNT.
        count: u16,
    },
    /// The question's name is compressed; a cached reply echoes the
    /// client's spelling over it, which needs it spelled out.
    #[error("question name is compressed")]
    CompressedQuestion,
    /// A name could not be read.
    #[error("bad name at offset {offset}")]
    Name {
        /// Where the record or question starts.
        offset: usize,
        /// What was wrong with it.
        #[source]
        source: NameError,
    },
    /// The message ends inside a record.
    #[error("record at offset {offset} runs past the end of the reply")]
    Truncated {
        /// Where the record starts.
        offset: usize,
    },
    /// Bytes follow the last record.
    #[error("{count} bytes after the last record")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// An OPT record outside the additional section, or not last, or twice.
    #[error("OPT record at offset {offset} is misplaced")]
    MisplacedOpt {
        /// Where it starts.
        offset: usize,
    },
    /// SOA RDATA too short to hold its fixed fields.
    #[error("SOA record at offset {offset} is too short")]
    ShortSoa {
        /// Where it starts.
        offset: usize,
    },
}

/// What the walk found in a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLayout {
    /// The question's name as the reply spells it.
    pub qname: WireName,
    /// The question's type.
    pub qtype: u16,
    /// The question's class.
    pub qclass: u16,
    /// Offset just past the question.
    pub question_end: usize,
    /// RCODE (low four bits).
    pub rcode: u8,
    /// Header flags word.
    pub flags: u16,
    /// Answer records.
    pub ancount: u16,
    /// Offsets of the TTL fields of every record but OPT, in order.
    pub ttl_offsets: Vec<u16>,
    /// Offset of the first SOA's TTL in the authority section, and its
    /// MINIMUM field (RFC 2308 §4).
    pub soa: Option<(u16, u32)>,
    /// Where the OPT record starts, if the reply has one (always last).
    pub opt_start: Option<usize>,
    /// The DO bit of the OPT record.
    pub dnssec_ok: bool,
}

/// Walks a whole reply, checking every bound.
pub fn walk_reply(msg: &[u8]) -> Result<ReplyLayout, WalkError> {
    if msg.len() > MAX_MESSAGE_LEN {
        return Err(WalkError::TooLong { len: msg.len() });
    }
    let Some(h) = msg.first_chunk::<HEADER_LEN>() else {
        return Err(WalkError::ShortHeader { len: msg.len() });
    };
    let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let (flags, qdcount) = (word(2), word(4));
    let counts = [word(6), word(8), word(10)];
    if qdcount != 1 {
        return Err(WalkError::QuestionCount { count: qdcount });
    }
    let (qname, name_end) = read_name(msg, HEADER_LEN).map_err(|source| WalkError::Name {
        offset: HEADER_LEN,
        source,
    })?;
    if name_end != HEADER_LEN + qname.as_bytes().len() {
        return Err(WalkError::CompressedQuestion);
    }
    let Some(tc) = msg.get(name_end..name_end + 4) else {
        return Err(WalkError::Truncated { offset: HEADER_LEN });
    };
    let mut layout = ReplyLayout {
        qname,
        qtype: u16::from_be_bytes([tc[0], tc[1]]),
        qclass: u16::from_be_bytes([tc[2], tc[3]]),
        question_end: name_end + 4,
        rcode: (flags & 0x000F) as u8,
        flags,
        ancount: counts[0],
        ttl_offsets: Vec::new(),
        soa: None,
        opt_start: None,
        dnssec_ok: false,
    };
    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
    let mut cursor = layout.question_end;
    let answers = usize::from(counts[0]);
    let authority = answers..answers + usize::from(counts[1]);
    for index in 0..total {
        let start = cursor;
        let section = if index < answers {
            Section::Answer
        } else if authority.contains(&index) {
            Section::Authority
        } else {
            Section::Additional
        };
        let span = RecordSpan::read(msg, start, section).map_err(|e| match e {
            QueryError::Name { source, .. } => WalkError::Name {
                offset: start,
                source,
            },
            _ => WalkError::Truncated { offset: start },
        })?;
        let RecordSpan {
            owner_end,
            rtype,
            ttl: ttl_flags,
            end,
            ..
        } = span;
        let rdlen = end - span.rdata_start;
        let in_authority = section == Section::Authority;
        if rtype == TYPE_OPT {
            // RFC 6891 §6.1.1: one OPT, in the additional section; we also
            // want it last so it can be cut off and rewritten per client.
            if index + 1 != total || section != Section::Additional {
                return Err(WalkError::MisplacedOpt { offset: start });
            }
            layout.opt_start = Some(start);
            layout.dnssec_ok = ttl_flags & 0x8000 != 0;
        } else {
            // Invariant: the message is at most 65 535 bytes long.
            let ttl_at = (owner_end + 4) as u16;
            layout.ttl_offsets.push(ttl_at);
            if rtype == TYPE_SOA && in_authority && layout.soa.is_none() {
                if rdlen < MIN_SOA_RDATA {
                    return Err(WalkError::ShortSoa { offset: start });
                }
                let m = &msg[end - 4..end];
                layout.soa = Some((ttl_at, u32::from_be_bytes([m[0], m[1], m[2], m[3]])));
            }
        }
        cursor = end;
    }
    if cursor != msg.len() {
        return Err(WalkError::TrailingBytes {
            count: msg.len() - cursor,
        });
    }
    Ok(layout)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a reply to `qname`/A with the given answer TTLs, an optional
    /// negative SOA and an optional OPT record with DO.
    pub(crate) fn reply(
        qname: &[u8],
        rcode: u8,
        answers: &[u32],
        soa: Option<(u32, u32)>,
        opt_do: Option<bool>,
    ) -> Vec<u8> {
        let mut m = vec![0xAB, 0xCD, 0x81, 0x80 | rcode, 0, 1];
        m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&u16::from(soa.is_some()).to_be_bytes());
        m.extend_from_slice(&u16::from(opt_do.is_some()).to_be_bytes());
        m.extend_from_slice(qname);
        m.extend_from_slice(&[0, 1, 0, 1]);
        for (i, ttl) in answers.iter().enumerate() {
            m.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&[0, 4, 192, 0, 2, i as u8]);
        }
        if let Some((ttl, minimum)) = soa {
            m.extend_from_slice(&[0xC0, 0x0C, 0, 6, 0, 1]);
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&[0, 22, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
            m.extend_from_slice(&minimum.to_be_bytes());
        }
        if let Some(dnssec_ok) = opt_do {
            m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0]);
            m.extend_from_slice(&[if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        }
        m
    }

    pub(crate) const WWW: &[u8] = b"\x03www\x07example\x03com\x00";

    #[test]
    fn finds_every_ttl_and_the_opt_record() {
        let m = reply(WWW, 0, &[300, 60], None, Some(true));
        let layout = walk_reply(&m).unwrap();
        assert_eq!(layout.ttl_offsets.len(), 2);
        for &at in &layout.ttl_offsets {
            let at = usize::from(at);
            let ttl = u32::from_be_bytes(m[at..at + 4].try_into().unwrap());
            assert!(ttl == 300 || ttl == 60);
        }
        assert!(layout.dnssec_ok);
        assert_eq!(layout.opt_start, Some(m.len() - 11));
        assert_eq!(layout.qname.to_string(), "www.example.com.");
    }

    #[test]
    fn reads_soa_minimum_from_authority() {
        let m = reply(WWW, 3, &[], Some((900, 120)), None);
        let layout = walk_reply(&m).unwrap();
        assert_eq!(layout.rcode, 3);
        let (at, minimum) = layout.soa.unwrap();
        assert_eq!(minimum, 120);
        assert_eq!(layout.ttl_offsets, [at]);
    }

    #[test]
    fn rejects_truncated_trailing_and_misplaced_opt() {
        let m = reply(WWW, 0, &[300], None, None);
        for cut in 12..m.len() {
            assert!(walk_reply(&m[..cut]).is_err(), "cut at {cut} accepted");
        }
        let mut trailing = m.clone();
        trailing.push(0);
        assert_eq!(
            walk_reply(&trailing).unwrap_err(),
            WalkError::TrailingBytes { count: 1 }
        );
        // OPT counted as an answer record.
        let mut opt_in_answer = reply(WWW, 0, &[], None, Some(false));
        opt_in_answer[7] = 1;
        opt_in_answer[11] = 0;
        assert!(matches!(
            walk_reply(&opt_in_answer),
            Err(WalkError::MisplacedOpt { .. })
        ));
    }
}
