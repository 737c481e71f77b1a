//! The captured root DNSKEY RRsets (2024-08, 2025-08, 2026-05) replayed in
//! time order, each observed at its own capture time.

mod common;

use anchorage_trust::{
    BUILTIN_ROOT_ANCHORS, KeyState, Timers, Tracker, TrustAnchors, builtin_root_anchors,
};
use anchorage_verify::Verifier;
use anchorage_wire::proto::rr::Name;
use common::vector;

const KSK_2017: u16 = 20326;
const KSK_2024: u16 = 38696;
const VECTORS: [&str; 3] = [
    "root-dnskey-2024-08.zone",
    "root-dnskey-2025-08.zone",
    "root-dnskey-2026-05.zone",
];

#[test]
fn seeded_with_ksk_2017_only_the_tracker_adds_ksk_2024_over_the_captures() {
    let (_, first) = vector(VECTORS[0]);
    let only_2017 = vec![anchorage_trust::Anchor::Ds(BUILTIN_ROOT_ANCHORS[0].ds())];
    let mut t = Tracker::new(Name::root(), &only_2017, Timers::default(), first);
    let expected = [
        (KeyState::Valid, KeyState::Start),
        (KeyState::Valid, KeyState::AddPend),
        (KeyState::Valid, KeyState::Valid),
    ];
    for (file, (old, new)) in VECTORS.iter().zip(expected) {
        let (records, now) = vector(file);
        let obs = t.observe(&records, now);
        assert_eq!(obs.verdict.unwrap().signer, KSK_2017, "{file}");
        assert_eq!(t.state_of(KSK_2017), old, "{file}");
        assert_eq!(t.state_of(KSK_2024), new, "{file}");
        assert_eq!(t.keys().len(), if new == KeyState::Start { 1 } else { 2 });
    }
    // The tracker's snapshot validates the 2026 set, from either key.
    let (records, now) = vector(VECTORS[2]);
    let snapshot = TrustAnchors::from_tracker(&t, &[]);
    assert_eq!(snapshot.trusted_tags(), [KSK_2017, KSK_2024]);
    assert_eq!(
        snapshot.verify_dnskey_rrset(&records, now, &Verifier::default()),
        Ok(KSK_2017)
    );
}

#[test]
fn seeded_with_both_builtin_keys_both_stay_valid_throughout() {
    let (_, first) = vector(VECTORS[0]);
    let mut t = Tracker::new(
        Name::root(),
        &builtin_root_anchors(first),
        Timers::default(),
        first,
    );
    for file in VECTORS {
        let (records, now) = vector(file);
        let obs = t.observe(&records, now);
        assert!(obs.verdict.is_ok(), "{file}");
        assert!(obs.transitions.is_empty(), "{file}: {:?}", obs.transitions);
        assert_eq!(t.state_of(KSK_2017), KeyState::Valid, "{file}");
        assert_eq!(t.state_of(KSK_2024), KeyState::Valid, "{file}");
    }
    // Both DS anchors are now bound to their keys.
    assert!(t.keys().iter().all(|k| k.material.is_some()));
}

#[test]
fn a_capture_observed_after_its_signatures_expired_changes_nothing() {
    let (records, now) = vector(VECTORS[1]);
    let only_2017 = vec![anchorage_trust::Anchor::Ds(BUILTIN_ROOT_ANCHORS[0].ds())];
    let mut t = Tracker::new(Name::root(), &only_2017, Timers::default(), now);
    let late = now + std::time::Duration::from_hours(60 * 24);
    assert!(t.observe(&records, late).verdict.is_err());
    assert_eq!(t.state_of(KSK_2024), KeyState::Start);
}
