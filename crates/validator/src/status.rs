//! What validation concluded, why, and the reply each conclusion gets:
//! one exhaustive mapping from reason to RCODE, AD bit and EDE (RFC 8914).

use anchorage_iterator::ResolveError;
use anchorage_verify::VerifyError;
use anchorage_wire::EdeCode;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::{Name, RecordType};

use crate::budget::BudgetKind;
use crate::denial::DenialError;

/// The four security statuses of RFC 4033 §5, without their reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Security {
    /// An unbroken chain of signatures from a trust anchor.
    Secure = 0,
    /// Provably outside any chain of trust.
    Insecure = 1,
    /// A chain of trust should exist and does not hold.
    Bogus = 2,
    /// No trust anchor covers the name.
    Indeterminate = 3,
}

/// A status with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Status {
    /// Secure: AD may be set.
    Secure,
    /// Insecure, and why that was proven.
    Insecure(Insecure),
    /// Bogus, and what failed.
    Bogus(Bogus),
    /// No trust anchor covers the name.
    Indeterminate,
}

/// Why an answer is insecure (RFC 4035 §5.2, RFC 5155 §8.6, RFC 7646, RFC 9276).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Insecure {
    /// The parent proved there is no DS for the zone.
    #[error("{zone} is delegated without DS")]
    NoDs {
        /// The unsigned child zone.
        zone: Name,
    },
    /// An NSEC3 opt-out span covers the name: an unsigned delegation may exist.
    #[error("NSEC3 opt-out covers {name}")]
    OptOut {
        /// The name in the opt-out span.
        name: Name,
    },
    /// Every DS (or anchor) names an algorithm we do not implement.
    #[error("{zone} uses DNSSEC algorithm {algorithm}, which is not implemented")]
    UnsupportedAlgorithm {
        /// The zone.
        zone: Name,
        /// The algorithm number.
        algorithm: u8,
    },
    /// Every DS uses a digest type we do not implement.
    #[error("DS of {zone} uses digest type {digest_type}, which is not implemented")]
    UnsupportedDigest {
        /// The zone.
        zone: Name,
        /// The digest type.
        digest_type: u8,
    },
    /// The NSEC3 records need more iterations than we hash (RFC 9276 §3.2).
    #[error("NSEC3 of {zone} uses {iterations} iterations, above our limit of {limit}")]
    Nsec3Iterations {
        /// The zone of the NSEC3 records.
        zone: Name,
        /// Their iteration count.
        iterations: u16,
        /// Our limit.
        limit: u16,
    },
    /// The NSEC3 hash algorithm is not implemented (RFC 5155 §8.1).
    #[error("NSEC3 of {zone} uses hash algorithm {algorithm}, which is not implemented")]
    Nsec3Algorithm {
        /// The zone of the NSEC3 records.
        zone: Name,
        /// The hash algorithm.
        algorithm: u8,
    },
    /// A negative trust anchor covers the name (RFC 7646).
    #[error("negative trust anchor {domain} covers the name")]
    NegativeTrustAnchor {
        /// The NTA's domain.
        domain: Name,
    },
}

/// Why an answer is bogus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bogus {
    /// No RRSIG by the zone over an RRset that must be signed.
    #[error("no RRSIG over {owner} {rtype}")]
    RrsigsMissing {
        /// Owner of the RRset.
        owner: Name,
        /// Its type.
        rtype: RecordType,
    },
    /// No RRSIG over the RRset verified with the zone's trusted keys.
    #[error("no valid RRSIG over {owner} {rtype}")]
    Signature {
        /// Owner of the RRset.
        owner: Name,
        /// Its type.
        rtype: RecordType,
        /// Why the best candidate failed.
        #[source]
        error: VerifyError,
    },
    /// The zone published no DNSKEY matching its DS or anchor.
    #[error("no DNSKEY of {zone} matches its DS or trust anchor")]
    DnskeyMissing {
        /// The zone.
        zone: Name,
    },
    /// The DNSKEY RRset is not signed by a key its DS or anchor designates.
    #[error("the DNSKEY RRset of {zone} is not signed by a key its DS designates")]
    DnskeyNotSignedBySep {
        /// The zone.
        zone: Name,
    },
    /// A denial was needed and no NSEC or NSEC3 came with it.
    #[error("no NSEC or NSEC3 proves the denial for {name} {rtype}")]
    NsecMissing {
        /// The name denied.
        name: Name,
        /// The type denied.
        rtype: RecordType,
    },
    /// NSEC or NSEC3 records came but do not prove what they must.
    #[error("the denial for {name} {rtype} is not proven")]
    Denial {
        /// The name denied.
        name: Name,
        /// The type denied.
        rtype: RecordType,
        /// What is missing from the proof.
        #[source]
        error: DenialError,
    },
    /// The signer named in an RRSIG is not a zone on the path to the owner.
    #[error("{signer} is not a zone that may sign {owner}")]
    WrongSigner {
        /// Owner of the RRset.
        owner: Name,
        /// The claimed signer.
        signer: Name,
    },
    /// A name claimed as a zone is proven not to be a zone cut.
    #[error("{name} is not a zone cut")]
    NotAZone {
        /// The name.
        name: Name,
    },
    /// A DS or DNSKEY set could not be fetched.
    #[error("cannot fetch {name} {rtype}")]
    Fetch {
        /// Name fetched.
        name: Name,
        /// Type fetched.
        rtype: RecordType,
        /// Why it failed.
        #[source]
        error: ResolveError,
    },
    /// A per-query budget is spent (CVE-2023-50387, CVE-2023-50868).
    #[error("validation budget of {limit} {kind} is spent")]
    Budget {
        /// Which budget.
        kind: BudgetKind,
        /// Its size.
        limit: u32,
    },
}

impl Status {
    /// The status without its reason.
    pub fn security(&self) -> Security {
        match self {
            Self::Secure => Security::Secure,
            Self::Insecure(_) => Security::Insecure,
            Self::Bogus(_) => Security::Bogus,
            Self::Indeterminate => Security::Indeterminate,
        }
    }

    /// The RCODE the client gets instead of the answer's own, if any:
    /// SERVFAIL for bogus (RFC 4035 §5.5).
    pub fn rcode_override(&self) -> Option<ResponseCode> {
        match self {
            Self::Bogus(_) => Some(ResponseCode::ServFail),
            Self::Secure | Self::Insecure(_) | Self::Indeterminate => None,
        }
    }

    /// Whether AD may be set when the client asked for it (RFC 6840 §5.7).
    pub fn authentic(&self) -> bool {
        matches!(self, Self::Secure)
    }

    /// The Extended DNS Error to attach, if any (RFC 8914 §4).
    pub fn ede(&self) -> Option<EdeCode> {
        match self {
            Self::Secure | Self::Indeterminate => None,
            Self::Insecure(why) => why.ede(),
            Self::Bogus(why) => Some(why.ede()),
        }
    }
}

impl Insecure {
    /// The EDE an insecure answer carries, if its reason has one.
    pub fn ede(&self) -> Option<EdeCode> {
        match self {
            Self::UnsupportedAlgorithm { .. } => Some(EdeCode::UnsupportedDnskeyAlgorithm),
            Self::UnsupportedDigest { .. } => Some(EdeCode::UnsupportedDsDigestType),
            Self::Nsec3Iterations { .. } => Some(EdeCode::UnsupportedNsec3Iterations),
            Self::NoDs { .. }
            | Self::OptOut { .. }
            | Self::Nsec3Algorithm { .. }
            | Self::NegativeTrustAnchor { .. } => None,
        }
    }
}

impl Bogus {
    /// The EDE a bogus answer's SERVFAIL carries.
    pub fn ede(&self) -> EdeCode {
        match self {
            Self::RrsigsMissing { .. } => EdeCode::RrsigsMissing,
            Self::Signature { error, .. } => match error {
                VerifyError::Expired { .. } => EdeCode::SignatureExpired,
                VerifyError::NotYetValid { .. } => EdeCode::SignatureNotYetValid,
                VerifyError::NotZoneKey { .. } => EdeCode::NoZoneKeyBitSet,
                VerifyError::NoMatchingKey { .. } => EdeCode::DnskeyMissing,
                _ => EdeCode::DnssecBogus,
            },
            Self::DnskeyMissing { .. } => EdeCode::DnskeyMissing,
            Self::NsecMissing { .. } => EdeCode::NsecMissing,
            Self::Fetch { error, .. } => error.ede(),
            Self::DnskeyNotSignedBySep { .. }
            | Self::Denial { .. }
            | Self::WrongSigner { .. }
            | Self::NotAZone { .. }
            | Self::Budget { .. } => EdeCode::DnssecBogus,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn security_discriminants_are_pinned() {
        assert_eq!(Security::Secure as u8, 0);
        assert_eq!(Security::Insecure as u8, 1);
        assert_eq!(Security::Bogus as u8, 2);
        assert_eq!(Security::Indeterminate as u8, 3);
    }

    #[test]
    fn expired_signature_gives_servfail_with_ede_7() {
        let status = Status::Bogus(Bogus::Signature {
            owner: name("www.example."),
            rtype: RecordType::A,
            error: VerifyError::Expired {
                expiration: 1,
                now: 2,
            },
        });
        assert_eq!(status.rcode_override(), Some(ResponseCode::ServFail));
        assert_eq!(status.ede(), Some(EdeCode::SignatureExpired));
        assert!(!status.authentic());
    }

    #[test]
    fn insecure_answers_carry_an_ede_only_for_unsupported_things() {
        let nods = Status::Insecure(Insecure::NoDs {
            zone: name("example."),
        });
        assert_eq!(nods.ede(), None);
        assert_eq!(nods.rcode_override(), None);
        let alg = Status::Insecure(Insecure::UnsupportedAlgorithm {
            zone: name("example."),
            algorithm: 16,
        });
        assert_eq!(alg.ede(), Some(EdeCode::UnsupportedDnskeyAlgorithm));
        let iters = Status::Insecure(Insecure::Nsec3Iterations {
            zone: name("example."),
            iterations: 500,
            limit: 50,
        });
        assert_eq!(iters.ede(), Some(EdeCode::UnsupportedNsec3Iterations));
    }

    #[test]
    fn only_secure_sets_ad() {
        assert!(Status::Secure.authentic());
        assert!(!Status::Indeterminate.authentic());
    }
}
