//! The RRset store seen from the walk: scripted servers on a fake clock,
//! each query logged, so a test asserts what went upstream and what was
//! answered from the RRsets earlier replies taught.

mod common;
mod scripted;

use std::time::Duration;

use anchorage_cache::Rank;
use anchorage_iterator::config::Limits;
use anchorage_iterator::{Answer, ResolveError};
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::{Name, RData, RecordType};
use common::records;
use scripted::{World, addr, name, noerror, reply};

/// Root on .1 delegates `example.` to ns.example (.2), `other.` to
/// ns.other (.3), and `third.` to ns.other without glue; IPv6 on.
fn world() -> World {
    let mut w = World::new(Limits::default()).with_store().with_ipv6();
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
        Some(noerror(q, false, "", referral.0, referral.1))
    });
    w.serve(3, |q| {
        let an = match (q.name.to_ascii().as_str(), q.qtype) {
            ("www.other.", RecordType::A) => "www.other. 300 IN A 192.0.2.1\n",
            ("ns.other.", RecordType::A) => "ns.other. 3600 IN A 127.0.0.3\n",
            ("www.third.", RecordType::A) => "www.third. 300 IN A 192.0.2.3\n",
            _ => "",
        };
        Some(noerror(q, true, an, "", ""))
    });
    w
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
        Some(noerror(q, true, &an, ns, ad))
    });
}

fn asked_for(asked: &[(String, RecordType)], text: &str) -> usize {
    asked.iter().filter(|(n, _)| n == text).count()
}

#[test]
fn a_cname_into_another_zone_reuses_the_target_already_resolved() {
    let mut w = world();
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
    let mut w = world();
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
    let mut w = world();
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
        .store()
        .lookup(&name("www.other."), RecordType::A, w.now)
        .unwrap();
    assert_eq!(stored.rank, Rank::AuthoritativeAnswer);
    assert!(
        matches!(&stored.records[..], [r] if matches!(&r.data, RData::A(a) if a.0.octets() == [192, 0, 2, 1]))
    );
    assert!(
        w.store()
            .lookup(&name("other."), RecordType::NS, w.now)
            .is_none_or(|ns| {
                ns.records
                    .iter()
                    .all(|r| !r.data.to_string().contains("evil"))
            })
    );
    assert!(
        w.store()
            .lookup(&name("ns.evil."), RecordType::A, w.now)
            .is_none()
    );
}

#[test]
fn authority_data_gives_way_to_an_authoritative_answer_and_not_the_reverse() {
    let mut w = world();
    // NODATA replies carry example.'s SOA in the authority section; the
    // serial tells which reply the cached copy came from.
    w.serve(2, |q| {
        let soa = |serial: u32| {
            format!("example. 3600 IN SOA ns.example. host.example. {serial} 7200 900 86400 300\n")
        };
        Some(match (q.name.to_ascii().as_str(), q.qtype) {
            ("example.", RecordType::SOA) => noerror(q, true, &soa(2), "", ""),
            ("late.example.", _) => noerror(q, true, "", &soa(3), ""),
            _ => noerror(q, true, "", &soa(1), ""),
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
        .store()
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
        .store()
        .lookup(&name("example."), RecordType::SOA, w.now)
        .unwrap();
    assert_eq!(cached.rank, Rank::AuthoritativeAnswer);
    let soa = w.resolve("example.", RecordType::SOA).unwrap();
    assert_eq!(serial(&soa), 2);
    assert_eq!(w.asked(), []);
}

#[test]
fn an_ns_address_taught_by_an_earlier_answer_is_not_asked_again() {
    let mut w = world();
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
    let mut w = world();
    // The root's referral to other. carried ns.other.'s glue (rank
    // additional): it serves that referral only.
    w.resolve("www.other.", RecordType::A).unwrap();
    let glue = w
        .store()
        .lookup(&name("ns.other."), RecordType::A, w.now)
        .unwrap();
    assert_eq!(glue.rank, Rank::Additional);
    w.forget_delegations();
    w.asked();
    w.resolve("www.third.", RecordType::A).unwrap();
    let asked = w.asked();
    assert!(asked_for(&asked, "ns.other.") >= 1, "{asked:?}");
}

/// A DNAME target 190 bytes long in wire form.
const LONG_TARGET: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.\
                           bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.\
                           cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.other.";

/// example.'s server holds `d.example. DNAME other.` and
/// `long.example. DNAME` [`LONG_TARGET`]: it answers below them with
/// the DNAME and the CNAME synthesised from it, or with YXDOMAIN and the
/// DNAME when the result is too long (RFC 6672 §2.2, §3.2).
fn serve_dnames(w: &mut World) {
    w.serve(2, |q| {
        let asked = q.name.to_ascii();
        for (owner, target) in [("d.example.", "other."), ("long.example.", LONG_TARGET)] {
            let Some(prefix) = asked.strip_suffix(&format!(".{owner}")) else {
                continue;
            };
            let dname = format!("{owner} 3600 IN DNAME {target}\n");
            let synthesised = format!("{prefix}.{target}");
            if Name::from_ascii(&synthesised).is_err() {
                return Some(reply(q, ResponseCode::YXDomain, true, &dname, "", ""));
            }
            let cname = format!("{asked} 3600 IN CNAME {synthesised}\n");
            return Some(noerror(q, true, &format!("{dname}{cname}"), "", ""));
        }
        Some(noerror(q, true, "", "", ""))
    });
}

#[test]
fn a_cached_dname_answers_another_name_below_it_without_asking_its_zone() {
    let mut w = world();
    serve_dnames(&mut w);
    let first = w.resolve("www.d.example.", RecordType::A).unwrap();
    assert_eq!(addresses(&first), ["192.0.2.1"]);
    assert!(w.log.iter().any(|o| o.server == addr(2)));
    w.asked();
    let answer = w.resolve("ns.d.example.", RecordType::A).unwrap();
    assert!(
        w.log.iter().all(|o| o.server != addr(2)),
        "example. asked again: {:?}",
        w.asked()
    );
    assert_eq!(
        records(&answer)
            .iter()
            .map(|(owner, rtype, _)| (owner.as_str(), *rtype))
            .collect::<Vec<_>>(),
        [
            ("d.example.", RecordType::DNAME),
            ("ns.d.example.", RecordType::CNAME),
            ("ns.other.", RecordType::A),
        ]
    );
    // What a resolver with nothing cached gives.
    let mut cold = world();
    serve_dnames(&mut cold);
    let expected = cold.resolve("ns.d.example.", RecordType::A).unwrap();
    assert_eq!(records(&answer), records(&expected));
    assert_eq!(
        (answer.rcode, &answer.zone),
        (expected.rcode, &expected.zone)
    );
}

#[test]
fn a_cached_dname_whose_substitution_is_too_long_gives_yxdomain_without_asking() {
    let long = format!("{}.{}.long.example.", "x".repeat(40), "y".repeat(40));
    let mut w = world();
    serve_dnames(&mut w);
    w.resolve("a.long.example.", RecordType::A).unwrap();
    w.asked();
    let error = w.resolve(&long, RecordType::A).unwrap_err();
    assert!(
        matches!(error, ResolveError::DnameOverflow { .. }),
        "{error}"
    );
    assert_eq!(error.rcode(), ResponseCode::YXDomain);
    assert_eq!(w.asked(), []);
    // A resolver with nothing cached gets the authority's YXDOMAIN.
    let mut cold = world();
    serve_dnames(&mut cold);
    assert_eq!(cold.resolve(&long, RecordType::A).unwrap_err(), error);
}
