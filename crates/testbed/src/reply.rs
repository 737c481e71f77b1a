//! Replies in wire form, encoded once and copied per query.
//!
//! A [`Prepared`] reply holds the header flags, section counts and body
//! (every record after the question) of an [`Answer`], encoded behind a
//! *template* question: the query name itself or, for a referral, the zone
//! cut, which every name below the cut ends with. [`Prepared::render`]
//! writes the client's question, copies the body and moves each compression
//! pointer by the difference in question length: every pointer targets the
//! template's tail or the body, and both move by that difference, so one
//! body serves every name that ends with the template.
//!
//! Sans-IO: takes a parsed query, writes into the caller's buffer.
//!
//! # Limitations
//! Answers other than referrals are kept per exact name, so random names
//! below a zone (NXDOMAIN floods) each cost a miss until the cache starts
//! over. Only owner names are compressed; names inside RDATA are written
//! whole (RFC 3597 §4 allows that for every type), so replies can be a
//! little larger than a compressing server's.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use anchorage_wire::QueryView;
use anchorage_wire::canonical::write_canonical_name;
use anchorage_wire::name::MAX_NAME_LEN;
use anchorage_wire::proto::ProtoError;
use anchorage_wire::proto::rr::{Record, RecordType};
use anchorage_wire::proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use anchorage_wire::query::HEADER_LEN;
use anchorage_wire::response::{ReplyOpt, write_opt};

use crate::answer::Answer;

/// Highest offset a compression pointer can name (RFC 1035 §4.1.4: 14 bits).
pub const MAX_POINTER_OFFSET: usize = 0x3FFF;
/// Highest offset a prepared body points at, so that moving the pointer by
/// the longest possible question growth still fits in 14 bits.
const MAX_TARGET: usize = MAX_POINTER_OFFSET - MAX_NAME_LEN;
/// Bytes of QTYPE and QCLASS after the question name (RFC 1035 §4.1.2).
const QUESTION_TAIL: usize = 4;
/// Top two bits of a length byte that make it a compression pointer.
const POINTER_TAG: u8 = 0xC0;
/// Entries a [`ReplyCache`] holds before it starts over: bounds memory under
/// floods of random names (a few MiB per zone at most), whose replies are
/// then made, served and dropped.
pub const DEFAULT_REPLY_CACHE_ENTRIES: usize = 1 << 12;
/// Length of a [`ReplyKey`]: a wire name, the qtype and the DO bit.
const KEY_LEN: usize = MAX_NAME_LEN + 3;

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_RD: u16 = 0x0100;
const FLAG_CD: u16 = 0x0010;

/// Why an answer could not be put in wire form.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// hickory could not encode a record's RDATA.
    #[error("cannot encode the RDATA of {owner} type {rtype}")]
    Rdata {
        /// Owner of the record.
        owner: String,
        /// Its type.
        rtype: RecordType,
        /// The cause.
        #[source]
        source: ProtoError,
    },
    /// The reply would not fit in one DNS message.
    #[error("reply body of {len} bytes exceeds a DNS message")]
    TooLong {
        /// The body's length so far.
        len: usize,
    },
}

/// Why a prepared reply could not be written for a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The question's name does not end with the reply's template.
    #[error("question name of {len} bytes does not end with the {template}-byte template")]
    NotBelowTemplate {
        /// Length of the question name.
        len: usize,
        /// Length of the template.
        template: usize,
    },
}

/// An answer encoded once, ready to be copied behind any question whose
/// name ends with its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// AA and the low RCODE bits.
    flags: u16,
    /// Answer, authority and additional counts (no OPT).
    counts: [u16; 3],
    /// The template name, lower-case wire form.
    template: Box<[u8]>,
    /// The records, encoded right after a template question.
    body: Box<[u8]>,
    /// Offsets in `body` of every compression pointer.
    pointers: Box<[u16]>,
}

impl Prepared {
    /// Encodes `answer` as if behind a question for `template`, a
    /// lower-case wire name.
    pub fn encode(answer: &Answer, template: &[u8]) -> Result<Self, EncodeError> {
        let mut writer = BodyWriter::new(template);
        let counts = [
            writer.section(&answer.answer)?,
            writer.section(&answer.authority)?,
            writer.section(&answer.additional)?,
        ];
        let mut flags = u16::from(answer.rcode.low());
        if answer.authoritative {
            flags |= FLAG_AA;
        }
        Ok(Self {
            flags,
            counts,
            template: template.into(),
            body: writer.body.into_boxed_slice(),
            pointers: writer.pointers.into_boxed_slice(),
        })
    }

    /// Writes the reply to `query` into `out`, echoing `question` (the
    /// client's spelling of the query name, or any name that ends with the
    /// template) with the query's type and class; adds an OPT record when
    /// the query had EDNS. Does not truncate.
    pub fn render(
        &self,
        query: &QueryView,
        question: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError> {
        let not_below = RenderError::NotBelowTemplate {
            len: question.len(),
            template: self.template.len(),
        };
        let delta = question
            .len()
            .checked_sub(self.template.len())
            .ok_or(not_below)?;
        if !question[delta..].eq_ignore_ascii_case(&self.template) {
            return Err(not_below);
        }
        out.clear();
        let flags = FLAG_QR | self.flags | (query.flags() & (FLAG_RD | FLAG_CD));
        let [ancount, nscount, mut arcount] = self.counts;
        let edns = query.edns();
        if edns.is_some() {
            arcount += 1;
        }
        for word in [query.id(), flags, 1, ancount, nscount, arcount] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(question);
        out.extend_from_slice(&query.qtype().to_be_bytes());
        out.extend_from_slice(&query.qclass().to_be_bytes());
        let base = out.len();
        out.extend_from_slice(&self.body);
        if delta > 0 {
            // delta <= MAX_NAME_LEN and every target <= MAX_TARGET, so the
            // moved pointer stays within 14 bits.
            let delta = delta as u16;
            for &at in &self.pointers {
                let at = base + usize::from(at);
                if let Some([high, low]) = out.get_mut(at..at + 2) {
                    let target = u16::from_be_bytes([*high & !POINTER_TAG, *low]) + delta;
                    [*high, *low] = (target | (u16::from(POINTER_TAG) << 8)).to_be_bytes();
                }
            }
        }
        if let Some(edns) = edns {
            write_opt(
                out,
                &ReplyOpt {
                    dnssec_ok: edns.dnssec_ok(),
                    ..ReplyOpt::default()
                },
            );
        }
        Ok(())
    }

    /// The template name this reply was encoded behind.
    pub fn template(&self) -> &[u8] {
        &self.template
    }
}

/// Writes records after a template question, compressing owner names.
struct BodyWriter {
    body: Vec<u8>,
    pointers: Vec<u16>,
    /// Names already in the message (lower-case wire) and their offsets.
    names: Vec<(Vec<u8>, usize)>,
    /// Offset of the body's first byte in the message.
    start: usize,
    owner: Vec<u8>,
    rdata: Vec<u8>,
}

impl BodyWriter {
    fn new(template: &[u8]) -> Self {
        let mut writer = Self {
            body: Vec::with_capacity(512),
            pointers: Vec::new(),
            names: Vec::new(),
            start: HEADER_LEN + template.len() + QUESTION_TAIL,
            owner: Vec::with_capacity(MAX_NAME_LEN),
            rdata: Vec::new(),
        };
        writer.remember(template, template.len(), HEADER_LEN);
        writer
    }

    /// Records the suffixes of `name` that start before `stop`, the name
    /// being written from message offset `at`.
    fn remember(&mut self, name: &[u8], stop: usize, at: usize) {
        let mut pos = 0;
        while let Some(&len) = name.get(pos) {
            if len == 0 || pos >= stop || at + pos > MAX_TARGET {
                break;
            }
            let suffix = &name[pos..];
            if !self.names.iter().any(|(known, _)| known == suffix) {
                self.names.push((suffix.to_vec(), at + pos));
            }
            pos += 1 + usize::from(len);
        }
    }

    fn section(&mut self, records: &[Record]) -> Result<u16, EncodeError> {
        for record in records {
            self.record(record)?;
        }
        u16::try_from(records.len()).map_err(|_| EncodeError::TooLong {
            len: self.body.len(),
        })
    }

    fn record(&mut self, record: &Record) -> Result<(), EncodeError> {
        let rtype = record.record_type();
        self.owner.clear();
        write_canonical_name(&record.name, &mut self.owner);
        let owner = std::mem::take(&mut self.owner);
        self.name(&owner);
        self.owner = owner;
        self.body.extend_from_slice(&u16::from(rtype).to_be_bytes());
        self.body
            .extend_from_slice(&u16::from(record.dns_class).to_be_bytes());
        self.body.extend_from_slice(&record.ttl.to_be_bytes());
        self.rdata.clear();
        {
            let mut encoder = BinEncoder::new(&mut self.rdata);
            encoder.set_name_encoding(NameEncoding::Uncompressed);
            record
                .data
                .emit(&mut encoder)
                .map_err(|source| EncodeError::Rdata {
                    owner: record.name.to_string(),
                    rtype,
                    source,
                })?;
        }
        let len = u16::try_from(self.rdata.len()).map_err(|_| EncodeError::TooLong {
            len: self.body.len() + self.rdata.len(),
        })?;
        self.body.extend_from_slice(&len.to_be_bytes());
        self.body.extend_from_slice(&self.rdata);
        if self.start + self.body.len() > usize::from(u16::MAX) {
            return Err(EncodeError::TooLong {
                len: self.body.len(),
            });
        }
        Ok(())
    }

    /// Writes `name`, pointing at the longest suffix already written.
    fn name(&mut self, name: &[u8]) {
        let mut pos = 0;
        while let Some(&len) = name.get(pos) {
            if len == 0 {
                break;
            }
            let suffix = &name[pos..];
            if let Some(&(_, target)) = self.names.iter().find(|(known, _)| known == suffix) {
                let at = self.start + self.body.len();
                self.body.extend_from_slice(&name[..pos]);
                let pointer_at = self.body.len();
                // Invariant: targets are <= MAX_TARGET < 2^14.
                let pointer = (target as u16) | (u16::from(POINTER_TAG) << 8);
                self.body.extend_from_slice(&pointer.to_be_bytes());
                // The body ends below 64 KiB, checked per record.
                self.pointers.push(pointer_at as u16);
                self.remember(name, pos, at);
                return;
            }
            pos += 1 + usize::from(len);
        }
        let at = self.start + self.body.len();
        self.body.extend_from_slice(name);
        self.remember(name, name.len(), at);
    }
}

/// The key of a prepared reply: template name, qtype and DO, held inline.
#[derive(Debug, Clone, Copy)]
pub struct ReplyKey {
    bytes: [u8; KEY_LEN],
    len: usize,
}

impl ReplyKey {
    /// The key for `template` (a wire name of at most 255 bytes), `qtype`
    /// and the DO bit.
    pub fn new(template: &[u8], qtype: u16, dnssec: bool) -> Self {
        let mut bytes = [0u8; KEY_LEN];
        let name = &template[..template.len().min(MAX_NAME_LEN)];
        bytes[..name.len()].copy_from_slice(name);
        bytes[name.len()..name.len() + 2].copy_from_slice(&qtype.to_be_bytes());
        bytes[name.len() + 2] = u8::from(dnssec);
        Self {
            bytes,
            len: name.len() + 3,
        }
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Prepared replies of one zone, bounded by a capacity.
#[derive(Debug)]
pub struct ReplyCache {
    entries: RwLock<HashMap<Box<[u8]>, Arc<Prepared>>>,
    capacity: usize,
}

impl Default for ReplyCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_REPLY_CACHE_ENTRIES)
    }
}

impl ReplyCache {
    /// An empty cache that holds at most `capacity` replies.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The reply stored under `key`, if any.
    pub fn get(&self, key: &ReplyKey) -> Option<Arc<Prepared>> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key.as_bytes())
            .cloned()
    }

    /// Stores `reply` under `key`; a full cache is emptied first.
    pub fn insert(&self, key: &ReplyKey, reply: Arc<Prepared>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key.as_bytes().into(), reply);
    }

    /// Number of stored replies.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_wire::proto::op::{Message, ResponseCode};
    use anchorage_wire::proto::rr::rdata::{A, NS};
    use anchorage_wire::proto::rr::{Name, RData};
    use anchorage_wire::proto::serialize::binary::BinDecodable;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn wire(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_canonical_name(&name(s), &mut out);
        out
    }

    fn query(qname: &[u8], qtype: u16, edns: bool) -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        q.extend_from_slice(qname);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        if edns {
            q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
        }
        q
    }

    fn referral() -> Answer {
        let cut = name("example.com.");
        let ns = name("ns1.example.com.");
        Answer {
            rcode: ResponseCode::NoError,
            authoritative: false,
            answer: Vec::new(),
            authority: vec![
                Record::from_rdata(cut.clone(), 60, RData::NS(NS(ns.clone()))),
                Record::from_rdata(cut, 60, RData::NS(NS(name("ns2.example.com.")))),
            ],
            additional: vec![Record::from_rdata(ns, 60, RData::A(A::new(127, 0, 0, 9)))],
        }
    }

    #[test]
    fn one_referral_body_serves_every_name_below_the_cut() {
        let prepared = Prepared::encode(&referral(), &wire("example.com.")).unwrap();
        assert!(!prepared.pointers.is_empty(), "owner names are compressed");
        for qname in [
            "example.com.",
            "www.Example.COM.",
            "a.very.deep.name.example.com.",
        ] {
            let mut spelled = Vec::new();
            for label in &name(qname) {
                spelled.push(label.len() as u8);
                spelled.extend_from_slice(label);
            }
            spelled.push(0);
            let msg = query(&spelled, 1, true);
            let view = QueryView::parse(&msg).unwrap();
            let mut out = Vec::new();
            prepared
                .render(&view, view.qname().as_bytes(), &mut out)
                .unwrap();
            let reply = Message::from_bytes(&out).unwrap();
            assert_eq!(reply.metadata.id, 0xabcd);
            assert!(reply.metadata.recursion_desired && reply.metadata.checking_disabled);
            assert!(!reply.metadata.authoritative);
            assert_eq!(reply.queries[0].name().to_ascii(), qname, "client's case");
            assert_eq!(reply.authorities, referral().authority, "{qname}");
            assert_eq!(reply.additionals, referral().additional, "{qname}");
            assert!(reply.edns.as_ref().unwrap().flags().dnssec_ok);
        }
    }

    #[test]
    fn a_name_outside_the_template_is_refused() {
        let prepared = Prepared::encode(&referral(), &wire("example.com.")).unwrap();
        let msg = query(&wire("example.org."), 1, false);
        let view = QueryView::parse(&msg).unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            prepared.render(&view, view.qname().as_bytes(), &mut out),
            Err(RenderError::NotBelowTemplate { .. })
        ));
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = ReplyCache::with_capacity(2);
        let prepared = Arc::new(Prepared::encode(&referral(), &wire("example.com.")).unwrap());
        for qtype in 1..=3 {
            cache.insert(
                &ReplyKey::new(&wire("example.com."), qtype, false),
                prepared.clone(),
            );
        }
        assert_eq!(cache.len(), 1);
        assert!(
            cache
                .get(&ReplyKey::new(&wire("example.com."), 3, false))
                .is_some()
        );
        assert!(
            cache
                .get(&ReplyKey::new(&wire("example.com."), 3, true))
                .is_none()
        );
    }
}
