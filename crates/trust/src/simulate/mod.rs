//! The rollover readiness check: drives a whole root KSK roll (publish →
//! hold-down → double-sign → switch → revoke → remove) against a root the
//! caller serves, on an accelerated clock, and returns a printable timeline.
//!
//! Beside the tracker it follows a resolver with RFC 5011 off and only the
//! old anchor, so the timeline shows the failure the tracker avoids.
//!
//! # Limitations
//! The root is reached through [`SimulatedRoot`]; [`SigningRoot`] is the
//! in-process root `anchorage trust simulate` uses. Probes run at the end
//! of each refresh window, without jitter.

mod root;

pub use root::{SIMULATED_SIGNATURE_LIFETIME, SigningRoot, SigningRootError};

use std::fmt;
use std::time::SystemTime;

use anchorage_verify::Verifier;
use anchorage_wire::proto::rr::{Name, Record};

use crate::anchor::{AnchorError, anchors_from_text};
use crate::key::{KeyState, Transition};
use crate::snapshot::TrustAnchors;
use crate::timers::Timers;
use crate::tracker::Tracker;
use crate::update::UpdateError;
use crate::utc::format_utc;

/// Probes one simulation may run before it gives up (enough for the
/// RFC 5011 defaults at a one-hour refresh: two 30-day hold-downs are 1440).
pub const DEFAULT_MAX_SIMULATION_PROBES: u32 = 5_000;

/// One step of a root KSK roll (RFC 5011 §6; RFC 7583 §3.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollStep {
    /// Publish a new KSK, not signing yet.
    PublishNew,
    /// The new KSK signs the DNSKEY RRset too.
    DoubleSign,
    /// The old KSK stops signing.
    StopOld,
    /// The old KSK is published revoked and self-signs.
    RevokeOld,
    /// The old KSK is removed.
    RemoveOld,
}

impl RollStep {
    /// What the step does, for the timeline.
    pub fn describe(self) -> &'static str {
        match self {
            Self::PublishNew => "root publishes a new KSK",
            Self::DoubleSign => "root signs the DNSKEY set with both KSKs",
            Self::StopOld => "root stops signing with the old KSK (the roll)",
            Self::RevokeOld => "root publishes the old KSK revoked, self-signed",
            Self::RemoveOld => "root removes the revoked KSK",
        }
    }
}

/// A root zone whose KSK the simulation can roll and whose DNSKEY RRset it can fetch.
pub trait SimulatedRoot {
    /// Why a roll or fetch failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The root's trust anchor now, as DS or DNSKEY zone-file text.
    fn anchor_text(&self) -> String;
    /// Performs `step`, signing valid around `now`.
    fn roll(&mut self, step: RollStep, now: SystemTime) -> Result<(), Self::Error>;
    /// The root DNSKEY RRset with its RRSIGs, as a probe at `now` sees it.
    fn fetch(&mut self, now: SystemTime) -> Result<Vec<Record>, Self::Error>;
}

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct SimulationConfig {
    /// Simulated start time.
    pub start: SystemTime,
    /// Tracker timers (shorten them for a quick run).
    pub timers: Timers,
    /// Probe limit.
    pub max_probes: u32,
}

/// What happened, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineEvent {
    /// The root performed a roll step.
    Roll(RollStep),
    /// A key changed state in the tracker.
    Transition(Transition),
    /// A probe's answer was no valid update.
    ProbeFailed(UpdateError),
    /// Whether each resolver could validate the root DNSKEY set changed.
    Validation {
        /// With the RFC 5011 tracker.
        tracker: bool,
        /// With RFC 5011 off and the old anchor only.
        static_old_anchor: bool,
    },
}

/// One timeline line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Simulated time.
    pub at: SystemTime,
    /// What happened.
    pub event: TimelineEvent,
}

/// The result of a simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// Events in order.
    pub entries: Vec<TimelineEntry>,
    /// Probes run.
    pub probes: u32,
    /// Whether every roll step ran and the old key reached Removed.
    pub completed: bool,
    /// Whether the tracker validated the root at every probe.
    pub tracker_always_secure: bool,
    /// Whether the static old anchor still validated at the last probe.
    pub static_secure_at_end: bool,
}

impl Timeline {
    /// The readiness verdict: the roll completed and the tracker never lost the root.
    pub fn passed(&self) -> bool {
        self.completed && self.tracker_always_secure
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            let at = format_utc(entry.at);
            match &entry.event {
                TimelineEvent::Roll(step) => writeln!(f, "{at}  {}", step.describe())?,
                TimelineEvent::Transition(t) => writeln!(f, "{at}  tracker: {t}")?,
                TimelineEvent::ProbeFailed(why) => writeln!(f, "{at}  probe failed: {why}")?,
                TimelineEvent::Validation {
                    tracker,
                    static_old_anchor,
                } => writeln!(
                    f,
                    "{at}  root DNSKEY set: {} with RFC 5011, {} with the old static anchor",
                    secure_word(*tracker),
                    secure_word(*static_old_anchor)
                )?,
            }
        }
        writeln!(
            f,
            "{} after {} probes: {}",
            if self.passed() { "PASS" } else { "FAIL" },
            self.probes,
            match (self.completed, self.tracker_always_secure) {
                (true, true) => "the tracker followed the whole roll and stayed secure",
                (false, _) => "the roll did not complete within the probe limit",
                (true, false) => "the tracker lost the root during the roll",
            }
        )
    }
}

fn secure_word(secure: bool) -> &'static str {
    if secure { "secure" } else { "BOGUS (SERVFAIL)" }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError<E: std::error::Error + 'static> {
    /// The root failed to roll or answer.
    #[error("simulated root failed")]
    Root(#[source] E),
    /// The root's anchor text is unusable.
    #[error("simulated root's trust anchor is unusable")]
    Anchor(#[source] AnchorError),
}

/// Runs the whole roll against `root` and returns the timeline.
pub fn simulate<R: SimulatedRoot>(
    root: &mut R,
    config: SimulationConfig,
) -> Result<Timeline, SimulationError<R::Error>> {
    let zone = Name::root();
    let anchors = anchors_from_text(&root.anchor_text(), &zone).map_err(SimulationError::Anchor)?;
    let static_old = TrustAnchors::from_static(&zone, &anchors);
    let mut tracker = Tracker::new(zone, &anchors, config.timers, config.start);
    let old_tags = tracker.trusted_tags();
    let verifier = Verifier::default();
    let mut now = config.start;
    let mut timeline = Timeline {
        entries: Vec::new(),
        probes: 0,
        completed: false,
        tracker_always_secure: true,
        static_secure_at_end: true,
    };
    let push = |timeline: &mut Timeline, at, event| {
        timeline.entries.push(TimelineEntry { at, event });
    };
    root.roll(RollStep::PublishNew, now)
        .map_err(SimulationError::Root)?;
    push(
        &mut timeline,
        now,
        TimelineEvent::Roll(RollStep::PublishNew),
    );
    let mut done = RollStep::PublishNew;
    let mut new_tag = None;
    let mut last_validation = None;
    while timeline.probes < config.max_probes {
        timeline.probes += 1;
        let records = root.fetch(now).map_err(SimulationError::Root)?;
        let observation = tracker.observe(&records, now);
        for t in observation.transitions {
            if t.to == KeyState::AddPend && new_tag.is_none() {
                new_tag = Some(t.tag);
            }
            push(&mut timeline, now, TimelineEvent::Transition(t));
        }
        if let Err(why) = observation.verdict {
            push(&mut timeline, now, TimelineEvent::ProbeFailed(why));
        }
        let snapshot = TrustAnchors::from_tracker(&tracker, &[]);
        let secure = snapshot
            .verify_dnskey_rrset(&records, now, &verifier)
            .is_ok();
        let static_secure = static_old
            .verify_dnskey_rrset(&records, now, &verifier)
            .is_ok();
        timeline.tracker_always_secure &= secure;
        timeline.static_secure_at_end = static_secure;
        if last_validation != Some((secure, static_secure)) {
            last_validation = Some((secure, static_secure));
            push(
                &mut timeline,
                now,
                TimelineEvent::Validation {
                    tracker: secure,
                    static_old_anchor: static_secure,
                },
            );
        }
        let old_in = |states: &[KeyState]| {
            old_tags
                .iter()
                .all(|&tag| states.contains(&tracker.state_of(tag)))
        };
        let next = match done {
            RollStep::PublishNew
                if new_tag.is_some_and(|tag| tracker.state_of(tag) == KeyState::Valid) =>
            {
                Some(RollStep::DoubleSign)
            }
            RollStep::DoubleSign => Some(RollStep::StopOld),
            RollStep::StopOld => Some(RollStep::RevokeOld),
            RollStep::RevokeOld if old_in(&[KeyState::Revoked, KeyState::Removed]) => {
                Some(RollStep::RemoveOld)
            }
            RollStep::RemoveOld if old_in(&[KeyState::Removed]) => {
                timeline.completed = true;
                break;
            }
            _ => None,
        };
        if let Some(step) = next {
            root.roll(step, now).map_err(SimulationError::Root)?;
            push(&mut timeline, now, TimelineEvent::Roll(step));
            done = step;
        }
        now = tracker.next_refresh(now).latest;
    }
    Ok(timeline)
}
