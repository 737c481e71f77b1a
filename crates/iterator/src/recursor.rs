//! The async shell: drives [`Walk`]s over the [`Transport`], primes the
//! root (RFC 8109), and lets identical questions in flight share one walk.
//! A walk's queries in flight (an NS name's A and AAAA beside each other)
//! are polled by the walk's own task; lookups still under way when the
//! answer is ready finish in a task of their own, so the client does not
//! wait for them.
//!
//! Reads the clock through [`Clock`] only; the stores sit behind one
//! mutex held for a synchronous step of a walk, never across an await.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use anchorage_wire::proto::rr::{Name, RData, RecordType};
use tokio::sync::oneshot;

use crate::address::may_query;
use crate::answer::{Answer, Question};
use crate::config::{Config, Priming};
use crate::delegation::{Cut, DelegationCache, DelegationStore, NsServer};
use crate::error::ResolveError;
use crate::infra::{InfraCache, ServerStore};
use crate::rrsets::RrsetStore;
use crate::transport::Transport;
use crate::walk::{Action, Context, Exchange, Outgoing, Protocol, QueryId, Walk, WalkSettings};

/// Root servers asked in one priming attempt before it is given up
/// (RFC 8109 §3 leaves the count open).
pub const MAX_PRIMING_TRIES: usize = 3;

/// The time source of the shell.
pub trait Clock: Send + Sync {
    /// Now, on a monotonic clock.
    fn now(&self) -> Instant;
}

/// Tokio's clock: paused in tests with `start_paused`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// Why a recursor was not built.
#[derive(Debug, thiserror::Error)]
pub enum RecursorError {
    /// The transport is loopback-only but the hints are not: a test about
    /// to send to the real root.
    #[error("loopback-only transport with hints outside loopback")]
    HintsNotLoopback,
    /// Loopback upstreams are off but every hint is on loopback: the
    /// testbed's hints without `allow_loopback_upstreams`.
    #[error("root hints are on loopback but allow-loopback-upstreams is off")]
    LoopbackHintsRefused,
}

type Waiters = Vec<oneshot::Sender<Result<Arc<Answer>, ResolveError>>>;

/// What makes two upstream queries the same exchange.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ExchangeKey {
    server: SocketAddr,
    name: Name,
    qtype: RecordType,
    protocol: Protocol,
    edns: bool,
}

impl ExchangeKey {
    fn of(out: &Outgoing) -> Self {
        Self {
            server: out.server,
            name: out.question.name.clone(),
            qtype: out.question.qtype,
            protocol: out.protocol,
            edns: out.edns,
        }
    }
}

type ExchangeWaiters = Vec<oneshot::Sender<Exchange>>;

/// One upstream query of a walk, with the walk's ID for it.
type Flight = Pin<Box<dyn Future<Output = (QueryId, Outcome)> + Send>>;

/// The upstream queries of one walk in flight, polled by the walk's own
/// task: a query claims its place among those in flight (to share or
/// wait) as soon as the walk waits, in the order the walk sent them.
#[derive(Default)]
struct Flights(Vec<Flight>);

impl Flights {
    fn push(&mut self, flight: Flight) {
        self.0.push(flight);
    }

    /// The outcome of the first query to land; `None` when none is in
    /// flight.
    async fn next(&mut self) -> Option<(QueryId, Outcome)> {
        if self.0.is_empty() {
            return None;
        }
        std::future::poll_fn(|cx| {
            // A handful at most (an NS name's A and AAAA beside the
            // walk's own query): polling each on a wake costs nothing.
            for i in 0..self.0.len() {
                if let Poll::Ready(landed) = self.0[i].as_mut().poll(cx) {
                    drop(self.0.swap_remove(i));
                    return Poll::Ready(Some(landed));
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// Upstream queries in flight.
#[derive(Default)]
struct Exchanges {
    /// Each query with the walks waiting for its outcome.
    flights: HashMap<ExchangeKey, ExchangeWaiters>,
    /// One query in flight per server and name, whatever the type: a
    /// referral it brings may spare another type's query (the first
    /// questions for names of one zone arrive together).
    by_name: HashMap<(SocketAddr, Name), ExchangeKey>,
}

/// How a walk's query was answered.
enum Outcome {
    /// By this walk's own exchange.
    Own(Exchange),
    /// By an identical query another walk sent.
    Shared(Exchange),
    /// Not sent: a query for the same name to the same server completed
    /// meanwhile, which may have taught a deeper cut.
    Withdrawn,
}

struct Stores {
    delegations: DelegationCache,
    servers: InfraCache,
    /// No priming before this (RFC 9520 §3.2 backoff after a failure).
    priming_holddown: Option<(Instant, Duration)>,
}

struct Inner {
    config: Config,
    settings: WalkSettings,
    transport: Transport,
    clock: Arc<dyn Clock>,
    stores: Mutex<Stores>,
    /// RRsets of accepted replies; locks per shard, so outside `stores`.
    rrsets: RrsetStore,
    /// One priming at a time; the others wait for its outcome.
    priming: tokio::sync::Mutex<()>,
    in_flight: Mutex<HashMap<(Name, RecordType), Waiters>>,
    /// Upstream queries in flight, each with the walks waiting for its
    /// outcome: identical queries from different walks go out once.
    exchanges: Mutex<Exchanges>,
}

/// An iterative resolver; cheap to clone.
#[derive(Clone)]
pub struct Recursor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recursor")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Recursor {
    /// A recursor on `transport`; primes now if the config says so.
    pub async fn start(
        config: Config,
        transport: Transport,
        clock: Arc<dyn Clock>,
        seed: u64,
    ) -> Result<Self, RecursorError> {
        if transport.is_loopback_only() && !config.hints.all_loopback() {
            return Err(RecursorError::HintsNotLoopback);
        }
        if config.hints.all_loopback() && !config.allow_loopback_upstreams {
            return Err(RecursorError::LoopbackHintsRefused);
        }
        let stores = Stores {
            delegations: DelegationCache::new(&config.hints, config.max_delegations),
            servers: InfraCache::new(config.limits, config.max_servers, seed),
            priming_holddown: None,
        };
        let rrsets = RrsetStore::new(config.rrset_cache, clock.now());
        let recursor = Self {
            inner: Arc::new(Inner {
                rrsets,
                settings: WalkSettings::from(&config),
                config,
                transport,
                clock,
                stores: Mutex::new(stores),
                priming: tokio::sync::Mutex::new(()),
                in_flight: Mutex::new(HashMap::new()),
                exchanges: Mutex::new(Exchanges::default()),
            }),
        };
        if recursor.inner.config.priming == Priming::AtStart {
            recursor.prime().await;
        }
        Ok(recursor)
    }

    /// The transport, for its counters.
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The cached cut for exactly `zone`: its NS names and addresses.
    pub fn cached_cut(&self, zone: &Name) -> Option<Cut> {
        let now = self.inner.clock.now();
        self.lock()
            .delegations
            .cut(&zone.to_lowercase(), now)
            .cloned()
    }

    /// Counters, bytes and entries of the RRset store.
    pub fn rrset_stats(&self) -> anchorage_cache::CacheStats {
        self.inner.rrsets.stats()
    }

    /// Resolves `question`; identical questions in flight share one walk.
    pub async fn resolve(&self, question: Question) -> Result<Arc<Answer>, ResolveError> {
        let key = (question.name.to_lowercase(), question.qtype);
        let waiter = {
            let mut flights = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(waiters) = flights.get_mut(&key) {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                Some(rx)
            } else {
                flights.insert(key.clone(), Vec::new());
                None
            }
        };
        if let Some(rx) = waiter {
            return rx.await.unwrap_or(Err(ResolveError::Abandoned));
        }
        let guard = FlightGuard {
            inner: &self.inner,
            key: Some(key),
        };
        let result = self.run(question).await.map(Arc::new);
        guard.finish(&result);
        result
    }

    /// Primes the root NS set (RFC 8109 §3); on failure the hints stay in
    /// use and priming is retried after a growing hold-down.
    pub async fn prime(&self) -> bool {
        let hints = Cut::from_hints(&self.inner.config.hints);
        let settings = self.inner.settings;
        let targets: Vec<SocketAddr> = hints
            .servers
            .iter()
            .flat_map(|s| s.addrs.iter().copied())
            .filter(|&a| may_query(a, settings.allow_loopback, settings.ipv6))
            .map(|a| SocketAddr::new(a, settings.port))
            .take(MAX_PRIMING_TRIES)
            .collect();
        for server in targets {
            let timeout = self.lock().servers.timeout(server);
            let out = Outgoing {
                id: QueryId::PRIMING,
                server,
                question: Question::new(Name::root(), RecordType::NS),
                protocol: Protocol::Udp,
                edns: true,
                randomize_case: false,
                timeout,
                may_wait: false,
            };
            let mut exchange = self.inner.transport.exchange(&out).await;
            if let Exchange::Reply { message, .. } = &exchange
                && message.metadata.truncation
            {
                let tcp = Outgoing {
                    protocol: Protocol::Tcp,
                    ..out.clone()
                };
                exchange = self.inner.transport.exchange(&tcp).await;
            }
            let now = self.inner.clock.now();
            match exchange {
                Exchange::Reply { message, rtt } => {
                    let mut stores = self.lock();
                    stores.servers.record_rtt(server, rtt, now);
                    if let Some((cut, ttl)) = priming_cut(&message)
                        && cut.servers.iter().any(|s| !s.addrs.is_empty())
                    {
                        stores.delegations.insert_cut(&cut, ttl, now);
                        stores.priming_holddown = None;
                        return true;
                    }
                }
                _ => self.lock().servers.record_timeout(server, now),
            }
        }
        let now = self.inner.clock.now();
        let limits = self.inner.config.limits;
        let mut stores = self.lock();
        let next = stores
            .priming_holddown
            .map_or(limits.holddown_min, |(_, d)| {
                (d * 2).min(limits.holddown_max)
            });
        stores.priming_holddown = Some((now + next, next));
        tracing::warn!(retry_in = ?next, "root priming failed; using the hints");
        false
    }

    fn priming_due(&self) -> bool {
        let now = self.inner.clock.now();
        let stores = self.lock();
        stores.delegations.needs_priming(now)
            && stores
                .priming_holddown
                .is_none_or(|(until, _)| now >= until)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stores> {
        self.inner
            .stores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn run(&self, question: Question) -> Result<Answer, ResolveError> {
        if self.priming_due() {
            let _one = self.inner.priming.lock().await;
            // Another question may have primed while this one waited.
            if self.priming_due() {
                self.prime().await;
            }
        }
        let now = self.inner.clock.now();
        let mut walk = Walk::new(question, self.inner.settings, now);
        let mut flights = Flights::default();
        let mut action = self.step(|walk, ctx| walk.start(now, ctx), &mut walk);
        loop {
            action = match action {
                Action::Send(out) => self.launch(out, &mut walk, &mut flights),
                Action::Wait => match flights.next().await {
                    Some((id, outcome)) => self.feed(id, outcome, &mut walk),
                    None => Action::Fail(ResolveError::Abandoned),
                },
                Action::Done(answer) => {
                    self.settle(walk, flights);
                    return Ok(answer);
                }
                Action::Fail(error) => {
                    self.settle(walk, flights);
                    return Err(error);
                }
                Action::Settled => return Err(ResolveError::Abandoned),
            };
        }
    }

    /// Puts `out` in flight and returns the walk's next action.
    fn launch(&self, out: Outgoing, walk: &mut Walk, flights: &mut Flights) -> Action {
        let this = self.clone();
        flights.push(Box::pin(async move {
            let outcome = this.exchange(&out).await;
            (out.id, outcome)
        }));
        let now = self.inner.clock.now();
        self.step(|walk, ctx| walk.poll(now, ctx), walk)
    }

    /// Feeds the walk the outcome of its query `id`; returns its next
    /// action.
    fn feed(&self, id: QueryId, outcome: Outcome, walk: &mut Walk) -> Action {
        let now = self.inner.clock.now();
        self.step(
            |walk, ctx| match outcome {
                Outcome::Own(exchange) => walk.on_exchange(id, exchange, now, ctx),
                Outcome::Shared(exchange) => walk.on_shared_exchange(id, exchange, now, ctx),
                Outcome::Withdrawn => walk.on_withdrawn(id, now, ctx),
            },
            walk,
        )
    }

    /// Lets the lookups of NS addresses a walk still has under way after
    /// its outcome finish in the background, so the stores learn what
    /// they bring; the walk's caps and deadline bound them.
    fn settle(&self, mut walk: Walk, mut flights: Flights) {
        let now = self.inner.clock.now();
        let mut action = self.step(|walk, ctx| walk.poll(now, ctx), &mut walk);
        if action == Action::Settled {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                action = match action {
                    Action::Send(out) => this.launch(out, &mut walk, &mut flights),
                    Action::Wait => match flights.next().await {
                        Some((id, outcome)) => this.feed(id, outcome, &mut walk),
                        None => return,
                    },
                    Action::Done(_) | Action::Fail(_) | Action::Settled => return,
                };
            }
        });
    }

    /// Sends `out`, or waits for the outcome of an identical query in
    /// flight, or (when `out.may_wait`) withdraws it after a query for the
    /// same name in flight to the same server completes.
    async fn exchange(&self, out: &Outgoing) -> Outcome {
        let may_wait = out.may_wait;
        let key = ExchangeKey::of(out);
        let name_key = (out.server, out.question.name.clone());
        let waiter = {
            let mut table = self
                .inner
                .exchanges
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Exchanges { flights, by_name } = &mut *table;
            // DS is never asked or answered by a referral (RFC 4035
            // §3.1.4.1): no use waiting for or on it.
            let same_name = by_name.get(&name_key).filter(|k| {
                may_wait && out.question.qtype != RecordType::DS && k.qtype != RecordType::DS
            });
            if let Some(waiters) = flights.get_mut(&key) {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                Some((rx, true))
            } else if let Some(waiters) = same_name.and_then(|k| flights.get_mut(k)) {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                Some((rx, false))
            } else {
                flights.insert(key.clone(), Vec::new());
                by_name.entry(name_key).or_insert_with(|| key.clone());
                None
            }
        };
        match waiter {
            Some((rx, true)) => match rx.await {
                Ok(exchange) => Outcome::Shared(exchange),
                // The sending walk was dropped: send it ourselves.
                Err(_) => Outcome::Own(self.inner.transport.exchange(out).await),
            },
            Some((rx, false)) => {
                let _ = rx.await;
                Outcome::Withdrawn
            }
            None => {
                let guard = ExchangeGuard {
                    inner: &self.inner,
                    key: Some(key),
                };
                let exchange = self.inner.transport.exchange(out).await;
                for tx in guard.finish() {
                    let _ = tx.send(exchange.clone());
                }
                Outcome::Own(exchange)
            }
        }
    }

    fn step(
        &self,
        f: impl FnOnce(&mut Walk, &mut Context<'_>) -> Action,
        walk: &mut Walk,
    ) -> Action {
        let mut stores = self.lock();
        let Stores {
            delegations,
            servers,
            ..
        } = &mut *stores;
        let mut ctx = Context {
            delegations,
            servers,
            rrsets: Some(&self.inner.rrsets),
        };
        f(walk, &mut ctx)
    }
}

/// Removes an in-flight entry and answers its waiters, also when the
/// leading walk is dropped half-way (its waiters then get `Abandoned`).
struct FlightGuard<'a> {
    inner: &'a Inner,
    key: Option<(Name, RecordType)>,
}

impl FlightGuard<'_> {
    fn finish(mut self, result: &Result<Arc<Answer>, ResolveError>) {
        for tx in self.take_waiters() {
            let _ = tx.send(result.clone());
        }
    }

    fn take_waiters(&mut self) -> Waiters {
        let Some(key) = self.key.take() else {
            return Vec::new();
        };
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
            .unwrap_or_default()
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        // Dropping the senders tells the waiters the walk was abandoned.
        drop(self.take_waiters());
    }
}

/// Removes an upstream query from the table of those in flight, also
/// when its sender is dropped (its waiters then send their own).
struct ExchangeGuard<'a> {
    inner: &'a Inner,
    key: Option<ExchangeKey>,
}

impl ExchangeGuard<'_> {
    fn finish(mut self) -> ExchangeWaiters {
        self.take_waiters()
    }

    fn take_waiters(&mut self) -> ExchangeWaiters {
        let Some(key) = self.key.take() else {
            return Vec::new();
        };
        let mut table = self
            .inner
            .exchanges
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let name_key = (key.server, key.name.clone());
        if table.by_name.get(&name_key) == Some(&key) {
            table.by_name.remove(&name_key);
        }
        table.flights.remove(&key).unwrap_or_default()
    }
}

impl Drop for ExchangeGuard<'_> {
    fn drop(&mut self) {
        drop(self.take_waiters());
    }
}

/// The root cut from a priming reply: an authoritative NS set at the root
/// and addresses of those names from the additional section (RFC 8109 §3).
fn priming_cut(message: &anchorage_wire::proto::op::Message) -> Option<(Cut, u32)> {
    if !message.metadata.authoritative {
        return None;
    }
    let mut ttl = u32::MAX;
    let mut servers: Vec<NsServer> = message
        .answers
        .iter()
        .filter(|r| r.name.is_root())
        .filter_map(|r| match &r.data {
            RData::NS(ns) => {
                ttl = ttl.min(r.ttl);
                Some(NsServer {
                    name: ns.0.to_lowercase(),
                    addrs: Vec::new(),
                })
            }
            _ => None,
        })
        .collect();
    if servers.is_empty() {
        return None;
    }
    for r in &message.additionals {
        let addr = match &r.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            _ => continue,
        };
        if let Some(s) = servers.iter_mut().find(|s| s.name == r.name) {
            s.addrs.push(addr);
        }
    }
    Some((
        Cut {
            zone: Name::root(),
            servers,
        },
        ttl,
    ))
}
