//! The chain of trust (RFC 4035 §5): from the closest trust anchor down to
//! a zone, one delegation at a time, each DS checked with the parent's
//! trusted keys and each DNSKEY RRset with the child's DS.
//!
//! To reach zone `t` from a trusted zone `c` above it, the DS of `t` is
//! fetched; whoever signed the reply (or, unsigned, the zone that gave it)
//! must be `c` or a zone strictly between `c` and `t`, which is then
//! reached first. So each cut costs one DS and one DNSKEY fetch, names
//! between cuts cost nothing, and every claim is checked by a key already
//! trusted. Results go to the key store.
//!
//! # Limitations
//! Awaits the fetches itself rather than returning them as actions: the
//! decisions (`rrset`, `denial`) are pure, this is the thin shell around
//! them.

use std::sync::Arc;

use anchorage_iterator::{Answer, Fetch};
use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, DS};
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use crate::anchors::ZoneAnchors;
use crate::budget::BudgetKind;
use crate::denial::{DenialError, Proven, nsec, nsec3s, nsecs};
use crate::key_cache::{TrustedKeys, ZoneState};
use crate::rrset::{KeyVerdict, Rrset, group, unsupported_reason, usable_ds};
use crate::status::{Bogus, Insecure};
use crate::validator::Run;

/// What the chain says about a zone.
#[derive(Debug, Clone)]
pub(crate) enum ChainState {
    /// Trusted keys.
    Secure(Arc<TrustedKeys>),
    /// Provably insecure.
    Insecure(Insecure),
    /// Broken.
    Bogus(Bogus),
    /// No trust anchor above.
    Indeterminate,
}

impl From<ZoneState> for ChainState {
    fn from(state: ZoneState) -> Self {
        match state {
            ZoneState::Secure(keys) => Self::Secure(keys),
            ZoneState::Insecure(why) => Self::Insecure(why),
            ZoneState::Bogus(why) => Self::Bogus(why),
        }
    }
}

/// What one step below a trusted zone found.
enum Step {
    /// The state of the target, to remember for this many seconds.
    Zone(ZoneState, u32),
    /// A zone strictly between must be reached first.
    Descend(Name),
    /// A verdict about this query only, not to be cached.
    Final(ChainState),
}

/// What a proof is asked to show.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Goal {
    /// The name does not exist.
    NxDomain,
    /// The name has no records of the type.
    NoData(RecordType),
    /// No closer name matches a wildcard answer with this labels field.
    WildcardAnswer(u8),
}

impl<F: Fetch> Run<'_, F> {
    /// The chain-of-trust state of zone `target`.
    pub(crate) async fn zone_state(&mut self, target: &Name) -> ChainState {
        let mut stack = vec![target.to_lowercase()];
        let anchors = Arc::clone(&self.anchors);
        while let Some(t) = stack.last().cloned() {
            if let Some(domain) = self.nta_over(&t) {
                return ChainState::Insecure(Insecure::NegativeTrustAnchor { domain });
            }
            let Some((anchor_zone, anchor)) = anchors.closest(&t) else {
                return ChainState::Indeterminate;
            };
            let Some((c, state)) = self.deepest_known(&t, anchor_zone) else {
                let _passage = self.validator.gates.pass(anchor_zone).await;
                if self.deepest_known(&t, anchor_zone).is_some() {
                    continue;
                }
                let (state, ttl) = self.prime_anchor(anchor_zone, anchor).await;
                self.remember(anchor_zone, state, ttl);
                continue;
            };
            let keys = match state {
                ZoneState::Secure(keys) => keys,
                other => return other.into(),
            };
            if c == t {
                stack.pop();
                if stack.is_empty() {
                    return ChainState::Secure(keys);
                }
                continue;
            }
            // Another validation may have worked `t` (or a zone between)
            // out while this one waited.
            let _passage = self.validator.gates.pass(&t).await;
            if self
                .deepest_known(&t, anchor_zone)
                .is_some_and(|(known, _)| known != c)
            {
                continue;
            }
            match self.step_down(&c, &keys, &t).await {
                Step::Zone(state, ttl) => self.remember(&t, state, ttl),
                Step::Descend(zone) => stack.push(zone),
                Step::Final(state) => return state,
            }
        }
        ChainState::Indeterminate
    }

    /// The deepest zone from `t` up to `anchor_zone` whose state is known.
    fn deepest_known(&self, t: &Name, anchor_zone: &Name) -> Option<(Name, ZoneState)> {
        let mut at = t.clone();
        loop {
            if let Some((_, state)) = self.learned.iter().find(|(n, _)| *n == at) {
                return Some((at, state.clone()));
            }
            if let Some(state) = self.validator.keys.get(&at, self.now) {
                return Some((at, state));
            }
            if at.num_labels() <= anchor_zone.num_labels() || at.is_root() {
                return None;
            }
            at = at.base_name();
        }
    }

    fn remember(&mut self, zone: &Name, state: ZoneState, ttl: u32) {
        let ttl = match state {
            ZoneState::Bogus(_) => ttl.min(self.validator.limits.bogus_ttl),
            _ => ttl,
        };
        self.validator.keys.put(zone, state.clone(), ttl, self.now);
        self.learned.push((zone.clone(), state));
    }

    /// Fetches the anchored zone's DNSKEYs and checks them against the anchors.
    async fn prime_anchor(&mut self, zone: &Name, anchor: &ZoneAnchors) -> (ZoneState, u32) {
        let bogus_ttl = self.validator.limits.bogus_ttl;
        let answer = match self.fetch(zone, RecordType::DNSKEY).await {
            Ok(answer) => answer,
            Err(bogus) => return (ZoneState::Bogus(bogus), bogus_ttl),
        };
        match self
            .checker()
            .trust_dnskeys(zone, &answer.answers, &anchor.ds, &anchor.dnskeys)
        {
            KeyVerdict::Secure(keys, ttl) => (ZoneState::Secure(Arc::new(keys)), ttl),
            KeyVerdict::Insecure(why) => (ZoneState::Insecure(why), bogus_ttl),
            KeyVerdict::Bogus(why) => (ZoneState::Bogus(why), bogus_ttl),
        }
    }

    /// One step from trusted zone `c` towards `t` below it.
    async fn step_down(&mut self, c: &Name, keys: &Arc<TrustedKeys>, t: &Name) -> Step {
        let bogus_ttl = self.validator.limits.bogus_ttl;
        // The referral the iterator followed to `t` carries the parent's
        // DS or no-DS proof: no fetch needed.
        let cut = self
            .cuts
            .iter()
            .find(|p| p.child.to_lowercase() == *t)
            .map(|p| (p.parent.to_lowercase(), p.records.clone()));
        let answer = match cut {
            Some((parent, records)) if parent == *c => Arc::new(Answer {
                question: anchorage_iterator::Question::new(t.clone(), RecordType::DS),
                rcode: ResponseCode::NoError,
                answers: records.clone(),
                authority: records,
                link_proofs: Vec::new(),
                zone: parent,
                cuts: Vec::new(),
                queries: 0,
            }),
            Some((parent, _)) if strictly_between(c, &parent, t).is_some() => {
                return Step::Descend(parent);
            }
            _ => match self.fetch(t, RecordType::DS).await {
                Ok(answer) => answer,
                Err(bogus) => return Step::Zone(ZoneState::Bogus(bogus), bogus_ttl),
            },
        };
        let sets = group(&answer.answers);
        if let Some(ds_set) = sets
            .iter()
            .find(|s| s.rtype == RecordType::DS && s.owner == *t)
        {
            return self.on_ds_set(c, keys, t, ds_set, &answer.zone).await;
        }
        let denial = denial_sets(&answer.authority);
        let signer = denial.iter().flat_map(Rrset::signers).next();
        let Some(signer) = signer else {
            return match strictly_between(c, &answer.zone, t) {
                Some(zone) => Step::Descend(zone),
                None => Step::Zone(
                    ZoneState::Bogus(Bogus::NsecMissing {
                        name: t.clone(),
                        rtype: RecordType::DS,
                    }),
                    bogus_ttl,
                ),
            };
        };
        if signer != *c {
            return match strictly_between(c, &signer, t) {
                Some(zone) => Step::Descend(zone),
                None => Step::Zone(
                    ZoneState::Bogus(Bogus::WrongSigner {
                        owner: t.clone(),
                        signer,
                    }),
                    bogus_ttl,
                ),
            };
        }
        let (records, ttl) = match self.check_denial(keys, &denial) {
            Ok(checked) => checked,
            Err(bogus) => return Step::Zone(ZoneState::Bogus(bogus), bogus_ttl),
        };
        let goal = if answer.rcode == ResponseCode::NXDomain {
            Goal::NxDomain
        } else {
            Goal::NoData(RecordType::DS)
        };
        match self.prove(c, t, goal, &records) {
            Ok(Proven::InsecureDelegation) => {
                Step::Zone(ZoneState::Insecure(Insecure::NoDs { zone: t.clone() }), ttl)
            }
            Ok(Proven::OptOut) => Step::Zone(
                ZoneState::Insecure(Insecure::OptOut { name: t.clone() }),
                ttl,
            ),
            Ok(_) => Step::Final(ChainState::Bogus(Bogus::NotAZone { name: t.clone() })),
            Err(error) => match denial_failure(c, t, RecordType::DS, error) {
                ChainState::Insecure(why) => Step::Zone(ZoneState::Insecure(why), ttl),
                ChainState::Bogus(why @ Bogus::Budget { .. }) => {
                    Step::Final(ChainState::Bogus(why))
                }
                ChainState::Bogus(why) => Step::Zone(ZoneState::Bogus(why), bogus_ttl),
                other => Step::Final(other),
            },
        }
    }

    /// A DS RRset for `t`: checked with `c`'s keys, then `t`'s DNSKEYs.
    async fn on_ds_set(
        &mut self,
        c: &Name,
        keys: &Arc<TrustedKeys>,
        t: &Name,
        ds_set: &Rrset,
        answered_by: &Name,
    ) -> Step {
        let bogus_ttl = self.validator.limits.bogus_ttl;
        let signer = ds_set.signers().into_iter().find(|s| s != t);
        match signer {
            None => match strictly_between(c, answered_by, t) {
                Some(zone) => Step::Descend(zone),
                None => Step::Zone(
                    ZoneState::Bogus(Bogus::RrsigsMissing {
                        owner: t.clone(),
                        rtype: RecordType::DS,
                    }),
                    bogus_ttl,
                ),
            },
            Some(s) if s == *c => match self.checker().check_rrset(keys, ds_set) {
                Ok(verified) => {
                    let (state, ttl) = self.trust_child(t, ds_set, verified.ttl).await;
                    Step::Zone(state, ttl)
                }
                Err(bogus) => Step::Zone(ZoneState::Bogus(bogus), bogus_ttl),
            },
            Some(s) => match strictly_between(c, &s, t) {
                Some(zone) => Step::Descend(zone),
                None => Step::Zone(
                    ZoneState::Bogus(Bogus::WrongSigner {
                        owner: t.clone(),
                        signer: s,
                    }),
                    bogus_ttl,
                ),
            },
        }
    }

    /// Fetches `t`'s DNSKEYs and checks them against its validated DS set.
    async fn trust_child(&mut self, t: &Name, ds_set: &Rrset, ds_ttl: u32) -> (ZoneState, u32) {
        let bogus_ttl = self.validator.limits.bogus_ttl;
        let ds: Vec<DS> = ds_set
            .records
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DS(d)) => Some(d.clone()),
                _ => None,
            })
            .collect();
        if usable_ds(&ds).is_empty() {
            // RFC 4035 §5.2: no usable DS, no chain; no need for the keys.
            return (ZoneState::Insecure(unsupported_reason(t, &ds, &[])), ds_ttl);
        }
        let answer = match self.fetch(t, RecordType::DNSKEY).await {
            Ok(answer) => answer,
            Err(bogus) => return (ZoneState::Bogus(bogus), bogus_ttl),
        };
        match self.checker().trust_dnskeys(t, &answer.answers, &ds, &[]) {
            KeyVerdict::Secure(keys, ttl) => (ZoneState::Secure(Arc::new(keys)), ttl.min(ds_ttl)),
            KeyVerdict::Insecure(why) => (ZoneState::Insecure(why), ds_ttl),
            KeyVerdict::Bogus(why) => (ZoneState::Bogus(why), bogus_ttl),
        }
    }

    /// Checks every NSEC/NSEC3 RRset with `keys`; returns their records and
    /// the smallest validated TTL.
    pub(crate) fn check_denial(
        &mut self,
        keys: &TrustedKeys,
        sets: &[Rrset],
    ) -> Result<(Vec<Record>, u32), Bogus> {
        let mut records = Vec::new();
        let mut ttl = u32::MAX;
        for set in sets {
            let verified = self.checker().check_rrset(keys, set)?;
            ttl = ttl.min(verified.ttl);
            records.extend(set.records.iter().cloned());
        }
        Ok((records, ttl))
    }

    /// Runs the NSEC or NSEC3 proof of `goal` for `sname` in `zone`.
    pub(crate) fn prove(
        &mut self,
        zone: &Name,
        sname: &Name,
        goal: Goal,
        records: &[Record],
    ) -> Result<Proven, DenialError> {
        let found = nsecs(records);
        if !found.is_empty() {
            return match goal {
                Goal::NxDomain => nsec::prove_nxdomain(sname, &found),
                Goal::NoData(qtype) => nsec::prove_nodata(sname, qtype, &found),
                Goal::WildcardAnswer(labels) => nsec::prove_wildcard_answer(sname, labels, &found),
            };
        }
        let found = nsec3s(records);
        let limit = self.validator.limits.nsec3_iterations;
        let mut proof =
            crate::denial::nsec3::Nsec3Proof::new(zone, &found, limit, &mut self.budget)?;
        match goal {
            Goal::NxDomain => proof.prove_nxdomain(sname),
            Goal::NoData(qtype) => proof.prove_nodata(sname, qtype),
            Goal::WildcardAnswer(labels) => proof.prove_wildcard_answer(sname, labels),
        }
    }

    /// Fetches `name`/`rtype` once per query, within the fetch budget.
    async fn fetch(&mut self, name: &Name, rtype: RecordType) -> Result<Arc<Answer>, Bogus> {
        if let Some((_, _, answer)) = self
            .fetched
            .iter()
            .find(|(n, t, _)| n == name && *t == rtype)
        {
            return Ok(Arc::clone(answer));
        }
        self.budget.spend_fetch().map_err(|limit| Bogus::Budget {
            kind: BudgetKind::Fetches,
            limit,
        })?;
        let answer = self
            .fetcher
            .fetch(name.clone(), rtype)
            .await
            .map_err(|error| Bogus::Fetch {
                name: name.clone(),
                rtype,
                error,
            })?;
        self.fetched
            .push((name.clone(), rtype, Arc::clone(&answer)));
        Ok(answer)
    }
}

/// The NSEC and NSEC3 RRsets of a section.
pub(crate) fn denial_sets(records: &[Record]) -> Vec<Rrset> {
    group(records)
        .into_iter()
        .filter(|s| matches!(s.rtype, RecordType::NSEC | RecordType::NSEC3))
        .collect()
}

/// What a failed proof means: insecure for NSEC3 we will not hash
/// (RFC 9276 §3.2, RFC 5155 §8.1), bogus otherwise.
pub(crate) fn denial_failure(
    zone: &Name,
    sname: &Name,
    rtype: RecordType,
    error: DenialError,
) -> ChainState {
    match error {
        DenialError::Nsec3Iterations { iterations, limit } => {
            ChainState::Insecure(Insecure::Nsec3Iterations {
                zone: zone.clone(),
                iterations,
                limit,
            })
        }
        DenialError::Nsec3Algorithm { algorithm } => {
            ChainState::Insecure(Insecure::Nsec3Algorithm {
                zone: zone.clone(),
                algorithm,
            })
        }
        DenialError::HashBudget { limit } => ChainState::Bogus(Bogus::Budget {
            kind: BudgetKind::Nsec3Hashes,
            limit,
        }),
        DenialError::NoRecords => ChainState::Bogus(Bogus::NsecMissing {
            name: sname.clone(),
            rtype,
        }),
        error => ChainState::Bogus(Bogus::Denial {
            name: sname.clone(),
            rtype,
            error,
        }),
    }
}

/// `zone` (lower case) if it lies strictly between `above` and `below`.
fn strictly_between(above: &Name, zone: &Name, below: &Name) -> Option<Name> {
    let zone = zone.to_lowercase();
    let inside = above.zone_of(&zone)
        && zone.zone_of(below)
        && zone.num_labels() > above.num_labels()
        && zone.num_labels() < below.num_labels();
    inside.then_some(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn only_zones_strictly_between_are_descended_to() {
        let (c, t) = (name("com."), name("www.a.b.com."));
        assert_eq!(
            strictly_between(&c, &name("B.com."), &t),
            Some(name("b.com."))
        );
        assert_eq!(strictly_between(&c, &name("com."), &t), None);
        assert_eq!(strictly_between(&c, &t, &t), None);
        assert_eq!(strictly_between(&c, &name("x.com."), &t), None);
        assert_eq!(strictly_between(&c, &name("net."), &t), None);
    }

    #[test]
    fn too_many_nsec3_iterations_are_insecure_with_their_count() {
        let state = denial_failure(
            &name("example."),
            &name("a.example."),
            RecordType::A,
            DenialError::Nsec3Iterations {
                iterations: 500,
                limit: 50,
            },
        );
        assert!(matches!(
            state,
            ChainState::Insecure(Insecure::Nsec3Iterations {
                iterations: 500,
                ..
            })
        ));
    }
}
