//! Authoritative answers from one zone (RFC 1034 §4.3.2): data, CNAME and
//! DNAME, referrals with NS, glue and DS or its denial, NXDOMAIN and
//! NODATA with SOA and NSEC/NSEC3 proofs (RFC 4035 §3.1.3, RFC 5155 §7.2),
//! and wildcard answers with theirs. DNSSEC records only when DO is set.
//!
//! Sans-IO: takes a zone and a question, returns the sections.

use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::rdata::CNAME;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use crate::denial::nsec3_hash;
use crate::zone::{Node, RrSet, Zone, label_count};

/// Longest CNAME chain followed inside one zone before giving up.
pub const MAX_CNAME_CHAIN: usize = 8;

/// The sections of an answer.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// NOERROR or NXDOMAIN.
    pub rcode: ResponseCode,
    /// Whether the AA bit is set (not in referrals).
    pub authoritative: bool,
    /// Answer section.
    pub answer: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
    /// Additional section.
    pub additional: Vec<Record>,
}

/// Answers `qname`/`qtype` from `zone`; `dnssec` is the query's DO bit.
pub fn answer(zone: &Zone, qname: &Name, qtype: RecordType, dnssec: bool) -> Answer {
    let mut out = Answer {
        authoritative: true,
        ..Answer::default()
    };
    let mut name = qname.to_lowercase();
    let mut seen = Vec::with_capacity(MAX_CNAME_CHAIN);
    for _ in 0..MAX_CNAME_CHAIN {
        seen.push(name.clone());
        match step(zone, &name, qtype, dnssec, &mut out) {
            // A loop stops where it closes: each CNAME appears once.
            Some(next) if zone.origin().zone_of(&next) && !seen.contains(&next) => name = next,
            _ => return out,
        }
    }
    out
}

/// One lookup; returns the CNAME target to follow, if any.
fn step(
    zone: &Zone,
    qname: &Name,
    qtype: RecordType,
    dnssec: bool,
    out: &mut Answer,
) -> Option<Name> {
    if let Some(cut) = zone.cut_above(qname)
        && !(cut == qname && qtype == RecordType::DS)
    {
        referral(zone, cut, dnssec, out);
        return None;
    }
    if let Some(next) = dname(zone, qname, dnssec, out) {
        return Some(next);
    }
    match zone.node(qname) {
        Some(node) if !node.rrsets.is_empty() => {
            positive(zone, qname, qname, node, qtype, dnssec, out, None)
        }
        Some(_) => {
            // Empty non-terminal: NODATA (RFC 4035 §3.1.3.2; RFC 5155 §7.2.3).
            nodata_head(zone, dnssec, out);
            if dnssec {
                if zone.nsec3().is_some() {
                    push_opt(nsec3_matching(zone, qname), dnssec, &mut out.authority);
                } else {
                    push_opt(nsec_covering(zone, qname), dnssec, &mut out.authority);
                }
            }
            None
        }
        None => missing(zone, qname, qtype, dnssec, out),
    }
}

/// Data at an existing name (or a wildcard's data renamed to `qname`).
#[allow(clippy::too_many_arguments)]
fn positive(
    zone: &Zone,
    qname: &Name,
    owner: &Name,
    node: &Node,
    qtype: RecordType,
    dnssec: bool,
    out: &mut Answer,
    wildcard_proof: Option<&Name>,
) -> Option<Name> {
    let rename = |r: &Record| {
        let mut r = r.clone();
        r.name = qname.clone();
        r
    };
    let push_set = |set: &RrSet, out: &mut Answer| {
        out.answer.extend(set.records.iter().map(rename));
        if dnssec {
            out.answer.extend(set.rrsigs.iter().map(rename));
        }
    };
    if qtype == RecordType::ANY {
        for set in node.rrsets.values() {
            push_set(set, out);
        }
    } else if let Some(set) = node.rrset(qtype) {
        push_set(set, out);
        if qtype == RecordType::NS {
            // RFC 1034 §4.3.2 step 6: addresses of the name servers named,
            // where the zone holds them (the root's own NS, for priming).
            for record in &set.records {
                if let RData::NS(target) = &record.data
                    && let Some(node) = zone.node(&target.0.to_lowercase())
                {
                    for rtype in [RecordType::A, RecordType::AAAA] {
                        push_opt(node.rrset(rtype), dnssec, &mut out.additional);
                    }
                }
            }
        }
    } else if let Some(set) = node.rrset(RecordType::CNAME) {
        push_set(set, out);
        if let Some(next) = wildcard_proof {
            wildcard_expansion_proof(zone, qname, next, dnssec, out);
        }
        return set.records.first().and_then(|r| match &r.data {
            RData::CNAME(target) => Some(target.0.to_lowercase()),
            _ => None,
        });
    } else {
        nodata_head(zone, dnssec, out);
        if dnssec {
            if zone.nsec3().is_some() {
                if let Some(closest) = wildcard_proof {
                    // Wildcard NODATA (RFC 5155 §7.2.5).
                    push_opt(nsec3_matching(zone, closest), dnssec, &mut out.authority);
                    push_opt(
                        nsec3_covering(zone, &next_closer(qname, closest)),
                        dnssec,
                        &mut out.authority,
                    );
                }
                if qtype == RecordType::DS && wildcard_proof.is_none() {
                    // DS NODATA at a delegation (RFC 5155 §7.2.4).
                    push_no_ds_nsec3(zone, owner, dnssec, out);
                } else {
                    push_opt(nsec3_matching(zone, owner), dnssec, &mut out.authority);
                }
            } else {
                if wildcard_proof.is_some() {
                    push_opt(nsec_covering(zone, qname), dnssec, &mut out.authority);
                }
                push_opt(
                    zone.node(owner).and_then(|n| n.rrset(RecordType::NSEC)),
                    dnssec,
                    &mut out.authority,
                );
            }
        }
        return None;
    }
    if let Some(closest) = wildcard_proof {
        wildcard_expansion_proof(zone, qname, closest, dnssec, out);
    }
    None
}

/// Proof that `qname` itself does not exist, for a wildcard expansion
/// (RFC 4035 §3.1.3.3, RFC 5155 §7.2.6).
fn wildcard_expansion_proof(
    zone: &Zone,
    qname: &Name,
    closest: &Name,
    dnssec: bool,
    out: &mut Answer,
) {
    if !dnssec {
        return;
    }
    if zone.nsec3().is_some() {
        push_opt(
            nsec3_covering(zone, &next_closer(qname, closest)),
            dnssec,
            &mut out.authority,
        );
    } else {
        push_opt(nsec_covering(zone, qname), dnssec, &mut out.authority);
    }
}

/// A name that does not exist: wildcard answer or NXDOMAIN.
fn missing(
    zone: &Zone,
    qname: &Name,
    qtype: RecordType,
    dnssec: bool,
    out: &mut Answer,
) -> Option<Name> {
    let closest = closest_encloser(zone, qname);
    let wildcard = closest.prepend_label("*").ok()?;
    if let Some(node) = zone.node(&wildcard) {
        return positive(
            zone,
            qname,
            &wildcard,
            node,
            qtype,
            dnssec,
            out,
            Some(&closest),
        );
    }
    // RFC 4035 §3.1.3.2 and RFC 5155 §7.2.2.
    out.rcode = ResponseCode::NXDomain;
    nodata_head(zone, dnssec, out);
    if dnssec {
        if zone.nsec3().is_some() {
            push_opt(nsec3_matching(zone, &closest), dnssec, &mut out.authority);
            push_opt(
                nsec3_covering(zone, &next_closer(qname, &closest)),
                dnssec,
                &mut out.authority,
            );
            push_opt(nsec3_covering(zone, &wildcard), dnssec, &mut out.authority);
        } else {
            push_opt(nsec_covering(zone, qname), dnssec, &mut out.authority);
            push_opt(nsec_covering(zone, &wildcard), dnssec, &mut out.authority);
        }
    }
    dedup(&mut out.authority);
    None
}

/// A referral to the child at `cut` (RFC 4035 §3.1.4).
fn referral(zone: &Zone, cut: &Name, dnssec: bool, out: &mut Answer) {
    out.authoritative = false;
    let Some(node) = zone.node(cut) else {
        return;
    };
    let Some(ns) = node.rrset(RecordType::NS) else {
        return;
    };
    out.authority.extend(ns.records.iter().cloned());
    if let Some(ds) = node.rrset(RecordType::DS) {
        push_set(ds, dnssec, &mut out.authority);
    } else if dnssec {
        if zone.nsec3().is_some() {
            push_no_ds_nsec3(zone, cut, dnssec, out);
        } else {
            push_opt(node.rrset(RecordType::NSEC), dnssec, &mut out.authority);
        }
    }
    for record in &ns.records {
        let RData::NS(target) = &record.data else {
            continue;
        };
        let target = target.0.to_lowercase();
        if let Some(glue) = zone.node(&target) {
            for rtype in [RecordType::A, RecordType::AAAA] {
                if let Some(set) = glue.rrset(rtype) {
                    out.additional.extend(set.records.iter().cloned());
                }
            }
        }
    }
}

/// Synthesises a CNAME from a DNAME above `qname` (RFC 6672 §3.2).
fn dname(zone: &Zone, qname: &Name, dnssec: bool, out: &mut Answer) -> Option<Name> {
    let apex = label_count(zone.origin());
    let labels = label_count(qname);
    for n in apex..labels {
        let owner = qname.trim_to(n);
        let Some(set) = zone.node(&owner).and_then(|n| n.rrset(RecordType::DNAME)) else {
            continue;
        };
        let record = set.records.first()?;
        let RData::Unknown { rdata, .. } = &record.data else {
            return None;
        };
        let target = crate::output::name_from_wire(&rdata.anything)?;
        let prefix = Name::from_labels(qname.iter().take(labels - n)).ok()?;
        let synthesized = prefix.append_domain(&target).ok()?;
        push_set(set, dnssec, &mut out.answer);
        out.answer.push(Record::from_rdata(
            qname.clone(),
            record.ttl,
            RData::CNAME(CNAME(synthesized.clone())),
        ));
        return Some(synthesized);
    }
    None
}

fn nodata_head(zone: &Zone, dnssec: bool, out: &mut Answer) {
    if let Some(set) = zone
        .node(zone.origin())
        .and_then(|n| n.rrset(RecordType::SOA))
    {
        push_set(set, dnssec, &mut out.authority);
    }
}

fn push_set(set: &RrSet, dnssec: bool, out: &mut Vec<Record>) {
    out.extend(set.records.iter().cloned());
    if dnssec {
        out.extend(set.rrsigs.iter().cloned());
    }
}

fn push_opt(set: Option<&RrSet>, dnssec: bool, out: &mut Vec<Record>) {
    if let Some(set) = set {
        push_set(set, dnssec, out);
    }
}

fn dedup(records: &mut Vec<Record>) {
    let mut seen = Vec::with_capacity(records.len());
    records.retain(|r| {
        if seen.contains(r) {
            false
        } else {
            seen.push(r.clone());
            true
        }
    });
}

/// The longest existing ancestor of `qname` in the zone (RFC 5155 §1.3).
fn closest_encloser(zone: &Zone, qname: &Name) -> Name {
    let apex = label_count(zone.origin());
    (apex..label_count(qname))
        .rev()
        .map(|n| qname.trim_to(n))
        .find(|n| zone.node(n).is_some())
        .unwrap_or_else(|| zone.origin().clone())
}

/// NSEC3 proof that `cut` has no DS: its matching NSEC3, or, under
/// opt-out, the closest provable encloser and the opt-out NSEC3 covering
/// the next closer name (RFC 5155 §7.2.4, §7.2.7).
fn push_no_ds_nsec3(zone: &Zone, cut: &Name, dnssec: bool, out: &mut Answer) {
    if let Some(set) = nsec3_matching(zone, cut) {
        push_opt(Some(set), dnssec, &mut out.authority);
        return;
    }
    let closest = closest_provable(zone, &cut.base_name());
    push_opt(nsec3_matching(zone, &closest), dnssec, &mut out.authority);
    push_opt(
        nsec3_covering(zone, &next_closer(cut, &closest)),
        dnssec,
        &mut out.authority,
    );
}

/// The longest ancestor-or-self of `name` with an NSEC3 record.
fn closest_provable(zone: &Zone, name: &Name) -> Name {
    let apex = label_count(zone.origin());
    (apex..=label_count(name))
        .rev()
        .map(|n| name.trim_to(n))
        .find(|n| nsec3_matching(zone, n).is_some())
        .unwrap_or_else(|| zone.origin().clone())
}

/// The ancestor of `qname` one label longer than `closest` (RFC 5155 §1.3).
fn next_closer(qname: &Name, closest: &Name) -> Name {
    qname.trim_to(label_count(closest) + 1)
}

/// The NSEC whose owner is `name` or the closest before it.
fn nsec_covering<'z>(zone: &'z Zone, name: &Name) -> Option<&'z RrSet> {
    zone.nodes_before(name)
        .find_map(|(_, node)| node.rrset(RecordType::NSEC))
}

fn nsec3_matching<'z>(zone: &'z Zone, name: &Name) -> Option<&'z RrSet> {
    let chain = zone.nsec3()?;
    chain.records.get(&nsec3_hash(
        name,
        &chain.params.salt,
        chain.params.iterations,
    ))
}

/// The NSEC3 whose hash range covers the hash of `name` (wrapping).
fn nsec3_covering<'z>(zone: &'z Zone, name: &Name) -> Option<&'z RrSet> {
    let chain = zone.nsec3()?;
    let hash = nsec3_hash(name, &chain.params.salt, chain.params.iterations);
    chain
        .records
        .range(..hash)
        .next_back()
        .or_else(|| chain.records.iter().next_back())
        .map(|(_, set)| set)
}
