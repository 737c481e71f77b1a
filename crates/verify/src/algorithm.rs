//! DNSSEC algorithm numbers and the signature scheme behind each.
//!
//! Implements 5, 7, 8, 10 (RSA, RFC 3110, RFC 5155 §2, RFC 5702), 13, 14
//! (ECDSA, RFC 6605) and 15 (Ed25519, RFC 8080). Everything else is
//! [`Unsupported`].
//!
//! # Limitations
//! RSA keys verify from 1024 to 4096 bits, as peer resolvers do: ring
//! refuses smaller moduli, and RFC 3110 §2 caps keys at 4096 bits. Ed448
//! (16) is in neither backend's verification API.

use crate::error::Unsupported;

/// RSA/SHA-1 (RFC 3110).
pub const RSASHA1: u8 = 5;
/// RSA/SHA-1 with NSEC3 (RFC 5155 §2): the RSASHA1 scheme under another number.
pub const RSASHA1_NSEC3_SHA1: u8 = 7;
/// RSA/SHA-256 (RFC 5702).
pub const RSASHA256: u8 = 8;
/// RSA/SHA-512 (RFC 5702).
pub const RSASHA512: u8 = 10;
/// ECDSA P-256 with SHA-256 (RFC 6605).
pub const ECDSAP256SHA256: u8 = 13;
/// ECDSA P-384 with SHA-384 (RFC 6605).
pub const ECDSAP384SHA384: u8 = 14;
/// Ed25519 (RFC 8080).
pub const ED25519: u8 = 15;

/// Smallest RSA modulus we verify: ring's floor (peers accept 1024 up).
pub const MIN_RSA_MODULUS_BITS: usize = 1024;
/// Largest RSA modulus we verify (RFC 3110 §2 limits keys to 4096 bits).
pub const MAX_RSA_MODULUS_BITS: usize = 4096;
/// Largest RSA public exponent ring verifies with, in bits.
pub const MAX_RSA_EXPONENT_BITS: usize = 33;

/// Length of an ECDSA P-256 public key, X then Y (RFC 6605 §4).
pub const P256_KEY_LEN: usize = 64;
/// Length of an ECDSA P-384 public key, X then Y (RFC 6605 §4).
pub const P384_KEY_LEN: usize = 96;
/// Length of an Ed25519 public key (RFC 8080 §3).
pub const ED25519_KEY_LEN: usize = 32;

/// The verification scheme an algorithm number maps to, whatever the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// RSASSA-PKCS1-v1_5 with this digest.
    Rsa(RsaDigest),
    /// ECDSA on this curve, key `key_len` bytes (X then Y).
    Ecdsa {
        curve: Curve,
        key_len: usize,
    },
    Ed25519,
}

/// The digest of an RSA scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RsaDigest {
    Sha1,
    Sha256,
    Sha512,
}

/// The curve of an ECDSA scheme, with its RFC 6605 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

impl Scheme {
    /// The scheme for a DNSSEC algorithm number, or why there is none.
    pub(crate) fn for_algorithm(algorithm: u8) -> Result<Self, Unsupported> {
        Ok(match algorithm {
            RSASHA1 | RSASHA1_NSEC3_SHA1 => Self::Rsa(RsaDigest::Sha1),
            RSASHA256 => Self::Rsa(RsaDigest::Sha256),
            RSASHA512 => Self::Rsa(RsaDigest::Sha512),
            ECDSAP256SHA256 => Self::Ecdsa {
                curve: Curve::P256,
                key_len: P256_KEY_LEN,
            },
            ECDSAP384SHA384 => Self::Ecdsa {
                curve: Curve::P384,
                key_len: P384_KEY_LEN,
            },
            ED25519 => Self::Ed25519,
            _ => return Err(Unsupported::Algorithm { algorithm }),
        })
    }
}

/// Whether this build verifies signatures of `algorithm`.
pub fn is_supported(algorithm: u8) -> bool {
    Scheme::for_algorithm(algorithm).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implemented_algorithms_are_exactly_the_seven_of_the_issue() {
        let supported: Vec<u8> = (0..=255).filter(|&a| is_supported(a)).collect();
        assert_eq!(supported, [5, 7, 8, 10, 13, 14, 15]);
    }

    #[test]
    fn ed448_gost_dsa_and_private_algorithms_are_unsupported() {
        for algorithm in [16, 12, 3, 6, 253, 254, 1, 0, 200] {
            assert!(matches!(
                Scheme::for_algorithm(algorithm),
                Err(Unsupported::Algorithm { algorithm: a }) if a == algorithm
            ));
        }
    }
}
