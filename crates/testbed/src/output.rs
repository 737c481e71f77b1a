//! Files for tests and tools: each zone as a master file (RFC 1035 §5),
//! root hints, the root trust anchor (DS and DNSKEY as zone-file text),
//! the manifest and the dnsperf query files.

use std::fmt::Write as _;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anchorage_wire::proto::dnssec::DigestType;
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use crate::hierarchy::{DELEGATION_TTL, Hierarchy, ROOT_NS, ServedZone};
use crate::signer::{SigningPlan, make_ds};
use crate::zone::{DEFAULT_TTL, Zone};

/// Why outputs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file or directory could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Where [`write_outputs`] put each file.
#[derive(Debug, Clone)]
pub struct OutputPaths {
    /// The directory holding everything.
    pub dir: PathBuf,
    /// Root hints (`root.hints`).
    pub root_hints: PathBuf,
    /// Root trust anchor, DS and DNSKEY (`root.anchor`).
    pub anchor: PathBuf,
    /// Manifest (`manifest.txt`).
    pub manifest: PathBuf,
    /// Directory of master files, one per zone (`zones/`).
    pub zones: PathBuf,
}

/// Formats one record in presentation form, names in ASCII (punycode
/// labels stay as they are: hickory's `Display` would turn them to UTF-8).
pub fn record_text(record: &Record) -> String {
    let owner = record.name.to_ascii();
    let ttl = record.ttl;
    let rtype = record.record_type();
    let rdata = match &record.data {
        RData::NS(ns) => ns.0.to_ascii(),
        RData::CNAME(cname) => cname.0.to_ascii(),
        RData::MX(mx) => format!("{} {}", mx.preference, mx.exchange.to_ascii()),
        RData::SOA(soa) => format!(
            "{} {} {} {} {} {} {}",
            soa.mname.to_ascii(),
            soa.rname.to_ascii(),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum
        ),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| quoted(s))
            .collect::<Vec<_>>()
            .join(" "),
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => {
            let types: Vec<String> = nsec.type_bit_maps().map(|t| t.to_string()).collect();
            format!("{} {}", nsec.next_domain_name().to_ascii(), types.join(" "))
        }
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
            let i = sig.input();
            format!(
                "{} {} {} {} {} {} {} {} {}",
                i.type_covered,
                u8::from(i.algorithm),
                i.num_labels,
                i.original_ttl,
                i.sig_expiration.get(),
                i.sig_inception.get(),
                i.key_tag,
                i.signer_name.to_ascii(),
                base64(sig.sig())
            )
        }
        _ => return legacy_text(record),
    };
    format!("{owner} {ttl} IN {rtype} {rdata}")
}

/// A character-string in quotes, `"`, `\\` and non-printables escaped
/// (RFC 1035 §5.1).
fn quoted(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
    out.push('"');
    out
}

/// Base64 (RFC 4648 §4) with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Records whose RDATA holds no names: hickory's text, owner in ASCII.
fn legacy_text(record: &Record) -> String {
    let owner = record.name.to_ascii();
    match &record.data {
        RData::Unknown { code, rdata } if *code == RecordType::DNAME => {
            let target = Name::from_labels(wire_labels(&rdata.anything))
                .map_or_else(|_| ".".to_owned(), |n| n.to_ascii());
            format!("{owner} {} IN DNAME {target}", record.ttl)
        }
        RData::Unknown { code, rdata } => {
            let hex = rdata.anything.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            });
            format!(
                "{owner} {} IN TYPE{} \\# {} {hex}",
                record.ttl,
                u16::from(*code),
                rdata.anything.len()
            )
        }
        _ => format!(
            "{owner} {} IN {} {}",
            record.ttl,
            record.record_type(),
            record.data
        ),
    }
}

/// The name in uncompressed wire form `wire`, if it is one.
pub fn name_from_wire(wire: &[u8]) -> Option<Name> {
    Name::from_labels(wire_labels(wire)).ok()
}

/// Labels of an uncompressed wire name (stops at the root or at an error).
fn wire_labels(wire: &[u8]) -> Vec<&[u8]> {
    let mut labels = Vec::new();
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        let len = usize::from(len);
        if len == 0 {
            break;
        }
        let Some(label) = wire.get(pos + 1..pos + 1 + len) else {
            break;
        };
        labels.push(label);
        pos += 1 + len;
    }
    labels
}

/// The zone as a master file: every RRset with its RRSIGs, then NSEC3s.
pub fn zone_text(zone: &Zone) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "$ORIGIN {}", zone.origin().to_ascii());
    // SOA first: ldns and others expect it at the top.
    if let Some(node) = zone.node(zone.origin())
        && let Some(set) = node.rrset(RecordType::SOA)
    {
        for r in set.records.iter().chain(&set.rrsigs) {
            let _ = writeln!(out, "{}", record_text(r));
        }
    }
    for (name, node) in zone.nodes() {
        for (&code, set) in &node.rrsets {
            if name == zone.origin() && code == u16::from(RecordType::SOA) {
                continue;
            }
            for r in set.records.iter().chain(&set.rrsigs) {
                let _ = writeln!(out, "{}", record_text(r));
            }
        }
    }
    if let Some(chain) = zone.nsec3() {
        for set in chain.records.values() {
            for r in set.records.iter().chain(&set.rrsigs) {
                let _ = writeln!(out, "{}", record_text(r));
            }
        }
    }
    out
}

/// Root hints: the root's NS and its address.
pub fn root_hints(hierarchy: &Hierarchy) -> String {
    root_hints_text(hierarchy.config.addresses.root())
}

/// Root hints for a root server at `root`.
pub fn root_hints_text(root: Ipv4Addr) -> String {
    format!(". {DELEGATION_TTL} IN NS {ROOT_NS}\n{ROOT_NS} {DELEGATION_TTL} IN A {root}\n")
}

/// The root trust anchor: DS (SHA-256) and DNSKEY of each root KSK that
/// signs the root's DNSKEY RRset, as zone-file text.
pub fn trust_anchor(hierarchy: &Hierarchy) -> String {
    match hierarchy.zones.first() {
        Some(ServedZone {
            zone,
            plan: Some(plan),
            ..
        }) => trust_anchor_text(zone.origin(), plan),
        _ => String::new(),
    }
}

/// DS and DNSKEY text of the KSKs of `plan` that sign the DNSKEY RRset.
pub fn trust_anchor_text(origin: &Name, plan: &SigningPlan) -> String {
    let mut out = String::new();
    let origin_text = origin.to_ascii();
    for entry in plan.keys.iter().filter(|e| e.key.is_ksk() && e.signs_keys) {
        let ds = make_ds(origin, &entry.key, DigestType::SHA256);
        let _ = writeln!(out, "{origin_text} {DEFAULT_TTL} IN DS {ds}");
        let _ = writeln!(
            out,
            "{origin_text} {DEFAULT_TTL} IN DNSKEY {}",
            entry.key.dnskey()
        );
    }
    out
}

/// File name of a zone's master file (`root.zone` for the root).
pub fn zone_file_name(origin: &Name) -> String {
    if origin.is_root() {
        "root.zone".to_owned()
    } else {
        format!("{}zone", origin.to_lowercase().to_ascii())
    }
}

/// Writes every output under `dir` and says where.
pub fn write_outputs(hierarchy: &Hierarchy, dir: &Path) -> Result<OutputPaths, OutputError> {
    let zones = dir.join("zones");
    let paths = OutputPaths {
        dir: dir.to_path_buf(),
        root_hints: dir.join("root.hints"),
        anchor: dir.join("root.anchor"),
        manifest: dir.join("manifest.txt"),
        zones: zones.clone(),
    };
    create_dir(&zones)?;
    write(&paths.root_hints, &root_hints(hierarchy))?;
    write(&paths.anchor, &trust_anchor(hierarchy))?;
    write(&paths.manifest, &hierarchy.manifest.to_text())?;
    let (hot, cold, mix) = hierarchy.manifest.dnsperf_files();
    write(&dir.join("queries-hot.txt"), &hot)?;
    write(&dir.join("queries-cold.txt"), &cold)?;
    write(&dir.join("queries-mix.txt"), &mix)?;
    for served in &hierarchy.zones {
        let path = zones.join(zone_file_name(served.zone.origin()));
        write(&path, &zone_text(&served.zone))?;
    }
    Ok(paths)
}

fn create_dir(path: &Path) -> Result<(), OutputError> {
    std::fs::create_dir_all(path).map_err(|source| OutputError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), OutputError> {
    std::fs::write(path, text).map_err(|source| OutputError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_wire::text::parse_records;

    #[test]
    fn base64_pads_like_rfc_4648() {
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn idn_names_stay_in_punycode_and_parse_back() {
        let name = Name::from_ascii("www.xn--j6w193g.").unwrap();
        let record = Record::from_rdata(
            name.clone(),
            60,
            RData::CNAME(anchorage_wire::proto::rr::rdata::CNAME(name.clone())),
        );
        let text = record_text(&record);
        assert_eq!(text, "www.xn--j6w193g. 60 IN CNAME www.xn--j6w193g.");
        assert_eq!(parse_records(&text).unwrap()[0], record);
    }
}
