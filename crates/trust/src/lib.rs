//! RFC 5011 trust-anchor tracking for Anchorage: follows the root KSK
//! through a rollover by itself, survives restarts and crashes, and tells
//! the validator which keys to trust.
//!
//! The core is sans-IO ([`Tracker`]): the shell fetches the root DNSKEY
//! RRset and hands it to [`Tracker::observe`] with the time, or reports
//! [`Tracker::on_probe_failure`]; the tracker answers with state changes and
//! when to probe next. The validator reads an immutable [`TrustAnchors`]
//! snapshot from [`SharedTrustAnchors`] without a lock. [`store`] keeps the
//! state in a crash-safe file; [`listing`] is the operator view;
//! [`signal`] builds RFC 8145 and RFC 8509 names; [`simulate`] replays a
//! whole rollover on an accelerated clock.
//!
//! # Limitations
//! No probing, metrics or CLI here: the resolver shell performs probes
//! through the normal resolution path (TC → TCP included) and exports the
//! listing as metrics. root-anchors.xml ([`xml`]) is read without its CMS
//! signature.

pub mod anchor;
pub mod key;
pub mod listing;
pub mod signal;
pub mod simulate;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod timers;
pub mod tracker;
pub mod update;
pub mod utc;
pub mod xml;

pub use anchor::{
    Anchor, AnchorError, BUILTIN_ROOT_ANCHORS, BuiltinAnchor, anchors_from_text,
    builtin_root_anchors,
};
pub use key::{DsAnchor, Event, KeyId, KeyMaterial, KeyState, TrackedKey, Transition};
pub use listing::{Due, KeyListing, format_listing};
pub use snapshot::{AnchorCheckError, SharedTrustAnchors, TrustAnchors};
pub use store::{Persistence, StartConfig, StartOrigin, Startup, StateStore, StoreError};
pub use timers::Timers;
pub use tracker::{NextProbe, ProbeState, Tracker};
pub use update::{Accepted, Observation, UpdateError};
