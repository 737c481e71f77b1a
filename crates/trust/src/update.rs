//! One probe's answer applied to the tracker (RFC 5011 §2, §4).
//!
//! Order, as ROLLOVER.md §3: bind DS anchors to the keys they designate;
//! apply self-signed revocations (they count on their own, RFC 5011 §2.1);
//! find an RRSIG by a key trusted before the probe and present in the set;
//! only then apply NewKey, KeyPres, KeyRem and the timers, and promote
//! AddPend keys. Anything else is a failed probe: no key changes state.
//!
//! # Limitations
//! The caller vouches that the set is a complete (TC clear) NOERROR answer;
//! a truncated answer must be reported as a failure, not observed.

use std::time::{Duration, SystemTime};

use anchorage_verify::key::{FLAG_REVOKE, FLAG_SEP, FLAG_ZONE};
use anchorage_verify::rrsig::{as_rrsig, unix_seconds};
use anchorage_verify::{Budget, DnskeyVerifier, Scratch, VerifyError};
use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DNSSECRData};
use anchorage_wire::proto::rr::{RData, Record, RecordType};
use tracing::{info, warn};

use crate::key::{Event, KeyId, KeyMaterial, KeyState, TrackedKey, Transition};
use crate::tracker::{MAX_TRACKED_KEYS, Tracker};

/// Most DNSKEYs in a probed set; a larger set is a failed probe (KeyTrap,
/// CVE-2023-50387: bounds the keys tried; our limit).
pub const MAX_PROBE_DNSKEYS: usize = 64;
/// Most RRSIGs over a probed set; a larger set is a failed probe (KeyTrap,
/// CVE-2023-50387; our limit).
pub const MAX_PROBE_RRSIGS: usize = 16;
/// Signature checks one probe may spend, revocations included (KeyTrap,
/// CVE-2023-50387).
pub const MAX_PROBE_VERIFICATIONS: u32 = 32;

/// What one probe's answer did.
#[derive(Debug)]
#[must_use]
pub struct Observation {
    /// State changes, in the order they happened.
    pub transitions: Vec<Transition>,
    /// The valid update's signer, or why the answer was no valid update.
    pub verdict: Result<Accepted, UpdateError>,
    /// Whether the set of trusted keys changed: publish a new snapshot.
    pub anchors_changed: bool,
}

/// A valid update (RFC 5011 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// Tag of the trusted key whose RRSIG verified.
    pub signer: u16,
}

/// Why a probe's answer is not a valid update; no key changed state
/// (self-signed revocations excepted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The answer holds no DNSKEY of the trust point.
    #[error("the answer holds no DNSKEY for the trust point")]
    NoDnskeys,
    /// More DNSKEYs than a probe examines.
    #[error("{count} DNSKEYs in the set; at most {MAX_PROBE_DNSKEYS} are examined")]
    TooManyKeys {
        /// Keys in the set.
        count: usize,
    },
    /// More RRSIGs than a probe examines.
    #[error("{count} RRSIGs over the set; at most {MAX_PROBE_RRSIGS} are examined")]
    TooManySignatures {
        /// RRSIGs over the set.
        count: usize,
    },
    /// No RRSIG verifies with a key trusted before the probe.
    #[error("no RRSIG over the DNSKEY set verifies with one of the {trusted} trusted keys in it")]
    NotSignedByTrustedKey {
        /// Trusted keys present in the set.
        trusted: usize,
        /// The last verification failure, if a check was made.
        #[source]
        last: Option<VerifyError>,
    },
}

impl Tracker {
    /// Applies one probe's answer (`records`: the DNSKEY RRset and its
    /// RRSIGs; other records are ignored) at `now`.
    pub fn observe(&mut self, records: &[Record], now: SystemTime) -> Observation {
        let mut transitions = Vec::new();
        let mut bound = false;
        let set: Vec<Record> = records
            .iter()
            .filter(|r| r.name == self.zone && dnskey_of(r).is_some())
            .cloned()
            .collect();
        let sigs: Vec<&Record> = records
            .iter()
            .filter(|r| {
                r.name == self.zone
                    && as_rrsig(r).is_ok_and(|s| s.input().type_covered == RecordType::DNSKEY)
            })
            .collect();
        let verdict = if set.is_empty() {
            Err(UpdateError::NoDnskeys)
        } else if set.len() > MAX_PROBE_DNSKEYS {
            Err(UpdateError::TooManyKeys { count: set.len() })
        } else if sigs.len() > MAX_PROBE_RRSIGS {
            Err(UpdateError::TooManySignatures { count: sigs.len() })
        } else {
            self.apply(&set, &sigs, now, &mut transitions, &mut bound)
        };
        match &verdict {
            Ok(_) => {}
            Err(why) => {
                warn!(zone = %self.zone, %why, "trust anchor probe answer is no valid update");
                let _ = self.on_probe_failure(now);
            }
        }
        let anchors_changed = bound
            || transitions
                .iter()
                .any(|t| t.from.is_trusted() != t.to.is_trusted());
        for t in &transitions {
            info!(zone = %self.zone, transition = %t, "trust anchor state changed");
        }
        Observation {
            transitions,
            verdict,
            anchors_changed,
        }
    }

    fn apply(
        &mut self,
        set: &[Record],
        sigs: &[&Record],
        now: SystemTime,
        transitions: &mut Vec<Transition>,
        bound: &mut bool,
    ) -> Result<Accepted, UpdateError> {
        if self.probe.last_success.is_some_and(|last| now < last) {
            warn!(zone = %self.zone, "time goes backwards; hold-downs wait for it");
        }
        let mut budget = Budget::new(MAX_PROBE_VERIFICATIONS);
        let mut scratch = Scratch::new();
        *bound = self.bind_ds_anchors(set, now);
        self.apply_revocations(set, sigs, now, &mut budget, &mut scratch, transitions);
        let (signers, sig) =
            self.trusted_signer(set, sigs, now, &mut budget, &mut scratch, transitions)?;
        // Invariant: `trusted_signer` only returns RRSIG records.
        let input = as_rrsig(sig).map(|s| s.input().clone());
        let (original_ttl, expiration) =
            input.map_or((0, 0), |i| (i.original_ttl, i.sig_expiration.get()));
        self.apply_events(set, &signers, original_ttl, now, transitions);
        self.schedule_after_success(original_ttl, expiration, now);
        let tag = self
            .keys
            .iter()
            .find(|k| {
                k.material
                    .as_ref()
                    .is_some_and(|m| signers.first() == Some(&m.id()))
            })
            .map_or(0, TrackedKey::tag);
        Ok(Accepted { signer: tag })
    }

    /// Gives DS-only anchors their key once a DNSKEY in the set matches
    /// the digest (REVOKE masked).
    fn bind_ds_anchors(&mut self, set: &[Record], now: SystemTime) -> bool {
        let mut bound = false;
        for record in set {
            let Some(key) = dnskey_of(record) else {
                continue;
            };
            let material = KeyMaterial::from_dnskey(key);
            if self
                .keys
                .iter()
                .any(|k| k.material.as_ref() == Some(&material))
            {
                continue;
            }
            let zone = self.zone.clone();
            if let Some(k) = self.keys.iter_mut().find(|k| {
                k.material.is_none()
                    && k.ds
                        .as_ref()
                        .is_some_and(|ds| ds.designates(&zone, &material))
            }) {
                info!(tag = material.tag(), "DS trust anchor matched its DNSKEY");
                k.material = Some(material);
                k.first_seen = Some(now);
                bound = true;
            }
        }
        bound
    }

    /// RevBit: a tracked key published with REVOKE whose own RRSIG over the
    /// set verifies is Revoked at once (RFC 5011 §2.1). An AddPend key so
    /// revoked is Revoked too: a tombstone, never added again (our rule).
    fn apply_revocations(
        &mut self,
        set: &[Record],
        sigs: &[&Record],
        now: SystemTime,
        budget: &mut Budget,
        scratch: &mut Scratch,
        transitions: &mut Vec<Transition>,
    ) {
        for record in set {
            let Some(key) = dnskey_of(record).filter(|k| k.flags() & FLAG_REVOKE != 0) else {
                continue;
            };
            let material = KeyMaterial::from_dnskey(key);
            let Some(i) = self.index_of(&material) else {
                continue;
            };
            if !matches!(
                self.keys[i].state,
                KeyState::AddPend | KeyState::Valid | KeyState::Missing
            ) {
                continue;
            }
            let revoked = DnskeyVerifier::new(&self.zone, key);
            let self_signed = sigs.iter().any(|sig| {
                self.verifier
                    .verify_rrset(&revoked, set, sig, now, budget, scratch)
                    .is_ok()
            });
            if self_signed {
                transitions.push(self.keys[i].set_state(KeyState::Revoked, Event::RevBit, now));
            } else {
                warn!(
                    tag = revoked.tag(),
                    "REVOKE bit without a valid self-signature ignored"
                );
            }
        }
        // RFC 5011 §2.2: a key introduced only by keys now revoked goes back to Start.
        let revoked: Vec<KeyId> = self
            .keys
            .iter()
            .filter(|k| k.state == KeyState::Revoked)
            .filter_map(|k| k.material.as_ref().map(KeyMaterial::id))
            .collect();
        let mut i = 0;
        while i < self.keys.len() {
            let k = &self.keys[i];
            if k.state == KeyState::AddPend
                && !k.introduced_by.is_empty()
                && k.introduced_by.iter().all(|id| revoked.contains(id))
            {
                let mut gone = self.keys.remove(i);
                transitions.push(gone.set_state(KeyState::Start, Event::IntroducerRevoked, now));
            } else {
                i += 1;
            }
        }
    }

    /// The ids of the keys trusted before this probe, present in the set,
    /// whose RRSIGs verify, and the first such RRSIG; else one AddPend key
    /// past its hold-down, seen often enough, that verifies it, promoted now
    /// (Unbound's `addpend_twice`). Every trusted signer is kept: a new key
    /// introduced by two keys survives the revocation of one (RFC 5011 §2.2).
    fn trusted_signer<'a>(
        &mut self,
        set: &[Record],
        sigs: &[&'a Record],
        now: SystemTime,
        budget: &mut Budget,
        scratch: &mut Scratch,
        transitions: &mut Vec<Transition>,
    ) -> Result<(Vec<KeyId>, &'a Record), UpdateError> {
        let (trusted, ids) = self.candidates(set, |k| k.state.is_trusted());
        let mut last = None;
        let mut signers = Vec::new();
        let mut first_sig = None;
        for sig in sigs {
            match self
                .verifier
                .verify_with_keys(&trusted, set, sig, now, budget, scratch)
            {
                Ok(found) => {
                    if !signers.contains(&ids[found.index]) {
                        signers.push(ids[found.index]);
                    }
                    first_sig.get_or_insert(*sig);
                }
                Err(why) => last = Some(why),
            }
        }
        if let Some(sig) = first_sig {
            return Ok((signers, sig));
        }
        let min_count = self.timers.min_pending_count;
        let (ready, ready_ids) = self.candidates(set, |k| {
            k.state == KeyState::AddPend
                && k.pending_count >= min_count
                && k.add_due.is_some_and(|due| now >= due)
        });
        for sig in sigs {
            if let Ok(found) = self
                .verifier
                .verify_with_keys(&ready, set, sig, now, budget, scratch)
            {
                let id = ready_ids[found.index];
                if let Some(k) = self.key_by_id(id) {
                    transitions.push(k.set_state(KeyState::Valid, Event::AddTime, now));
                }
                return Ok((vec![id], sig));
            }
        }
        Err(UpdateError::NotSignedByTrustedKey {
            trusted: trusted.len(),
            last,
        })
    }

    /// Verifiers (from the set's records) and ids of the unrevoked keys in
    /// the set whose tracked entry passes `filter`.
    fn candidates(
        &self,
        set: &[Record],
        filter: impl Fn(&TrackedKey) -> bool,
    ) -> (Vec<DnskeyVerifier>, Vec<KeyId>) {
        let mut verifiers = Vec::new();
        let mut ids = Vec::new();
        for key in set.iter().filter_map(dnskey_of) {
            if key.flags() & FLAG_REVOKE != 0 {
                continue;
            }
            let material = KeyMaterial::from_dnskey(key);
            if self
                .index_of(&material)
                .is_some_and(|i| filter(&self.keys[i]))
            {
                verifiers.push(DnskeyVerifier::new(&self.zone, key));
                ids.push(material.id());
            }
        }
        (verifiers, ids)
    }

    /// NewKey, sightings, KeyPres, KeyRem, RemTime, keep-missing and AddTime
    /// for a valid update signed by `signers` (RFC 5011 §4).
    fn apply_events(
        &mut self,
        set: &[Record],
        signers: &[KeyId],
        original_ttl: u32,
        now: SystemTime,
        transitions: &mut Vec<Transition>,
    ) {
        let present: Vec<(KeyMaterial, bool)> = set
            .iter()
            .filter_map(dnskey_of)
            .map(|k| (KeyMaterial::from_dnskey(k), k.flags() & FLAG_REVOKE != 0))
            .collect();
        let first_new = self.keys.len();
        for (material, revoked) in &present {
            if *revoked {
                continue;
            }
            match self.index_of(material) {
                Some(i) if i >= first_new => {}
                Some(i) => match self.keys[i].state {
                    KeyState::AddPend => {
                        self.keys[i].pending_count = self.keys[i].pending_count.saturating_add(1);
                    }
                    KeyState::Missing => {
                        self.keys[i].absent_since = None;
                        transitions.push(self.keys[i].set_state(
                            KeyState::Valid,
                            Event::KeyPres,
                            now,
                        ));
                    }
                    _ => {}
                },
                None => self.add_pending(material, signers, original_ttl, now, transitions),
            }
        }
        let timers = self.timers;
        let mut i = 0;
        while i < self.keys.len() {
            let Some(material) = self.keys[i].material.clone() else {
                // A DS anchor never seen as a DNSKEY stays Valid: it has not
                // left a set it was never in (our rule; keeps both built-in
                // keys trusted before KSK-2024 was published).
                i += 1;
                continue;
            };
            let in_set = present.iter().any(|(m, _)| *m == material);
            let another_valid = self
                .keys
                .iter()
                .enumerate()
                .any(|(j, k)| j != i && k.state == KeyState::Valid);
            let key = &mut self.keys[i];
            let ticking = now >= key.last_change;
            match (key.state, in_set) {
                (KeyState::AddPend, false) => {
                    let mut gone = self.keys.remove(i);
                    transitions.push(gone.set_state(KeyState::Start, Event::KeyRem, now));
                    continue;
                }
                (KeyState::Valid, false) => {
                    key.absent_since = Some(now);
                    transitions.push(key.set_state(KeyState::Missing, Event::KeyRem, now));
                }
                (KeyState::Missing, false) => {
                    let since = *key.absent_since.get_or_insert(now);
                    if ticking && another_valid && now >= since + timers.keep_missing {
                        transitions.push(key.set_state(
                            KeyState::Removed,
                            Event::MissingTooLong,
                            now,
                        ));
                    }
                }
                (KeyState::Revoked, false) => {
                    let since = *key.absent_since.get_or_insert(now);
                    if ticking && now >= since + timers.remove_hold_down {
                        transitions.push(key.set_state(KeyState::Removed, Event::RemTime, now));
                    }
                }
                (KeyState::Revoked, true) => key.absent_since = None,
                (KeyState::AddPend, true)
                    if ticking
                        && key.pending_count >= timers.min_pending_count
                        && key.add_due.is_some_and(|due| now >= due) =>
                {
                    transitions.push(key.set_state(KeyState::Valid, Event::AddTime, now));
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// NewKey: an unknown SEP zone key of a supported algorithm enters AddPend.
    fn add_pending(
        &mut self,
        material: &KeyMaterial,
        signers: &[KeyId],
        original_ttl: u32,
        now: SystemTime,
        transitions: &mut Vec<Transition>,
    ) {
        let sep_zone_key = material.flags & FLAG_SEP != 0 && material.flags & FLAG_ZONE != 0;
        if !sep_zone_key {
            return;
        }
        if let Err(why) = material.verifier(&self.zone, false).usable() {
            warn!(tag = material.tag(), %why, "new key not tracked: cannot verify with it");
            return;
        }
        if self.keys.len() >= MAX_TRACKED_KEYS {
            warn!(
                tag = material.tag(),
                "new key not tracked: {MAX_TRACKED_KEYS} keys already"
            );
            return;
        }
        let mut key = TrackedKey::anchor(Some(material.clone()), None, now);
        key.state = KeyState::Start;
        let t = key.set_state(KeyState::AddPend, Event::NewKey, now);
        key.pending_count = 1;
        key.add_due = Some(now + self.timers.add_hold_down_for(original_ttl));
        key.introduced_by = signers.to_vec();
        transitions.push(t);
        self.keys.push(key);
    }

    fn schedule_after_success(&mut self, original_ttl: u32, expiration: u32, now: SystemTime) {
        // The RRSIG verified at `now`, so expiration is ahead in serial arithmetic.
        let left = Duration::from_secs(u64::from(expiration.wrapping_sub(unix_seconds(now))));
        let interval = self.timers.query_interval(original_ttl, left);
        self.probe.last_success = Some(now);
        self.probe.failures = 0;
        self.probe.original_ttl = Some(original_ttl);
        self.probe.signature_expiration = Some(now + left);
        self.probe.interval = interval;
        self.probe.next_due = Some(now + interval);
    }

    fn index_of(&self, material: &KeyMaterial) -> Option<usize> {
        self.keys
            .iter()
            .position(|k| k.material.as_ref() == Some(material))
    }

    fn key_by_id(&mut self, id: KeyId) -> Option<&mut TrackedKey> {
        self.keys
            .iter_mut()
            .find(|k| k.material.as_ref().is_some_and(|m| m.id() == id))
    }
}

/// The DNSKEY RDATA of `record`, if it is one.
pub(crate) fn dnskey_of(record: &Record) -> Option<&DNSKEY> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key),
        _ => None,
    }
}
