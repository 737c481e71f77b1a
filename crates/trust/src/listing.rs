//! The operator view: every key's state, tag, algorithm, first sighting and
//! next due transition (what `anchorage trust list` prints and metrics export).

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::key::{KeyId, KeyMaterial, KeyState};
use crate::tracker::Tracker;
use crate::utc::format_utc;

/// A transition that a timer will allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// When, at the earliest (applied at the first valid update after it).
    pub at: SystemTime,
    /// The state it leads to.
    pub to: KeyState,
}

/// One row of the operator listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListing {
    /// Key tag, REVOKE clear.
    pub tag: u16,
    /// Key tag with REVOKE set, for a revoked key.
    pub revoked_tag: Option<u16>,
    /// DNSSEC algorithm number.
    pub algorithm: u8,
    /// RFC 5011 state.
    pub state: KeyState,
    /// Short identity of the key, once seen as a DNSKEY.
    pub id: Option<KeyId>,
    /// First validated sighting.
    pub first_seen: Option<SystemTime>,
    /// Last state change.
    pub last_change: SystemTime,
    /// Validated sightings while AddPend.
    pub pending_count: u32,
    /// The next timed transition, if one is pending.
    pub next: Option<Due>,
}

impl Tracker {
    /// One row per tracked key, in the order first seen.
    pub fn listing(&self) -> Vec<KeyListing> {
        let timers = self.timers();
        let another_valid = |tag| {
            self.keys()
                .iter()
                .any(|k| k.state == KeyState::Valid && k.tag() != tag)
        };
        self.keys()
            .iter()
            .map(|k| {
                let next = match k.state {
                    KeyState::AddPend => k.add_due.map(|at| Due {
                        at,
                        to: KeyState::Valid,
                    }),
                    KeyState::Revoked => k.absent_since.map(|since| Due {
                        at: since + timers.remove_hold_down,
                        to: KeyState::Removed,
                    }),
                    KeyState::Missing if another_valid(k.tag()) => {
                        k.absent_since.map(|since| Due {
                            at: since + timers.keep_missing,
                            to: KeyState::Removed,
                        })
                    }
                    _ => None,
                };
                KeyListing {
                    tag: k.tag(),
                    revoked_tag: (k.state == KeyState::Revoked)
                        .then(|| k.material.as_ref().map(KeyMaterial::revoked_tag))
                        .flatten(),
                    algorithm: k.algorithm(),
                    state: k.state,
                    id: k.material.as_ref().map(KeyMaterial::id),
                    first_seen: k.first_seen,
                    last_change: k.last_change,
                    pending_count: k.pending_count,
                    next,
                }
            })
            .collect()
    }
}

/// The listing as a fixed-width table, one key per line after a header.
pub fn format_listing(rows: &[KeyListing]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<13} {:>3} {:<20} {:<20} NEXT",
        "STATE", "TAG", "ALG", "FIRST SEEN", "LAST CHANGE"
    );
    for row in rows {
        let tag = match row.revoked_tag {
            Some(revoked) => format!("{} ({revoked})", row.tag),
            None => row.tag.to_string(),
        };
        let first = row
            .first_seen
            .map_or_else(|| "not yet".to_owned(), format_utc);
        let next = match (row.state, row.next) {
            (KeyState::AddPend, Some(due)) => format!(
                "{} at {} (seen {}x)",
                due.to,
                format_utc(due.at),
                row.pending_count
            ),
            (_, Some(due)) => format!("{} at {}", due.to, format_utc(due.at)),
            (KeyState::Revoked, None) => "Removed once absent for the hold-down".to_owned(),
            (_, None) => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<8} {:<13} {:>3} {:<20} {:<20} {next}",
            row.state.name(),
            tag,
            row.algorithm,
            first,
            format_utc(row.last_change)
        );
    }
    out
}
