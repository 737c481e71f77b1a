//! The RRset store seen from the walk: scripted servers on a fake clock,
//! each query logged, so a test asserts what went upstream and what was
//! answered from the RRsets earlier replies taught.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anchorage_cache::{CacheLimits, Rank};
use anchorage_iterator::config::{Config, Limits, QnameMinimisation};
use anchorage_iterator::delegation::DelegationCache;
use anchorage_iterator::infra::InfraCache;
use anchorage_iterator::rrsets::RrsetStore;
use anchorage_iterator::walk::{Context, WalkSettings};
use anchorage_iterator::{
    Action, Answer, Exchange, Outgoing, Question, ResolveError, RootHints, Walk,
};
use anchorage_wire::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use anchorage_wire::proto::rr::{Name, RData, RecordType};
use anchorage_wire::text::parse_records;

/// Steps after which a scenario is a bug, not a slow walk.
const MAX_STEPS: usize = 1_000;
const PORT: u16 = 53;

type Script = Box<dyn Fn(&Question) -> Option<Message>>;

struct World {
    servers: HashMap<SocketAddr, Script>,
    delegations: DelegationCache,
    infra: InfraCache,
    rrsets: RrsetStore,
    settings: WalkSettings,
    now: Instant,
    log: Vec<Outgoing>,
}

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], PORT))
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn reply(q: &Question, aa: bool, an: &str, ns: &str, ad: &str) -> Message {
    let mut m = Message::new(0, MessageType::Response, OpCode::Query);
    m.add_query(Query::query(q.name.clone(), q.qtype));
    m.metadata.response_code = ResponseCode::NoError;
    m.metadata.authoritative = aa;
    m.answers = parse_records(an).unwrap();
    m.authorities = parse_records(ns).unwrap();
    m.additionals = parse_records(ad).unwrap();
    m
}

impl World {
    /// Root on .1 delegates `example.` to ns.example (.2), `other.` to
    /// ns.other (.3), and `third.` to ns.other without glue.
    fn new() -> Self {
        let hints = RootHints::parse(". 86400 IN NS root.\nroot. 86400 IN A 127.0.0.1\n").unwrap();
        let config = Config {
            hints: hints.clone(),
            allow_loopback_upstreams: true,
            upstream_port: PORT,
            qname_minimisation: QnameMinimisation::Off,
            limits: Limits {
                explore_one_in: u32::MAX,
                ..Limits::default()
            },
            ..Config::default()
        };
        let now = Instant::now();
        let mut w = Self {
            servers: HashMap::new(),
            delegations: DelegationCache::new(&hints, 1000),
            infra: InfraCache::new(config.limits, 1000, 1),
            rrsets: RrsetStore::new(CacheLimits::default(), now),
            settings: WalkSettings::from(&config),
            now,
            log: Vec::new(),
        };
        w.serve(1, |q| {
            let labels = q.name.num_labels();
            let tld = q.name.trim_to(1.min(usize::from(labels)));
            let referral = match tld.to_ascii().as_str() {
                "example." => (
                    "example. 3600 IN NS ns.example.\n",
                    "ns.example. 3600 IN A 127.0.0.2\n",
                ),
                "other." => (
                    "other. 3600 IN NS ns.other.\n",
                    "ns.other. 3600 IN A 127.0.0.3\n",
                ),
                "third." => ("third. 3600 IN NS ns.other.\n", ""),
                _ => return None,
            };
            Some(reply(q, false, "", referral.0, referral.1))
        });
        w.serve(3, |q| {
            let an = match (q.name.to_ascii().as_str(), q.qtype) {
                ("www.other.", RecordType::A) => "www.other. 300 IN A 192.0.2.1\n",
                ("ns.other.", RecordType::A) => "ns.other. 3600 IN A 127.0.0.3\n",
                ("www.third.", RecordType::A) => "www.third. 300 IN A 192.0.2.3\n",
                _ => "",
            };
            Some(reply(q, true, an, "", ""))
        });
        w
    }

    fn serve(&mut self, last: u8, script: impl Fn(&Question) -> Option<Message> + 'static) {
        self.servers.insert(addr(last), Box::new(script));
    }

    fn resolve(&mut self, text: &str, qtype: RecordType) -> Result<Answer, ResolveError> {
        let q = Question::new(name(text), qtype);
        let mut walk = Walk::new(q, self.settings, self.now);
        let mut ctx = Context {
            delegations: &mut self.delegations,
            servers: &mut self.infra,
            rrsets: Some(&self.rrsets),
        };
        let mut action = walk.start(self.now, &mut ctx);
        for _ in 0..MAX_STEPS {
            match action {
                Action::Send(out) => {
                    let exchange =
                        match self.servers.get(&out.server).and_then(|s| s(&out.question)) {
                            Some(message) => Exchange::Reply {
                                message,
                                rtt: Duration::from_millis(2),
                            },
                            None => Exchange::Timeout,
                        };
                    self.log.push(out);
                    action = walk.on_exchange(exchange, self.now, &mut ctx);
                }
                Action::Done(answer) => return Ok(answer),
                Action::Fail(error) => return Err(error),
            }
        }
        panic!("walk did not end in {MAX_STEPS} steps");
    }

    /// Names and types asked upstream since the last call.
    fn asked(&mut self) -> Vec<(String, RecordType)> {
        self.log
            .drain(..)
            .map(|o| (o.question.name.to_ascii(), o.question.qtype))
            .collect()
    }
}

fn addresses(answer: &Answer) -> Vec<String> {
    answer
        .records_of(RecordType::A)
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

/// `alias.example.` is a CNAME to `www.other.`.
fn serve_alias(w: &mut World, extra_answer: &'static str, ns: &'static str, ad: &'static str) {
    w.serve(2, move |q| {
        let an = match (q.name.to_ascii().as_str(), q.qtype) {
            ("alias.example.", _) => {
                format!("alias.example. 3600 IN CNAME www.other.\n{extra_answer}")
            }
            _ => String::new(),
        };
        Some(reply(q, true, &an, ns, ad))
    });
}

fn asked_for(asked: &[(String, RecordType)], text: &str) -> usize {
    asked.iter().filter(|(n, _)| n == text).count()
}

#[test]
fn a_cname_into_another_zone_reuses_the_target_already_resolved() {
    let mut w = World::new();
    serve_alias(&mut w, "", "", "");
    let www = w.resolve("www.other.", RecordType::A).unwrap();
    assert_eq!(addresses(&www), ["192.0.2.1"]);
    assert_eq!(asked_for(&w.asked(), "www.other."), 2, "root, then other.");
    let answer = w.resolve("alias.example.", RecordType::A).unwrap();
    assert_eq!(addresses(&answer), ["192.0.2.1"]);
    assert_eq!(answer.records_of(RecordType::CNAME).count(), 1);
    assert_eq!(answer.zone, name("other."), "the zone of the final RRset");
    let asked = w.asked();
    assert_eq!(asked_for(&asked, "www.other."), 0, "{asked:?}");
    assert_eq!(
        asked_for(&asked, "alias.example."),
        2,
        "root, then example."
    );
    // The CNAME itself is now cached too: nothing goes upstream.
    let again = w.resolve("alias.example.", RecordType::A).unwrap();
    assert_eq!(addresses(&again), ["192.0.2.1"]);
    assert_eq!(again.records_of(RecordType::CNAME).count(), 1);
    assert_eq!(w.asked(), []);
    assert_eq!(again.queries, 0);
}

#[test]
fn cached_rrsets_expire_by_their_ttl() {
    let mut w = World::new();
    serve_alias(&mut w, "", "", "");
    w.resolve("www.other.", RecordType::A).unwrap();
    w.resolve("alias.example.", RecordType::A).unwrap();
    w.asked();
    // 299 s on, the A (TTL 300) and the CNAME (TTL 3600) are fresh.
    w.now += Duration::from_secs(299);
    w.resolve("alias.example.", RecordType::A).unwrap();
    assert_eq!(w.asked(), []);
    // 301 s on, the A has expired: only the target goes upstream.
    w.now += Duration::from_secs(2);
    let answer = w.resolve("alias.example.", RecordType::A).unwrap();
    assert_eq!(addresses(&answer), ["192.0.2.1"]);
    assert_eq!(w.asked(), [("www.other.".to_owned(), RecordType::A)]);
}

#[test]
fn out_of_bailiwick_records_never_reach_the_store() {
    let mut w = World::new();
    // example.'s server tries to speak for other.: an address for the
    // CNAME target, an NS set and glue, all out of its zone.
    serve_alias(
        &mut w,
        "www.other. 86400 IN A 203.0.113.66\n",
        "other. 86400 IN NS ns.evil.\n",
        "www.other. 86400 IN A 203.0.113.66\nns.evil. 86400 IN A 203.0.113.67\n",
    );
    let answer = w.resolve("alias.example.", RecordType::A).unwrap();
    assert_eq!(
        addresses(&answer),
        ["192.0.2.1"],
        "from other.'s own server"
    );
    let stored = w
        .rrsets
        .lookup(&name("www.other."), RecordType::A, w.now)
        .unwrap();
    assert_eq!(stored.rank, Rank::AuthoritativeAnswer);
    assert!(
        matches!(&stored.records[..], [r] if matches!(&r.data, RData::A(a) if a.0.octets() == [192, 0, 2, 1]))
    );
    assert!(
        w.rrsets
            .lookup(&name("other."), RecordType::NS, w.now)
            .is_none_or(|ns| {
                ns.records
                    .iter()
                    .all(|r| !r.data.to_string().contains("evil"))
            })
    );
    assert!(
        w.rrsets
            .lookup(&name("ns.evil."), RecordType::A, w.now)
            .is_none()
    );
}

#[test]
fn authority_data_gives_way_to_an_authoritative_answer_and_not_the_reverse() {
    let mut w = World::new();
    // NODATA replies carry example.'s SOA in the authority section; the
    // serial tells which reply the cached copy came from.
    w.serve(2, |q| {
        let soa = |serial: u32| {
            format!("example. 3600 IN SOA ns.example. host.example. {serial} 7200 900 86400 300\n")
        };
        Some(match (q.name.to_ascii().as_str(), q.qtype) {
            ("example.", RecordType::SOA) => reply(q, true, &soa(2), "", ""),
            ("late.example.", _) => reply(q, true, "", &soa(3), ""),
            _ => reply(q, true, "", &soa(1), ""),
        })
    });
    let serial = |a: &Answer| {
        a.records_of(RecordType::SOA)
            .find_map(|r| match &r.data {
                RData::SOA(s) => Some(s.serial),
                _ => None,
            })
            .unwrap()
    };
    let nodata = w.resolve("early.example.", RecordType::TXT).unwrap();
    assert!(nodata.is_nodata());
    let cached = w
        .rrsets
        .lookup(&name("example."), RecordType::SOA, w.now)
        .unwrap();
    assert_eq!(cached.rank, Rank::Authority);
    w.asked();
    // Authority-section data does not answer a question: it goes upstream
    // and the authoritative answer replaces it.
    let soa = w.resolve("example.", RecordType::SOA).unwrap();
    assert_eq!(serial(&soa), 2);
    assert_eq!(w.asked(), [("example.".to_owned(), RecordType::SOA)]);
    // A later authority section does not replace the answer.
    w.resolve("late.example.", RecordType::TXT).unwrap();
    w.asked();
    let cached = w
        .rrsets
        .lookup(&name("example."), RecordType::SOA, w.now)
        .unwrap();
    assert_eq!(cached.rank, Rank::AuthoritativeAnswer);
    let soa = w.resolve("example.", RecordType::SOA).unwrap();
    assert_eq!(serial(&soa), 2);
    assert_eq!(w.asked(), []);
}

#[test]
fn an_ns_address_taught_by_an_earlier_answer_is_not_asked_again() {
    let mut w = World::new();
    let ns = w.resolve("ns.other.", RecordType::A).unwrap();
    assert_eq!(addresses(&ns), ["127.0.0.3"]);
    w.asked();
    // third. is served by ns.other. without glue.
    let answer = w.resolve("www.third.", RecordType::A).unwrap();
    assert_eq!(addresses(&answer), ["192.0.2.3"]);
    let asked = w.asked();
    assert_eq!(asked_for(&asked, "ns.other."), 0, "{asked:?}");
    assert_eq!(asked_for(&asked, "www.third."), 2, "root, then third.");
}

#[test]
fn glue_alone_does_not_answer_an_ns_address_lookup() {
    let mut w = World::new();
    // The root's referral to other. carried ns.other.'s glue (rank
    // additional): it serves that referral only.
    w.resolve("www.other.", RecordType::A).unwrap();
    let glue = w
        .rrsets
        .lookup(&name("ns.other."), RecordType::A, w.now)
        .unwrap();
    assert_eq!(glue.rank, Rank::Additional);
    w.delegations = DelegationCache::new(
        &RootHints::parse(". 86400 IN NS root.\nroot. 86400 IN A 127.0.0.1\n").unwrap(),
        1000,
    );
    w.asked();
    w.resolve("www.third.", RecordType::A).unwrap();
    let asked = w.asked();
    assert!(asked_for(&asked, "ns.other.") >= 1, "{asked:?}");
}
