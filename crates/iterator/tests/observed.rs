//! Resolution against testbed zones served by this file's own UDP loop,
//! so each test can assert what the authorities were asked, and give a
//! server a quirk the testbed does not have (FORMERR to EDNS, silence for
//! one zone or for priming).
//!
//! Loopback block 127.42.0.0/16, each test its own port in 15440-15459;
//! the RRset-store tests use 127.45.0.0/16, ports 15500-15519.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anchorage_iterator::config::{Config, Limits, QnameMinimisation};
use anchorage_iterator::recursor::{Clock, TokioClock};
use anchorage_iterator::{Answer, Question, Recursor, ResolveError, RootHints, Transport};
use anchorage_testbed::authority::Authority;
use anchorage_testbed::hierarchy::DELEGATION_TTL;
use anchorage_testbed::manifest::Category;
use anchorage_testbed::output::root_hints_text;
use anchorage_testbed::server::{Behaviour, Catalog, ServerSpec, SharedZone, handle};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Validity, build};
use anchorage_wire::EdeCode;
use anchorage_wire::proto::op::{Message, MessageType, OpCode, ResponseCode};
use anchorage_wire::proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Second octet of every server address here.
const NET: u8 = 42;
/// Bound on any one question.
const QUESTION_LIMIT: Duration = Duration::from_secs(20);

/// A server misbehaviour, set and cleared while serving.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Quirk {
    /// FORMERR without OPT to every query that carries EDNS (a server
    /// from before RFC 6891).
    FormerrToEdns,
    /// No reply to names at or below this zone (lower-case text).
    DropUnder(String),
    /// No reply to the priming query (`. NS`).
    DropPriming,
}

/// One query an authority received.
#[derive(Debug, Clone)]
struct Seen {
    server: Ipv4Addr,
    /// Lower-case text, trailing dot.
    name: String,
    qtype: RecordType,
    edns: bool,
}

/// The hierarchy's zones served on 127.42.x.y, with a log of queries.
struct Authorities {
    port: u16,
    plan: AddressPlan,
    /// Zone apex (lower-case text) to the address serving it.
    servers: HashMap<String, Ipv4Addr>,
    manifest: anchorage_testbed::manifest::Manifest,
    log: Arc<Mutex<Vec<Seen>>>,
    quirks: Arc<Mutex<HashMap<Ipv4Addr, Quirk>>>,
    /// Every reply is sent this many milliseconds late.
    delay_ms: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Authorities {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Authorities {
    async fn start(port: u16, zones: usize) -> Self {
        Self::start_in(NET, port, zones).await
    }

    /// As [`Authorities::start`], on 127.`net`/16.
    async fn start_in(net: u8, port: u16, zones: usize) -> Self {
        let plan = AddressPlan { net, port };
        let hierarchy = build(HierarchyConfig {
            seed: 11,
            zones,
            addresses: plan,
            validity: Validity::around(1_800_000_000, 3600, 86_400),
            defects: false,
        })
        .expect("testbed builds");
        let mut catalogs: HashMap<Ipv4Addr, Catalog> = HashMap::new();
        let mut servers = HashMap::new();
        for served in hierarchy.zones {
            servers.insert(
                served.zone.origin().to_lowercase().to_ascii(),
                served.server,
            );
            let shared: SharedZone = Arc::new(RwLock::new(Arc::new(Authority::new(served.zone))));
            catalogs.entry(served.server).or_default().insert(shared);
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let quirks = Arc::new(Mutex::new(HashMap::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for (addr, catalog) in catalogs {
            let spec = ServerSpec {
                addr: SocketAddr::from((addr, port)),
                catalog: Arc::new(catalog),
                behaviour: Behaviour::Normal,
                log: None,
            };
            let socket = UdpSocket::bind(spec.addr).await.expect("bind on loopback");
            tasks.push(tokio::spawn(serve(
                Arc::new(socket),
                spec,
                log.clone(),
                quirks.clone(),
                delay_ms.clone(),
            )));
        }
        Self {
            port,
            plan,
            servers,
            manifest: hierarchy.manifest,
            log,
            quirks,
            delay_ms,
            tasks,
        }
    }

    fn config(&self, mode: QnameMinimisation) -> Config {
        Config {
            qname_minimisation: mode,
            limits: Limits {
                deadline: Duration::from_secs(8),
                initial_timeout: Duration::from_millis(300),
                max_timeout: Duration::from_millis(500),
                ..Limits::default()
            },
            ..Config::loopback(
                RootHints::parse(&root_hints_text(self.plan.root())).expect("hints"),
                self.port,
            )
        }
    }

    async fn recursor(&self, mode: QnameMinimisation, clock: Arc<dyn Clock>) -> Recursor {
        let config = self.config(mode);
        let transport = Transport::loopback_only(config.edns_payload, config.max_outstanding);
        Recursor::start(config, transport, clock, 5)
            .await
            .expect("recursor on testbed hints")
    }

    /// The first signed zone's apex, its TLD and the address serving it.
    fn signed_zone(&self) -> (String, String, Ipv4Addr) {
        let www = self
            .manifest
            .of("secure")
            .find(|e| e.name.starts_with("www.") && e.qtype == "A")
            .expect("a secure www name");
        let zone = www.name.trim_start_matches("www.").to_string();
        let tld = zone
            .split_once('.')
            .expect("zone under a TLD")
            .1
            .to_string();
        let server = self.servers[&Name::from_ascii(&zone).unwrap().to_ascii()];
        (zone, tld, server)
    }

    fn tld_server(&self, tld: &str) -> Ipv4Addr {
        self.servers[&Name::from_ascii(tld).unwrap().to_ascii()]
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    fn seen_by(&self, server: Ipv4Addr) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.server == server)
            .collect()
    }

    fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }

    fn set_quirk(&self, server: Ipv4Addr, quirk: Option<Quirk>) {
        let mut quirks = self.quirks.lock().unwrap();
        match quirk {
            Some(q) => quirks.insert(server, q),
            None => quirks.remove(&server),
        };
    }
}

async fn serve(
    socket: Arc<UdpSocket>,
    spec: ServerSpec,
    log: Arc<Mutex<Vec<Seen>>>,
    quirks: Arc<Mutex<HashMap<Ipv4Addr, Quirk>>>,
    delay_ms: Arc<AtomicU64>,
) {
    let SocketAddr::V4(me) = spec.addr else {
        return;
    };
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::new();
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let bytes = &buf[..len];
        let Ok(query) = Message::from_vec(bytes) else {
            continue;
        };
        let Some(q) = query.queries.first() else {
            continue;
        };
        let seen = Seen {
            server: *me.ip(),
            name: q.name().to_lowercase().to_ascii(),
            qtype: q.query_type(),
            edns: query.edns.is_some(),
        };
        log.lock().unwrap().push(seen.clone());
        let quirk = quirks.lock().unwrap().get(me.ip()).cloned();
        match quirk {
            Some(Quirk::DropUnder(zone))
                if seen.name == zone || seen.name.ends_with(&format!(".{zone}")) =>
            {
                continue;
            }
            Some(Quirk::DropPriming) if seen.name == "." && seen.qtype == RecordType::NS => {
                continue;
            }
            Some(Quirk::FormerrToEdns) if seen.edns => {
                let mut reply =
                    Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
                reply.add_query(q.clone());
                reply.metadata.response_code = ResponseCode::FormErr;
                if let Ok(wire) = reply.to_vec() {
                    let _ = socket.send_to(&wire, peer).await;
                }
                continue;
            }
            _ => {}
        }
        if handle(&spec, bytes, true, &mut out) {
            let delay = delay_ms.load(Ordering::Relaxed);
            if delay == 0 {
                let _ = socket.send_to(&out, peer).await;
            } else {
                let (socket, reply) = (socket.clone(), out.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let _ = socket.send_to(&reply, peer).await;
                });
            }
        }
    }
}

async fn ask(r: &Recursor, name: &str, qtype: RecordType) -> Result<Arc<Answer>, ResolveError> {
    let question = Question::new(Name::from_ascii(name).unwrap(), qtype);
    tokio::time::timeout(QUESTION_LIMIT, r.resolve(question))
        .await
        .expect("within the question limit")
}

fn names(seen: &[Seen]) -> Vec<(String, RecordType)> {
    seen.iter().map(|s| (s.name.clone(), s.qtype)).collect()
}

/// Tokio's clock moved forward on demand: TTLs expire without waiting.
#[derive(Default)]
struct ShiftedClock {
    ahead_ms: AtomicU64,
}

impl ShiftedClock {
    fn advance(&self, by: Duration) {
        self.ahead_ms
            .fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Instant {
        TokioClock.now() + Duration::from_millis(self.ahead_ms.load(Ordering::Relaxed))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_of_one_zone_asked_together_go_upstream_once_each() {
    let auth = Authorities::start(15440, 6).await;
    let (zone, tld, _) = auth.signed_zone();
    let r = auth
        .recursor(QnameMinimisation::Relaxed, Arc::new(TokioClock))
        .await;
    // Slow servers: every question's walk is under way before any reply.
    auth.delay_ms.store(50, Ordering::Relaxed);
    // Every name of the zone over UDP (big TXT needs TCP, not served here).
    let questions: Vec<(String, RecordType)> = auth
        .manifest
        .entries
        .iter()
        .filter(|e| e.name.ends_with(&format!(".{zone}")) || e.name == zone)
        .filter(|e| !e.name.starts_with("big.") && e.category != Category::Cname)
        .map(|e| (e.name.clone(), e.qtype.parse().unwrap()))
        .collect();
    assert!(questions.len() >= 6, "{questions:?}");
    let tasks: Vec<_> = questions
        .iter()
        .cloned()
        .map(|(name, qtype)| {
            let r = r.clone();
            tokio::spawn(async move { ask(&r, &name, qtype).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("answered");
    }
    let seen = names(&auth.seen());
    let mut counts: HashMap<&(String, RecordType), usize> = HashMap::new();
    for key in &seen {
        *counts.entry(key).or_default() += 1;
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "asked more than once: {repeated:?}");
    // The apex is asked of the TLD once, whatever the types wanted there:
    // the referral serves them all.
    let apex_at_tld = auth
        .seen_by(auth.tld_server(&tld))
        .iter()
        .filter(|s| s.name == Name::from_ascii(&zone).unwrap().to_ascii())
        .count();
    assert_eq!(apex_at_tld, 1, "{:?}", auth.seen_by(auth.tld_server(&tld)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qname_minimisation_off_shows_every_server_the_full_name() {
    let auth = Authorities::start(15441, 4).await;
    let (zone, tld, _) = auth.signed_zone();
    let www = format!("www.{zone}");
    let full = Name::from_ascii(&www).unwrap().to_ascii();
    let off = auth
        .recursor(QnameMinimisation::Off, Arc::new(TokioClock))
        .await;
    ask(&off, &www, RecordType::A).await.expect("answered");
    let seen = auth.seen();
    let root = auth.plan.root();
    let asked_root: Vec<_> = seen.iter().filter(|s| s.server == root).collect();
    assert!(
        asked_root
            .iter()
            .any(|s| s.name == full && s.qtype == RecordType::A),
        "{asked_root:?}"
    );
    let at_tld = auth.seen_by(auth.tld_server(&tld));
    assert_eq!(names(&at_tld), [(full.clone(), RecordType::A)]);

    // The default, for contrast: the root sees only the TLD.
    auth.clear_log();
    let relaxed = auth
        .recursor(QnameMinimisation::Relaxed, Arc::new(TokioClock))
        .await;
    ask(&relaxed, &www, RecordType::A).await.expect("answered");
    let tld_name = Name::from_ascii(&tld).unwrap().to_ascii();
    let at_root: Vec<_> = auth
        .seen_by(root)
        .into_iter()
        .filter(|s| s.name != ".")
        .collect();
    assert_eq!(names(&at_root), [(tld_name, RecordType::A)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qname_minimisation_strict_stops_at_a_nonexistent_ancestor() {
    let auth = Authorities::start(15442, 4).await;
    let (zone, tld, server) = auth.signed_zone();
    let deep = format!("deep.nonexistent.{zone}");
    let full = Name::from_ascii(&deep).unwrap().to_ascii();
    let ancestor = Name::from_ascii(format!("nonexistent.{zone}"))
        .unwrap()
        .to_ascii();
    let strict = auth
        .recursor(QnameMinimisation::Strict, Arc::new(TokioClock))
        .await;
    let answer = ask(&strict, &deep, RecordType::TXT)
        .await
        .expect("answered");
    assert_eq!(answer.rcode, ResponseCode::NXDomain);
    // One label more than each zone's apex, nothing more (RFC 8020).
    assert!(
        auth.seen().iter().all(|s| s.name != full),
        "{:?}",
        auth.seen()
    );
    assert_eq!(
        names(&auth.seen_by(server)),
        [(ancestor.clone(), RecordType::A)]
    );
    let tld_saw = names(&auth.seen_by(auth.tld_server(&tld)));
    assert_eq!(
        tld_saw,
        [(Name::from_ascii(&zone).unwrap().to_ascii(), RecordType::A)]
    );

    // Relaxed asks the full name once the ancestor is NXDOMAIN (RFC 9156
    // §2.3, for servers that answer NXDOMAIN to empty non-terminals).
    auth.clear_log();
    let relaxed = auth
        .recursor(QnameMinimisation::Relaxed, Arc::new(TokioClock))
        .await;
    let answer = ask(&relaxed, &deep, RecordType::TXT)
        .await
        .expect("answered");
    assert_eq!(answer.rcode, ResponseCode::NXDomain);
    assert_eq!(
        names(&auth.seen_by(server)),
        [(ancestor, RecordType::A), (full, RecordType::TXT)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answering_formerr_to_edns_is_asked_again_without_edns() {
    let auth = Authorities::start(15443, 4).await;
    let (zone, _, server) = auth.signed_zone();
    auth.set_quirk(server, Some(Quirk::FormerrToEdns));
    let r = auth
        .recursor(QnameMinimisation::Relaxed, Arc::new(TokioClock))
        .await;
    let www = format!("www.{zone}");
    let answer = ask(&r, &www, RecordType::A).await.expect("answered");
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let full = Name::from_ascii(&www).unwrap().to_ascii();
    let asked: Vec<_> = auth
        .seen_by(server)
        .iter()
        .map(|s| (s.name.clone(), s.edns))
        .collect();
    assert_eq!(asked, [(full.clone(), true), (full, false)]);
    // Remembered: the next question goes out without EDNS at once.
    auth.clear_log();
    ask(&r, &www, RecordType::AAAA).await.expect("answered");
    assert!(
        auth.seen_by(server).iter().all(|s| !s.edns),
        "{:?}",
        auth.seen_by(server)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_whose_servers_never_answer_is_backed_off_not_hammered() {
    let auth = Authorities::start(15444, 12).await;
    let (zone, _, server) = auth.signed_zone();
    let r = auth
        .recursor(QnameMinimisation::Relaxed, Arc::new(TokioClock))
        .await;
    // The server is alive (another of its zones answers)...
    let other = auth
        .servers
        .iter()
        .find(|(z, a)| **a == server && z.as_str() != Name::from_ascii(&zone).unwrap().to_ascii())
        .map(|(z, _)| z.clone())
        .expect("the server hosts another zone");
    ask(&r, &format!("www.{other}"), RecordType::A)
        .await
        .expect("answered");
    // ...but drops every query for this zone.
    let lower = Name::from_ascii(&zone).unwrap().to_ascii();
    auth.set_quirk(server, Some(Quirk::DropUnder(lower.clone())));
    let in_zone = || {
        auth.seen_by(server)
            .iter()
            .filter(|s| s.name.ends_with(&lower))
            .count()
    };
    let dead = ask(&r, &format!("www.{zone}"), RecordType::A)
        .await
        .unwrap_err();
    assert_eq!(dead.ede(), EdeCode::NoReachableAuthority, "{dead}");
    let tried = in_zone();
    // Each sibling question shows the server answering (so it is not
    // held down as a server): what spares it below is the zone backoff.
    let sibling = |qtype| {
        let (r, name) = (r.clone(), format!("www.{other}"));
        async move { ask(&r, &name, qtype).await.expect("sibling answered") }
    };
    let burst = |tag: &'static str| {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (r, name) = (r.clone(), format!("{tag}{i}.{zone}"));
                tokio::spawn(async move { ask(&r, &name, RecordType::A).await })
            })
            .collect();
        async move {
            for task in tasks {
                assert!(task.await.unwrap().is_err());
            }
        }
    };
    sibling(RecordType::AAAA).await;
    let started = tokio::time::Instant::now();
    burst("first").await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "failed at once"
    );
    assert_eq!(in_zone(), tried, "no query while backed off");

    // After the first backoff (1 s) one question probes again, then the
    // zone is backed off for longer.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sibling(RecordType::TXT).await;
    ask(&r, &format!("www.{zone}"), RecordType::A)
        .await
        .unwrap_err();
    let probed = in_zone();
    assert!(probed > tried, "probed after the backoff");
    assert!(probed - tried <= 3, "{} attempts", probed - tried);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sibling(RecordType::A).await;
    burst("second").await;
    assert_eq!(in_zone(), probed, "backoff grew to 2 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_priming_is_retried_and_an_expired_root_ns_set_is_primed_again() {
    let auth = Authorities::start(15445, 4).await;
    let (zone, _, _) = auth.signed_zone();
    let root = auth.plan.root();
    let primings = || {
        auth.seen_by(root)
            .iter()
            .filter(|s| s.name == "." && s.qtype == RecordType::NS)
            .count()
    };
    auth.set_quirk(root, Some(Quirk::DropPriming));
    let clock = Arc::new(ShiftedClock::default());
    let r = auth
        .recursor(QnameMinimisation::Relaxed, clock.clone())
        .await;
    // Priming fails; the hints serve and the question is answered.
    ask(&r, &format!("www.{zone}"), RecordType::A)
        .await
        .expect("answered from the hints");
    assert_eq!(primings(), 1);
    assert!(r.cached_cut(&Name::root()).is_none());

    auth.set_quirk(root, None);
    ask(&r, &format!("www.{zone}"), RecordType::AAAA)
        .await
        .expect("answered");
    assert_eq!(primings(), 1, "held down after the failure");
    clock.advance(Duration::from_secs(2));
    ask(&r, &format!("www.{zone}"), RecordType::MX)
        .await
        .expect("answered");
    assert_eq!(primings(), 2, "retried after the hold-down");
    assert!(r.cached_cut(&Name::root()).is_some());

    // RFC 8109 §3: primed again when the root NS set expires.
    clock.advance(Duration::from_secs(u64::from(DELEGATION_TTL) + 1));
    assert!(r.cached_cut(&Name::root()).is_none());
    ask(&r, &format!("www.{zone}"), RecordType::A)
        .await
        .expect("answered");
    assert_eq!(primings(), 3);
    assert!(r.cached_cut(&Name::root()).is_some());
}

/// The CNAME target of `name`'s answer.
fn cname_target(answer: &Answer) -> String {
    answer
        .records_of(RecordType::CNAME)
        .find_map(|r| match &r.data {
            anchorage_wire::proto::rr::RData::CNAME(c) => Some(c.0.to_lowercase().to_ascii()),
            _ => None,
        })
        .expect("a CNAME")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cname_target_another_question_resolved_is_not_asked_again() {
    let auth = Authorities::start_in(45, 15500, 6).await;
    let alias = auth
        .manifest
        .of("cname")
        .find(|e| e.name.starts_with("alias."))
        .expect("a cross-zone alias")
        .name
        .clone();
    let wild = auth
        .manifest
        .of("cname")
        .find(|e| e.name.contains(".wcname."))
        .expect("a wildcard alias")
        .name
        .clone();
    // Learn the target with a recursor of its own.
    let scout = auth
        .recursor(QnameMinimisation::Relaxed, Arc::new(TokioClock))
        .await;
    let target = cname_target(&ask(&scout, &alias, RecordType::A).await.expect("answered"));
    assert!(
        !alias.ends_with(target.trim_start_matches("www.")),
        "{target} in another zone"
    );

    let r = auth
        .recursor(QnameMinimisation::Relaxed, Arc::new(TokioClock))
        .await;
    ask(&r, &target, RecordType::A)
        .await
        .expect("target answered");
    auth.clear_log();
    let answer = ask(&r, &alias, RecordType::A)
        .await
        .expect("alias answered");
    assert_eq!(cname_target(&answer), target);
    assert!(answer.records_of(RecordType::A).next().is_some());
    assert!(
        answer.records_of(RecordType::RRSIG).count() >= 2,
        "the RRSIGs of the CNAME and of the cached A travel with them"
    );
    let seen = names(&auth.seen());
    assert!(!seen.iter().any(|(n, _)| *n == target), "{seen:?}");
    assert!(seen.iter().any(|(n, _)| *n == alias), "{seen:?}");

    // A CNAME expanded from a wildcard needs its reply's proofs: it is
    // asked again; its target still comes from the store.
    ask(&r, &wild, RecordType::A)
        .await
        .expect("wildcard alias answered");
    auth.clear_log();
    let answer = ask(&r, &wild, RecordType::A).await.expect("answered again");
    assert!(!answer.link_proofs.is_empty() || !answer.authority.is_empty());
    let seen = names(&auth.seen());
    assert!(seen.iter().any(|(n, _)| *n == wild), "{seen:?}");
    assert!(!seen.iter().any(|(n, _)| *n == target), "{seen:?}");
}
