//! The only I/O of the crate's core: one upstream query over UDP or TCP.
//!
//! Each UDP query goes out from a fresh socket (a random source port from
//! the kernel) connected to the server, so the kernel drops datagrams
//! from any other address or port, with a random ID and, when asked, a
//! random 0x20 case in the name (draft-vixie-dnsext-dns0x20). A reply is
//! accepted only from the address and port queried, with the same ID and
//! the same question, case included; anything else is dropped and
//! counted, and we keep listening until the timeout (RFC 5452 §9.1).
//! Receive buffers come from a small pool and are never zeroed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use anchorage_wire::name::read_name;
use anchorage_wire::proto::op::{Edns, Message, MessageType, OpCode, Query};
use anchorage_wire::proto::rr::Name;
use anchorage_wire::query::HEADER_LEN;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use crate::walk::{Exchange, Outgoing, Protocol};

/// Largest DNS message (RFC 1035 §4.2.2, two-byte TCP length).
pub const MAX_MESSAGE: usize = 65_535;
/// Receive buffers kept for reuse; more in flight at once are allocated
/// and dropped after use.
const POOLED_BUFFERS: usize = 64;
/// Header flag QR (RFC 1035 §4.1.1), in the high byte of the flags.
const FLAG_QR_HIGH: u8 = 0x80;

/// Why a query could not be built (never sent).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// hickory-proto could not encode the query.
    #[error("cannot encode the query for {name}")]
    Encode {
        /// The name.
        name: String,
    },
    /// The random source failed.
    #[error("no randomness for the query ID")]
    Random,
}

/// Counters of what the transport sent and dropped.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Queries sent over UDP.
    pub udp_sent: AtomicU64,
    /// Queries sent over TCP.
    pub tcp_sent: AtomicU64,
    /// Datagrams from an address or port we did not query.
    pub wrong_source: AtomicU64,
    /// Replies with another ID.
    pub wrong_id: AtomicU64,
    /// Replies to another question (name, type or class).
    pub wrong_question: AtomicU64,
    /// Replies whose question differs only in case.
    pub case_mismatch: AtomicU64,
    /// Queries that timed out.
    pub timeouts: AtomicU64,
    /// Queries refused by the loopback guard.
    pub refused_non_loopback: AtomicU64,
}

/// Sends upstream queries; cheap to share.
#[derive(Debug)]
pub struct Transport {
    payload: u16,
    loopback_only: bool,
    permits: Semaphore,
    random: SystemRandom,
    stats: TransportStats,
    /// Receive buffers of [`MAX_MESSAGE`] capacity, empty.
    buffers: Mutex<Vec<Vec<u8>>>,
}

impl Transport {
    /// A transport advertising `payload` in EDNS, with at most
    /// `max_outstanding` queries in flight.
    pub fn new(payload: u16, max_outstanding: usize) -> Self {
        Self {
            payload,
            loopback_only: false,
            permits: Semaphore::new(max_outstanding.max(1)),
            random: SystemRandom::new(),
            stats: TransportStats::default(),
            buffers: Mutex::new(Vec::new()),
        }
    }

    /// As [`Transport::new`], refusing to send anywhere but loopback: the
    /// guard every test sets, so no test can reach the internet.
    pub fn loopback_only(payload: u16, max_outstanding: usize) -> Self {
        Self {
            loopback_only: true,
            ..Self::new(payload, max_outstanding)
        }
    }

    /// Whether the loopback guard is on.
    pub fn is_loopback_only(&self) -> bool {
        self.loopback_only
    }

    /// The counters.
    pub fn stats(&self) -> &TransportStats {
        &self.stats
    }

    /// Sends one query and waits for its matching reply.
    pub async fn exchange(&self, out: &Outgoing) -> Exchange {
        if self.loopback_only && !out.server.ip().is_loopback() {
            self.stats
                .refused_non_loopback
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(server = %out.server, "loopback guard refused an upstream query");
            return Exchange::Unsent;
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return Exchange::Unsent;
        };
        let Ok((wire, sent_name)) = self.encode(out) else {
            return Exchange::Unsent;
        };
        let started = Instant::now();
        let deadline = started + out.timeout;
        let result = match out.protocol {
            Protocol::Udp => self.udp(out.server, &wire, &sent_name, deadline).await,
            Protocol::Tcp => self.tcp(out.server, &wire, &sent_name, deadline).await,
        };
        match result {
            Received::Reply(message) => Exchange::Reply {
                message,
                rtt: started.elapsed(),
            },
            Received::Timeout { case_mismatch } => {
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                if case_mismatch {
                    Exchange::CaseMismatch
                } else {
                    Exchange::Timeout
                }
            }
            Received::Unsent => Exchange::Unsent,
        }
    }

    /// The query in wire form and its question name as sent.
    fn encode(&self, out: &Outgoing) -> Result<(Vec<u8>, Vec<u8>), TransportError> {
        let mut id = [0u8; 2];
        self.random
            .fill(&mut id)
            .map_err(|_| TransportError::Random)?;
        let mut name: Name = out.question.name.to_lowercase();
        if out.randomize_case {
            name.randomize_label_case();
        }
        let mut msg = Message::new(u16::from_be_bytes(id), MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = false;
        // We validate ourselves: ask for everything, checked or not.
        msg.metadata.checking_disabled = true;
        msg.add_query(Query::query(name, out.question.qtype));
        if out.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(self.payload);
            edns.set_dnssec_ok(true);
            msg.set_edns(edns);
        }
        let encode_error = || TransportError::Encode {
            name: out.question.name.to_string(),
        };
        let wire = msg.to_vec().map_err(|_| encode_error())?;
        let (sent, _) = read_name(&wire, HEADER_LEN).map_err(|_| encode_error())?;
        Ok((wire, sent.as_bytes().to_vec()))
    }

    /// An empty buffer of [`MAX_MESSAGE`] capacity, from the pool.
    fn take_buffer(&self) -> Vec<u8> {
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(MAX_MESSAGE))
    }

    fn return_buffer(&self, mut buf: Vec<u8>) {
        buf.clear();
        let mut pool = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOLED_BUFFERS {
            pool.push(buf);
        }
    }

    async fn udp(
        &self,
        server: SocketAddr,
        wire: &[u8],
        name: &[u8],
        deadline: Instant,
    ) -> Received {
        let local: SocketAddr = match server.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let Ok(socket) = UdpSocket::bind(local).await else {
            return Received::Unsent;
        };
        // Connected: the kernel passes on datagrams from `server` only.
        if socket.connect(server).await.is_err() || socket.send(wire).await.is_err() {
            return Received::Unsent;
        }
        self.stats.udp_sent.fetch_add(1, Ordering::Relaxed);
        let mut buf = self.take_buffer();
        let received = self
            .udp_receive(&socket, server, wire, name, deadline, &mut buf)
            .await;
        self.return_buffer(buf);
        received
    }

    async fn udp_receive(
        &self,
        socket: &UdpSocket,
        server: SocketAddr,
        wire: &[u8],
        name: &[u8],
        deadline: Instant,
        buf: &mut Vec<u8>,
    ) -> Received {
        let mut case_mismatch = false;
        loop {
            buf.clear();
            // Into the spare capacity: nothing is zeroed. An ICMP error
            // (nothing listens there) ends the wait like a timeout.
            let Ok(Ok((len, from))) = timeout_at(deadline, socket.recv_buf_from(buf)).await else {
                return Received::Timeout { case_mismatch };
            };
            let Some(reply) = buf.get(..len) else {
                continue;
            };
            if from != server {
                self.stats.wrong_source.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match self.check(wire, name, reply) {
                Match::Yes => {
                    if let Ok(message) = Message::from_vec(reply) {
                        return Received::Reply(message);
                    }
                    self.stats.wrong_question.fetch_add(1, Ordering::Relaxed);
                }
                Match::Case => case_mismatch = true,
                Match::No => {}
            }
        }
    }

    async fn tcp(
        &self,
        server: SocketAddr,
        wire: &[u8],
        name: &[u8],
        deadline: Instant,
    ) -> Received {
        let timeout = Received::Timeout {
            case_mismatch: false,
        };
        let Ok(Ok(mut stream)) = timeout_at(deadline, TcpStream::connect(server)).await else {
            return timeout;
        };
        let Ok(len) = u16::try_from(wire.len()) else {
            return Received::Unsent;
        };
        let mut framed = Vec::with_capacity(wire.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(wire);
        if !matches!(
            timeout_at(deadline, stream.write_all(&framed)).await,
            Ok(Ok(()))
        ) {
            return timeout;
        }
        self.stats.tcp_sent.fetch_add(1, Ordering::Relaxed);
        let mut len = [0u8; 2];
        if !matches!(
            timeout_at(deadline, stream.read_exact(&mut len)).await,
            Ok(Ok(_))
        ) {
            return timeout;
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(
            timeout_at(deadline, stream.read_exact(&mut buf)).await,
            Ok(Ok(_))
        ) {
            return timeout;
        }
        match self.check(wire, name, &buf) {
            Match::Yes => Message::from_vec(&buf).map_or(timeout, Received::Reply),
            Match::Case => Received::Timeout {
                case_mismatch: true,
            },
            Match::No => timeout,
        }
    }

    /// Whether `reply` answers `query`: QR, ID, one question with the same
    /// name bytes (case included), type and class.
    fn check(&self, query: &[u8], name: &[u8], reply: &[u8]) -> Match {
        let count = |counter: &AtomicU64| {
            counter.fetch_add(1, Ordering::Relaxed);
            Match::No
        };
        let (Some(reply_head), Some(query_head)) =
            (reply.get(..HEADER_LEN), query.get(..HEADER_LEN))
        else {
            return count(&self.stats.wrong_question);
        };
        if reply_head[..2] != query_head[..2] {
            return count(&self.stats.wrong_id);
        }
        if reply_head[2] & FLAG_QR_HIGH == 0 || reply_head[4..6] != [0, 1] {
            return count(&self.stats.wrong_question);
        }
        let Ok((got, end)) = read_name(reply, HEADER_LEN) else {
            return count(&self.stats.wrong_question);
        };
        let type_class = name.len() + HEADER_LEN;
        if reply.get(end..end + 4) != query.get(type_class..type_class + 4) {
            return count(&self.stats.wrong_question);
        }
        if got.as_bytes() == name {
            Match::Yes
        } else if got.as_bytes().eq_ignore_ascii_case(name) {
            self.stats.case_mismatch.fetch_add(1, Ordering::Relaxed);
            Match::Case
        } else {
            count(&self.stats.wrong_question)
        }
    }
}

enum Received {
    Reply(Message),
    Timeout { case_mismatch: bool },
    Unsent,
}

enum Match {
    Yes,
    Case,
    No,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::Question;
    use anchorage_wire::proto::rr::RecordType;
    use std::time::Duration;

    fn outgoing(server: &str) -> Outgoing {
        Outgoing {
            id: crate::walk::QueryId::PRIMING,
            server: server.parse().unwrap(),
            question: Question::new(Name::from_ascii("www.example.").unwrap(), RecordType::A),
            protocol: Protocol::Udp,
            edns: true,
            randomize_case: true,
            timeout: Duration::from_millis(200),
            may_wait: false,
        }
    }

    #[tokio::test]
    async fn loopback_guard_refuses_a_public_address_without_sending() {
        let t = Transport::loopback_only(1232, 4);
        let ex = tokio::time::timeout(
            Duration::from_secs(5),
            t.exchange(&outgoing("198.41.0.4:53")),
        )
        .await
        .unwrap();
        assert_eq!(ex, Exchange::Unsent);
        assert_eq!(t.stats().refused_non_loopback.load(Ordering::Relaxed), 1);
        assert_eq!(t.stats().udp_sent.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_forged_reply_from_another_port_is_never_taken() {
        // Loopback block 127.42/16, ports 15446-15447.
        let server = std::net::UdpSocket::bind("127.42.0.1:15446").unwrap();
        let forger = std::net::UdpSocket::bind("127.42.0.1:15447").unwrap();
        let responder = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            for _ in 0..2 {
                let (len, peer) = server.recv_from(&mut buf).unwrap();
                let mut reply = buf[..len].to_vec();
                reply[2] |= FLAG_QR_HIGH;
                // Same ID and question, REFUSED, from the wrong port first.
                let mut forged = reply.clone();
                forged[3] = (forged[3] & 0xf0) | 5;
                forger.send_to(&forged, peer).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
                server.send_to(&reply, peer).unwrap();
            }
        });
        let t = Transport::loopback_only(1232, 4);
        for _ in 0..2 {
            let ex = t.exchange(&outgoing("127.42.0.1:15446")).await;
            let Exchange::Reply { message, .. } = ex else {
                panic!("no reply: {ex:?}");
            };
            assert_eq!(
                message.metadata.response_code,
                anchorage_wire::proto::op::ResponseCode::NoError
            );
        }
        responder.join().unwrap();
        assert_eq!(t.stats().udp_sent.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn query_carries_do_payload_and_no_rd() {
        let t = Transport::new(1232, 4);
        let (wire, name) = t.encode(&outgoing("127.0.0.1:53")).unwrap();
        let msg = Message::from_vec(&wire).unwrap();
        assert!(!msg.metadata.recursion_desired);
        let edns = msg.edns.unwrap();
        assert!(edns.flags().dnssec_ok);
        assert_eq!(edns.max_payload(), 1232);
        assert!(name.eq_ignore_ascii_case(b"\x03www\x07example\x00"));
    }

    #[test]
    fn reply_must_match_id_and_question_case() {
        let t = Transport::new(1232, 4);
        let mut out = outgoing("127.0.0.1:53");
        out.question.name = Name::from_ascii("abcdefghijklmnop.example.").unwrap();
        let (query, name) = t.encode(&out).unwrap();
        let mut reply = query.clone();
        reply[2] |= FLAG_QR_HIGH;
        assert!(matches!(t.check(&query, &name, &reply), Match::Yes));
        let mut other_id = reply.clone();
        other_id[1] ^= 1;
        assert!(matches!(t.check(&query, &name, &other_id), Match::No));
        let mut other_case = reply.clone();
        other_case[HEADER_LEN + 1] ^= 0x20;
        assert!(matches!(t.check(&query, &name, &other_case), Match::Case));
        let mut other_type = reply;
        other_type[HEADER_LEN + name.len() + 1] ^= 1;
        assert!(matches!(t.check(&query, &name, &other_type), Match::No));
        assert_eq!(t.stats().wrong_id.load(Ordering::Relaxed), 1);
        assert_eq!(t.stats().wrong_question.load(Ordering::Relaxed), 1);
    }
}
