//! Zone signing keys on ring: generation, DNSKEY RDATA, key tags, signing.
//!
//! Ed25519 keys are derived from the hierarchy's seed, so they (and every DS
//! and trust anchor built on them) are the same on every run. ECDSA keys are
//! drawn from the system RNG (ring cannot derive them from a seed), and RSA
//! keys come from the committed PKCS#8 fixtures in `fixtures/`.
//!
//! RSASHA1 and RSASHA1-NSEC3-SHA1 are signed with the RustCrypto `rsa`
//! crate: ring verifies SHA-1 RSA signatures but cannot make them.
//! Unsupported and private algorithms, and the KeyTrap zone's extra keys,
//! "sign" with random bytes that no validator can check.

use anchorage_wire::proto::dnssec::rdata::DNSKEY;
use anchorage_wire::proto::dnssec::{Algorithm, PublicKeyBuf};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RSA_PKCS1_SHA256, RSA_PKCS1_SHA512, RsaKeyPair, RsaPublicKeyComponents,
};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha1::{Digest, Sha1};

/// DNSKEY flags of a zone key (RFC 4034 §2.1.1: bit 7).
pub const FLAG_ZONE: u16 = 0x0100;
/// DNSKEY flag marking a key-signing key (RFC 4034 §2.1.1: bit 15, SEP).
pub const FLAG_SEP: u16 = 0x0001;
/// DNSKEY flag of a revoked key (RFC 5011 §3: bit 8).
pub const FLAG_REVOKE: u16 = 0x0080;
/// DNSKEY protocol field, always 3 (RFC 4034 §2.1.2).
pub const DNSKEY_PROTOCOL: u8 = 3;
/// Algorithm number of Ed448 (RFC 8080), which ring does not implement:
/// the testbed's "unsupported algorithm" keys use it.
pub const ALGORITHM_ED448: u8 = 16;
/// Length of an Ed448 public key and of half an Ed448 signature (RFC 8080 §3).
pub const ED448_KEY_LEN: usize = 57;
/// Algorithm number of PRIVATEDNS (RFC 4034 §A.1.1): the algorithm is named
/// by a domain name at the start of the key and of each signature.
pub const ALGORITHM_PRIVATEDNS: u8 = 253;
/// The name that identifies the testbed's private algorithm.
pub const PRIVATE_ALGORITHM_NAME: &[u8] = b"\x07private\x09anchorage\x07invalid\x00";
/// Bytes after the name in a private-algorithm key or signature.
pub const PRIVATE_MATERIAL_LEN: usize = 64;
/// Length of an ECDSA P-256 public key without the 0x04 prefix (RFC 6605 §4).
pub const P256_KEY_LEN: usize = 64;
/// Length of an ECDSA P-256 signature, r and s (RFC 6605 §4).
pub const P256_SIG_LEN: usize = 64;

const RSA_2048_A: &[u8] = include_bytes!("../fixtures/rsa2048-a.pk8");
const RSA_2048_B: &[u8] = include_bytes!("../fixtures/rsa2048-b.pk8");
const RSA_4096_A: &[u8] = include_bytes!("../fixtures/rsa4096-a.pk8");
/// The RSASHA1 key: 1024 bits, the size SHA-1 zones were signed with, and
/// fast enough for the `rsa` crate in unoptimised test builds.
const RSA_1024_A: &[u8] = include_bytes!("../fixtures/rsa1024-a.pk8");

/// A DNSSEC algorithm the testbed can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSASHA256 (8) with a 2048-bit fixture key.
    RsaSha256,
    /// RSASHA512 (10) with a 4096-bit (KSK) or 2048-bit (ZSK) fixture key.
    RsaSha512,
    /// ECDSAP256SHA256 (13).
    EcdsaP256Sha256,
    /// ECDSAP384SHA384 (14).
    EcdsaP384Sha384,
    /// ED25519 (15).
    Ed25519,
    /// RSASHA1 (5) with a 2048-bit fixture key, signed by the `rsa` crate.
    RsaSha1,
    /// RSASHA1-NSEC3-SHA1 (7): RSASHA1 for zones signed with NSEC3
    /// (RFC 5155 §2).
    RsaSha1Nsec3Sha1,
    /// Ed448 (16): published and "signed" with random bytes, so that no
    /// validator can check it (RFC 4035 §5.2: treated as insecure).
    UnsupportedEd448,
    /// PRIVATEDNS (253) under [`PRIVATE_ALGORITHM_NAME`]: no validator knows
    /// it, so the zone is insecure (RFC 4035 §5.2).
    PrivateDns,
}

impl KeyAlgorithm {
    /// The algorithm number in DNSKEY, DS and RRSIG.
    pub fn number(self) -> u8 {
        match self {
            Self::RsaSha1 => 5,
            Self::RsaSha1Nsec3Sha1 => 7,
            Self::RsaSha256 => 8,
            Self::RsaSha512 => 10,
            Self::EcdsaP256Sha256 => 13,
            Self::EcdsaP384Sha384 => 14,
            Self::Ed25519 => 15,
            Self::UnsupportedEd448 => ALGORITHM_ED448,
            Self::PrivateDns => ALGORITHM_PRIVATEDNS,
        }
    }

    /// hickory's view of the algorithm.
    pub fn to_proto(self) -> Algorithm {
        Algorithm::from_u8(self.number())
    }
}

/// Whether a key signs the DNSKEY RRset, the rest, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// Key-signing key: SEP flag, signs the DNSKEY RRset only.
    Ksk,
    /// Zone-signing key: signs every RRset but the DNSKEY RRset.
    Zsk,
    /// Combined signing key: SEP flag, signs everything.
    Csk,
}

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// ring rejected a PKCS#8 document or seed.
    #[error("ring rejected the {algorithm:?} key: {reason}")]
    Rejected {
        /// The algorithm asked for.
        algorithm: KeyAlgorithm,
        /// ring's description.
        reason: String,
    },
    /// ring could not generate a key or draw random bytes.
    #[error("ring could not generate a {algorithm:?} key")]
    Generation {
        /// The algorithm asked for.
        algorithm: KeyAlgorithm,
    },
}

/// Why ring could not sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring failed to sign with key {key_tag} ({algorithm:?})")]
pub struct SignError {
    /// Tag of the key.
    pub key_tag: u16,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
}

enum Signer {
    Rsa(RsaKeyPair, &'static dyn ring::signature::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    RsaSha1(Box<RsaPrivateKey>),
    /// `prefix` then `len` random bytes.
    Random {
        prefix: &'static [u8],
        len: usize,
    },
}

/// A zone key: its DNSKEY and the private half that signs.
pub struct ZoneKey {
    algorithm: KeyAlgorithm,
    flags: u16,
    public: Vec<u8>,
    key_tag: u16,
    signer: Signer,
    rng: SystemRandom,
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneKey")
            .field("algorithm", &self.algorithm)
            .field("flags", &self.flags)
            .field("key_tag", &self.key_tag)
            .finish_non_exhaustive()
    }
}

impl ZoneKey {
    /// Makes a key; `seed` fixes Ed25519 keys and picks RSA fixtures.
    pub fn generate(
        algorithm: KeyAlgorithm,
        role: KeyRole,
        seed: [u8; 32],
    ) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let rejected = |e: ring::error::KeyRejected| KeyError::Rejected {
            algorithm,
            reason: e.to_string(),
        };
        let (signer, public) = match algorithm {
            KeyAlgorithm::RsaSha256 | KeyAlgorithm::RsaSha512 => {
                let pkcs8 = match (algorithm, role) {
                    (KeyAlgorithm::RsaSha512, KeyRole::Ksk | KeyRole::Csk) => RSA_4096_A,
                    _ if seed[0].is_multiple_of(2) => RSA_2048_A,
                    _ => RSA_2048_B,
                };
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let public = rsa_dnskey_bytes(&pair);
                let encoding: &'static dyn ring::signature::RsaEncoding =
                    if algorithm == KeyAlgorithm::RsaSha256 {
                        &RSA_PKCS1_SHA256
                    } else {
                        &RSA_PKCS1_SHA512
                    };
                (Signer::Rsa(pair, encoding), public)
            }
            KeyAlgorithm::EcdsaP256Sha256 | KeyAlgorithm::EcdsaP384Sha384 => {
                let alg = if algorithm == KeyAlgorithm::EcdsaP256Sha256 {
                    &ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng)
                    .map_err(|_| KeyError::Generation { algorithm })?;
                let pair = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref(), &rng).map_err(rejected)?;
                // RFC 6605 §4: the point without ring's leading 0x04 byte.
                let public = pair.public_key().as_ref()[1..].to_vec();
                (Signer::Ecdsa(pair), public)
            }
            KeyAlgorithm::Ed25519 => {
                let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(rejected)?;
                let public = pair.public_key().as_ref().to_vec();
                (Signer::Ed25519(pair), public)
            }
            KeyAlgorithm::RsaSha1 | KeyAlgorithm::RsaSha1Nsec3Sha1 => {
                // ring takes no RSA signing key under 2048 bits.
                let private =
                    RsaPrivateKey::from_pkcs8_der(RSA_1024_A).map_err(|e| KeyError::Rejected {
                        algorithm,
                        reason: e.to_string(),
                    })?;
                let public =
                    rsa_public_bytes(&private.e().to_bytes_be(), &private.n().to_bytes_be());
                (Signer::RsaSha1(Box::new(private)), public)
            }
            KeyAlgorithm::UnsupportedEd448 => (
                Signer::Random {
                    prefix: &[],
                    len: 2 * ED448_KEY_LEN,
                },
                seeded_bytes(&seed, ED448_KEY_LEN),
            ),
            KeyAlgorithm::PrivateDns => {
                let mut public = PRIVATE_ALGORITHM_NAME.to_vec();
                public.extend(seeded_bytes(&seed, PRIVATE_MATERIAL_LEN));
                (
                    Signer::Random {
                        prefix: PRIVATE_ALGORITHM_NAME,
                        len: PRIVATE_MATERIAL_LEN,
                    },
                    public,
                )
            }
        };
        let flags = match role {
            KeyRole::Ksk | KeyRole::Csk => FLAG_ZONE | FLAG_SEP,
            KeyRole::Zsk => FLAG_ZONE,
        };
        let mut key = Self {
            algorithm,
            flags,
            public,
            key_tag: 0,
            signer,
            rng,
        };
        key.key_tag = key_tag(&key.rdata_bytes());
        Ok(key)
    }

    /// A key that cannot sign, with random public bytes chosen so that its
    /// key tag is `key_tag`: the KeyTrap zone's colliding keys
    /// (CVE-2023-50387). ECDSA P-256 only.
    pub fn colliding(flags: u16, key_tag: u16, seed: [u8; 32]) -> Self {
        let algorithm = KeyAlgorithm::EcdsaP256Sha256;
        let mut key = Self {
            algorithm,
            flags,
            public: seeded_bytes(&seed, P256_KEY_LEN),
            key_tag: 0,
            signer: Signer::Random {
                prefix: &[],
                len: P256_SIG_LEN,
            },
            rng: SystemRandom::new(),
        };
        // The last two bytes add a 16-bit word to the tag's sum, so one of
        // the 65,536 values gives `key_tag` (RFC 4034 Appendix B).
        for word in 0..=u16::MAX {
            key.public[P256_KEY_LEN - 2..].copy_from_slice(&word.to_be_bytes());
            if self::key_tag(&key.rdata_bytes()) == key_tag {
                break;
            }
        }
        key.key_tag = self::key_tag(&key.rdata_bytes());
        key
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The DNSKEY flags.
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// Sets the DNSKEY flags (e.g. REVOKE); the key tag changes with them.
    pub fn set_flags(&mut self, flags: u16) {
        self.flags = flags;
        self.key_tag = key_tag(&self.rdata_bytes());
    }

    /// The key tag (RFC 4034 Appendix B).
    pub fn key_tag(&self) -> u16 {
        self.key_tag
    }

    /// Whether the SEP flag is set.
    pub fn is_ksk(&self) -> bool {
        self.flags & FLAG_SEP != 0
    }

    /// The public key field of the DNSKEY.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The DNSKEY RDATA in wire form.
    pub fn rdata_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.public.len());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.push(DNSKEY_PROTOCOL);
        out.push(self.algorithm.number());
        out.extend_from_slice(&self.public);
        out
    }

    /// The DNSKEY RDATA as hickory's type.
    pub fn dnskey(&self) -> DNSKEY {
        DNSKEY::with_flags(
            self.flags,
            PublicKeyBuf::new(self.public.clone(), self.algorithm.to_proto()),
        )
    }

    /// Signs `data` (RRSIG signed data, RFC 4034 §3.1.8.1).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        let error = SignError {
            key_tag: self.key_tag,
            algorithm: self.algorithm,
        };
        match &self.signer {
            Signer::Rsa(pair, encoding) => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(*encoding, &self.rng, data, &mut sig)
                    .map_err(|_| error)?;
                Ok(sig)
            }
            Signer::Ecdsa(pair) => Ok(pair
                .sign(&self.rng, data)
                .map_err(|_| error)?
                .as_ref()
                .to_vec()),
            Signer::Ed25519(pair) => Ok(pair.sign(data).as_ref().to_vec()),
            Signer::RsaSha1(private) => private
                .sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(data))
                .map_err(|_| error),
            Signer::Random { prefix, len } => {
                let mut sig = vec![0u8; prefix.len() + len];
                sig[..prefix.len()].copy_from_slice(prefix);
                self.rng.fill(&mut sig[prefix.len()..]).map_err(|_| error)?;
                Ok(sig)
            }
        }
    }
}

/// The key tag of DNSKEY RDATA (RFC 4034 Appendix B).
pub fn key_tag(rdata: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for (i, byte) in rdata.iter().enumerate() {
        acc += if i % 2 == 0 {
            u32::from(*byte) << 8
        } else {
            u32::from(*byte)
        };
    }
    acc += (acc >> 16) & 0xFFFF;
    (acc & 0xFFFF) as u16
}

/// `len` bytes drawn from `seed` by SHA-256 in counter mode.
fn seeded_bytes(seed: &[u8; 32], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut counter: u32 = 0;
    while out.len() < len {
        let block = digest(&SHA256, &[&seed[..], &counter.to_be_bytes()].concat());
        let take = (len - out.len()).min(block.as_ref().len());
        out.extend_from_slice(&block.as_ref()[..take]);
        counter += 1;
    }
    out
}

/// RSA public key in DNSKEY form (RFC 3110 §2): exponent length, exponent,
/// modulus.
fn rsa_dnskey_bytes(pair: &RsaKeyPair) -> Vec<u8> {
    let parts: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
    rsa_public_bytes(&parts.e, &parts.n)
}

/// Exponent length, exponent and modulus, all big-endian (RFC 3110 §2).
fn rsa_public_bytes(e: &[u8], n: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + e.len() + n.len());
    // Invariant: the fixtures' exponent is 65537, 3 bytes, so one length
    // byte suffices (RFC 3110 §2).
    out.push(e.len() as u8);
    out.extend_from_slice(e);
    out.extend_from_slice(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{
        ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
    };

    fn roundtrip(
        algorithm: KeyAlgorithm,
        verify: &'static dyn ring::signature::VerificationAlgorithm,
    ) {
        let key = ZoneKey::generate(algorithm, KeyRole::Zsk, [7; 32]).unwrap();
        let sig = key.sign(b"signed data").unwrap();
        let public = match algorithm {
            KeyAlgorithm::EcdsaP256Sha256 => [&[4u8][..], key.public_key()].concat(),
            KeyAlgorithm::RsaSha256 => {
                let pair = RsaKeyPair::from_pkcs8(RSA_2048_B).unwrap();
                pair.public().as_ref().to_vec()
            }
            _ => key.public_key().to_vec(),
        };
        UnparsedPublicKey::new(verify, public)
            .verify(b"signed data", &sig)
            .unwrap();
    }

    #[test]
    fn signatures_verify_with_ring() {
        roundtrip(KeyAlgorithm::Ed25519, &ED25519);
        roundtrip(KeyAlgorithm::EcdsaP256Sha256, &ECDSA_P256_SHA256_FIXED);
        roundtrip(KeyAlgorithm::RsaSha256, &RSA_PKCS1_2048_8192_SHA256);
    }

    #[test]
    fn rsasha1_signatures_verify_with_ring() {
        for algorithm in [KeyAlgorithm::RsaSha1, KeyAlgorithm::RsaSha1Nsec3Sha1] {
            let key = ZoneKey::generate(algorithm, KeyRole::Zsk, [7; 32]).unwrap();
            let sig = key.sign(b"signed data").unwrap();
            let public = key.public_key();
            let e_len = usize::from(public[0]);
            let components = RsaPublicKeyComponents {
                e: &public[1..=e_len],
                n: &public[1 + e_len..],
            };
            components
                .verify(
                    &ring::signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    b"signed data",
                    &sig,
                )
                .unwrap();
        }
    }

    #[test]
    fn colliding_keys_share_the_asked_key_tag_but_differ() {
        let a = ZoneKey::colliding(FLAG_ZONE, 4242, [1; 32]);
        let b = ZoneKey::colliding(FLAG_ZONE, 4242, [2; 32]);
        assert_eq!((a.key_tag(), b.key_tag()), (4242, 4242));
        assert_ne!(a.public_key(), b.public_key());
        assert_eq!(a.key_tag(), a.dnskey().calculate_key_tag().unwrap());
    }

    #[test]
    fn private_algorithm_keys_and_signatures_start_with_the_name() {
        let key = ZoneKey::generate(KeyAlgorithm::PrivateDns, KeyRole::Csk, [5; 32]).unwrap();
        assert_eq!(key.algorithm().number(), ALGORITHM_PRIVATEDNS);
        assert!(key.public_key().starts_with(PRIVATE_ALGORITHM_NAME));
        assert!(key.sign(b"x").unwrap().starts_with(PRIVATE_ALGORITHM_NAME));
    }

    #[test]
    fn key_tag_matches_hickory() {
        for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::RsaSha512] {
            let key = ZoneKey::generate(alg, KeyRole::Ksk, [1; 32]).unwrap();
            assert_eq!(key.key_tag(), key.dnskey().calculate_key_tag().unwrap());
        }
    }

    #[test]
    fn revoking_changes_the_key_tag() {
        let mut key = ZoneKey::generate(KeyAlgorithm::Ed25519, KeyRole::Ksk, [2; 32]).unwrap();
        let before = key.key_tag();
        key.set_flags(key.flags() | FLAG_REVOKE);
        assert_ne!(before, key.key_tag());
        assert_eq!(key.key_tag(), key.dnskey().calculate_key_tag().unwrap());
    }

    #[test]
    fn ed25519_keys_are_deterministic_from_the_seed() {
        let a = ZoneKey::generate(KeyAlgorithm::Ed25519, KeyRole::Csk, [3; 32]).unwrap();
        let b = ZoneKey::generate(KeyAlgorithm::Ed25519, KeyRole::Csk, [3; 32]).unwrap();
        assert_eq!(a.public_key(), b.public_key());
    }
}
