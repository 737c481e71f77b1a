//! DNSKEYs decoded once, ready to check signatures.
//!
//! A [`DnskeyVerifier`] keeps what every signature check needs from its
//! DNSKEY: owner in canonical form, flags, key tag (RFC 4034 Appendix B),
//! the public key prepared for the crypto backend, and a fingerprint that
//! names the key in the memo cache. Building one allocates; checking with
//! it does not.
//!
//! # Limitations
//! Under ring (the default backend) RSA keys are kept as raw (n, e) and
//! ring redoes its key setup on every verification; see [`crate::backend`].

use core::ops::Range;

use anchorage_wire::canonical::write_canonical_name;
use anchorage_wire::name::MAX_NAME_LEN;
use anchorage_wire::proto::dnssec::PublicKey;
use anchorage_wire::proto::dnssec::rdata::DNSKEY;
use anchorage_wire::proto::rr::Name;
use ring::digest;

use crate::algorithm::{
    MAX_RSA_EXPONENT_BITS, MAX_RSA_MODULUS_BITS, MIN_RSA_MODULUS_BITS, RsaDigest, Scheme,
};
use crate::backend::PublicKey as BackendKey;
use crate::error::{KeyError, Unsupported, VerifyError};

/// DNSKEY flag: the key may verify RRSIGs (RFC 4034 §2.1.1).
pub const FLAG_ZONE: u16 = 0x0100;
/// DNSKEY flag: the key is revoked (RFC 5011 §2.1).
pub const FLAG_REVOKE: u16 = 0x0080;
/// DNSKEY flag: Secure Entry Point, a key-signing key by convention (RFC 4034 §2.1.1).
pub const FLAG_SEP: u16 = 0x0001;
/// The only valid DNSKEY protocol value (RFC 4034 §2.1.2).
pub const DNSKEY_PROTOCOL: u8 = 3;
/// The SEC1 uncompressed-point prefix both backends expect before X and Y.
const SEC1_UNCOMPRESSED: u8 = 0x04;
/// Algorithm 1 (RSA/MD5) has its own key tag rule (RFC 4034 Appendix B.1).
const RSAMD5: u8 = 1;

/// A DNSKEY parsed once into the backend's form, ready to check signatures.
pub struct DnskeyVerifier {
    owner: Vec<u8>,
    rdata: Box<[u8]>,
    flags: u16,
    algorithm: u8,
    tag: u16,
    material: Material,
    fingerprint: [u8; 32],
}

/// The public key, ready for the backend, or why there is none.
enum Material {
    Ready(BackendKey),
    Unsupported(Unsupported),
    Malformed(KeyError),
}

impl DnskeyVerifier {
    /// Decodes the DNSKEY `key` owned by `owner`.
    ///
    /// Never fails: a key of an unsupported algorithm or with a bad key field
    /// still has a tag and a DS digest; checking a signature with it reports
    /// why it cannot.
    pub fn new(owner: &Name, key: &DNSKEY) -> Self {
        let public = key.public_key();
        Self::from_parts(
            owner,
            key.flags(),
            u8::from(public.algorithm()),
            public.public_bytes(),
        )
    }

    /// Decodes a DNSKEY given as flags, algorithm number and public key field.
    pub fn from_parts(owner: &Name, flags: u16, algorithm: u8, public_key: &[u8]) -> Self {
        let mut owner_wire = Vec::with_capacity(MAX_NAME_LEN);
        write_canonical_name(owner, &mut owner_wire);
        let mut rdata = Vec::with_capacity(4 + public_key.len());
        rdata.extend_from_slice(&flags.to_be_bytes());
        rdata.push(DNSKEY_PROTOCOL);
        rdata.push(algorithm);
        rdata.extend_from_slice(public_key);
        let tag = key_tag(&rdata);
        let material = match Scheme::for_algorithm(algorithm) {
            Err(why) => Material::Unsupported(why),
            Ok(scheme) => decode(scheme, algorithm, &rdata),
        };
        let mut fingerprint = digest::Context::new(&digest::SHA256);
        fingerprint.update(&owner_wire);
        fingerprint.update(&rdata);
        let mut fp = [0u8; 32];
        fp.copy_from_slice(fingerprint.finish().as_ref());
        Self {
            owner: owner_wire,
            rdata: rdata.into_boxed_slice(),
            flags,
            algorithm,
            tag,
            material,
            fingerprint: fp,
        }
    }

    /// The key tag (RFC 4034 Appendix B); the REVOKE bit changes it (RFC 5011 §2.1).
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// The DNSSEC algorithm number.
    pub fn algorithm(&self) -> u8 {
        self.algorithm
    }

    /// The flags field.
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// Whether the Zone flag is set (RFC 4034 §2.1.1).
    pub fn is_zone_key(&self) -> bool {
        self.flags & FLAG_ZONE != 0
    }

    /// Whether the SEP flag is set (RFC 4034 §2.1.1).
    pub fn is_sep(&self) -> bool {
        self.flags & FLAG_SEP != 0
    }

    /// Whether the REVOKE flag is set (RFC 5011 §2.1).
    pub fn is_revoked(&self) -> bool {
        self.flags & FLAG_REVOKE != 0
    }

    /// The public key field.
    pub fn public_key(&self) -> &[u8] {
        &self.rdata[4..]
    }

    /// The DNSKEY RDATA: flags, protocol, algorithm, public key.
    pub fn rdata(&self) -> &[u8] {
        &self.rdata
    }

    /// The owner name in canonical wire form (lower case).
    pub fn owner_wire(&self) -> &[u8] {
        &self.owner
    }

    /// Why this key cannot verify anything, if it cannot.
    pub fn usable(&self) -> Result<(), VerifyError> {
        match self.material {
            Material::Unsupported(why) => Err(VerifyError::Unsupported(why)),
            Material::Malformed(reason) => Err(VerifyError::MalformedKey {
                tag: self.tag,
                reason,
            }),
            Material::Ready(_) => Ok(()),
        }
    }

    /// SHA-256 over owner and RDATA: the key's name in the memo cache.
    pub(crate) fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// Checks `sig` over `message` with this key: the bare crypto, no DNS checks.
    pub fn verify_raw(&self, message: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
        match &self.material {
            Material::Ready(key) if key.verify(message, sig) => Ok(()),
            Material::Ready(_) => Err(VerifyError::BadSignature { tag: self.tag }),
            Material::Unsupported(_) | Material::Malformed(_) => self.usable(),
        }
    }

    /// Whether `other` is this key with the same flags (used for RFC 5011 self-signatures).
    pub(crate) fn same_rdata(&self, flags: u16, algorithm: u8, public_key: &[u8]) -> bool {
        self.flags == flags && self.algorithm == algorithm && self.public_key() == public_key
    }
}

impl core::fmt::Debug for DnskeyVerifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DnskeyVerifier")
            .field("tag", &self.tag)
            .field("algorithm", &self.algorithm)
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

/// The key tag of a DNSKEY RDATA (RFC 4034 Appendix B).
pub fn key_tag(rdata: &[u8]) -> u16 {
    if let [_, _, _, RSAMD5, .., a, b, _] = rdata {
        // Appendix B.1: the most significant 16 of the least significant
        // 24 bits of the modulus.
        return u16::from_be_bytes([*a, *b]);
    }
    let mut sum: u32 = 0;
    for (i, &byte) in rdata.iter().enumerate() {
        sum += if i & 1 == 0 {
            u32::from(byte) << 8
        } else {
            u32::from(byte)
        };
    }
    sum += (sum >> 16) & 0xFFFF;
    (sum & 0xFFFF) as u16
}

fn decode(scheme: Scheme, algorithm: u8, rdata: &[u8]) -> Material {
    let key = &rdata[4..];
    match scheme {
        Scheme::Rsa(digest) => decode_rsa(digest, rdata),
        Scheme::Ecdsa { curve, key_len } => {
            if key.len() != key_len {
                return Material::Malformed(KeyError::Length {
                    algorithm,
                    len: key.len(),
                    expected: key_len,
                });
            }
            let mut point = Vec::with_capacity(1 + key_len);
            point.push(SEC1_UNCOMPRESSED);
            point.extend_from_slice(key);
            Material::Ready(BackendKey::ecdsa(curve, &point))
        }
        Scheme::Ed25519 => {
            if key.len() == crate::algorithm::ED25519_KEY_LEN {
                Material::Ready(BackendKey::ed25519(key))
            } else {
                Material::Malformed(KeyError::Length {
                    algorithm,
                    len: key.len(),
                    expected: crate::algorithm::ED25519_KEY_LEN,
                })
            }
        }
    }
}

/// Splits an RFC 3110 §2 key: exponent length (1 byte, or 0 then 2 bytes),
/// exponent, modulus. Ranges index the whole RDATA.
fn decode_rsa(digest: RsaDigest, rdata: &[u8]) -> Material {
    const HEADER: usize = 4;
    let truncated = Material::Malformed(KeyError::RsaTruncated {
        len: rdata.len() - HEADER,
    });
    let (e_len, e_start) = match rdata[HEADER..] {
        [0, hi, lo, ..] => (usize::from(u16::from_be_bytes([hi, lo])), HEADER + 3),
        [len, ..] => (usize::from(len), HEADER + 1),
        [] => return truncated,
    };
    let e_end = e_start + e_len;
    if e_end >= rdata.len() {
        return truncated;
    }
    // RFC 3110 forbids leading zeros; ring rejects them, so strip them
    // rather than fail the signature for a formatting slip.
    let strip = |r: Range<usize>| {
        let zeros = rdata[r.clone()].iter().take_while(|&&b| b == 0).count();
        r.start + zeros..r.end
    };
    let e = strip(e_start..e_end);
    let n = strip(e_end..rdata.len());
    let bits = |r: &Range<usize>| match rdata.get(r.start) {
        Some(&first) => r.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    let n_bits = bits(&n);
    if !(MIN_RSA_MODULUS_BITS..=MAX_RSA_MODULUS_BITS).contains(&n_bits) {
        return Material::Unsupported(Unsupported::RsaModulusBits { bits: n_bits });
    }
    let e_bits = bits(&e);
    let e_odd = e.end > e.start && rdata[e.end - 1] & 1 == 1;
    // ring wants 3 <= e < 2^33, odd.
    if !(2..=MAX_RSA_EXPONENT_BITS).contains(&e_bits) || !e_odd {
        return Material::Unsupported(Unsupported::RsaExponent { len: e.len() });
    }
    Material::Ready(BackendKey::rsa(digest, &rdata[n], &rdata[e]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn rsa_key_below_1024_bits_is_unsupported_not_malformed() {
        // 512-bit modulus, exponent 65537.
        let mut key = vec![3, 1, 0, 1, 0xC1];
        key.extend([0x55; 63]);
        let k = DnskeyVerifier::from_parts(&name("example."), 256, 8, &key);
        assert_eq!(
            k.usable(),
            Err(VerifyError::Unsupported(Unsupported::RsaModulusBits {
                bits: 512
            }))
        );
    }

    #[test]
    fn rsa_key_above_4096_bits_is_unsupported() {
        let mut key = vec![3, 1, 0, 1, 0xC1];
        key.extend([0x55; 4096 / 8]);
        let k = DnskeyVerifier::from_parts(&name("example."), 256, 8, &key);
        assert!(matches!(
            k.usable(),
            Err(VerifyError::Unsupported(Unsupported::RsaModulusBits {
                bits: 4104
            }))
        ));
    }

    #[test]
    fn rsa_key_with_even_exponent_is_unsupported() {
        let mut key = vec![1, 4, 0xC1];
        key.extend([0x55; 255]);
        let k = DnskeyVerifier::from_parts(&name("example."), 256, 8, &key);
        assert!(matches!(
            k.usable(),
            Err(VerifyError::Unsupported(Unsupported::RsaExponent { .. }))
        ));
    }

    #[test]
    fn rsa_key_cut_inside_its_exponent_is_malformed() {
        let k = DnskeyVerifier::from_parts(&name("example."), 256, 8, &[0, 1, 0, 1, 2]);
        assert!(matches!(
            k.usable(),
            Err(VerifyError::MalformedKey {
                reason: KeyError::RsaTruncated { .. },
                ..
            })
        ));
    }

    #[test]
    fn ecdsa_key_of_wrong_length_is_malformed() {
        let k = DnskeyVerifier::from_parts(&name("example."), 256, 13, &[1; 63]);
        assert!(matches!(
            k.usable(),
            Err(VerifyError::MalformedKey {
                reason: KeyError::Length {
                    expected: 64,
                    len: 63,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn unknown_algorithm_still_has_a_key_tag() {
        let k = DnskeyVerifier::from_parts(&name("example."), 257, 16, &[7; 57]);
        assert_eq!(k.tag(), key_tag(k.rdata()));
        assert_eq!(
            k.verify_raw(b"data", b"sig"),
            Err(VerifyError::Unsupported(Unsupported::Algorithm {
                algorithm: 16
            }))
        );
    }

    #[test]
    fn rsamd5_key_tag_uses_the_modulus_tail() {
        let k = DnskeyVerifier::from_parts(&name("example."), 256, 1, &[1, 3, 9, 0xAB, 0xCD, 0xEF]);
        assert_eq!(k.tag(), 0xABCD);
    }

    #[test]
    fn owner_is_kept_in_lower_case() {
        let k = DnskeyVerifier::from_parts(&name("ExAmple.NET."), 256, 15, &[0; 32]);
        assert_eq!(k.owner_wire(), b"\x07example\x03net\x00");
    }
}
