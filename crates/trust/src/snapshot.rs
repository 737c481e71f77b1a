//! What the validator trusts: an immutable [`TrustAnchors`] value, swapped
//! whole when the tracker changes state.
//!
//! [`SharedTrustAnchors`] holds it in an `arc_swap::ArcSwap`: a query loads
//! the current snapshot with one atomic operation and no lock, so a tracker
//! publishing a new snapshot never stalls queries, and a query never sees
//! half an update. A std `RwLock<Arc<_>>` would take a lock per query (and
//! a writer waiting on it blocks new readers on some platforms).

use std::sync::Arc;
use std::time::SystemTime;

use anchorage_verify::key::FLAG_REVOKE;
use anchorage_verify::rrsig::as_rrsig;
use anchorage_verify::{Budget, DnskeyVerifier, Scratch, Verifier, VerifyError};
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};
use arc_swap::ArcSwap;

use crate::anchor::{ANCHOR_TEXT_TTL, Anchor};
use crate::key::{DsAnchor, KeyMaterial};
use crate::tracker::Tracker;
use crate::update::dnskey_of;

/// The keys the validator may start a chain from: tracked keys in Valid or
/// Missing state (RFC 5011 §4.2) plus static anchors.
#[derive(Debug)]
pub struct TrustAnchors {
    zone: Name,
    keys: Vec<(KeyMaterial, DnskeyVerifier)>,
    ds: Vec<DsAnchor>,
    tags: Vec<u16>,
    trust_point_revoked: bool,
}

/// Why a DNSKEY RRset does not verify from the trust anchors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorCheckError {
    /// No DNSKEY in the set is an anchor.
    #[error("no DNSKEY in the set is a trust anchor (trusted tags {trusted:?})")]
    NoAnchorInSet {
        /// Tags the snapshot trusts.
        trusted: Vec<u16>,
    },
    /// Anchored keys are present but none of their RRSIGs verifies.
    #[error("no RRSIG by a trust anchor verifies the DNSKEY set")]
    NoValidSignature {
        /// The last failure.
        #[source]
        last: Option<VerifyError>,
    },
}

impl TrustAnchors {
    /// The snapshot of `tracker`'s trusted keys plus `static_anchors`.
    pub fn from_tracker(tracker: &Tracker, static_anchors: &[Anchor]) -> Self {
        let zone = tracker.zone().clone();
        let mut out = Self::from_static(&zone, static_anchors);
        for key in tracker.keys().iter().filter(|k| k.state.is_trusted()) {
            match (&key.material, &key.ds) {
                (Some(m), _) => out.add_key(m),
                (None, Some(ds)) => out.add_ds(ds),
                (None, None) => {}
            }
        }
        out.trust_point_revoked = tracker.trust_point_revoked() && static_anchors.is_empty();
        out.finish()
    }

    /// A snapshot of `anchors` alone (RFC 5011 off: the anchors never change).
    pub fn from_static(zone: &Name, anchors: &[Anchor]) -> Self {
        let mut out = Self {
            zone: zone.clone(),
            keys: Vec::new(),
            ds: Vec::new(),
            tags: Vec::new(),
            trust_point_revoked: false,
        };
        for anchor in anchors {
            match anchor {
                Anchor::Dnskey(m) => out.add_key(m),
                Anchor::Ds(ds) => out.add_ds(ds),
            }
        }
        out.finish()
    }

    /// The trust point.
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// Anchored keys, ready to verify.
    pub fn keys(&self) -> impl Iterator<Item = &DnskeyVerifier> {
        self.keys.iter().map(|(_, v)| v)
    }

    /// Anchors known only by DS.
    pub fn ds(&self) -> &[DsAnchor] {
        &self.ds
    }

    /// Trusted key tags, ascending (RFC 8145 §5, RFC 8509 §3).
    pub fn trusted_tags(&self) -> &[u16] {
        &self.tags
    }

    /// Whether a key with this tag is trusted (RFC 8509 §3.2).
    pub fn is_trusted_tag(&self, tag: u16) -> bool {
        self.tags.binary_search(&tag).is_ok()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ds.is_empty()
    }

    /// Whether every tracked key was revoked: data under the trust point is insecure.
    pub fn trust_point_revoked(&self) -> bool {
        self.trust_point_revoked
    }

    /// The snapshot as records owned by the trust point: a DNSKEY per
    /// anchored key, a DS per anchor known only by digest. The validator
    /// builds its own anchor set from them; their TTL means nothing.
    pub fn records(&self) -> Vec<Record> {
        let record = |data| Record::from_rdata(self.zone.clone(), ANCHOR_TEXT_TTL, data);
        let keys = self
            .keys
            .iter()
            .map(|(m, _)| record(RData::DNSSEC(DNSSECRData::DNSKEY(m.dnskey()))));
        let ds = self
            .ds
            .iter()
            .map(|ds| record(RData::DNSSEC(DNSSECRData::DS(ds.ds()))));
        keys.chain(ds).collect()
    }

    /// Whether `key` (as published, REVOKE clear) is an anchor.
    pub fn anchors_key(&self, material: &KeyMaterial) -> bool {
        self.keys.iter().any(|(m, _)| m == material)
            || self.ds.iter().any(|ds| ds.designates(&self.zone, material))
    }

    /// Checks that the trust point's DNSKEY RRset in `records` is signed by
    /// an anchor at `now`; returns the signer's tag. What the validator does
    /// at the top of every chain.
    pub fn verify_dnskey_rrset(
        &self,
        records: &[Record],
        now: SystemTime,
        verifier: &Verifier,
    ) -> Result<u16, AnchorCheckError> {
        let set: Vec<Record> = records
            .iter()
            .filter(|r| r.name == self.zone && dnskey_of(r).is_some())
            .cloned()
            .collect();
        let anchored: Vec<DnskeyVerifier> = set
            .iter()
            .filter_map(dnskey_of)
            .filter(|k| k.flags() & FLAG_REVOKE == 0)
            .filter(|k| self.anchors_key(&KeyMaterial::from_dnskey(k)))
            .map(|k| DnskeyVerifier::new(&self.zone, k))
            .collect();
        if anchored.is_empty() {
            return Err(AnchorCheckError::NoAnchorInSet {
                trusted: self.tags.clone(),
            });
        }
        let mut budget = Budget::default();
        let mut scratch = Scratch::new();
        let mut last = None;
        let sigs = records.iter().filter(|r| {
            r.name == self.zone
                && as_rrsig(r).is_ok_and(|s| s.input().type_covered == RecordType::DNSKEY)
        });
        for sig in sigs {
            match verifier.verify_with_keys(&anchored, &set, sig, now, &mut budget, &mut scratch) {
                Ok(found) => return Ok(anchored[found.index].tag()),
                Err(why) => last = Some(why),
            }
        }
        Err(AnchorCheckError::NoValidSignature { last })
    }

    fn add_key(&mut self, material: &KeyMaterial) {
        if !self.keys.iter().any(|(m, _)| m == material) {
            let verifier = material.verifier(&self.zone, false);
            self.keys.push((material.clone(), verifier));
        }
    }

    fn add_ds(&mut self, ds: &DsAnchor) {
        let known =
            self.ds.contains(ds) || self.keys.iter().any(|(m, _)| ds.designates(&self.zone, m));
        if !known {
            self.ds.push(ds.clone());
        }
    }

    fn finish(mut self) -> Self {
        // A DS anchor whose key is also anchored adds nothing.
        let zone = self.zone.clone();
        let keys = &self.keys;
        self.ds
            .retain(|ds| !keys.iter().any(|(m, _)| ds.designates(&zone, m)));
        let mut tags: Vec<u16> = self
            .keys
            .iter()
            .map(|(_, v)| v.tag())
            .chain(self.ds.iter().map(|ds| ds.tag))
            .collect();
        tags.sort_unstable();
        tags.dedup();
        self.tags = tags;
        self
    }
}

/// The current [`TrustAnchors`], read by every query without a lock and
/// replaced whole by the tracker's shell.
#[derive(Debug)]
pub struct SharedTrustAnchors {
    current: ArcSwap<TrustAnchors>,
}

impl SharedTrustAnchors {
    /// Starts with `initial`.
    pub fn new(initial: TrustAnchors) -> Self {
        Self {
            current: ArcSwap::from_pointee(initial),
        }
    }

    /// The snapshot in force; hold it for the whole query.
    pub fn load(&self) -> Arc<TrustAnchors> {
        self.current.load_full()
    }

    /// Replaces the snapshot; queries already running keep the old one.
    pub fn publish(&self, next: TrustAnchors) {
        self.current.store(Arc::new(next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anchor::anchors_from_text;
    use crate::timers::Timers;
    use crate::utc::from_unix_secs;

    const KSK_2024: &str = ". IN DNSKEY 257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc=";
    const DS_2017: &str =
        ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";

    #[test]
    fn records_give_a_dnskey_per_key_and_a_ds_per_digest_only_anchor() {
        let anchors =
            anchors_from_text(&format!("{DS_2017}\n{KSK_2024}\n"), &Name::root()).unwrap();
        let tracker = Tracker::new(
            Name::root(),
            &anchors,
            Timers::default(),
            from_unix_secs(1_800_000_000),
        );
        let records = TrustAnchors::from_tracker(&tracker, &[]).records();
        assert_eq!(records.len(), 2);
        assert!(records.iter().all(|r| r.name.is_root()));
        let Anchor::Dnskey(key) = &anchors[1] else {
            panic!("KSK-2024 is a DNSKEY anchor");
        };
        let dnskeys: Vec<KeyMaterial> = records
            .iter()
            .filter_map(dnskey_of)
            .map(KeyMaterial::from_dnskey)
            .collect();
        assert_eq!(dnskeys, std::slice::from_ref(key));
        let ds: Vec<(u16, u8, u8, Vec<u8>)> = records
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DS(ds)) => Some((
                    ds.key_tag(),
                    u8::from(ds.algorithm()),
                    u8::from(ds.digest_type()),
                    ds.digest().to_vec(),
                )),
                _ => None,
            })
            .collect();
        let Anchor::Ds(want) = &anchors[0] else {
            panic!("KSK-2017 is a DS anchor");
        };
        assert_eq!(
            ds,
            [(
                want.tag,
                want.algorithm,
                want.digest_type,
                want.digest.clone()
            )]
        );
    }

    #[test]
    fn records_leave_out_keys_no_longer_trusted() {
        let anchors = anchors_from_text(KSK_2024, &Name::root()).unwrap();
        let mut tracker = Tracker::new(
            Name::root(),
            &anchors,
            Timers::default(),
            from_unix_secs(1_800_000_000),
        );
        tracker.keys[0].state = crate::key::KeyState::Revoked;
        assert!(
            TrustAnchors::from_tracker(&tracker, &[])
                .records()
                .is_empty()
        );
    }
}
