//! The state file's format: versioned TOML an operator can read, every time
//! absolute UTC (ROLLOVER.md §4), decoded whole or refused with the reason.
//!
//! # Limitations
//! Version 1 only; a later version is refused, never guessed at.

use std::time::{Duration, SystemTime};

use anchorage_wire::proto::rr::Name;
use data_encoding::{BASE64, HEXUPPER};
use serde::{Deserialize, Serialize};

use crate::key::{DsAnchor, KeyId, KeyMaterial, KeyState, TrackedKey};
use crate::timers::Timers;
use crate::tracker::{MAX_TRACKED_KEYS, ProbeState, Tracker};
use crate::utc::{UtcError, format_utc, parse_utc};

/// The state-file format this build writes and reads.
pub const STATE_VERSION: i64 = 1;

/// Why a state file was refused; nothing of it was loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not TOML, or not the shape of a state file.
    #[error("not a valid state file: {reason}")]
    Syntax {
        /// The parser's message, with line and column.
        reason: String,
    },
    /// No `version` field.
    #[error("no format version")]
    NoVersion,
    /// A format this build does not read.
    #[error("format version {found} is not supported (this build reads {STATE_VERSION})")]
    Version {
        /// The version in the file.
        found: i64,
    },
    /// The trust point name does not parse.
    #[error("trust point {text:?} is not a domain name")]
    Zone {
        /// The text found.
        text: String,
    },
    /// A time field does not parse.
    #[error("{field} is not a UTC time")]
    Time {
        /// The field.
        field: &'static str,
        /// The cause.
        #[source]
        source: UtcError,
    },
    /// A key's field is missing or malformed.
    #[error("key {index}: {field} is {problem}")]
    KeyField {
        /// 0-based index of the key.
        index: usize,
        /// The field.
        field: &'static str,
        /// What is wrong ("missing", "not base64", ...).
        problem: &'static str,
    },
    /// A key's recorded tag differs from its material's: damaged key bytes.
    #[error("key {index}: tag {written} written, but its key has tag {computed}")]
    TagMismatch {
        /// 0-based index of the key.
        index: usize,
        /// Tag in the file.
        written: u16,
        /// Tag computed from the key.
        computed: u16,
    },
    /// More keys than a tracker holds.
    #[error("{count} keys; at most {MAX_TRACKED_KEYS}")]
    TooManyKeys {
        /// Keys in the file.
        count: usize,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    version: i64,
    zone: String,
    written: String,
    probe: ProbeRecord,
    #[serde(default, rename = "key")]
    keys: Vec<KeyRecord>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeRecord {
    last_success: Option<String>,
    last_failure: Option<String>,
    failures: u32,
    next_due: Option<String>,
    interval_secs: u64,
    original_ttl: Option<u32>,
    signature_expiration: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRecord {
    state: String,
    tag: u16,
    algorithm: u8,
    flags: Option<u16>,
    public_key: Option<String>,
    ds_digest_type: Option<u8>,
    ds_digest: Option<String>,
    first_seen: Option<String>,
    last_change: String,
    pending_count: u32,
    add_due: Option<String>,
    absent_since: Option<String>,
    #[serde(default)]
    introduced_by: Vec<String>,
}

/// The tracker as state-file text, stamped `written` at `now`.
pub fn encode(tracker: &Tracker, now: SystemTime) -> String {
    let p = tracker.probe();
    let t = |at: Option<SystemTime>| at.map(format_utc);
    let file = FileV1 {
        version: STATE_VERSION,
        zone: tracker.zone().to_ascii(),
        written: format_utc(now),
        probe: ProbeRecord {
            last_success: t(p.last_success),
            last_failure: t(p.last_failure),
            failures: p.failures,
            next_due: t(p.next_due),
            interval_secs: p.interval.as_secs(),
            original_ttl: p.original_ttl,
            signature_expiration: t(p.signature_expiration),
        },
        keys: tracker
            .keys()
            .iter()
            .map(|k| KeyRecord {
                state: k.state.name().to_owned(),
                tag: k.tag(),
                algorithm: k.algorithm(),
                flags: k.material.as_ref().map(|m| m.flags),
                public_key: k.material.as_ref().map(|m| BASE64.encode(&m.public_key)),
                ds_digest_type: k.ds.as_ref().map(|ds| ds.digest_type),
                ds_digest: k.ds.as_ref().map(|ds| HEXUPPER.encode(&ds.digest)),
                first_seen: t(k.first_seen),
                last_change: format_utc(k.last_change),
                pending_count: k.pending_count,
                add_due: t(k.add_due),
                absent_since: t(k.absent_since),
                introduced_by: k.introduced_by.iter().map(ToString::to_string).collect(),
            })
            .collect(),
    };
    // Invariant: every field is a string, integer, table or array of
    // tables, which TOML always represents.
    let body = toml::to_string(&file).unwrap_or_default();
    format!(
        "# Anchorage RFC 5011 trust-anchor state. Times are UTC.\n\
         # Written by the resolver; edit only while it is stopped.\n{body}"
    )
}

/// Decodes state-file text into a tracker using `timers`; all or nothing.
pub fn decode(text: &str, timers: Timers) -> Result<Tracker, StateError> {
    // One line, "line L, column C: message": the parser's own rendering
    // spans several lines with a source excerpt.
    let syntax = |e: toml::de::Error| StateError::Syntax {
        reason: match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: {}", e.message())
            }
            None => e.message().to_owned(),
        },
    };
    let table: toml::Table = text.parse().map_err(syntax)?;
    match table.get("version").and_then(toml::Value::as_integer) {
        None => return Err(StateError::NoVersion),
        Some(STATE_VERSION) => {}
        Some(found) => return Err(StateError::Version { found }),
    }
    let file: FileV1 = toml::from_str(text).map_err(syntax)?;
    let zone = Name::from_ascii(&file.zone).map_err(|_| StateError::Zone {
        text: file.zone.clone(),
    })?;
    time("written", Some(&file.written))?;
    if file.keys.len() > MAX_TRACKED_KEYS {
        return Err(StateError::TooManyKeys {
            count: file.keys.len(),
        });
    }
    let p = &file.probe;
    let probe = ProbeState {
        last_success: time("probe.last_success", p.last_success.as_ref())?,
        last_failure: time("probe.last_failure", p.last_failure.as_ref())?,
        failures: p.failures,
        next_due: time("probe.next_due", p.next_due.as_ref())?,
        interval: Duration::from_secs(p.interval_secs),
        original_ttl: p.original_ttl,
        signature_expiration: time(
            "probe.signature_expiration",
            p.signature_expiration.as_ref(),
        )?,
    };
    let keys = file
        .keys
        .iter()
        .enumerate()
        .map(|(index, k)| decode_key(index, k))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tracker::from_parts(zone, timers, keys, probe))
}

fn decode_key(index: usize, k: &KeyRecord) -> Result<TrackedKey, StateError> {
    let field = |field, problem| StateError::KeyField {
        index,
        field,
        problem,
    };
    let state = KeyState::from_name(&k.state).ok_or(field("state", "not a state name"))?;
    let material = match (&k.public_key, k.flags) {
        (Some(key), Some(flags)) => Some(KeyMaterial {
            flags,
            algorithm: k.algorithm,
            public_key: BASE64
                .decode(key.as_bytes())
                .map_err(|_| field("public_key", "not base64"))?,
        }),
        (None, None) => None,
        (Some(_), None) => return Err(field("flags", "missing")),
        (None, Some(_)) => return Err(field("public_key", "missing")),
    };
    let ds = match (&k.ds_digest, k.ds_digest_type) {
        (Some(digest), Some(digest_type)) => Some(DsAnchor {
            tag: k.tag,
            algorithm: k.algorithm,
            digest_type,
            digest: HEXUPPER
                .decode(digest.as_bytes())
                .map_err(|_| field("ds_digest", "not upper-case hex"))?,
        }),
        (None, None) => None,
        (Some(_), None) => return Err(field("ds_digest_type", "missing")),
        (None, Some(_)) => return Err(field("ds_digest", "missing")),
    };
    match &material {
        Some(m) if m.tag() != k.tag => {
            return Err(StateError::TagMismatch {
                index,
                written: k.tag,
                computed: m.tag(),
            });
        }
        None if ds.is_none() => return Err(field("public_key", "missing, and no DS either")),
        _ => {}
    }
    let introduced_by = k
        .introduced_by
        .iter()
        .map(|id| u64::from_str_radix(id, 16).map(KeyId))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| field("introduced_by", "not a hex key id"))?;
    Ok(TrackedKey {
        material,
        ds,
        state,
        first_seen: time("key.first_seen", k.first_seen.as_ref())?,
        last_change: time("key.last_change", Some(&k.last_change))?
            .ok_or(field("last_change", "missing"))?,
        pending_count: k.pending_count,
        add_due: time("key.add_due", k.add_due.as_ref())?,
        absent_since: time("key.absent_since", k.absent_since.as_ref())?,
        introduced_by,
    })
}

fn time(field: &'static str, text: Option<&String>) -> Result<Option<SystemTime>, StateError> {
    text.map(|t| parse_utc(t).map_err(|source| StateError::Time { field, source }))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_is_one_line_with_its_place() {
        let err = decode("version = 1\nzone = 3\n", Timers::default()).unwrap_err();
        let StateError::Syntax { reason } = &err else {
            panic!("{err:?}");
        };
        assert!(reason.starts_with("line 2, column 8: "), "{reason}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}
