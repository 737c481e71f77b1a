//! NSEC3 denial proofs (RFC 5155 §8): closest encloser, next closer name,
//! wildcard, opt-out.
//!
//! Hashes are computed by `verify` under the query's NSEC3 budget
//! (CVE-2023-50868) and remembered for the one proof, so no name is hashed
//! twice. Records above our iteration limit make the denial insecure
//! (RFC 9276 §3.2); records of a hash algorithm we lack are ignored
//! (RFC 5155 §8.1).

use anchorage_verify::nsec3::{NSEC3_HASH_LEN, NSEC3_SHA1};
use anchorage_verify::{Nsec3Error, Nsec3Hash, nsec3_hash};
use anchorage_wire::proto::dnssec::rdata::NSEC3;
use anchorage_wire::proto::rr::{Name, RecordType};
use data_encoding::BASE32HEX_NOPAD;

use super::{DenialError, Proven, wildcard_of};
use crate::budget::QueryBudget;

/// The usable NSEC3 records of one zone, ready to prove with.
pub struct Nsec3Proof<'a, 'b> {
    zone: &'a Name,
    records: Vec<(Nsec3Hash, &'a NSEC3)>,
    salt: &'a [u8],
    iterations: u16,
    hashed: Vec<(Name, Nsec3Hash)>,
    budget: &'b mut QueryBudget,
}

impl<'a, 'b> Nsec3Proof<'a, 'b> {
    /// Keeps the records owned directly below `zone` whose parameters match
    /// the first usable one; refuses iterations above `max_iterations`.
    pub fn new(
        zone: &'a Name,
        records: &[(&'a Name, &'a NSEC3)],
        max_iterations: u16,
        budget: &'b mut QueryBudget,
    ) -> Result<Self, DenialError> {
        if records.is_empty() {
            return Err(DenialError::NoRecords);
        }
        let Some(first) = records
            .iter()
            .map(|(_, r)| *r)
            .find(|r| u8::from(r.hash_algorithm()) == NSEC3_SHA1)
        else {
            let algorithm = u8::from(records[0].1.hash_algorithm());
            return Err(DenialError::Nsec3Algorithm { algorithm });
        };
        if first.iterations() > max_iterations {
            return Err(DenialError::Nsec3Iterations {
                iterations: first.iterations(),
                limit: max_iterations,
            });
        }
        let records = records
            .iter()
            .filter(|(_, r)| {
                u8::from(r.hash_algorithm()) == NSEC3_SHA1
                    && r.iterations() == first.iterations()
                    && r.salt() == first.salt()
                    && r.next_hashed_owner_name().len() == NSEC3_HASH_LEN
            })
            .filter_map(|(owner, r)| owner_hash(owner, zone).map(|h| (h, *r)))
            .collect();
        Ok(Self {
            zone,
            records,
            salt: first.salt(),
            iterations: first.iterations(),
            hashed: Vec::new(),
            budget,
        })
    }

    /// Proves `sname` does not exist (RFC 5155 §8.4); opt-out over the next
    /// closer name makes it insecure instead.
    pub fn prove_nxdomain(&mut self, sname: &Name) -> Result<Proven, DenialError> {
        let (ce, opt_out) = self.closest_encloser(sname)?;
        let wildcard = wildcard_of(&ce);
        let hash = self.hash(&wildcard)?;
        if self.matching(hash).is_some() {
            return Err(DenialError::WildcardExists { wildcard });
        }
        if self.covering(hash).is_none() {
            return Err(DenialError::NotCovered { name: wildcard });
        }
        Ok(if opt_out {
            Proven::OptOut
        } else {
            Proven::NxDomain
        })
    }

    /// Proves `sname` has no `qtype` (RFC 5155 §8.5-8.7).
    pub fn prove_nodata(&mut self, sname: &Name, qtype: RecordType) -> Result<Proven, DenialError> {
        let hash = self.hash(sname)?;
        if let Some(record) = self.matching(hash) {
            return nodata_at(sname, record, qtype);
        }
        let (ce, opt_out) = self.closest_encloser(sname)?;
        if qtype == RecordType::DS {
            // RFC 5155 §8.6: no DS under opt-out is an insecure delegation.
            return if opt_out {
                Ok(Proven::OptOut)
            } else {
                Err(DenialError::NotCovered {
                    name: sname.clone(),
                })
            };
        }
        let wildcard = wildcard_of(&ce);
        let hash = self.hash(&wildcard)?;
        match self.matching(hash) {
            Some(record) => nodata_at(&wildcard, record, qtype).map(|_| Proven::WildcardNoData),
            None => Err(DenialError::NotCovered { name: wildcard }),
        }
    }

    /// Proves the next closer name of a wildcard answer does not exist
    /// (RFC 5155 §8.8); `labels` is the RRSIG labels field.
    pub fn prove_wildcard_answer(
        &mut self,
        sname: &Name,
        labels: u8,
    ) -> Result<Proven, DenialError> {
        if labels >= sname.num_labels() || labels < self.zone.num_labels() {
            return Err(DenialError::WrongClosestEncloser {
                name: sname.clone(),
                labels,
            });
        }
        let next_closer = sname.trim_to(usize::from(labels) + 1);
        let hash = self.hash(&next_closer)?;
        match self.covering(hash) {
            Some(_) => Ok(Proven::NoCloserMatch),
            None => Err(DenialError::NotCovered { name: next_closer }),
        }
    }

    /// The closest encloser of `sname` and whether the next closer name's
    /// cover is opt-out (RFC 5155 §8.3).
    fn closest_encloser(&mut self, sname: &Name) -> Result<(Name, bool), DenialError> {
        if !self.zone.zone_of(sname) {
            return Err(DenialError::NoClosestEncloser {
                name: sname.clone(),
            });
        }
        let mut candidate = sname.clone();
        let mut next_closer: Option<Name> = None;
        loop {
            let hash = self.hash(&candidate)?;
            if let Some(record) = self.matching(hash) {
                let Some(next_closer) = next_closer else {
                    return Err(DenialError::NameExists {
                        name: sname.clone(),
                    });
                };
                let types = record.type_set();
                let parent_side = (types.contains(RecordType::NS)
                    && !types.contains(RecordType::SOA))
                    || types.contains(RecordType::DNAME);
                if parent_side {
                    return Err(DenialError::AncestorDelegation { owner: candidate });
                }
                let nc_hash = self.hash(&next_closer)?;
                return match self.covering(nc_hash) {
                    Some(cover) => Ok((candidate, cover.opt_out())),
                    None => Err(DenialError::NotCovered { name: next_closer }),
                };
            }
            if candidate.num_labels() <= self.zone.num_labels() {
                return Err(DenialError::NoClosestEncloser {
                    name: sname.clone(),
                });
            }
            next_closer = Some(candidate.clone());
            candidate = candidate.base_name();
        }
    }

    fn hash(&mut self, name: &Name) -> Result<Nsec3Hash, DenialError> {
        if let Some((_, h)) = self.hashed.iter().find(|(n, _)| n == name) {
            return Ok(*h);
        }
        self.budget
            .spend_nsec3_hash()
            .map_err(|limit| DenialError::HashBudget { limit })?;
        let hash = nsec3_hash(
            name,
            NSEC3_SHA1,
            self.salt,
            self.iterations,
            self.iterations,
        )
        .map_err(|e| match e {
            Nsec3Error::UnsupportedAlgorithm { algorithm } => {
                DenialError::Nsec3Algorithm { algorithm }
            }
            Nsec3Error::TooManyIterations { iterations, limit } => {
                DenialError::Nsec3Iterations { iterations, limit }
            }
        })?;
        self.hashed.push((name.clone(), hash));
        Ok(hash)
    }

    fn matching(&self, hash: Nsec3Hash) -> Option<&'a NSEC3> {
        self.records
            .iter()
            .find(|(h, _)| *h == hash)
            .map(|(_, r)| *r)
    }

    fn covering(&self, hash: Nsec3Hash) -> Option<&'a NSEC3> {
        self.records
            .iter()
            .find(|(owner, r)| {
                let next = r.next_hashed_owner_name();
                let hash = hash.0.as_slice();
                let owner = owner.0.as_slice();
                if owner < next {
                    owner < hash && hash < next
                } else {
                    hash > owner || hash < next
                }
            })
            .map(|(_, r)| *r)
    }
}

fn nodata_at(name: &Name, record: &NSEC3, qtype: RecordType) -> Result<Proven, DenialError> {
    let types = record.type_set();
    if types.contains(qtype) || types.contains(RecordType::CNAME) {
        return Err(DenialError::TypePresent {
            name: name.clone(),
            rtype: qtype,
        });
    }
    let delegation = types.contains(RecordType::NS) && !types.contains(RecordType::SOA);
    match (qtype, delegation) {
        (RecordType::DS, true) => Ok(Proven::InsecureDelegation),
        (_, true) => Err(DenialError::AncestorDelegation {
            owner: name.clone(),
        }),
        _ => Ok(Proven::NoData),
    }
}

/// The hash in the first label of an NSEC3 owned directly below `zone`.
fn owner_hash(owner: &Name, zone: &Name) -> Option<Nsec3Hash> {
    if owner.num_labels() != zone.num_labels() + 1 || !zone.zone_of(owner) {
        return None;
    }
    let label = owner.iter().next()?.to_ascii_uppercase();
    let bytes = BASE32HEX_NOPAD.decode(&label).ok()?;
    let hash: [u8; NSEC3_HASH_LEN] = bytes.try_into().ok()?;
    Some(Nsec3Hash(hash))
}

#[cfg(test)]
mod tests {
    use anchorage_wire::proto::dnssec::Nsec3HashAlgorithm;

    use super::*;
    use crate::limits::Limits;

    /// The NSEC3 chain of the example zone of RFC 5155 Appendix A
    /// (SHA-1, 12 iterations, salt aabbccdd): owner hash, next hash, types.
    const CHAIN: [(&str, &str, &[RecordType]); 12] = {
        use RecordType::{A, AAAA, DNSKEY, DS, HINFO, MX, NS, NSEC3PARAM, RRSIG, SOA};
        [
            (
                "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
                "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
                &[MX, DNSKEY, NS, SOA, NSEC3PARAM, RRSIG],
            ),
            (
                "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
                "2vptu5timamqttgl4luu9kg21e0aor3s",
                &[A, RRSIG],
            ),
            (
                "2vptu5timamqttgl4luu9kg21e0aor3s",
                "35mthgpgcu1qg68fab165klnsnk3dpvl",
                &[MX, RRSIG],
            ),
            (
                "35mthgpgcu1qg68fab165klnsnk3dpvl",
                "b4um86eghhds6nea196smvmlo4ors995",
                &[NS, DS, RRSIG],
            ),
            (
                "b4um86eghhds6nea196smvmlo4ors995",
                "gjeqe526plbf1g8mklp59enfd789njgi",
                &[MX, RRSIG],
            ),
            (
                "gjeqe526plbf1g8mklp59enfd789njgi",
                "ji6neoaepv8b5o6k4ev33abha8ht9fgc",
                &[A, HINFO, AAAA, RRSIG],
            ),
            (
                "ji6neoaepv8b5o6k4ev33abha8ht9fgc",
                "k8udemvp1j2f7eg6jebps17vp3n8i58h",
                &[],
            ),
            (
                "k8udemvp1j2f7eg6jebps17vp3n8i58h",
                "kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
                &[],
            ),
            (
                "kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
                "q04jkcevqvmu85r014c7dkba38o0ji5r",
                &[A, RRSIG],
            ),
            (
                "q04jkcevqvmu85r014c7dkba38o0ji5r",
                "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
                &[A, RRSIG],
            ),
            (
                "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
                "t644ebqk9bibcna874givr6joj62mlhv",
                &[MX, RRSIG],
            ),
            (
                "t644ebqk9bibcna874givr6joj62mlhv",
                "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
                &[A, HINFO, AAAA, RRSIG],
            ),
        ]
    };

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// Records of the chain whose owner hash starts with one of `prefixes`.
    fn records(prefixes: &[&str], opt_out: bool) -> Vec<(Name, NSEC3)> {
        prefixes
            .iter()
            .map(|p| {
                let (owner, next, types) = CHAIN.iter().find(|(o, _, _)| o.starts_with(p)).unwrap();
                let next = BASE32HEX_NOPAD
                    .decode(next.to_ascii_uppercase().as_bytes())
                    .unwrap();
                let rdata = NSEC3::new(
                    Nsec3HashAlgorithm::SHA1,
                    opt_out,
                    12,
                    vec![0xaa, 0xbb, 0xcc, 0xdd],
                    next,
                    types.iter().copied(),
                );
                (name(&format!("{owner}.example.")), rdata)
            })
            .collect()
    }

    fn prove<T>(
        set: &[(Name, NSEC3)],
        f: impl FnOnce(&mut Nsec3Proof<'_, '_>) -> Result<T, DenialError>,
    ) -> Result<T, DenialError> {
        let zone = name("example.");
        let view: Vec<(&Name, &NSEC3)> = set.iter().map(|(o, r)| (o, r)).collect();
        let mut budget = QueryBudget::new(&Limits::default());
        let mut proof = Nsec3Proof::new(&zone, &view, 150, &mut budget)?;
        f(&mut proof)
    }

    #[test]
    fn b1_name_error_needs_encloser_next_closer_and_wildcard() {
        let set = records(&["0p9m", "b4um", "35mt"], false);
        assert_eq!(
            prove(&set, |p| p.prove_nxdomain(&name("a.c.x.w.example."))),
            Ok(Proven::NxDomain)
        );
        for missing in [["0p9m", "35mt"], ["b4um", "35mt"], ["0p9m", "b4um"]] {
            let set = records(&missing, false);
            assert!(prove(&set, |p| p.prove_nxdomain(&name("a.c.x.w.example."))).is_err());
        }
    }

    #[test]
    fn b1_name_error_under_opt_out_is_insecure() {
        let set = records(&["0p9m", "b4um", "35mt"], true);
        assert_eq!(
            prove(&set, |p| p.prove_nxdomain(&name("a.c.x.w.example."))),
            Ok(Proven::OptOut)
        );
    }

    #[test]
    fn b2_no_data_is_the_matching_record_without_the_type() {
        let set = records(&["2t7b"], false);
        assert_eq!(
            prove(&set, |p| p
                .prove_nodata(&name("ns1.example."), RecordType::MX)),
            Ok(Proven::NoData)
        );
        assert!(
            prove(&set, |p| p
                .prove_nodata(&name("ns1.example."), RecordType::A))
            .is_err()
        );
    }

    #[test]
    fn b2_1_empty_non_terminal_has_its_own_record() {
        let set = records(&["ji6n"], false);
        assert_eq!(
            prove(&set, |p| p
                .prove_nodata(&name("y.w.example."), RecordType::A)),
            Ok(Proven::NoData)
        );
    }

    #[test]
    fn b3_ds_of_an_unsigned_delegation_under_opt_out_is_insecure() {
        let set = records(&["0p9m", "35mt"], true);
        assert_eq!(
            prove(&set, |p| p
                .prove_nodata(&name("c.example."), RecordType::DS)),
            Ok(Proven::OptOut)
        );
        let set = records(&["0p9m", "35mt"], false);
        assert!(
            prove(&set, |p| p
                .prove_nodata(&name("c.example."), RecordType::DS))
            .is_err()
        );
    }

    #[test]
    fn b4_wildcard_answer_needs_the_next_closer_cover() {
        let set = records(&["q04j"], false);
        assert_eq!(
            prove(&set, |p| p
                .prove_wildcard_answer(&name("a.z.w.example."), 2)),
            Ok(Proven::NoCloserMatch)
        );
        let wrong = records(&["r53b"], false);
        assert!(
            prove(&wrong, |p| p
                .prove_wildcard_answer(&name("a.z.w.example."), 2))
            .is_err()
        );
        assert!(
            prove(&set, |p| p
                .prove_wildcard_answer(&name("a.z.w.example."), 4))
            .is_err()
        );
    }

    #[test]
    fn b5_wildcard_no_data_needs_encloser_cover_and_wildcard() {
        let set = records(&["k8ud", "q04j", "r53b"], false);
        assert_eq!(
            prove(&set, |p| p
                .prove_nodata(&name("a.z.w.example."), RecordType::AAAA)),
            Ok(Proven::WildcardNoData)
        );
        let set = records(&["k8ud", "q04j"], false);
        assert!(
            prove(&set, |p| p
                .prove_nodata(&name("a.z.w.example."), RecordType::AAAA))
            .is_err()
        );
    }

    #[test]
    fn b6_ds_at_the_apex_is_no_data() {
        let set = records(&["0p9m"], false);
        assert_eq!(
            prove(&set, |p| p.prove_nodata(&name("example."), RecordType::DS)),
            Ok(Proven::NoData)
        );
    }

    #[test]
    fn a_delegation_with_ns_and_no_ds_is_insecure() {
        let set = records(&["35mt"], false);
        // a.example has NS and DS: its DS exists.
        assert!(
            prove(&set, |p| p
                .prove_nodata(&name("a.example."), RecordType::DS))
            .is_err()
        );
        let (owner, r) = &set[0];
        let ns_only = NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            false,
            12,
            r.salt().to_vec(),
            r.next_hashed_owner_name().to_vec(),
            [RecordType::NS],
        );
        let set = vec![(owner.clone(), ns_only)];
        assert_eq!(
            prove(&set, |p| p
                .prove_nodata(&name("a.example."), RecordType::DS)),
            Ok(Proven::InsecureDelegation)
        );
    }

    #[test]
    fn iterations_above_the_limit_are_refused_before_hashing() {
        let set = records(&["2t7b"], false);
        let zone = name("example.");
        let view: Vec<(&Name, &NSEC3)> = set.iter().map(|(o, r)| (o, r)).collect();
        let mut budget = QueryBudget::new(&Limits::default());
        let err = Nsec3Proof::new(&zone, &view, 11, &mut budget).err();
        assert_eq!(
            err,
            Some(DenialError::Nsec3Iterations {
                iterations: 12,
                limit: 11
            })
        );
        assert_eq!(budget.nsec3_hashes(), 0);
    }

    #[test]
    fn the_hash_budget_bounds_a_proof() {
        let set = records(&["0p9m", "b4um", "35mt"], false);
        let zone = name("example.");
        let view: Vec<(&Name, &NSEC3)> = set.iter().map(|(o, r)| (o, r)).collect();
        let limits = Limits {
            nsec3_hashes: 2,
            ..Limits::default()
        };
        let mut budget = QueryBudget::new(&limits);
        let mut proof = Nsec3Proof::new(&zone, &view, 150, &mut budget).unwrap();
        assert_eq!(
            proof.prove_nxdomain(&name("a.c.x.w.example.")),
            Err(DenialError::HashBudget { limit: 2 })
        );
    }
}
