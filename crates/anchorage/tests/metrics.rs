//! Prometheus metrics in the running binary: `--metrics-listen` serves
//! `GET /metrics`; client queries, cache hits and the RFC 5011 root keys
//! with their states show there, and so does a trust state kept in memory
//! because its directory cannot be written.

mod lab;

use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::RecordType;

use lab::{anchor_tag, http_get, lab_timers, sample, start, start_testbed};

/// Testbed port, resolver and metrics addresses of each test (block 127.41.0.0/16).
const COUNTERS: (u16, &str, &str) = (15420, "127.41.200.1:15421", "127.41.200.1:15422");
const IN_MEMORY: (u16, &str, &str) = (15423, "127.41.200.2:15424", "127.41.200.2:15425");
const NET: u8 = 41;

fn scrape(addr: &str) -> String {
    let (status, body) = http_get(addr, "/metrics");
    assert!(status.contains(" 200 "), "{status}\n{body}");
    body
}

#[test]
fn metrics_show_queries_cache_hits_and_the_root_keys_with_their_states() {
    let (port, listen, metrics) = COUNTERS;
    let testbed = start_testbed(NET, port);
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--metrics-listen".to_owned(), metrics.to_owned()];
    args.extend(lab_timers());
    let mut resolver = start(&testbed, dir.path(), listen, &args);
    resolver.wait_for("the metrics listener", |l| {
        l.contains("serving metrics at /metrics")
    });

    let before = scrape(metrics);
    let udp = r#"anchorage_queries_total{transport="udp"}"#;
    let hits = r#"anchorage_cache_hits_total{cache="answer"}"#;
    let queries_before = sample(&before, udp).expect("a UDP query counter");
    let hits_before = sample(&before, hits).expect("an answer-cache hit counter");

    let secure = testbed.manifest().of("secure").next().unwrap().clone();
    let rtype: RecordType = secure.qtype.parse().unwrap();
    for id in 1..=3 {
        let reply = resolver.ask(id, &secure.name, rtype);
        assert_eq!(reply.response_code, ResponseCode::NoError);
    }

    let after = scrape(metrics);
    assert!(
        sample(&after, udp).unwrap() >= queries_before + 3.0,
        "{after}"
    );
    // The second and third asks come from the answer cache.
    assert!(
        sample(&after, hits).unwrap() >= hits_before + 2.0,
        "{after}"
    );
    assert!(
        sample(&after, r#"anchorage_cache_entries{cache="answer"}"#).unwrap() >= 1.0,
        "{after}"
    );
    assert!(
        sample(
            &after,
            r#"anchorage_upstream_queries_total{transport="udp"}"#
        )
        .unwrap()
            >= 1.0,
        "{after}"
    );
    // The secure answer was validated: the outcome and the signatures it
    // took are counted.
    assert!(
        sample(&after, r#"anchorage_validations_total{status="secure"}"#).unwrap() >= 1.0,
        "{after}"
    );
    assert!(
        sample(&after, "anchorage_signature_checks_total").unwrap() >= 1.0,
        "{after}"
    );
    let tag = anchor_tag(&testbed);
    let key = format!(r#"anchorage_trust_root_key{{key_tag="{tag}","#);
    let row = after
        .lines()
        .find(|l| l.starts_with(&key))
        .unwrap_or_else(|| panic!("no series for key {tag} in\n{after}"));
    assert!(row.contains(r#"state="Valid""#), "{row}");
    assert!(row.ends_with(" 1"), "{row}");
    assert_eq!(sample(&after, "anchorage_trust_state_in_memory"), Some(0.0));
    for help in [
        "# HELP anchorage_queries ",
        "# HELP anchorage_cache_hits ",
        "# HELP anchorage_trust_root_key ",
        "# HELP anchorage_trust_state_in_memory ",
    ] {
        assert!(after.contains(help), "{help} missing from\n{after}");
    }

    // After a valid probe, its time is there too.
    let from = resolver.mark();
    resolver.wait_since(from, "a valid probe", |l| {
        l.contains("root DNSKEY probe: valid update")
    });
    let probed = scrape(metrics);
    assert!(
        sample(
            &probed,
            "anchorage_trust_last_successful_probe_timestamp_seconds"
        )
        .unwrap()
            > 1.0e9,
        "{probed}"
    );
    let (status, _) = http_get(metrics, "/elsewhere");
    assert!(status.contains(" 404 "), "{status}");
}

#[test]
fn a_state_directory_that_cannot_be_written_shows_as_state_in_memory() {
    let (port, listen, metrics) = IN_MEMORY;
    let testbed = start_testbed(NET, port);
    let dir = tempfile::tempdir().unwrap();
    // Below a regular file: no one, root included, can create it.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let state_dir = file.join("state");
    let args = vec![
        "--metrics-listen".to_owned(),
        metrics.to_owned(),
        "--state-dir".to_owned(),
        state_dir.display().to_string(),
        "--state-in-memory-on-failure".to_owned(),
    ];
    let mut resolver = start(&testbed, dir.path(), listen, &args);
    resolver.wait_for("the warning", |l| {
        l.contains("TRUST STATE IS NOT PERSISTED")
    });
    resolver.wait_for("the metrics listener", |l| {
        l.contains("serving metrics at /metrics")
    });
    let body = scrape(metrics);
    assert_eq!(
        sample(&body, "anchorage_trust_state_in_memory"),
        Some(1.0),
        "{body}"
    );
    let tag = anchor_tag(&testbed);
    assert!(
        body.contains(&format!(
            r#"anchorage_trust_root_key{{key_tag="{tag}",algorithm="#
        )),
        "{body}"
    );
}
