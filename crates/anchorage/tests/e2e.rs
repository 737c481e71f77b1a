//! The `anchorage` binary end to end: started against an in-process
//! testbed on loopback, asked by stub clients over UDP and TCP, stopped
//! with SIGTERM. Every exchange is bounded in time.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anchorage_testbed::manifest::{Category, Manifest};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_wire::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use anchorage_wire::proto::rr::rdata::opt::EdnsCode;
use anchorage_wire::proto::rr::{Name, RecordType};

/// The resolver validates against its own clock, so the testbed signs
/// around the real time.
fn now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    u32::try_from(secs).unwrap()
}
/// Testbed servers listen on 127.170.x.y:5453.
const TESTBED_NET: u8 = 170;
const TESTBED_PORT: u16 = 5453;
/// Where the resolver under test listens.
const RESOLVER: &str = "127.0.0.1:15353";
/// Bound on any single exchange.
const EXCHANGE: Duration = Duration::from_secs(5);

/// The resolver process; killed by PID if a test fails before stopping it.
struct Resolver(Option<Child>);

impl Drop for Resolver {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start(testbed: &Testbed, dir: &std::path::Path) -> Resolver {
    let hints = dir.join("root.hints");
    std::fs::write(&hints, testbed.root_hints()).unwrap();
    let anchor = dir.join("root.anchor");
    std::fs::write(&anchor, testbed.trust_anchor()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_anchorage"))
        .args([
            "--listen",
            RESOLVER,
            "--threads",
            "2",
            "--allow-loopback-upstreams",
        ])
        .arg("--root-hints")
        .arg(&hints)
        .arg("--trust-anchor")
        .arg(&anchor)
        .arg("--state-dir")
        .arg(dir)
        .args(["--upstream-port", &TESTBED_PORT.to_string()])
        .args(udp_batching_flag())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("anchorage starts");
    let resolver = Resolver(Some(child));
    // Ready when it answers anything.
    let deadline = Instant::now() + Duration::from_secs(20);
    while udp(&query(1, ".", RecordType::NS, true)).is_none() {
        assert!(Instant::now() < deadline, "resolver did not come up");
    }
    resolver
}

/// `ANCHORAGE_E2E_UDP_BATCHING=false` (or `true`) runs the resolver with
/// `--udp-batching` so: CI runs this file in both modes; unset, the
/// binary's default.
fn udp_batching_flag() -> Vec<String> {
    match std::env::var("ANCHORAGE_E2E_UDP_BATCHING") {
        Ok(value) => vec!["--udp-batching".to_owned(), value],
        Err(_) => Vec::new(),
    }
}

fn query(id: u16, name: &str, rtype: RecordType, edns: bool) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        e.set_dnssec_ok(true);
        msg.set_edns(e);
    }
    msg.to_vec().unwrap()
}

fn udp(packet: &[u8]) -> Option<Message> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    socket.send_to(packet, RESOLVER).unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Message::from_vec(&buf[..n]).ok()
}

fn tcp(packet: &[u8]) -> Message {
    use std::io::{Read, Write};
    let addr: SocketAddr = RESOLVER.parse().unwrap();
    let mut stream = std::net::TcpStream::connect_timeout(&addr, EXCHANGE).unwrap();
    stream.set_read_timeout(Some(EXCHANGE)).unwrap();
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut msg).unwrap();
    Message::from_vec(&msg).unwrap()
}

/// A UDP exchange that retries a few times (the first query for a name
/// may take a full resolution).
fn ask(id: u16, name: &str, rtype: RecordType, edns: bool) -> Message {
    let packet = query(id, name, rtype, edns);
    let deadline = Instant::now() + EXCHANGE;
    loop {
        if let Some(reply) = udp(&packet) {
            return reply;
        }
        assert!(Instant::now() < deadline, "no answer for {name} {rtype}");
    }
}

#[test]
fn stub_clients_get_answers_for_every_category_and_sigterm_drains() {
    let testbed = Testbed::start_with_threads(
        build(HierarchyConfig {
            seed: 5,
            zones: 20,
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
    let dir = std::env::temp_dir().join(format!("anchorage-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut resolver = start(&testbed, &dir);

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
            let reply = ask(id, &entry.name, rtype, id % 2 == 0);
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
                    assert!(reply.answers.iter().all(|r| r.record_type() != rtype));
                }
                _ => {
                    assert_eq!(
                        reply.response_code,
                        ResponseCode::NoError,
                        "{} {rtype}",
                        entry.name
                    );
                    assert!(
                        reply.answers.iter().any(|r| r.record_type() == rtype),
                        "{} {rtype}",
                        entry.name
                    );
                }
            }
            // The same question over TCP, now from the cache.
            let again = tcp(&query(id, &entry.name, rtype, false));
            assert_eq!(again.response_code, reply.response_code);
        }
    }

    // The testbed's large TXT set: truncated over UDP without EDNS, whole over TCP.
    let big = "big.z0.com.";
    let truncated = ask(1, big, RecordType::TXT, false);
    assert!(truncated.truncation, "a 512-byte client gets TC");
    let whole = tcp(&query(2, big, RecordType::TXT, false));
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
    assert!(udp(&query(4, "www.z0.com.", RecordType::A, false)).is_some());

    check_bogus_zones(&manifest);

    // ANY is answered per RFC 8482, without going upstream.
    let any = ask(5, "z1.com.", RecordType::ANY, false);
    assert_eq!(any.answers.len(), 1);
    assert_eq!(any.answers[0].record_type(), RecordType::HINFO);

    stop_with_sigterm(&mut resolver);
    testbed.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Broken signatures and keys give SERVFAIL with an Extended DNS Error;
/// unsupported algorithms give an answer without AD.
fn check_bogus_zones(manifest: &Manifest) {
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
        let packet = query(7, &entry.name, rtype, true);
        let reply = ask_raw(&packet);
        let msg = Message::from_vec(&reply).unwrap();
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
        let reply = ask(8, &entry.name, RecordType::A, true);
        assert_eq!(reply.response_code, ResponseCode::NoError, "{}", entry.name);
        assert!(!reply.authentic_data);
    }
}

/// Raw reply bytes for `packet`, retried within the exchange bound.
fn ask_raw(packet: &[u8]) -> Vec<u8> {
    let deadline = Instant::now() + EXCHANGE;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    loop {
        socket.send_to(packet, RESOLVER).unwrap();
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            return buf[..n].to_vec();
        }
        assert!(Instant::now() < deadline, "no answer");
    }
}

/// Sends SIGTERM and expects a clean exit within a bound.
fn stop_with_sigterm(resolver: &mut Resolver) {
    let mut child = resolver.0.take().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "anchorage did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn bad_configuration_is_one_sentence_and_a_nonzero_exit() {
    let dir = std::env::temp_dir().join(format!("anchorage-cfg-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "listen = [\"nowhere\"]\ncache-size = \"lots\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_anchorage"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1: listen address \"nowhere\""),
        "{stderr}"
    );
    assert!(stderr.contains("line 2: cache-size"), "{stderr}");
    // Starting with it fails the same way, before binding anything.
    let out = Command::new(env!("CARGO_BIN_EXE_anchorage"))
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // An address already in use: one sentence, non-zero exit. Loopback
    // hints, so even a mistake here could not query the real root.
    let hints = dir.join("root.hints");
    std::fs::write(
        &hints,
        ". 3600 IN NS a.root.lab.\na.root.lab. 3600 IN A 127.0.0.9\n",
    )
    .unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_anchorage"))
        .args([
            "--listen",
            &addr,
            "--threads",
            "1",
            "--allow-loopback-upstreams",
        ])
        .arg("--root-hints")
        .arg(&hints)
        .arg("--state-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on UDP {addr}")),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
