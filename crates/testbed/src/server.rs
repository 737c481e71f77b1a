//! The authoritative servers: per address one UDP socket and one TCP
//! listener (tokio), a catalog of the zones served there, and a
//! [`Behaviour`] that is normal or one of the server defects.
//!
//! Sockets are bound before the runtime starts, so a taken address or a
//! privileged port is an error from [`spawn`], not a log line.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use anchorage_wire::QueryView;
use anchorage_wire::canonical::write_canonical_name;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::RecordType;
use anchorage_wire::response::{error_reply, rejection_reply, truncate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

use crate::authority::Authority;
use crate::defects::{Defect, spoofed_question};

/// Largest DNS message (RFC 1035 §4.2.2: two-byte length prefix over TCP).
pub const MAX_MESSAGE: usize = 65_535;
/// How long an idle TCP connection is kept open (RFC 7766 §6.2.3).
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Byte of the header flags holding TC (RFC 1035 §4.1.1).
const FLAGS_HIGH: usize = 2;
const FLAG_TC_HIGH: u8 = 0x02;
/// Byte of the header flags holding RA; authoritative servers do not
/// offer recursion.
const FLAGS_LOW: usize = 3;
const FLAG_RA_LOW: u8 = 0x80;
/// What the [`Behaviour::WrongId`] server XORs into the message ID.
pub const WRONG_ID_MASK: u16 = 0x5a5a;
/// Most labels in a name (RFC 1035 §2.3.4).
const MAX_LABELS: usize = 128;

/// How a server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Correct answers.
    Normal,
    /// REFUSED to everything (lame delegation).
    Refused,
    /// No answer at all.
    Unresponsive,
    /// Empty UDP answers with TC set; TCP is normal.
    AlwaysTruncated,
    /// Correct answers plus forged out-of-bailiwick records in authority
    /// and additional (the zone's [`Authority`] is made poisoned).
    OutOfBailiwick,
    /// Correct answers under a wrong message ID.
    WrongId,
    /// Correct answers echoing a different question.
    WrongQuestion,
}

impl Behaviour {
    /// The behaviour of a server for a zone with `defect`.
    pub fn for_defect(defect: Option<Defect>) -> Self {
        match defect {
            Some(Defect::Lame) => Self::Refused,
            Some(Defect::Unresponsive) => Self::Unresponsive,
            Some(Defect::AlwaysTruncated) => Self::AlwaysTruncated,
            Some(Defect::OutOfBailiwick) => Self::OutOfBailiwick,
            Some(Defect::WrongId) => Self::WrongId,
            Some(Defect::WrongQuestion) => Self::WrongQuestion,
            _ => Self::Normal,
        }
    }
}

/// A zone that can be swapped while served (for key rollover).
pub type SharedZone = Arc<RwLock<Arc<Authority>>>;

/// The zones served at one address, by lower-case apex in wire form.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    zones: HashMap<Box<[u8]>, SharedZone>,
}

impl Catalog {
    /// Adds a zone.
    pub fn insert(&mut self, zone: SharedZone) {
        let mut apex = Vec::new();
        write_canonical_name(
            zone.read()
                .unwrap_or_else(PoisonError::into_inner)
                .zone()
                .origin(),
            &mut apex,
        );
        self.zones.insert(apex.into_boxed_slice(), zone);
    }

    /// The zone to answer `qname` (lower-case wire form) and `qtype` from:
    /// the deepest enclosing zone, but the parent for DS at a child's apex
    /// (RFC 4035 §3.1.4.1).
    pub fn find(&self, qname: &[u8], qtype: RecordType) -> Option<&SharedZone> {
        let mut starts = [0usize; MAX_LABELS];
        let mut labels = 0;
        let mut pos = 0;
        while let Some(&len) = qname.get(pos) {
            if labels == MAX_LABELS {
                return None;
            }
            starts[labels] = pos;
            labels += 1;
            if len == 0 {
                break;
            }
            pos += 1 + usize::from(len);
        }
        // `starts` ends with the root label; the first entry is the whole
        // name, which is skipped for DS unless it is the root.
        let skip_apex = qtype == RecordType::DS && labels > 1;
        starts[..labels]
            .iter()
            .skip(usize::from(skip_apex))
            .find_map(|&start| self.zones.get(&qname[start..]))
    }
}

/// Most queries a [`QueryLog`] keeps; later ones are not recorded.
pub const MAX_LOGGED_QUERIES: usize = 100_000;

/// The questions servers received, for tests that check what a resolver
/// asked (RFC 8145 signals, for one). Off until [`QueryLog::record`]:
/// while off, answering costs one atomic load and allocates nothing.
#[derive(Debug, Default)]
pub struct QueryLog {
    on: AtomicBool,
    seen: Mutex<Vec<LoggedQuery>>,
}

/// One logged question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedQuery {
    /// The server that received it.
    pub server: SocketAddr,
    /// QNAME, lower case, with the trailing dot.
    pub qname: String,
    /// QTYPE.
    pub qtype: RecordType,
}

impl QueryLog {
    /// Starts or stops recording.
    pub fn record(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// The questions recorded so far.
    pub fn queries(&self) -> Vec<LoggedQuery> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn note(&self, server: SocketAddr, query: &QueryView) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() < MAX_LOGGED_QUERIES {
            seen.push(LoggedQuery {
                server,
                qname: query.qname_lower().to_string(),
                qtype: RecordType::from(query.qtype()),
            });
        }
    }
}

/// One server to start.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    /// What it serves.
    pub catalog: Arc<Catalog>,
    /// How it answers.
    pub behaviour: Behaviour,
    /// Where it notes the questions it gets, if anywhere.
    pub log: Option<Arc<QueryLog>>,
}

/// Why servers could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A socket could not be bound.
    #[error("cannot bind {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The runtime could not start.
    #[error("cannot start the server runtime")]
    Runtime(#[source] std::io::Error),
}

/// Running servers; dropping it or calling [`Running::stop`] stops them.
#[derive(Debug)]
pub struct Running {
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops every server and waits for them.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Binds every server, then serves them on a background runtime with
/// `threads` worker threads.
pub fn spawn(specs: Vec<ServerSpec>, threads: usize) -> Result<Running, ServeError> {
    let mut bound = Vec::with_capacity(specs.len());
    for spec in specs {
        let bind = |source| ServeError::Bind {
            addr: spec.addr,
            source,
        };
        let udp = std::net::UdpSocket::bind(spec.addr).map_err(bind)?;
        udp.set_nonblocking(true).map_err(bind)?;
        let tcp = std::net::TcpListener::bind(spec.addr).map_err(bind)?;
        tcp.set_nonblocking(true).map_err(bind)?;
        bound.push((spec, udp, tcp));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let (shutdown, watcher) = watch::channel(false);
    let thread = std::thread::spawn(move || {
        runtime.block_on(async move {
            let mut tasks = Vec::new();
            for (spec, udp, tcp) in bound {
                let (Ok(udp), Ok(tcp)) = (UdpSocket::from_std(udp), TcpListener::from_std(tcp))
                else {
                    continue;
                };
                let udp_spec = spec.clone();
                tasks.push(tokio::spawn(serve_udp(udp, udp_spec, watcher.clone())));
                tasks.push(tokio::spawn(serve_tcp(tcp, spec, watcher.clone())));
            }
            for task in tasks {
                let _ = task.await;
            }
        });
    });
    Ok(Running {
        shutdown,
        thread: Some(thread),
    })
}

async fn serve_udp(socket: UdpSocket, spec: ServerSpec, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut out = Vec::with_capacity(MAX_MESSAGE);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            received = socket.recv_from(&mut buf) => {
                let Ok((len, peer)) = received else { continue };
                if handle(&spec, &buf[..len], true, &mut out) {
                    let _ = socket.send_to(&out, peer).await;
                }
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, spec: ServerSpec, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(serve_connection(stream, spec.clone(), stop.clone()));
                }
            }
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    spec: ServerSpec,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut out = Vec::with_capacity(MAX_MESSAGE);
    loop {
        let mut len = [0u8; 2];
        let read = tokio::select! {
            _ = stop.changed() => return,
            read = tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut len)) => read,
        };
        if !matches!(read, Ok(Ok(_))) {
            return;
        }
        let len = usize::from(u16::from_be_bytes(len));
        if stream.read_exact(&mut buf[..len]).await.is_err() {
            return;
        }
        if handle(&spec, &buf[..len], false, &mut out) {
            let prefix = (out.len() as u16).to_be_bytes();
            if stream.write_all(&prefix).await.is_err() || stream.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

/// Builds the reply to `msg` in `out`; false when nothing is to be sent.
pub fn handle(spec: &ServerSpec, msg: &[u8], udp: bool, out: &mut Vec<u8>) -> bool {
    let query = match QueryView::parse(msg) {
        Ok(query) => query,
        Err(error) => return rejection_reply(msg, &error, out),
    };
    if let Some(log) = &spec.log {
        log.note(spec.addr, &query);
    }
    match spec.behaviour {
        Behaviour::Unresponsive => return false,
        Behaviour::Refused => {
            error_reply(&query, ResponseCode::Refused, None, out);
            clear_ra(out);
            return true;
        }
        Behaviour::AlwaysTruncated if udp => {
            error_reply(&query, ResponseCode::NoError, None, out);
            clear_ra(out);
            out[FLAGS_HIGH] |= FLAG_TC_HIGH;
            return true;
        }
        _ => {}
    }
    let qname = query.qname_lower();
    let qtype = query.qtype();
    let Some(shared) = spec.catalog.find(qname.as_bytes(), RecordType::from(qtype)) else {
        error_reply(&query, ResponseCode::Refused, None, out);
        clear_ra(out);
        return true;
    };
    let authority = shared
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let rendered = if spec.behaviour == Behaviour::WrongQuestion {
        // A forged question needs a body encoded behind it: no cache.
        let mut spoofed = Vec::new();
        write_canonical_name(&spoofed_question(authority.zone().origin()), &mut spoofed);
        authority
            .prepare(qname, qtype, query.dnssec_ok(), &spoofed)
            .ok()
            .and_then(|prepared| prepared.render(&query, &spoofed, out).ok())
    } else {
        authority
            .reply(qname, qtype, query.dnssec_ok())
            .ok()
            .and_then(|prepared| prepared.render(&query, query.qname().as_bytes(), out).ok())
    };
    if rendered.is_none() {
        error_reply(&query, ResponseCode::ServFail, None, out);
        clear_ra(out);
        return true;
    }
    if spec.behaviour == Behaviour::WrongId {
        let id = query.id() ^ WRONG_ID_MASK;
        out[0..2].copy_from_slice(&id.to_be_bytes());
    }
    if udp {
        let _ = truncate(out, query.max_udp_reply());
    }
    true
}

/// Clears RA in a reply the wire crate wrote for a recursive server.
fn clear_ra(out: &mut [u8]) {
    if let Some(flags) = out.get_mut(FLAGS_LOW) {
        *flags &= !FLAG_RA_LOW;
    }
}
