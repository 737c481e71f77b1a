//! Why a signature, a DS or a key could not be used.
//!
//! [`VerifyError`] keeps "cannot check" ([`Unsupported`], which the validator
//! turns into insecure, RFC 4035 §5.2, RFC 6840 §5.2) apart from "checked and
//! wrong" (every other variant, which is bogus).

use anchorage_wire::CanonicalError;

use crate::algorithm::{MAX_RSA_MODULUS_BITS, MIN_RSA_MODULUS_BITS};

/// Something this build cannot check: the answer is insecure, never bogus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// A DNSSEC algorithm number we do not implement (ED448, GOST, DSA, private, unknown).
    #[error("DNSSEC algorithm {algorithm} is not implemented")]
    Algorithm {
        /// The IANA algorithm number.
        algorithm: u8,
    },
    /// An RSA modulus outside the sizes we verify.
    #[error(
        "RSA modulus of {bits} bits is outside {MIN_RSA_MODULUS_BITS}..={MAX_RSA_MODULUS_BITS}"
    )]
    RsaModulusBits {
        /// Size of the modulus in bits.
        bits: usize,
    },
    /// An RSA public exponent ring cannot use (even, below 3, or above 33 bits).
    #[error("RSA public exponent of {len} bytes is not one ring can verify with")]
    RsaExponent {
        /// Length of the exponent in bytes, leading zeros stripped.
        len: usize,
    },
    /// A DS digest type we do not implement (GOST, unknown).
    #[error("DS digest type {digest_type} is not implemented")]
    DigestType {
        /// The IANA digest type number.
        digest_type: u8,
    },
}

/// Why the public key of a DNSKEY could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key field has the wrong length for its algorithm.
    #[error("public key is {len} bytes, algorithm {algorithm} needs {expected}")]
    Length {
        /// The algorithm number.
        algorithm: u8,
        /// Length found.
        len: usize,
        /// Length the algorithm requires.
        expected: usize,
    },
    /// The RSA exponent length runs past the key (RFC 3110 §2).
    #[error("RSA key of {len} bytes is cut inside its exponent")]
    RsaTruncated {
        /// Length of the key field.
        len: usize,
    },
}

/// Why an RRSIG does not authenticate an RRset with a key (RFC 4035 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The key or signature uses something we cannot check: insecure.
    #[error("cannot check: {0}")]
    Unsupported(#[source] Unsupported),
    /// The record given as the signature is not an RRSIG.
    #[error("record of type {rtype} given where an RRSIG was expected")]
    NotRrsig {
        /// Its type.
        rtype: u16,
    },
    /// The RRSIG's owner or class differs from the RRset's (RFC 4035 §5.3.1).
    #[error("RRSIG owner or class differs from the RRset's")]
    OwnerMismatch,
    /// The RRSIG covers another type than the RRset's (RFC 4035 §5.3.1).
    #[error("RRSIG covers type {covered}, the RRset is of type {rrset}")]
    TypeMismatch {
        /// Type Covered field.
        covered: u16,
        /// Type of the RRset.
        rrset: u16,
    },
    /// The RRSIG's algorithm differs from the key's (RFC 4035 §5.3.1).
    #[error("RRSIG algorithm {rrsig} differs from the key's {key}")]
    AlgorithmMismatch {
        /// Algorithm field of the RRSIG.
        rrsig: u8,
        /// Algorithm of the DNSKEY.
        key: u8,
    },
    /// The RRSIG's key tag differs from the key's (RFC 4035 §5.3.1).
    #[error("RRSIG key tag {rrsig} differs from the key's {key}")]
    KeyTagMismatch {
        /// Key Tag field of the RRSIG.
        rrsig: u16,
        /// Tag computed from the DNSKEY (RFC 4034 Appendix B).
        key: u16,
    },
    /// The signer name is not the key's owner (RFC 4035 §5.3.1).
    #[error("RRSIG signer is not the owner of DNSKEY {tag}")]
    SignerNotKeyOwner {
        /// Tag of the key.
        tag: u16,
    },
    /// The signer name is not the RRset's owner or an ancestor of it (RFC 4035 §5.3.1).
    #[error("RRSIG signer is not the RRset owner or an ancestor of it")]
    SignerNotAncestor,
    /// The key lacks the Zone flag (RFC 4034 §2.1.1).
    #[error("DNSKEY {tag} is not a zone key")]
    NotZoneKey {
        /// Tag of the key.
        tag: u16,
    },
    /// The key is revoked and this is not its own DNSKEY self-signature (RFC 5011 §2.1).
    #[error("DNSKEY {tag} is revoked")]
    RevokedKey {
        /// Tag of the key, REVOKE bit included.
        tag: u16,
    },
    /// The labels field exceeds the owner's labels (RFC 4035 §5.3.1).
    #[error("RRSIG labels field {labels} exceeds the owner's {owner_labels} labels")]
    LabelsExceedOwner {
        /// The labels field.
        labels: u8,
        /// Labels of the owner, a leading `*` not counted (RFC 4034 §3.1.3).
        owner_labels: u8,
    },
    /// Inception is not before expiration in serial arithmetic (RFC 4034 §3.1.5).
    #[error("RRSIG inception {inception} is not before its expiration {expiration}")]
    InvertedWindow {
        /// Inception, seconds since 1970 modulo 2^32.
        inception: u32,
        /// Expiration, seconds since 1970 modulo 2^32.
        expiration: u32,
    },
    /// The signature is not valid yet (RFC 4035 §5.3.1).
    #[error("RRSIG not valid before {inception}, now is {now}")]
    NotYetValid {
        /// Inception, seconds since 1970 modulo 2^32.
        inception: u32,
        /// The injected time, same scale.
        now: u32,
    },
    /// The signature has expired (RFC 4035 §5.3.1).
    #[error("RRSIG expired at {expiration}, now is {now}")]
    Expired {
        /// Expiration, seconds since 1970 modulo 2^32.
        expiration: u32,
        /// The injected time, same scale.
        now: u32,
    },
    /// The key's public key field cannot be decoded: it verifies nothing.
    #[error("DNSKEY {tag} cannot be decoded")]
    MalformedKey {
        /// Tag of the key.
        tag: u16,
        /// What is wrong with it.
        #[source]
        reason: KeyError,
    },
    /// The signed data could not be built.
    #[error("cannot build the signed data")]
    Canonical(#[source] CanonicalError),
    /// The caller's KeyTrap budget is spent (CVE-2023-50387).
    #[error("verification budget of {limit} signature checks is spent")]
    BudgetExhausted {
        /// The budget the caller granted.
        limit: u32,
    },
    /// No key has the RRSIG's key tag, algorithm and signer name.
    #[error("no DNSKEY with tag {tag} and algorithm {algorithm}")]
    NoMatchingKey {
        /// Key Tag field of the RRSIG.
        tag: u16,
        /// Algorithm field of the RRSIG.
        algorithm: u8,
    },
    /// The signature does not verify over the signed data with this key.
    #[error("signature does not verify with DNSKEY {tag}")]
    BadSignature {
        /// Tag of the key.
        tag: u16,
    },
}

impl VerifyError {
    /// Whether this means "cannot check" (insecure) rather than "wrong" (bogus).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported(_))
    }
}

impl From<Unsupported> for VerifyError {
    fn from(why: Unsupported) -> Self {
        Self::Unsupported(why)
    }
}
