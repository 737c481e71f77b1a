//! Zone-file text (RFC 1035 §5) for the records DNSSEC work reads as text:
//! trust-anchor files, captured test vectors, exported test zones.
//!
//! hickory-proto's zone parser refuses DNSKEY, RRSIG, NSEC and NSEC3 text,
//! so this module turns presentation format into wire RDATA itself and lets
//! hickory decode the wire form: whatever parses here is a genuine hickory
//! [`Record`], exactly as if it had arrived in a message.
//!
//! # Limitations
//! Supports `$ORIGIN` and `$TTL`, `;` comments, parentheses across lines,
//! blank owners, relative names, and the types A, AAAA, NS, CNAME, DNAME,
//! PTR, MX, TXT, SOA, SRV, DS, CDS, DNSKEY, CDNSKEY, RRSIG, NSEC, NSEC3,
//! NSEC3PARAM, plus any type in RFC 3597 generic form (`\# len hex`).
//! No `$INCLUDE`, no `$GENERATE`.

use core::net::{Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use data_encoding::{BASE32HEX_NOPAD, BASE64, HEXUPPER_PERMISSIVE};
use hickory_proto::rr::{Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::name::{MAX_LABEL_LEN, MAX_NAME_LEN};

/// Why zone-file text could not be read, and on which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct TextError {
    /// 1-based line where the record starts.
    pub line: usize,
    /// What is wrong.
    #[source]
    pub kind: TextErrorKind,
}

/// What is wrong with one record's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextErrorKind {
    /// The record ends before all its fields.
    #[error("missing field: {field}")]
    Missing {
        /// The field that was expected.
        field: &'static str,
    },
    /// A field does not parse as what it should be.
    #[error("bad {field}: {text:?}")]
    Bad {
        /// The field.
        field: &'static str,
        /// The text found.
        text: String,
    },
    /// A relative name with no `$ORIGIN` to complete it.
    #[error("relative name {0:?} without $ORIGIN")]
    Relative(String),
    /// A record type this reader cannot write in any form.
    #[error("type {0} is not supported in presentation form; use \\# generic form")]
    UnsupportedType(String),
    /// Unbalanced parentheses.
    #[error("unbalanced parentheses")]
    Parentheses,
    /// hickory-proto rejected the wire form we built.
    #[error("record does not decode: {0}")]
    Decode(String),
}

/// Parses zone-file text into records, in file order.
pub fn parse_records(text: &str) -> Result<Vec<Record>, TextError> {
    let mut state = State::default();
    let mut records = Vec::new();
    for (line, tokens) in logical_lines(text)? {
        let fail = |kind| TextError { line, kind };
        if let Some(record) = state.line(&tokens).map_err(fail)? {
            records.push(record);
        }
    }
    Ok(records)
}

/// One token, and whether it stood at the very start of its line.
#[derive(Debug, Clone)]
struct Token {
    text: String,
    quoted: bool,
}

#[derive(Default)]
struct State {
    origin: Option<Vec<u8>>,
    default_ttl: Option<u32>,
    last_owner: Option<Vec<u8>>,
    last_ttl: Option<u32>,
}

impl State {
    fn line(&mut self, tokens: &[Token]) -> Result<Option<Record>, TextErrorKind> {
        let (first, rest) = tokens
            .split_first()
            .ok_or(TextErrorKind::Missing { field: "owner" })?;
        match first.text.as_str() {
            "$ORIGIN" => {
                let origin = rest
                    .first()
                    .ok_or(TextErrorKind::Missing { field: "origin" })?;
                self.origin = Some(parse_name(&origin.text, None)?);
                return Ok(None);
            }
            "$TTL" => {
                let ttl = rest
                    .first()
                    .ok_or(TextErrorKind::Missing { field: "ttl" })?;
                self.default_ttl = Some(parse_ttl(&ttl.text)?);
                return Ok(None);
            }
            _ => {}
        }
        // A leading blank token (see `logical_lines`) means "same owner".
        let (owner, mut fields) = if first.text.is_empty() && !first.quoted {
            let owner = self
                .last_owner
                .clone()
                .ok_or(TextErrorKind::Missing { field: "owner" })?;
            (owner, rest)
        } else {
            (parse_name(&first.text, self.origin.as_deref())?, rest)
        };
        let mut ttl = None;
        let mut class = 1u16;
        let rtype = loop {
            let token = fields
                .first()
                .ok_or(TextErrorKind::Missing { field: "type" })?;
            fields = &fields[1..];
            let t = token.text.as_str();
            if ttl.is_none() && t.starts_with(|c: char| c.is_ascii_digit()) {
                ttl = Some(parse_ttl(t)?);
            } else if t.eq_ignore_ascii_case("IN") {
                class = 1;
            } else if t.eq_ignore_ascii_case("CH") {
                class = 3;
            } else if let Some(n) = t.strip_prefix("CLASS") {
                class = parse_num(n, "class")?;
            } else {
                break parse_type(t)?;
            }
        };
        let ttl = ttl
            .or(self.default_ttl)
            .or(self.last_ttl)
            .ok_or(TextErrorKind::Missing { field: "ttl" })?;
        let mut rdata = Vec::new();
        write_rdata(rtype, fields, self.origin.as_deref(), &mut rdata)?;
        let record = decode_record(&owner, rtype, class, ttl, &rdata)?;
        self.last_owner = Some(owner);
        self.last_ttl = Some(ttl);
        Ok(Some(record))
    }
}

fn decode_record(
    owner: &[u8],
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: &[u8],
) -> Result<Record, TextErrorKind> {
    let rdlen = u16::try_from(rdata.len()).map_err(|_| TextErrorKind::Bad {
        field: "rdata length",
        text: rdata.len().to_string(),
    })?;
    let mut wire = Vec::with_capacity(owner.len() + 10 + rdata.len());
    wire.extend_from_slice(owner);
    wire.extend_from_slice(&rtype.to_be_bytes());
    wire.extend_from_slice(&class.to_be_bytes());
    wire.extend_from_slice(&ttl.to_be_bytes());
    wire.extend_from_slice(&rdlen.to_be_bytes());
    wire.extend_from_slice(rdata);
    let mut decoder = BinDecoder::new(&wire);
    Record::read(&mut decoder).map_err(|e| TextErrorKind::Decode(e.to_string()))
}

/// Writes the wire RDATA of `rtype` from its presentation fields.
fn write_rdata(
    rtype: u16,
    fields: &[Token],
    origin: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), TextErrorKind> {
    let mut f = Fields { rest: fields };
    if f.peek() == Some("\\#") {
        f.next("\\#")?;
        let len: usize = parse_num(f.next("length")?, "length")?;
        let hex = f.rest_joined();
        let bytes = decode_hex(&hex)?;
        if bytes.len() != len {
            return Err(TextErrorKind::Bad {
                field: "generic RDATA length",
                text: len.to_string(),
            });
        }
        out.extend_from_slice(&bytes);
        return Ok(());
    }
    match RecordType::from(rtype) {
        RecordType::A => {
            let t = f.next("address")?;
            let a = Ipv4Addr::from_str(t).map_err(|_| bad("IPv4 address", t))?;
            out.extend_from_slice(&a.octets());
        }
        RecordType::AAAA => {
            let t = f.next("address")?;
            let a = Ipv6Addr::from_str(t).map_err(|_| bad("IPv6 address", t))?;
            out.extend_from_slice(&a.octets());
        }
        RecordType::NS | RecordType::CNAME | RecordType::DNAME | RecordType::PTR => {
            write_name(&mut f, origin, out, "target")?;
        }
        RecordType::MX => {
            out.extend_from_slice(
                &parse_num::<u16>(f.next("preference")?, "preference")?.to_be_bytes(),
            );
            write_name(&mut f, origin, out, "exchange")?;
        }
        RecordType::SRV => {
            for field in ["priority", "weight", "port"] {
                out.extend_from_slice(&parse_num::<u16>(f.next(field)?, field)?.to_be_bytes());
            }
            write_name(&mut f, origin, out, "target")?;
        }
        RecordType::TXT => {
            if f.rest.is_empty() {
                return Err(TextErrorKind::Missing { field: "text" });
            }
            for token in f.rest {
                let bytes = unescape(&token.text)?;
                let len =
                    u8::try_from(bytes.len()).map_err(|_| bad("character string", &token.text))?;
                out.push(len);
                out.extend_from_slice(&bytes);
            }
        }
        RecordType::SOA => {
            write_name(&mut f, origin, out, "mname")?;
            write_name(&mut f, origin, out, "rname")?;
            for field in ["serial", "refresh", "retry", "expire", "minimum"] {
                let t = f.next(field)?;
                let v = if field == "serial" {
                    parse_num(t, field)?
                } else {
                    parse_ttl(t)?
                };
                out.extend_from_slice(&u32::to_be_bytes(v));
            }
        }
        other => return write_dnssec_rdata(other, &mut f, origin, out),
    }
    if matches!(
        RecordType::from(rtype),
        RecordType::A
            | RecordType::AAAA
            | RecordType::NS
            | RecordType::CNAME
            | RecordType::DNAME
            | RecordType::PTR
            | RecordType::MX
            | RecordType::SRV
            | RecordType::SOA
            | RecordType::NSEC3PARAM
    ) && !f.rest.is_empty()
    {
        return Err(bad("trailing field", &f.rest_joined()));
    }
    Ok(())
}

/// The DNSSEC types (RFC 4034, RFC 5155) and their CDS/CDNSKEY twins.
fn write_dnssec_rdata(
    rtype: RecordType,
    f: &mut Fields<'_>,
    origin: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), TextErrorKind> {
    match rtype {
        RecordType::DS | RecordType::CDS => {
            out.extend_from_slice(&parse_num::<u16>(f.next("key tag")?, "key tag")?.to_be_bytes());
            out.push(parse_num(f.next("algorithm")?, "algorithm")?);
            out.push(parse_num(f.next("digest type")?, "digest type")?);
            out.extend_from_slice(&decode_hex(&f.rest_joined())?);
        }
        RecordType::DNSKEY | RecordType::CDNSKEY => {
            out.extend_from_slice(&parse_num::<u16>(f.next("flags")?, "flags")?.to_be_bytes());
            out.push(parse_num(f.next("protocol")?, "protocol")?);
            out.push(parse_num(f.next("algorithm")?, "algorithm")?);
            out.extend_from_slice(&decode_base64(&f.rest_joined())?);
        }
        RecordType::RRSIG => {
            out.extend_from_slice(&parse_type(f.next("type covered")?)?.to_be_bytes());
            out.push(parse_num(f.next("algorithm")?, "algorithm")?);
            out.push(parse_num(f.next("labels")?, "labels")?);
            out.extend_from_slice(&parse_ttl(f.next("original ttl")?)?.to_be_bytes());
            out.extend_from_slice(&parse_sig_time(f.next("expiration")?)?.to_be_bytes());
            out.extend_from_slice(&parse_sig_time(f.next("inception")?)?.to_be_bytes());
            out.extend_from_slice(&parse_num::<u16>(f.next("key tag")?, "key tag")?.to_be_bytes());
            write_name(f, origin, out, "signer")?;
            out.extend_from_slice(&decode_base64(&f.rest_joined())?);
        }
        RecordType::NSEC => {
            write_name(f, origin, out, "next name")?;
            write_type_bitmap_text(f.rest, out)?;
        }
        RecordType::NSEC3 | RecordType::NSEC3PARAM => {
            out.push(parse_num(f.next("hash algorithm")?, "hash algorithm")?);
            out.push(parse_num(f.next("flags")?, "flags")?);
            out.extend_from_slice(
                &parse_num::<u16>(f.next("iterations")?, "iterations")?.to_be_bytes(),
            );
            let salt_text = f.next("salt")?;
            let salt = if salt_text == "-" {
                Vec::new()
            } else {
                decode_hex(salt_text)?
            };
            out.push(u8::try_from(salt.len()).map_err(|_| bad("salt", salt_text))?);
            out.extend_from_slice(&salt);
            if rtype == RecordType::NSEC3 {
                let next_text = f.next("next hashed owner")?;
                let next = BASE32HEX_NOPAD
                    .decode(next_text.to_ascii_uppercase().as_bytes())
                    .map_err(|_| bad("next hashed owner", next_text))?;
                out.push(
                    u8::try_from(next.len()).map_err(|_| bad("next hashed owner", next_text))?,
                );
                out.extend_from_slice(&next);
                write_type_bitmap_text(f.rest, out)?;
            }
        }
        other => return Err(TextErrorKind::UnsupportedType(other.to_string())),
    }
    Ok(())
}

fn write_name(
    f: &mut Fields<'_>,
    origin: Option<&[u8]>,
    out: &mut Vec<u8>,
    what: &'static str,
) -> Result<(), TextErrorKind> {
    out.extend_from_slice(&parse_name(f.next(what)?, origin)?);
    Ok(())
}

struct Fields<'a> {
    rest: &'a [Token],
}

impl<'a> Fields<'a> {
    fn next(&mut self, field: &'static str) -> Result<&'a str, TextErrorKind> {
        let (first, rest) = self
            .rest
            .split_first()
            .ok_or(TextErrorKind::Missing { field })?;
        self.rest = rest;
        Ok(&first.text)
    }

    fn peek(&self) -> Option<&str> {
        self.rest.first().map(|t| t.text.as_str())
    }

    /// The remaining tokens glued together (base64 and hex may be split).
    fn rest_joined(&mut self) -> String {
        let joined = self.rest.iter().map(|t| t.text.as_str()).collect();
        self.rest = &[];
        joined
    }
}

fn bad(field: &'static str, text: &str) -> TextErrorKind {
    TextErrorKind::Bad {
        field,
        text: text.to_owned(),
    }
}

fn parse_num<T: FromStr>(text: &str, field: &'static str) -> Result<T, TextErrorKind> {
    text.parse().map_err(|_| bad(field, text))
}

/// A TTL in seconds, or with BIND's unit suffixes (`1h30m`, `2d`).
fn parse_ttl(text: &str) -> Result<u32, TextErrorKind> {
    if let Ok(v) = text.parse() {
        return Ok(v);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad("ttl", text)),
        };
        let n: u64 = digits.parse().map_err(|_| bad("ttl", text))?;
        total += n * unit;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad("ttl", text));
    }
    u32::try_from(total).map_err(|_| bad("ttl", text))
}

fn parse_type(text: &str) -> Result<u16, TextErrorKind> {
    let upper = text.to_ascii_uppercase();
    if let Some(n) = upper.strip_prefix("TYPE")
        && let Ok(code) = n.parse::<u16>()
    {
        return Ok(code);
    }
    match RecordType::from_str(&upper) {
        Ok(RecordType::Unknown(_)) | Err(_) => Err(bad("type", text)),
        Ok(t) => Ok(u16::from(t)),
    }
}

/// RRSIG times: `YYYYMMDDHHmmSS` in UTC, or seconds since the epoch
/// (RFC 4034 §3.2), reduced to 32 bits (RFC 1982 serial arithmetic).
fn parse_sig_time(text: &str) -> Result<u32, TextErrorKind> {
    if text.len() == 14 && text.bytes().all(|b| b.is_ascii_digit()) {
        let field = |r: core::ops::Range<usize>| -> i64 { text[r].parse().unwrap_or(0) };
        let (year, month, day) = (field(0..4), field(4..6), field(6..8));
        let (hour, minute, second) = (field(8..10), field(10..12), field(12..14));
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(bad("signature time", text));
        }
        let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        // Reduction modulo 2^32 is the field's definition (RFC 4034 §3.1.5);
        // rem_euclid makes it non-negative, so the conversion cannot fail.
        return u32::try_from(secs.rem_euclid(1 << 32)).map_err(|_| bad("signature time", text));
    }
    parse_num(text, "signature time")
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn decode_hex(text: &str) -> Result<Vec<u8>, TextErrorKind> {
    HEXUPPER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|_| bad("hex", text))
}

fn decode_base64(text: &str) -> Result<Vec<u8>, TextErrorKind> {
    BASE64
        .decode(text.as_bytes())
        .map_err(|_| bad("base64", text))
}

fn write_type_bitmap_text(types: &[Token], out: &mut Vec<u8>) -> Result<(), TextErrorKind> {
    let mut codes = types
        .iter()
        .map(|t| parse_type(&t.text))
        .collect::<Result<Vec<_>, _>>()?;
    codes.sort_unstable();
    codes.dedup();
    let mut i = 0;
    while i < codes.len() {
        let window = codes[i] >> 8;
        let mut bits = [0u8; 32];
        let mut len = 0;
        while i < codes.len() && codes[i] >> 8 == window {
            let low = usize::from(codes[i] & 0xFF);
            bits[low / 8] |= 0x80 >> (low % 8);
            len = low / 8 + 1;
            i += 1;
        }
        out.push(window as u8);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    }
    Ok(())
}

/// Presentation name → uncompressed wire name; relative names get `origin`.
fn parse_name(text: &str, origin: Option<&[u8]>) -> Result<Vec<u8>, TextErrorKind> {
    if text == "@" {
        return origin
            .map(<[u8]>::to_vec)
            .ok_or_else(|| TextErrorKind::Relative(text.to_owned()));
    }
    if text == "." {
        return Ok(vec![0]);
    }
    let mut out = Vec::with_capacity(text.len() + 2);
    let mut label = Vec::new();
    let mut bytes = text.bytes().peekable();
    let mut absolute = false;
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => label.push(unescape_one(&mut bytes).ok_or_else(|| bad("name", text))?),
            b'.' => {
                push_label(&mut out, &label, text)?;
                label.clear();
                if bytes.peek().is_none() {
                    absolute = true;
                }
            }
            _ => label.push(b),
        }
    }
    if absolute {
        out.push(0);
    } else {
        push_label(&mut out, &label, text)?;
        let origin = origin.ok_or_else(|| TextErrorKind::Relative(text.to_owned()))?;
        out.extend_from_slice(origin);
    }
    if out.len() > MAX_NAME_LEN {
        return Err(bad("name (too long)", text));
    }
    Ok(out)
}

fn push_label(out: &mut Vec<u8>, label: &[u8], text: &str) -> Result<(), TextErrorKind> {
    if label.is_empty() || label.len() > MAX_LABEL_LEN {
        return Err(bad("name label", text));
    }
    out.push(label.len() as u8);
    out.extend_from_slice(label);
    Ok(())
}

fn unescape_one(bytes: &mut impl Iterator<Item = u8>) -> Option<u8> {
    let first = bytes.next()?;
    if !first.is_ascii_digit() {
        return Some(first);
    }
    let d2 = bytes.next().filter(u8::is_ascii_digit)?;
    let d3 = bytes.next().filter(u8::is_ascii_digit)?;
    let v = u16::from(first - b'0') * 100 + u16::from(d2 - b'0') * 10 + u16::from(d3 - b'0');
    u8::try_from(v).ok()
}

fn unescape(text: &str) -> Result<Vec<u8>, TextErrorKind> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'\\' {
            out.push(unescape_one(&mut bytes).ok_or_else(|| bad("escape", text))?);
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// Splits text into logical lines of tokens: comments dropped, parentheses
/// joined, quotes kept together. A line starting with white space gets an
/// empty first token, meaning "the previous owner".
fn logical_lines(text: &str) -> Result<Vec<(usize, Vec<Token>)>, TextError> {
    let mut lines = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut start_line = 0;
    let mut depth = 0u32;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        if depth == 0 {
            start_line = line_no;
            if raw.starts_with([' ', '\t'])
                && !raw.trim().is_empty()
                && !raw.trim_start().starts_with(';')
            {
                current.push(Token {
                    text: String::new(),
                    quoted: false,
                });
            }
        }
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                ';' => break,
                '(' => depth += 1,
                ')' => {
                    depth = depth.checked_sub(1).ok_or(TextError {
                        line: line_no,
                        kind: TextErrorKind::Parentheses,
                    })?;
                }
                '"' => {
                    let mut s = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => {
                                s.push('\\');
                                if let Some(n) = chars.next() {
                                    s.push(n);
                                }
                            }
                            _ => s.push(c),
                        }
                    }
                    current.push(Token {
                        text: s,
                        quoted: true,
                    });
                }
                c if c.is_whitespace() => {}
                c => {
                    let mut s = String::from(c);
                    while let Some(&n) = chars.peek() {
                        if n.is_whitespace() || matches!(n, '(' | ')' | ';' | '"') {
                            break;
                        }
                        s.push(n);
                        chars.next();
                        if n == '\\'
                            && let Some(esc) = chars.next()
                        {
                            s.push(esc);
                        }
                    }
                    current.push(Token {
                        text: s,
                        quoted: false,
                    });
                }
            }
        }
        if depth == 0 && !current.is_empty() {
            // A line holding only the blank-owner marker is empty.
            if !(current.len() == 1 && current[0].text.is_empty() && !current[0].quoted) {
                lines.push((start_line, std::mem::take(&mut current)));
            }
            current.clear();
        }
    }
    if depth != 0 {
        return Err(TextError {
            line: start_line,
            kind: TextErrorKind::Parentheses,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::RData;

    #[test]
    fn reads_dnssec_records_with_origin_ttl_and_parentheses() {
        let text = "$ORIGIN example.\n$TTL 1h\n\
            @ IN DNSKEY 257 3 8 ( AwEAAag=\n  AQID ) ; split key\n\
            \tRRSIG DNSKEY 8 1 3600 20260518220000 20260505210000 54393 . AQID\n\
            www 300 A 192.0.2.1\n\
            ns  NSEC www.example. A NS SOA RRSIG NSEC DNSKEY TYPE1234\n\
            h   NSEC3 1 1 10 AABB 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG\n\
            d   DS 12345 13 2 4a5b ( 6c7d )\n\
            t   TXT \"hello world\" two\n\
            u   TYPE65280 \\# 3 010203\n";
        let records = parse_records(text).unwrap();
        assert_eq!(records.len(), 8);
        assert_eq!(records[0].name.to_string(), "example.");
        assert_eq!(records[0].ttl, 3600);
        assert_eq!(records[0].record_type(), RecordType::DNSKEY);
        assert_eq!(records[1].name.to_string(), "example.");
        assert_eq!(records[1].record_type(), RecordType::RRSIG);
        let RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) = &records[1].data
        else {
            panic!("not an RRSIG");
        };
        // 2026-05-18 22:00:00 UTC.
        assert_eq!(sig.input().sig_expiration.get(), 1_779_141_600);
        assert_eq!(records[2].ttl, 300);
        assert_eq!(records[3].record_type(), RecordType::NSEC);
        assert_eq!(records[4].record_type(), RecordType::NSEC3);
        assert_eq!(records[5].record_type(), RecordType::DS);
        assert_eq!(records[6].record_type(), RecordType::TXT);
        assert_eq!(u16::from(records[7].record_type()), 65280);
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let err = parse_records("a.example. 60 A 300.1.1.1\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(matches!(
            err.kind,
            TextErrorKind::Bad {
                field: "IPv4 address",
                ..
            }
        ));
        let err = parse_records("\n\nrel 60 A 1.2.3.4\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(matches!(err.kind, TextErrorKind::Relative(_)));
        let err = parse_records("a. 60 DNSKEY 257 3 8 (AwEA\n").unwrap_err();
        assert_eq!(err.kind, TextErrorKind::Parentheses);
        let err = parse_records("a. 60 DS 1 8 2 zz\n").unwrap_err();
        assert!(matches!(err.kind, TextErrorKind::Bad { field: "hex", .. }));
    }

    #[test]
    fn civil_dates_convert_to_epoch_seconds() {
        assert_eq!(parse_sig_time("19700101000000").unwrap(), 0);
        assert_eq!(parse_sig_time("20000229120000").unwrap(), 951_825_600);
        assert_eq!(parse_sig_time("1234").unwrap(), 1234);
        assert!(parse_sig_time("20261301000000").is_err());
    }
}
