//! The authoritative servers: per address one UDP socket and one TCP
//! listener (tokio), a catalog of the zones served there, and a
//! [`Behaviour`] that is normal or one of the server defects.
//!
//! Sockets are bound before the runtime starts, so a taken address or a
//! privileged port is an error from [`spawn`], not a log line.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anchorage_wire::QueryView;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::rdata::A;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};
use anchorage_wire::proto::serialize::binary::{BinEncodable, BinEncoder};
use anchorage_wire::response::{
    ReplyOpt, error_reply, rejection_reply, set_authoritative, set_counts, start_reply, truncate,
    write_opt,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

use crate::answer::answer;
use crate::defects::{Defect, spoofed_question};
use crate::zone::Zone;

/// Largest DNS message (RFC 1035 §4.2.2: two-byte length prefix over TCP).
pub const MAX_MESSAGE: usize = 65_535;
/// How long an idle TCP connection is kept open (RFC 7766 §6.2.3).
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Byte of the header flags holding RA (RFC 1035 §4.1.1); authoritative
/// servers do not offer recursion.
const FLAGS_LOW: usize = 3;
const FLAG_RA_LOW: u8 = 0x80;
const FLAG_TC_HIGH: u8 = 0x02;
/// Address the [`Behaviour::OutOfBailiwick`] server claims for `ns1.com.`.
pub const POISON_ADDRESS: [u8; 4] = [127, 66, 6, 6];

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
    /// Correct answers plus an out-of-bailiwick A record in additional.
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
pub type SharedZone = Arc<RwLock<Zone>>;

/// The zones served at one address, by lower-case apex.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    zones: HashMap<Name, SharedZone>,
}

impl Catalog {
    /// Adds a zone.
    pub fn insert(&mut self, zone: SharedZone) {
        let origin = zone
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .origin()
            .to_lowercase();
        self.zones.insert(origin, zone);
    }

    /// The zone to answer `qname`/`qtype` from: the deepest enclosing zone,
    /// but the parent for DS at a child's apex (RFC 4035 §3.1.4.1).
    pub fn find(&self, qname: &Name, qtype: RecordType) -> Option<&SharedZone> {
        let labels = crate::zone::label_count(qname);
        let mut skip_apex = qtype == RecordType::DS && !qname.is_root();
        (0..=labels).rev().find_map(|n| {
            let zone = self.zones.get(&qname.trim_to(n));
            if zone.is_some() && skip_apex && n == labels {
                skip_apex = false;
                return None;
            }
            zone
        })
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
    match spec.behaviour {
        Behaviour::Unresponsive => return false,
        Behaviour::Refused => {
            error_reply(&query, ResponseCode::Refused, None, out);
            return true;
        }
        Behaviour::AlwaysTruncated if udp => {
            error_reply(&query, ResponseCode::NoError, None, out);
            out[2] |= FLAG_TC_HIGH;
            return true;
        }
        _ => {}
    }
    let Ok(qname) = Name::from_labels(query.qname_lower().labels()) else {
        error_reply(&query, ResponseCode::FormErr, None, out);
        return true;
    };
    let qtype = RecordType::from(query.qtype());
    let Some(shared) = spec.catalog.find(&qname, qtype) else {
        error_reply(&query, ResponseCode::Refused, None, out);
        return true;
    };
    let mut reply = {
        let zone = shared.read().unwrap_or_else(PoisonError::into_inner);
        answer(&zone, &qname, qtype, query.dnssec_ok())
    };
    if spec.behaviour == Behaviour::OutOfBailiwick
        && let Ok(victim) = Name::from_ascii("ns1.com.")
    {
        reply.additional.push(Record::from_rdata(
            victim,
            86_400,
            RData::A(A::from(std::net::Ipv4Addr::from(POISON_ADDRESS))),
        ));
    }
    start_reply(&query, reply.rcode, out);
    out[FLAGS_LOW] &= !FLAG_RA_LOW;
    set_authoritative(out, reply.authoritative);
    if spec.behaviour == Behaviour::WrongQuestion {
        out.truncate(anchorage_wire::query::HEADER_LEN);
        let spoofed = spoofed_question(&qname);
        let mut wire = Vec::new();
        anchorage_wire::canonical::write_canonical_name(&spoofed, &mut wire);
        out.extend_from_slice(&wire);
        out.extend_from_slice(&query.qtype().to_be_bytes());
        out.extend_from_slice(&query.qclass().to_be_bytes());
    }
    let counts = {
        let offset = out.len() as u32;
        let mut encoder = BinEncoder::with_offset(out, offset);
        let mut emit = |records: &[Record]| {
            records
                .iter()
                .filter(|r| r.emit(&mut encoder).is_ok())
                .count() as u16
        };
        (
            emit(&reply.answer),
            emit(&reply.authority),
            emit(&reply.additional),
        )
    };
    let mut arcount = counts.2;
    if let Some(edns) = query.edns() {
        write_opt(
            out,
            &ReplyOpt {
                dnssec_ok: edns.dnssec_ok(),
                ..ReplyOpt::default()
            },
        );
        arcount += 1;
    }
    set_counts(out, counts.0, counts.1, arcount);
    if spec.behaviour == Behaviour::WrongId {
        let id = query.id() ^ 0x5a5a;
        out[0..2].copy_from_slice(&id.to_be_bytes());
    }
    if udp {
        let _ = truncate(out, query.max_udp_reply());
    }
    true
}
