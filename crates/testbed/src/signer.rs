//! Signs a zone: publishes its DNSKEY RRset, builds the denial chain and
//! adds RRSIGs over every authoritative RRset (RFC 4035 §2), using the
//! `wire` crate's canonical signed data and ring.
//!
//! Also makes DS records for a child's keys (RFC 4034 §5.1.4).

use anchorage_wire::canonical::{SignedData, signed_data, write_canonical_name};
use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, DS, RRSIG, SigInput};
use anchorage_wire::proto::dnssec::{Algorithm, DigestType};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType, SerialNumber};
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, SHA384, digest};

use crate::denial::{Denial, DenialError, add_chain};
use crate::keys::{SignError, ZoneKey};
use crate::zone::{RrSet, Zone, label_count};

/// The time span signatures are valid for, in seconds since the epoch
/// (RFC 4034 §3.1.5; serial-number arithmetic applies on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Signature inception.
    pub inception: u32,
    /// Signature expiration.
    pub expiration: u32,
}

impl Validity {
    /// Valid from `now - before` to `now + after` (all in seconds).
    pub fn around(now: u32, before: u32, after: u32) -> Self {
        Self {
            inception: now.wrapping_sub(before),
            expiration: now.wrapping_add(after),
        }
    }
}

/// One key of a zone and what it does.
#[derive(Debug)]
pub struct KeyEntry {
    /// The key.
    pub key: ZoneKey,
    /// Whether its DNSKEY is in the zone's DNSKEY RRset.
    pub published: bool,
    /// Whether it signs the DNSKEY RRset.
    pub signs_keys: bool,
    /// Whether it signs every other RRset.
    pub signs_zone: bool,
}

/// Everything needed to sign a zone.
#[derive(Debug)]
pub struct SigningPlan {
    /// The zone's keys.
    pub keys: Vec<KeyEntry>,
    /// NSEC or NSEC3.
    pub denial: Denial,
    /// Validity of every signature.
    pub validity: Validity,
}

/// Why a zone could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignZoneError {
    /// The denial chain failed.
    #[error("cannot build the denial chain")]
    Denial(#[from] DenialError),
    /// An RRset could not be put in canonical form.
    #[error("cannot build signed data for {owner} type {rtype}")]
    Canonical {
        /// Owner of the RRset.
        owner: String,
        /// Its type.
        rtype: RecordType,
        /// The cause.
        #[source]
        source: anchorage_wire::CanonicalError,
    },
    /// ring failed.
    #[error("cannot sign {owner} type {rtype}")]
    Sign {
        /// Owner of the RRset.
        owner: String,
        /// Its type.
        rtype: RecordType,
        /// The cause.
        #[source]
        source: SignError,
    },
}

/// Publishes the keys, builds the chain and signs every RRset of `zone`.
pub fn sign_zone(zone: &mut Zone, plan: &SigningPlan) -> Result<(), SignZoneError> {
    let origin = zone.origin().clone();
    let ttl = zone.soa().map_or(crate::zone::DEFAULT_TTL, |r| r.ttl);
    zone.remove_rrset(&origin, RecordType::DNSKEY);
    for entry in plan.keys.iter().filter(|e| e.published) {
        zone.add_rdata(
            &origin,
            ttl,
            RData::DNSSEC(DNSSECRData::DNSKEY(entry.key.dnskey())),
        );
    }
    add_chain(zone, &plan.denial)?;

    let mut buf = SignedData::new();
    let names: Vec<Name> = zone.nodes().map(|(n, _)| n.clone()).collect();
    for name in names {
        if zone.is_below_cut(&name) {
            continue;
        }
        let cut = zone.is_cut(&name);
        let Some(node) = zone.node_mut(&name) else {
            continue;
        };
        for (&code, set) in &mut node.rrsets {
            let rtype = RecordType::from(code);
            // RFC 4035 §2.2: at a cut only DS and NSEC are authoritative.
            if cut && !matches!(rtype, RecordType::DS | RecordType::NSEC) {
                continue;
            }
            sign_rrset(set, &origin, plan, &mut buf)?;
        }
    }
    if let Some(chain) = zone.nsec3_mut() {
        for set in chain.records.values_mut() {
            sign_rrset(set, &origin, plan, &mut buf)?;
        }
    }
    Ok(())
}

/// Replaces the RRSIGs of `set` with fresh ones from the plan's keys.
pub fn sign_rrset(
    set: &mut RrSet,
    signer: &Name,
    plan: &SigningPlan,
    buf: &mut SignedData,
) -> Result<(), SignZoneError> {
    set.rrsigs.clear();
    let Some(first) = set.records.first() else {
        return Ok(());
    };
    let rtype = first.record_type();
    let owner = first.name.clone();
    let ttl = first.ttl;
    let is_dnskey = rtype == RecordType::DNSKEY;
    for entry in &plan.keys {
        let signs = if is_dnskey {
            entry.signs_keys
        } else {
            entry.signs_zone
        };
        if !signs {
            continue;
        }
        let rrsig = make_rrsig(
            &set.records,
            &owner,
            ttl,
            signer,
            &entry.key,
            plan.validity,
            buf,
        )?;
        set.rrsigs.push(rrsig);
    }
    Ok(())
}

/// Makes one RRSIG record over `records` with `key`.
pub fn make_rrsig(
    records: &[Record],
    owner: &Name,
    ttl: u32,
    signer: &Name,
    key: &ZoneKey,
    validity: Validity,
    buf: &mut SignedData,
) -> Result<Record, SignZoneError> {
    let rtype = records
        .first()
        .map_or(RecordType::NULL, Record::record_type);
    let wildcard = owner.is_wildcard();
    // RFC 4034 §3.1.3: labels of the owner, leaving out a leading "*".
    let labels = label_count(owner) - usize::from(wildcard);
    let input = SigInput {
        type_covered: rtype,
        algorithm: key.algorithm().to_proto(),
        num_labels: labels as u8,
        original_ttl: ttl,
        sig_expiration: SerialNumber::from(validity.expiration),
        sig_inception: SerialNumber::from(validity.inception),
        key_tag: key.key_tag(),
        signer_name: signer.clone(),
    };
    let data = signed_data(&input, records, buf).map_err(|source| SignZoneError::Canonical {
        owner: owner.to_string(),
        rtype,
        source,
    })?;
    let sig = key.sign(data).map_err(|source| SignZoneError::Sign {
        owner: owner.to_string(),
        rtype,
        source,
    })?;
    Ok(Record::from_rdata(
        owner.clone(),
        ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
    ))
}

/// A DS for `key` at `owner` with `digest_type` (RFC 4034 §5.1.4): the
/// digest of the canonical owner name followed by the DNSKEY RDATA.
/// Unknown digest types get a SHA-256 digest under the unknown number.
pub fn make_ds(owner: &Name, key: &ZoneKey, digest_type: DigestType) -> DS {
    let mut input = Vec::with_capacity(300);
    write_canonical_name(owner, &mut input);
    input.extend_from_slice(&key.rdata_bytes());
    let algorithm = match digest_type {
        DigestType::SHA1 => &SHA1_FOR_LEGACY_USE_ONLY,
        DigestType::SHA384 => &SHA384,
        _ => &SHA256,
    };
    DS::new(
        key.key_tag(),
        Algorithm::from_u8(key.algorithm().number()),
        digest_type,
        digest(algorithm, &input).as_ref().to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyAlgorithm, KeyRole};
    use anchorage_wire::proto::dnssec::PublicKey;
    use anchorage_wire::proto::rr::rdata::{A, SOA};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn small_zone() -> Zone {
        let origin = name("example.");
        let mut zone = Zone::new(origin.clone());
        let soa = SOA::new(
            name("ns.example."),
            name("h.example."),
            1,
            3600,
            600,
            86400,
            300,
        );
        zone.add_rdata(&origin, 3600, RData::SOA(soa));
        zone.add_rdata(&name("www.example."), 3600, RData::A(A::new(127, 0, 0, 1)));
        zone.add_rdata(&name("*.w.example."), 3600, RData::A(A::new(127, 0, 0, 2)));
        zone
    }

    fn plan(denial: Denial) -> SigningPlan {
        let key = ZoneKey::generate(KeyAlgorithm::EcdsaP256Sha256, KeyRole::Csk, [1; 32]).unwrap();
        SigningPlan {
            keys: vec![KeyEntry {
                key,
                published: true,
                signs_keys: true,
                signs_zone: true,
            }],
            denial,
            validity: Validity::around(1_700_000_000, 3600, 86400),
        }
    }

    #[test]
    fn every_rrset_gets_a_signature_that_hickory_verifies() {
        let mut zone = small_zone();
        let plan = plan(Denial::Nsec);
        sign_zone(&mut zone, &plan).unwrap();
        let public = plan.keys[0].key.dnskey();
        let public = public.public_key();
        let mut buf = SignedData::new();
        let mut checked = 0;
        for (_, node) in zone.nodes() {
            for set in node.rrsets.values() {
                assert_eq!(set.rrsigs.len(), 1, "{:?}", set.records[0]);
                let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &set.rrsigs[0].data else {
                    panic!("not an RRSIG");
                };
                let data = signed_data(sig.input(), &set.records, &mut buf).unwrap();
                public.verify(data, sig.sig()).unwrap();
                checked += 1;
            }
        }
        // SOA, NSEC and DNSKEY at the apex; A and NSEC at www and *.w.
        assert_eq!(checked, 7);
    }

    #[test]
    fn wildcard_signatures_leave_the_star_out_of_the_labels_field() {
        let mut zone = small_zone();
        sign_zone(&mut zone, &plan(Denial::Nsec)).unwrap();
        let node = zone.node(&name("*.w.example.")).unwrap();
        let RData::DNSSEC(DNSSECRData::RRSIG(sig)) =
            &node.rrset(RecordType::A).unwrap().rrsigs[0].data
        else {
            panic!("not an RRSIG");
        };
        assert_eq!(sig.input().num_labels, 2);
    }

    #[test]
    fn ds_matches_hickorys_digest() {
        let key = ZoneKey::generate(KeyAlgorithm::Ed25519, KeyRole::Ksk, [4; 32]).unwrap();
        let owner = name("example.");
        for digest_type in [DigestType::SHA1, DigestType::SHA256, DigestType::SHA384] {
            let ds = make_ds(&owner, &key, digest_type);
            assert!(ds.covers(&owner, &key.dnskey()).unwrap(), "{digest_type:?}");
        }
    }
}
