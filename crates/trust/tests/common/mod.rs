//! Test helpers: synthetic root keys and signed DNSKEY sets, a clock in
//! days, the captured vectors, and a bounded loopback DNS exchange with
//! the testbed (UDP, then TCP on TC).

#![allow(dead_code)] // Each test file uses a different part.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, SystemTime};

use anchorage_testbed::Validity;
use anchorage_testbed::keys::{KeyAlgorithm, KeyRole, ZoneKey};
use anchorage_testbed::signer::make_rrsig;
use anchorage_trust::utc::{from_unix_secs, parse_utc, unix_secs};
use anchorage_trust::{Anchor, KeyMaterial};
use anchorage_wire::SignedData;
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::op::Message;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};
use anchorage_wire::proto::serialize::binary::BinDecodable;

/// REVOKE flag (RFC 5011 §2.1).
pub const FLAG_REVOKE: u16 = 0x0080;
/// Original TTL of the root DNSKEY set.
pub const ROOT_TTL: u32 = 172_800;
/// Start of every synthetic scenario: 2027-01-15T08:00:00Z.
pub const T0: u64 = 1_800_000_000;
/// Longest wait for one DNS reply.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// `days` (may be fractional) after [`T0`].
#[allow(
    clippy::cast_sign_loss,
    clippy::cast_possible_truncation,
    reason = "test days are small and positive"
)]
pub fn day(days: f64) -> SystemTime {
    from_unix_secs(T0 + (days * 86_400.0) as u64)
}

/// A root KSK (Ed25519, flags 257) from `seed`.
pub fn ksk(seed: u8) -> ZoneKey {
    ZoneKey::generate(KeyAlgorithm::Ed25519, KeyRole::Ksk, [seed; 32]).unwrap()
}

/// A root ZSK (Ed25519, flags 256) from `seed`.
pub fn zsk(seed: u8) -> ZoneKey {
    ZoneKey::generate(KeyAlgorithm::Ed25519, KeyRole::Zsk, [seed; 32]).unwrap()
}

/// `key` with REVOKE set.
pub fn revoked(seed: u8) -> ZoneKey {
    let mut key = ksk(seed);
    key.set_flags(key.flags() | FLAG_REVOKE);
    key
}

/// The anchor for `key` as a DNSKEY.
pub fn anchor(key: &ZoneKey) -> Anchor {
    Anchor::Dnskey(material(key))
}

/// The tracker's identity of `key`.
pub fn material(key: &ZoneKey) -> KeyMaterial {
    KeyMaterial::from_dnskey(&key.dnskey())
}

/// The root DNSKEY set of `published`, with one RRSIG per key in `signers`,
/// valid from 40 days before to 40 days after `now`.
pub fn signed_set(published: &[&ZoneKey], signers: &[&ZoneKey], now: SystemTime) -> Vec<Record> {
    let t = unix_secs(now) as u32;
    signed_set_valid(
        published,
        signers,
        Validity::around(t, 40 * 86_400, 40 * 86_400),
    )
}

/// As [`signed_set`], with an explicit validity.
pub fn signed_set_valid(
    published: &[&ZoneKey],
    signers: &[&ZoneKey],
    validity: Validity,
) -> Vec<Record> {
    let root = Name::root();
    let mut records: Vec<Record> = published
        .iter()
        .map(|k| {
            Record::from_rdata(
                root.clone(),
                ROOT_TTL,
                RData::DNSSEC(DNSSECRData::DNSKEY(k.dnskey())),
            )
        })
        .collect();
    let mut buf = SignedData::new();
    let sigs: Vec<Record> = signers
        .iter()
        .map(|k| make_rrsig(&records, &root, ROOT_TTL, &root, k, validity, &mut buf).unwrap())
        .collect();
    records.extend(sigs);
    records
}

/// A captured vector: its records and its `; now:` time.
pub fn vector(name: &str) -> (Vec<Record>, SystemTime) {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let now = text
        .lines()
        .find_map(|l| l.strip_prefix("; now: "))
        .map(|t| parse_utc(t.trim()).unwrap())
        .unwrap();
    (anchorage_wire::text::parse_records(&text).unwrap(), now)
}

/// A query for `name`/`qtype` with EDNS (payload 1232) and DO set.
fn query_bytes(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&u16::from(qtype).to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    // OPT: root owner, type 41, payload 1232, extended RCODE 0, version 0, DO.
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    q
}

/// Fetches the DNSKEY RRset of `name` from `server` over loopback: UDP,
/// then TCP if truncated; every wait bounded by [`TIMEOUT`].
pub fn fetch_dnskeys(server: SocketAddr, name: &str) -> Vec<Record> {
    assert!(server.ip().is_loopback(), "tests talk to loopback only");
    let query = query_bytes(0x5011, name, RecordType::DNSKEY);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    socket.send_to(&query, server).unwrap();
    let mut buf = vec![0u8; 65_535];
    let (len, _) = socket.recv_from(&mut buf).expect("UDP reply within 5 s");
    let reply = Message::from_bytes(&buf[..len]).unwrap();
    let reply = if reply.metadata.truncation {
        tcp_exchange(server, &query)
    } else {
        reply
    };
    reply.answers
}

fn tcp_exchange(server: SocketAddr, query: &[u8]) -> Message {
    let mut stream = TcpStream::connect_timeout(&server, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
        .write_all(&(query.len() as u16).to_be_bytes())
        .unwrap();
    stream.write_all(query).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).unwrap();
    Message::from_bytes(&buf).unwrap()
}
