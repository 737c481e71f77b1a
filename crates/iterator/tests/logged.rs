//! Resolution against testbed servers with their query log on, for what
//! must or must not go upstream: the AAAA of a glueless NS name (only with
//! IPv6 upstreams on), a server whose NS name has only an AAAA (served on
//! ::1), and names under a DNAME already cached.
//!
//! Loopback block 127.46.0.0/16 and ::1, ports 15520-15559.

mod common;

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anchorage_iterator::RootHints;
use anchorage_iterator::config::Config;
use anchorage_testbed::authority::Authority;
use anchorage_testbed::server::{
    Behaviour, Catalog, LoggedQuery, QueryLog, Running, ServerSpec, SharedZone, spawn,
};
use anchorage_testbed::zone::Zone;
use anchorage_testbed::{AddressPlan, Testbed};
use anchorage_wire::proto::rr::{Name, RecordType};
use anchorage_wire::text::parse_records;
use common::{bounded, config, config_for, records, recursor, recursor_with, resolve, testbed_at};

/// Second octet of every IPv4 server address here.
const NET: u8 = 46;

fn bed(port: u16) -> Testbed {
    testbed_at(AddressPlan { net: NET, port }, 10, false, 11)
}

/// Waits (boundedly) until the servers of `log` have noted a query that
/// `wanted` picks: a lookup still under way after the answer reaches its
/// server a moment later.
async fn noted(log: impl Fn() -> Vec<LoggedQuery>, wanted: impl Fn(&LoggedQuery) -> bool) -> bool {
    let seen = async {
        while !log().iter().any(&wanted) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), seen)
        .await
        .is_ok()
}

fn is(qname: &'static str, qtype: RecordType) -> impl Fn(&LoggedQuery) -> bool {
    move |q| q.qname == qname && q.qtype == qtype
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aaaa_of_a_glueless_ns_name_is_asked_only_with_ipv6_upstreams_on() {
    let bed = bed(15520);
    bed.record_queries(true);
    // Zone 6 (z6.net.) is glueless: its NS is ns7.hoster.net., which has
    // an A only.
    let r = recursor_with(Config {
        ipv6_upstream: true,
        ..config(&bed)
    })
    .await;
    let answer = resolve(&r, "www.z6.net.", RecordType::A).await.unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    assert!(
        bed.queries()
            .iter()
            .any(is("ns7.hoster.net.", RecordType::A))
    );
    assert!(
        noted(|| bed.queries(), is("ns7.hoster.net.", RecordType::AAAA)).await,
        "{:?}",
        bed.queries()
    );

    let before = bed.queries().len();
    let r = recursor(&bed).await;
    let answer = resolve(&r, "www.z6.net.", RecordType::A).await.unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let asked = bed.queries().split_off(before);
    assert!(asked.iter().any(is("ns7.hoster.net.", RecordType::A)));
    assert!(
        asked.iter().all(|q| q.qtype != RecordType::AAAA),
        "{asked:?}"
    );
    bed.stop();
}

/// A zone of `origin` from zone-file text, ready to serve.
fn zone(origin: &str, text: &str) -> SharedZone {
    let mut zone = Zone::new(Name::from_ascii(origin).unwrap());
    for record in parse_records(text).unwrap() {
        zone.add(record);
    }
    Arc::new(RwLock::new(Arc::new(Authority::new(zone))))
}

/// Three unsigned zones on `port`: the root (127.46.0.1) delegates
/// `host.` with glue and `v6only.` to ns6.host. without glue; `host.`
/// (127.46.0.2) gives ns6.host. an AAAA (::1) and no A; `v6only.` is
/// served on [::1].
fn v6_only_servers(port: u16, log: &Arc<QueryLog>) -> Running {
    let root = zone(
        ".",
        ". 86400 IN SOA a.root. h.root. 1 3600 600 86400 300\n\
         . 86400 IN NS a.root.\n\
         a.root. 86400 IN A 127.46.0.1\n\
         host. 86400 IN NS ns.host.\n\
         ns.host. 86400 IN A 127.46.0.2\n\
         v6only. 86400 IN NS ns6.host.\n",
    );
    let host = zone(
        "host.",
        "host. 3600 IN SOA ns.host. h.host. 1 3600 600 86400 300\n\
         host. 3600 IN NS ns.host.\n\
         ns.host. 3600 IN A 127.46.0.2\n\
         ns6.host. 3600 IN AAAA ::1\n",
    );
    let v6only = zone(
        "v6only.",
        "v6only. 3600 IN SOA ns6.host. h.host. 1 3600 600 86400 300\n\
         v6only. 3600 IN NS ns6.host.\n\
         www.v6only. 300 IN A 127.200.0.6\n",
    );
    let specs = [
        (SocketAddr::from(([127, 46, 0, 1], port)), root),
        (SocketAddr::from(([127, 46, 0, 2], port)), host),
        (SocketAddr::from((Ipv6Addr::LOCALHOST, port)), v6only),
    ]
    .into_iter()
    .map(|(addr, zone)| {
        let mut catalog = Catalog::default();
        catalog.insert(zone);
        ServerSpec {
            addr,
            catalog: Arc::new(catalog),
            behaviour: Behaviour::Normal,
            log: Some(Arc::clone(log)),
        }
    })
    .collect();
    spawn(specs, 1).expect("servers on 127.46/16 and ::1")
}

fn v6_only_config(port: u16, ipv6: bool) -> Config {
    let hints = ". 86400 IN NS a.root.\na.root. 86400 IN A 127.46.0.1\n";
    Config {
        ipv6_upstream: ipv6,
        ..config_for(RootHints::parse(hints).unwrap(), port)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ns_name_with_only_an_aaaa_serves_its_zone_over_ipv6_loopback() {
    let port = 15521;
    let log = Arc::new(QueryLog::default());
    log.record(true);
    let servers = v6_only_servers(port, &log);
    let v6_server = SocketAddr::from((Ipv6Addr::LOCALHOST, port));

    let r = recursor_with(v6_only_config(port, true)).await;
    let answer = resolve(&r, "www.v6only.", RecordType::A).await.unwrap();
    assert_eq!(answer.records_of(RecordType::A).count(), 1);
    let asked = log.queries();
    assert!(
        asked.iter().any(is("ns6.host.", RecordType::AAAA)),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|q| q.server == v6_server && q.qname == "www.v6only."),
        "{asked:?}"
    );

    let before = log.queries().len();
    let r = recursor_with(v6_only_config(port, false)).await;
    let error = resolve(&r, "www.v6only.", RecordType::A).await.unwrap_err();
    assert_eq!(
        error.ede(),
        anchorage_wire::EdeCode::NoReachableAuthority,
        "{error}"
    );
    let asked = log.queries().split_off(before);
    assert!(
        asked.iter().any(is("ns6.host.", RecordType::A)),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .all(|q| q.qtype != RecordType::AAAA && q.server != v6_server),
        "{asked:?}"
    );
    servers.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_name_under_a_cached_dname_is_answered_without_asking_its_zone() {
    let bed = bed(15522);
    bed.record_queries(true);
    let r = recursor(&bed).await;
    // Every second-level zone has dname.<zone> DNAME hoster.net.; a
    // signed zone's comes with its RRSIG.
    let zone = bed
        .manifest()
        .of("secure")
        .find_map(|e| e.name.strip_prefix("www.").map(str::to_owned))
        .expect("a signed zone");
    let first = resolve(&r, &format!("ns2.dname.{zone}"), RecordType::A)
        .await
        .unwrap();
    assert_eq!(first.records_of(RecordType::DNAME).count(), 1);
    let before = bed.queries().len();
    let second = format!("ns3.dname.{zone}");
    let answer = resolve(&r, &second, RecordType::A).await.unwrap();
    let asked = bed.queries().split_off(before);
    assert!(
        asked.iter().all(|q| !q.qname.ends_with(&zone)),
        "{zone} asked again: {asked:?}"
    );
    let dname_signed = answer.answers.iter().any(|r| {
        matches!(&r.data, anchorage_wire::proto::rr::RData::DNSSEC(
            anchorage_wire::proto::dnssec::rdata::DNSSECRData::RRSIG(sig)
        ) if sig.input().type_covered == RecordType::DNAME)
    });
    assert!(dname_signed, "the DNAME's RRSIG travels with it");

    let cold = bounded(recursor(&bed)).await;
    let expected = resolve(&cold, &second, RecordType::A).await.unwrap();
    assert_eq!(records(&answer), records(&expected));
    assert_eq!(
        (answer.rcode, &answer.zone),
        (expected.rcode, &expected.zone)
    );
    bed.stop();
}
