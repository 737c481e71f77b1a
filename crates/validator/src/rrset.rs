//! RRsets with their RRSIGs, checked against a zone's trusted keys within
//! the query's budgets, and DNSKEY RRsets checked against DS records or
//! anchors (RFC 4035 §5.2, §5.3).
//!
//! Pure: the keys and records come in, a verdict goes out.

use std::time::{Instant, SystemTime};

use anchorage_verify::algorithm::is_supported;
use anchorage_verify::ds::{DIGEST_SHA1, DIGEST_SHA256, DIGEST_SHA384};
use anchorage_verify::rrsig::as_rrsig;
use anchorage_verify::{DnskeyVerifier, Scratch, Verified, Verifier, VerifyError, match_ds};
use anchorage_wire::proto::dnssec::PublicKey;
use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use crate::budget::{BudgetKind, QueryBudget};
use crate::key_cache::TrustedKeys;
use crate::limits::Limits;
use crate::status::{Bogus, Insecure};

/// One RRset of a section and the RRSIGs that cover it.
#[derive(Debug, Clone)]
pub struct Rrset {
    /// Owner name.
    pub owner: Name,
    /// Type.
    pub rtype: RecordType,
    /// The records.
    pub records: Vec<Record>,
    /// RRSIGs at the owner covering the type.
    pub sigs: Vec<Record>,
}

impl Rrset {
    /// The signer names of the RRSIGs that may sign this owner, first seen first.
    pub fn signers(&self) -> Vec<Name> {
        let mut out: Vec<Name> = Vec::new();
        for sig in &self.sigs {
            if let Ok(rrsig) = as_rrsig(sig) {
                let signer = rrsig.input().signer_name.to_lowercase();
                if signer.zone_of(&self.owner) && !out.contains(&signer) {
                    out.push(signer);
                }
            }
        }
        out
    }

    /// The RRSIG labels field of the first RRSIG by `signer`.
    pub fn labels_by(&self, signer: &Name) -> Option<u8> {
        self.sigs.iter().find_map(|s| {
            let input = as_rrsig(s).ok()?.input();
            (input.signer_name == *signer).then_some(input.num_labels)
        })
    }
}

/// Splits `records` into RRsets in order of first appearance, RRSIGs
/// attached to the RRset they cover.
pub fn group(records: &[Record]) -> Vec<Rrset> {
    let mut sets: Vec<Rrset> = Vec::new();
    for record in records
        .iter()
        .filter(|r| r.record_type() != RecordType::RRSIG)
    {
        let rtype = record.record_type();
        match sets
            .iter_mut()
            .find(|s| s.rtype == rtype && s.owner == record.name)
        {
            Some(set) => set.records.push(record.clone()),
            None => sets.push(Rrset {
                owner: record.name.clone(),
                rtype,
                records: vec![record.clone()],
                sigs: Vec::new(),
            }),
        }
    }
    for sig in records
        .iter()
        .filter(|r| r.record_type() == RecordType::RRSIG)
    {
        let Ok(rrsig) = as_rrsig(sig) else { continue };
        let covered = rrsig.input().type_covered;
        if let Some(set) = sets
            .iter_mut()
            .find(|s| s.rtype == covered && s.owner == sig.name)
        {
            set.sigs.push(sig.clone());
        }
    }
    sets
}

/// What one check needs besides the keys and records.
pub struct Checker<'a> {
    /// The signature core, with its memo.
    pub verifier: &'a Verifier,
    /// The tunables.
    pub limits: &'a Limits,
    /// The injected clock.
    pub now: SystemTime,
    /// The query's budgets.
    pub budget: &'a mut QueryBudget,
    /// Reused buffers.
    pub scratch: &'a mut Scratch,
}

/// The verdict on a DNSKEY RRset.
#[derive(Debug)]
pub enum KeyVerdict {
    /// Trusted, for this many seconds.
    Secure(TrustedKeys, u32),
    /// Only unsupported algorithms or digests designate the keys.
    Insecure(Insecure),
    /// Broken.
    Bogus(Bogus),
}

impl Checker<'_> {
    /// Checks `rrset` against the trusted `keys` of its zone (RFC 4035 §5.3),
    /// within the per-RRset and per-query signature budgets.
    pub fn check_rrset(&mut self, keys: &TrustedKeys, rrset: &Rrset) -> Result<Verified, Bogus> {
        let candidates: Vec<usize> = (0..keys.keys.len()).collect();
        self.check_with(&keys.zone, &keys.keys, &candidates, rrset)
            .map_err(|e| {
                e.unwrap_or(Bogus::RrsigsMissing {
                    owner: rrset.owner.clone(),
                    rtype: rrset.rtype,
                })
            })
    }

    /// Tries the RRSIGs by `zone` over `rrset` with the keys at `allowed`
    /// indexes; `Err(None)` when no RRSIG named an allowed key.
    fn check_with(
        &mut self,
        zone: &Name,
        keys: &[DnskeyVerifier],
        allowed: &[usize],
        rrset: &Rrset,
    ) -> Result<Verified, Option<Bogus>> {
        let start = self.budget.signatures.spent();
        let mut best: Option<VerifyError> = None;
        let sigs = rrset
            .sigs
            .iter()
            .filter(|s| as_rrsig(s).is_ok_and(|r| r.input().signer_name == *zone))
            .take(self.limits.rrsigs_per_rrset);
        for sig in sigs {
            let Ok(rrsig) = as_rrsig(sig) else { continue };
            let input = rrsig.input();
            let algorithm = u8::from(input.algorithm);
            for &i in allowed {
                let key = &keys[i];
                if key.tag() != input.key_tag || key.algorithm() != algorithm {
                    continue;
                }
                if self.budget.signatures.spent() - start >= self.limits.keys_per_rrset {
                    return Err(Some(Bogus::Budget {
                        kind: BudgetKind::ChecksPerRrset,
                        limit: self.limits.keys_per_rrset,
                    }));
                }
                let started = Instant::now();
                let result = self.verifier.verify_rrset(
                    key,
                    &rrset.records,
                    sig,
                    self.now,
                    &mut self.budget.signatures,
                    self.scratch,
                );
                // Invariant: one check takes far below 2^64 ns.
                self.budget.verify_nanos += started.elapsed().as_nanos() as u64;
                match result {
                    Ok(verified) => {
                        self.budget.memo_hits += u32::from(verified.memo_hit);
                        return Ok(verified);
                    }
                    Err(VerifyError::BudgetExhausted { limit }) => {
                        return Err(Some(Bogus::Budget {
                            kind: BudgetKind::SignatureChecks,
                            limit,
                        }));
                    }
                    Err(why) => {
                        // A bogus reason outranks "cannot check".
                        if best.as_ref().is_none_or(VerifyError::is_unsupported) {
                            best = Some(why);
                        }
                    }
                }
            }
        }
        match best {
            Some(error) => Err(Some(Bogus::Signature {
                owner: rrset.owner.clone(),
                rtype: rrset.rtype,
                error,
            })),
            None => Err(None),
        }
    }

    /// Decides whether the DNSKEY RRset of `zone` among `records` is trusted
    /// through `ds` (from the parent) or `anchor_keys` (RFC 4035 §5.2).
    pub fn trust_dnskeys(
        &mut self,
        zone: &Name,
        records: &[Record],
        ds: &[DS],
        anchor_keys: &[DNSKEY],
    ) -> KeyVerdict {
        let Some(set) = group(records)
            .into_iter()
            .find(|s| s.rtype == RecordType::DNSKEY && s.owner == *zone)
        else {
            return KeyVerdict::Bogus(Bogus::DnskeyMissing { zone: zone.clone() });
        };
        let keys: Vec<DnskeyVerifier> = set
            .records
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(DnskeyVerifier::new(zone, k)),
                _ => None,
            })
            .collect();
        let usable_ds = usable_ds(ds);
        let usable_anchors: Vec<&DNSKEY> = anchor_keys
            .iter()
            .filter(|k| is_supported(u8::from(k.public_key().algorithm())))
            .collect();
        if usable_ds.is_empty() && usable_anchors.is_empty() {
            return KeyVerdict::Insecure(unsupported_reason(zone, ds, anchor_keys));
        }
        let sep: Vec<usize> = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| {
                usable_ds.iter().any(|d| match_ds(d, key).is_ok())
                    || usable_anchors.iter().any(|a| {
                        u8::from(a.public_key().algorithm()) == key.algorithm()
                            && a.public_key().public_bytes() == key.public_key()
                    })
            })
            .map(|(i, _)| i)
            .collect();
        if sep.is_empty() {
            return KeyVerdict::Bogus(Bogus::DnskeyMissing { zone: zone.clone() });
        }
        if set.sigs.is_empty() {
            return KeyVerdict::Bogus(Bogus::RrsigsMissing {
                owner: zone.clone(),
                rtype: RecordType::DNSKEY,
            });
        }
        match self.check_with(zone, &keys, &sep, &set) {
            Ok(verified) => KeyVerdict::Secure(
                TrustedKeys {
                    zone: zone.clone(),
                    keys,
                },
                verified.ttl,
            ),
            Err(Some(bogus)) => KeyVerdict::Bogus(bogus),
            Err(None) => KeyVerdict::Bogus(Bogus::DnskeyNotSignedBySep { zone: zone.clone() }),
        }
    }
}

/// DS records we can use; SHA-1 ones dropped when a stronger one is
/// usable (RFC 4509 §3).
pub(crate) fn usable_ds(ds: &[DS]) -> Vec<&DS> {
    let usable: Vec<&DS> = ds
        .iter()
        .filter(|d| is_supported(u8::from(d.algorithm())))
        .filter(|d| {
            matches!(
                u8::from(d.digest_type()),
                DIGEST_SHA1 | DIGEST_SHA256 | DIGEST_SHA384
            )
        })
        .collect();
    let strong = usable
        .iter()
        .any(|d| u8::from(d.digest_type()) != DIGEST_SHA1);
    usable
        .into_iter()
        .filter(|d| !strong || u8::from(d.digest_type()) != DIGEST_SHA1)
        .collect()
}

/// Why no DS or anchor is usable: a digest we lack, else an algorithm.
pub(crate) fn unsupported_reason(zone: &Name, ds: &[DS], anchor_keys: &[DNSKEY]) -> Insecure {
    if let Some(d) = ds.iter().find(|d| {
        !matches!(
            u8::from(d.digest_type()),
            DIGEST_SHA1 | DIGEST_SHA256 | DIGEST_SHA384
        )
    }) {
        return Insecure::UnsupportedDigest {
            zone: zone.clone(),
            digest_type: u8::from(d.digest_type()),
        };
    }
    let algorithm = ds
        .first()
        .map(|d| u8::from(d.algorithm()))
        .or_else(|| {
            anchor_keys
                .first()
                .map(|k| u8::from(k.public_key().algorithm()))
        })
        .unwrap_or(0);
    Insecure::UnsupportedAlgorithm {
        zone: zone.clone(),
        algorithm,
    }
}

#[cfg(test)]
mod tests {
    use anchorage_wire::proto::dnssec::{Algorithm, DigestType};
    use anchorage_wire::proto::rr::rdata::A;

    use super::*;

    fn ds(alg: Algorithm, digest: DigestType) -> DS {
        DS::new(1, alg, digest, vec![0; 32])
    }

    #[test]
    fn sha1_ds_is_ignored_when_sha256_exists() {
        let set = [
            ds(Algorithm::ED25519, DigestType::SHA1),
            ds(Algorithm::ED25519, DigestType::SHA256),
        ];
        let usable = usable_ds(&set);
        assert_eq!(usable.len(), 1);
        assert_eq!(u8::from(usable[0].digest_type()), DIGEST_SHA256);
        let only_sha1 = [ds(Algorithm::ED25519, DigestType::SHA1)];
        assert_eq!(usable_ds(&only_sha1).len(), 1);
    }

    #[test]
    fn a_gost_only_ds_set_is_insecure_for_its_digest() {
        let set = [ds(Algorithm::ED25519, DigestType::from(3))];
        assert!(usable_ds(&set).is_empty());
        let zone = Name::from_ascii("example.").unwrap();
        assert_eq!(
            unsupported_reason(&zone, &set, &[]),
            Insecure::UnsupportedDigest {
                zone,
                digest_type: 3
            }
        );
    }

    #[test]
    fn rrsigs_are_grouped_with_the_rrset_they_cover() {
        let owner = Name::from_ascii("www.example.").unwrap();
        let a = Record::from_rdata(owner.clone(), 60, RData::A(A::new(192, 0, 2, 1)));
        let b = Record::from_rdata(owner.clone(), 60, RData::A(A::new(192, 0, 2, 2)));
        let sets = group(&[a, b]);
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].records.len(), 2);
        assert!(sets[0].sigs.is_empty());
    }
}
