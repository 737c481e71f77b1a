//! [`Validator::validate`]: one iterator [`Answer`] in, one [`Validated`]
//! verdict out: status with reason, the reply it gets (RCODE, AD, EDE),
//! the TTL cap from the signatures, and the validated denial ranges for
//! aggressive negative caching (RFC 8198).
//!
//! # Limitations
//! CD=1 queries must not come here: the pipeline returns their data
//! unvalidated, AD clear, and does not cache it as validated (RFC 6840 §5.9).
//! A wildcard-expanded link in the middle of a CNAME chain is proven by
//! the NSEC/NSEC3 of the reply that gave it ([`Answer::link_proofs`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use anchorage_iterator::sanitize::{dname_target, substitute};
use anchorage_iterator::{Answer, Fetch};
use anchorage_verify::{Scratch, Verifier};
use anchorage_wire::EdeCode;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};

use crate::anchors::TrustAnchors;
use crate::budget::QueryBudget;
use crate::chain::{ChainState, Goal, denial_failure, denial_sets};
use crate::denial::Proven;
use crate::gate::ZoneGates;
use crate::key_cache::{KeyCache, KeyStore, TrustedKeys, ZoneState};
use crate::limits::Limits;
use crate::nta::NegativeTrustAnchors;
use crate::rrset::{Checker, Rrset, group};
use crate::status::{Bogus, Status};

/// A validated NSEC or NSEC3 record, for the aggressive negative cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenRange {
    /// The zone that signed it.
    pub zone: Name,
    /// Seconds it may be used for (RFC 8198 §5.4, RFC 9077).
    pub ttl: u32,
    /// The NSEC or NSEC3 record.
    pub record: Record,
    /// Its RRSIGs.
    pub rrsigs: Vec<Record>,
}

/// The verdict on one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Validated {
    /// Status and reason.
    pub status: Status,
    /// Longest the answer may be cached: the validated TTLs (RFC 4035
    /// §5.3.3), the remaining life of a negative trust anchor that made it
    /// insecure, or the bogus hold time; `None` when nothing sets a bound.
    pub ttl_cap: Option<u32>,
    /// Denial ranges validated on the way (RFC 8198).
    pub denials: Vec<ProvenRange>,
    /// Signature checks spent (memo hits are free).
    pub signature_checks: u32,
    /// Signature checks the verifier's memo answered without the math.
    pub memo_hits: u32,
    /// NSEC3 hashes computed.
    pub nsec3_hashes: u32,
    /// DS and DNSKEY fetches made.
    pub fetches: u32,
}

impl Validated {
    /// The RCODE to send: SERVFAIL when bogus, else the answer's own.
    pub fn rcode(&self, answer: ResponseCode) -> ResponseCode {
        self.status.rcode_override().unwrap_or(answer)
    }

    /// Whether to set AD, given whether the client asked (AD or DO set; RFC 6840 §5.7).
    pub fn authentic_data(&self, asked: bool) -> bool {
        asked && self.status.authentic()
    }

    /// The EDE code and text to attach, if any (RFC 8914).
    pub fn ede(&self) -> Option<(EdeCode, String)> {
        let code = self.status.ede()?;
        let text = match &self.status {
            Status::Insecure(why) => why.to_string(),
            Status::Bogus(why) => why.to_string(),
            Status::Secure | Status::Indeterminate => String::new(),
        };
        Some((code, text))
    }
}

/// A validator's cumulative counters since it was built, read with
/// [`Validator::stats`] (for metrics exporters and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValidatorStats {
    /// Answers validated (the sum of the four outcomes below).
    pub validations: u64,
    /// Answers found secure.
    pub secure: u64,
    /// Answers found insecure (negative trust anchors included).
    pub insecure: u64,
    /// Answers found bogus.
    pub bogus: u64,
    /// Answers found indeterminate.
    pub indeterminate: u64,
    /// Signature verifications computed (the math ran; passed or failed).
    pub signature_checks: u64,
    /// Signature checks the memo answered: verifications saved.
    pub memo_hits: u64,
    /// NSEC3 hashes computed.
    pub nsec3_hashes: u64,
    /// DS and DNSKEY fetches made.
    pub fetches: u64,
    /// Wall-clock nanoseconds inside signature verification (memo probes
    /// included), summed over threads; with one worker thread, the CPU
    /// time of verification.
    pub verify_nanos: u64,
}

/// The live counters behind [`ValidatorStats`]: relaxed atomics, added
/// once per validation.
#[derive(Debug, Default)]
struct Counters {
    secure: AtomicU64,
    insecure: AtomicU64,
    bogus: AtomicU64,
    indeterminate: AtomicU64,
    signature_checks: AtomicU64,
    memo_hits: AtomicU64,
    nsec3_hashes: AtomicU64,
    fetches: AtomicU64,
    verify_nanos: AtomicU64,
}

impl Counters {
    fn record(&self, status: &Status, budget: &QueryBudget) {
        let outcome = match status {
            Status::Secure => &self.secure,
            Status::Insecure(_) => &self.insecure,
            Status::Bogus(_) => &self.bogus,
            Status::Indeterminate => &self.indeterminate,
        };
        outcome.fetch_add(1, Ordering::Relaxed);
        for (counter, spent) in [
            (&self.signature_checks, u64::from(budget.signatures.spent())),
            (&self.memo_hits, u64::from(budget.memo_hits)),
            (&self.nsec3_hashes, u64::from(budget.nsec3_hashes())),
            (&self.fetches, u64::from(budget.fetches())),
            (&self.verify_nanos, budget.verify_nanos),
        ] {
            if spent != 0 {
                counter.fetch_add(spent, Ordering::Relaxed);
            }
        }
    }

    fn snapshot(&self) -> ValidatorStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (secure, insecure, bogus, indeterminate) = (
            get(&self.secure),
            get(&self.insecure),
            get(&self.bogus),
            get(&self.indeterminate),
        );
        ValidatorStats {
            validations: secure + insecure + bogus + indeterminate,
            secure,
            insecure,
            bogus,
            indeterminate,
            signature_checks: get(&self.signature_checks),
            memo_hits: get(&self.memo_hits),
            nsec3_hashes: get(&self.nsec3_hashes),
            fetches: get(&self.fetches),
            verify_nanos: get(&self.verify_nanos),
        }
    }
}

/// The DNSSEC validator: anchors, negative anchors, key store, verifier.
pub struct Validator {
    pub(crate) limits: Limits,
    pub(crate) keys: Box<dyn KeyStore>,
    verifier: Verifier,
    anchors: RwLock<Arc<TrustAnchors>>,
    ntas: RwLock<Arc<NegativeTrustAnchors>>,
    counters: Counters,
    /// Zones whose state a validation is working out now.
    pub(crate) gates: ZoneGates,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator from `anchors` with an in-memory key cache.
    pub fn new(anchors: Arc<TrustAnchors>, limits: Limits) -> Self {
        Self::with_store(
            anchors,
            limits,
            Box::new(KeyCache::new(limits.key_cache_zones)),
            Verifier::default(),
        )
    }

    /// A validator with its key store and verifier given.
    pub fn with_store(
        anchors: Arc<TrustAnchors>,
        limits: Limits,
        keys: Box<dyn KeyStore>,
        verifier: Verifier,
    ) -> Self {
        Self {
            limits,
            keys,
            verifier,
            anchors: RwLock::new(anchors),
            ntas: RwLock::new(Arc::new(NegativeTrustAnchors::empty())),
            counters: Counters::default(),
            gates: ZoneGates::default(),
        }
    }

    /// The counters since this validator was built: outcomes, signature
    /// checks, memo hits, NSEC3 hashes, fetches and verification time.
    pub fn stats(&self) -> ValidatorStats {
        self.counters.snapshot()
    }

    /// Replaces the trust anchors; keys trusted through the old ones are forgotten.
    pub fn set_anchors(&self, anchors: Arc<TrustAnchors>) {
        *self.anchors.write().unwrap_or_else(PoisonError::into_inner) = anchors;
        self.keys.clear();
    }

    /// The trust anchors in force now.
    pub fn anchors(&self) -> Arc<TrustAnchors> {
        Arc::clone(&self.anchors.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the negative trust anchors (RFC 7646).
    pub fn set_negative_anchors(&self, ntas: Arc<NegativeTrustAnchors>) {
        *self.ntas.write().unwrap_or_else(PoisonError::into_inner) = ntas;
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates `answer` at `now`, fetching DS and DNSKEY sets through `fetch`.
    pub async fn validate<F: Fetch>(
        &self,
        answer: &Answer,
        fetch: &F,
        now: SystemTime,
    ) -> Validated {
        let mut run = Run {
            validator: self,
            fetcher: fetch,
            now,
            anchors: Arc::clone(&self.anchors.read().unwrap_or_else(PoisonError::into_inner)),
            ntas: Arc::clone(&self.ntas.read().unwrap_or_else(PoisonError::into_inner)),
            budget: QueryBudget::new(&self.limits),
            scratch: Scratch::new(),
            learned: Vec::new(),
            fetched: Vec::new(),
            cuts: answer.cuts.clone(),
            ttl: None,
            denials: Vec::new(),
        };
        let status = run.answer(answer).await;
        self.counters.record(&status, &run.budget);
        let ttl_cap = match status {
            Status::Bogus(_) => Some(self.limits.bogus_ttl),
            _ => run.ttl,
        };
        Validated {
            status,
            ttl_cap,
            denials: run.denials,
            signature_checks: run.budget.signatures.spent(),
            memo_hits: run.budget.memo_hits,
            nsec3_hashes: run.budget.nsec3_hashes(),
            fetches: run.budget.fetches(),
        }
    }
}

/// One validation in progress.
pub(crate) struct Run<'v, F> {
    pub(crate) validator: &'v Validator,
    pub(crate) fetcher: &'v F,
    pub(crate) now: SystemTime,
    pub(crate) anchors: Arc<TrustAnchors>,
    pub(crate) ntas: Arc<NegativeTrustAnchors>,
    pub(crate) budget: QueryBudget,
    pub(crate) scratch: Scratch,
    /// Zone states learned in this run, whatever the store keeps.
    pub(crate) learned: Vec<(Name, ZoneState)>,
    /// DS and DNSKEY answers fetched in this run.
    pub(crate) fetched: Vec<(Name, RecordType, Arc<anchorage_iterator::Answer>)>,
    /// The DS and no-DS proofs of the referrals the answer came through.
    pub(crate) cuts: Vec<anchorage_iterator::CutProof>,
    ttl: Option<u32>,
    denials: Vec<ProvenRange>,
}

/// Statuses of the parts of an answer, merged: bogus wins, then insecure,
/// then indeterminate.
fn merge(into: &mut Status, part: Status) {
    let rank = |s: &Status| match s {
        Status::Secure => 0,
        Status::Indeterminate => 1,
        Status::Insecure(_) => 2,
        Status::Bogus(_) => 3,
    };
    if rank(&part) > rank(into) {
        *into = part;
    }
}

impl<F: Fetch> Run<'_, F> {
    pub(crate) fn checker(&mut self) -> Checker<'_> {
        Checker {
            verifier: &self.validator.verifier,
            limits: &self.validator.limits,
            now: self.now,
            budget: &mut self.budget,
            scratch: &mut self.scratch,
        }
    }

    fn cap(&mut self, ttl: u32) {
        self.ttl = Some(self.ttl.map_or(ttl, |t| t.min(ttl)));
    }

    /// The domain of the negative trust anchor in force covering `name`
    /// (lower case), if any; the answer's TTL cap is then lowered to the
    /// anchor's remaining life, so an answer it made insecure is not
    /// cached past it (RFC 7646 §2).
    pub(crate) fn nta_over(&mut self, name: &Name) -> Option<Name> {
        if self.ntas.is_empty() {
            return None;
        }
        let nta = self.ntas.covering(name, self.now)?;
        let (domain, until) = (nta.domain.clone(), nta.until);
        if let Some(until) = until {
            let left = until.duration_since(self.now).unwrap_or_default().as_secs();
            self.cap(u32::try_from(left).unwrap_or(u32::MAX));
        }
        Some(domain)
    }

    /// Insecure when `name` is at or below a negative trust anchor in force.
    fn under_nta(&mut self, name: &Name) -> Option<Status> {
        let domain = self.nta_over(&name.to_lowercase())?;
        Some(Status::Insecure(
            crate::status::Insecure::NegativeTrustAnchor { domain },
        ))
    }

    async fn answer(&mut self, answer: &Answer) -> Status {
        let qname = answer.question.name.to_lowercase();
        if let Some(status) = self.under_nta(&qname) {
            return status;
        }
        let sets = group(&answer.answers);
        let mut status = Status::Secure;
        let mut wildcards: Vec<(Name, RecordType, Arc<TrustedKeys>, u8)> = Vec::new();
        for set in &sets {
            if synthesised_from_dname(set, &sets) {
                continue;
            }
            let part = self.rrset(set, answer, &mut wildcards).await;
            merge(&mut status, part);
            if matches!(status, Status::Bogus(_)) {
                return status;
            }
        }
        for (owner, rtype, keys, labels) in wildcards {
            let part = self.wildcard_proof(&owner, rtype, &keys, labels, answer);
            merge(&mut status, part);
        }
        let negative = answer.rcode == ResponseCode::NXDomain || answer.is_nodata();
        if negative && !matches!(status, Status::Bogus(_)) {
            let sname = chain_end(&qname, answer.question.qtype, &sets);
            let part = self.denial(answer, &sname).await;
            merge(&mut status, part);
        }
        status
    }

    /// Validates one RRset of the answer section.
    async fn rrset(
        &mut self,
        set: &Rrset,
        answer: &Answer,
        wildcards: &mut Vec<(Name, RecordType, Arc<TrustedKeys>, u8)>,
    ) -> Status {
        // A chain link may lead under a negative trust anchor.
        if let Some(status) = self.under_nta(&set.owner) {
            return status;
        }
        let Some(signer) = set.signers().into_iter().next() else {
            let target = if answer.zone.zone_of(&set.owner) {
                answer.zone.clone()
            } else {
                set.owner.clone()
            };
            return match self.zone_state(&target).await {
                ChainState::Secure(_) | ChainState::Bogus(Bogus::NotAZone { .. }) => {
                    Status::Bogus(Bogus::RrsigsMissing {
                        owner: set.owner.clone(),
                        rtype: set.rtype,
                    })
                }
                other => status_of(other),
            };
        };
        let keys = match self.zone_state(&signer).await {
            ChainState::Secure(keys) => keys,
            other => return status_of(other),
        };
        match self.checker().check_rrset(&keys, set) {
            Ok(verified) => {
                self.cap(verified.ttl);
                if verified.wildcard {
                    let labels = set.labels_by(&signer).unwrap_or(0);
                    wildcards.push((set.owner.clone(), set.rtype, keys, labels));
                }
                Status::Secure
            }
            Err(bogus) => Status::Bogus(bogus),
        }
    }

    /// Proves no closer name than the wildcard exists (RFC 4035 §5.3.4).
    fn wildcard_proof(
        &mut self,
        owner: &Name,
        rtype: RecordType,
        keys: &TrustedKeys,
        labels: u8,
        answer: &Answer,
    ) -> Status {
        // The final reply's proofs, or those of the reply that gave an
        // earlier link of the chain.
        let proofs: std::borrow::Cow<'_, [Record]> = if answer.link_proofs.is_empty() {
            std::borrow::Cow::Borrowed(&answer.authority)
        } else {
            std::borrow::Cow::Owned(
                answer
                    .authority
                    .iter()
                    .chain(&answer.link_proofs)
                    .cloned()
                    .collect(),
            )
        };
        let sets: Vec<Rrset> = denial_sets(&proofs)
            .into_iter()
            .filter(|s| s.signers().contains(&keys.zone))
            .collect();
        if sets.is_empty() {
            return Status::Bogus(Bogus::NsecMissing {
                name: owner.clone(),
                rtype,
            });
        }
        let (records, ttl) = match self.check_denial(keys, &sets) {
            Ok(checked) => checked,
            Err(bogus) => return Status::Bogus(bogus),
        };
        match self.prove(&keys.zone, owner, Goal::WildcardAnswer(labels), &records) {
            Ok(_) => {
                self.cap(ttl);
                self.keep_ranges(&keys.zone, &sets, ttl);
                Status::Secure
            }
            Err(error) => status_of(denial_failure(&keys.zone, owner, rtype, error)),
        }
    }

    /// Validates the denial of `sname` in a NODATA or NXDOMAIN answer.
    async fn denial(&mut self, answer: &Answer, sname: &Name) -> Status {
        if let Some(status) = self.under_nta(sname) {
            return status;
        }
        let qtype = answer.question.qtype;
        let all = group(&answer.authority);
        let sets = denial_sets(&answer.authority);
        let soa = all.iter().find(|s| s.rtype == RecordType::SOA);
        let signer = sets
            .iter()
            .chain(soa)
            .flat_map(Rrset::signers)
            .next()
            .unwrap_or_else(|| answer.zone.to_lowercase());
        let keys = match self.zone_state(&signer).await {
            ChainState::Secure(keys) => keys,
            other => return status_of(other),
        };
        if sets.is_empty() {
            return Status::Bogus(Bogus::NsecMissing {
                name: sname.clone(),
                rtype: qtype,
            });
        }
        let mut ttl = u32::MAX;
        if let Some(soa) = soa {
            match self.checker().check_rrset(&keys, soa) {
                Ok(verified) => ttl = verified.ttl.min(soa_minimum(soa).unwrap_or(u32::MAX)),
                Err(bogus) => return Status::Bogus(bogus),
            }
        }
        let (records, nsec_ttl) = match self.check_denial(&keys, &sets) {
            Ok(checked) => checked,
            Err(bogus) => return Status::Bogus(bogus),
        };
        ttl = ttl.min(nsec_ttl);
        let goal = if answer.rcode == ResponseCode::NXDomain {
            Goal::NxDomain
        } else {
            Goal::NoData(qtype)
        };
        match self.prove(&keys.zone, sname, goal, &records) {
            Ok(Proven::OptOut) => Status::Insecure(crate::status::Insecure::OptOut {
                name: sname.clone(),
            }),
            Ok(_) => {
                self.cap(ttl);
                self.keep_ranges(&keys.zone, &sets, ttl);
                Status::Secure
            }
            Err(error) => status_of(denial_failure(&keys.zone, sname, qtype, error)),
        }
    }

    fn keep_ranges(&mut self, zone: &Name, sets: &[Rrset], ttl: u32) {
        for set in sets {
            for record in &set.records {
                self.denials.push(ProvenRange {
                    zone: zone.clone(),
                    ttl: ttl.min(record.ttl),
                    record: record.clone(),
                    rrsigs: set.sigs.clone(),
                });
            }
        }
    }
}

fn status_of(state: ChainState) -> Status {
    match state {
        ChainState::Secure(_) => Status::Secure,
        ChainState::Insecure(why) => Status::Insecure(why),
        ChainState::Bogus(why) => Status::Bogus(why),
        ChainState::Indeterminate => Status::Indeterminate,
    }
}

/// Whether `set` is an unsigned CNAME synthesised from a DNAME in the
/// answer (RFC 6672 §5.3.1): its target must be the substitution.
fn synthesised_from_dname(set: &Rrset, sets: &[Rrset]) -> bool {
    if set.rtype != RecordType::CNAME || !set.sigs.is_empty() {
        return false;
    }
    let Some(RData::CNAME(target)) = set.records.first().map(|r| &r.data) else {
        return false;
    };
    sets.iter()
        .filter(|d| {
            d.rtype == RecordType::DNAME && d.owner != set.owner && d.owner.zone_of(&set.owner)
        })
        .filter_map(|d| Some((d, dname_target(d.records.first()?)?)))
        .any(|(d, to)| substitute(&set.owner, &d.owner, &to).is_some_and(|n| n == target.0))
}

/// The name a CNAME/DNAME chain from `qname` ends at.
fn chain_end(qname: &Name, qtype: RecordType, sets: &[Rrset]) -> Name {
    let mut at = qname.clone();
    if matches!(qtype, RecordType::CNAME | RecordType::DNAME) {
        return at;
    }
    for _ in 0..sets.len() {
        let next = sets
            .iter()
            .find_map(|s| match (s.rtype, s.records.first()) {
                (RecordType::CNAME, Some(r)) if s.owner == at => match &r.data {
                    RData::CNAME(c) => Some(c.0.to_lowercase()),
                    _ => None,
                },
                (RecordType::DNAME, Some(r)) if s.owner != at && s.owner.zone_of(&at) => {
                    dname_target(r).and_then(|to| substitute(&at, &s.owner, &to))
                }
                _ => None,
            });
        match next {
            Some(n) if n != at => at = n,
            _ => break,
        }
    }
    at
}

fn soa_minimum(set: &Rrset) -> Option<u32> {
    set.records.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.minimum),
        _ => None,
    })
}
