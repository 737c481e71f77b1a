//! An independent validating resolver (Debian's unbound), given only the
//! testbed's root hints and trust anchor, finds a secure, an insecure and
//! a bogus name as such, RSASHA1 zones secure, and gives its verdict on
//! every defect it can judge. Servers listen on 127.97.x.y port 53 (unbound
//! sends to port 53 only), so this test needs root; unbound listens on
//! 127.97.255.1 and never sends a packet off loopback (`do-ip6: no`, the
//! hints name only 127.97.0.1).

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anchorage_testbed::output::write_outputs;
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::serialize::binary::BinDecodable;

const NOW: u32 = 1_800_000_000;
/// unbound's `val-override-date` for NOW (2027-01-15 08:00:00 UTC).
const NOW_TEXT: &str = "20270115080000";
const UNBOUND: &str = "127.97.255.1";
const UNBOUND_PORT: u16 = 5397;
/// Most tries while unbound starts or resolves (one per RETRY_WAIT).
const MAX_TRIES: usize = 40;
const RETRY_WAIT: Duration = Duration::from_millis(250);

/// What a validating resolver should make of a name.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// NOERROR with AD.
    Secure,
    /// NOERROR without AD.
    Insecure,
    /// NXDOMAIN without AD.
    InsecureNxdomain,
    /// SERVFAIL.
    Bogus,
}

/// unbound's verdicts. The defects it cannot judge in bounded time (no
/// reply, wrong ID, wrong question: each costs it timeouts) are shown
/// served in tests/defects.rs instead.
const EXPECTED: [(&str, Verdict); 18] = [
    // RSASHA1 (z5, NSEC) and RSASHA1-NSEC3-SHA1 (z7, NSEC3).
    ("www.z5.com.", Verdict::Secure),
    ("www.z7.org.", Verdict::Secure),
    ("www.d-bad-signature.com.", Verdict::Bogus),
    ("www.d-expired-rrsig.com.", Verdict::Bogus),
    ("www.d-not-yet-valid-rrsig.com.", Verdict::Bogus),
    ("www.d-ds-mismatch.com.", Verdict::Bogus),
    ("www.d-dnskey-signed-by-zsk-only.com.", Verdict::Bogus),
    ("www.d-missing-rrsigs.com.", Verdict::Bogus),
    ("nonexistent.d-missing-denial.com.", Verdict::Bogus),
    ("loop1.d-cname-loop.com.", Verdict::Bogus),
    // unbound (OpenSSL 3) implements Ed448, so the random signatures are
    // bogus to it; a validator without Ed448 finds the zone insecure.
    ("www.d-unsupported-algorithm.com.", Verdict::Bogus),
    ("www.d-private-algorithm.com.", Verdict::Insecure),
    ("www.d-unsupported-digest.com.", Verdict::Insecure),
    (
        "nonexistent.d-nsec3-500-iterations.com.",
        Verdict::InsecureNxdomain,
    ),
    ("www.d-keytrap.com.", Verdict::Bogus),
    ("www.d-lame.com.", Verdict::Bogus),
    ("www.d-always-truncated.com.", Verdict::Secure),
    ("www.d-out-of-bailiwick.com.", Verdict::Secure),
];

/// Stops unbound by PID when the test ends, however it ends.
struct Unbound(Child);

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ask(name: &str) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut q = vec![0x42, 0x42, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    let server: SocketAddr = format!("{UNBOUND}:{UNBOUND_PORT}").parse().ok()?;
    socket.send_to(&q, server).ok()?;
    let mut buf = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    Message::from_bytes(&buf[..len]).ok()
}

fn resolve(name: &str) -> Message {
    for _ in 0..MAX_TRIES {
        if let Some(m) = ask(name) {
            return m;
        }
        std::thread::sleep(RETRY_WAIT);
    }
    panic!("unbound never answered for {name}");
}

#[test]
fn unbound_finds_secure_insecure_and_bogus_names() {
    let dir = std::env::temp_dir().join(format!("testbed-unbound-{}", std::process::id()));
    let hierarchy = build(HierarchyConfig {
        seed: 5,
        zones: 10,
        addresses: AddressPlan { net: 97, port: 53 },
        validity: Validity::around(NOW, 86_400, 30 * 86_400),
        defects: true,
    })
    .unwrap();
    let paths = write_outputs(&hierarchy, &dir).unwrap();
    let testbed = Testbed::start_with_threads(hierarchy, 1).expect("binding port 53 needs root");
    let config = dir.join("unbound.conf");
    std::fs::write(
        &config,
        format!(
            "server:\n  interface: {UNBOUND}\n  port: {UNBOUND_PORT}\n  do-ip6: no\n  do-ip4: yes\n  \
             do-not-query-localhost: no\n  root-hints: \"{}\"\n  trust-anchor-file: \"{}\"\n  \
             val-override-date: \"{NOW_TEXT}\"\n  username: \"\"\n  chroot: \"\"\n  directory: \"{}\"\n  \
             pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  qname-minimisation: no\n  \
             module-config: \"validator iterator\"\n  num-threads: 1\n  \
             access-control: 127.0.0.0/8 allow\nremote-control:\n  control-enable: no\n",
            paths.root_hints.display(),
            paths.anchor.display(),
            dir.display()
        ),
    )
    .unwrap();
    let check = Command::new("unbound-checkconf")
        .arg(&config)
        .output()
        .expect("unbound must be installed");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let _unbound = Unbound(
        Command::new("unbound")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound must be installed: run deploy/install-test-deps.sh"),
    );

    let secure = resolve("www.z0.com.");
    assert_eq!(secure.metadata.response_code, ResponseCode::NoError);
    assert!(
        secure.metadata.authentic_data,
        "www.z0.com. should be secure"
    );
    assert!(!secure.answers.is_empty());

    // z8 is the first unsigned zone (one in nine), under xn--j6w193g.
    let insecure = resolve("www.z8.xn--j6w193g.");
    assert_eq!(insecure.metadata.response_code, ResponseCode::NoError);
    assert!(!insecure.metadata.authentic_data, "z8 should be insecure");
    assert!(!insecure.answers.is_empty());

    let bogus = resolve("www.d-bad-signature.com.");
    assert_eq!(bogus.metadata.response_code, ResponseCode::ServFail);

    // Every verdict at once: unbound resolves them in parallel.
    let verdicts: Vec<(&str, Verdict, Message)> = std::thread::scope(|scope| {
        let asks: Vec<_> = EXPECTED
            .iter()
            .map(|&(name, verdict)| scope.spawn(move || (name, verdict, resolve(name))))
            .collect();
        asks.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (name, verdict, reply) in &verdicts {
        let got = (reply.metadata.response_code, reply.metadata.authentic_data);
        let wanted = match verdict {
            Verdict::Secure => (ResponseCode::NoError, true),
            Verdict::Insecure => (ResponseCode::NoError, false),
            Verdict::InsecureNxdomain => (ResponseCode::NXDomain, false),
            Verdict::Bogus => (ResponseCode::ServFail, false),
        };
        assert_eq!(got, wanted, "{name}: wanted {verdict:?}");
    }
    // After the poisoning server was asked, ns1.com. still has its real
    // address: unbound dropped the out-of-bailiwick records.
    let ns1 = resolve(anchorage_testbed::authority::POISON_HOST);
    assert!(ns1.metadata.authentic_data);
    let poisoned = anchorage_testbed::authority::POISON_ADDRESS;
    assert!(!ns1.answers.is_empty());
    assert!(
        ns1.answers
            .iter()
            .all(|r| r.data != anchorage_wire::proto::rr::RData::A(poisoned.into())),
        "{:?}",
        ns1.answers
    );

    testbed.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}
