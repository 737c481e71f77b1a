//! Sans-IO scenarios: the walk driven by scripted servers on a fake
//! clock, for server behaviours the testbed cannot mix in one zone (a
//! lame or silent server among good ones) and for NXNSAttack-style
//! referrals built to explode the query count.

mod scripted;

use std::time::Duration;

use anchorage_iterator::config::Limits;
use anchorage_iterator::infra::ServerStore;
use anchorage_iterator::walk::Context;
use anchorage_iterator::{Action, Question, ResolveError, Walk};
use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::{Name, RecordType};
use scripted::{World, addr, reply, serve_nxns_attack};

/// Root on .1 delegates `example.` to a.ns.example (.2) and b.ns.example (.3).
fn example_world(first: impl Fn(&Question) -> Option<Message> + 'static) -> World {
    let mut w = World::new(Limits::default());
    w.serve(1, |q| {
        Some(reply(
            q,
            ResponseCode::NoError,
            false,
            "",
            "example. 3600 IN NS a.ns.example.\nexample. 3600 IN NS b.ns.example.\n",
            "a.ns.example. 3600 IN A 127.0.0.2\nb.ns.example. 3600 IN A 127.0.0.3\n",
        ))
    });
    w.serve(2, first);
    w.serve(3, |q| {
        Some(reply(
            q,
            ResponseCode::NoError,
            true,
            "www.example. 300 IN A 192.0.2.1\n",
            "",
            "",
        ))
    });
    w
}

#[test]
fn a_lame_server_among_good_ones_is_skipped_and_remembered() {
    let mut w = example_world(|q| Some(reply(q, ResponseCode::Refused, false, "", "", "")));
    let answer = w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let example = Name::from_ascii("example.").unwrap();
    assert!(w.infra.is_lame(&example, addr(2), w.now));
    // The next question goes straight to the good server.
    w.log.clear();
    w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(
        w.log.iter().map(|o| o.server).collect::<Vec<_>>(),
        [addr(3)]
    );
}

#[test]
fn an_unresponsive_server_times_out_and_the_answer_comes_from_another() {
    let mut w = example_world(|_| None);
    let answer = w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    assert_eq!(answer.queries, 3, "root, silent server, good server");
    let first = w.log[1].timeout;
    // The silent server is not asked again while a fast one is known.
    w.log.clear();
    w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(
        w.log.iter().map(|o| o.server).collect::<Vec<_>>(),
        [addr(3)]
    );
    assert!(first >= Duration::from_millis(50));
}

#[test]
fn a_shared_outcome_is_acted_on_but_leaves_the_server_record_to_its_sender() {
    let mut w = example_world(|_| None);
    w.shared = true;
    let answer = w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    assert_eq!(answer.queries, 3, "root, silent server, good server");
    // The sender recorded the RTTs and the timeout once; the walks that
    // shared its outcome add nothing (a burst is one sample, not many).
    assert_eq!(w.infra.srtt(addr(3)), None);
    assert_eq!(w.infra.timeout(addr(2)), w.infra.timeout(addr(4)));
    w.shared = false;
    w.resolve("www.example.", RecordType::A).unwrap();
    assert!(w.infra.srtt(addr(3)).is_some(), "its own reply is recorded");
}

#[test]
fn a_withdrawn_query_is_not_counted_and_a_cut_learned_meanwhile_is_entered() {
    let mut w = example_world(|_| None);
    let q = Question::new(Name::from_ascii("www.example.").unwrap(), RecordType::MX);
    let mut walk = Walk::new(q, w.settings, w.now);
    let mut ctx = Context {
        delegations: &mut w.delegations,
        servers: &mut w.infra,
        rrsets: None,
    };
    let Action::Send(first) = walk.start(w.now, &mut ctx) else {
        panic!("a query to the root first");
    };
    assert_eq!(first.server, addr(1));
    // Another walk's reply for the same name taught the cut meanwhile.
    let cut = anchorage_iterator::delegation::Cut {
        zone: Name::from_ascii("example.").unwrap(),
        servers: vec![anchorage_iterator::delegation::NsServer {
            name: Name::from_ascii("b.ns.example.").unwrap(),
            addrs: vec!["127.0.0.3".parse().unwrap()],
        }],
    };
    anchorage_iterator::delegation::DelegationStore::insert_cut(ctx.delegations, &cut, 3600, w.now);
    let Action::Send(next) = walk.on_withdrawn(first.id, w.now, &mut ctx) else {
        panic!("a query to the child zone next");
    };
    assert_eq!(next.server, addr(3));
    assert_eq!(walk.queries(), 1, "the withdrawn query was never sent");
}

#[test]
fn glue_outside_the_child_zone_is_ignored_and_resolved_instead() {
    let mut w = World::new(Limits::default());
    // The root's referral carries glue for a name outside `example.`.
    w.serve(1, |q| {
        if q.name.to_string().ends_with("net.") {
            Some(reply(
                q,
                ResponseCode::NoError,
                true,
                "ns.other.net. 3600 IN A 127.0.0.3\n",
                "",
                "",
            ))
        } else {
            Some(reply(
                q,
                ResponseCode::NoError,
                false,
                "",
                "example. 3600 IN NS ns.other.net.\n",
                "ns.other.net. 3600 IN A 127.0.0.66\n",
            ))
        }
    });
    w.serve(3, |q| {
        Some(reply(
            q,
            ResponseCode::NoError,
            true,
            "www.example. 300 IN A 192.0.2.1\n",
            "",
            "",
        ))
    });
    let answer = w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    assert!(w.log.iter().all(|o| o.server != addr(66)));
}

#[test]
fn nxns_referral_resolves_at_most_the_capped_number_of_ns_names() {
    let mut w = World::new(Limits::default());
    serve_nxns_attack(&mut w);
    let error = w.resolve("www.attack.", RecordType::A).unwrap_err();
    assert!(
        matches!(error, ResolveError::NoServerAddress { fetched: 4, .. }),
        "{error}"
    );
    let to_victim = w.log.iter().filter(|o| o.server == addr(9)).count();
    assert_eq!(to_victim, 4);
    assert!(w.log.len() <= 10, "{}", w.log.len());
}

#[test]
fn query_cap_ends_the_walk_with_servfail() {
    let mut w = World::new(Limits {
        max_queries: 5,
        ..Limits::default()
    });
    // Every server refers one label deeper, forever.
    let depth = std::cell::Cell::new(0usize);
    w.serve(1, move |q| {
        depth.set(depth.get() + 1);
        let child = q.name.trim_to(depth.get());
        let text = format!("{child} 3600 IN NS ns.{child}\n");
        let glue = format!("ns.{child} 3600 IN A 127.0.0.1\n");
        Some(reply(q, ResponseCode::NoError, false, "", &text, &glue))
    });
    let error = w.resolve("a.b.c.d.e.f.g.deep.", RecordType::A).unwrap_err();
    assert_eq!(error, ResolveError::QueryCap { limit: 5 });
    assert_eq!(w.log.len(), 5);
    assert_eq!(error.rcode(), ResponseCode::ServFail);
}

#[test]
fn deadline_ends_the_walk_when_every_server_is_silent() {
    let mut w = World::new(Limits {
        deadline: Duration::from_millis(500),
        ..Limits::default()
    });
    w.serve(1, |_| None);
    let error = w.resolve("www.example.", RecordType::A).unwrap_err();
    assert!(
        matches!(
            error,
            ResolveError::NoReachableAuthority { .. } | ResolveError::Deadline { .. }
        ),
        "{error}"
    );
    assert!(w.log[0].timeout <= Duration::from_millis(500));
}

#[test]
fn referral_upwards_or_sideways_is_lame_not_followed() {
    let mut w = example_world(|q| {
        Some(reply(
            q,
            ResponseCode::NoError,
            false,
            "",
            ". 3600 IN NS root.\n",
            "root. 3600 IN A 127.0.0.66\n",
        ))
    });
    let answer = w.resolve("www.example.", RecordType::A).unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    assert!(w.log.iter().all(|o| o.server != addr(66)));
}
