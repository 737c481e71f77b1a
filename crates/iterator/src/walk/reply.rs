//! One frame's reply, scrubbed and classified: a referral entered, a
//! chain followed, the frame answered, or the server called lame.

use std::net::IpAddr;
use std::time::Instant;

use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use super::{Context, Walk, ns::address_of};
use crate::answer::CutProof;
use crate::config::QnameMinimisation;
use crate::delegation::{Cut, NsServer};
use crate::error::ResolveError;
use crate::frame::{InFlight, Purpose};
use crate::sanitize::{Kind, Scrubbed, classify, cut_proof_records, follow_chain, scrub};

impl Walk {
    /// Handles the reply to `sent` for frame `fid`, which is ready again
    /// unless the reply ends it or sends it on.
    pub(super) fn on_reply(
        &mut self,
        fid: u32,
        sent: &InFlight,
        message: &Message,
        now: Instant,
        ctx: &mut Context<'_>,
    ) {
        let asked = &sent.out.question;
        let scrubbed = scrub(message, &sent.zone, &asked.name);
        let mode = self.settings.qname_minimisation;
        let server = sent.out.server;
        let kind = classify(&scrubbed);
        if !matches!(kind, Kind::Lame(_)) {
            ctx.servers.record_zone_success(&sent.zone);
            // A shared reply is stored by the frame or walk that sent it.
            if self.record
                && let Some(store) = ctx.rrsets
            {
                store.store(&scrubbed, now);
            }
        }
        let Some(frame) = self.frame_mut(fid) else {
            return;
        };
        let minimised = asked.name.num_labels() < frame.qname.num_labels();
        let authority = &scrubbed.authority;
        match kind {
            Kind::Lame(_) if minimised && mode == QnameMinimisation::Relaxed => {
                // RFC 9156 §2.3: a server broken for hidden names gets the
                // full name before it is called lame.
                frame.minimise_off = true;
                frame.tried.retain(|&s| s != server);
            }
            Kind::Lame(_) => self.record_lame(&sent.zone, server, now, ctx),
            Kind::Referral { child, ns, ttl } => {
                self.on_referral(fid, sent, &scrubbed, child, ns, ttl, now, ctx);
            }
            Kind::Nxdomain if minimised => {
                if mode == QnameMinimisation::Strict {
                    // RFC 8020: nothing exists below an NXDOMAIN.
                    let rcode = ResponseCode::NXDomain;
                    self.finish(fid, rcode, Vec::new(), authority, &sent.zone, now, ctx);
                } else {
                    frame.minimise_off = true;
                    frame.tried.retain(|&s| s != server);
                }
            }
            Kind::Nodata | Kind::Answer if minimised => {
                // Not a zone cut: ask a longer name, preferably here again.
                frame.extend_minimisation();
                frame.tried.retain(|&s| s != server);
            }
            Kind::Nxdomain => {
                let rcode = ResponseCode::NXDomain;
                self.finish(fid, rcode, Vec::new(), authority, &sent.zone, now, ctx);
            }
            Kind::Nodata => {
                let rcode = ResponseCode::NoError;
                self.finish(fid, rcode, Vec::new(), authority, &sent.zone, now, ctx);
            }
            Kind::Answer => self.on_answer(fid, sent, &scrubbed, now, ctx),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_referral(
        &mut self,
        fid: u32,
        sent: &InFlight,
        scrubbed: &Scrubbed,
        child: Name,
        ns: Vec<Name>,
        ttl: u32,
        now: Instant,
        ctx: &mut Context<'_>,
    ) {
        let limit = self.settings.limits.max_delegation_depth;
        let Some(frame) = self.frame_mut(fid) else {
            return;
        };
        let is_client = frame.purpose == Purpose::Client;
        frame.depth += 1;
        if frame.depth > limit {
            let error = ResolveError::DelegationTooDeep {
                limit,
                zone: child.to_string(),
            };
            self.fail_frame(fid, error, now, ctx);
            return;
        }
        let servers = ns
            .into_iter()
            .map(|name| {
                let addrs = glue_for(&scrubbed.glue, &name);
                NsServer { name, addrs }
            })
            .collect();
        let cut = Cut {
            zone: child.clone(),
            servers,
        };
        ctx.delegations.insert_cut(&cut, ttl, now);
        frame.enter_cut(cut);
        if is_client {
            self.cuts.push(CutProof {
                parent: sent.zone.clone(),
                child,
                records: cut_proof_records(scrubbed),
            });
        }
    }

    fn on_answer(
        &mut self,
        fid: u32,
        sent: &InFlight,
        scrubbed: &Scrubbed,
        now: Instant,
        ctx: &mut Context<'_>,
    ) {
        let limits = self.settings.limits;
        let Some(frame) = self.frame_mut(fid) else {
            return;
        };
        let chain = follow_chain(&scrubbed.answers, &sent.out.question.name, frame.qtype);
        if chain.overflow {
            let error = ResolveError::DnameOverflow {
                name: frame.qname.to_string(),
            };
            self.fail_frame(fid, error, now, ctx);
            return;
        }
        frame.links.extend(chain.links);
        let reached = chain
            .reached
            .iter()
            .try_for_each(|name| frame.reach(name, limits.max_cname_hops));
        if let Err(error) = reached {
            self.fail_frame(fid, error, now, ctx);
            return;
        }
        let authority = &scrubbed.authority;
        if !chain.data.is_empty() {
            let rcode = ResponseCode::NoError;
            self.finish(fid, rcode, chain.data, authority, &sent.zone, now, ctx);
            return;
        }
        let Some(end) = chain.end else {
            // Only RRSIGs or other types at the name: not an answer.
            self.record_lame(&sent.zone, sent.out.server, now, ctx);
            return;
        };
        let in_zone = sent.zone.zone_of(&end);
        if in_zone && scrubbed.rcode == ResponseCode::NXDomain {
            let rcode = ResponseCode::NXDomain;
            self.finish(fid, rcode, Vec::new(), authority, &sent.zone, now, ctx);
            return;
        }
        let soa = authority.iter().any(|r| r.record_type() == RecordType::SOA);
        if in_zone && soa {
            let rcode = ResponseCode::NoError;
            self.finish(fid, rcode, Vec::new(), authority, &sent.zone, now, ctx);
            return;
        }
        // A link expanded from a wildcard is proven by this reply's
        // NSEC/NSEC3 only; the final reply's authority replaces it.
        frame
            .link_proofs
            .extend(authority.iter().filter(|r| is_denial(r)).cloned());
        frame.restart_at(end);
    }
}

/// Whether `record` is an NSEC or NSEC3, or an RRSIG over one.
fn is_denial(record: &Record) -> bool {
    let denial = |t: RecordType| matches!(t, RecordType::NSEC | RecordType::NSEC3);
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => denial(sig.input().type_covered),
        _ => denial(record.record_type()),
    }
}

/// The glue addresses of `ns` in a scrubbed referral.
fn glue_for(glue: &[Record], ns: &Name) -> Vec<IpAddr> {
    glue.iter()
        .filter(|r| r.name == *ns)
        .filter_map(address_of)
        .collect()
}
