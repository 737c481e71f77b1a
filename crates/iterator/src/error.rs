//! Why a question could not be answered, and the reply each reason gets.

use std::time::Duration;

use anchorage_wire::EdeCode;
use anchorage_wire::proto::op::ResponseCode;

/// Why a walk ended without an answer; each maps to an RCODE and an EDE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The question needed more upstream queries than allowed.
    #[error("{limit} upstream queries spent without an answer")]
    QueryCap {
        /// The cap.
        limit: u32,
    },
    /// The question took longer than its deadline.
    #[error("no answer within {after:?}")]
    Deadline {
        /// The deadline.
        after: Duration,
    },
    /// More referrals than allowed.
    #[error("delegation deeper than {limit} referrals at {zone}")]
    DelegationTooDeep {
        /// The cap.
        limit: u8,
        /// The last zone reached.
        zone: String,
    },
    /// NS-address lookups nested deeper than allowed.
    #[error("NS address lookups nested deeper than {limit} for {ns}")]
    DependencyTooDeep {
        /// The cap.
        limit: u8,
        /// The NS name that needed another lookup.
        ns: String,
    },
    /// A CNAME or DNAME chain longer than allowed.
    #[error("CNAME/DNAME chain longer than {limit} hops at {name}")]
    ChainTooLong {
        /// The cap.
        limit: u8,
        /// The name reached.
        name: String,
    },
    /// A CNAME or DNAME chain came back to a name already seen.
    #[error("CNAME/DNAME loop at {name}")]
    ChainLoop {
        /// The name seen twice.
        name: String,
    },
    /// DNAME substitution made a name longer than 255 bytes (RFC 6672 §2.2).
    #[error("DNAME substitution of {name} overflows")]
    DnameOverflow {
        /// The name being rewritten.
        name: String,
    },
    /// Every server of a zone failed, was lame, or could not be reached.
    #[error("no server of {zone} gave a usable answer")]
    NoReachableAuthority {
        /// The zone.
        zone: String,
    },
    /// The delegation's servers all need addresses we may not resolve
    /// (per-referral cap hit, or in-bailiwick without glue).
    #[error("no address for any NS of {zone} after {fetched} lookups")]
    NoServerAddress {
        /// The zone.
        zone: String,
        /// NS names looked up.
        fetched: u8,
    },
    /// A walk for the same question, shared with this one, was dropped.
    #[error("the shared resolution of this question was abandoned")]
    Abandoned,
}

impl ResolveError {
    /// The RCODE a client gets.
    pub fn rcode(&self) -> ResponseCode {
        match self {
            // RFC 6672 §2.2: a DNAME that overflows is YXDOMAIN.
            Self::DnameOverflow { .. } => ResponseCode::YXDomain,
            Self::QueryCap { .. }
            | Self::Deadline { .. }
            | Self::DelegationTooDeep { .. }
            | Self::DependencyTooDeep { .. }
            | Self::ChainTooLong { .. }
            | Self::ChainLoop { .. }
            | Self::NoReachableAuthority { .. }
            | Self::NoServerAddress { .. }
            | Self::Abandoned => ResponseCode::ServFail,
        }
    }

    /// The Extended DNS Error a client gets (RFC 8914 §4).
    pub fn ede(&self) -> EdeCode {
        match self {
            Self::QueryCap { .. }
            | Self::DelegationTooDeep { .. }
            | Self::DependencyTooDeep { .. }
            | Self::ChainTooLong { .. }
            | Self::Abandoned => EdeCode::Other,
            Self::ChainLoop { .. } | Self::DnameOverflow { .. } => EdeCode::InvalidData,
            Self::Deadline { .. }
            | Self::NoReachableAuthority { .. }
            | Self::NoServerAddress { .. } => EdeCode::NoReachableAuthority,
        }
    }

    /// Whether the failure belongs to the whole question, not just to the
    /// lookup of one NS name's address (which the walk can survive).
    pub(crate) fn is_global(&self) -> bool {
        matches!(
            self,
            Self::QueryCap { .. } | Self::Deadline { .. } | Self::Abandoned
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_servfail_with_an_ede() {
        let cap = ResolveError::QueryCap { limit: 64 };
        assert_eq!(cap.rcode(), ResponseCode::ServFail);
        assert_eq!(cap.ede(), EdeCode::Other);
        let lost = ResolveError::NoReachableAuthority {
            zone: "com.".into(),
        };
        assert_eq!(lost.ede(), EdeCode::NoReachableAuthority);
        let looped = ResolveError::ChainLoop { name: "a.".into() };
        assert_eq!(looped.ede(), EdeCode::InvalidData);
        let dname = ResolveError::DnameOverflow { name: "a.".into() };
        assert_eq!(dname.rcode(), ResponseCode::YXDomain);
    }
}
