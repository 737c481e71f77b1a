//! NSEC (RFC 4034 §4) and NSEC3 (RFC 5155 §7.1) chains for a zone.
//!
//! Builds the chain records only; [`crate::signer`] signs them with the
//! rest of the zone.
//!
//! # Limitations
//! With opt-out, empty non-terminals that lead only to insecure
//! delegations keep their NSEC3 records (RFC 5155 §7.1 allows either).

use std::collections::BTreeMap;

use anchorage_wire::canonical::write_canonical_name;
use anchorage_wire::proto::dnssec::Nsec3HashAlgorithm;
use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, NSEC, NSEC3, NSEC3PARAM};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};
use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};

use crate::zone::{NSEC3_HASH_LEN, Node, Nsec3Chain, Nsec3Params, RrSet, Zone};

/// Why a denial chain could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenialError {
    /// The zone has no SOA, whose minimum gives the chain's TTL (RFC 4034 §4).
    #[error("zone {zone} has no SOA")]
    NoSoa {
        /// The zone's apex.
        zone: String,
    },
    /// A hashed owner name could not be made.
    #[error("NSEC3 owner for hash {hash} under {zone} is not a valid name")]
    BadNsec3Owner {
        /// The hash in base32hex.
        hash: String,
        /// The zone's apex.
        zone: String,
    },
}

/// How a zone proves non-existence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// NSEC chain.
    Nsec,
    /// NSEC3 chain with these parameters.
    Nsec3(Nsec3Params),
}

/// Hashes `name` the NSEC3 way (RFC 5155 §5): SHA-1 over the canonical name
/// and salt, then `iterations` more times over the digest and salt.
pub fn nsec3_hash(name: &Name, salt: &[u8], iterations: u16) -> [u8; NSEC3_HASH_LEN] {
    let mut wire = Vec::with_capacity(64);
    write_canonical_name(name, &mut wire);
    let mut digest = sha1(&wire, salt);
    for _ in 0..iterations {
        digest = sha1(&digest, salt);
    }
    digest
}

fn sha1(data: &[u8], salt: &[u8]) -> [u8; NSEC3_HASH_LEN] {
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(data);
    ctx.update(salt);
    let mut out = [0u8; NSEC3_HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Base32 with the extended hex alphabet, lower case, no padding
/// (RFC 4648 §7), as NSEC3 owner labels use it (RFC 5155 §3.3).
pub fn base32hex(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The owner name of the NSEC3 record for `hash` in `zone`.
pub fn nsec3_owner(hash: &[u8], zone: &Name) -> Result<Name, DenialError> {
    let label = base32hex(hash);
    zone.prepend_label(label.as_str())
        .map_err(|_| DenialError::BadNsec3Owner {
            hash: label,
            zone: zone.to_string(),
        })
}

/// Adds the NSEC or NSEC3 chain (and NSEC3PARAM) to `zone`, replacing any.
pub fn add_chain(zone: &mut Zone, denial: &Denial) -> Result<(), DenialError> {
    let ttl = zone
        .soa()
        .and_then(|r| match &r.data {
            RData::SOA(soa) => Some(soa.minimum.min(r.ttl)),
            _ => None,
        })
        .ok_or_else(|| DenialError::NoSoa {
            zone: zone.origin().to_string(),
        })?;
    for (_, node) in zone.nodes_mut() {
        node.rrsets.remove(&u16::from(RecordType::NSEC));
        node.rrsets.remove(&u16::from(RecordType::NSEC3PARAM));
    }
    zone.set_nsec3(None);
    match denial {
        Denial::Nsec => {
            add_nsec(zone, ttl);
            Ok(())
        }
        Denial::Nsec3(params) => add_nsec3(zone, params, ttl),
    }
}

/// Whether a name takes part in the chain: authoritative, not glue.
fn in_chain(zone: &Zone, name: &Name) -> bool {
    !zone.is_below_cut(name)
}

fn add_nsec(zone: &mut Zone, ttl: u32) {
    let owners: Vec<(Name, Vec<RecordType>)> = zone
        .nodes()
        .filter(|(name, node)| !node.rrsets.is_empty() && in_chain(zone, name))
        .map(|(name, node)| (name.clone(), types_at(node)))
        .collect();
    for (i, (owner, types)) in owners.iter().enumerate() {
        let next = owners.get(i + 1).map_or(zone.origin(), |(n, _)| n).clone();
        let types = types
            .iter()
            .copied()
            .chain([RecordType::NSEC, RecordType::RRSIG]);
        let nsec = NSEC::new(next, types);
        zone.add_rdata(owner, ttl, RData::DNSSEC(DNSSECRData::NSEC(nsec)));
    }
}

fn add_nsec3(zone: &mut Zone, params: &Nsec3Params, ttl: u32) -> Result<(), DenialError> {
    let param = NSEC3PARAM::new(
        Nsec3HashAlgorithm::SHA1,
        false,
        params.iterations,
        params.salt.clone(),
    );
    let origin = zone.origin().clone();
    zone.add_rdata(&origin, 0, RData::DNSSEC(DNSSECRData::NSEC3PARAM(param)));
    if let Some(node) = zone.node_mut(&origin)
        && let Some(set) = node.rrsets.get_mut(&u16::from(RecordType::NSEC3PARAM))
    {
        // RFC 5155 §4: TTL of NSEC3PARAM is that of the SOA minimum or so;
        // any TTL is allowed, 0 keeps it out of caches.
        set.records.iter_mut().for_each(|r| r.ttl = 0);
    }

    let mut hashed: BTreeMap<[u8; NSEC3_HASH_LEN], (Vec<RecordType>, bool)> = BTreeMap::new();
    for (name, node) in zone.nodes() {
        if !in_chain(zone, name) {
            continue;
        }
        let insecure_cut = zone.is_cut(name) && !node.has(RecordType::DS);
        if params.opt_out && insecure_cut {
            continue;
        }
        let types = types_at(node);
        let signed = !node.rrsets.is_empty() && !insecure_cut;
        let hash = nsec3_hash(name, &params.salt, params.iterations);
        hashed.insert(hash, (types, signed));
    }
    let hashes: Vec<[u8; NSEC3_HASH_LEN]> = hashed.keys().copied().collect();
    let mut records = BTreeMap::new();
    for (i, (hash, (types, signed))) in hashed.into_iter().enumerate() {
        let next = hashes[(i + 1) % hashes.len()];
        let mut types = types;
        if signed {
            types.push(RecordType::RRSIG);
        }
        let nsec3 = NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            params.opt_out,
            params.iterations,
            params.salt.clone(),
            next.to_vec(),
            types,
        );
        let owner = nsec3_owner(&hash, &origin)?;
        let record = Record::from_rdata(owner, ttl, RData::DNSSEC(DNSSECRData::NSEC3(nsec3)));
        records.insert(
            hash,
            RrSet {
                records: vec![record],
                rrsigs: Vec::new(),
            },
        );
    }
    zone.set_nsec3(Some(Nsec3Chain {
        params: params.clone(),
        records,
    }));
    Ok(())
}

/// Types present at a node, leaving out chain types added afterwards.
fn types_at(node: &Node) -> Vec<RecordType> {
    node.rrsets
        .keys()
        .map(|&t| RecordType::from(t))
        .filter(|t| !matches!(t, RecordType::NSEC | RecordType::RRSIG))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsec3_hash_matches_rfc_5155_appendix_a() {
        // RFC 5155 Appendix A: "example" with salt aabbccdd, 12 iterations.
        let salt = [0xaa, 0xbb, 0xcc, 0xdd];
        let hash = nsec3_hash(&Name::from_ascii("example.").unwrap(), &salt, 12);
        assert_eq!(base32hex(&hash), "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
        let hash = nsec3_hash(&Name::from_ascii("a.example.").unwrap(), &salt, 12);
        assert_eq!(base32hex(&hash), "35mthgpgcu1qg68fab165klnsnk3dpvl");
    }

    #[test]
    fn base32hex_pads_nothing_and_uses_the_hex_alphabet() {
        assert_eq!(base32hex(b"f"), "co");
        assert_eq!(base32hex(b"foobar"), "cpnmuoj1e8");
    }
}
