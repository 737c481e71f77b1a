//! Defects on demand: named zone variants that break DNSSEC (or DNS) in one
//! known way each, and server behaviours that misbehave on the wire.

use anchorage_wire::proto::dnssec::DigestType;
use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, DS, RRSIG};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use crate::manifest::Category;
use crate::zone::{RrSet, Zone};

/// NSEC3 iterations of the [`Defect::Nsec3Iterations`] zone; far above the
/// 150 validators accept (RFC 9276 §3.2), so its denials are insecure.
pub const DEFECT_NSEC3_ITERATIONS: u16 = 500;
/// DS digest type of the [`Defect::UnsupportedDigest`] zone: GOST R
/// 34.11-94 (3), which validators must not implement (RFC 8624 §3.3), so
/// the DS set is treated as absent and the zone as insecure (RFC 4035 §5.2).
pub const UNSUPPORTED_DIGEST_TYPE: u8 = 3;
/// DNSKEYs sharing one key tag in the [`Defect::KeyTrap`] zone: the ZSK and
/// the colliding keys (CVE-2023-50387).
pub const KEYTRAP_KEYS: usize = 32;
/// RRSIGs over `www` A in the [`Defect::KeyTrap`] zone, all naming the
/// colliding tag: a validator that tries every pair makes
/// `KEYTRAP_KEYS * KEYTRAP_SIGS` verifications before the one that holds.
pub const KEYTRAP_SIGS: usize = 32;

/// A named way a zone or its server is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// The RRSIG over `www` A has a corrupted signature.
    BadSignature,
    /// Every RRSIG expired before the validity window of the hierarchy.
    ExpiredRrsig,
    /// Every RRSIG starts after the validity window of the hierarchy.
    NotYetValidRrsig,
    /// The parent's DS matches no DNSKEY of the zone.
    DsMismatch,
    /// The DNSKEY RRset is signed only by the ZSK.
    DnskeySignedByZskOnly,
    /// `www` A has no RRSIG.
    MissingRrsigs,
    /// The zone has no NSEC records: no denial can be proved.
    MissingDenial,
    /// Keys use Ed448 with random signatures: insecure to a validator
    /// without Ed448 (ring, so ours); one with it (unbound and ldns on
    /// OpenSSL 3) finds them bogus.
    UnsupportedAlgorithm,
    /// Keys use the private algorithm 253 (PRIVATEDNS): the zone is insecure.
    PrivateAlgorithm,
    /// Many DNSKEYs with one key tag and many RRSIGs over `www` A, the
    /// valid one last (KeyTrap, CVE-2023-50387).
    KeyTrap,
    /// The parent's only DS uses an unassigned digest: insecure.
    UnsupportedDigest,
    /// NSEC3 with 500 iterations: denials are insecure (RFC 9276).
    Nsec3Iterations,
    /// `loop1` and `loop2` are CNAMEs to each other.
    CnameLoop,
    /// The server answers REFUSED to everything (lame delegation).
    Lame,
    /// The server never answers.
    Unresponsive,
    /// Every UDP answer is empty with TC set, forcing TCP.
    AlwaysTruncated,
    /// The server adds out-of-bailiwick records to its answers (poisoning).
    OutOfBailiwick,
    /// The server answers with a wrong message ID (spoofing).
    WrongId,
    /// The server answers a different question (spoofing).
    WrongQuestion,
}

impl Defect {
    /// Every defect, in a fixed order.
    pub const ALL: [Self; 19] = [
        Self::BadSignature,
        Self::ExpiredRrsig,
        Self::NotYetValidRrsig,
        Self::DsMismatch,
        Self::DnskeySignedByZskOnly,
        Self::MissingRrsigs,
        Self::MissingDenial,
        Self::UnsupportedAlgorithm,
        Self::UnsupportedDigest,
        Self::Nsec3Iterations,
        Self::PrivateAlgorithm,
        Self::KeyTrap,
        Self::CnameLoop,
        Self::Lame,
        Self::Unresponsive,
        Self::AlwaysTruncated,
        Self::OutOfBailiwick,
        Self::WrongId,
        Self::WrongQuestion,
    ];

    /// The defect's name, used as the zone's first label (`d-<name>`) and
    /// as the reason in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadSignature => "bad-signature",
            Self::ExpiredRrsig => "expired-rrsig",
            Self::NotYetValidRrsig => "not-yet-valid-rrsig",
            Self::DsMismatch => "ds-mismatch",
            Self::DnskeySignedByZskOnly => "dnskey-signed-by-zsk-only",
            Self::MissingRrsigs => "missing-rrsigs",
            Self::MissingDenial => "missing-denial",
            Self::UnsupportedAlgorithm => "unsupported-algorithm",
            Self::UnsupportedDigest => "unsupported-digest",
            Self::Nsec3Iterations => "nsec3-500-iterations",
            Self::PrivateAlgorithm => "private-algorithm",
            Self::KeyTrap => "keytrap",
            Self::CnameLoop => "cname-loop",
            Self::Lame => "lame",
            Self::Unresponsive => "unresponsive",
            Self::AlwaysTruncated => "always-truncated",
            Self::OutOfBailiwick => "out-of-bailiwick",
            Self::WrongId => "wrong-id",
            Self::WrongQuestion => "wrong-question",
        }
    }

    /// Whether the defect is in the zone data alone, so `ldns-verify-zone`
    /// sees it. DS and KSK defects only show against the parent's DS.
    pub fn in_zone_data(self) -> bool {
        matches!(
            self,
            Self::BadSignature
                | Self::ExpiredRrsig
                | Self::NotYetValidRrsig
                | Self::MissingRrsigs
                | Self::MissingDenial
        )
    }

    /// Whether the defect is in how the server answers.
    pub fn in_server(self) -> bool {
        matches!(
            self,
            Self::Lame
                | Self::Unresponsive
                | Self::AlwaysTruncated
                | Self::OutOfBailiwick
                | Self::WrongId
                | Self::WrongQuestion
        )
    }

    /// The manifest entry for the zone: name relative to the zone, qtype,
    /// and what a validating resolver should make of it.
    pub fn probe(self) -> (&'static str, &'static str, Category) {
        let bogus = Category::Bogus {
            reason: self.name().to_owned(),
        };
        match self {
            Self::MissingDenial => ("nonexistent", "A", bogus),
            Self::Nsec3Iterations => ("nonexistent", "A", Category::Insecure),
            Self::UnsupportedAlgorithm | Self::UnsupportedDigest | Self::PrivateAlgorithm => {
                ("www", "A", Category::Insecure)
            }
            Self::CnameLoop => ("loop1", "A", bogus),
            // A resolver should retry over TCP and get a secure answer.
            Self::AlwaysTruncated => ("www", "A", Category::Secure),
            _ => ("www", "A", bogus),
        }
    }
}

/// Breaks a signed zone after signing, for the defects that live in its
/// RRSIGs or denial records.
pub fn damage_zone(zone: &mut Zone, defect: Defect) {
    let www = zone
        .origin()
        .prepend_label("www")
        .unwrap_or_else(|_| zone.origin().clone());
    match defect {
        Defect::BadSignature => {
            if let Some(set) = zone
                .node_mut(&www)
                .and_then(|n| n.rrsets.get_mut(&u16::from(RecordType::A)))
            {
                for sig in &mut set.rrsigs {
                    if let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &sig.data {
                        let mut bytes = rrsig.sig().to_vec();
                        if let Some(b) = bytes.get_mut(10) {
                            *b ^= 0x5a;
                        }
                        let input = rrsig.input().clone();
                        sig.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, bytes)));
                    }
                }
            }
        }
        Defect::MissingRrsigs => {
            if let Some(set) = zone
                .node_mut(&www)
                .and_then(|n| n.rrsets.get_mut(&u16::from(RecordType::A)))
            {
                set.rrsigs.clear();
            }
        }
        Defect::MissingDenial => {
            for (_, node) in zone.nodes_mut() {
                node.rrsets.remove(&u16::from(RecordType::NSEC));
            }
        }
        Defect::KeyTrap => {
            if let Some(set) = zone
                .node_mut(&www)
                .and_then(|n| n.rrsets.get_mut(&u16::from(RecordType::A)))
            {
                trap_signatures(set);
            }
        }
        _ => {}
    }
}

/// Puts `KEYTRAP_SIGS - 1` signatures of random bytes, under the real
/// signature's key tag, before the real one.
fn trap_signatures(set: &mut RrSet) {
    let Some(real) = set.rrsigs.first().cloned() else {
        return;
    };
    let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &real.data else {
        return;
    };
    let mut junk: Vec<Record> = (0..KEYTRAP_SIGS - 1)
        .map(|i| {
            let mut bytes = rrsig.sig().to_vec();
            for (k, b) in bytes.iter_mut().enumerate() {
                // Any bytes but the real ones; a fixed pattern keeps the zone
                // the same from run to run.
                *b ^= ((i * 31 + k * 7) as u8) | 1;
            }
            let mut record = real.clone();
            record.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                rrsig.input().clone(),
                bytes,
            )));
            record
        })
        .collect();
    junk.append(&mut set.rrsigs);
    set.rrsigs = junk;
}

/// Breaks the DS records the parent publishes for a defective child.
pub fn damage_ds(ds: DS, defect: Defect) -> DS {
    match defect {
        Defect::DsMismatch => {
            let mut digest = ds.digest().to_vec();
            if let Some(b) = digest.first_mut() {
                *b ^= 0xff;
            }
            DS::new(ds.key_tag(), ds.algorithm(), ds.digest_type(), digest)
        }
        Defect::UnsupportedDigest => DS::new(
            ds.key_tag(),
            ds.algorithm(),
            DigestType::from(UNSUPPORTED_DIGEST_TYPE),
            ds.digest().to_vec(),
        ),
        _ => ds,
    }
}

/// The name a [`Defect::WrongQuestion`] server puts in its question.
pub fn spoofed_question(origin: &Name) -> Name {
    origin
        .prepend_label("spoofed")
        .unwrap_or_else(|_| origin.clone())
}
