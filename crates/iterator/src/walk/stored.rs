//! Answers from the RRset store: a frame just started, or restarted at a
//! chain target, is answered from RRsets earlier replies taught, and
//! cached CNAMEs and DNAMEs are followed (RFC 6672 §3.3: a DNAME above the
//! name gives a synthesised CNAME, or YXDOMAIN when the result is too
//! long).
//!
//! Cached data serves a frame only where it may: at rank
//! [`Rank::AuthoritativeAnswer`] for the client's question (at
//! [`Rank::Authority`] for an NS address), not expanded from a wildcard
//! (its proof was not cached), and served by the zone the delegation
//! store names for it ([`served_by`]).

use std::time::Instant;

use anchorage_cache::{CachedRrset, Rank};
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::rdata::CNAME;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use super::{Context, Walk, cut_search_name};
use crate::error::ResolveError;
use crate::frame::{Frame, Purpose};
use crate::rrsets::{RrsetStore, signers, wildcard_expanded};
use crate::sanitize::{dname_target, substitute};

/// A cached link of a chain from a frame's name.
enum Link {
    /// Follow to `target`, adding `records` (the CNAME, or the DNAME and
    /// the CNAME synthesised from it, with RRSIGs) to the answer.
    To { records: Vec<Record>, target: Name },
    /// A DNAME whose substitution makes a name too long.
    Overflow,
}

impl Walk {
    /// Answers frame `fid` from the RRset store where it holds data the
    /// frame may use, following cached CNAMEs and DNAMEs. Returns whether
    /// the frame ended; if not, it must go upstream and its cut is
    /// entered.
    pub(super) fn answer_from_store(
        &mut self,
        fid: u32,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> bool {
        let Some(store) = ctx.rrsets else {
            return false;
        };
        let limits = self.settings.limits;
        loop {
            let Some(frame) = self.frame_mut(fid) else {
                return true;
            };
            let search = cut_search_name(frame);
            let cut = ctx.delegations.closest_cut(&search, now);
            let zone = cut.zone.clone();
            let least = match frame.purpose {
                Purpose::Client => Rank::AuthoritativeAnswer,
                Purpose::NsAddress { .. } => Rank::Authority,
            };
            let usable = |c: &CachedRrset, at: &Name| {
                c.rank >= least && !wildcard_expanded(c) && served_by(c, &zone, at, store, now)
            };
            if !cacheable(frame.qtype) {
                frame.enter_cut(cut);
                return false;
            }
            let hit = store
                .lookup(&frame.qname, frame.qtype, now)
                .filter(|c| usable(c, &search));
            if let Some(hit) = hit {
                let mut data = hit.records;
                data.extend(hit.rrsigs);
                self.finish(fid, ResponseCode::NoError, data, &[], &zone, now, ctx);
                return true;
            }
            let link = cached_cname(frame, store, &search, now, &usable)
                .or_else(|| cached_dname(frame, store, &zone, now, &usable));
            let (records, target) = match link {
                Some(Link::To { records, target }) => (records, target),
                Some(Link::Overflow) => {
                    let error = ResolveError::DnameOverflow {
                        name: frame.qname.to_string(),
                    };
                    self.fail_frame(fid, error, now, ctx);
                    return true;
                }
                None => {
                    frame.enter_cut(cut);
                    return false;
                }
            };
            if let Err(error) = frame.reach(&target, limits.max_cname_hops) {
                self.fail_frame(fid, error, now, ctx);
                return true;
            }
            frame.links.extend(records);
            frame.restart_at(target);
        }
    }
}

/// A usable cached CNAME at the frame's name.
fn cached_cname(
    frame: &Frame,
    store: &RrsetStore,
    search: &Name,
    now: Instant,
    usable: &impl Fn(&CachedRrset, &Name) -> bool,
) -> Option<Link> {
    if frame.qtype == RecordType::CNAME {
        return None;
    }
    let link = store
        .lookup(&frame.qname, RecordType::CNAME, now)
        .filter(|c| usable(c, search))?;
    let target = match link.records.as_slice() {
        [
            Record {
                data: RData::CNAME(c),
                ..
            },
        ] => c.0.to_lowercase(),
        _ => return None,
    };
    let mut records = link.records;
    records.extend(link.rrsigs);
    Some(Link::To { records, target })
}

/// A usable cached DNAME above the frame's name, at or below `zone`,
/// the closest cut above the name (RFC 6672 §3.3): it and its RRSIGs,
/// then the CNAME synthesised from it, as an authority sends them
/// (RFC 6672 §3.4), so the validator checks the DNAME.
fn cached_dname(
    frame: &Frame,
    store: &RrsetStore,
    zone: &Name,
    now: Instant,
    usable: &impl Fn(&CachedRrset, &Name) -> bool,
) -> Option<Link> {
    if frame.qtype == RecordType::DNAME || !store.may_hold_dnames() {
        return None;
    }
    let qname = &frame.qname;
    let mut owner = qname.clone();
    while owner.num_labels() > zone.num_labels() {
        owner = owner.base_name();
        if !store.may_hold_dname(&owner) {
            continue;
        }
        let Some(dname) = store
            .lookup(&owner, RecordType::DNAME, now)
            .filter(|c| usable(c, &owner))
        else {
            continue;
        };
        let [record] = dname.records.as_slice() else {
            return None;
        };
        let target = dname_target(record)?;
        let Some(synthesised) = substitute(qname, &owner, &target) else {
            return Some(Link::Overflow);
        };
        let synthesised = synthesised.to_lowercase();
        let cname = Record::from_rdata(
            qname.clone(),
            record.ttl,
            RData::CNAME(CNAME(synthesised.clone())),
        );
        let mut records = dname.records;
        records.extend(dname.rrsigs);
        records.push(cname);
        return Some(Link::To {
            records,
            target: synthesised,
        });
    }
    None
}

/// Whether answers of `qtype` may come from the RRset store: not the
/// meta types, which are no RRset, and not DNSKEY: the trust-anchor
/// probe (RFC 5011 §2.3) must see the zone's current key set, and the
/// validator keeps its own key cache.
fn cacheable(qtype: RecordType) -> bool {
    !matches!(
        qtype,
        RecordType::DNSKEY
            | RecordType::ANY
            | RecordType::AXFR
            | RecordType::IXFR
            | RecordType::OPT
            | RecordType::RRSIG
            | RecordType::SIG
    )
}

/// Whether `zone`, the closest cut the delegation store knows for
/// `search`, is the zone that served `cached`: the validator reads the
/// zone of an unsigned answer from [`crate::Answer::zone`]. A signed
/// RRset must be signed by `zone`; for any RRset, no NS RRset may be
/// cached at a name between `zone` and `search` (a deeper cut the
/// delegation store has forgotten).
fn served_by(
    cached: &CachedRrset,
    zone: &Name,
    search: &Name,
    store: &RrsetStore,
    now: Instant,
) -> bool {
    if !cached.rrsigs.is_empty() && !signers(cached).contains(&zone.to_lowercase()) {
        return false;
    }
    let mut at = search.clone();
    while at.num_labels() > zone.num_labels() {
        if store.lookup(&at, RecordType::NS, now).is_some() {
            return false;
        }
        at = at.base_name();
    }
    true
}
