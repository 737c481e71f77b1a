//! The walk: one client question resolved from the closest known zone cut
//! (RFC 1034 §5.3.3), as a sans-IO state machine.
//!
//! [`Walk::start`], [`Walk::poll`] and the `on_*` feeders return an
//! [`Action`]: send a query, wait for the outcome of a query in flight,
//! the answer, or the failure. The caller does the I/O and passes `now`;
//! the walk never reads a clock. The shell may instead feed the outcome
//! of an identical query another walk sent ([`Walk::on_shared_exchange`]),
//! or take a query back unsent after a query for the same name completed
//! ([`Walk::on_withdrawn`]).
//!
//! A walk is a set of frames: the client's question, and lookups of the
//! addresses of NS names without glue. An NS name is looked up with A and
//! AAAA at once (AAAA only when IPv6 upstreams are on), one frame each,
//! so their queries are in flight together; the frame that needed the
//! name goes on with the first usable address, and the other lookup
//! carries on, its addresses landing in the stores, after the answer if
//! need be (the shell feeds it until [`Action::Settled`]). A frame looks
//! up one NS name at a time, never all of a referral's; every lookup's
//! queries count against the question's caps and deadline (NXNSAttack).
//! A frame about to send a query identical to one another frame has in
//! flight shares its outcome instead (the A and AAAA lookups of one name
//! ask the zones above it the same minimised question).
//!
//! # Limitations
//! With QNAME minimisation off, the A and AAAA lookups of an NS name whose
//! zone cut is not known yet each ask the zones above it for themselves.

mod ns;
mod reply;
mod stored;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::{Name, Record, RecordType};

use crate::address::may_query;
use crate::answer::{Answer, CutProof, Question};
use crate::config::{Config, Limits, QnameMinimisation};
use crate::delegation::DelegationStore;
use crate::error::ResolveError;
use crate::frame::{Frame, InFlight, Purpose, State};
use crate::infra::ServerStore;
use crate::rrsets::RrsetStore;

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

/// Names one query of a walk, so its outcome can be fed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryId(u32);

impl QueryId {
    /// The ID of a query the shell sends for no walk (priming).
    pub const PRIMING: Self = Self(u32::MAX);
}

/// A query for the transport to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Which query of the walk this is.
    pub id: QueryId,
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
    /// Whether the shell may hold the query back while a query for the
    /// same name to the same server is in flight, whose referral may
    /// spare it: false right after such a wait (so the walk moves on) and
    /// beside a query of this walk for the name (an NS name's A and AAAA
    /// go out together).
    pub may_wait: bool,
}

/// What the walk wants done next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this query, feed its outcome to [`Walk::on_exchange`], and
    /// call [`Walk::poll`] for the next action.
    Send(Outgoing),
    /// Nothing to send: feed the outcome of a query in flight.
    Wait,
    /// The answer. Lookups of NS addresses may still be under way: feed
    /// them on until [`Action::Settled`] so the stores learn what they
    /// bring, or drop the walk.
    Done(Answer),
    /// No answer: SERVFAIL with an EDE (or the error's RCODE). As after
    /// [`Action::Done`], lookups may still be under way.
    Fail(ResolveError),
    /// The outcome was given and nothing is left in flight.
    Settled,
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
    /// Whether IPv6 upstreams may be asked (and AAAA of NS names looked
    /// up).
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

/// One client question being resolved.
#[derive(Debug)]
pub struct Walk {
    settings: WalkSettings,
    question: Question,
    /// The frames alive, oldest first.
    frames: Vec<Frame>,
    next_frame: u32,
    next_query: u32,
    queries: u32,
    deadline: Instant,
    cuts: Vec<CutProof>,
    /// Whether the outcome being handled is this walk's own exchange,
    /// whose facts about the server go into the store.
    record: bool,
    /// Queries to hand to the shell.
    outbox: VecDeque<Outgoing>,
    /// The answer or failure, until handed to the shell.
    outcome: Option<Result<Answer, ResolveError>>,
    /// Whether the outcome is known.
    concluded: bool,
    /// NS names whose lookups ended without a usable address.
    dead_ns: Vec<Name>,
}

impl Walk {
    /// A walk for `question`, whose deadline runs from `now`.
    pub fn new(question: Question, settings: WalkSettings, now: Instant) -> Self {
        let frame = Frame::new(
            0,
            Purpose::Client,
            question.name.to_lowercase(),
            question.qtype,
            1,
        );
        Self {
            deadline: now + settings.limits.deadline,
            settings,
            question,
            frames: vec![frame],
            next_frame: 1,
            next_query: 0,
            queries: 0,
            cuts: Vec::new(),
            record: true,
            outbox: VecDeque::new(),
            outcome: None,
            concluded: false,
            dead_ns: Vec::new(),
        }
    }

    /// Upstream queries sent so far.
    pub fn queries(&self) -> u32 {
        self.queries
    }

    /// Queries handed out whose outcome has not been fed back.
    pub fn in_flight(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| matches!(f.state, State::Asking(_)))
            .count()
    }

    /// The first action.
    pub fn start(&mut self, now: Instant, ctx: &mut Context<'_>) -> Action {
        self.poll(now, ctx)
    }

    /// The next action: after [`Action::Send`], call again until the walk
    /// asks to [`Action::Wait`].
    pub fn poll(&mut self, now: Instant, ctx: &mut Context<'_>) -> Action {
        loop {
            // Checked before taken: moving the (large) empty value out on
            // every call showed in the cold-cache profile.
            if self.outcome.is_some()
                && let Some(outcome) = self.outcome.take()
            {
                return match outcome {
                    Ok(answer) => Action::Done(answer),
                    Err(error) => Action::Fail(error),
                };
            }
            if let Some(out) = self.outbox.pop_front() {
                return Action::Send(out);
            }
            if self.frames.is_empty() {
                return Action::Settled;
            }
            if now >= self.deadline {
                self.abort(ResolveError::Deadline {
                    after: self.settings.limits.deadline,
                });
                continue;
            }
            let ready = self
                .frames
                .iter()
                .find(|f| matches!(f.state, State::Ready))
                .map(|f| f.id);
            if let Some(fid) = ready {
                self.step(fid, now, ctx);
            } else if self.in_flight() > 0 {
                return Action::Wait;
            } else {
                // Frames waiting with nothing in flight: the cycle checks of
                // NS lookups rule it out; end rather than hang.
                self.abort(ResolveError::Abandoned);
            }
        }
    }

    /// Feeds what came of query `id`.
    pub fn on_exchange(
        &mut self,
        id: QueryId,
        exchange: Exchange,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> Action {
        self.dispatch(id, exchange, true, now, ctx);
        self.poll(now, ctx)
    }

    /// Feeds the outcome of an identical query another walk sent for
    /// query `id`: handled like [`Walk::on_exchange`], but what it says
    /// about the server (RTT, timeout, lameness, quirks) is left to the
    /// walk that sent it, so one exchange counts once.
    pub fn on_shared_exchange(
        &mut self,
        id: QueryId,
        exchange: Exchange,
        now: Instant,
        ctx: &mut Context<'_>,
    ) -> Action {
        self.dispatch(id, exchange, false, now, ctx);
        self.poll(now, ctx)
    }

    /// Takes back query `id`, left unsent while a query for the same name
    /// to the same server was answered: a referral it brought is entered,
    /// then the walk goes on.
    pub fn on_withdrawn(&mut self, id: QueryId, now: Instant, ctx: &mut Context<'_>) -> Action {
        let waiting: Vec<u32> = self
            .frames
            .iter()
            .filter(|f| matches!(&f.state, State::Asking(s) | State::Sharing(s) if s.out.id == id))
            .map(|f| f.id)
            .collect();
        for fid in waiting {
            let Some(frame) = self.frame_mut(fid) else {
                continue;
            };
            let (own, sent) = match std::mem::replace(&mut frame.state, State::Ready) {
                State::Asking(sent) => (true, sent),
                State::Sharing(sent) => (false, sent),
                other => {
                    frame.state = other;
                    continue;
                }
            };
            frame.withdrawn = true;
            if let Some(i) = frame.tried.iter().rposition(|&s| s == sent.out.server) {
                frame.tried.remove(i);
            }
            let at_sent_zone = frame.cut.as_ref().is_some_and(|c| c.zone == sent.zone);
            let closest = ctx.delegations.closest_cut(&cut_search_name(frame), now);
            if at_sent_zone && closest.zone.num_labels() > sent.zone.num_labels() {
                frame.enter_cut(closest);
            }
            if own {
                self.queries = self.queries.saturating_sub(1);
            }
        }
        self.poll(now, ctx)
    }

    /// Hands the outcome of query `id` to the frame that sent it and to
    /// the frames sharing it.
    fn dispatch(
        &mut self,
        id: QueryId,
        exchange: Exchange,
        own: bool,
        now: Instant,
        ctx: &mut Context<'_>,
    ) {
        let Some(owner) = self
            .frames
            .iter_mut()
            .find(|f| matches!(&f.state, State::Asking(s) if s.out.id == id))
        else {
            // Already ended (the walk was cut short).
            return;
        };
        let owner_id = owner.id;
        let State::Asking(sent) = std::mem::replace(&mut owner.state, State::Ready) else {
            return;
        };
        let sharers: Vec<u32> = self
            .frames
            .iter()
            .filter(|f| matches!(&f.state, State::Sharing(s) if s.out.id == id))
            .map(|f| f.id)
            .collect();
        let for_sharers = (!sharers.is_empty()).then(|| exchange.clone());
        self.record = own;
        self.on_outcome(owner_id, &sent, exchange, now, ctx);
        // A resend of the question (over TCP, without EDNS) is theirs too.
        let resent = self.frame(owner_id).and_then(|f| match &f.state {
            State::Asking(s)
                if s.out.server == sent.out.server && s.out.question == sent.out.question =>
            {
                Some(s.clone())
            }
            _ => None,
        });
        if let Some(exchange) = for_sharers {
            for fid in sharers {
                let Some(frame) = self.frame_mut(fid) else {
                    continue;
                };
                if let Some(resent) = &resent {
                    frame.state = State::Sharing(resent.clone());
                    continue;
                }
                frame.state = State::Ready;
                self.record = false;
                self.on_outcome(fid, &sent, exchange.clone(), now, ctx);
            }
        }
        self.record = true;
    }

    fn on_outcome(
        &mut self,
        fid: u32,
        sent: &InFlight,
        exchange: Exchange,
        now: Instant,
        ctx: &mut Context<'_>,
    ) {
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
                    && let Some(frame) = self.frame_mut(fid)
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
                    self.resend(fid, sent, |o| o.protocol = Protocol::Tcp);
                } else if message.metadata.response_code == ResponseCode::FormErr && sent.out.edns {
                    if record {
                        ctx.servers.record_no_edns(server);
                    }
                    self.resend(fid, sent, |o| o.edns = false);
                } else {
                    self.on_reply(fid, sent, &message, now, ctx);
                }
            }
        }
    }

    fn resend(&mut self, fid: u32, sent: &InFlight, change: impl FnOnce(&mut Outgoing)) {
        if self.queries >= self.settings.limits.max_queries {
            self.abort(ResolveError::QueryCap {
                limit: self.settings.limits.max_queries,
            });
            return;
        }
        self.queries += 1;
        let mut out = sent.out.clone();
        change(&mut out);
        out.id = self.new_query_id();
        if let Some(frame) = self.frame_mut(fid) {
            frame.state = State::Asking(InFlight {
                out: out.clone(),
                zone: sent.zone.clone(),
            });
            self.outbox.push_back(out);
        }
    }

    /// Takes the next step of ready frame `fid`: an answer from the RRset
    /// store, a query, an NS lookup, or its end.
    fn step(&mut self, fid: u32, now: Instant, ctx: &mut Context<'_>) {
        let settings = self.settings;
        loop {
            let Some(frame) = self.frame(fid) else {
                return;
            };
            if frame.cut.is_none() && self.answer_from_store(fid, now, ctx) {
                return;
            }
            let Some(frame) = self.frame_mut(fid) else {
                return;
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
                self.fail_frame(fid, error, now, ctx);
                return;
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
                self.ask(fid, server, cut.zone, now, ctx);
                return;
            }
            match self.next_ns_lookup(fid, &cut, now, ctx) {
                ns::NsStep::Filled => {}
                ns::NsStep::Waiting => return,
                ns::NsStep::Exhausted(error) => {
                    if matches!(
                        error,
                        ResolveError::NoReachableAuthority { .. }
                            | ResolveError::NoServerAddress { .. }
                    ) {
                        ctx.servers.record_zone_failure(&cut.zone, now);
                    }
                    self.fail_frame(fid, error, now, ctx);
                    return;
                }
            }
        }
    }

    /// Asks `server` of `zone` the frame's next question, or shares the
    /// outcome of an identical query in flight.
    fn ask(
        &mut self,
        fid: u32,
        server: SocketAddr,
        zone: Name,
        now: Instant,
        ctx: &mut Context<'_>,
    ) {
        let settings = self.settings;
        let flags = ctx.servers.flags(server);
        let edns = !flags.no_edns;
        let Some(frame) = self.frame_mut(fid) else {
            return;
        };
        frame.tried.push(server);
        let withdrawn = std::mem::take(&mut frame.withdrawn);
        let (name, qtype) = frame.asked(settings.qname_minimisation);
        let question = Question::new(name, qtype);
        let identical = self
            .asking(|s| {
                s.out.server == server
                    && s.out.question == question
                    && s.out.edns == edns
                    && s.zone == zone
            })
            .cloned();
        if let Some(sent) = identical {
            if let Some(frame) = self.frame_mut(fid) {
                frame.state = State::Sharing(sent);
            }
            return;
        }
        if self.queries >= settings.limits.max_queries {
            self.abort(ResolveError::QueryCap {
                limit: settings.limits.max_queries,
            });
            return;
        }
        let same_name = self
            .asking(|s| s.out.server == server && s.out.question.name == question.name)
            .is_some();
        self.queries += 1;
        let out = Outgoing {
            id: self.new_query_id(),
            server,
            question,
            protocol: Protocol::Udp,
            edns,
            randomize_case: settings.randomize_case && !flags.no_case,
            timeout: ctx
                .servers
                .timeout(server)
                .min(self.deadline.saturating_duration_since(now)),
            may_wait: !withdrawn && !same_name,
        };
        if let Some(frame) = self.frame_mut(fid) {
            frame.state = State::Asking(InFlight {
                out: out.clone(),
                zone,
            });
        }
        self.outbox.push_back(out);
    }

    /// The query in flight that satisfies `matches`, if any.
    fn asking(&self, matches: impl Fn(&InFlight) -> bool) -> Option<&InFlight> {
        self.frames.iter().find_map(|f| match &f.state {
            State::Asking(s) if matches(s) => Some(s),
            _ => None,
        })
    }

    fn new_query_id(&mut self) -> QueryId {
        let id = QueryId(self.next_query);
        self.next_query = self.next_query.wrapping_add(1);
        id
    }

    fn frame(&self, fid: u32) -> Option<&Frame> {
        self.frames.iter().find(|f| f.id == fid)
    }

    fn frame_mut(&mut self, fid: u32) -> Option<&mut Frame> {
        self.frames.iter_mut().find(|f| f.id == fid)
    }

    fn remove(&mut self, fid: u32) -> Option<Frame> {
        let i = self.frames.iter().position(|f| f.id == fid)?;
        Some(self.frames.remove(i))
    }

    /// Records the outcome, once.
    fn conclude(&mut self, outcome: Result<Answer, ResolveError>) {
        if !self.concluded {
            self.concluded = true;
            self.outcome = Some(outcome);
        }
    }

    /// Ends every frame: a cap of the whole question was hit.
    fn abort(&mut self, error: ResolveError) {
        self.frames.clear();
        self.outbox.clear();
        self.conclude(Err(error));
    }

    /// Ends frame `fid` with `error`: the walk fails if it is the client's
    /// frame or the error is global; an NS lookup just fails.
    fn fail_frame(&mut self, fid: u32, error: ResolveError, now: Instant, ctx: &mut Context<'_>) {
        if error.is_global() {
            self.abort(error);
            return;
        }
        let Some(frame) = self.remove(fid) else {
            return;
        };
        match frame.purpose {
            Purpose::Client => self.conclude(Err(error)),
            Purpose::NsAddress { ns } => self.lookup_ended(&ns, Vec::new(), 0, now, ctx),
        }
    }

    /// Frame `fid` is answered: the client's ends the walk's question; an
    /// NS lookup hands its addresses to the frames that need them.
    // The parts of an answer, then the walk's usual frame, time, stores.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        fid: u32,
        rcode: ResponseCode,
        data: Vec<Record>,
        authority: &[Record],
        zone: &Name,
        now: Instant,
        ctx: &mut Context<'_>,
    ) {
        let Some(mut frame) = self.remove(fid) else {
            return;
        };
        match frame.purpose {
            Purpose::Client => {
                let mut answers = std::mem::take(&mut frame.links);
                answers.extend(data);
                let authority = authority
                    .iter()
                    .filter(|r| r.record_type() != RecordType::NS)
                    .cloned()
                    .collect();
                let answer = Answer {
                    question: self.question.clone(),
                    rcode,
                    answers,
                    authority,
                    link_proofs: std::mem::take(&mut frame.link_proofs),
                    zone: zone.clone(),
                    cuts: std::mem::take(&mut self.cuts),
                    queries: self.queries,
                };
                self.conclude(Ok(answer));
            }
            Purpose::NsAddress { ns } => {
                let (addrs, ttl) = ns::addresses_in(&data);
                self.lookup_ended(&ns, addrs, ttl, now, ctx);
            }
        }
    }

    fn record_lame(&self, zone: &Name, server: SocketAddr, now: Instant, ctx: &mut Context<'_>) {
        if self.record {
            ctx.servers.record_lame(zone, server, now);
        }
    }
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
