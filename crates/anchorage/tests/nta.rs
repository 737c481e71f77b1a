//! Negative trust anchors from the configuration file (RFC 7646), end to
//! end: the binary against an in-process testbed with defect zones on
//! loopback (127.43.x.y), asked by a stub client, every exchange bounded.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_wire::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use anchorage_wire::proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use anchorage_wire::proto::rr::{Name, RecordType};

/// Testbed servers listen on 127.43.x.y:15460.
const TESTBED_NET: u8 = 43;
const TESTBED_PORT: u16 = 15460;
/// Where the resolver under test listens (outside the testbed's plan).
const RESOLVER: &str = "127.43.250.1:15461";
/// Bound on any single exchange.
const EXCHANGE: Duration = Duration::from_secs(5);
/// Lifetime of the NTA the test watches expire.
const SHORT_LIFETIME: Duration = Duration::from_secs(8);

/// The resolver process; killed by PID if a test fails before stopping it.
struct Resolver(Child);

impl Drop for Resolver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    u32::try_from(secs).unwrap()
}

fn query(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.set_dnssec_ok(true);
    msg.set_edns(e);
    msg.to_vec().unwrap()
}

/// A UDP exchange, retried within [`EXCHANGE`].
fn ask(id: u16, name: &str, rtype: RecordType) -> Message {
    let packet = query(id, name, rtype);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + EXCHANGE;
    let mut buf = vec![0u8; 65_535];
    loop {
        socket.send_to(&packet, RESOLVER).unwrap();
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            return Message::from_vec(&buf[..n]).unwrap();
        }
        assert!(Instant::now() < deadline, "no answer for {name} {rtype}");
    }
}

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
    let testbed = Testbed::start_with_threads(
        build(HierarchyConfig {
            seed: 43,
            zones: 4,
            addresses: AddressPlan {
                net: TESTBED_NET,
                port: TESTBED_PORT,
            },
            validity: Validity::around(now(), 3600, 86_400),
            defects: true,
        })
        .unwrap(),
        1,
    )
    .unwrap();
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
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_anchorage"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("anchorage starts");
    let _resolver = Resolver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = ask(1, "www.z0.com.", RecordType::A);
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
    let reply = ask(2, "www.d-bad-signature.com.", RecordType::A);
    assert_eq!(reply.response_code, ResponseCode::NoError);
    assert!(!reply.authentic_data);
    assert!(
        reply
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::A)
    );
    // Outside every NTA a bogus zone still fails, with its EDE.
    let reply = ask(3, "www.d-missing-rrsigs.com.", RecordType::A);
    assert_eq!(reply.response_code, ResponseCode::ServFail);
    assert!(!reply.authentic_data);
    assert_eq!(ede(&reply), Some(10), "EDE 10 RRSIGs Missing");

    // The short NTA applies while it lasts...
    let reply = ask(4, "www.d-expired-rrsig.com.", RecordType::A);
    assert!(
        started.elapsed() < SHORT_LIFETIME,
        "the machine is too slow to see the NTA before it expires"
    );
    assert_eq!(reply.response_code, ResponseCode::NoError);
    assert!(!reply.authentic_data);
    // ...and once expired the zone's other (uncached) data is bogus again.
    std::thread::sleep(
        SHORT_LIFETIME.saturating_sub(started.elapsed()) + Duration::from_millis(200),
    );
    let reply = ask(5, "www.d-expired-rrsig.com.", RecordType::AAAA);
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
    let out = Command::new(env!("CARGO_BIN_EXE_anchorage"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
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
    let out = Command::new(env!("CARGO_BIN_EXE_anchorage"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
