//! The crypto library under signature checks: AWS-LC with the `aws-lc`
//! feature (the default), or ring without it.
//!
//! Both take the same decoded key material and answer the same question,
//! so everything above this module (DNS checks, memo, KeyTrap budget) is
//! one code path, and `cargo test --no-default-features` runs every test
//! against ring. AWS-LC is the default because it keeps each key parsed:
//! on ring the RSA key setup is a third of every check, and ring's P-384
//! is a third of AWS-LC's speed (`bench/verify.sh`).
//!
//! # Limitations
//! ring 0.17 takes RSA keys as raw (n, e) and redoes its key setup on each
//! verification; AWS-LC parses every key once. AWS-LC allocates on the C
//! heap while it verifies, which the Rust counting allocator of
//! `tests/alloc.rs` cannot see. Digests (DS, NSEC3, key fingerprints) stay
//! on ring under both.

use crate::algorithm::{Curve, RsaDigest};

/// A public key prepared once for its backend.
pub(crate) struct PublicKey(imp::Key);

impl PublicKey {
    /// An RSA key from its modulus and exponent, leading zeros stripped.
    pub(crate) fn rsa(digest: RsaDigest, n: &[u8], e: &[u8]) -> Self {
        Self(imp::rsa(digest, n, e))
    }

    /// An ECDSA key from its SEC1 uncompressed point, `0x04 || X || Y`.
    pub(crate) fn ecdsa(curve: Curve, point: &[u8]) -> Self {
        Self(imp::ecdsa(curve, point))
    }

    /// An Ed25519 key from its 32 bytes.
    pub(crate) fn ed25519(key: &[u8]) -> Self {
        Self(imp::ed25519(key))
    }

    /// Whether `sig` is this key's signature over `message`.
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        imp::verify(&self.0, message, sig)
    }
}

#[cfg(not(feature = "aws-lc"))]
mod imp {
    use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

    use crate::algorithm::{Curve, RsaDigest};

    pub(super) enum Key {
        Rsa {
            params: &'static signature::RsaParameters,
            n: Box<[u8]>,
            e: Box<[u8]>,
        },
        Other {
            algorithm: &'static dyn signature::VerificationAlgorithm,
            bytes: Box<[u8]>,
        },
    }

    pub(super) fn rsa(digest: RsaDigest, n: &[u8], e: &[u8]) -> Key {
        let params = match digest {
            RsaDigest::Sha1 => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            RsaDigest::Sha256 => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            RsaDigest::Sha512 => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        };
        Key::Rsa {
            params,
            n: n.into(),
            e: e.into(),
        }
    }

    pub(super) fn ecdsa(curve: Curve, point: &[u8]) -> Key {
        let algorithm = match curve {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
        };
        Key::Other {
            algorithm,
            bytes: point.into(),
        }
    }

    pub(super) fn ed25519(key: &[u8]) -> Key {
        Key::Other {
            algorithm: &signature::ED25519,
            bytes: key.into(),
        }
    }

    pub(super) fn verify(key: &Key, message: &[u8], sig: &[u8]) -> bool {
        match key {
            Key::Rsa { params, n, e } => RsaPublicKeyComponents { n, e }
                .verify(params, message, sig)
                .is_ok(),
            Key::Other { algorithm, bytes } => UnparsedPublicKey::new(*algorithm, bytes)
                .verify(message, sig)
                .is_ok(),
        }
    }
}

#[cfg(feature = "aws-lc")]
mod imp {
    use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};

    use crate::algorithm::{Curve, RsaDigest};

    /// `None`: AWS-LC refused the key when parsing it. ring would refuse it
    /// when verifying, so every signature by it fails, as under ring.
    pub(super) type Key = Option<ParsedPublicKey>;

    pub(super) fn rsa(digest: RsaDigest, n: &[u8], e: &[u8]) -> Key {
        let params = match digest {
            RsaDigest::Sha1 => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            RsaDigest::Sha256 => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            RsaDigest::Sha512 => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        };
        RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(params)
            .ok()
    }

    pub(super) fn ecdsa(curve: Curve, point: &[u8]) -> Key {
        let algorithm = match curve {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
        };
        ParsedPublicKey::new(algorithm, point).ok()
    }

    pub(super) fn ed25519(key: &[u8]) -> Key {
        ParsedPublicKey::new(&signature::ED25519, key).ok()
    }

    pub(super) fn verify(key: &Key, message: &[u8], sig: &[u8]) -> bool {
        key.as_ref()
            .is_some_and(|k| k.verify_sig(message, sig).is_ok())
    }
}
