//! The records of a second-level zone and its manifest entries: A, AAAA,
//! MX, TXT, CNAMEs (in-zone and across zones), DNAME, a wildcard, empty
//! non-terminals, and an RRset larger than 1232 bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use anchorage_wire::canonical::write_canonical_name;
use anchorage_wire::proto::dnssec::DigestType;
use anchorage_wire::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, NULL, TXT};
use anchorage_wire::proto::rr::{Name, RData, RecordType};

use crate::defects::Defect;
use crate::denial::Denial;
use crate::hierarchy::{BuildError, DELEGATION_TTL, HOSTING_ZONE, HierarchyConfig, Signing, bad};
use crate::keys::KeyAlgorithm;
use crate::manifest::{Category, Manifest};
use crate::zone::{DEFAULT_TTL, Nsec3Params, Zone};

/// Strings in the large TXT RRset; with [`BIG_TXT_LEN`] bytes each the
/// RRset exceeds 1232 bytes, the EDNS size DNS Flag Day 2020 recommends.
pub const BIG_TXT_COUNT: usize = 8;
/// Length of each string of the large TXT RRset.
pub const BIG_TXT_LEN: usize = 200;
/// One in this many second-level zones is unsigned (insecure).
pub const INSECURE_EVERY: usize = 9;
/// One in this many second-level zones has a glueless NS.
pub const GLUELESS_EVERY: usize = 7;

/// The algorithms of the first second-level zones, so each is present
/// even in small hierarchies; later zones use the fast ones.
/// RSASHA1 sits where the zone uses NSEC and RSASHA1-NSEC3-SHA1 where it
/// uses NSEC3 (every third zone from the second), as RFC 5155 §2 asks.
const FIRST_ALGORITHMS: [KeyAlgorithm; 8] = [
    KeyAlgorithm::EcdsaP256Sha256,
    KeyAlgorithm::Ed25519,
    KeyAlgorithm::RsaSha256,
    KeyAlgorithm::EcdsaP384Sha384,
    KeyAlgorithm::RsaSha512,
    KeyAlgorithm::RsaSha1,
    KeyAlgorithm::EcdsaP256Sha256,
    KeyAlgorithm::RsaSha1Nsec3Sha1,
];

/// How one second-level zone is made.
#[derive(Debug, Clone)]
pub struct Shape {
    pub(crate) signing: Option<Signing>,
    pub(crate) glueless: bool,
    pub(crate) salt: u64,
}

/// SplitMix64: a small, fixed PRNG so the seed alone decides the shapes.
fn splitmix(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The shape of second-level zone `i` under `seed`.
pub(crate) fn sld_shape(seed: u64, i: usize) -> Shape {
    let r = splitmix(seed ^ (i as u64).wrapping_mul(0x1000_0000_01b3));
    let signing = (i % INSECURE_EVERY != INSECURE_EVERY - 1).then(|| {
        let algorithm = FIRST_ALGORITHMS.get(i).copied().unwrap_or(if r & 1 == 0 {
            KeyAlgorithm::EcdsaP256Sha256
        } else {
            KeyAlgorithm::Ed25519
        });
        let denial = if i % 3 == 1 {
            Denial::Nsec3(Nsec3Params {
                iterations: 0,
                salt: if r & 2 == 0 {
                    Vec::new()
                } else {
                    (r >> 8).to_be_bytes()[..4].to_vec()
                },
                opt_out: false,
            })
        } else {
            Denial::Nsec
        };
        let digests = match i % 5 {
            0 => vec![DigestType::SHA256, DigestType::SHA384],
            1 => vec![DigestType::SHA1, DigestType::SHA256],
            _ => vec![DigestType::SHA256],
        };
        Signing {
            algorithm,
            split: i.is_multiple_of(2),
            denial,
            digests,
        }
    });
    Shape {
        signing,
        glueless: i % GLUELESS_EVERY == GLUELESS_EVERY - 1,
        salt: r,
    }
}

/// Adds the records of a second-level zone and its manifest entries.
// One record list, read top-down; splitting it would scatter the shape.
#[allow(clippy::too_many_lines)]
pub(crate) fn add_sld_content(
    zone: &mut Zone,
    shape: &Shape,
    server: Ipv4Addr,
    config: &HierarchyConfig,
    defect: Option<Defect>,
    manifest: &mut Manifest,
) -> Result<(), BuildError> {
    let origin = zone.origin().clone();
    let sub = |label: &str| origin.prepend_label(label).map_err(|_| bad(label));
    let r = shape.salt;
    let octets = r.to_be_bytes();

    if shape.glueless {
        let hosting = Name::from_ascii(HOSTING_ZONE).map_err(|_| bad(HOSTING_ZONE))?;
        let host = server.octets()[3];
        let target = hosting
            .prepend_label(format!("ns{host}").as_str())
            .map_err(|_| bad(HOSTING_ZONE))?;
        zone.add_rdata(&origin, DELEGATION_TTL, RData::NS(NS(target)));
    } else {
        let ns1 = sub("ns1")?;
        zone.add_rdata(&origin, DELEGATION_TTL, RData::NS(NS(ns1.clone())));
        zone.add_rdata(&ns1, DELEGATION_TTL, RData::A(A::from(server)));
    }

    // Data addresses sit in 127.200.0.0/16 and 2001:db8::/32, so nothing a
    // resolver might try to reach leaves loopback.
    let data_v4 = Ipv4Addr::new(127, 200, octets[0], octets[1].max(1));
    let data_v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, u16::from(octets[2]), 1);
    let www = sub("www")?;
    let mail = sub("mail")?;
    zone.add_rdata(&origin, DEFAULT_TTL, RData::A(A::from(data_v4)));
    zone.add_rdata(&origin, DEFAULT_TTL, RData::AAAA(AAAA::from(data_v6)));
    zone.add_rdata(&origin, DEFAULT_TTL, RData::MX(MX::new(10, mail.clone())));
    zone.add_rdata(&www, DEFAULT_TTL, RData::A(A::from(data_v4)));
    zone.add_rdata(&www, DEFAULT_TTL, RData::AAAA(AAAA::from(data_v6)));
    zone.add_rdata(&mail, DEFAULT_TTL, RData::A(A::from(data_v4)));
    let txt = format!("testbed seed={} zone={origin}", config.seed);
    zone.add_rdata(&origin, DEFAULT_TTL, RData::TXT(TXT::new(vec![txt])));

    zone.add_rdata(
        &sub("cname")?,
        DEFAULT_TTL,
        RData::CNAME(CNAME(www.clone())),
    );
    let wild = sub("wild")?;
    let star = wild.prepend_label("*").map_err(|_| bad("*"))?;
    zone.add_rdata(&star, DEFAULT_TTL, RData::A(A::from(data_v4)));
    zone.add_rdata(
        &star,
        DEFAULT_TTL,
        RData::TXT(TXT::new(vec!["wildcard".into()])),
    );
    let deep = sub("ent")?
        .prepend_label("b")
        .and_then(|n| n.prepend_label("a"))
        .map_err(|_| bad("a.b.ent"))?;
    zone.add_rdata(&deep, DEFAULT_TTL, RData::A(A::from(data_v4)));
    let big: Vec<String> = (0..BIG_TXT_COUNT)
        .map(|k| {
            // In u16: k + octet can pass 255 (it overflowed u8 for some seeds).
            let letter = (k as u16 + u16::from(octets[3])) % 26;
            let c = char::from(b'a' + letter as u8);
            std::iter::repeat_n(c, BIG_TXT_LEN).collect()
        })
        .collect();
    zone.add_rdata(&sub("big")?, DEFAULT_TTL, RData::TXT(TXT::new(big)));
    // DNAME to the hosting zone (RFC 6672): hickory keeps DNAME RDATA raw.
    let mut target = Vec::new();
    write_canonical_name(
        &Name::from_ascii(HOSTING_ZONE).map_err(|_| bad(HOSTING_ZONE))?,
        &mut target,
    );
    zone.add_rdata(
        &sub("dname")?,
        DEFAULT_TTL,
        RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(target),
        },
    );

    if defect == Some(Defect::CnameLoop) {
        let (l1, l2) = (sub("loop1")?, sub("loop2")?);
        zone.add_rdata(&l1, DEFAULT_TTL, RData::CNAME(CNAME(l2.clone())));
        zone.add_rdata(&l2, DEFAULT_TTL, RData::CNAME(CNAME(l1)));
    }
    if defect.is_some() {
        return Ok(());
    }

    // A CNAME into another zone: the next second-level zone's www.
    let index: usize = origin
        .iter()
        .next()
        .and_then(|l| std::str::from_utf8(&l[1..]).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let next = (index + 1) % config.zones.max(1);
    let tld_of_next = crate::hierarchy::tld_label(next);
    let other = Name::from_ascii(format!("www.z{next}.{tld_of_next}."))
        .map_err(|_| bad("cross-zone cname"))?;
    zone.add_rdata(
        &sub("alias")?,
        DEFAULT_TTL,
        RData::CNAME(CNAME(other.clone())),
    );
    // A wildcard CNAME into the next zone: a chain whose first link is a
    // wildcard expansion, proven only in the first zone's reply.
    let wildcard_alias = sub("wcname")?.prepend_label("*").map_err(|_| bad("*"))?;
    zone.add_rdata(&wildcard_alias, DEFAULT_TTL, RData::CNAME(CNAME(other)));

    // ASCII, punycode kept: dnsperf and dig send the file's bytes as they are.
    let n = origin.to_ascii();
    let kind = if shape.signing.is_some() {
        Category::Secure
    } else {
        Category::Insecure
    };
    manifest.push(format!("www.{n}"), "A", kind.clone());
    manifest.push(format!("www.{n}"), "AAAA", kind.clone());
    manifest.push(n.clone(), "MX", kind.clone());
    manifest.push(format!("big.{n}"), "TXT", kind);
    if shape.signing.is_some() {
        manifest.push(format!("nonexistent.{n}"), "A", Category::Nxdomain);
        manifest.push(format!("www.{n}"), "TXT", Category::Nodata);
        manifest.push(format!("ent.{n}"), "A", Category::Nodata);
        manifest.push(
            format!("host{}.wild.{n}", octets[4]),
            "A",
            Category::Wildcard,
        );
        manifest.push(format!("cname.{n}"), "A", Category::Cname);
        manifest.push(format!("alias.{n}"), "A", Category::Cname);
        manifest.push(
            format!("host{}.wcname.{n}", octets[5]),
            "A",
            Category::Cname,
        );
    }
    Ok(())
}
