//! DS digests and whether a DS designates a DNSKEY (RFC 4034 §5, RFC 4509, RFC 6605 §3).
//!
//! # Limitations
//! GOST (digest type 3, RFC 5933) is not implemented: [`Unsupported`].

use anchorage_wire::proto::dnssec::rdata::DS;
use ring::digest;

use crate::error::Unsupported;
use crate::key::DnskeyVerifier;

/// DS digest type SHA-1 (RFC 4034 §5.1.3).
pub const DIGEST_SHA1: u8 = 1;
/// DS digest type SHA-256 (RFC 4509 §2.1).
pub const DIGEST_SHA256: u8 = 2;
/// DS digest type GOST R 34.11-94 (RFC 5933), not implemented.
pub const DIGEST_GOST: u8 = 3;
/// DS digest type SHA-384 (RFC 6605 §3).
pub const DIGEST_SHA384: u8 = 4;
/// Longest digest we compute (SHA-384, RFC 6605 §3).
pub const MAX_DIGEST_LEN: usize = 48;

/// Why a DS does not designate a DNSKEY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DsError {
    /// The digest type is not implemented: insecure, not bogus (RFC 4035 §5.2).
    #[error("cannot check: {0}")]
    Unsupported(#[source] Unsupported),
    /// The DS key tag differs from the key's.
    #[error("DS key tag {ds} differs from the key's {key}")]
    KeyTagMismatch {
        /// Key Tag field of the DS.
        ds: u16,
        /// Tag of the DNSKEY.
        key: u16,
    },
    /// The DS algorithm differs from the key's.
    #[error("DS algorithm {ds} differs from the key's {key}")]
    AlgorithmMismatch {
        /// Algorithm field of the DS.
        ds: u8,
        /// Algorithm of the DNSKEY.
        key: u8,
    },
    /// The DNSKEY lacks the Zone flag (RFC 4034 §5.2).
    #[error("DNSKEY {tag} is not a zone key")]
    NotZoneKey {
        /// Tag of the key.
        tag: u16,
    },
    /// The digest is not the key's.
    #[error("DS digest of type {digest_type} does not match the key")]
    DigestMismatch {
        /// The digest type.
        digest_type: u8,
    },
}

/// A DS digest held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DsDigest {
    bytes: [u8; MAX_DIGEST_LEN],
    len: u8,
}

impl DsDigest {
    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::fmt::Debug for DsDigest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Computes the DS digest of `key` (owner in canonical form, then RDATA; RFC 4034 §5.1.4).
pub fn ds_digest(key: &DnskeyVerifier, digest_type: u8) -> Result<DsDigest, Unsupported> {
    let algorithm = match digest_type {
        DIGEST_SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        DIGEST_SHA256 => &digest::SHA256,
        DIGEST_SHA384 => &digest::SHA384,
        _ => return Err(Unsupported::DigestType { digest_type }),
    };
    let mut ctx = digest::Context::new(algorithm);
    ctx.update(key.owner_wire());
    ctx.update(key.rdata());
    let out = ctx.finish();
    let mut bytes = [0u8; MAX_DIGEST_LEN];
    bytes[..out.as_ref().len()].copy_from_slice(out.as_ref());
    Ok(DsDigest {
        bytes,
        len: out.as_ref().len() as u8,
    })
}

/// Checks that `ds` designates `key` (RFC 4035 §5.2); the key's owner must be the DS owner.
pub fn match_ds(ds: &DS, key: &DnskeyVerifier) -> Result<(), DsError> {
    match_ds_fields(
        ds.key_tag(),
        u8::from(ds.algorithm()),
        u8::from(ds.digest_type()),
        ds.digest(),
        key,
    )
}

/// [`match_ds`] on the DS fields.
pub fn match_ds_fields(
    tag: u16,
    algorithm: u8,
    digest_type: u8,
    digest: &[u8],
    key: &DnskeyVerifier,
) -> Result<(), DsError> {
    // Cheap field comparisons first: a DS set may list many keys.
    if tag != key.tag() {
        return Err(DsError::KeyTagMismatch {
            ds: tag,
            key: key.tag(),
        });
    }
    if algorithm != key.algorithm() {
        return Err(DsError::AlgorithmMismatch {
            ds: algorithm,
            key: key.algorithm(),
        });
    }
    if !key.is_zone_key() {
        return Err(DsError::NotZoneKey { tag: key.tag() });
    }
    let ours = ds_digest(key, digest_type).map_err(DsError::Unsupported)?;
    if ours.as_bytes() == digest {
        Ok(())
    } else {
        Err(DsError::DigestMismatch { digest_type })
    }
}

#[cfg(test)]
mod tests {
    use anchorage_wire::proto::rr::Name;

    use super::*;

    fn key() -> DnskeyVerifier {
        DnskeyVerifier::from_parts(&Name::from_ascii("example.").unwrap(), 257, 15, &[9; 32])
    }

    #[test]
    fn gost_digest_is_unsupported_not_a_mismatch() {
        let k = key();
        assert_eq!(
            match_ds_fields(k.tag(), 15, DIGEST_GOST, &[0; 32], &k),
            Err(DsError::Unsupported(Unsupported::DigestType {
                digest_type: 3
            }))
        );
    }

    #[test]
    fn ds_for_a_non_zone_key_is_refused() {
        let k = DnskeyVerifier::from_parts(&Name::from_ascii("example.").unwrap(), 1, 15, &[9; 32]);
        let digest = ds_digest(&k, DIGEST_SHA256).unwrap();
        assert_eq!(
            match_ds_fields(k.tag(), 15, DIGEST_SHA256, digest.as_bytes(), &k),
            Err(DsError::NotZoneKey { tag: k.tag() })
        );
    }

    #[test]
    fn digest_lengths_follow_the_digest_type() {
        let k = key();
        assert_eq!(ds_digest(&k, DIGEST_SHA1).unwrap().as_bytes().len(), 20);
        assert_eq!(ds_digest(&k, DIGEST_SHA256).unwrap().as_bytes().len(), 32);
        assert_eq!(ds_digest(&k, DIGEST_SHA384).unwrap().as_bytes().len(), 48);
    }

    #[test]
    fn one_flipped_digest_bit_is_a_mismatch() {
        let k = key();
        let mut digest = ds_digest(&k, DIGEST_SHA256).unwrap().as_bytes().to_vec();
        assert_eq!(match_ds_fields(k.tag(), 15, 2, &digest, &k), Ok(()));
        digest[31] ^= 1;
        assert_eq!(
            match_ds_fields(k.tag(), 15, 2, &digest, &k),
            Err(DsError::DigestMismatch { digest_type: 2 })
        );
    }
}
