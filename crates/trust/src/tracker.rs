//! The RFC 5011 tracker of one trust point: its keys, its probe schedule,
//! seeding and reconciliation with configured anchors.
//!
//! Sans-IO: the shell fetches the DNSKEY RRset, hands it to
//! [`Tracker::observe`] (in [`crate::update`]) or reports
//! [`Tracker::on_probe_failure`], and asks [`Tracker::next_refresh`] when to
//! probe again. Time is always an argument.

use std::time::{Duration, SystemTime};

use anchorage_verify::{Limits, Verifier};
use anchorage_wire::proto::rr::Name;
use tracing::{info, warn};

use crate::anchor::Anchor;
use crate::key::{Event, KeyState, TrackedKey, Transition};
use crate::timers::{REFRESH_JITTER_TENTHS, Timers};

/// Most keys one trust point tracks: bounds memory and the state file
/// against a zone flooding new SEP keys (our limit; RFC 5011 sets none).
pub const MAX_TRACKED_KEYS: usize = 64;

/// When the trust point was last probed and when it is due again (RFC 5011 §2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeState {
    /// Last valid update.
    pub last_success: Option<SystemTime>,
    /// Last failed probe.
    pub last_failure: Option<SystemTime>,
    /// Failed probes since the last valid update.
    pub failures: u32,
    /// When the next probe is due; `None`: at once.
    pub next_due: Option<SystemTime>,
    /// The interval that set `next_due` (refresh or retry).
    pub interval: Duration,
    /// Original TTL of the last validating RRSIG (RFC 5011 §2.3 `OrigTTL`).
    pub original_ttl: Option<u32>,
    /// Expiration of the last validating RRSIG (RFC 5011 §2.3 `SigExpiry`).
    pub signature_expiration: Option<SystemTime>,
}

/// The window in which the shell should run the next probe: any instant
/// in it, chosen at random, so resolvers do not probe in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextProbe {
    /// Not before this (90 % of the interval).
    pub earliest: SystemTime,
    /// Not after this (the full interval).
    pub latest: SystemTime,
}

/// The RFC 5011 state of one trust point.
#[derive(Debug)]
pub struct Tracker {
    pub(crate) zone: Name,
    pub(crate) timers: Timers,
    pub(crate) keys: Vec<TrackedKey>,
    pub(crate) probe: ProbeState,
    pub(crate) verifier: Verifier,
}

impl Tracker {
    /// A tracker for `zone` trusting `anchors` from `now`; a DS and its
    /// DNSKEY, or an anchor given twice, become one key (logged).
    pub fn new(zone: Name, anchors: &[Anchor], timers: Timers, now: SystemTime) -> Self {
        let mut tracker = Self::from_parts(zone, timers, Vec::new(), ProbeState::default());
        for anchor in anchors {
            if tracker.find_anchor(anchor).is_some() {
                warn!(tag = anchor.tag(), "trust anchor presented twice; merged");
                tracker.merge_anchor(anchor);
                continue;
            }
            tracker.keys.push(key_for_anchor(anchor, now));
        }
        tracker
    }

    /// A tracker rebuilt from saved keys and probe state.
    pub fn from_parts(
        zone: Name,
        timers: Timers,
        keys: Vec<TrackedKey>,
        probe: ProbeState,
    ) -> Self {
        Self {
            zone,
            timers,
            keys,
            probe,
            // The probe path verifies a handful of signatures a day: no memo.
            verifier: Verifier::new(Limits {
                memo_entries: 0,
                ..Limits::default()
            }),
        }
    }

    /// The trust point.
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// The timers in force.
    pub fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Every tracked key, in the order first seen.
    pub fn keys(&self) -> &[TrackedKey] {
        &self.keys
    }

    /// The probe schedule.
    pub fn probe(&self) -> &ProbeState {
        &self.probe
    }

    /// The state of the key with tag `tag` (REVOKE masked); Start if unknown.
    /// Tags may collide: the first key with the tag answers.
    pub fn state_of(&self, tag: u16) -> KeyState {
        self.keys
            .iter()
            .find(|k| k.tag() == tag)
            .map_or(KeyState::Start, |k| k.state)
    }

    /// Tags of the keys in Valid or Missing state, ascending.
    pub fn trusted_tags(&self) -> Vec<u16> {
        let mut tags: Vec<u16> = self
            .keys
            .iter()
            .filter(|k| k.state.is_trusted())
            .map(TrackedKey::tag)
            .collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// Whether every key was revoked: the trust point is gone and its data
    /// is insecure (RFC 5011 §5). Persisted, since the keys' states are.
    pub fn trust_point_revoked(&self) -> bool {
        !self.keys.is_empty()
            && !self.keys.iter().any(|k| k.state.is_trusted())
            && self.keys.iter().any(|k| k.state == KeyState::Revoked)
    }

    /// Adds configured or built-in anchors the state lacks, as Valid; refuses
    /// (and logs) those the state holds as Revoked or Removed. The state
    /// wins for every key it holds (ROLLOVER.md §4, our rule).
    pub fn reconcile(&mut self, anchors: &[Anchor], now: SystemTime) -> Vec<Transition> {
        let mut transitions = Vec::new();
        for anchor in anchors {
            match self.find_anchor(anchor) {
                Some(i) if matches!(self.keys[i].state, KeyState::Revoked | KeyState::Removed) => {
                    warn!(
                        tag = anchor.tag(),
                        state = %self.keys[i].state,
                        "configured trust anchor refused: the state file holds it as revoked"
                    );
                }
                Some(_) => {}
                None if self.keys.len() >= MAX_TRACKED_KEYS => {
                    warn!(
                        tag = anchor.tag(),
                        "configured trust anchor dropped: too many keys"
                    );
                }
                None => {
                    let mut key = key_for_anchor(anchor, now);
                    key.state = KeyState::Start;
                    let t = key.set_state(KeyState::Valid, Event::Configured, now);
                    info!(transition = %t, "configured trust anchor added to the state");
                    transitions.push(t);
                    self.keys.push(key);
                }
            }
        }
        transitions
    }

    /// When to probe next (RFC 5011 §2.3); at once if never probed or overdue.
    pub fn next_refresh(&self, now: SystemTime) -> NextProbe {
        let Some(due) = self.probe.next_due else {
            return NextProbe {
                earliest: now,
                latest: now,
            };
        };
        let early = due
            .checked_sub(self.probe.interval * REFRESH_JITTER_TENTHS / 10)
            .unwrap_or(due);
        NextProbe {
            earliest: early.max(now),
            latest: due.max(now),
        }
    }

    /// Records a failed probe (timeout, SERVFAIL, truncated, unverifiable):
    /// no key changes state; the next try is due after the retry interval
    /// (RFC 5011 §2.3).
    pub fn on_probe_failure(&mut self, now: SystemTime) -> NextProbe {
        let ttl = self.probe.original_ttl.unwrap_or(0);
        let left = self
            .probe
            .signature_expiration
            .and_then(|exp| exp.duration_since(now).ok())
            .unwrap_or(Duration::ZERO);
        let retry = self.timers.retry_interval(ttl, left);
        self.probe.failures = self.probe.failures.saturating_add(1);
        self.probe.last_failure = Some(now);
        self.probe.interval = retry;
        self.probe.next_due = Some(now + retry);
        warn!(
            zone = %self.zone,
            failures = self.probe.failures,
            retry_secs = retry.as_secs(),
            "trust anchor probe failed; keys unchanged"
        );
        self.next_refresh(now)
    }

    /// Index of the key an anchor names: same material, a DS designating
    /// the key, or the same DS.
    fn find_anchor(&self, anchor: &Anchor) -> Option<usize> {
        self.keys.iter().position(|k| match anchor {
            Anchor::Dnskey(m) => k.is(&self.zone, m),
            Anchor::Ds(ds) => {
                k.ds.as_ref() == Some(ds)
                    || k.material
                        .as_ref()
                        .is_some_and(|m| ds.designates(&self.zone, m))
            }
        })
    }

    /// Adds what `anchor` knows (key or DS) to the key it names.
    fn merge_anchor(&mut self, anchor: &Anchor) {
        if let Some(i) = self.find_anchor(anchor) {
            match anchor {
                Anchor::Dnskey(m) if self.keys[i].material.is_none() => {
                    self.keys[i].material = Some(m.clone());
                }
                Anchor::Ds(ds) if self.keys[i].ds.is_none() => {
                    self.keys[i].ds = Some(ds.clone());
                }
                _ => {}
            }
        }
    }
}

fn key_for_anchor(anchor: &Anchor, now: SystemTime) -> TrackedKey {
    match anchor {
        Anchor::Dnskey(m) => TrackedKey::anchor(Some(m.clone()), None, now),
        Anchor::Ds(ds) => TrackedKey::anchor(None, Some(ds.clone()), now),
    }
}
