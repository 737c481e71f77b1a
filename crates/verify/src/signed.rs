//! Does this RRset and RRSIG give these signed data? (RFC 4035 §5.3.2.)
//!
//! A memo hit must prove that the caller's RRset is the one verified
//! before, byte for byte. [`same_signed_data`] lays the parts
//! `anchorage_wire::signed_data` writes from ([`CanonicalRrset`]: signed
//! owner, fixed fields, sorted RDATA without duplicates) over the stored
//! bytes, so a hit costs no assembly of the whole and no digest.
//!
//! # Limitations
//! The owner, membership and ordering rules are wire's; only the layout
//! of signed data (prefix, then owner, fixed fields, length and RDATA per
//! record) is repeated here, and a property test (`tests/properties.rs`)
//! pins the agreement on random RRsets. Any doubt answers "not the same",
//! which only costs a verification.

use anchorage_wire::canonical::{CanonicalName, CanonicalRrset, write_sig_fields};
use anchorage_wire::name::MAX_NAME_LEN;
use anchorage_wire::proto::dnssec::rdata::SigInput;
use anchorage_wire::proto::rr::Record;

/// Longest RRSIG prefix of signed data: 18 bytes of fields and the signer.
const SIG_PREFIX_MAX: usize = 18 + MAX_NAME_LEN;

/// Reusable buffers for [`same_signed_data`].
#[derive(Debug, Default)]
pub struct CompareScratch {
    prefix: Vec<u8>,
    rrset: CanonicalRrset,
}

impl CompareScratch {
    /// Grows the buffers for an RRset of `records` records whose signed
    /// data is `signed_len` bytes, so comparing it later allocates nothing.
    pub fn reserve(&mut self, records: usize, signed_len: usize) {
        self.prefix
            .reserve(SIG_PREFIX_MAX.saturating_sub(self.prefix.len()));
        self.rrset.reserve(records, signed_len);
    }
}

/// Whether `stored` is exactly the signed data of `sig` over `rrset`, as
/// `anchorage_wire::signed_data` builds it; false also where it would fail.
/// `signer` is the signer name and `owner` the first record's name, both
/// in canonical form.
pub fn same_signed_data(
    sig: &SigInput,
    signer: &[u8],
    owner: &CanonicalName,
    rrset: &[Record],
    stored: &[u8],
    scratch: &mut CompareScratch,
) -> bool {
    let CompareScratch {
        prefix,
        rrset: parts,
    } = scratch;
    prefix.clear();
    write_sig_fields(sig, prefix);
    let mut rest = stored;
    if !(eat(&mut rest, prefix) && eat(&mut rest, signer)) || parts.fill(sig, rrset, owner).is_err()
    {
        return false;
    }
    let (owner, fixed) = (parts.owner(), parts.fixed());
    for data in parts.rdatas() {
        if !(eat(&mut rest, owner)
            && eat(&mut rest, fixed)
            && eat(&mut rest, &(data.len() as u16).to_be_bytes())
            && eat(&mut rest, data))
        {
            return false;
        }
    }
    rest.is_empty()
}

/// Consumes `expected` from the front of `rest`, if it is there.
fn eat(rest: &mut &[u8], expected: &[u8]) -> bool {
    match rest.split_at_checked(expected.len()) {
        Some((head, tail)) if head == expected => {
            *rest = tail;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_wire::canonical::{SignedData, signed_data};
    use anchorage_wire::proto::dnssec::Algorithm;
    use anchorage_wire::proto::dnssec::rdata::SigInput;
    use anchorage_wire::proto::rr::rdata::A;
    use anchorage_wire::proto::rr::{Name, RData, RecordType};

    fn input(labels: u8) -> SigInput {
        SigInput {
            type_covered: RecordType::A,
            algorithm: Algorithm::ECDSAP256SHA256,
            num_labels: labels,
            original_ttl: 300,
            sig_expiration: 2_000_000_000.into(),
            sig_inception: 1_000_000_000.into(),
            key_tag: 1,
            signer_name: Name::from_ascii("Example.").unwrap(),
        }
    }

    /// `same_signed_data` with the signer and owner put in canonical form.
    fn same(
        input: &SigInput,
        rrset: &[Record],
        stored: &[u8],
        scratch: &mut CompareScratch,
    ) -> bool {
        let mut signer = Vec::new();
        anchorage_wire::canonical::write_canonical_name(&input.signer_name, &mut signer);
        let mut owner = CanonicalName::new();
        owner.set(&rrset[0].name);
        same_signed_data(input, &signer, &owner, rrset, stored, scratch)
    }

    #[test]
    fn a_wildcard_expansion_matches_only_with_its_labels_field() {
        let owner = Name::from_ascii("A.b.Example.").unwrap();
        let rrset = vec![
            Record::from_rdata(owner.clone(), 300, RData::A(A::new(192, 0, 2, 2))),
            Record::from_rdata(owner, 300, RData::A(A::new(192, 0, 2, 1))),
        ];
        let mut buf = SignedData::new();
        let stored = signed_data(&input(1), &rrset, &mut buf).unwrap().to_vec();
        assert!(stored.windows(10).any(|w| w == b"\x01*\x07example"));
        let mut scratch = CompareScratch::default();
        assert!(same(&input(1), &rrset, &stored, &mut scratch));
        assert!(!same(&input(3), &rrset, &stored, &mut scratch));
        assert!(
            !same(&input(4), &rrset, &stored, &mut scratch),
            "labels above owner's"
        );
        assert!(!same(&input(1), &rrset[..1], &stored, &mut scratch));
        assert!(!same(
            &input(1),
            &rrset,
            &stored[..stored.len() - 1],
            &mut scratch
        ));
    }
}
