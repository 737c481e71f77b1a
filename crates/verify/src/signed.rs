//! Does this RRset and RRSIG give these signed data? (RFC 4035 §5.3.2.)
//!
//! A memo hit must prove that the caller's RRset is the one verified
//! before, byte for byte. [`same_signed_data`] walks the stored bytes
//! while it derives what `anchorage_wire::signed_data` would write,
//! so a hit costs no assembly and no digest.
//!
//! # Limitations
//! It must agree with `anchorage_wire::signed_data` exactly: RDATA goes
//! through the same `write_canonical_rdata`, owner and signer are written
//! here by the same rules, and a property test
//! (`tests/properties.rs`) pins the agreement on random RRsets. Any
//! doubt answers "not the same", which only costs a verification.

use anchorage_wire::canonical::{MAX_RDATA_LEN, write_canonical_rdata};
use anchorage_wire::proto::dnssec::rdata::SigInput;
use anchorage_wire::proto::rr::{Name, Record};

/// Reusable buffers for [`same_signed_data`].
#[derive(Debug, Default)]
pub struct CompareScratch {
    rdata: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl CompareScratch {
    /// Grows the buffers for an RRset of `records` records whose signed
    /// data is `signed_len` bytes, so comparing it later allocates nothing.
    pub fn reserve(&mut self, records: usize, signed_len: usize) {
        self.rdata
            .reserve(signed_len.saturating_sub(self.rdata.len()));
        self.spans.reserve(records.saturating_sub(self.spans.len()));
    }
}

/// Whether `stored` is exactly the signed data of `sig` over `rrset`, as
/// `anchorage_wire::signed_data` builds it; false also where it would fail.
pub fn same_signed_data(
    sig: &SigInput,
    rrset: &[Record],
    stored: &[u8],
    scratch: &mut CompareScratch,
) -> bool {
    let mut rest = stored;
    let Some(first) = rrset.first() else {
        return false;
    };
    let covered = u16::from(sig.type_covered).to_be_bytes();
    let mut head = [0u8; 18];
    head[0..2].copy_from_slice(&covered);
    head[2] = u8::from(sig.algorithm);
    head[3] = sig.num_labels;
    head[4..8].copy_from_slice(&sig.original_ttl.to_be_bytes());
    head[8..12].copy_from_slice(&sig.sig_expiration.get().to_be_bytes());
    head[12..16].copy_from_slice(&sig.sig_inception.get().to_be_bytes());
    head[16..18].copy_from_slice(&sig.key_tag.to_be_bytes());
    if !eat(&mut rest, &head) || !eat_name(&mut rest, &sig.signer_name, 0) {
        return false;
    }
    // Every record starts with the signed owner: find it once, in place.
    let mut past_owner = rest;
    if !eat_signed_owner(&mut past_owner, &first.name, sig.num_labels) {
        return false;
    }
    let owner = &rest[..rest.len() - past_owner.len()];

    let CompareScratch { rdata, spans } = scratch;
    rdata.clear();
    spans.clear();
    for (index, record) in rrset.iter().enumerate() {
        if record.record_type() != sig.type_covered
            || record.dns_class != first.dns_class
            // The first record is the owner everything is compared with.
            || (index > 0 && !names_eq_ignore_case(&record.name, &first.name))
        {
            return false;
        }
        let start = rdata.len();
        if write_canonical_rdata(&record.data, rdata).is_err()
            || rdata.len() - start > MAX_RDATA_LEN
        {
            return false;
        }
        // Invariant: an RRset's RDATA totals far below 4 GiB (each is at
        // most 64 KiB, and a message at most 64 KiB).
        spans.push((start as u32, rdata.len() as u32));
    }
    let slice = |&(s, e): &(u32, u32)| &rdata[s as usize..e as usize];
    spans.sort_unstable_by(|a, b| slice(a).cmp(slice(b)));

    let mut fixed = [0u8; 8];
    fixed[0..2].copy_from_slice(&covered);
    fixed[2..4].copy_from_slice(&u16::from(first.dns_class).to_be_bytes());
    fixed[4..8].copy_from_slice(&sig.original_ttl.to_be_bytes());
    let mut previous: Option<&[u8]> = None;
    for span in spans.iter() {
        let data = slice(span);
        if previous == Some(data) {
            continue;
        }
        previous = Some(data);
        if !(eat(&mut rest, owner)
            && eat(&mut rest, &fixed)
            && eat(&mut rest, &(data.len() as u16).to_be_bytes())
            && eat(&mut rest, data))
        {
            return false;
        }
    }
    rest.is_empty()
}

/// Whether two names are equal ignoring ASCII case.
pub(crate) fn names_eq_ignore_case(a: &Name, b: &Name) -> bool {
    // `LabelIter` knows its length: no counting walk.
    a.iter().len() == b.iter().len()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.eq_ignore_ascii_case(y))
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

/// Consumes the canonical form of `name` (RFC 4034 §6.2: lower case) after
/// skipping its first `skip` labels.
fn eat_name(rest: &mut &[u8], name: &Name, skip: usize) -> bool {
    for label in name.iter().skip(skip) {
        let Some((&len, tail)) = rest.split_first() else {
            return false;
        };
        let Some((bytes, tail)) = tail.split_at_checked(usize::from(len)) else {
            return false;
        };
        if bytes.len() != label.len()
            || !bytes
                .iter()
                .zip(label)
                .all(|(&b, &l)| b == l.to_ascii_lowercase())
        {
            return false;
        }
        *rest = tail;
    }
    eat(rest, &[0])
}

/// Consumes the owner the signature covers: the owner, or `*.` and its
/// rightmost `labels` labels when expanded from a wildcard (RFC 4035 §5.3.2).
fn eat_signed_owner(rest: &mut &[u8], owner: &Name, labels: u8) -> bool {
    let total = owner.iter().len();
    let wildcard = owner.iter().next().is_some_and(|l| l == b"*");
    let owner_labels = total - usize::from(wildcard);
    let labels = usize::from(labels);
    if labels > owner_labels {
        return false;
    }
    if labels < owner_labels {
        eat(rest, b"\x01*") && eat_name(rest, owner, total - labels)
    } else {
        eat_name(rest, owner, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_consumed_in_lower_case_only() {
        let name = Name::from_ascii("WwW.Example.").unwrap();
        let mut rest: &[u8] = b"\x03www\x07example\x00tail";
        assert!(eat_name(&mut rest, &name, 0));
        assert_eq!(rest, b"tail");
        let mut upper: &[u8] = b"\x03WWW\x07example\x00";
        assert!(
            !eat_name(&mut upper, &name, 0),
            "stored bytes are canonical"
        );
        let mut short: &[u8] = b"\x03www\x07exa";
        assert!(!eat_name(&mut short, &name, 0));
    }

    #[test]
    fn wildcard_owner_is_star_and_the_rightmost_labels() {
        let owner = Name::from_ascii("a.b.example.").unwrap();
        let mut rest: &[u8] = b"\x01*\x07example\x00";
        assert!(eat_signed_owner(&mut rest, &owner, 1));
        assert!(rest.is_empty());
        let mut rest: &[u8] = b"\x01a\x01b\x07example\x00";
        assert!(
            !eat_signed_owner(&mut rest, &owner, 4),
            "labels above owner's"
        );
    }
}
