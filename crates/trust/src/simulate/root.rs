//! [`SigningRoot`]: a root zone in memory for [`simulate`](super::simulate),
//! with Ed25519 keys on ring. Each fetch signs the DNSKEY RRset afresh
//! around the simulated time; the roll steps change which keys are
//! published, which sign, and which carry the REVOKE bit.
//!
//! # Limitations
//! Holds only the root DNSKEY RRset, no other data and no network. Keys are
//! Ed25519 (algorithm 15), not RSA/SHA-256 as the real root's: ring cannot
//! generate RSA keys, and RFC 5011 does not depend on the algorithm.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use anchorage_verify::key::{FLAG_REVOKE, FLAG_SEP, FLAG_ZONE};
use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG, SigInput};
use anchorage_wire::proto::dnssec::{Algorithm, PublicKeyBuf};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType, SerialNumber};
use anchorage_wire::{CanonicalError, SignedData, signed_data};
use data_encoding::BASE64;
use ring::digest;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::{RollStep, SimulatedRoot};
use crate::key::KeyMaterial;
use crate::utc::unix_secs;

/// TTL of the simulated DNSKEY RRset: the real root's (ROLLOVER.md §3).
pub const SIMULATED_DNSKEY_TTL: u32 = 172_800;
/// How long each fetch's RRSIGs stay valid: the real root's 21 days
/// (ROLLOVER.md §3), so the refresh interval is the root's one day.
pub const SIMULATED_SIGNATURE_LIFETIME: Duration = Duration::from_hours(21 * 24);
/// How far before the fetch each RRSIG's inception lies, as signers do
/// against clock skew (one hour).
pub const SIMULATED_INCEPTION_SKEW: Duration = Duration::from_hours(1);

/// Why the simulated root could not roll or sign.
#[derive(Debug, thiserror::Error)]
pub enum SigningRootError {
    /// The step does not follow the previous one.
    #[error("roll step {step:?} cannot follow {previous:?}")]
    OutOfOrder {
        /// The step asked for.
        step: RollStep,
        /// The last step done.
        previous: Option<RollStep>,
    },
    /// ring refused a key seed.
    #[error("cannot make simulated key {index}: {reason}")]
    Key {
        /// Which key (0: first KSK, 1: ZSK, 2: new KSK).
        index: u8,
        /// ring's reason.
        reason: String,
    },
    /// The DNSKEY RRset has no canonical form to sign.
    #[error("cannot build the signed data of the simulated DNSKEY set")]
    Canonical(#[source] CanonicalError),
}

struct RootKey {
    pair: Ed25519KeyPair,
    flags: u16,
    signs_keys: bool,
}

impl RootKey {
    fn generate(
        seed: u64,
        index: u8,
        flags: u16,
        signs_keys: bool,
    ) -> Result<Self, SigningRootError> {
        // A seed hashed with the key's index: the same seed gives the same
        // keys, so a timeline (key tags included) is reproducible.
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"anchorage simulated root key");
        ctx.update(&seed.to_be_bytes());
        ctx.update(&[index]);
        let pair = Ed25519KeyPair::from_seed_unchecked(ctx.finish().as_ref()).map_err(|e| {
            SigningRootError::Key {
                index,
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            pair,
            flags,
            signs_keys,
        })
    }

    fn dnskey(&self) -> DNSKEY {
        DNSKEY::with_flags(
            self.flags,
            PublicKeyBuf::new(self.pair.public_key().as_ref().to_vec(), Algorithm::ED25519),
        )
    }

    fn tag(&self) -> u16 {
        let material = KeyMaterial::from_dnskey(&self.dnskey());
        if self.flags & FLAG_REVOKE == 0 {
            material.tag()
        } else {
            material.revoked_tag()
        }
    }
}

/// A root zone held in memory whose KSK [`simulate`](super::simulate) rolls.
pub struct SigningRoot {
    zone: Name,
    keys: Vec<RootKey>,
    seed: u64,
    last: Option<RollStep>,
    buf: SignedData,
}

impl std::fmt::Debug for SigningRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningRoot")
            .field(
                "tags",
                &self.keys.iter().map(RootKey::tag).collect::<Vec<_>>(),
            )
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl SigningRoot {
    /// A root with one KSK signing its DNSKEY RRset and one ZSK, keys
    /// derived from `seed`.
    pub fn new(seed: u64) -> Result<Self, SigningRootError> {
        Ok(Self {
            zone: Name::root(),
            keys: vec![
                RootKey::generate(seed, 0, FLAG_ZONE | FLAG_SEP, true)?,
                RootKey::generate(seed, 1, FLAG_ZONE, false)?,
            ],
            seed,
            last: None,
            buf: SignedData::new(),
        })
    }

    /// Tags of the published keys, REVOKE included, in publication order.
    pub fn tags(&self) -> Vec<u16> {
        self.keys.iter().map(RootKey::tag).collect()
    }

    fn ksk_positions(&self) -> (Option<usize>, Option<usize>) {
        let is_ksk = |k: &RootKey| k.flags & FLAG_SEP != 0;
        (
            self.keys.iter().position(is_ksk),
            self.keys.iter().rposition(is_ksk),
        )
    }
}

impl SimulatedRoot for SigningRoot {
    type Error = SigningRootError;

    fn anchor_text(&self) -> String {
        let mut text = String::new();
        for key in self.keys.iter().filter(|k| k.signs_keys) {
            // Invariant: writing to a String cannot fail.
            let _ = writeln!(
                text,
                ". {SIMULATED_DNSKEY_TTL} IN DNSKEY {} 3 {} {}",
                key.flags,
                u8::from(Algorithm::ED25519),
                BASE64.encode(key.pair.public_key().as_ref())
            );
        }
        text
    }

    fn roll(&mut self, step: RollStep, _now: SystemTime) -> Result<(), SigningRootError> {
        let expected = match step {
            RollStep::PublishNew => None,
            RollStep::DoubleSign => Some(RollStep::PublishNew),
            RollStep::StopOld => Some(RollStep::DoubleSign),
            RollStep::RevokeOld => Some(RollStep::StopOld),
            RollStep::RemoveOld => Some(RollStep::RevokeOld),
        };
        if self.last != expected {
            return Err(SigningRootError::OutOfOrder {
                step,
                previous: self.last,
            });
        }
        let (old, new) = self.ksk_positions();
        match (step, old, new) {
            (RollStep::PublishNew, _, _) => {
                self.keys.push(RootKey::generate(
                    self.seed,
                    2,
                    FLAG_ZONE | FLAG_SEP,
                    false,
                )?);
            }
            (RollStep::DoubleSign, _, Some(new)) => self.keys[new].signs_keys = true,
            (RollStep::StopOld, Some(old), _) => self.keys[old].signs_keys = false,
            (RollStep::RevokeOld, Some(old), _) => {
                // RFC 5011 §2.1: the revoked key signs the set it is revoked in.
                self.keys[old].flags |= FLAG_REVOKE;
                self.keys[old].signs_keys = true;
            }
            (RollStep::RemoveOld, Some(old), _) => {
                self.keys.remove(old);
            }
            // Invariant: the order check above means both KSKs exist from
            // PublishNew on; nothing to do otherwise.
            _ => {}
        }
        self.last = Some(step);
        Ok(())
    }

    fn fetch(&mut self, now: SystemTime) -> Result<Vec<Record>, SigningRootError> {
        let mut records: Vec<Record> = self
            .keys
            .iter()
            .map(|k| {
                Record::from_rdata(
                    self.zone.clone(),
                    SIMULATED_DNSKEY_TTL,
                    RData::DNSSEC(DNSSECRData::DNSKEY(k.dnskey())),
                )
            })
            .collect();
        let at = |t: SystemTime| SerialNumber::new(unix_secs(t) as u32);
        let inception = at(now.checked_sub(SIMULATED_INCEPTION_SKEW).unwrap_or(now));
        let expiration = at(now + SIMULATED_SIGNATURE_LIFETIME);
        let published = records.len();
        for key in self.keys.iter().filter(|k| k.signs_keys) {
            let input = SigInput {
                type_covered: RecordType::DNSKEY,
                algorithm: Algorithm::ED25519,
                num_labels: 0,
                original_ttl: SIMULATED_DNSKEY_TTL,
                sig_expiration: expiration,
                sig_inception: inception,
                key_tag: key.tag(),
                signer_name: self.zone.clone(),
            };
            let data = signed_data(&input, &records[..published], &mut self.buf)
                .map_err(SigningRootError::Canonical)?;
            let sig = key.pair.sign(data).as_ref().to_vec();
            records.push(Record::from_rdata(
                self.zone.clone(),
                SIMULATED_DNSKEY_TTL,
                RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
            ));
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{SimulationConfig, TimelineEvent, simulate};
    use crate::snapshot::TrustAnchors;
    use crate::timers::{ADD_HOLD_DOWN, REMOVE_HOLD_DOWN, Timers};
    use crate::utc::from_unix_secs;
    use crate::{KeyState, anchors_from_text};
    use anchorage_verify::Verifier;

    /// 2027-01-15T08:00:00Z.
    fn start() -> SystemTime {
        from_unix_secs(1_800_000_000)
    }

    #[test]
    fn the_whole_roll_passes_with_the_rfc_5011_timers() {
        let mut root = SigningRoot::new(1).unwrap();
        let timeline = simulate(
            &mut root,
            SimulationConfig {
                start: start(),
                timers: Timers::default(),
                max_probes: crate::simulate::DEFAULT_MAX_SIMULATION_PROBES,
            },
        )
        .unwrap();
        let text = timeline.to_string();
        assert!(timeline.passed(), "{text}");
        assert!(!timeline.static_secure_at_end, "{text}");
        let at = |want: KeyState| {
            timeline.entries.iter().find_map(|e| match &e.event {
                TimelineEvent::Transition(t) if t.to == want => Some(e.at),
                _ => None,
            })
        };
        let pending = at(KeyState::AddPend).expect("new key pending");
        let valid = at(KeyState::Valid).expect("new key promoted");
        assert!(valid >= pending + ADD_HOLD_DOWN, "{text}");
        let revoked = at(KeyState::Revoked).expect("old key revoked");
        let removed = at(KeyState::Removed).expect("old key removed");
        assert!(removed >= revoked + REMOVE_HOLD_DOWN, "{text}");
        // One-day refresh: about 30 probes per hold-down, not thousands.
        assert!(timeline.probes < 80, "{} probes", timeline.probes);
    }

    #[test]
    fn the_same_seed_gives_the_same_keys() {
        assert_eq!(
            SigningRoot::new(7).unwrap().tags(),
            SigningRoot::new(7).unwrap().tags()
        );
        assert_ne!(
            SigningRoot::new(7).unwrap().tags(),
            SigningRoot::new(8).unwrap().tags()
        );
    }

    #[test]
    fn fetched_sets_verify_from_the_anchor_until_the_roll() {
        let mut root = SigningRoot::new(3).unwrap();
        let anchors = anchors_from_text(&root.anchor_text(), &Name::root()).unwrap();
        let old = TrustAnchors::from_static(&Name::root(), &anchors);
        let verifier = Verifier::default();
        let now = start();
        let set = root.fetch(now).unwrap();
        assert_eq!(
            old.verify_dnskey_rrset(&set, now, &verifier),
            Ok(anchors[0].tag())
        );
        for step in [
            RollStep::PublishNew,
            RollStep::DoubleSign,
            RollStep::StopOld,
        ] {
            root.roll(step, now).unwrap();
        }
        let set = root.fetch(now).unwrap();
        assert!(old.verify_dnskey_rrset(&set, now, &verifier).is_err());
        root.roll(RollStep::RevokeOld, now).unwrap();
        let tags = root.tags();
        let old_tag = anchors[0].tag();
        assert!(!tags.contains(&old_tag), "published revoked: {tags:?}");
        assert_eq!(tags.len(), 3);
    }

    #[test]
    fn steps_out_of_order_are_refused() {
        let mut root = SigningRoot::new(4).unwrap();
        assert!(matches!(
            root.roll(RollStep::StopOld, start()),
            Err(SigningRootError::OutOfOrder {
                step: RollStep::StopOld,
                previous: None
            })
        ));
        root.roll(RollStep::PublishNew, start()).unwrap();
        assert!(root.roll(RollStep::PublishNew, start()).is_err());
    }
}
