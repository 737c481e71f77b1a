//! The walk: one client question resolved from the closest known zone cut
//! (RFC 1034 §5.3.3), as a sans-IO state machine.
//!
//! [`Walk::start`] and [`Walk::on_exchange`] return an [`Action`]: send a
//! question to a server, or the answer, or the failure. The shell may
//! instead feed the outcome of an identical query another walk sent
//! ([`Walk::on_shared_exchange`]), or take the query back unsent after a
//! query for the same name completed ([`Walk::on_withdrawn`]). The caller does
//! the I/O and passes `now`; the walk never reads a clock. Addresses of
//! NS names without glue are resolved by nested frames of the same walk,
//! so the per-question caps cover them too (NXNSAttack).
//!
//! # Limitations
//! One query in flight per walk: NS-address lookups are sequential.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anchorage_cache::{CachedRrset, Rank};
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use crate::address::may_query;
use crate::answer::{Answer, CutProof, Question};
use crate::config::{Config, Limits, QnameMinimisation};
use crate::delegation::{Cut, DelegationStore, NsServer};
use crate::error::ResolveError;
use crate::frame::{Frame, Purpose};
use crate::infra::ServerStore;
use crate::rrsets::{RrsetStore, signers, wildcard_expanded};
use crate::sanitize::{Kind, Scrubbed, classify, cut_proof_records, follow_chain, scrub};

/// Times one server is asked the same thing at one cut before the walk
/// gives up on it (RFC 1035 §7.2 asks for retransmission with backoff;
/// Unbound's `OUTBOUND_MSG_RETRY` is 5).
pub const MAX_ATTEMPTS_PER_SERVER: u8 = 3;

/// Transport to use for one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// UDP.
    Udp,
    /// TCP, after a truncated UDP reply (RFC 7766 §5).
    Tcp,
}

/// A query for the transport to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where to.
    pub server: SocketAddr,
    /// What to ask (lower case; the transport randomises case).
    pub question: Question,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// EDNS with DO=1 and our payload size, or no OPT at all.
    pub edns: bool,
    /// Whether to randomise the case of the name (0x20).
    pub randomize_case: bool,
    /// How long to wait for the reply.
    pub timeout: Duration,
}

/// What the walk wants done next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this query, then call [`Walk::on_exchange`].
    Send(Outgoing),
    /// The walk is over with an answer.
    Done(Answer),
    /// The walk is over without one: SERVFAIL with an EDE.
    Fail(ResolveError),
}

/// What came of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Exchange {
    /// A matching reply after `rtt`.
    Reply {
        /// The reply.
        message: Message,
        /// Time from send to reply.
        rtt: Duration,
    },
    /// No matching reply in time.
    Timeout,
    /// The only matching reply echoed the name in another case.
    CaseMismatch,
    /// The query could not be sent (socket error, or refused by the
    /// loopback guard).
    Unsent,
}

/// The switches of a walk, taken from [`Config`].
#[derive(Debug, Clone, Copy)]
pub struct WalkSettings {
    /// Numeric bounds.
    pub limits: Limits,
    /// QNAME minimisation.
    pub qname_minimisation: QnameMinimisation,
    /// Whether loopback upstreams may be asked.
    pub allow_loopback: bool,
    /// Whether IPv6 upstreams may be asked.
    pub ipv6: bool,
    /// Whether to randomise case.
    pub randomize_case: bool,
    /// Upstream port.
    pub port: u16,
}

impl From<&Config> for WalkSettings {
    fn from(c: &Config) -> Self {
        Self {
            limits: c.limits,
            qname_minimisation: c.qname_minimisation,
            allow_loopback: c.allow_loopback_upstreams,
            ipv6: c.ipv6_upstream,
            randomize_case: c.randomize_case,
            port: c.upstream_port,
        }
    }
}

/// The stores a walk reads and feeds.
pub struct Context<'a> {
    /// Zone cuts and NS addresses.
    pub delegations: &'a mut dyn DelegationStore,
    /// Server RTTs, hold-downs, lameness.
    pub servers: &'a mut dyn ServerStore,
    /// RRsets of accepted replies, fed and consulted; `None` to walk
    /// without one.
    pub rrsets: Option<&'a RrsetStore>,
}

#[derive(Debug, Clone)]
struct InFlight {
    out: Outgoing,
    zone: Name,
}

/// One client question being resolved.
#[derive(Debug)]
pub struct Walk {
    settings: WalkSettings,
    question: Question,
    stack: Vec<Frame>,
    queries: u32,
    deadline: Instant,
    in_flight: Option<InFlight>,
    cuts: Vec<CutProof>,
    /// Whether the outcome being handled is this walk's own exchange,
    /// whose facts about the server go into the store.
    record: bool,
}

impl Walk {
    /// A walk for `question`, whose deadline runs from `now`.
    pub fn new(question: Question, settings: WalkSettings, now: Instant) -> Self {
        let frame = Frame::new(
            Purpose::Client,
            question.name.to_lowercase(),
            question.qtype,
        );
        Self {
            deadline: now + settings.limits.deadline,
            settings,
            question,
            stack: vec![frame],
            queries: 0,
            in_flight: None,
            cuts: Vec::new(),
            record: true,
        }
    }

    /// Upstream queries sent so far.
    pub fn queries(&self) -> u32 {
        self.queries
    }

    /// The first action.
    pub fn start(&mut self, now: Instant, ctx: &mut Context<'_>) -> Action {
        self.advance(now, ctx)
    }

    /// Feeds what came of the last [`Action::Send`].
    pub fn on_exchange(
        &mut self,
        exchange: Exchange,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> Action {
        self.record = true;
        self.on_outcome(exchange, now, ctx)
    }

    /// Feeds the outcome of an identical query another walk sent for
    /// this one: handled like [`Walk::on_exchange`], but what it says
    /// about the server (RTT, timeout, lameness, quirks) is left to the
    /// walk that sent it, so one exchange counts once.
    pub fn on_shared_exchange(
        &mut self,
        exchange: Exchange,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> Action {
        self.record = false;
        let action = self.on_outcome(exchange, now, ctx);
        self.record = true;
        action
    }

    fn on_outcome(&mut self, exchange: Exchange, now: Instant, ctx: &mut Context<'_>) -> Action {
        let Some(sent) = self.in_flight.take() else {
            return self.advance(now, ctx);
        };
        let server = sent.out.server;
        let record = self.record;
        match exchange {
            Exchange::Timeout | Exchange::Unsent => {
                if record {
                    ctx.servers.record_timeout(server, now);
                }
            }
            Exchange::CaseMismatch => {
                if record {
                    ctx.servers.record_case_mismatch(server);
                }
                if ctx.servers.flags(server).no_case
                    && let Some(frame) = self.stack.last_mut()
                {
                    // Fallback engaged: the server may be asked again
                    // without 0x20.
                    frame.tried.retain(|&s| s != server);
                }
            }
            Exchange::Reply { message, rtt } => {
                if record {
                    ctx.servers.record_rtt(server, rtt, now);
                }
                if message.metadata.truncation && sent.out.protocol == Protocol::Udp {
                    return self.resend(sent, |o| o.protocol = Protocol::Tcp);
                }
                if message.metadata.response_code == ResponseCode::FormErr && sent.out.edns {
                    if record {
                        ctx.servers.record_no_edns(server);
                    }
                    return self.resend(sent, |o| o.edns = false);
                }
                return self.on_reply(&sent, &message, now, ctx);
            }
        }
        self.advance(now, ctx)
    }

    /// Takes back the last [`Action::Send`], left unsent while a query
    /// for the same name to the same server was answered: a referral it
    /// brought is entered, then the walk goes on.
    pub fn on_withdrawn(&mut self, now: Instant, ctx: &mut Context<'_>) -> Action {
        if let Some(sent) = self.in_flight.take() {
            self.queries = self.queries.saturating_sub(1);
            if let Some(frame) = self.stack.last_mut() {
                if let Some(i) = frame.tried.iter().rposition(|&s| s == sent.out.server) {
                    frame.tried.remove(i);
                }
                let at_sent_zone = frame.cut.as_ref().is_some_and(|c| c.zone == sent.zone);
                let closest = ctx.delegations.closest_cut(&cut_search_name(frame), now);
                if at_sent_zone && closest.zone.num_labels() > sent.zone.num_labels() {
                    frame.enter_cut(closest);
                }
            }
        }
        self.advance(now, ctx)
    }

    fn record_lame(&self, zone: &Name, server: SocketAddr, now: Instant, ctx: &mut Context<'_>) {
        if self.record {
            ctx.servers.record_lame(zone, server, now);
        }
    }

    fn resend(&mut self, mut sent: InFlight, change: impl FnOnce(&mut Outgoing)) -> Action {
        if self.queries >= self.settings.limits.max_queries {
            return Action::Fail(ResolveError::QueryCap {
                limit: self.settings.limits.max_queries,
            });
        }
        self.queries += 1;
        change(&mut sent.out);
        let action = Action::Send(sent.out.clone());
        self.in_flight = Some(sent);
        action
    }

    /// Picks the next query, or ends the walk.
    fn advance(&mut self, now: Instant, ctx: &mut Context<'_>) -> Action {
        loop {
            if now >= self.deadline {
                return Action::Fail(ResolveError::Deadline {
                    after: self.settings.limits.deadline,
                });
            }
            if self.stack.last().is_some_and(|f| f.cut.is_none())
                && let Some(action) = self.answer_from_store(now, ctx)
            {
                return action;
            }
            let depth = self.stack.len();
            let settings = self.settings;
            let Some(frame) = self.stack.last_mut() else {
                return Action::Fail(ResolveError::Abandoned);
            };
            let cut = if let Some(cut) = &frame.cut {
                cut.clone()
            } else {
                let cut = ctx.delegations.closest_cut(&cut_search_name(frame), now);
                frame.enter_cut(cut.clone());
                cut
            };
            if ctx.servers.zone_backed_off(&cut.zone, now) {
                // RFC 9520 §3.2: a zone that just failed is not asked.
                let error = ResolveError::NoReachableAuthority {
                    zone: cut.zone.to_string(),
                };
                if let Some(action) = self.fail_frame(error) {
                    return action;
                }
                continue;
            }
            let addresses: Vec<SocketAddr> = cut
                .servers
                .iter()
                .flat_map(|s| s.addrs.iter().copied())
                .filter(|&a| may_query(a, settings.allow_loopback, settings.ipv6))
                .map(|a| SocketAddr::new(a, settings.port))
                .collect();
            // Untried servers first; then retries (with backed-off
            // timeouts) of servers that were neither lame nor held down.
            let attempts = |s: &SocketAddr| frame.tried.iter().filter(|t| *t == s).count();
            let mut candidates: Vec<SocketAddr> = addresses
                .iter()
                .copied()
                .filter(|s| attempts(s) == 0)
                .collect();
            if candidates.is_empty() {
                candidates = addresses
                    .iter()
                    .copied()
                    .filter(|s| attempts(s) < usize::from(MAX_ATTEMPTS_PER_SERVER))
                    .collect();
            }
            if let Some(server) = ctx.servers.select(&cut.zone, &candidates, now) {
                if self.queries >= settings.limits.max_queries {
                    return Action::Fail(ResolveError::QueryCap {
                        limit: settings.limits.max_queries,
                    });
                }
                self.queries += 1;
                frame.tried.push(server);
                let (name, qtype) = frame.asked(settings.qname_minimisation);
                let flags = ctx.servers.flags(server);
                let timeout = ctx
                    .servers
                    .timeout(server)
                    .min(self.deadline.saturating_duration_since(now));
                let out = Outgoing {
                    server,
                    question: Question::new(name, qtype),
                    protocol: Protocol::Udp,
                    edns: !flags.no_edns,
                    randomize_case: settings.randomize_case && !flags.no_case,
                    timeout,
                };
                self.in_flight = Some(InFlight {
                    out: out.clone(),
                    zone: cut.zone.clone(),
                });
                return Action::Send(out);
            }
            match self.next_ns_lookup(&cut, depth, now, ctx) {
                NsStep::Filled => {}
                NsStep::Pushed(frame) => self.stack.push(*frame),
                NsStep::Exhausted(error) => {
                    if matches!(
                        error,
                        ResolveError::NoReachableAuthority { .. }
                            | ResolveError::NoServerAddress { .. }
                    ) {
                        ctx.servers.record_zone_failure(&cut.zone, now);
                    }
                    if let Some(action) = self.fail_frame(error) {
                        return action;
                    }
                }
            }
        }
    }

    /// Finds addresses for one NS of `cut` with none: from the store, or
    /// by a nested lookup.
    fn next_ns_lookup(
        &mut self,
        cut: &Cut,
        depth: usize,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> NsStep {
        let settings = self.settings;
        let resolving: Vec<Name> = self
            .stack
            .iter()
            .filter_map(|f| match &f.purpose {
                Purpose::NsAddress { ns } => Some(ns.clone()),
                Purpose::Client => None,
            })
            .collect();
        let Some(frame) = self.stack.last_mut() else {
            return NsStep::Exhausted(ResolveError::Abandoned);
        };
        let pending: Vec<Name> = cut
            .servers
            .iter()
            .filter(|s| {
                !s.addrs
                    .iter()
                    .any(|&a| may_query(a, settings.allow_loopback, settings.ipv6))
            })
            .map(|s| s.name.clone())
            .filter(|n| !frame.ns_failed.contains(n))
            .collect();
        for ns in pending {
            if let Some(addrs) = ctx.delegations.addresses(&ns, now) {
                fill(frame, &ns, addrs);
                return NsStep::Filled;
            }
            if let Some((addrs, ttl)) = ctx
                .rrsets
                .and_then(|store| cached_addresses(store, &ns, settings.ipv6, now))
            {
                ctx.delegations.insert_addresses(&ns, &addrs, ttl, now);
                fill(frame, &ns, addrs);
                return NsStep::Filled;
            }
            // In-bailiwick without glue cannot be resolved through the
            // zone it names; a name already being looked up is a cycle.
            if cut.zone.zone_of(&ns) || resolving.contains(&ns) {
                frame.ns_failed.push(ns);
                continue;
            }
            if frame.ns_fetches >= settings.limits.max_ns_fetches_per_referral {
                break;
            }
            if depth > usize::from(settings.limits.max_dependency_depth) {
                return NsStep::Exhausted(ResolveError::DependencyTooDeep {
                    limit: settings.limits.max_dependency_depth,
                    ns: ns.to_string(),
                });
            }
            frame.ns_fetches += 1;
            return NsStep::Pushed(Box::new(Frame::new(
                Purpose::NsAddress { ns: ns.clone() },
                ns,
                RecordType::A,
            )));
        }
        let any_address = cut.servers.iter().any(|s| !s.addrs.is_empty());
        NsStep::Exhausted(if any_address {
            ResolveError::NoReachableAuthority {
                zone: cut.zone.to_string(),
            }
        } else {
            ResolveError::NoServerAddress {
                zone: cut.zone.to_string(),
                fetched: frame.ns_fetches,
            }
        })
    }

    /// Answers the top frame, just started or restarted at a chain
    /// target, from the RRset store where it holds data the frame may use
    /// (authoritative answers for the client's question; answers at rank
    /// [`Rank::Authority`] or above for NS addresses), following cached
    /// CNAMEs. Returns `None` where the frame must go upstream, its cut
    /// then entered.
    fn answer_from_store(&mut self, now: Instant, ctx: &mut Context<'_>) -> Option<Action> {
        let store = ctx.rrsets?;
        let limits = self.settings.limits;
        loop {
            let frame = self.stack.last_mut()?;
            let search = cut_search_name(frame);
            let cut = ctx.delegations.closest_cut(&search, now);
            let zone = cut.zone.clone();
            let least = match frame.purpose {
                Purpose::Client => Rank::AuthoritativeAnswer,
                Purpose::NsAddress { .. } => Rank::Authority,
            };
            let usable = |c: &CachedRrset| {
                c.rank >= least && !wildcard_expanded(c) && served_by(c, &zone, &search, store, now)
            };
            if cacheable(frame.qtype) {
                if let Some(hit) = store.lookup(&frame.qname, frame.qtype, now).filter(usable) {
                    let mut data = hit.records;
                    data.extend(hit.rrsigs);
                    return Some(self.finish(ResponseCode::NoError, data, &[], &zone, now, ctx));
                }
                let link = (frame.qtype != RecordType::CNAME)
                    .then(|| store.lookup(&frame.qname, RecordType::CNAME, now))
                    .flatten()
                    .filter(usable);
                let target = link.as_ref().and_then(|l| match l.records.as_slice() {
                    [
                        Record {
                            data: RData::CNAME(c),
                            ..
                        },
                    ] => Some(c.0.to_lowercase()),
                    _ => None,
                });
                if let (Some(link), Some(target)) = (link, target) {
                    if frame.seen.contains(&target) {
                        let error = ResolveError::ChainLoop {
                            name: target.to_string(),
                        };
                        return Some(self.fail_or_advance(error, now, ctx));
                    }
                    frame.seen.push(target.clone());
                    if frame.seen.len() > usize::from(limits.max_cname_hops) {
                        let error = ResolveError::ChainTooLong {
                            limit: limits.max_cname_hops,
                            name: target.to_string(),
                        };
                        return Some(self.fail_or_advance(error, now, ctx));
                    }
                    frame.links.extend(link.records);
                    frame.links.extend(link.rrsigs);
                    frame.restart_at(target);
                    continue;
                }
            }
            frame.enter_cut(cut);
            return None;
        }
    }

    /// Ends the top frame with `error`: the walk fails if it is the
    /// client's frame or the error is global; an NS lookup just fails.
    fn fail_frame(&mut self, error: ResolveError) -> Option<Action> {
        if self.stack.len() <= 1 || error.is_global() {
            return Some(Action::Fail(error));
        }
        let frame = self.stack.pop()?;
        if let (Purpose::NsAddress { ns }, Some(parent)) = (frame.purpose, self.stack.last_mut()) {
            parent.ns_failed.push(ns);
        }
        None
    }

    fn on_reply(
        &mut self,
        sent: &InFlight,
        message: &Message,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> Action {
        let asked = &sent.out.question;
        let scrubbed = scrub(message, &sent.zone, &asked.name);
        let mode = self.settings.qname_minimisation;
        let server = sent.out.server;
        let Some(frame) = self.stack.last_mut() else {
            return Action::Fail(ResolveError::Abandoned);
        };
        let minimised = asked.name.num_labels() < frame.qname.num_labels();
        let kind = classify(&scrubbed);
        if !matches!(kind, Kind::Lame(_)) {
            ctx.servers.record_zone_success(&sent.zone);
            // A shared reply is stored by the walk that sent it.
            if self.record
                && let Some(store) = ctx.rrsets
            {
                store.store(&scrubbed, now);
            }
        }
        match kind {
            Kind::Lame(_) if minimised && mode == QnameMinimisation::Relaxed => {
                // RFC 9156 §2.3: a server broken for hidden names gets the
                // full name before it is called lame.
                frame.minimise_off = true;
                frame.tried.retain(|&s| s != server);
            }
            Kind::Lame(_) => self.record_lame(&sent.zone, server, now, ctx),
            Kind::Referral { child, ns, ttl } => {
                return self.on_referral(sent, &scrubbed, child, ns, ttl, now, ctx);
            }
            Kind::Nxdomain if minimised => {
                if mode == QnameMinimisation::Strict {
                    // RFC 8020: nothing exists below an NXDOMAIN.
                    return self.finish(
                        ResponseCode::NXDomain,
                        Vec::new(),
                        &scrubbed.authority,
                        &sent.zone,
                        now,
                        ctx,
                    );
                }
                frame.minimise_off = true;
                frame.tried.retain(|&s| s != server);
            }
            Kind::Nodata | Kind::Answer if minimised => {
                // Not a zone cut: ask a longer name, preferably here again.
                frame.extend_minimisation();
                frame.tried.retain(|&s| s != server);
            }
            Kind::Nxdomain => {
                return self.finish(
                    ResponseCode::NXDomain,
                    Vec::new(),
                    &scrubbed.authority,
                    &sent.zone,
                    now,
                    ctx,
                );
            }
            Kind::Nodata => {
                return self.finish(
                    ResponseCode::NoError,
                    Vec::new(),
                    &scrubbed.authority,
                    &sent.zone,
                    now,
                    ctx,
                );
            }
            Kind::Answer => return self.on_answer(sent, &scrubbed, now, ctx),
        }
        self.advance(now, ctx)
    }

    #[allow(clippy::too_many_arguments)]
    fn on_referral(
        &mut self,
        sent: &InFlight,
        scrubbed: &Scrubbed,
        child: Name,
        ns: Vec<Name>,
        ttl: u32,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> Action {
        let limit = self.settings.limits.max_delegation_depth;
        let is_client = self.stack.len() == 1;
        let Some(frame) = self.stack.last_mut() else {
            return Action::Fail(ResolveError::Abandoned);
        };
        frame.depth += 1;
        if frame.depth > limit {
            let error = ResolveError::DelegationTooDeep {
                limit,
                zone: child.to_string(),
            };
            return match self.fail_frame(error) {
                Some(action) => action,
                None => self.advance(now, ctx),
            };
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
        if is_client {
            self.cuts.push(CutProof {
                parent: sent.zone.clone(),
                child,
                records: cut_proof_records(scrubbed),
            });
        }
        frame.enter_cut(cut);
        self.advance(now, ctx)
    }

    fn on_answer(
        &mut self,
        sent: &InFlight,
        scrubbed: &Scrubbed,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> Action {
        let limits = self.settings.limits;
        let Some(frame) = self.stack.last_mut() else {
            return Action::Fail(ResolveError::Abandoned);
        };
        let chain = follow_chain(&scrubbed.answers, &sent.out.question.name, frame.qtype);
        if chain.overflow {
            let error = ResolveError::DnameOverflow {
                name: frame.qname.to_string(),
            };
            return self.fail_or_advance(error, now, ctx);
        }
        frame.links.extend(chain.links);
        for name in &chain.reached {
            if frame.seen.contains(name) {
                let error = ResolveError::ChainLoop {
                    name: name.to_string(),
                };
                return self.fail_or_advance(error, now, ctx);
            }
            frame.seen.push(name.clone());
            if frame.seen.len() > usize::from(limits.max_cname_hops) {
                let error = ResolveError::ChainTooLong {
                    limit: limits.max_cname_hops,
                    name: name.to_string(),
                };
                return self.fail_or_advance(error, now, ctx);
            }
        }
        if !chain.data.is_empty() {
            return self.finish(
                ResponseCode::NoError,
                chain.data,
                &scrubbed.authority,
                &sent.zone,
                now,
                ctx,
            );
        }
        let Some(end) = chain.end else {
            // Only RRSIGs or other types at the name: not an answer.
            self.record_lame(&sent.zone, sent.out.server, now, ctx);
            return self.advance(now, ctx);
        };
        let in_zone = sent.zone.zone_of(&end);
        if in_zone && scrubbed.rcode == ResponseCode::NXDomain {
            return self.finish(
                ResponseCode::NXDomain,
                Vec::new(),
                &scrubbed.authority,
                &sent.zone,
                now,
                ctx,
            );
        }
        let soa = scrubbed
            .authority
            .iter()
            .any(|r| r.record_type() == RecordType::SOA);
        if in_zone && soa {
            return self.finish(
                ResponseCode::NoError,
                Vec::new(),
                &scrubbed.authority,
                &sent.zone,
                now,
                ctx,
            );
        }
        // A link expanded from a wildcard is proven by this reply's
        // NSEC/NSEC3 only; the final reply's authority replaces it.
        frame
            .link_proofs
            .extend(scrubbed.authority.iter().filter(|r| is_denial(r)).cloned());
        frame.restart_at(end);
        self.advance(now, ctx)
    }

    fn fail_or_advance(
        &mut self,
        error: ResolveError,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> Action {
        match self.fail_frame(error) {
            Some(action) => action,
            None => self.advance(now, ctx),
        }
    }

    /// The top frame is answered: the walk ends, or an NS lookup feeds
    /// its addresses to the frame below and the walk goes on.
    fn finish(
        &mut self,
        rcode: ResponseCode,
        data: Vec<Record>,
        authority: &[Record],
        zone: &Name,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> Action {
        let Some(mut frame) = self.stack.pop() else {
            return Action::Fail(ResolveError::Abandoned);
        };
        match frame.purpose {
            Purpose::Client => {
                let mut answers = std::mem::take(&mut frame.links);
                let link_proofs = std::mem::take(&mut frame.link_proofs);
                answers.extend(data);
                let authority = authority
                    .iter()
                    .filter(|r| r.record_type() != RecordType::NS)
                    .cloned()
                    .collect();
                Action::Done(Answer {
                    question: self.question.clone(),
                    rcode,
                    answers,
                    authority,
                    link_proofs,
                    zone: zone.clone(),
                    cuts: std::mem::take(&mut self.cuts),
                    queries: self.queries,
                })
            }
            Purpose::NsAddress { ns } => {
                let mut ttl = u32::MAX;
                let addrs: Vec<IpAddr> = data
                    .iter()
                    .filter_map(|r| {
                        let addr = match &r.data {
                            RData::A(a) => IpAddr::V4(a.0),
                            RData::AAAA(a) => IpAddr::V6(a.0),
                            _ => return None,
                        };
                        ttl = ttl.min(r.ttl);
                        Some(addr)
                    })
                    .collect();
                if !addrs.is_empty() {
                    ctx.delegations.insert_addresses(&ns, &addrs, ttl, now);
                }
                if let Some(parent) = self.stack.last_mut() {
                    if addrs.is_empty() {
                        parent.ns_failed.push(ns);
                    } else {
                        fill(parent, &ns, addrs);
                    }
                }
                self.advance(now, ctx)
            }
        }
    }
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
/// zone of an unsigned answer from [`Answer::zone`]. A signed RRset must
/// be signed by `zone`; for any RRset, no NS RRset may be cached at a
/// name between `zone` and `search` (a deeper cut the delegation store
/// has forgotten).
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
        addrs.extend(hit.records.iter().filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        }));
    }
    (!addrs.is_empty()).then_some((addrs, ttl))
}

/// The name whose closest cut a frame starts from: DS is the parent's
/// (RFC 4035 §3.1.4.1).
fn cut_search_name(frame: &Frame) -> Name {
    if frame.qtype == RecordType::DS && !frame.qname.is_root() {
        frame.qname.base_name()
    } else {
        frame.qname.clone()
    }
}

enum NsStep {
    Filled,
    Pushed(Box<Frame>),
    Exhausted(ResolveError),
}

/// Whether `record` is an NSEC or NSEC3, or an RRSIG over one.
fn is_denial(record: &Record) -> bool {
    let denial = |t: RecordType| matches!(t, RecordType::NSEC | RecordType::NSEC3);
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => denial(sig.input().type_covered),
        _ => denial(record.record_type()),
    }
}

/// Puts `addrs` on NS `ns` of the frame's cut.
fn fill(frame: &mut Frame, ns: &Name, addrs: Vec<IpAddr>) {
    if let Some(server) = frame
        .cut
        .as_mut()
        .and_then(|c| c.servers.iter_mut().find(|s| s.name == *ns))
    {
        server.addrs = addrs;
    }
}

/// The glue addresses of `ns` in a scrubbed referral.
fn glue_for(glue: &[Record], ns: &Name) -> Vec<IpAddr> {
    glue.iter()
        .filter(|r| r.name == *ns)
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}
