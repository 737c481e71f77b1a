//! Test-side helpers: read the zone-file vectors in `tests/data/`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anchorage_verify::DnskeyVerifier;
use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG, SigInput};
use anchorage_wire::proto::dnssec::{Algorithm, PublicKeyBuf};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType, SerialNumber};

/// The records of one vector file and its `; now:` time.
pub struct Zone {
    pub records: Vec<Record>,
    pub now: Option<SystemTime>,
}

pub fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file)
}

pub fn load(file: &str) -> Zone {
    let text = std::fs::read_to_string(data_path(file)).unwrap();
    let now = text
        .lines()
        .find_map(|l| l.strip_prefix("; now:").map(|t| parse_utc(t.trim())));
    let records = text
        .lines()
        .map(|l| l.split(';').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| parse_record(l).unwrap_or_else(|| panic!("{file}: cannot read {l}")))
        .collect();
    Zone { records, now }
}

/// One master-file line `owner ttl IN type rdata`, for the types the vectors
/// hold. hickory's text parser refuses DNSKEY and RRSIG, so those two are
/// built here; the rest go through `RData::try_from_str`.
pub fn parse_record(line: &str) -> Option<Record> {
    let mut fields = line.split_whitespace();
    let owner = Name::from_ascii(fields.next()?).ok()?;
    let ttl: u32 = fields.next()?.parse().ok()?;
    if fields.next()? != "IN" {
        return None;
    }
    let rtype: RecordType = fields.next()?.parse().ok()?;
    let rest: Vec<&str> = fields.collect();
    let data = match rtype {
        RecordType::DNSKEY => {
            let [flags, "3", alg, key @ ..] = rest.as_slice() else {
                return None;
            };
            RData::DNSSEC(DNSSECRData::DNSKEY(DNSKEY::with_flags(
                flags.parse().ok()?,
                PublicKeyBuf::new(
                    base64(&key.concat())?,
                    Algorithm::from_u8(alg.parse().ok()?),
                ),
            )))
        }
        RecordType::RRSIG => {
            let [
                covered,
                alg,
                labels,
                original_ttl,
                expiration,
                inception,
                tag,
                signer,
                sig @ ..,
            ] = rest.as_slice()
            else {
                return None;
            };
            let input = SigInput {
                type_covered: covered.parse().ok()?,
                algorithm: Algorithm::from_u8(alg.parse().ok()?),
                num_labels: labels.parse().ok()?,
                original_ttl: original_ttl.parse().ok()?,
                sig_expiration: SerialNumber::new(rrsig_time(expiration)),
                sig_inception: SerialNumber::new(rrsig_time(inception)),
                key_tag: tag.parse().ok()?,
                signer_name: Name::from_ascii(signer).ok()?,
            };
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                input,
                base64(&sig.concat())?,
            )))
        }
        _ => RData::try_from_str(rtype, &rest.join(" ")).ok()?,
    };
    Some(Record::from_rdata(owner, ttl, data))
}

/// RRSIG time `YYYYMMDDHHmmSS` to seconds since 1970 (RFC 4034 §3.2).
pub fn rrsig_time(text: &str) -> u32 {
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[8..10],
        &text[10..12],
        &text[12..14]
    );
    let secs = parse_utc(&iso)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    u32::try_from(secs).unwrap()
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    };
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &c in text.as_bytes().iter().filter(|&&c| c != b'=') {
        buffer = (buffer << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

impl Zone {
    pub fn rrset(&self, owner: &str, rtype: RecordType) -> Vec<Record> {
        let owner = Name::from_ascii(owner).unwrap();
        self.records
            .iter()
            .filter(|r| r.record_type() == rtype && r.name == owner)
            .cloned()
            .collect()
    }

    pub fn rrsigs(&self, owner: &str, covered: RecordType) -> Vec<Record> {
        let owner = Name::from_ascii(owner).unwrap();
        self.records
            .iter()
            .filter(|r| {
                r.name == owner
                    && matches!(&r.data, RData::DNSSEC(DNSSECRData::RRSIG(s)) if s.input().type_covered == covered)
            })
            .cloned()
            .collect()
    }

    pub fn keys(&self, owner: &str) -> Vec<DnskeyVerifier> {
        let name = Name::from_ascii(owner).unwrap();
        self.rrset(owner, RecordType::DNSKEY)
            .iter()
            .map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DNSKEY(k)) => DnskeyVerifier::new(&name, k),
                _ => unreachable!(),
            })
            .collect()
    }

    pub fn ds(&self, owner: &str) -> Vec<DS> {
        self.rrset(owner, RecordType::DS)
            .iter()
            .map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DS(ds)) => ds.clone(),
                _ => unreachable!(),
            })
            .collect()
    }

    pub fn now(&self) -> SystemTime {
        self.now.expect("vector has a `; now:` line")
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` to a time, by the civil-from-days algorithm.
pub fn parse_utc(text: &str) -> SystemTime {
    let num = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

pub fn at(unix: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(unix))
}

pub fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Base32hex without padding, lower case (RFC 4648 §7, as NSEC3 owners use it).
pub fn base32hex(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The RRSIG of `record` with one bit of its signature flipped.
pub fn flip_signature_bit(record: &Record, byte: usize) -> Record {
    let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &record.data else {
        panic!("not an RRSIG")
    };
    let mut bytes = sig.sig().to_vec();
    bytes[byte] ^= 0x01;
    let rrsig = anchorage_wire::proto::dnssec::rdata::RRSIG::from_sig(sig.input().clone(), bytes);
    Record::from_rdata(
        record.name.clone(),
        record.ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(rrsig)),
    )
}
