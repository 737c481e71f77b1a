//! RFC 5011 §4 state machine on an injected clock, with synthetic root
//! keys: the scenarios of ROLLOVER.md §5 that need no network.

mod common;

use std::time::Duration;

use anchorage_trust::{
    Anchor, Event, KeyState, Timers, Tracker, TrustAnchors, UpdateError, builtin_root_anchors,
};
use anchorage_wire::proto::rr::Name;
use common::{anchor, day, ksk, material, revoked, signed_set, zsk};

fn tracker(anchors: &[Anchor]) -> Tracker {
    Tracker::new(Name::root(), anchors, Timers::default(), day(0.0))
}

#[test]
fn new_key_goes_addpend_then_valid_after_the_30_day_hold_down() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a)]);
    let obs = t.observe(&signed_set(&[&a, &b, &zsk(9)], &[&a], day(0.0)), day(0.0));
    assert_eq!(obs.verdict.unwrap().signer, a.key_tag());
    assert_eq!(t.state_of(b.key_tag()), KeyState::AddPend);
    assert_eq!(
        t.state_of(zsk(9).key_tag()),
        KeyState::Start,
        "ZSKs are not tracked"
    );
    assert!(!obs.anchors_changed, "an AddPend key is not trusted");
    for d in 1..30 {
        let d = f64::from(d);
        let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(d)), day(d));
        assert_eq!(t.state_of(b.key_tag()), KeyState::AddPend, "day {d}");
    }
    let obs = t.observe(&signed_set(&[&a, &b], &[&a], day(30.0)), day(30.0));
    assert_eq!(t.state_of(b.key_tag()), KeyState::Valid);
    assert!(obs.anchors_changed);
    assert_eq!(obs.transitions[0].event, Event::AddTime);
    let snapshot = TrustAnchors::from_tracker(&t, &[]);
    let mut tags = vec![a.key_tag(), b.key_tag()];
    tags.sort_unstable();
    assert_eq!(snapshot.trusted_tags(), tags);
}

#[test]
fn a_set_not_signed_by_a_trusted_key_never_moves_a_key_to_addpend() {
    let (a, attacker) = (ksk(1), ksk(66));
    let mut t = tracker(&[anchor(&a)]);
    // Signed by the attacker's own key only.
    let obs = t.observe(
        &signed_set(&[&a, &attacker], &[&attacker], day(0.0)),
        day(0.0),
    );
    assert!(matches!(
        obs.verdict,
        Err(UpdateError::NotSignedByTrustedKey { trusted: 1, .. })
    ));
    assert!(obs.transitions.is_empty());
    assert_eq!(t.state_of(attacker.key_tag()), KeyState::Start);
    // A trusted key's signature over another set does not carry over.
    let mut forged = signed_set(&[&a, &attacker], &[&attacker], day(0.0));
    let real_sig = signed_set(&[&a], &[&a], day(0.0)).pop().unwrap();
    forged.push(real_sig);
    let obs = t.observe(&forged, day(0.0));
    assert!(obs.verdict.is_err());
    assert_eq!(t.state_of(attacker.key_tag()), KeyState::Start);
    // An unsigned set and a set without the trusted key change nothing either.
    assert!(
        t.observe(&signed_set(&[&a, &attacker], &[], day(0.0)), day(0.0))
            .verdict
            .is_err()
    );
    assert!(
        t.observe(&signed_set(&[&attacker], &[&attacker], day(0.0)), day(0.0))
            .verdict
            .is_err()
    );
    assert_eq!(
        t.state_of(a.key_tag()),
        KeyState::Valid,
        "never zero trusted keys"
    );
    assert_eq!(t.probe().failures, 4);
}

#[test]
fn an_expired_signature_is_no_update() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a)]);
    let stale = signed_set(&[&a, &b], &[&a], day(0.0));
    let obs = t.observe(&stale, day(41.0));
    assert!(matches!(
        obs.verdict,
        Err(UpdateError::NotSignedByTrustedKey { last: Some(_), .. })
    ));
    assert_eq!(t.state_of(b.key_tag()), KeyState::Start);
}

#[test]
fn a_key_that_vanishes_during_its_hold_down_goes_back_to_start() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a)]);
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(0.0)), day(0.0));
    assert_eq!(t.state_of(b.key_tag()), KeyState::AddPend);
    let obs = t.observe(&signed_set(&[&a], &[&a], day(10.0)), day(10.0));
    assert_eq!(obs.transitions[0].to, KeyState::Start);
    assert_eq!(obs.transitions[0].event, Event::KeyRem);
    assert_eq!(t.state_of(b.key_tag()), KeyState::Start);
    // Back again: a fresh hold-down from day 20, not from day 0.
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(20.0)), day(20.0));
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(31.0)), day(31.0));
    assert_eq!(t.state_of(b.key_tag()), KeyState::AddPend);
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(50.0)), day(50.0));
    assert_eq!(t.state_of(b.key_tag()), KeyState::Valid);
}

#[test]
fn a_self_signed_revocation_is_applied_at_once_and_the_key_stops_being_trusted() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a), anchor(&b)]);
    let a_rev = revoked(1);
    let obs = t.observe(
        &signed_set(&[&a_rev, &b], &[&a_rev, &b], day(0.0)),
        day(0.0),
    );
    assert!(obs.verdict.is_ok());
    assert_eq!(t.state_of(a.key_tag()), KeyState::Revoked);
    assert_eq!(obs.transitions[0].event, Event::RevBit);
    assert!(obs.anchors_changed);
    let snapshot = TrustAnchors::from_tracker(&t, &[]);
    assert_eq!(snapshot.trusted_tags(), [b.key_tag()]);
    // Even unrevoked again, a revoked key is never re-added.
    let _ = t.observe(&signed_set(&[&a, &b], &[&b], day(1.0)), day(1.0));
    assert_eq!(t.state_of(a.key_tag()), KeyState::Revoked);
    // Absent for the remove hold-down: Removed, never back.
    let _ = t.observe(&signed_set(&[&b], &[&b], day(2.0)), day(2.0));
    assert_eq!(t.state_of(a.key_tag()), KeyState::Revoked);
    let _ = t.observe(&signed_set(&[&b], &[&b], day(32.0)), day(32.0));
    assert_eq!(t.state_of(a.key_tag()), KeyState::Removed);
    let _ = t.observe(&signed_set(&[&a, &b], &[&b], day(40.0)), day(40.0));
    assert_eq!(t.state_of(a.key_tag()), KeyState::Removed);
}

#[test]
fn a_revoke_bit_without_a_valid_self_signature_does_nothing() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a), anchor(&b)]);
    // A published revoked, but only B signs: no self-signature.
    let obs = t.observe(&signed_set(&[&revoked(1), &b], &[&b], day(0.0)), day(0.0));
    assert!(obs.verdict.is_ok());
    assert_eq!(t.state_of(a.key_tag()), KeyState::Valid);
    // An RRSIG claiming the revoked tag but made by another key.
    let mut set = signed_set(&[&revoked(1), &b], &[&b], day(1.0));
    let mut impostor = ksk(77);
    impostor.set_flags(0x0101 | 0x0080);
    let fake = signed_set(&[&revoked(1), &b], &[&impostor], day(1.0))
        .pop()
        .unwrap();
    set.push(fake);
    let _ = t.observe(&set, day(1.0));
    assert!(
        [KeyState::Valid, KeyState::Missing].contains(&t.state_of(a.key_tag())),
        "not revoked"
    );
}

#[test]
fn a_revoked_key_alone_revokes_the_trust_point_and_says_so() {
    let a = ksk(1);
    let mut t = tracker(&[anchor(&a)]);
    let a_rev = revoked(1);
    let obs = t.observe(&signed_set(&[&a_rev], &[&a_rev], day(0.0)), day(0.0));
    assert!(obs.verdict.is_err(), "a revoked key validates nothing");
    assert_eq!(t.state_of(a.key_tag()), KeyState::Revoked);
    assert!(t.trust_point_revoked());
    let snapshot = TrustAnchors::from_tracker(&t, &[]);
    assert!(snapshot.is_empty() && snapshot.trust_point_revoked());
}

#[test]
fn addpend_key_signing_alone_before_its_hold_down_is_rejected() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a)]);
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(0.0)), day(0.0));
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(10.0)), day(10.0));
    let obs = t.observe(&signed_set(&[&a, &b], &[&b], day(20.0)), day(20.0));
    assert!(obs.verdict.is_err(), "addpend_early");
    assert_eq!(t.state_of(b.key_tag()), KeyState::AddPend);
    // addpend_nosignnew: an AddPend key cannot introduce another key.
    let c = ksk(3);
    let _ = t.observe(&signed_set(&[&a, &b, &c], &[&b], day(21.0)), day(21.0));
    assert_eq!(t.state_of(c.key_tag()), KeyState::Start);
    assert!(!TrustAnchors::from_tracker(&t, &[]).is_trusted_tag(b.key_tag()));
}

#[test]
fn addpend_seen_once_then_signing_alone_stays_addpend() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a)]);
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(0.0)), day(0.0));
    let obs = t.observe(&signed_set(&[&a, &b], &[&b], day(61.0)), day(61.0));
    assert!(obs.verdict.is_err());
    assert_eq!(t.state_of(b.key_tag()), KeyState::AddPend);
}

#[test]
fn addpend_seen_twice_is_promoted_when_it_alone_signs_after_the_hold_down() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a)]);
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(0.0)), day(0.0));
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(10.0)), day(10.0));
    let obs = t.observe(&signed_set(&[&a, &b], &[&b], day(61.0)), day(61.0));
    assert_eq!(obs.verdict.unwrap().signer, b.key_tag());
    assert_eq!(t.state_of(b.key_tag()), KeyState::Valid);
}

#[test]
fn a_missing_key_stays_trusted_and_returns_to_valid() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a), anchor(&b)]);
    let obs = t.observe(&signed_set(&[&b], &[&b], day(0.0)), day(0.0));
    assert_eq!(t.state_of(a.key_tag()), KeyState::Missing);
    assert!(!obs.anchors_changed, "Missing is still trusted");
    assert!(TrustAnchors::from_tracker(&t, &[]).is_trusted_tag(a.key_tag()));
    let _ = t.observe(&signed_set(&[&a, &b], &[&b], day(5.0)), day(5.0));
    assert_eq!(t.state_of(a.key_tag()), KeyState::Valid);
}

#[test]
fn when_every_trusted_key_is_missing_none_is_ever_removed() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a), anchor(&b)]);
    // Only an untrusted key signs: no valid update, nothing changes.
    let c = ksk(3);
    for d in [0.0, 400.0, 800.0] {
        let _ = t.observe(&signed_set(&[&c], &[&c], day(d)), day(d));
    }
    assert_eq!(t.trusted_tags().len(), 2);
    // Valid updates by A without B for a year: B Missing, then Removed as A is Valid.
    let _ = t.observe(&signed_set(&[&a], &[&a], day(1.0)), day(1.0));
    assert_eq!(t.state_of(b.key_tag()), KeyState::Missing);
    let _ = t.observe(&signed_set(&[&a], &[&a], day(368.0)), day(368.0));
    assert_eq!(t.state_of(b.key_tag()), KeyState::Removed);
    assert_eq!(t.trusted_tags(), [a.key_tag()]);
}

#[test]
fn eleven_new_keys_beside_two_valid_ones_are_all_tracked() {
    let (a, b) = (ksk(1), ksk(2));
    let new: Vec<_> = (10..21).map(ksk).collect();
    let mut published: Vec<_> = new.iter().collect();
    published.push(&a);
    published.push(&b);
    let mut t = tracker(&[anchor(&a), anchor(&b)]);
    let obs = t.observe(&signed_set(&published, &[&a], day(0.0)), day(0.0));
    assert_eq!(obs.transitions.len(), 11);
    assert!(
        new.iter()
            .all(|k| t.state_of(k.key_tag()) == KeyState::AddPend)
    );
    let _ = t.observe(&signed_set(&published, &[&b], day(31.0)), day(31.0));
    assert!(
        new.iter()
            .all(|k| t.state_of(k.key_tag()) == KeyState::Valid)
    );
    assert_eq!(t.trusted_tags().len(), 13);
}

#[test]
fn an_addpend_key_whose_introducer_is_revoked_goes_back_to_start() {
    let (a, b, c) = (ksk(1), ksk(2), ksk(3));
    let mut t = tracker(&[anchor(&a), anchor(&b)]);
    // Only A signs the set that introduces C.
    let _ = t.observe(&signed_set(&[&a, &b, &c], &[&a], day(0.0)), day(0.0));
    assert_eq!(t.state_of(c.key_tag()), KeyState::AddPend);
    let a_rev = revoked(1);
    let obs = t.observe(
        &signed_set(&[&a_rev, &b, &c], &[&a_rev, &b], day(1.0)),
        day(1.0),
    );
    assert!(
        obs.transitions
            .iter()
            .any(|t| t.event == Event::IntroducerRevoked)
    );
    // Seen again in the same valid update, C starts a new hold-down.
    assert_eq!(t.state_of(c.key_tag()), KeyState::AddPend);
    let due = t
        .keys()
        .iter()
        .find(|k| k.tag() == c.key_tag())
        .unwrap()
        .add_due;
    assert_eq!(due, Some(day(31.0)));
}

#[test]
fn a_ds_anchor_binds_to_its_dnskey_and_validates_at_once() {
    let (a, b) = (ksk(1), ksk(2));
    let ds = anchorage_trust::anchors_from_text(
        &format!(
            ". IN DS {} 15 2 {}\n",
            a.key_tag(),
            data_encoding::HEXUPPER.encode(&sha256_ds(&a))
        ),
        &Name::root(),
    )
    .unwrap();
    let mut t = tracker(&ds);
    let obs = t.observe(&signed_set(&[&a, &b], &[&a], day(0.0)), day(0.0));
    assert!(obs.verdict.is_ok());
    assert!(obs.anchors_changed, "the snapshot now holds the key itself");
    assert_eq!(t.keys()[0].material.as_ref(), Some(&material(&a)));
    assert_eq!(t.state_of(b.key_tag()), KeyState::AddPend);
}

#[test]
fn both_builtin_root_keys_are_trusted_before_either_is_seen() {
    let t = tracker(&builtin_root_anchors(day(0.0)));
    assert_eq!(t.trusted_tags(), [20326, 38696]);
}

#[test]
fn a_clock_gone_back_promotes_nothing() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a)]);
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(10.0)), day(10.0));
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(5.0)), day(5.0));
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(35.0)), day(35.0));
    assert_eq!(t.state_of(b.key_tag()), KeyState::AddPend, "due day 40");
    let _ = t.observe(&signed_set(&[&a, &b], &[&a], day(40.0)), day(40.0));
    assert_eq!(t.state_of(b.key_tag()), KeyState::Valid);
}

#[test]
fn refresh_follows_half_the_ttl_and_failures_retry_without_changing_keys() {
    let a = ksk(1);
    let mut t = tracker(&[anchor(&a)]);
    let first = t.next_refresh(day(0.0));
    assert_eq!(
        (first.earliest, first.latest),
        (day(0.0), day(0.0)),
        "probe at once"
    );
    // No success yet: retry in an hour.
    let retry = t.on_probe_failure(day(0.0));
    assert_eq!(retry.latest, day(0.0) + Duration::from_hours(1));
    let _ = t.observe(&signed_set(&[&a], &[&a], day(0.0)), day(0.0));
    let next = t.next_refresh(day(0.0));
    assert_eq!(next.latest, day(1.0), "172800 / 2 s");
    assert_eq!(next.earliest, day(0.9), "90 % of the interval");
    let keys_before = t.keys().to_vec();
    let retry = t.on_probe_failure(day(1.0));
    assert_eq!(retry.latest, day(1.0) + Duration::from_mins(288), "17280 s");
    assert_eq!(t.keys(), keys_before);
    assert_eq!(t.probe().failures, 1);
}

#[test]
fn configured_anchors_join_a_resumed_state_unless_it_revoked_them() {
    let (a, b, c) = (ksk(1), ksk(2), ksk(3));
    let mut t = tracker(&[anchor(&a), anchor(&b)]);
    let a_rev = revoked(1);
    let _ = t.observe(
        &signed_set(&[&a_rev, &b], &[&a_rev, &b], day(0.0)),
        day(0.0),
    );
    let added = t.reconcile(&[anchor(&a), anchor(&b), anchor(&c)], day(1.0));
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].tag, c.key_tag());
    assert_eq!(t.state_of(a.key_tag()), KeyState::Revoked, "the state wins");
    assert_eq!(t.state_of(c.key_tag()), KeyState::Valid);
}

#[test]
fn the_same_anchor_twice_is_one_key() {
    let a = ksk(1);
    let ds = Anchor::Ds(anchorage_trust::DsAnchor {
        tag: a.key_tag(),
        algorithm: 15,
        digest_type: 2,
        digest: sha256_ds(&a),
    });
    let t = tracker(&[anchor(&a), ds, anchor(&a)]);
    assert_eq!(t.keys().len(), 1);
    assert!(t.keys()[0].ds.is_some() && t.keys()[0].material.is_some());
}

fn sha256_ds(key: &anchorage_testbed::keys::ZoneKey) -> Vec<u8> {
    let mut data = vec![0u8];
    data.extend(key.rdata_bytes());
    ring::digest::digest(&ring::digest::SHA256, &data)
        .as_ref()
        .to_vec()
}

#[test]
fn the_listing_shows_each_key_with_its_next_due_transition() {
    let (a, b) = (ksk(1), ksk(2));
    let mut t = tracker(&[anchor(&a), anchor(&b)]);
    let c = ksk(3);
    let a_rev = revoked(1);
    // Introduced by both A and B: A's revocation leaves C pending.
    let _ = t.observe(&signed_set(&[&a, &b, &c], &[&a, &b], day(0.0)), day(0.0));
    let obs = t.observe(
        &signed_set(&[&a_rev, &b, &c], &[&a_rev, &b], day(1.0)),
        day(1.0),
    );
    assert!(obs.transitions.iter().all(|t| t.event == Event::RevBit));
    let rows = t.listing();
    let row = |tag| rows.iter().find(|r| r.tag == tag).unwrap();
    assert_eq!(row(a.key_tag()).state, KeyState::Revoked);
    assert_eq!(row(a.key_tag()).revoked_tag, Some(a_rev.key_tag()));
    assert_eq!(row(a.key_tag()).next, None, "still published");
    assert_eq!(row(b.key_tag()).next, None);
    assert_eq!(row(c.key_tag()).first_seen, Some(day(0.0)));
    assert_eq!(row(c.key_tag()).algorithm, 15);
    assert_eq!(
        row(c.key_tag()).next,
        Some(anchorage_trust::Due {
            at: day(30.0),
            to: KeyState::Valid
        })
    );
    let text = anchorage_trust::format_listing(&rows);
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.contains(&format!("{} ({})", a.key_tag(), a_rev.key_tag())),
        "{text}"
    );
    assert!(
        text.contains("Valid at 2027-02-14T08:00:00Z (seen 2x)"),
        "{text}"
    );
}
