//! Trust-anchor signals in the running binary: the RFC 8145 §5.1 key-tag
//! query reaches the testbed root after a valid probe (and not when
//! `--trust-anchor-signaling false`), and RFC 8509 root-key-sentinel
//! names answer as the trusted root keys say, in secure zones only.

mod lab;

use anchorage_testbed::Testbed;
use anchorage_testbed::server::LoggedQuery;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::RecordType;
use tempfile::TempDir;

use lab::{
    Hierarchy, Resolver, anchor_tag, answers_with, lab_timers, start, start_testbed,
    start_testbed_with,
};

/// Testbed port and resolver address of each test (block 127.41.0.0/16).
const SIGNAL_ON: (u16, &str) = (15426, "127.41.200.3:15427");
const SIGNAL_OFF: (u16, &str) = (15428, "127.41.200.4:15429");
const SENTINEL: (u16, &str) = (15430, "127.41.200.5:15431");
const NET: u8 = 41;

/// A testbed on `port` that records the queries it gets, and `anchorage`
/// on it at `listen` with the lab timers and `extra` flags.
fn recorded_lab((port, listen): (u16, &str), extra: &[&str]) -> (Testbed, TempDir, Resolver) {
    let testbed = start_testbed(NET, port);
    testbed.record_queries(true);
    let dir = tempfile::tempdir().unwrap();
    let mut args = lab_timers();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let resolver = start(&testbed, dir.path(), listen, &args);
    (testbed, dir, resolver)
}

fn key_tag_queries(testbed: &Testbed) -> Vec<LoggedQuery> {
    testbed
        .queries()
        .into_iter()
        .filter(|q| q.qname.starts_with("_ta-"))
        .collect()
}

#[test]
fn after_a_valid_probe_the_root_gets_the_key_tag_query_with_the_trusted_tag() {
    let (testbed, _dir, mut resolver) = recorded_lab(SIGNAL_ON, &[]);
    resolver.wait_for("a valid probe", |l| {
        l.contains("root DNSKEY probe: valid update")
    });
    let tag = anchor_tag(&testbed);
    let expected = format!("_ta-{tag:04x}.");
    let line = resolver.wait_for("the signal", |l| l.contains("RFC 8145 key-tag signal sent"));
    assert!(line.contains(&expected), "{line}");
    assert!(line.contains("rcode=NXDomain"), "{line}");
    let sent = key_tag_queries(&testbed);
    assert!(
        sent.iter().any(|q| q.qname == expected
            && q.qtype == RecordType::NULL
            && q.server == testbed.root_server()),
        "the root did not see {expected} NULL: {sent:?}"
    );
}

#[test]
fn with_signaling_off_no_key_tag_query_is_sent() {
    let (testbed, _dir, mut resolver) =
        recorded_lab(SIGNAL_OFF, &["--trust-anchor-signaling", "false"]);
    // A signal follows its probe's summary line before the next probe
    // starts: after two valid probes, the first one's would have been sent.
    let first = resolver.mark();
    resolver.wait_since(first, "a valid probe", |l| {
        l.contains("root DNSKEY probe: valid update")
    });
    let second = resolver.mark();
    resolver.wait_since(second, "another probe", |l| {
        l.contains("root DNSKEY probe: ")
    });
    assert!(
        testbed
            .queries()
            .iter()
            .any(|q| q.qname == "." && q.qtype == RecordType::DNSKEY),
        "the probes were logged"
    );
    assert_eq!(key_tag_queries(&testbed), Vec::new());
}

#[test]
fn sentinel_names_follow_the_trusted_root_key_in_secure_zones_only() {
    let (port, listen) = SENTINEL;
    // Nine zones: the ninth is insecure.
    let hierarchy = Hierarchy {
        zones: 9,
        ..Hierarchy::default()
    };
    let testbed = start_testbed_with(NET, port, hierarchy);
    let dir = tempfile::tempdir().unwrap();
    let resolver = start(&testbed, dir.path(), listen, &[]);
    let manifest = testbed.manifest();
    // `hostN.wild.<zone>` A: below `wild.<zone>` every name is answered
    // by the wildcard, sentinel labels included.
    let wild = |entry: &anchorage_testbed::manifest::Entry| {
        let (_, rest) = entry.name.split_once('.').unwrap();
        rest.to_owned()
    };
    let secure = wild(manifest.of("wildcard").next().expect("a wildcard name"));
    let insecure_zone = {
        let www = manifest
            .of("insecure")
            .find(|e| e.name.starts_with("www."))
            .expect("an insecure zone");
        www.name.trim_start_matches("www.").to_owned()
    };
    let insecure = format!("wild.{insecure_zone}");
    let trusted = anchor_tag(&testbed);
    let other = if trusted == 11_111 { 22_222 } else { 11_111 };

    let mut id = 0;
    let mut ask = |label: &str, tag: u16, parent: &str| {
        id += 1;
        let name = format!("root-key-sentinel-{label}-{tag:05}.{parent}");
        let reply = resolver.ask(id, &name, RecordType::A);
        (name, reply)
    };
    for (label, tag, rcode) in [
        ("is-ta", trusted, ResponseCode::NoError),
        ("is-ta", other, ResponseCode::ServFail),
        ("not-ta", trusted, ResponseCode::ServFail),
        ("not-ta", other, ResponseCode::NoError),
        // Asked again: nothing was cached that would skip the check.
        ("not-ta", trusted, ResponseCode::ServFail),
        ("is-ta", trusted, ResponseCode::NoError),
    ] {
        let (name, reply) = ask(label, tag, &secure);
        assert_eq!(reply.response_code, rcode, "{name}");
        if rcode == ResponseCode::NoError {
            assert!(reply.authentic_data, "{name} is secure");
            assert!(answers_with(&reply, RecordType::A), "{name}");
        } else {
            assert!(reply.answers.is_empty(), "{name}");
        }
    }
    for (label, tag) in [
        ("is-ta", trusted),
        ("is-ta", other),
        ("not-ta", trusted),
        ("not-ta", other),
    ] {
        let (name, reply) = ask(label, tag, &insecure);
        assert_eq!(reply.response_code, ResponseCode::NoError, "{name}");
        assert!(!reply.authentic_data, "{name} is insecure");
        assert!(answers_with(&reply, RecordType::A), "{name}");
    }
}
