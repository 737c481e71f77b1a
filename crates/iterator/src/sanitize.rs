//! Bailiwick sanitising and classification of one upstream reply.
//!
//! Every record is checked against the zone the server was asked about:
//! out-of-zone data is dropped before anything looks at it (RFC 2181
//! §5.4.1 ranks data by where it came from; Unbound's scrubber is the
//! model). What is left is classified as an answer, a referral, NXDOMAIN,
//! NODATA or a lame reply.
//!
//! # Limitations
//! Keeps RRSIGs beside the records they cover but does not check them;
//! the validator does.

use anchorage_wire::name::MAX_NAME_LEN;
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use anchorage_wire::proto::serialize::binary::{BinDecodable, BinDecoder};

/// Most passes over the answer section when following a chain inside one
/// reply; each pass adds at least one name, so this bounds the chain.
const MAX_CHAIN_PASSES: usize = 16;

/// A reply with only the records the asked zone may speak for.
#[derive(Debug, Clone, Default)]
pub struct Scrubbed {
    /// The RCODE.
    pub rcode: ResponseCode,
    /// AA.
    pub authoritative: bool,
    /// In-zone answer records reachable from the asked name.
    pub answers: Vec<Record>,
    /// In-zone authority records (referral NS only below the zone).
    pub authority: Vec<Record>,
    /// In-bailiwick addresses of the referral's NS names.
    pub glue: Vec<Record>,
    /// Records dropped as out of bailiwick or unrelated.
    pub dropped: usize,
}

/// Why a reply makes its server lame for the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lameness {
    /// An RCODE other than NOERROR or NXDOMAIN (REFUSED, SERVFAIL...).
    Rcode(ResponseCode),
    /// No answer, no referral below the zone, no SOA and not authoritative
    /// (an upward referral or a server that does not serve the zone).
    NotAuthoritative,
}

/// What a scrubbed reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Answer records for the asked name (perhaps only a chain).
    Answer,
    /// A referral to `child`, whose servers are `ns`.
    Referral {
        /// The child zone.
        child: Name,
        /// Its NS names, lower case.
        ns: Vec<Name>,
        /// The NS set's TTL.
        ttl: u32,
    },
    /// The name does not exist.
    Nxdomain,
    /// The name exists without the type.
    Nodata,
    /// The server should not be asked about this zone again.
    Lame(Lameness),
}

/// Keeps the records of `msg` that `zone`'s servers may speak for when
/// asked about `asked`.
pub fn scrub(msg: &Message, zone: &Name, asked: &Name) -> Scrubbed {
    let mut out = Scrubbed {
        rcode: msg.metadata.response_code,
        authoritative: msg.metadata.authoritative,
        ..Scrubbed::default()
    };
    let in_zone = |r: &Record| r.dns_class == DNSClass::IN && zone.zone_of(&r.name);

    // Answer: only names reachable from `asked` through CNAME/DNAME.
    let mut names = vec![asked.clone()];
    let mut kept = vec![false; msg.answers.len()];
    for _ in 0..MAX_CHAIN_PASSES {
        let mut grew = false;
        for (i, r) in msg.answers.iter().enumerate() {
            if kept[i] || !in_zone(r) {
                continue;
            }
            let owner_reached = names.contains(&r.name);
            // The DNAME and the RRSIGs over it, which the validator needs.
            let dname_reached = covers(r, RecordType::DNAME)
                && names.iter().any(|n| is_proper_ancestor(&r.name, n));
            if !(owner_reached || dname_reached) {
                continue;
            }
            kept[i] = true;
            match (&r.data, r.record_type()) {
                (RData::CNAME(c), _) => {
                    names.push(c.0.clone());
                    grew = true;
                }
                (_, RecordType::DNAME) => {
                    if let Some(target) = dname_target(r) {
                        for n in names.clone() {
                            if let Some(s) = substitute(&n, &r.name, &target) {
                                names.push(s);
                            }
                        }
                        grew = true;
                    }
                }
                _ => {}
            }
        }
        if !grew {
            break;
        }
    }
    for (r, keep) in msg.answers.iter().zip(kept) {
        if keep {
            out.answers.push(r.clone());
        } else {
            out.dropped += 1;
        }
    }

    // Authority: NS only for a referral strictly below the zone towards
    // the asked name, one owner; SOA, DS, NSEC, NSEC3, RRSIG in zone.
    let referral_owner = msg
        .authorities
        .iter()
        .find(|r| {
            r.record_type() == RecordType::NS
                && in_zone(r)
                && r.name != *zone
                && r.name.zone_of(asked)
        })
        .map(|r| r.name.clone());
    for r in &msg.authorities {
        let keep = in_zone(r)
            && match r.record_type() {
                RecordType::NS => referral_owner.as_ref() == Some(&r.name),
                RecordType::SOA
                | RecordType::DS
                | RecordType::NSEC
                | RecordType::NSEC3
                | RecordType::RRSIG => true,
                _ => false,
            };
        if keep {
            out.authority.push(r.clone());
        } else {
            out.dropped += 1;
        }
    }

    // Additional: A/AAAA of the referral's NS names, and only in-domain
    // glue (RFC 9471 §2.1: below the child zone). Sibling glue is in the
    // parent's bailiwick but vouched for by nobody; it costs a lookup.
    let ns_names: Vec<&Name> = out
        .authority
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(&ns.0),
            _ => None,
        })
        .collect();
    for r in &msg.additionals {
        let keep = in_zone(r)
            && matches!(r.record_type(), RecordType::A | RecordType::AAAA)
            && ns_names.contains(&&r.name)
            && referral_owner.as_ref().is_some_and(|c| c.zone_of(&r.name));
        if keep {
            out.glue.push(r.clone());
        } else {
            out.dropped += 1;
        }
    }
    out
}

/// What `scrubbed` says about the asked name.
pub fn classify(scrubbed: &Scrubbed) -> Kind {
    // RFC 6672 §2.2: YXDOMAIN beside the DNAME whose substitution made
    // the name too long is an answer; following the chain tells.
    let dname_overflow = scrubbed.rcode == ResponseCode::YXDomain
        && scrubbed
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::DNAME);
    if !matches!(
        scrubbed.rcode,
        ResponseCode::NoError | ResponseCode::NXDomain
    ) && !dname_overflow
    {
        return Kind::Lame(Lameness::Rcode(scrubbed.rcode));
    }
    if !scrubbed.answers.is_empty() {
        return Kind::Answer;
    }
    if scrubbed.rcode == ResponseCode::NXDomain {
        return Kind::Nxdomain;
    }
    let mut child = None;
    let mut ns = Vec::new();
    let mut ttl = u32::MAX;
    for r in &scrubbed.authority {
        if let RData::NS(n) = &r.data {
            child.get_or_insert_with(|| r.name.to_lowercase());
            ns.push(n.0.to_lowercase());
            ttl = ttl.min(r.ttl);
        }
    }
    if let Some(child) = child {
        return Kind::Referral { child, ns, ttl };
    }
    let has_soa = scrubbed
        .authority
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    if has_soa || scrubbed.authoritative {
        Kind::Nodata
    } else {
        Kind::Lame(Lameness::NotAuthoritative)
    }
}

/// The records of a referral the validator needs: DS or NSEC/NSEC3
/// proofs and their RRSIGs.
pub fn cut_proof_records(scrubbed: &Scrubbed) -> Vec<Record> {
    scrubbed
        .authority
        .iter()
        .filter(|r| {
            matches!(
                r.record_type(),
                RecordType::DS | RecordType::NSEC | RecordType::NSEC3 | RecordType::RRSIG
            )
        })
        .cloned()
        .collect()
}

/// Where a chain through one reply's answer records ends.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    /// CNAME/DNAME records followed, with their RRSIGs.
    pub links: Vec<Record>,
    /// Names reached, in order, the start excluded.
    pub reached: Vec<Name>,
    /// The last name reached.
    pub end: Option<Name>,
    /// The records of the asked type at the end, with their RRSIGs.
    pub data: Vec<Record>,
    /// A DNAME substitution made a name too long.
    pub overflow: bool,
}

/// Follows CNAME and DNAME records from `start` through `answers` as far
/// as they go, and collects the `qtype` RRset where it ends.
pub fn follow_chain(answers: &[Record], start: &Name, qtype: RecordType) -> Chain {
    let mut chain = Chain::default();
    let mut at = start.clone();
    for _ in 0..MAX_CHAIN_PASSES {
        let data: Vec<&Record> = answers
            .iter()
            .filter(|r| r.name == at && covers(r, qtype))
            .collect();
        if data.iter().any(|r| r.record_type() != RecordType::RRSIG) {
            chain.data = data.into_iter().cloned().collect();
            break;
        }
        let cname = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == at && qtype != RecordType::CNAME => Some((r, c.0.clone())),
            _ => None,
        });
        // A DNAME above the name wins over the CNAME synthesised from it
        // (RFC 6672 §3.4), which is kept beside it when it agrees.
        let next = match dname_step(answers, &at, qtype, &mut chain) {
            Some((dname, target)) => {
                push_link(&mut chain.links, answers, dname);
                if let Some((synthesised, _)) = cname.filter(|(_, t)| *t == target) {
                    push_link(&mut chain.links, answers, synthesised);
                }
                Some(target)
            }
            None => cname.map(|(link, target)| {
                push_link(&mut chain.links, answers, link);
                target
            }),
        };
        let Some(target) = next else { break };
        if chain.reached.contains(&target) || target == *start {
            chain.reached.push(target);
            break;
        }
        chain.reached.push(target.clone());
        at = target;
    }
    chain.end = chain.reached.last().cloned();
    chain
}

/// Adds `link` and the RRSIGs over it to `links`.
fn push_link(links: &mut Vec<Record>, answers: &[Record], link: &Record) {
    links.push(link.clone());
    links.extend(
        answers
            .iter()
            .filter(|r| r.record_type() == RecordType::RRSIG)
            .filter(|r| r.name == link.name && covers(r, link.record_type()))
            .cloned(),
    );
}

/// One DNAME substitution for `at`, if a DNAME above it is in `answers`.
fn dname_step<'a>(
    answers: &'a [Record],
    at: &Name,
    qtype: RecordType,
    chain: &mut Chain,
) -> Option<(&'a Record, Name)> {
    if qtype == RecordType::DNAME {
        return None;
    }
    let record = answers
        .iter()
        .find(|r| r.record_type() == RecordType::DNAME && is_proper_ancestor(&r.name, at))?;
    let target = dname_target(record)?;
    let name = substitute(at, &record.name, &target);
    if name.is_none() {
        chain.overflow = true;
    }
    name.map(|name| (record, name))
}

/// Whether `r` is of `rtype` or an RRSIG covering it.
fn covers(r: &Record, rtype: RecordType) -> bool {
    match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sig.input().type_covered == rtype,
        _ => r.record_type() == rtype,
    }
}

/// Whether `ancestor` is above `name` (not equal).
fn is_proper_ancestor(ancestor: &Name, name: &Name) -> bool {
    ancestor.zone_of(name) && ancestor.num_labels() < name.num_labels()
}

/// The target of a DNAME record (RFC 6672 §2.1: an uncompressed name).
pub fn dname_target(r: &Record) -> Option<Name> {
    match &r.data {
        RData::Unknown { code, rdata } if *code == RecordType::DNAME => {
            let mut decoder = BinDecoder::new(&rdata.anything);
            Name::read(&mut decoder).ok()
        }
        _ => None,
    }
}

/// `name` with its suffix `owner` replaced by `target` (RFC 6672 §2.2);
/// `None` when the result is longer than a name may be.
pub fn substitute(name: &Name, owner: &Name, target: &Name) -> Option<Name> {
    let keep = usize::from(name.num_labels() - owner.num_labels());
    let prefix = Name::from_labels(name.iter().take(keep)).ok()?;
    let joined = prefix.append_name(target).ok()?;
    let wire_len = joined.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    (wire_len <= MAX_NAME_LEN).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_wire::proto::op::{Message, MessageType, OpCode};
    use anchorage_wire::text::parse_records;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn message(rcode: ResponseCode, aa: bool, an: &str, ns: &str, ad: &str) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.metadata.authoritative = aa;
        m.answers = parse_records(an).unwrap();
        m.authorities = parse_records(ns).unwrap();
        m.additionals = parse_records(ad).unwrap();
        m
    }

    #[test]
    fn out_of_bailiwick_referral_and_glue_are_dropped() {
        let m = message(
            ResponseCode::NoError,
            false,
            "",
            "com. 86400 IN NS ns1.com.\nexample.com. 3600 IN NS ns1.example.com.\nexample.com. 3600 IN NS ns.other.net.\n",
            "ns1.com. 86400 IN A 6.6.6.6\nns1.example.com. 3600 IN A 192.0.2.1\nns.other.net. 3600 IN A 6.6.6.7\n",
        );
        let s = scrub(&m, &name("com."), &name("www.example.com."));
        assert_eq!(s.authority.len(), 2, "{:?}", s.authority);
        assert_eq!(s.glue.len(), 1);
        assert_eq!(s.glue[0].name, name("ns1.example.com."));
        assert_eq!(s.dropped, 3);
        match classify(&s) {
            Kind::Referral { child, ns, ttl } => {
                assert_eq!(child, name("example.com."));
                assert_eq!(ns.len(), 2);
                assert_eq!(ttl, 3600);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn poisoned_answer_from_a_sibling_zone_is_dropped() {
        let m = message(
            ResponseCode::NoError,
            true,
            "www.a.test. 300 IN A 192.0.2.1\nwww.b.test. 300 IN A 6.6.6.6\n",
            "test. 300 IN NS evil.b.test.\n",
            "",
        );
        let s = scrub(&m, &name("a.test."), &name("www.a.test."));
        assert_eq!(s.answers.len(), 1);
        assert!(s.authority.is_empty());
        assert_eq!(classify(&s), Kind::Answer);
    }

    #[test]
    fn chain_follows_in_zone_cname_and_dname() {
        let m = message(
            ResponseCode::NoError,
            true,
            "a.z.test. 300 IN CNAME b.z.test.\nb.z.test. 300 IN CNAME x.d.z.test.\nd.z.test. 300 IN DNAME e.z.test.\ny.e.z.test. 300 IN A 192.0.2.9\nx.e.z.test. 300 IN A 192.0.2.1\n",
            "",
            "",
        );
        let s = scrub(&m, &name("z.test."), &name("a.z.test."));
        assert_eq!(
            s.answers.len(),
            4,
            "y.e.z.test is unreachable: {:?}",
            s.answers
        );
        let chain = follow_chain(&s.answers, &name("a.z.test."), RecordType::A);
        assert_eq!(chain.end, Some(name("x.e.z.test.")));
        assert_eq!(chain.links.len(), 3);
        assert_eq!(chain.data.len(), 1);
    }

    #[test]
    fn a_dname_keeps_its_rrsig_and_yxdomain_beside_it_is_an_answer() {
        let dname = "d.z.test. 300 IN DNAME e.test.\n\
                     d.z.test. 300 IN RRSIG DNAME 15 3 300 1800086400 1799996400 1 z.test. AAAA\n";
        let m = message(ResponseCode::NoError, true, dname, "", "");
        let s = scrub(&m, &name("z.test."), &name("x.d.z.test."));
        assert_eq!(s.answers.len(), 2, "{:?}", s.answers);
        let chain = follow_chain(&s.answers, &name("x.d.z.test."), RecordType::A);
        assert_eq!(chain.links.len(), 2, "the DNAME and its RRSIG");
        assert_eq!(chain.end, Some(name("x.e.test.")));
        let m = message(ResponseCode::YXDomain, true, dname, "", "");
        let s = scrub(&m, &name("z.test."), &name("x.d.z.test."));
        assert_eq!(classify(&s), Kind::Answer);
        let refused = message(ResponseCode::YXDomain, true, "", "", "");
        assert!(matches!(
            classify(&scrub(&refused, &name("z.test."), &name("x.d.z.test."))),
            Kind::Lame(_)
        ));
    }

    #[test]
    fn classify_tells_lame_nodata_and_nxdomain_apart() {
        let refused = message(ResponseCode::Refused, false, "", "", "");
        let s = scrub(&refused, &name("a.test."), &name("www.a.test."));
        assert_eq!(
            classify(&s),
            Kind::Lame(Lameness::Rcode(ResponseCode::Refused))
        );
        let upward = message(ResponseCode::NoError, false, "", ". 1 IN NS a.root.\n", "");
        let s = scrub(&upward, &name("a.test."), &name("www.a.test."));
        assert_eq!(classify(&s), Kind::Lame(Lameness::NotAuthoritative));
        let soa = "a.test. 300 IN SOA ns1.a.test. h.a.test. 1 2 3 4 300\n";
        let nodata = message(ResponseCode::NoError, true, "", soa, "");
        assert_eq!(
            classify(&scrub(&nodata, &name("a.test."), &name("www.a.test."))),
            Kind::Nodata
        );
        let nx = message(ResponseCode::NXDomain, true, "", soa, "");
        assert_eq!(
            classify(&scrub(&nx, &name("a.test."), &name("no.a.test."))),
            Kind::Nxdomain
        );
    }

    #[test]
    fn cname_loop_inside_one_reply_stops() {
        let m = message(
            ResponseCode::NoError,
            true,
            "l1.z.test. 300 IN CNAME l2.z.test.\nl2.z.test. 300 IN CNAME l1.z.test.\n",
            "",
            "",
        );
        let s = scrub(&m, &name("z.test."), &name("l1.z.test."));
        let chain = follow_chain(&s.answers, &name("l1.z.test."), RecordType::A);
        assert_eq!(chain.end, Some(name("l1.z.test.")));
        assert!(chain.data.is_empty());
    }

    #[test]
    fn dname_substitution_overflow_is_reported() {
        let long = format!("{}.", ["a", "b", "c", "d"].map(|c| c.repeat(60)).join("."));
        let owner = name("d.test.");
        let target = name(&long);
        let q = name(&format!("{}.d.test.", "x".repeat(60)));
        assert!(substitute(&q, &owner, &target).is_none());
        assert_eq!(
            substitute(&name("x.d.test."), &owner, &name("e.test.")),
            Some(name("x.e.test."))
        );
    }
}
