//! The front-end over real loopback sockets, with a table-driven resolver:
//! UDP and TCP answers, truncation, malformed packets, access control,
//! pipelining out of order, idle timeout, draining, many clients.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anchorage_server::{Access, Acl, Resolve, Server, ServerConfig};
use anchorage_wire::QueryView;
use anchorage_wire::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use anchorage_wire::proto::rr::rdata::{A, TXT};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Notify;
use tokio::time::timeout;

/// Every test must finish well inside this.
const LIMIT: Duration = Duration::from_secs(10);

/// Answers `fast.*` at once, `gate.*` only after the test opens the gate,
/// anything else after resolution with no wait; `big.` and `fast.big.`
/// have a 2 KB TXT set.
struct Table {
    records: HashMap<String, Vec<RData>>,
    gate: Arc<Notify>,
    /// Queries answered through `answer_many_now`.
    batched: AtomicU64,
}

impl Table {
    fn new(gate: Arc<Notify>) -> Self {
        let mut records = HashMap::new();
        for name in ["fast.example.", "slow.example.", "gate.example."] {
            records.insert(name.to_owned(), vec![RData::A(A::new(192, 0, 2, 1))]);
        }
        let big: Vec<RData> = (0..10)
            .map(|i| RData::TXT(TXT::new(vec![format!("{i}").repeat(200)])))
            .collect();
        records.insert("big.example.".to_owned(), big.clone());
        // Answered at once, and too big for UDP: truncated on the fast path.
        records.insert("fast.big.example.".to_owned(), big);
        Self {
            records,
            gate,
            batched: AtomicU64::new(0),
        }
    }

    fn reply(&self, query: &QueryView) -> Vec<u8> {
        let name = Name::from_ascii(query.qname_lower().to_string()).unwrap();
        let mut msg = Message::response(query.id(), OpCode::Query);
        msg.metadata.recursion_desired = query.recursion_desired();
        msg.metadata.recursion_available = true;
        msg.add_query(Query::query(name.clone(), RecordType::from(query.qtype())));
        match self.records.get(&name.to_string()) {
            Some(data) => {
                for d in data {
                    msg.add_answer(Record::from_rdata(name.clone(), 60, d.clone()));
                }
            }
            None => msg.metadata.response_code = ResponseCode::NXDomain,
        }
        if query.edns().is_some() {
            msg.set_edns(Edns::new());
        }
        msg.to_vec().unwrap()
    }
}

impl Resolve for Table {
    fn answer_now(&self, query: &QueryView, reply: &mut Vec<u8>) -> bool {
        if query.qname_lower().to_string().starts_with("fast.") {
            *reply = self.reply(query);
            return true;
        }
        false
    }

    fn answer_many_now(
        &self,
        queries: &[QueryView],
        replies: &mut [Vec<u8>],
        answered: &mut [bool],
    ) {
        for ((query, reply), answered) in queries.iter().zip(replies).zip(answered) {
            *answered = self.answer_now(query, reply);
            self.batched
                .fetch_add(u64::from(*answered), Ordering::Relaxed);
        }
    }

    fn resolve(&self, query: QueryView) -> impl Future<Output = Vec<u8>> + Send {
        let gated = query.qname_lower().to_string().starts_with("gate.");
        let gate = Arc::clone(&self.gate);
        let reply = self.reply(&query);
        async move {
            if gated {
                gate.notified().await;
            }
            reply
        }
    }
}

fn start(batching: bool, config: ServerConfig) -> (Server, SocketAddr, Arc<Notify>) {
    let gate = Arc::new(Notify::new());
    let config = ServerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        udp_batching: batching,
        ..config
    };
    let server = Server::start(&config, Arc::new(Table::new(Arc::clone(&gate)))).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr, gate)
}

fn query(id: u16, name: &str, rtype: RecordType, edns: bool) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        msg.set_edns(e);
    }
    msg.to_vec().unwrap()
}

async fn udp_exchange_from(source: IpAddr, server: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(SocketAddr::new(source, 0)).await.unwrap();
    socket.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let got = timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await;
    got.ok().map(|r| buf[..r.unwrap().0].to_vec())
}

async fn udp_exchange(server: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    udp_exchange_from("127.0.0.1".parse().unwrap(), server, packet).await
}

async fn tcp_send(stream: &mut TcpStream, packet: &[u8]) {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.unwrap();
}

async fn tcp_read(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut msg).await.unwrap();
    msg
}

async fn answers_over_udp_and_tcp_from_cache_and_after_resolution(batching: bool) {
    timeout(LIMIT, async {
        let (server, addr, _) = start(batching, ServerConfig::default());
        for name in ["fast.example.", "slow.example.", "Fast.Example."] {
            let reply = udp_exchange(addr, &query(7, name, RecordType::A, false))
                .await
                .unwrap();
            let msg = Message::from_vec(&reply).unwrap();
            assert_eq!(msg.id, 7);
            assert_eq!(msg.answers.len(), 1, "{name}");
        }
        let mut stream = TcpStream::connect(addr).await.unwrap();
        tcp_send(&mut stream, &query(8, "slow.example.", RecordType::A, true)).await;
        let msg = Message::from_vec(&tcp_read(&mut stream).await).unwrap();
        assert_eq!((msg.id, msg.answers.len()), (8, 1));
        let stats = server.shutdown().await;
        assert_eq!(stats.udp_queries, 3);
        assert_eq!(stats.tcp_queries, 1);
        assert_eq!(stats.answered_now, 2);
        assert_eq!(stats.resolved, 2);
    })
    .await
    .unwrap();
}

async fn large_answers_are_truncated_over_udp_and_whole_over_tcp(batching: bool) {
    timeout(LIMIT, async {
        let (server, addr, _) = start(batching, ServerConfig::default());
        let reply = udp_exchange(addr, &query(1, "big.example.", RecordType::TXT, false))
            .await
            .unwrap();
        assert!(reply.len() <= 512);
        let msg = Message::from_vec(&reply).unwrap();
        assert!(msg.truncation, "TC must be set");
        let reply = udp_exchange(addr, &query(2, "big.example.", RecordType::TXT, true))
            .await
            .unwrap();
        assert!(reply.len() <= 1232);
        assert!(Message::from_vec(&reply).unwrap().truncation);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        tcp_send(
            &mut stream,
            &query(3, "big.example.", RecordType::TXT, false),
        )
        .await;
        let msg = Message::from_vec(&tcp_read(&mut stream).await).unwrap();
        assert!(!msg.truncation);
        assert_eq!(msg.answers.len(), 10);
        assert_eq!(server.shutdown().await.truncated, 2);
    })
    .await
    .unwrap();
}

async fn malformed_packets_get_the_rfc_rcode_and_service_goes_on(batching: bool) {
    timeout(LIMIT, async {
        let (server, addr, _) = start(batching, ServerConfig::default());
        // Random bytes shorter than a header: dropped.
        assert!(udp_exchange(addr, b"\x01\x02\x03").await.is_none());
        // Two questions: FORMERR.
        let mut two = query(5, "fast.example.", RecordType::A, false);
        two[5] = 2;
        let reply = udp_exchange(addr, &two).await.unwrap();
        assert_eq!(reply[3] & 0x0f, 1);
        // NOTIFY: NOTIMP.
        let mut notify = query(6, "fast.example.", RecordType::A, false);
        notify[2] = (notify[2] & 0x87) | (4 << 3);
        let reply = udp_exchange(addr, &notify).await.unwrap();
        assert_eq!(reply[3] & 0x0f, 4);
        // EDNS version 1: BADVERS (16 = ext-rcode 1 << 4).
        let mut v1 = query(9, "fast.example.", RecordType::A, true);
        let n = v1.len();
        v1[n - 5] = 1;
        let msg = Message::from_vec(&udp_exchange(addr, &v1).await.unwrap()).unwrap();
        assert_eq!(u16::from(msg.response_code), 16);
        // A bad label over TCP, then a good query on a new connection.
        let mut garbage = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00".to_vec();
        garbage.extend_from_slice(&[0x7f; 30]);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        tcp_send(&mut stream, &garbage).await;
        let reply = tcp_read(&mut stream).await;
        assert_eq!(reply[3] & 0x0f, 1, "FORMERR over TCP too");
        let reply = udp_exchange(addr, &query(10, "fast.example.", RecordType::A, false)).await;
        assert!(reply.is_some(), "the server still serves");
        server.shutdown().await;
    })
    .await
    .unwrap();
}

async fn access_control_refuses_with_ede_18_or_drops(batching: bool) {
    timeout(LIMIT, async {
        let mut acl = Acl::empty();
        acl.add("127.0.0.1", Access::Allow).unwrap();
        acl.add("127.0.0.3", Access::Drop).unwrap();
        let (server, addr, _) = start(
            batching,
            ServerConfig {
                acl,
                ..ServerConfig::default()
            },
        );
        let packet = query(11, "fast.example.", RecordType::A, true);
        let ok = udp_exchange(addr, &packet).await.unwrap();
        assert_eq!(
            Message::from_vec(&ok).unwrap().response_code,
            ResponseCode::NoError
        );
        let refused = udp_exchange_from("127.0.0.2".parse().unwrap(), addr, &packet)
            .await
            .unwrap();
        let msg = Message::from_vec(&refused).unwrap();
        assert_eq!(msg.response_code, ResponseCode::Refused);
        assert!(msg.answers.is_empty());
        assert!(
            refused.ends_with(&[0, 15, 0, 2, 0, 18]),
            "EDE 18 Prohibited"
        );
        let dropped = udp_exchange_from("127.0.0.3".parse().unwrap(), addr, &packet).await;
        assert!(dropped.is_none());
        let stats = server.shutdown().await;
        assert_eq!((stats.refused, stats.dropped), (1, 1));
    })
    .await
    .unwrap();
}

async fn tcp_pipelined_queries_are_answered_out_of_order(batching: bool) {
    timeout(LIMIT, async {
        let (server, addr, gate) = start(batching, ServerConfig::default());
        let mut stream = TcpStream::connect(addr).await.unwrap();
        tcp_send(
            &mut stream,
            &query(21, "gate.example.", RecordType::A, false),
        )
        .await;
        tcp_send(
            &mut stream,
            &query(22, "slow.example.", RecordType::A, false),
        )
        .await;
        tcp_send(
            &mut stream,
            &query(23, "fast.example.", RecordType::A, false),
        )
        .await;
        let mut first_two = [
            Message::from_vec(&tcp_read(&mut stream).await).unwrap().id,
            Message::from_vec(&tcp_read(&mut stream).await).unwrap().id,
        ];
        first_two.sort_unstable();
        assert_eq!(
            first_two,
            [22, 23],
            "the gated query must not block the others"
        );
        gate.notify_one();
        assert_eq!(
            Message::from_vec(&tcp_read(&mut stream).await).unwrap().id,
            21
        );
        server.shutdown().await;
    })
    .await
    .unwrap();
}

async fn idle_tcp_connections_are_closed(batching: bool) {
    timeout(LIMIT, async {
        let config = ServerConfig {
            tcp_idle: Duration::from_millis(200),
            ..ServerConfig::default()
        };
        let (server, addr, _) = start(batching, config);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut byte = [0u8; 1];
        // The server closes: the read ends with EOF, not a timeout of ours.
        let n = timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0);
        assert_eq!(server.shutdown().await.tcp_idle_closed, 1);
    })
    .await
    .unwrap();
}

async fn shutdown_drains_queries_in_flight(batching: bool) {
    timeout(LIMIT, async {
        let (server, addr, gate) = start(batching, ServerConfig::default());
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(&query(31, "gate.example.", RecordType::A, false), addr)
            .await
            .unwrap();
        // Wait until the server has the query in resolution.
        while server.stats().snapshot().udp_queries == 0 {
            tokio::task::yield_now().await;
        }
        let stopping = tokio::spawn(server.shutdown());
        gate.notify_one();
        let mut buf = vec![0u8; 512];
        let (n, _) = socket.recv_from(&mut buf).await.unwrap();
        assert_eq!(Message::from_vec(&buf[..n]).unwrap().id, 31);
        assert_eq!(stopping.await.unwrap().resolved, 1);
    })
    .await
    .unwrap();
}

async fn a_thousand_concurrent_clients_all_get_answers(batching: bool) {
    timeout(LIMIT, async {
        let config = ServerConfig {
            udp_workers: 2,
            ..ServerConfig::default()
        };
        let (server, addr, _) = start(batching, config);
        let mut clients = tokio::task::JoinSet::new();
        for i in 0..1000u16 {
            clients.spawn(async move {
                let name = if i % 2 == 0 {
                    "fast.example."
                } else {
                    "slow.example."
                };
                for _ in 0..3 {
                    if let Some(reply) =
                        udp_exchange(addr, &query(i, name, RecordType::A, false)).await
                    {
                        return Message::from_vec(&reply).unwrap().id == i;
                    }
                }
                false
            });
        }
        let mut answered = 0;
        while let Some(ok) = clients.join_next().await {
            answered += usize::from(ok.unwrap());
        }
        assert_eq!(answered, 1000);
        server.shutdown().await;
    })
    .await
    .unwrap();
}

/// What the burst test expects for query `id`: the packet, and the name,
/// type and RCODE of the reply (no name: FORMERR, nothing to echo).
fn burst_query(id: u16) -> (Vec<u8>, Option<(&'static str, RecordType)>, u8) {
    match id % 5 {
        // Two questions: FORMERR, ID echoed.
        0 => {
            let mut two = query(id, "fast.example.", RecordType::A, false);
            two[5] = 2;
            (two, None, 1)
        }
        // Resolved, then truncated to 512 bytes.
        1 => (
            query(id, "big.example.", RecordType::TXT, false),
            Some(("big.example.", RecordType::TXT)),
            0,
        ),
        // A cache hit.
        2 => (
            query(id, "fast.example.", RecordType::A, id.is_multiple_of(2)),
            Some(("fast.example.", RecordType::A)),
            0,
        ),
        // Resolved.
        3 => (
            query(id, "slow.example.", RecordType::A, true),
            Some(("slow.example.", RecordType::A)),
            0,
        ),
        // A cache hit truncated to the client's EDNS size.
        _ => (
            query(id, "fast.big.example.", RecordType::TXT, true),
            Some(("fast.big.example.", RecordType::TXT)),
            0,
        ),
    }
}

/// Clients fire their queries back to back, as a load generator does: each
/// gets its own reply to every one, with its ID, its question and the
/// right RCODE, whether answered in a batch, resolved, rejected or cut.
async fn a_burst_from_many_sockets_gets_every_reply_right(batching: bool) {
    const CLIENTS: u16 = 5;
    const PER_CLIENT: u16 = 100;
    timeout(LIMIT, async {
        let config = ServerConfig {
            listen: vec!["127.40.0.1:0".parse().unwrap()],
            udp_workers: 2,
            udp_batching: batching,
            ..ServerConfig::default()
        };
        let table = Arc::new(Table::new(Arc::new(Notify::new())));
        let server = Server::start(&config, Arc::clone(&table)).unwrap();
        let addr = server.local_addrs()[0];
        let mut clients = tokio::task::JoinSet::new();
        for c in 0..CLIENTS {
            clients.spawn(async move {
                let source = SocketAddr::new(IpAddr::from([127, 40, 0, 2 + c as u8]), 0);
                let socket = UdpSocket::bind(source).await.unwrap();
                let ids: Vec<u16> = (0..PER_CLIENT).map(|i| c * PER_CLIENT + i).collect();
                let mut answered = HashMap::new();
                let mut buf = vec![0u8; 65_535];
                // A burst can overflow a socket buffer: resend what is
                // unanswered, as a client would, a few times.
                for _ in 0..5 {
                    for &id in ids.iter().filter(|id| !answered.contains_key(*id)) {
                        socket.send_to(&burst_query(id).0, addr).await.unwrap();
                    }
                    while answered.len() < ids.len() {
                        let Ok(got) =
                            timeout(Duration::from_millis(300), socket.recv_from(&mut buf)).await
                        else {
                            break;
                        };
                        let (n, from) = got.unwrap();
                        assert_eq!(from, addr);
                        let id = u16::from_be_bytes([buf[0], buf[1]]);
                        assert!(
                            ids.contains(&id),
                            "client {c} got a reply to {id}, not its own"
                        );
                        answered.insert(id, buf[..n].to_vec());
                    }
                }
                (c, answered)
            });
        }
        let mut truncated = 0;
        while let Some(done) = clients.join_next().await {
            let (c, answered) = done.unwrap();
            assert_eq!(answered.len(), usize::from(PER_CLIENT), "client {c}");
            for (id, reply) in answered {
                let (_, question, rcode) = burst_query(id);
                assert_eq!(reply[3] & 0x0f, rcode, "query {id}");
                let Some((name, rtype)) = question else {
                    continue;
                };
                let msg = Message::from_vec(&reply).unwrap();
                assert_eq!(msg.id, id);
                assert_eq!(msg.queries.len(), 1, "query {id}");
                assert_eq!(msg.queries[0].name().to_ascii(), name, "query {id}");
                assert_eq!(msg.queries[0].query_type(), rtype, "query {id}");
                let limit = if msg.edns.is_some() { 1232 } else { 512 };
                assert!(reply.len() <= limit, "query {id}: {} bytes", reply.len());
                if rtype == RecordType::TXT {
                    assert!(msg.truncation, "query {id}: 2 KB must be cut");
                    truncated += 1;
                } else {
                    assert_eq!(msg.answers.len(), 1, "query {id}");
                }
            }
        }
        assert_eq!(truncated, 2 * usize::from(CLIENTS * PER_CLIENT) / 5);
        let stats = server.shutdown().await;
        assert!(stats.udp_queries >= u64::from(CLIENTS * PER_CLIENT));
        assert!(
            stats.answered_now >= 200 && stats.rejected >= 100,
            "{stats:?}"
        );
        // Batched UDP answers its cache hits a batch at a time; plain UDP
        // one at a time.
        let batched = table.batched.load(Ordering::Relaxed);
        let expected = if batching { stats.answered_now } else { 0 };
        assert_eq!(batched, expected, "{stats:?}");
    })
    .await
    .unwrap();
}

/// An IPv6 listener answers from the cache and after resolution, with the
/// client's own address as the reply's destination (skipped, passing, on a
/// host without ::1).
async fn ipv6_clients_get_answers(batching: bool) {
    let Ok(probe) = std::net::UdpSocket::bind("[::1]:0") else {
        return;
    };
    drop(probe);
    timeout(LIMIT, async {
        let config = ServerConfig {
            listen: vec!["[::1]:0".parse().unwrap()],
            udp_batching: batching,
            ..ServerConfig::default()
        };
        let server = Server::start(&config, Arc::new(Table::new(Arc::new(Notify::new())))).unwrap();
        let addr = server.local_addrs()[0];
        for (id, name) in [(41, "fast.example."), (42, "slow.example.")] {
            let reply = udp_exchange_from(
                "::1".parse().unwrap(),
                addr,
                &query(id, name, RecordType::A, true),
            )
            .await
            .unwrap();
            let msg = Message::from_vec(&reply).unwrap();
            assert_eq!((msg.id, msg.answers.len()), (id, 1), "{name}");
        }
        let stats = server.shutdown().await;
        assert_eq!((stats.answered_now, stats.resolved), (1, 1));
    })
    .await
    .unwrap();
}

/// Each scenario runs twice: batched UDP (recvmmsg/sendmmsg) and plain.
macro_rules! both_modes {
    ($(#[$attr:meta] $name:ident;)*) => {
        mod batched {
            $(#[$attr] async fn $name() { super::$name(true).await })*
        }
        mod plain {
            $(#[$attr] async fn $name() { super::$name(false).await })*
        }
    };
}

both_modes! {
    #[tokio::test] answers_over_udp_and_tcp_from_cache_and_after_resolution;
    #[tokio::test] large_answers_are_truncated_over_udp_and_whole_over_tcp;
    #[tokio::test] malformed_packets_get_the_rfc_rcode_and_service_goes_on;
    #[tokio::test] access_control_refuses_with_ede_18_or_drops;
    #[tokio::test] tcp_pipelined_queries_are_answered_out_of_order;
    #[tokio::test] idle_tcp_connections_are_closed;
    #[tokio::test] shutdown_drains_queries_in_flight;
    #[tokio::test] ipv6_clients_get_answers;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)] a_thousand_concurrent_clients_all_get_answers;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)] a_burst_from_many_sockets_gets_every_reply_right;
}
