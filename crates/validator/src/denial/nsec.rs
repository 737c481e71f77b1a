//! NSEC denial proofs (RFC 4035 §5.4, RFC 6840 §4.1).
//!
//! Each function takes the validated NSEC records of one zone and says
//! what they prove about a name, in canonical order (RFC 4034 §6.1).

use anchorage_wire::proto::dnssec::rdata::NSEC;
use anchorage_wire::proto::rr::{Name, RecordType};

use super::{DenialError, Proven, common_labels, wildcard_of};

/// Whether `nsec` at `owner` covers `name`: owner < name < next, the last
/// NSEC of a zone wrapping to the apex.
pub fn covers(owner: &Name, nsec: &NSEC, name: &Name) -> bool {
    let next = nsec.next_domain_name();
    if owner < next {
        owner < name && name < next
    } else {
        owner < name && next.zone_of(name)
    }
}

/// Proves `sname` does not exist, nor a wildcard that could answer it.
pub fn prove_nxdomain(sname: &Name, nsecs: &[(&Name, &NSEC)]) -> Result<Proven, DenialError> {
    if nsecs.is_empty() {
        return Err(DenialError::NoRecords);
    }
    let (owner, nsec) = covering(sname, nsecs)?;
    if is_empty_non_terminal(sname, nsec) {
        return Err(DenialError::NameExists {
            name: sname.clone(),
        });
    }
    let ce = closest_encloser(sname, owner, nsec);
    deny_wildcard(&wildcard_of(&ce), nsecs)?;
    Ok(Proven::NxDomain)
}

/// Proves `sname` has no `qtype`: a matching NSEC without it, an empty
/// non-terminal, or a matching wildcard without it. For DS, tells an
/// insecure delegation (NS without DS) from a name that is no delegation.
pub fn prove_nodata(
    sname: &Name,
    qtype: RecordType,
    nsecs: &[(&Name, &NSEC)],
) -> Result<Proven, DenialError> {
    if nsecs.is_empty() {
        return Err(DenialError::NoRecords);
    }
    if let Some((owner, nsec)) = nsecs.iter().find(|(owner, _)| *owner == sname) {
        return nodata_at(owner, nsec, qtype);
    }
    let (owner, nsec) = covering(sname, nsecs)?;
    if is_empty_non_terminal(sname, nsec) {
        return Ok(Proven::EmptyNonTerminal);
    }
    let ce = closest_encloser(sname, owner, nsec);
    let wildcard = wildcard_of(&ce);
    match nsecs.iter().find(|(o, _)| **o == wildcard) {
        Some((o, wild)) => nodata_at(o, wild, qtype).map(|_| Proven::WildcardNoData),
        None => Err(DenialError::NotCovered { name: wildcard }),
    }
}

/// Proves no name closer than the wildcard matches `sname`, for an RRset
/// expanded from a wildcard whose RRSIG labels field is `labels`
/// (RFC 4035 §5.3.4).
pub fn prove_wildcard_answer(
    sname: &Name,
    labels: u8,
    nsecs: &[(&Name, &NSEC)],
) -> Result<Proven, DenialError> {
    if nsecs.is_empty() {
        return Err(DenialError::NoRecords);
    }
    let (owner, nsec) = covering(sname, nsecs)?;
    if closest_encloser(sname, owner, nsec).num_labels() != labels {
        return Err(DenialError::WrongClosestEncloser {
            name: sname.clone(),
            labels,
        });
    }
    Ok(Proven::NoCloserMatch)
}

fn nodata_at(owner: &Name, nsec: &NSEC, qtype: RecordType) -> Result<Proven, DenialError> {
    let types = nsec.type_set();
    if types.contains(qtype) || types.contains(RecordType::CNAME) {
        return Err(DenialError::TypePresent {
            name: owner.clone(),
            rtype: qtype,
        });
    }
    let delegation = types.contains(RecordType::NS) && !types.contains(RecordType::SOA);
    match (qtype, delegation) {
        (RecordType::DS, true) => Ok(Proven::InsecureDelegation),
        (_, true) => Err(DenialError::AncestorDelegation {
            owner: owner.clone(),
        }),
        _ => Ok(Proven::NoData),
    }
}

/// The NSEC covering `name` that is no parent-side record of a delegation
/// above it (RFC 6840 §4.1).
fn covering<'a>(
    name: &Name,
    nsecs: &[(&'a Name, &'a NSEC)],
) -> Result<(&'a Name, &'a NSEC), DenialError> {
    nsecs
        .iter()
        .copied()
        .find(|(owner, nsec)| {
            covers(owner, nsec, name) && !(owner.zone_of(name) && nsec.is_ancestor_delegation())
        })
        .ok_or_else(|| DenialError::NotCovered { name: name.clone() })
}

fn is_empty_non_terminal(name: &Name, nsec: &NSEC) -> bool {
    let next = nsec.next_domain_name();
    name.zone_of(next) && next.num_labels() > name.num_labels()
}

/// The closest encloser of `name` a covering NSEC shows: the longest
/// ancestor shared with its owner or its next name (RFC 4035 §5.4).
fn closest_encloser(name: &Name, owner: &Name, nsec: &NSEC) -> Name {
    let labels = common_labels(name, owner).max(common_labels(name, nsec.next_domain_name()));
    name.trim_to(usize::from(labels))
}

fn deny_wildcard(wildcard: &Name, nsecs: &[(&Name, &NSEC)]) -> Result<(), DenialError> {
    if nsecs.iter().any(|(owner, _)| *owner == wildcard) {
        return Err(DenialError::WildcardExists {
            wildcard: wildcard.clone(),
        });
    }
    covering(wildcard, nsecs).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NSEC chain of the example zone of RFC 4035 Appendix A.
    const CHAIN: [(&str, &str, &[RecordType]); 10] = {
        use RecordType::{A, AAAA, DNSKEY, DS, HINFO, MX, NS, NSEC as N, RRSIG, SOA};
        [
            ("example.", "a.example.", &[NS, SOA, MX, RRSIG, N, DNSKEY]),
            ("a.example.", "ai.example.", &[NS, DS, RRSIG, N]),
            ("ai.example.", "b.example.", &[A, HINFO, AAAA, RRSIG, N]),
            ("b.example.", "ns1.example.", &[NS, RRSIG, N]),
            ("ns1.example.", "ns2.example.", &[A, RRSIG, N]),
            ("ns2.example.", "*.w.example.", &[A, RRSIG, N]),
            ("*.w.example.", "x.w.example.", &[MX, RRSIG, N]),
            ("x.w.example.", "x.y.w.example.", &[MX, RRSIG, N]),
            ("x.y.w.example.", "xx.example.", &[MX, RRSIG, N]),
            ("xx.example.", "example.", &[A, HINFO, AAAA, RRSIG, N]),
        ]
    };

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn chain(owners: &[&str]) -> Vec<(Name, NSEC)> {
        owners
            .iter()
            .map(|o| {
                let (owner, next, types) = CHAIN.iter().find(|(x, _, _)| x == o).unwrap();
                (name(owner), NSEC::new(name(next), types.iter().copied()))
            })
            .collect()
    }

    fn view(records: &[(Name, NSEC)]) -> Vec<(&Name, &NSEC)> {
        records.iter().map(|(o, n)| (o, n)).collect()
    }

    #[test]
    fn b2_name_error_is_proven_by_the_cover_and_the_wildcard_cover() {
        let records = chain(&["b.example.", "example."]);
        assert_eq!(
            prove_nxdomain(&name("ml.example."), &view(&records)),
            Ok(Proven::NxDomain)
        );
    }

    #[test]
    fn b2_name_error_without_the_wildcard_cover_is_not_proven() {
        let records = chain(&["b.example."]);
        assert!(matches!(
            prove_nxdomain(&name("ml.example."), &view(&records)),
            Err(DenialError::NotCovered { .. })
        ));
    }

    #[test]
    fn b3_no_data_is_proven_by_the_matching_nsec() {
        let records = chain(&["ns1.example."]);
        assert_eq!(
            prove_nodata(&name("ns1.example."), RecordType::MX, &view(&records)),
            Ok(Proven::NoData)
        );
        assert!(matches!(
            prove_nodata(&name("ns1.example."), RecordType::A, &view(&records)),
            Err(DenialError::TypePresent { .. })
        ));
    }

    #[test]
    fn b5_referral_to_an_unsigned_zone_proves_an_insecure_delegation() {
        let records = chain(&["b.example."]);
        assert_eq!(
            prove_nodata(&name("b.example."), RecordType::DS, &view(&records)),
            Ok(Proven::InsecureDelegation)
        );
        // The parent-side NSEC proves nothing about other types (RFC 6840 §4.1).
        assert!(matches!(
            prove_nodata(&name("b.example."), RecordType::A, &view(&records)),
            Err(DenialError::AncestorDelegation { .. })
        ));
        // Nor about names below the cut.
        assert!(prove_nxdomain(&name("c.b.example."), &view(&records)).is_err());
    }

    #[test]
    fn b6_wildcard_expansion_is_proven_by_the_cover_of_the_name() {
        let records = chain(&["x.y.w.example."]);
        assert_eq!(
            prove_wildcard_answer(&name("a.z.w.example."), 2, &view(&records)),
            Ok(Proven::NoCloserMatch)
        );
        assert!(prove_wildcard_answer(&name("a.z.w.example."), 1, &view(&records)).is_err());
    }

    #[test]
    fn b7_wildcard_no_data_needs_the_cover_and_the_wildcard_match() {
        let records = chain(&["x.y.w.example.", "*.w.example."]);
        assert_eq!(
            prove_nodata(&name("a.z.w.example."), RecordType::AAAA, &view(&records)),
            Ok(Proven::WildcardNoData)
        );
        let only_cover = chain(&["x.y.w.example."]);
        assert!(
            prove_nodata(
                &name("a.z.w.example."),
                RecordType::AAAA,
                &view(&only_cover)
            )
            .is_err()
        );
        assert!(prove_nodata(&name("a.z.w.example."), RecordType::MX, &view(&records)).is_err());
    }

    #[test]
    fn b8_ds_no_data_at_the_apex_is_no_delegation() {
        let records = chain(&["example."]);
        assert_eq!(
            prove_nodata(&name("example."), RecordType::DS, &view(&records)),
            Ok(Proven::NoData)
        );
    }

    #[test]
    fn empty_non_terminal_is_no_data_not_nxdomain() {
        let records = chain(&["x.w.example."]);
        assert_eq!(
            prove_nodata(&name("y.w.example."), RecordType::A, &view(&records)),
            Ok(Proven::EmptyNonTerminal)
        );
        assert!(matches!(
            prove_nxdomain(&name("y.w.example."), &view(&records)),
            Err(DenialError::NameExists { .. })
        ));
    }

    #[test]
    fn a_name_the_wildcard_would_answer_is_not_nxdomain() {
        let records = chain(&["x.y.w.example.", "*.w.example."]);
        assert!(matches!(
            prove_nxdomain(&name("a.z.w.example."), &view(&records)),
            Err(DenialError::WildcardExists { .. })
        ));
    }

    #[test]
    fn the_last_nsec_wraps_to_the_apex() {
        let records = chain(&["xx.example.", "example."]);
        assert_eq!(
            prove_nxdomain(&name("zz.example."), &view(&records)),
            Ok(Proven::NxDomain)
        );
        assert!(!covers(
            &records[0].0,
            &records[0].1,
            &name("zz.example.org.")
        ));
    }
}
