//! What a finished walk hands to the validator: the answer records with
//! their RRSIGs, the denial proofs, and the DS or no-DS proofs of every
//! referral followed.

use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::{Name, Record, RecordType};

/// A question: name and type (class IN).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Question {
    /// The name, as the client spelled it.
    pub name: Name,
    /// The type.
    pub qtype: RecordType,
}

impl Question {
    /// A question for `name` and `qtype`.
    pub fn new(name: Name, qtype: RecordType) -> Self {
        Self { name, qtype }
    }
}

/// The proof a parent gave when it referred us to a child zone: DS with
/// RRSIGs, or NSEC/NSEC3 with RRSIGs proving there is no DS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutProof {
    /// The parent zone that answered.
    pub parent: Name,
    /// The child zone.
    pub child: Name,
    /// DS, NSEC, NSEC3 and RRSIG records from the referral's authority.
    pub records: Vec<Record>,
}

/// The outcome of a walk: an answer, NODATA or NXDOMAIN, with proofs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The client's question.
    pub question: Question,
    /// NOERROR or NXDOMAIN.
    pub rcode: ResponseCode,
    /// CNAME/DNAME chain, then the final RRset, each with its RRSIGs.
    pub answers: Vec<Record>,
    /// For NXDOMAIN and NODATA: SOA, NSEC/NSEC3 and their RRSIGs; for a
    /// wildcard answer, the NSEC/NSEC3 proving no closer match.
    pub authority: Vec<Record>,
    /// NSEC/NSEC3 records and their RRSIGs from the replies of earlier
    /// CNAME/DNAME links (the final reply's are in `authority`): the
    /// proofs of links expanded from a wildcard (RFC 4035 §5.3.4).
    pub link_proofs: Vec<Record>,
    /// The zone that gave the final answer.
    pub zone: Name,
    /// DS or no-DS proofs of the referrals followed, top down.
    pub cuts: Vec<CutProof>,
    /// Upstream queries spent, sub-lookups included.
    pub queries: u32,
}

impl Answer {
    /// Records of type `rtype` in the answer section.
    pub fn records_of(&self, rtype: RecordType) -> impl Iterator<Item = &Record> {
        self.answers
            .iter()
            .filter(move |r| r.record_type() == rtype)
    }

    /// Whether this is NODATA: NOERROR with no record of the asked type.
    pub fn is_nodata(&self) -> bool {
        self.rcode == ResponseCode::NoError && self.records_of(self.question.qtype).next().is_none()
    }
}
