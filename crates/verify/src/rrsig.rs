//! Does this key sign this RRset? (RFC 4035 §5.3.)
//!
//! [`Verifier::verify_rrset`] runs every check of RFC 4035 §5.3.1 that needs
//! no crypto, then builds the signed data (RFC 4035 §5.3.2) in the caller's
//! [`Scratch`], asks the memo, and only then spends the caller's [`Budget`]
//! on the math. It returns the TTL the validated RRset may be cached for
//! (RFC 4035 §5.3.3).
//!
//! # Limitations
//! Trust is not decided here: whether the key is trusted, and what an
//! [`Unsupported`](crate::Unsupported) result means, is the validator's.

use core::num::NonZeroUsize;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use anchorage_wire::canonical::{CanonicalName, SignedData, name_eq_canonical, signed_data_with};
use anchorage_wire::proto::dnssec::PublicKey;
use anchorage_wire::proto::dnssec::rdata::{DNSSECRData, RRSIG, SigInput};
use anchorage_wire::proto::rr::{RData, Record, RecordType};

use crate::error::VerifyError;
use crate::key::DnskeyVerifier;
use crate::memo::{DEFAULT_MEMO_BYTES, DEFAULT_MEMO_ENTRIES, Memo};
use crate::signed::{CompareScratch, same_signed_data};

/// Default clock skew tolerated on both ends of a validity window, in
/// seconds. RFC 4035 §5.3.1 allows none; a tunable for hosts with bad clocks.
pub const DEFAULT_CLOCK_SKEW: u32 = 0;
/// Default signature checks one query may spend on one RRset before the
/// answer is bogus (KeyTrap, CVE-2023-50387); a KeyTrap zone otherwise
/// chooses how many colliding keys and signatures we try.
pub const DEFAULT_VERIFICATIONS_PER_QUERY: u32 = 16;

/// Default smallest batch spread over threads. A tunable: waking a pool
/// thread costs microseconds, a memo hit under half of one and a
/// signature check 20 µs or more, so from 8 jobs the spread pays unless
/// nearly all are memo hits (`benches/verify.rs`, `batch_n`).
pub const DEFAULT_BATCH_PARALLEL_MIN: usize = 8;

/// Tunables of a [`Verifier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Seconds of clock skew tolerated around each validity window.
    pub clock_skew: u32,
    /// Successful verifications remembered (0: no memo).
    pub memo_entries: usize,
    /// Bytes the memo keeps them in (key fingerprint, signature and signed
    /// data of each; 0: no memo).
    pub memo_bytes: usize,
    /// Signature checks a batch must still need after its memo hits before
    /// it spreads them over threads; below, the caller's thread does them.
    pub batch_parallel_min: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            clock_skew: DEFAULT_CLOCK_SKEW,
            memo_entries: DEFAULT_MEMO_ENTRIES,
            memo_bytes: DEFAULT_MEMO_BYTES,
            batch_parallel_min: DEFAULT_BATCH_PARALLEL_MIN,
        }
    }
}

/// How many signature checks a caller allows; memo hits are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    limit: u32,
    spent: u32,
}

impl Budget {
    /// A budget of `limit` signature checks.
    pub fn new(limit: u32) -> Self {
        Self { limit, spent: 0 }
    }

    /// Checks spent so far.
    pub fn spent(&self) -> u32 {
        self.spent
    }

    fn spend(&mut self) -> Result<(), VerifyError> {
        if self.spent >= self.limit {
            return Err(VerifyError::BudgetExhausted { limit: self.limit });
        }
        self.spent += 1;
        Ok(())
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(DEFAULT_VERIFICATIONS_PER_QUERY)
    }
}

/// Buffers one thread reuses across verifications, so none allocates once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    signed: SignedData,
    compare: CompareScratch,
    /// The owner of the RRset being checked, in canonical form.
    owner: CanonicalName,
}

impl Scratch {
    /// Empty buffers; they grow to the largest RRset seen.
    pub fn new() -> Self {
        Self::default()
    }
}

/// What a successful verification tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Verified {
    /// TTL the RRset and its RRSIG may be cached for (RFC 4035 §5.3.3).
    pub ttl: u32,
    /// The RRset was expanded from a wildcard (labels field below the owner's
    /// labels): the validator must also prove the name absent (RFC 4035 §5.3.4).
    pub wildcard: bool,
    /// The math was skipped: the memo held this exact verification.
    pub memo_hit: bool,
}

/// A successful verification with one of several candidate keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct KeyMatch {
    /// Index in the caller's key slice of the key that verified.
    pub index: usize,
    /// The verification result.
    pub verified: Verified,
}

/// Checks RRSIGs; shared by threads (`&self`), with a memo of successes.
#[derive(Debug)]
pub struct Verifier {
    memo: Memo,
    limits: Limits,
    /// Batch helper threads, started on the first parallel batch; `None`
    /// inside if the platform refused to start them (batches then run on
    /// the caller's thread).
    pool: OnceLock<Option<rayon::ThreadPool>>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Verifier {
    /// A verifier with these limits; allocates the memo once.
    pub fn new(limits: Limits) -> Self {
        Self {
            memo: Memo::new(limits.memo_entries, limits.memo_bytes),
            limits,
            pool: OnceLock::new(),
        }
    }

    /// The batch helper pool: one thread per core but the caller's.
    pub(crate) fn pool(&self) -> Option<&rayon::ThreadPool> {
        self.pool
            .get_or_init(|| {
                let cores = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
                rayon::ThreadPoolBuilder::new()
                    .num_threads(cores.saturating_sub(1).max(1))
                    .thread_name(|i| format!("verify-batch-{i}"))
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// The limits this verifier was built with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks one RRSIG over an RRset with one key (RFC 4035 §5.3).
    ///
    /// `rrset` holds the records of one RRset in any order; `rrsig` is the
    /// RRSIG record (its owner and TTL matter). `now` is the injected clock.
    pub fn verify_rrset(
        &self,
        key: &DnskeyVerifier,
        rrset: &[Record],
        rrsig: &Record,
        now: SystemTime,
        budget: &mut Budget,
        scratch: &mut Scratch,
    ) -> Result<Verified, VerifyError> {
        let sig = as_rrsig(rrsig)?;
        let input = sig.input();
        // Key match is compared before any crypto: a mismatch is free and
        // must not spend the query's KeyTrap budget.
        match_key(key, input)?;
        self.verify_matched(key, rrset, rrsig, sig, now, budget, scratch)
    }

    /// Tries every key whose tag, algorithm and owner match the RRSIG, within
    /// `budget` (KeyTrap, CVE-2023-50387), and reports the first that verifies.
    pub fn verify_with_keys(
        &self,
        keys: &[DnskeyVerifier],
        rrset: &[Record],
        rrsig: &Record,
        now: SystemTime,
        budget: &mut Budget,
        scratch: &mut Scratch,
    ) -> Result<KeyMatch, VerifyError> {
        let sig = as_rrsig(rrsig)?;
        let input = sig.input();
        let mut failure: Option<VerifyError> = None;
        for (index, key) in keys.iter().enumerate() {
            if match_key(key, input).is_err() {
                continue;
            }
            match self.verify_matched(key, rrset, rrsig, sig, now, budget, scratch) {
                Ok(verified) => return Ok(KeyMatch { index, verified }),
                Err(
                    why @ (VerifyError::BadSignature { .. }
                    | VerifyError::NotZoneKey { .. }
                    | VerifyError::RevokedKey { .. }
                    | VerifyError::MalformedKey { .. }
                    | VerifyError::Unsupported(_)),
                ) => {
                    // Key-specific: another key with the same tag may verify.
                    // A bogus reason outranks "cannot check".
                    if failure.is_none_or(|f| f.is_unsupported()) {
                        failure = Some(why);
                    }
                }
                // The same for every key (window, names, budget): stop.
                Err(other) => return Err(other),
            }
        }
        Err(failure.unwrap_or(VerifyError::NoMatchingKey {
            tag: input.key_tag,
            algorithm: u8::from(input.algorithm),
        }))
    }

    /// Everything after the key match, shared by the single and multi-key paths.
    #[allow(clippy::too_many_arguments)]
    fn verify_matched(
        &self,
        key: &DnskeyVerifier,
        rrset: &[Record],
        rrsig: &Record,
        sig: &RRSIG,
        now: SystemTime,
        budget: &mut Budget,
        scratch: &mut Scratch,
    ) -> Result<Verified, VerifyError> {
        match self.check_and_probe(key, rrset, rrsig, sig, now, scratch)? {
            Probe::Hit(verified) => Ok(verified),
            Probe::Miss(verified) => self.run_math(key, rrset, sig, verified, budget, scratch),
        }
    }

    /// Every check of RFC 4035 §5.3.1 that needs no crypto, then the memo.
    pub(crate) fn check_and_probe(
        &self,
        key: &DnskeyVerifier,
        rrset: &[Record],
        rrsig: &Record,
        sig: &RRSIG,
        now: SystemTime,
        scratch: &mut Scratch,
    ) -> Result<Probe, VerifyError> {
        let input = sig.input();
        let first = rrset.first().ok_or(VerifyError::Canonical(
            anchorage_wire::CanonicalError::EmptyRrset,
        ))?;
        // One walk over the owner; every name check below compares bytes.
        let owner = &mut scratch.owner;
        if !owner.set(&first.name)
            || rrsig.dns_class != first.dns_class
            || !owner.eq_name(&rrsig.name)
        {
            return Err(VerifyError::OwnerMismatch);
        }
        if input.type_covered != first.record_type() {
            return Err(VerifyError::TypeMismatch {
                covered: u16::from(input.type_covered),
                rrset: u16::from(first.record_type()),
            });
        }
        if !key.is_zone_key() {
            return Err(VerifyError::NotZoneKey { tag: key.tag() });
        }
        if key.is_revoked() && !is_own_dnskey_self_signature(key, input, rrset) {
            return Err(VerifyError::RevokedKey { tag: key.tag() });
        }
        // Invariant: at most 127 labels.
        let owner_labels = owner.rrsig_labels() as u8;
        if input.num_labels > owner_labels {
            return Err(VerifyError::LabelsExceedOwner {
                labels: input.num_labels,
                owner_labels,
            });
        }
        // The key matched (`match_key`): the signer name is the key's owner.
        if !owner.is_at_or_below(key.owner_wire()) {
            return Err(VerifyError::SignerNotAncestor);
        }
        let now = unix_seconds(now);
        let remaining = check_window(input, now, self.limits.clock_skew)?;
        key.usable()?;

        let received = rrset.iter().map(|r| r.ttl).min().unwrap_or(0);
        let ttl = received
            .min(rrsig.ttl)
            .min(input.original_ttl)
            .min(remaining);
        // A hit compares the RRset with the stored signed data in place:
        // exact, and cheaper than building the signed data again.
        let Scratch { compare, owner, .. } = scratch;
        let memo_hit = self.memo.find(key.fingerprint(), sig.sig(), |stored| {
            same_signed_data(input, key.owner_wire(), owner, rrset, stored, compare)
        });
        let verified = Verified {
            ttl,
            wildcard: input.num_labels < owner_labels,
            memo_hit,
        };
        Ok(if memo_hit {
            Probe::Hit(verified)
        } else {
            Probe::Miss(verified)
        })
    }

    /// The signature math after a memo miss, on the owner
    /// [`check_and_probe`](Self::check_and_probe) left in `scratch`;
    /// records a success in the memo.
    pub(crate) fn run_math(
        &self,
        key: &DnskeyVerifier,
        rrset: &[Record],
        sig: &RRSIG,
        verified: Verified,
        budget: &mut Budget,
        scratch: &mut Scratch,
    ) -> Result<Verified, VerifyError> {
        let data = signed_data_with(
            sig.input(),
            key.owner_wire(),
            &scratch.owner,
            rrset,
            &mut scratch.signed,
        )
        .map_err(VerifyError::Canonical)?;
        budget.spend()?;
        key.verify_raw(data, sig.sig())?;
        self.memo.insert(key.fingerprint(), sig.sig(), data);
        // The next call with this RRset may be a hit: have room for it.
        scratch.compare.reserve(rrset.len(), data.len());
        Ok(verified)
    }
}

/// What the checks before the math found.
pub(crate) enum Probe {
    /// The memo held this exact verification: done.
    Hit(Verified),
    /// Everything but the math passed; the result if the math does.
    Miss(Verified),
}

/// The RRSIG RDATA of `record`, or why it is not one.
pub fn as_rrsig(record: &Record) -> Result<&RRSIG, VerifyError> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Ok(sig),
        _ => Err(VerifyError::NotRrsig {
            rtype: u16::from(record.record_type()),
        }),
    }
}

/// Seconds since 1970 modulo 2^32, the RRSIG time scale (RFC 4034 §3.1.5).
pub fn unix_seconds(now: SystemTime) -> u32 {
    // Before 1970 only on a broken clock: the windows then read as not yet valid.
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() & u64::from(u32::MAX)) as u32)
}

/// `a <= b` in RFC 1982 serial arithmetic (32 bits); values 2^31 apart compare false.
pub fn serial_le(a: u32, b: u32) -> bool {
    a == b || b.wrapping_sub(a).cast_signed() > 0
}

/// Key tag, algorithm and signer name of the RRSIG against the key (RFC 4035 §5.3.1).
pub(crate) fn match_key(key: &DnskeyVerifier, input: &SigInput) -> Result<(), VerifyError> {
    let algorithm = u8::from(input.algorithm);
    if algorithm != key.algorithm() {
        return Err(VerifyError::AlgorithmMismatch {
            rrsig: algorithm,
            key: key.algorithm(),
        });
    }
    if input.key_tag != key.tag() {
        return Err(VerifyError::KeyTagMismatch {
            rrsig: input.key_tag,
            key: key.tag(),
        });
    }
    if !name_eq_canonical(&input.signer_name, key.owner_wire()) {
        return Err(VerifyError::SignerNotKeyOwner { tag: key.tag() });
    }
    Ok(())
}

/// Checks the validity window against `now`; returns the seconds left before expiry.
fn check_window(input: &SigInput, now: u32, skew: u32) -> Result<u32, VerifyError> {
    let inception = input.sig_inception.get();
    let expiration = input.sig_expiration.get();
    if !serial_le(inception, expiration) {
        return Err(VerifyError::InvertedWindow {
            inception,
            expiration,
        });
    }
    if !serial_le(inception, now.wrapping_add(skew)) {
        return Err(VerifyError::NotYetValid { inception, now });
    }
    if !serial_le(now.wrapping_sub(skew), expiration) {
        return Err(VerifyError::Expired { expiration, now });
    }
    Ok(if serial_le(now, expiration) {
        expiration.wrapping_sub(now)
    } else {
        0
    })
}

/// RFC 5011 §2.1: a revoked key signs only the DNSKEY RRset holding it, revoked.
fn is_own_dnskey_self_signature(key: &DnskeyVerifier, input: &SigInput, rrset: &[Record]) -> bool {
    input.type_covered == RecordType::DNSKEY
        && rrset.iter().any(|record| match &record.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => key.same_rdata(
                k.flags(),
                u8::from(k.public_key().algorithm()),
                k.public_key().public_bytes(),
            ),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_wire::proto::rr::Name;

    #[test]
    fn serial_comparison_wraps_around_2106() {
        assert!(serial_le(u32::MAX - 10, 5));
        assert!(!serial_le(5, u32::MAX - 10));
        assert!(serial_le(7, 7));
        assert!(!serial_le(0, 1 << 31), "2^31 apart is undefined: refuse");
    }

    #[test]
    fn wire_name_comparison_ignores_case_and_needs_every_label() {
        let name = Name::from_ascii("Example.NET.").unwrap();
        assert!(name_eq_canonical(&name, b"\x07example\x03net\x00"));
        assert!(!name_eq_canonical(&name, b"\x07example\x00"));
        assert!(!name_eq_canonical(&name, b"\x07example\x03net\x03com\x00"));
    }

    #[test]
    fn wildcard_label_is_not_counted() {
        let mut owner = CanonicalName::new();
        assert!(owner.set(&Name::from_ascii("*.a.example.").unwrap()));
        assert_eq!(owner.rrsig_labels(), 2);
        assert!(owner.set(&Name::root()));
        assert_eq!(owner.rrsig_labels(), 0);
    }

    #[test]
    fn budget_refuses_past_its_limit() {
        let mut budget = Budget::new(2);
        assert!(budget.spend().is_ok());
        assert!(budget.spend().is_ok());
        assert_eq!(
            budget.spend(),
            Err(VerifyError::BudgetExhausted { limit: 2 })
        );
        assert_eq!(budget.spent(), 2);
    }
}
