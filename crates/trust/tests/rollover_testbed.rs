//! The whole root KSK roll end to end against the testbed's root on
//! loopback, with shortened timers and an accelerated clock: which keys the
//! validator's snapshot trusts at each step, with RFC 5011 on and off.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use anchorage_testbed::testbed::RolloverError;
use anchorage_testbed::{AddressPlan, HierarchyConfig, RolloverStep, Testbed, Validity, build};
use anchorage_trust::simulate::{
    RollStep, SimulatedRoot, SimulationConfig, Timeline, TimelineEvent, simulate,
};
use anchorage_trust::utc::unix_secs;
use anchorage_trust::{
    Anchor, AnchorCheckError, KeyState, Timers, Tracker, TrustAnchors, anchors_from_text,
    format_listing,
};
use anchorage_verify::Verifier;
use anchorage_wire::proto::rr::{Name, Record};
use common::{T0, day, fetch_dnskeys};

/// Probes the manual walk may run per phase before it fails.
const MAX_PROBES_PER_PHASE: u32 = 200;

fn shortened() -> Timers {
    Timers {
        add_hold_down: Duration::from_hours(48),
        remove_hold_down: Duration::from_hours(24),
        ..Timers::default()
    }
}

/// Signatures valid from a day before `now` to 400 days after: they must
/// outlive every probe until the next roll step re-signs.
fn validity(now: SystemTime) -> Validity {
    Validity::around(unix_secs(now) as u32, 86_400, 400 * 86_400)
}

fn start_testbed(net: u8, port: u16) -> (Testbed, SocketAddr) {
    let hierarchy = build(HierarchyConfig {
        seed: 5011,
        zones: 2,
        addresses: AddressPlan { net, port },
        validity: validity(day(0.0)),
        defects: false,
    })
    .unwrap();
    let testbed = Testbed::start_with_threads(hierarchy, 1).unwrap();
    let root = SocketAddr::from((testbed.config().addresses.root(), port));
    (testbed, root)
}

/// The tracker and a clock, probing the testbed root as the shell will.
struct Walk {
    tracker: Tracker,
    server: SocketAddr,
    now: SystemTime,
    last: Vec<Record>,
}

impl Walk {
    fn probe(&mut self) {
        self.last = fetch_dnskeys(self.server, ".");
        let obs = self.tracker.observe(&self.last, self.now);
        assert!(
            obs.verdict.is_ok(),
            "probe at {:?}: {:?}",
            self.now,
            obs.verdict
        );
        self.now = self.tracker.next_refresh(self.now).latest;
    }

    fn probe_until(&mut self, tag: u16, state: KeyState) {
        for _ in 0..MAX_PROBES_PER_PHASE {
            self.probe();
            if self.tracker.state_of(tag) == state {
                return;
            }
        }
        panic!("key {tag} never reached {state}");
    }

    fn snapshot(&self) -> TrustAnchors {
        TrustAnchors::from_tracker(&self.tracker, &[])
    }

    fn secure(&self, anchors: &TrustAnchors) -> Result<u16, AnchorCheckError> {
        anchors.verify_dnskey_rrset(&self.last, self.now, &Verifier::default())
    }
}

fn dnskey_anchors(text: &str) -> Vec<Anchor> {
    anchors_from_text(text, &Name::root()).unwrap()
}

#[test]
fn the_tracker_follows_a_full_root_ksk_roll_and_a_static_anchor_does_not() {
    let (testbed, server) = start_testbed(211, 5511);
    let anchors = dnskey_anchors(&testbed.trust_anchor());
    let old_tag = anchors[0].tag();
    let rfc5011_off = TrustAnchors::from_static(&Name::root(), &anchors);
    let mut walk = Walk {
        tracker: Tracker::new(Name::root(), &anchors, shortened(), day(0.0)),
        server,
        now: day(0.0),
        last: Vec::new(),
    };
    walk.probe();
    assert_eq!(walk.snapshot().trusted_tags(), [old_tag]);

    // Publish: the new key is pending, not trusted.
    testbed
        .roll_root(RolloverStep::PublishNew, validity(walk.now))
        .unwrap();
    walk.probe();
    let new = walk
        .tracker
        .keys()
        .iter()
        .find(|k| k.state == KeyState::AddPend)
        .expect("new key AddPend after one probe")
        .tag();
    assert_eq!(walk.snapshot().trusted_tags(), [old_tag]);

    // Hold-down: Valid after two (shortened) days, not before.
    walk.probe_until(new, KeyState::Valid);
    assert!(walk.now >= day(2.0));
    let mut both = vec![old_tag, new];
    both.sort_unstable();
    assert_eq!(walk.snapshot().trusted_tags(), both);

    // Double-sign, then the roll: only the new key signs. Still secure.
    testbed
        .roll_root(RolloverStep::DoubleSign, validity(walk.now))
        .unwrap();
    walk.probe();
    testbed
        .roll_root(RolloverStep::StopOld, validity(walk.now))
        .unwrap();
    walk.probe();
    assert_eq!(walk.secure(&walk.snapshot()), Ok(new));
    assert!(
        walk.secure(&rfc5011_off).is_err(),
        "RFC 5011 off, old anchor only: SERVFAIL after the roll"
    );

    // Revoke: the old key is Revoked at the first probe and no longer trusted.
    testbed
        .roll_root(RolloverStep::RevokeOld, validity(walk.now))
        .unwrap();
    walk.probe();
    assert_eq!(walk.tracker.state_of(old_tag), KeyState::Revoked);
    assert_eq!(walk.snapshot().trusted_tags(), [new]);
    assert_eq!(walk.secure(&walk.snapshot()), Ok(new));
    assert!(walk.secure(&rfc5011_off).is_err());

    // Remove: Removed once absent for the remove hold-down.
    testbed
        .roll_root(RolloverStep::RemoveOld, validity(walk.now))
        .unwrap();
    let removed_at = walk.now;
    walk.probe_until(old_tag, KeyState::Removed);
    assert!(walk.now >= removed_at + Duration::from_hours(24));
    assert_eq!(walk.snapshot().trusted_tags(), [new]);
    assert_eq!(walk.secure(&walk.snapshot()), Ok(new));
    assert!(matches!(
        walk.secure(&rfc5011_off),
        Err(AnchorCheckError::NoAnchorInSet { .. })
    ));
    let listing = format_listing(&walk.tracker.listing());
    assert!(listing.contains("Removed"), "{listing}");
    testbed.stop();
}

/// The testbed's root as the simulation driver sees it.
struct TestbedRoot {
    testbed: Testbed,
    server: SocketAddr,
}

impl SimulatedRoot for TestbedRoot {
    type Error = RolloverError;

    fn anchor_text(&self) -> String {
        self.testbed.trust_anchor()
    }

    fn roll(&mut self, step: RollStep, now: SystemTime) -> Result<(), RolloverError> {
        let step = match step {
            RollStep::PublishNew => RolloverStep::PublishNew,
            RollStep::DoubleSign => RolloverStep::DoubleSign,
            RollStep::StopOld => RolloverStep::StopOld,
            RollStep::RevokeOld => RolloverStep::RevokeOld,
            RollStep::RemoveOld => RolloverStep::RemoveOld,
        };
        self.testbed.roll_root(step, validity(now))
    }

    fn fetch(&mut self, _now: SystemTime) -> Result<Vec<Record>, RolloverError> {
        Ok(fetch_dnskeys(self.server, "."))
    }
}

/// The simulation of the roll against a testbed root on 127.`net`.x.x:`port`,
/// from day 0 with the shortened timers and at most `max_probes` probes.
fn simulate_on_testbed(net: u8, port: u16, max_probes: u32) -> Timeline {
    let (testbed, server) = start_testbed(net, port);
    let mut root = TestbedRoot { testbed, server };
    let config = SimulationConfig {
        start: day(0.0),
        timers: shortened(),
        max_probes,
    };
    let timeline = simulate(&mut root, config).unwrap();
    root.testbed.stop();
    timeline
}

#[test]
fn the_simulation_runs_the_whole_roll_and_prints_its_timeline() {
    let timeline = simulate_on_testbed(212, 5512, 500);
    let text = timeline.to_string();
    println!("{text}");
    assert!(timeline.passed(), "{text}");
    assert!(!timeline.static_secure_at_end);
    let rolls: Vec<RollStep> = timeline
        .entries
        .iter()
        .filter_map(|e| match e.event {
            TimelineEvent::Roll(step) => Some(step),
            _ => None,
        })
        .collect();
    assert_eq!(
        rolls,
        [
            RollStep::PublishNew,
            RollStep::DoubleSign,
            RollStep::StopOld,
            RollStep::RevokeOld,
            RollStep::RemoveOld
        ]
    );
    assert!(text.contains("AddPend -> Valid"), "{text}");
    assert!(
        text.contains("BOGUS (SERVFAIL) with the old static anchor"),
        "{text}"
    );
    assert!(text.starts_with(&anchorage_trust::utc::format_utc(day(0.0))));
    assert!(unix_secs(timeline.entries.last().unwrap().at) > T0);
}

#[test]
fn a_simulation_cut_short_by_its_probe_limit_fails() {
    let timeline = simulate_on_testbed(213, 5513, 5);
    assert!(!timeline.completed && !timeline.passed());
    assert!(timeline.to_string().contains("FAIL after 5 probes"));
}
