//! The lab every test of the binary shares: a loopback testbed signed
//! around now, `anchorage` started on it with its stderr read line by
//! line, DNS, HTTP and command exchanges bounded in time. Each test file
//! keeps its own loopback block and ports, so the files run in parallel.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
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
/// Signature lifetime of a lab testbed: longer than any test.
pub const LIFETIME: u32 = 30 * 86_400;
/// Loopback hints where nothing answers: start-up tests need no testbed.
pub const DEAD_HINTS: &str = ". 3600 IN NS a.root.lab.\na.root.lab. 3600 IN A 127.0.0.9\n";

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

/// Signatures from an hour ago until `lifetime` seconds from now: the
/// resolver validates on the real clock.
pub fn validity(lifetime: u32) -> Validity {
    Validity::around(unix_now(), 3600, lifetime)
}

/// What a lab testbed holds (its addresses aside).
#[derive(Debug, Clone, Copy)]
pub struct Hierarchy {
    /// Seed of its keys and names.
    pub seed: u64,
    /// Second-level zones (the ninth is the first insecure one).
    pub zones: usize,
    /// Signature lifetime from now, in seconds.
    pub lifetime: u32,
    /// Whether the defect zones are served too.
    pub defects: bool,
}

impl Default for Hierarchy {
    fn default() -> Self {
        Self {
            seed: 8145,
            zones: 4,
            lifetime: LIFETIME,
            defects: false,
        }
    }
}

/// A small signed hierarchy on 127.`net`.x.y:`port`, signed around now.
pub fn start_testbed(net: u8, port: u16) -> Testbed {
    start_testbed_with(net, port, Hierarchy::default())
}

/// `hierarchy` served on 127.`net`.x.y:`port`, one thread per server.
pub fn start_testbed_with(net: u8, port: u16, hierarchy: Hierarchy) -> Testbed {
    Testbed::start_with_threads(
        build(HierarchyConfig {
            seed: hierarchy.seed,
            zones: hierarchy.zones,
            addresses: AddressPlan { net, port },
            validity: validity(hierarchy.lifetime),
            defects: hierarchy.defects,
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

/// Starts `anchorage` with `args` alone, logging at info; `listen` is
/// where the arguments make it answer DNS.
pub fn spawn(listen: &str, args: &[String]) -> Resolver {
    let mut child = Command::new(env!("CARGO_BIN_EXE_anchorage"))
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
    Resolver {
        child: Some(child),
        lines,
        seen: Vec::new(),
        listen: listen.to_owned(),
    }
}

/// Starts `anchorage` on `listen` with `hints` (written to `dir`), loopback
/// upstreams on `upstream_port` and two threads, then `args`; never the
/// real root.
pub fn spawn_with_hints(
    dir: &Path,
    hints: &str,
    upstream_port: u16,
    listen: &str,
    args: &[String],
) -> Resolver {
    let hints_path = dir.join("root.hints");
    std::fs::write(&hints_path, hints).unwrap();
    let mut all: Vec<String> = [
        "--threads",
        "2",
        "--allow-loopback-upstreams",
        "--listen",
        listen,
        "--upstream-port",
        &upstream_port.to_string(),
        "--root-hints",
    ]
    .map(str::to_owned)
    .into();
    all.push(hints_path.display().to_string());
    all.extend_from_slice(args);
    spawn(listen, &all)
}

/// Starts `anchorage` on `testbed` (its hints and anchor, state in `dir`
/// unless `args` say otherwise) listening on `listen`, with `args` after
/// the basics; returns once it serves. The anchor file is written at the
/// first start in `dir` only: a restart after a key roll keeps the old
/// anchor, as an operator's file would.
pub fn start(testbed: &Testbed, dir: &Path, listen: &str, args: &[String]) -> Resolver {
    let anchor = dir.join("root.anchor");
    if !anchor.exists() {
        std::fs::write(&anchor, testbed.trust_anchor()).unwrap();
    }
    let mut all = vec!["--trust-anchor".to_owned(), anchor.display().to_string()];
    if !args.iter().any(|a| a == "--state-dir") {
        all.extend(["--state-dir".to_owned(), dir.display().to_string()]);
    }
    all.extend_from_slice(args);
    let port = testbed.config().addresses.port;
    let mut resolver = spawn_with_hints(dir, &testbed.root_hints(), port, listen, &all);
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

    /// Asks `name` `rtype` with DO set; see [`Resolver::exchange`].
    pub fn ask(&self, id: u16, name: &str, rtype: RecordType) -> Message {
        self.exchange(&query(id, name, rtype, true))
    }

    /// Sends `packet` over UDP, again each half second until a reply or
    /// [`EXCHANGE`]; the reply, which must carry the query's ID.
    pub fn exchange(&self, packet: &[u8]) -> Message {
        let id = u16::from_be_bytes([packet[0], packet[1]]);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let deadline = Instant::now() + EXCHANGE;
        let mut buf = vec![0u8; 65_535];
        loop {
            socket.send_to(packet, &self.listen).unwrap();
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                let reply = Message::from_vec(&buf[..n]).unwrap();
                assert_eq!(reply.id, id, "the reply carries the query's ID");
                return reply;
            }
            if Instant::now() >= deadline {
                let question = Message::from_vec(packet).ok().map(|m| m.queries);
                panic!("no answer to {question:?} within {EXCHANGE:?}");
            }
        }
    }

    /// Sends `packet` over TCP (length-prefixed); the reply, within [`EXCHANGE`].
    pub fn exchange_tcp(&self, packet: &[u8]) -> Message {
        let addr: SocketAddr = self.listen.parse().unwrap();
        let mut stream = TcpStream::connect_timeout(&addr, EXCHANGE).unwrap();
        stream.set_read_timeout(Some(EXCHANGE)).unwrap();
        let mut framed = u16::try_from(packet.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(packet);
        stream.write_all(&framed).unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).unwrap();
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut msg).unwrap();
        Message::from_vec(&msg).unwrap()
    }

    /// SIGTERM, then a clean exit within [`EVENT`].
    pub fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let status = wait_exit(&mut child, "anchorage did not stop on SIGTERM");
        assert!(status.success(), "exit status {status}");
    }

    /// Waits for the exit of a resolver expected to refuse to start; its
    /// stderr.
    pub fn refused(mut self) -> String {
        let mut child = self.child.take().unwrap();
        let status = wait_exit(&mut child, "anchorage did not exit");
        assert!(!status.success(), "exit status {status}");
        let mut stderr = std::mem::take(&mut self.seen);
        stderr.extend(self.lines.iter());
        stderr.join("\n")
    }
}

/// The exit status of `child`, which must come within [`EVENT`].
fn wait_exit(child: &mut Child, late: &str) -> ExitStatus {
    let deadline = Instant::now() + EVENT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "{late}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A recursive query for `name` `rtype`; with `dnssec_ok`, EDNS with DO
/// and a 1232-byte payload, else no EDNS at all.
pub fn query(id: u16, name: &str, rtype: RecordType, dnssec_ok: bool) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if dnssec_ok {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(true);
        msg.set_edns(edns);
    }
    msg.to_vec().unwrap()
}

/// Whether the answer section of `reply` holds a record of `rtype`.
pub fn answers_with(reply: &Message, rtype: RecordType) -> bool {
    reply.answers.iter().any(|r| r.record_type() == rtype)
}

/// Runs `anchorage` with `args` to its end (a command such as
/// `check-config`, or a start expected to fail); what it printed.
pub fn run<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anchorage"))
        .args(args)
        .output()
        .unwrap()
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
