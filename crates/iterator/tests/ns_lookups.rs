//! Addresses of NS names without glue, sans-IO: A and AAAA asked
//! together (AAAA only with IPv6 upstreams on), the walk going on with the
//! first usable address, the other lookup landing later, and every
//! lookup bounded by the question's caps.

mod scripted;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anchorage_iterator::config::{Limits, QnameMinimisation};
use anchorage_iterator::delegation::DelegationStore;
use anchorage_iterator::walk::MAX_ATTEMPTS_PER_SERVER;
use anchorage_iterator::{Question, ResolveError};
use anchorage_wire::proto::rr::RecordType;
use scripted::{DEFAULT_DELAY, Event, PORT, World, addr, name, noerror, serve_nxns_attack};

/// The server of `example.` on IPv6 loopback.
fn v6_server() -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), PORT)
}

/// Root on .1 refers `other.` to ns1.other (.3, with glue) and
/// `example.` to ns.other without glue; .3 gives ns.other the A `a` and
/// the AAAA `aaaa` (none where empty); example.'s server answers on .4
/// and on ::1.
fn world(a: &'static str, aaaa: &'static str, ipv6: bool, limits: Limits) -> World {
    let mut w = World::new(limits).with_store();
    w.settings.ipv6 = ipv6;
    w.serve(1, |q| {
        let (ns, glue) = if q.name.to_ascii().ends_with("other.") {
            (
                "other. 3600 IN NS ns1.other.\n",
                "ns1.other. 3600 IN A 127.0.0.3\n",
            )
        } else {
            ("example. 3600 IN NS ns.other.\n", "")
        };
        Some(noerror(q, false, "", ns, glue))
    });
    w.serve(3, move |q| {
        let an = match (q.name.to_ascii().as_str(), q.qtype) {
            ("ns.other.", RecordType::A) if !a.is_empty() => format!("ns.other. 3600 IN A {a}\n"),
            ("ns.other.", RecordType::AAAA) if !aaaa.is_empty() => {
                format!("ns.other. 3600 IN AAAA {aaaa}\n")
            }
            _ => String::new(),
        };
        let soa = if an.is_empty() {
            "other. 300 IN SOA ns1.other. h.other. 1 2 3 4 300\n"
        } else {
            ""
        };
        Some(noerror(q, true, &an, soa, ""))
    });
    let example = |q: &Question| {
        Some(noerror(
            q,
            true,
            "www.example. 300 IN A 192.0.2.1\n",
            "",
            "",
        ))
    };
    w.serve(4, example);
    w.serve_at(v6_server(), example);
    w
}

fn sent(name_text: &str, qtype: RecordType) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Sent(n, t, _) if n == name_text && *t == qtype)
}

fn fed(name_text: &str, qtype: RecordType) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Fed(n, t) if n == name_text && *t == qtype)
}

fn position(w: &World, what: impl Fn(&Event) -> bool) -> usize {
    w.events
        .iter()
        .position(what)
        .unwrap_or_else(|| panic!("not in {:?}", w.events))
}

/// The types asked of `server` for `text`.
fn types_asked(w: &World, server: SocketAddr, text: &str) -> Vec<RecordType> {
    w.log
        .iter()
        .filter(|o| o.server == server && o.question.name.to_ascii() == text)
        .map(|o| o.question.qtype)
        .collect()
}

#[test]
fn an_ns_name_without_glue_is_asked_for_a_and_aaaa_together() {
    let mut w = world("127.0.0.4", "::1", true, Limits::default());
    let answer = w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let a = position(&w, sent("ns.other.", RecordType::A));
    let aaaa = position(&w, sent("ns.other.", RecordType::AAAA));
    let first_reply = w
        .events
        .iter()
        .position(|e| matches!(e, Event::Fed(n, _) if n == "ns.other."))
        .unwrap();
    assert!(a < first_reply && aaaa < first_reply, "{:?}", w.events);
    // Minimisation off: the root is asked for the A and the AAAA.
    assert_eq!(answer.queries, 6, "root thrice, A, AAAA, example.");
}

#[test]
fn the_walk_goes_on_with_the_first_address_and_the_other_lands_after_the_answer() {
    let mut w = world("127.0.0.4", "::1", true, Limits::default());
    // The AAAA takes 100 times as long as anything else.
    w.delay = Box::new(|o| {
        if o.question.qtype == RecordType::AAAA {
            DEFAULT_DELAY * 100
        } else {
            DEFAULT_DELAY
        }
    });
    let answer = w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let asked_example = position(&w, sent("www.example.", RecordType::A));
    let outcome = position(&w, |e| *e == Event::Outcome);
    let aaaa_landed = position(&w, fed("ns.other.", RecordType::AAAA));
    assert!(asked_example < aaaa_landed, "{:?}", w.events);
    assert!(outcome < aaaa_landed, "{:?}", w.events);
    // The late AAAA still reached both stores.
    let ns = name("ns.other.");
    let known = w.delegations.addresses(&ns, w.now).unwrap();
    assert!(known.contains(&"::1".parse().unwrap()), "{known:?}");
    assert!(known.contains(&"127.0.0.4".parse().unwrap()), "{known:?}");
    assert!(w.store().lookup(&ns, RecordType::AAAA, w.now).is_some());
    // So the next question asks no NS name at all.
    w.log.clear();
    w.resolve("mail.example.", RecordType::A).unwrap();
    assert!(
        types_asked(&w, addr(3), "ns.other.").is_empty(),
        "{:?}",
        w.log
    );
}

#[test]
fn a_v6_only_ns_name_is_used_when_ipv6_is_on() {
    let mut w = world("", "::1", true, Limits::default());
    let answer = w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let to_example: Vec<SocketAddr> = w
        .log
        .iter()
        .filter(|o| o.question.name.to_ascii() == "www.example.")
        .map(|o| o.server)
        .collect();
    assert_eq!(to_example, [addr(1), v6_server()]);
}

#[test]
fn with_ipv6_off_no_aaaa_is_asked_and_a_v6_only_ns_name_is_of_no_use() {
    let mut w = world("", "::1", false, Limits::default());
    let error = w.resolve("www.example.", RecordType::A).unwrap_err();
    assert!(
        matches!(error, ResolveError::NoServerAddress { .. }),
        "{error}"
    );
    assert_eq!(types_asked(&w, addr(3), "ns.other."), [RecordType::A]);
    assert!(w.log.iter().all(|o| o.server != v6_server()));

    let mut w = world("127.0.0.4", "::1", false, Limits::default());
    w.resolve("www.example.", RecordType::A).unwrap();
    assert!(
        w.log.iter().all(|o| o.question.qtype != RecordType::AAAA),
        "{:?}",
        w.log
    );
}

#[test]
fn the_a_and_aaaa_lookups_ask_the_zones_above_the_name_once() {
    let mut w = world("127.0.0.4", "::1", true, Limits::default())
        .with_minimisation(QnameMinimisation::Relaxed);
    w.resolve("www.example.", RecordType::A).unwrap();
    let about_other: Vec<_> = w
        .log
        .iter()
        .filter(|o| o.server == addr(1) && o.question.name.to_ascii() == "other.")
        .collect();
    assert_eq!(about_other.len(), 1, "{:?}", w.log);
    assert_eq!(
        types_asked(&w, addr(3), "ns.other."),
        [RecordType::A, RecordType::AAAA]
    );
}

#[test]
fn both_lookups_count_against_the_query_cap() {
    let limits = Limits {
        max_queries: 3,
        ..Limits::default()
    };
    let mut w = world("127.0.0.4", "::1", true, limits);
    // The root knows other.: the lookups go straight to its server.
    w.resolve("ns1.other.", RecordType::TXT).unwrap();
    w.log.clear();
    let error = w.resolve("www.example.", RecordType::A).unwrap_err();
    assert_eq!(error, ResolveError::QueryCap { limit: 3 });
    assert_eq!(w.log.len(), 3, "root, A, AAAA: {:?}", w.log);
}

#[test]
fn an_nxns_referral_with_ipv6_on_resolves_at_most_the_capped_number_of_ns_names() {
    let mut w = World::new(Limits::default()).with_ipv6();
    serve_nxns_attack(&mut w);
    let error = w.resolve("www.attack.", RecordType::A).unwrap_err();
    assert!(
        matches!(error, ResolveError::NoServerAddress { fetched: 4, .. }),
        "{error}"
    );
    let to_victim: Vec<RecordType> = w
        .log
        .iter()
        .filter(|o| o.server == addr(9))
        .map(|o| o.question.qtype)
        .collect();
    assert_eq!(to_victim.len(), 8, "four names, A and AAAA: {to_victim:?}");
    let aaaa = to_victim.iter().filter(|t| **t == RecordType::AAAA).count();
    assert_eq!(aaaa, 4);
}

#[test]
fn a_silent_aaaa_does_not_hold_the_answer_and_ends_on_its_own() {
    let mut w = world("127.0.0.4", "", true, Limits::default());
    let other = w.servers.remove(&addr(3)).unwrap();
    w.serve(3, move |q| {
        (q.qtype != RecordType::AAAA).then(|| other(q)).flatten()
    });
    let answer = w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let outcome = position(&w, |e| *e == Event::Outcome);
    let timed_out = w
        .events
        .iter()
        .rposition(fed("ns.other.", RecordType::AAAA))
        .unwrap();
    assert!(outcome < timed_out, "{:?}", w.events);
    let aaaa = types_asked(&w, addr(3), "ns.other.").len() - 1;
    assert!(
        (1..=usize::from(MAX_ATTEMPTS_PER_SERVER)).contains(&aaaa),
        "{aaaa}"
    );
    assert!(w.log.last().unwrap().timeout <= Duration::from_secs(10));
}

#[test]
fn ns_names_of_zones_that_name_each_other_fail_without_hanging() {
    let mut w = World::new(Limits::default()).with_ipv6();
    w.serve(1, |q| {
        let ns = if q.name.to_ascii().ends_with("other.") {
            "other. 3600 IN NS ns.example.\n"
        } else {
            "example. 3600 IN NS ns.other.\n"
        };
        Some(noerror(q, false, "", ns, ""))
    });
    let error = w.resolve("www.example.", RecordType::A).unwrap_err();
    // Each lookup's failure backs its zone off (RFC 9520), so the client
    // may see example. as unreachable rather than without addresses.
    assert!(
        matches!(
            error,
            ResolveError::NoServerAddress { .. } | ResolveError::NoReachableAuthority { .. }
        ),
        "{error}"
    );
    assert!(w.log.len() <= 8, "{:?}", w.log);
}

#[test]
fn aaaa_glue_alone_with_ipv6_off_fails_instead_of_looping() {
    let mut w = World::new(Limits::default());
    // The referral's only address for its in-zone NS is an AAAA: with
    // IPv6 off nothing may be asked, and nothing must loop either.
    w.serve(1, |q| {
        Some(noerror(
            q,
            false,
            "",
            "example. 3600 IN NS ns.example.\n",
            "ns.example. 3600 IN AAAA ::1\n",
        ))
    });
    let error = w.resolve("www.example.", RecordType::A).unwrap_err();
    assert!(
        matches!(error, ResolveError::NoReachableAuthority { .. }),
        "{error}"
    );
    assert_eq!(w.log.len(), 1, "{:?}", w.log);
}
