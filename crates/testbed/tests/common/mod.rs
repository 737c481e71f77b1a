//! Raw DNS exchanges with the testbed's servers over loopback, each bounded
//! by [`TIMEOUT`].

#![allow(dead_code)] // Each test file uses a different part.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use anchorage_wire::proto::op::Message;
use anchorage_wire::proto::rr::{Record, RecordType};
use anchorage_wire::proto::serialize::binary::BinDecodable;

/// Longest wait for any one reply.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Message ID of every query sent here.
pub const QUERY_ID: u16 = 0x1234;

/// A query for `name`/`qtype` with EDNS (payload 1232) and DO as asked.
pub fn query_bytes(name: &str, qtype: RecordType, dnssec: bool) -> Vec<u8> {
    let mut q = QUERY_ID.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&u16::from(qtype).to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    // OPT: root owner, type 41, payload 1232, DO as asked.
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0]);
    q.extend_from_slice(&(if dnssec { 0x8000u16 } else { 0 }).to_be_bytes());
    q.extend_from_slice(&[0, 0]);
    q
}

/// Sends one UDP query and waits at most `wait` for a reply.
pub fn try_udp(
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    dnssec: bool,
    wait: Duration,
) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    socket
        .send_to(&query_bytes(name, qtype, dnssec), server)
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    Some(Message::from_bytes(&buf[..len]).unwrap())
}

/// One UDP exchange; panics without a reply within [`TIMEOUT`].
pub fn udp(server: SocketAddr, name: &str, qtype: RecordType, dnssec: bool) -> Message {
    try_udp(server, name, qtype, dnssec, TIMEOUT)
        .unwrap_or_else(|| panic!("no UDP reply from {server} for {name} {qtype}"))
}

/// One TCP exchange; panics without a reply within [`TIMEOUT`].
pub fn tcp(server: SocketAddr, name: &str, qtype: RecordType, dnssec: bool) -> Message {
    let mut stream = TcpStream::connect_timeout(&server, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let q = query_bytes(name, qtype, dnssec);
    stream.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    stream.write_all(&q).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).unwrap();
    Message::from_bytes(&buf).unwrap()
}

/// Records of `rtype` among `records`.
pub fn count(records: &[Record], rtype: RecordType) -> usize {
    records.iter().filter(|r| r.record_type() == rtype).count()
}
