//! Addresses of NS names without glue: from the stores, or by an A and an
//! AAAA lookup started together, each a frame of its own, shared by
//! every frame of the walk that needs the name.

use std::net::IpAddr;
use std::time::Instant;

use anchorage_cache::Rank;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use super::{Context, Walk};
use crate::address::may_query;
use crate::delegation::Cut;
use crate::error::ResolveError;
use crate::frame::{Frame, Purpose, State};
use crate::rrsets::RrsetStore;

/// What a frame with no server to ask did about its NS names.
pub(super) enum NsStep {
    /// An NS name got addresses from the stores: ask again.
    Filled,
    /// The frame waits for the lookups of an NS name.
    Waiting,
    /// No NS name left to try.
    Exhausted(ResolveError),
}

impl Walk {
    /// Finds addresses for one NS of `cut` with no usable one: from the
    /// stores, or by lookups of the name (joined if another frame started
    /// them), which frame `fid` then waits for.
    pub(super) fn next_ns_lookup(
        &mut self,
        fid: u32,
        cut: &Cut,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> NsStep {
        let settings = self.settings;
        let usable = |a: &IpAddr| may_query(*a, settings.allow_loopback, settings.ipv6);
        let blocked = self.names_blocked_by(fid);
        let Some(frame) = self.frame(fid) else {
            return NsStep::Exhausted(ResolveError::Abandoned);
        };
        let level = frame.level;
        let pending: Vec<Name> = cut
            .servers
            .iter()
            .filter(|s| !s.addrs.iter().any(usable))
            .map(|s| s.name.clone())
            .filter(|n| !frame.ns_failed.contains(n) && !self.dead_ns.contains(n))
            .collect();
        for ns in pending {
            let stored = ctx
                .delegations
                .addresses(&ns, now)
                .filter(|a| a.iter().any(usable));
            if let Some(addrs) = stored {
                if let Some(frame) = self.frame_mut(fid) {
                    frame.add_addresses(&ns, &addrs);
                }
                return NsStep::Filled;
            }
            let cached = ctx
                .rrsets
                .and_then(|store| cached_addresses(store, &ns, settings.ipv6, now))
                .filter(|(a, _)| a.iter().any(usable));
            if let Some((addrs, ttl)) = cached {
                ctx.delegations.add_addresses(&ns, &addrs, ttl, now);
                if let Some(frame) = self.frame_mut(fid) {
                    frame.add_addresses(&ns, &addrs);
                }
                return NsStep::Filled;
            }
            let looked_up = self.frames.iter().any(|f| looks_up(f, &ns));
            let Some(frame) = self.frame_mut(fid) else {
                return NsStep::Exhausted(ResolveError::Abandoned);
            };
            // In-bailiwick without glue cannot be resolved through the
            // zone it names; waiting for lookups that wait for this frame
            // is a cycle.
            if cut.zone.zone_of(&ns) || (looked_up && blocked.contains(&ns)) {
                frame.ns_failed.push(ns);
                continue;
            }
            if frame.ns_fetches >= settings.limits.max_ns_fetches_per_referral {
                break;
            }
            if !looked_up && level > settings.limits.max_dependency_depth {
                return NsStep::Exhausted(ResolveError::DependencyTooDeep {
                    limit: settings.limits.max_dependency_depth,
                    ns: ns.to_string(),
                });
            }
            frame.ns_fetches += 1;
            frame.state = State::AwaitingNs(ns.clone());
            if !looked_up {
                self.start_lookups(&ns, level + 1);
            }
            return NsStep::Waiting;
        }
        let fetched = self.frame(fid).map_or(0, |f| f.ns_fetches);
        let any_address = cut.servers.iter().any(|s| !s.addrs.is_empty());
        NsStep::Exhausted(if any_address {
            ResolveError::NoReachableAuthority {
                zone: cut.zone.to_string(),
            }
        } else {
            ResolveError::NoServerAddress {
                zone: cut.zone.to_string(),
                fetched,
            }
        })
    }

    /// Starts the lookups of `ns`: A, and AAAA when IPv6 upstreams are
    /// on, whose queries go out together.
    fn start_lookups(&mut self, ns: &Name, level: u8) {
        let types: &[RecordType] = if self.settings.ipv6 {
            &[RecordType::A, RecordType::AAAA]
        } else {
            &[RecordType::A]
        };
        for &qtype in types {
            let id = self.next_frame;
            self.next_frame = self.next_frame.wrapping_add(1);
            let purpose = Purpose::NsAddress { ns: ns.clone() };
            self.frames
                .push(Frame::new(id, purpose, ns.clone(), qtype, level));
        }
    }

    /// The NS names whose lookups wait, directly or through others, for
    /// frame `fid`: the frame may not wait for any of them.
    fn names_blocked_by(&self, fid: u32) -> Vec<Name> {
        let mut blocked = match self.frame(fid).map(|f| &f.purpose) {
            Some(Purpose::NsAddress { ns }) => vec![ns.clone()],
            _ => return Vec::new(),
        };
        loop {
            let before = blocked.len();
            for f in &self.frames {
                if let (Purpose::NsAddress { ns }, State::AwaitingNs(waited)) =
                    (&f.purpose, &f.state)
                    && blocked.contains(waited)
                    && !blocked.contains(ns)
                {
                    blocked.push(ns.clone());
                }
            }
            if blocked.len() == before {
                return blocked;
            }
        }
    }

    /// One lookup of `ns` ended with `addrs` (perhaps none): they go into
    /// the delegation store and every cut naming `ns`; the frames waiting
    /// for the name go on once it has a usable address, or once no
    /// lookup of it is left.
    pub(super) fn lookup_ended(
        &mut self,
        ns: &Name,
        addrs: Vec<IpAddr>,
        ttl: u32,
        now: Instant,
        ctx: &mut Context<'_>,
    ) {
        let settings = self.settings;
        if !addrs.is_empty() {
            ctx.delegations.add_addresses(ns, &addrs, ttl, now);
        }
        let known = ctx.delegations.addresses(ns, now).unwrap_or(addrs);
        if !known.is_empty() {
            for frame in &mut self.frames {
                frame.add_addresses(ns, &known);
            }
        }
        let usable = known
            .iter()
            .any(|&a| may_query(a, settings.allow_loopback, settings.ipv6));
        if !usable {
            if self.frames.iter().any(|f| looks_up(f, ns)) {
                // The other address type may still bring one.
                return;
            }
            self.dead_ns.push(ns.clone());
        }
        for frame in &mut self.frames {
            if matches!(&frame.state, State::AwaitingNs(n) if n == ns) {
                if !usable {
                    frame.ns_failed.push(ns.clone());
                }
                frame.state = State::Ready;
            }
        }
    }
}

/// Whether `frame` looks up addresses of `ns`.
fn looks_up(frame: &Frame, ns: &Name) -> bool {
    matches!(&frame.purpose, Purpose::NsAddress { ns: n } if n == ns)
}

/// The addresses in an NS lookup's answer, with their smallest TTL.
pub(super) fn addresses_in(data: &[Record]) -> (Vec<IpAddr>, u32) {
    let mut ttl = u32::MAX;
    let addrs = data
        .iter()
        .filter_map(|r| {
            let addr = address_of(r)?;
            ttl = ttl.min(r.ttl);
            Some(addr)
        })
        .collect();
    (addrs, ttl)
}

/// The address in an A or AAAA record.
pub(super) fn address_of(record: &Record) -> Option<IpAddr> {
    match &record.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}

/// Addresses of NS name `ns` from the RRset store: A (and AAAA when
/// `ipv6`) from answers at rank [`Rank::Authority`] or above, with their
/// smallest TTL. Glue is used only with its referral, through the cut.
fn cached_addresses(
    store: &RrsetStore,
    ns: &Name,
    ipv6: bool,
    now: Instant,
) -> Option<(Vec<IpAddr>, u32)> {
    let types: &[RecordType] = if ipv6 {
        &[RecordType::A, RecordType::AAAA]
    } else {
        &[RecordType::A]
    };
    let mut ttl = u32::MAX;
    let mut addrs = Vec::new();
    for &rtype in types {
        let Some(hit) = store
            .lookup(ns, rtype, now)
            .filter(|c| c.rank >= Rank::Authority)
        else {
            continue;
        };
        ttl = ttl.min(hit.ttl);
        addrs.extend(hit.records.iter().filter_map(address_of));
    }
    (!addrs.is_empty()).then_some((addrs, ttl))
}
