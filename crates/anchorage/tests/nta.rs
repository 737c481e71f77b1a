//! Negative trust anchors from the configuration file (RFC 7646), end to
//! end: the binary against an in-process testbed with defect zones on
//! loopback (127.43.x.y), asked by a stub client, every exchange bounded.

mod lab;

use std::time::{Duration, Instant};

use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::RecordType;
use anchorage_wire::proto::rr::rdata::opt::{EdnsCode, EdnsOption};

use lab::{Hierarchy, answers_with, run, spawn, start_testbed_with};

/// Testbed servers listen on 127.43.x.y:15460.
const TESTBED_NET: u8 = 43;
const TESTBED_PORT: u16 = 15460;
/// Where the resolver under test listens (outside the testbed's plan).
const RESOLVER: &str = "127.43.250.1:15461";
/// Lifetime of the NTA the test watches expire.
const SHORT_LIFETIME: Duration = Duration::from_secs(8);

fn ede(msg: &Message) -> Option<u16> {
    match msg.edns.as_ref()?.option(EdnsCode::from(15))? {
        EdnsOption::Unknown(_, bytes) => {
            Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
        }
        _ => None,
    }
}

#[test]
fn a_configured_nta_answers_its_bogus_zone_without_ad_until_it_expires() {
    let hierarchy = Hierarchy {
        seed: 43,
        lifetime: 86_400,
        defects: true,
        ..Hierarchy::default()
    };
    let testbed = start_testbed_with(TESTBED_NET, TESTBED_PORT, hierarchy);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.hints"), testbed.root_hints()).unwrap();
    std::fs::write(dir.path().join("root.anchor"), testbed.trust_anchor()).unwrap();
    let config = dir.path().join("anchorage.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"{RESOLVER}\"]\nthreads = 2\nroot-hints = \"root.hints\"\n\
             trust-anchor = \"root.anchor\"\nstate-dir = \".\"\n\
             allow-loopback-upstreams = true\nupstream-port = {TESTBED_PORT}\n\
             [[negative-trust-anchor]]\ndomain = \"d-bad-signature.com\"\n\
             [[negative-trust-anchor]]\ndomain = \"D-Expired-Rrsig.com.\"\nlifetime = \"{}s\"\n",
            SHORT_LIFETIME.as_secs()
        ),
    )
    .unwrap();
    // The NTAs start between these two instants: the first bounds "while
    // it lasts", the second "once expired".
    let started = Instant::now();
    let mut resolver = spawn(
        RESOLVER,
        &["--config".to_owned(), config.display().to_string()],
    );
    resolver.wait_for("serving", |l| l.contains("serving UDP and TCP"));
    let serving = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = resolver.ask(1, "www.z0.com.", RecordType::A);
        if reply.response_code == ResponseCode::NoError {
            assert!(
                reply.authentic_data,
                "a secure name outside any NTA gets AD"
            );
            break;
        }
        assert!(Instant::now() < deadline, "resolver did not come up");
    }

    // Under the NTA (default lifetime 1h): the bogus zone's data, no AD, no EDE.
    let reply = resolver.ask(2, "www.d-bad-signature.com.", RecordType::A);
    assert_eq!(reply.response_code, ResponseCode::NoError);
    assert!(!reply.authentic_data);
    assert!(answers_with(&reply, RecordType::A));
    // Outside every NTA a bogus zone still fails, with its EDE.
    let reply = resolver.ask(3, "www.d-missing-rrsigs.com.", RecordType::A);
    assert_eq!(reply.response_code, ResponseCode::ServFail);
    assert!(!reply.authentic_data);
    assert_eq!(ede(&reply), Some(10), "EDE 10 RRSIGs Missing");

    // The short NTA applies while it lasts...
    let reply = resolver.ask(4, "www.d-expired-rrsig.com.", RecordType::A);
    assert!(
        started.elapsed() < SHORT_LIFETIME,
        "the machine is too slow to see the NTA before it expires"
    );
    assert_eq!(reply.response_code, ResponseCode::NoError);
    assert!(!reply.authentic_data);
    // ...and once expired the zone's other (uncached) data is bogus again.
    std::thread::sleep(
        SHORT_LIFETIME.saturating_sub(serving.elapsed()) + Duration::from_millis(200),
    );
    let reply = resolver.ask(5, "www.d-expired-rrsig.com.", RecordType::AAAA);
    assert_eq!(reply.response_code, ResponseCode::ServFail);
    assert_eq!(ede(&reply), Some(7), "EDE 7 Signature Expired");
    testbed.stop();
}

#[test]
fn check_config_reports_a_bad_nta_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nta.toml");
    std::fs::write(
        &file,
        "threads = 1\n[[negative-trust-anchor]]\ndomain = \"ok.example\"\nlifetime = \"1 hour\"\n\
         [[negative-trust-anchor]]\ndomain = \"bad..example\"\n",
    )
    .unwrap();
    let out = run(["check-config".as_ref(), file.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 4: negative-trust-anchor lifetime \"1 hour\""),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("line 6: negative-trust-anchor domain \"bad..example\" is not a domain name"),
        "{stderr}"
    );
    std::fs::write(
        &file,
        "[[negative-trust-anchor]]\ndomain = \"ok.example\"\nlifetime = \"none\"\n",
    )
    .unwrap();
    let out = run(["check-config".as_ref(), file.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
