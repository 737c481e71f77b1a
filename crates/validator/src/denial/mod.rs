//! Proofs of non-existence from validated NSEC (RFC 4035 §5.4) and NSEC3
//! (RFC 5155 §8) records: NXDOMAIN, NODATA, empty non-terminals, wildcard
//! answers and wildcard NODATA, and the absence of DS at a delegation
//! (insecure, opt-out included).
//!
//! # Limitations
//! Does not check the RRSIGs over the records; the caller has, and passes
//! only records of the one zone that signed them.

pub mod nsec;
pub mod nsec3;

use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, NSEC, NSEC3};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

/// What a set of denial records proves about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
#[repr(u8)]
pub enum Proven {
    /// The name does not exist, nor a wildcard that could answer it.
    NxDomain = 0,
    /// The name exists without the type (for DS: and is no delegation).
    NoData = 1,
    /// The name is an empty non-terminal.
    EmptyNonTerminal = 2,
    /// The name does not exist; the wildcard that would answer has no such type.
    WildcardNoData = 3,
    /// The name is a delegation without DS: the child is insecure.
    InsecureDelegation = 4,
    /// An NSEC3 opt-out span covers the name (RFC 5155 §6): an unsigned
    /// delegation may exist there, so the answer is insecure.
    OptOut = 5,
    /// No name closer than the wildcard exists: a wildcard answer is legitimate.
    NoCloserMatch = 6,
}

/// Why the records do not prove the denial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenialError {
    /// No NSEC or NSEC3 record was given.
    #[error("no NSEC or NSEC3 records")]
    NoRecords,
    /// Nothing covers the name.
    #[error("nothing covers {name}")]
    NotCovered {
        /// The name.
        name: Name,
    },
    /// The name exists, so it cannot be denied.
    #[error("{name} exists")]
    NameExists {
        /// The name.
        name: Name,
    },
    /// The wildcard that would answer the name exists.
    #[error("wildcard {wildcard} exists")]
    WildcardExists {
        /// The wildcard.
        wildcard: Name,
    },
    /// The records show the type (or a CNAME) at the name.
    #[error("{rtype} or CNAME exists at {name}")]
    TypePresent {
        /// The name.
        name: Name,
        /// The type asked.
        rtype: RecordType,
    },
    /// The only matching record is the parent side of a delegation
    /// (RFC 6840 §4.1): it proves nothing but the absence of DS.
    #[error("{owner} is a delegation; its parent-side record proves only DS absence")]
    AncestorDelegation {
        /// The delegation.
        owner: Name,
    },
    /// No closest encloser could be proven (RFC 5155 §8.3).
    #[error("no closest encloser of {name} is proven")]
    NoClosestEncloser {
        /// The name.
        name: Name,
    },
    /// The wildcard answer's labels field does not match the proof.
    #[error("the proof's closest encloser of {name} is not {labels} labels long")]
    WrongClosestEncloser {
        /// The name.
        name: Name,
        /// The RRSIG labels field.
        labels: u8,
    },
    /// NSEC3 iterations above our limit: insecure (RFC 9276 §3.2).
    #[error("NSEC3 iterations {iterations} exceed the limit of {limit}")]
    Nsec3Iterations {
        /// The iterations of the records.
        iterations: u16,
        /// Our limit.
        limit: u16,
    },
    /// No NSEC3 record uses a hash algorithm we implement (RFC 5155 §8.1).
    #[error("NSEC3 hash algorithm {algorithm} is not implemented")]
    Nsec3Algorithm {
        /// The algorithm.
        algorithm: u8,
    },
    /// The query's NSEC3 hash budget is spent (CVE-2023-50868).
    #[error("NSEC3 hash budget of {limit} is spent")]
    HashBudget {
        /// The budget.
        limit: u32,
    },
}

/// The NSEC records among `records`, with their owners.
pub fn nsecs(records: &[Record]) -> Vec<(&Name, &NSEC)> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some((&r.name, nsec)),
            _ => None,
        })
        .collect()
}

/// The NSEC3 records among `records`, with their owners.
pub fn nsec3s(records: &[Record]) -> Vec<(&Name, &NSEC3)> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => Some((&r.name, nsec3)),
            _ => None,
        })
        .collect()
}

/// Number of labels `a` and `b` share from the root, ignoring case.
pub(crate) fn common_labels(a: &Name, b: &Name) -> u8 {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count() as u8
}

/// `*.` prepended to `name`.
pub(crate) fn wildcard_of(name: &Name) -> Name {
    // Invariant: a closest encloser comes from a name at most 255 bytes
    // long that had at least one label more, so `*.` fits.
    name.prepend_label("*").unwrap_or_else(|_| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_discriminants_are_pinned() {
        let all = [
            Proven::NxDomain,
            Proven::NoData,
            Proven::EmptyNonTerminal,
            Proven::WildcardNoData,
            Proven::InsecureDelegation,
            Proven::OptOut,
            Proven::NoCloserMatch,
        ];
        for (i, p) in all.iter().enumerate() {
            assert_eq!(*p as usize, i);
        }
    }

    #[test]
    fn common_labels_count_from_the_root_ignoring_case() {
        let a = Name::from_ascii("a.b.Example.").unwrap();
        let b = Name::from_ascii("c.B.example.").unwrap();
        assert_eq!(common_labels(&a, &b), 2);
        assert_eq!(common_labels(&a, &Name::root()), 0);
    }
}
