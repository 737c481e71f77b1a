//! The lab shared by metrics.rs and signals.rs: a loopback testbed in
//! 127.41.0.0/16, `anchorage` started on it with its stderr read line by
//! line, DNS and HTTP exchanges bounded in time.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use anchorage_trust::anchors_from_text;
use anchorage_wire::proto::op::{Edns, Message, MessageType, OpCode, Query};
use anchorage_wire::proto::rr::{Name, RecordType};

/// Longest wait for a log line, a start or an exit.
pub const EVENT: Duration = Duration::from_secs(30);
/// Longest wait for one DNS reply or one HTTP response.
pub const EXCHANGE: Duration = Duration::from_secs(10);

/// Timer flags for a lab: probes every half second.
pub fn lab_timers() -> Vec<String> {
    [
        ("--min-query-interval", "100ms"),
        ("--max-query-interval", "500ms"),
        ("--min-retry-interval", "100ms"),
        ("--max-retry-interval", "500ms"),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value.to_owned()])
    .collect()
}

fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    u32::try_from(secs).unwrap()
}

/// A small signed hierarchy on 127.41.`net`.x.y:`port`, signed around now.
pub fn start_testbed(net: u8, port: u16) -> Testbed {
    start_testbed_zones(net, port, 4)
}

/// As [`start_testbed`] with `zones` second-level zones (the ninth is the
/// first insecure one).
pub fn start_testbed_zones(net: u8, port: u16, zones: usize) -> Testbed {
    Testbed::start_with_threads(
        build(HierarchyConfig {
            seed: 8145,
            zones,
            addresses: AddressPlan { net, port },
            validity: Validity::around(unix_now(), 3600, 30 * 86_400),
            defects: false,
        })
        .unwrap(),
        1,
    )
    .unwrap()
}

/// The tag of the testbed root's signing KSK, from its anchor text.
pub fn anchor_tag(testbed: &Testbed) -> u16 {
    anchors_from_text(&testbed.trust_anchor(), &Name::root()).unwrap()[0].tag()
}

/// A running `anchorage`; killed by PID if a test fails before stopping it.
pub struct Resolver {
    child: Option<Child>,
    lines: Receiver<String>,
    seen: Vec<String>,
    /// Where it answers DNS.
    pub listen: String,
}

impl Drop for Resolver {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `anchorage` on `testbed` (its hints and anchor, loopback
/// upstreams, state in `dir` unless `args` say otherwise) listening on
/// `listen`, with `args` after the basics; returns once it serves.
pub fn start(testbed: &Testbed, dir: &Path, listen: &str, args: &[String]) -> Resolver {
    let hints = dir.join("root.hints");
    std::fs::write(&hints, testbed.root_hints()).unwrap();
    let anchor = dir.join("root.anchor");
    std::fs::write(&anchor, testbed.trust_anchor()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_anchorage"))
        .args(["--threads", "2", "--allow-loopback-upstreams"])
        .args(["--listen", listen])
        .arg("--root-hints")
        .arg(&hints)
        .arg("--trust-anchor")
        .arg(&anchor)
        .args([
            "--upstream-port",
            &testbed.config().addresses.port.to_string(),
        ])
        .args(
            (!args.iter().any(|a| a == "--state-dir"))
                .then(|| ["--state-dir".as_ref(), dir.as_os_str()])
                .into_iter()
                .flatten(),
        )
        .args(args)
        .env("ANCHORAGE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("anchorage starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut resolver = Resolver {
        child: Some(child),
        lines,
        seen: Vec::new(),
        listen: listen.to_owned(),
    };
    resolver.wait_for("serving", |l| l.contains("serving UDP and TCP"));
    resolver
}

impl Resolver {
    /// Where the next [`Resolver::wait_since`] starts looking.
    pub fn mark(&self) -> usize {
        self.seen.len()
    }

    /// The first log line from `from` on that `matches`, waiting for it.
    pub fn wait_since(
        &mut self,
        from: usize,
        what: &str,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        if let Some(line) = self.seen[from.min(self.seen.len())..]
            .iter()
            .find(|l| matches(l))
        {
            return line.clone();
        }
        let deadline = Instant::now() + EVENT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "no log line for {what} within {EVENT:?}; log:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The first log line so far (or to come) that `matches`.
    pub fn wait_for(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        self.wait_since(0, what, matches)
    }

    /// Asks `name` `rtype` with DO set, retrying lost datagrams until [`EXCHANGE`].
    pub fn ask(&self, id: u16, name: &str, rtype: RecordType) -> Message {
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(true);
        msg.set_edns(edns);
        let packet = msg.to_vec().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let deadline = Instant::now() + EXCHANGE;
        let mut buf = vec![0u8; 65_535];
        loop {
            socket.send_to(&packet, &self.listen).unwrap();
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                let reply = Message::from_vec(&buf[..n]).unwrap();
                if reply.id == id {
                    return reply;
                }
            }
            assert!(Instant::now() < deadline, "no answer for {name} {rtype}");
        }
    }
}

/// `GET path` over plain TCP (HTTP/1.1, connection closed after): the
/// status line and the body.
pub fn http_get(addr: &str, path: &str) -> (String, String) {
    let addr: SocketAddr = addr.parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&addr, EXCHANGE).unwrap();
    stream.set_read_timeout(Some(EXCHANGE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("an HTTP head and body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

/// The value of the sample whose name and labels start with `series`
/// (e.g. `anchorage_queries_total{transport="udp"}`), if present.
pub fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}
