//! The `anchorage` binary end to end: started against an in-process
//! testbed on loopback, asked by stub clients over UDP and TCP, stopped
//! with SIGTERM. Every exchange is bounded in time.

mod lab;

use anchorage_testbed::manifest::{Category, Manifest};
use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::RecordType;
use anchorage_wire::proto::rr::rdata::opt::EdnsCode;

use lab::{
    DEAD_HINTS, EXCHANGE, Hierarchy, Resolver, answers_with, query, run, start, start_testbed_with,
};

/// Testbed servers listen on 127.170.x.y:5453.
const TESTBED_NET: u8 = 170;
const TESTBED_PORT: u16 = 5453;
/// Where the resolver under test listens.
const RESOLVER: &str = "127.0.0.1:15353";

/// `ANCHORAGE_E2E_UDP_BATCHING=false` (or `true`) runs the resolver with
/// `--udp-batching` so: CI runs this file in both modes; unset, the
/// binary's default.
fn udp_batching_flag() -> Vec<String> {
    match std::env::var("ANCHORAGE_E2E_UDP_BATCHING") {
        Ok(value) => vec!["--udp-batching".to_owned(), value],
        Err(_) => Vec::new(),
    }
}

/// A UDP exchange for `name` `rtype`, with EDNS and DO or with neither.
fn ask(resolver: &Resolver, id: u16, name: &str, rtype: RecordType, edns: bool) -> Message {
    resolver.exchange(&query(id, name, rtype, edns))
}

#[test]
fn stub_clients_get_answers_for_every_category_and_sigterm_drains() {
    let hierarchy = Hierarchy {
        seed: 5,
        zones: 20,
        lifetime: 86_400,
        defects: true,
    };
    let testbed = start_testbed_with(TESTBED_NET, TESTBED_PORT, hierarchy);
    let dir = tempfile::tempdir().unwrap();
    let mut resolver = start(&testbed, dir.path(), RESOLVER, &udp_batching_flag());

    let manifest = testbed.manifest().clone();
    let mut id = 100;
    for label in [
        "secure", "insecure", "nxdomain", "nodata", "wildcard", "cname",
    ] {
        let entries: Vec<_> = manifest.of(label).take(3).collect();
        assert!(!entries.is_empty(), "testbed has {label} names");
        for entry in entries {
            id += 1;
            let rtype: RecordType = entry.qtype.parse().unwrap();
            let reply = ask(&resolver, id, &entry.name, rtype, id % 2 == 0);
            assert_eq!(reply.id, id);
            assert!(reply.recursion_available);
            // Even ids ask with DO: AD on every validated secure answer.
            if id % 2 == 0 && label != "insecure" {
                assert!(
                    reply.authentic_data,
                    "{} {rtype} should be secure",
                    entry.name
                );
            }
            if label == "insecure" {
                assert!(!reply.authentic_data, "{} is insecure", entry.name);
            }
            match label {
                "nxdomain" => assert_eq!(
                    reply.response_code,
                    ResponseCode::NXDomain,
                    "{}",
                    entry.name
                ),
                "nodata" => {
                    assert_eq!(reply.response_code, ResponseCode::NoError);
                    assert!(!answers_with(&reply, rtype));
                }
                _ => {
                    assert_eq!(
                        reply.response_code,
                        ResponseCode::NoError,
                        "{} {rtype}",
                        entry.name
                    );
                    assert!(answers_with(&reply, rtype), "{} {rtype}", entry.name);
                }
            }
            // The same question over TCP, now from the cache.
            let again = resolver.exchange_tcp(&query(id, &entry.name, rtype, false));
            assert_eq!(again.response_code, reply.response_code);
        }
    }

    // The testbed's large TXT set: truncated over UDP without EDNS, whole over TCP.
    let big = "big.z0.com.";
    let truncated = ask(&resolver, 1, big, RecordType::TXT, false);
    assert!(truncated.truncation, "a 512-byte client gets TC");
    let whole = resolver.exchange_tcp(&query(2, big, RecordType::TXT, false));
    assert!(!whole.truncation);
    assert!(!whole.answers.is_empty());

    // Malformed input gets FORMERR and the service goes on.
    let mut two = query(3, "www.z0.com.", RecordType::A, false);
    two[5] = 2;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(EXCHANGE)).unwrap();
    socket.send_to(&two, RESOLVER).unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    assert!(n >= 12 && buf[3] & 0x0f == 1, "FORMERR");
    socket
        .send_to(&query(4, "www.z0.com.", RecordType::A, false), RESOLVER)
        .unwrap();
    let (n, _) = socket.recv_from(&mut buf).expect("an answer after FORMERR");
    assert!(Message::from_vec(&buf[..n]).is_ok());

    check_bogus_zones(&resolver, &manifest);

    // ANY is answered per RFC 8482, without going upstream.
    let any = ask(&resolver, 5, "z1.com.", RecordType::ANY, false);
    assert_eq!(any.answers.len(), 1);
    assert_eq!(any.answers[0].record_type(), RecordType::HINFO);

    resolver.stop();
    testbed.stop();
}

/// Broken signatures and keys give SERVFAIL with an Extended DNS Error;
/// unsupported algorithms give an answer without AD.
fn check_bogus_zones(resolver: &Resolver, manifest: &Manifest) {
    const SIGNATURE_DEFECTS: [&str; 8] = [
        "bad-signature",
        "expired-rrsig",
        "not-yet-valid-rrsig",
        "ds-mismatch",
        "dnskey-signed-by-zsk-only",
        "missing-rrsigs",
        "missing-denial",
        "keytrap",
    ];
    let mut checked = 0;
    for entry in manifest.of("bogus") {
        let Category::Bogus { reason } = &entry.category else {
            continue;
        };
        if !SIGNATURE_DEFECTS.contains(&reason.as_str()) {
            continue;
        }
        let rtype: RecordType = entry.qtype.parse().unwrap();
        let msg = ask(resolver, 7, &entry.name, rtype, true);
        assert_eq!(
            msg.response_code,
            ResponseCode::ServFail,
            "{reason}: {}",
            entry.name
        );
        assert!(!msg.authentic_data);
        let ede = msg.edns.as_ref().and_then(|e| e.option(EdnsCode::from(15)));
        assert!(ede.is_some(), "{reason}: no EDE");
        checked += 1;
    }
    assert_eq!(
        checked,
        SIGNATURE_DEFECTS.len(),
        "every signature defect checked"
    );
    for entry in manifest
        .of("insecure")
        .filter(|e| e.name.contains("d-unsupported"))
    {
        let reply = ask(resolver, 8, &entry.name, RecordType::A, true);
        assert_eq!(reply.response_code, ResponseCode::NoError, "{}", entry.name);
        assert!(!reply.authentic_data);
    }
}

#[test]
fn bad_configuration_is_one_sentence_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "listen = [\"nowhere\"]\ncache-size = \"lots\"\n").unwrap();
    let out = run(["check-config".as_ref(), file.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1: listen address \"nowhere\""),
        "{stderr}"
    );
    assert!(stderr.contains("line 2: cache-size"), "{stderr}");
    // Starting with it fails the same way, before binding anything.
    let out = run(["--config".as_ref(), file.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    // An address already in use: one sentence, non-zero exit. Loopback
    // hints, so even a mistake here could not query the real root.
    let hints = dir.path().join("root.hints");
    std::fs::write(&hints, DEAD_HINTS).unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run([
        "--listen".as_ref(),
        addr.as_ref(),
        "--threads".as_ref(),
        "1".as_ref(),
        "--allow-loopback-upstreams".as_ref(),
        "--root-hints".as_ref(),
        hints.as_os_str(),
        "--state-dir".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on UDP {addr}")),
        "{stderr}"
    );
}
