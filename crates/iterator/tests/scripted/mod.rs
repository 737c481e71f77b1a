//! A scripted world for sans-IO walks: each server is a closure from a
//! question to a reply (or silence), replies arrive after a delay on a
//! fake clock (one later than the query's timeout is a timeout), and
//! every query and reply is logged, so a test asserts what went
//! upstream, in which order, and what came back.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anchorage_cache::CacheLimits;
use anchorage_iterator::config::{Config, Limits, QnameMinimisation};
use anchorage_iterator::delegation::DelegationCache;
use anchorage_iterator::infra::InfraCache;
use anchorage_iterator::rrsets::RrsetStore;
use anchorage_iterator::walk::{Context, QueryId, WalkSettings};
use anchorage_iterator::{
    Action, Answer, Exchange, Outgoing, Question, ResolveError, RootHints, Walk,
};
use anchorage_wire::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use anchorage_wire::proto::rr::{Name, RecordType};
use anchorage_wire::text::parse_records;

/// Steps after which a scenario is a bug, not a slow walk.
pub const MAX_STEPS: usize = 1_000;
/// Port of every scripted server.
pub const PORT: u16 = 53;
/// The root on 127.0.0.1.
pub const HINTS: &str = ". 86400 IN NS root.\nroot. 86400 IN A 127.0.0.1\n";
/// Time a scripted server takes to answer unless told otherwise.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(2);

/// How long the reply to a query takes.
pub type Delay = Box<dyn Fn(&Outgoing) -> Duration>;

/// A server: the reply to a question, or `None` for silence.
pub type Script = Box<dyn Fn(&Question) -> Option<Message>>;

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A query went out: name (lower case, trailing dot), type, server.
    Sent(String, RecordType, SocketAddr),
    /// Its reply or timeout was fed to the walk.
    Fed(String, RecordType),
    /// The walk gave its answer or failure.
    Outcome,
}

/// Scripted servers, the walk's stores, a fake clock and a log.
pub struct World {
    pub servers: HashMap<SocketAddr, Script>,
    /// Reply delays; [`DEFAULT_DELAY`] unless set.
    pub delay: Delay,
    pub delegations: DelegationCache,
    pub infra: InfraCache,
    pub rrsets: Option<RrsetStore>,
    pub settings: WalkSettings,
    pub now: Instant,
    /// Every query sent.
    pub log: Vec<Outgoing>,
    pub events: Vec<Event>,
    /// Outcomes arrive as if another walk had sent the identical query.
    pub shared: bool,
}

/// 127.0.0.`last` on [`PORT`].
pub fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], PORT))
}

/// `text` as a name.
pub fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// A reply to `q` with these sections (zone-file text).
pub fn reply(q: &Question, rcode: ResponseCode, aa: bool, an: &str, ns: &str, ad: &str) -> Message {
    let mut m = Message::new(0, MessageType::Response, OpCode::Query);
    m.add_query(Query::query(q.name.clone(), q.qtype));
    m.metadata.response_code = rcode;
    m.metadata.authoritative = aa;
    m.answers = parse_records(an).unwrap();
    m.authorities = parse_records(ns).unwrap();
    m.additionals = parse_records(ad).unwrap();
    m
}

/// A NOERROR reply to `q`.
pub fn noerror(q: &Question, aa: bool, an: &str, ns: &str, ad: &str) -> Message {
    reply(q, ResponseCode::NoError, aa, an, ns, ad)
}

impl World {
    /// No servers yet, the root at 127.0.0.1, QNAME minimisation and IPv6
    /// off, no RRset store, no exploration of slower servers.
    pub fn new(limits: Limits) -> Self {
        let hints = RootHints::parse(HINTS).unwrap();
        let config = Config {
            qname_minimisation: QnameMinimisation::Off,
            limits: Limits {
                explore_one_in: u32::MAX,
                ..limits
            },
            ..Config::loopback(hints.clone(), PORT)
        };
        let now = Instant::now();
        Self {
            servers: HashMap::new(),
            delay: Box::new(|_| DEFAULT_DELAY),
            delegations: DelegationCache::new(&hints, 1000),
            infra: InfraCache::new(config.limits, 1000, 1),
            rrsets: None,
            settings: WalkSettings::from(&config),
            now,
            log: Vec::new(),
            events: Vec::new(),
            shared: false,
        }
    }

    /// With an RRset store, fed and consulted by every walk.
    pub fn with_store(mut self) -> Self {
        self.rrsets = Some(RrsetStore::new(CacheLimits::default(), self.now));
        self
    }

    /// With IPv6 upstreams on (AAAA of NS names looked up).
    pub fn with_ipv6(mut self) -> Self {
        self.settings.ipv6 = true;
        self
    }

    /// With QNAME minimisation in `mode`.
    pub fn with_minimisation(mut self, mode: QnameMinimisation) -> Self {
        self.settings.qname_minimisation = mode;
        self
    }

    /// The RRset store.
    pub fn store(&self) -> &RrsetStore {
        self.rrsets.as_ref().expect("a world with a store")
    }

    /// Serves `script` on `server`.
    pub fn serve_at(
        &mut self,
        server: SocketAddr,
        script: impl Fn(&Question) -> Option<Message> + 'static,
    ) {
        self.servers.insert(server, Box::new(script));
    }

    /// Serves `script` on 127.0.0.`last`.
    pub fn serve(&mut self, last: u8, script: impl Fn(&Question) -> Option<Message> + 'static) {
        self.serve_at(addr(last), script);
    }

    /// Forgets every zone cut and NS address learned.
    pub fn forget_delegations(&mut self) {
        self.delegations = DelegationCache::new(&RootHints::parse(HINTS).unwrap(), 1000);
    }

    /// Resolves `text`/`qtype`: queries are answered in the order their
    /// replies arrive, and after the outcome the walk is fed on until it
    /// settles, so lookups still under way reach the stores.
    pub fn resolve(&mut self, text: &str, qtype: RecordType) -> Result<Answer, ResolveError> {
        let q = Question::new(name(text), qtype);
        let mut walk = Walk::new(q, self.settings, self.now);
        let mut ctx = Context {
            delegations: &mut self.delegations,
            servers: &mut self.infra,
            rrsets: self.rrsets.as_ref(),
        };
        // Replies due, in the order sent: (when, id, asked, exchange).
        let mut due: Vec<(Instant, QueryId, Question, Exchange)> = Vec::new();
        let mut outcome = None;
        let mut action = walk.start(self.now, &mut ctx);
        for _ in 0..MAX_STEPS {
            action = match action {
                Action::Send(out) => {
                    let delay = (self.delay)(&out);
                    let answer = self.servers.get(&out.server).and_then(|s| s(&out.question));
                    let (at, exchange) = match answer {
                        Some(message) if delay <= out.timeout => (
                            self.now + delay,
                            Exchange::Reply {
                                message,
                                rtt: delay,
                            },
                        ),
                        _ => (self.now + out.timeout, Exchange::Timeout),
                    };
                    due.push((at, out.id, out.question.clone(), exchange));
                    self.events.push(Event::Sent(
                        out.question.name.to_ascii(),
                        out.question.qtype,
                        out.server,
                    ));
                    self.log.push(out);
                    walk.poll(self.now, &mut ctx)
                }
                Action::Wait => {
                    let next = due
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (at, ..))| *at)
                        .map(|(i, _)| i)
                        .expect("a walk waits only with a query in flight");
                    let (at, id, asked, exchange) = due.remove(next);
                    self.now = self.now.max(at);
                    self.events
                        .push(Event::Fed(asked.name.to_ascii(), asked.qtype));
                    if self.shared {
                        walk.on_shared_exchange(id, exchange, self.now, &mut ctx)
                    } else {
                        walk.on_exchange(id, exchange, self.now, &mut ctx)
                    }
                }
                Action::Done(answer) => {
                    outcome = Some(Ok(answer));
                    self.events.push(Event::Outcome);
                    walk.poll(self.now, &mut ctx)
                }
                Action::Fail(error) => {
                    outcome = Some(Err(error));
                    self.events.push(Event::Outcome);
                    walk.poll(self.now, &mut ctx)
                }
                Action::Settled => {
                    assert_eq!(walk.in_flight(), 0);
                    return outcome.expect("an outcome before the walk settles");
                }
            };
        }
        panic!("walk did not end in {MAX_STEPS} steps");
    }

    /// Names and types asked upstream since the last call.
    pub fn asked(&mut self) -> Vec<(String, RecordType)> {
        self.log
            .drain(..)
            .map(|o| (o.question.name.to_ascii(), o.question.qtype))
            .collect()
    }
}

/// An NXNSAttack referral (CVE-2020-8616): the root (.1) refers
/// `attack.` to 50 NS names in `victim.` without glue; victim.'s server
/// (.9) answers NXDOMAIN to everything.
pub fn serve_nxns_attack(w: &mut World) {
    let ns = (0..50)
        .map(|i| format!("attack. 3600 IN NS n{i}.victim.\n"))
        .collect::<Vec<_>>()
        .concat();
    w.serve(1, move |q| {
        let victim = q.name.to_string().ends_with("victim.");
        let (zone_ns, glue) = if victim {
            (
                "victim. 3600 IN NS ns.victim.\n".to_owned(),
                "ns.victim. 3600 IN A 127.0.0.9\n",
            )
        } else {
            (ns.clone(), "")
        };
        Some(noerror(q, false, "", &zone_ns, glue))
    });
    w.serve(9, |q| {
        let soa = "victim. 300 IN SOA ns.victim. h.victim. 1 2 3 4 300\n";
        Some(reply(q, ResponseCode::NXDomain, true, "", soa, ""))
    });
}
