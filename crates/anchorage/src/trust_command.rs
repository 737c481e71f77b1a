//! `anchorage trust list` and `anchorage trust simulate`: the operator's
//! view of the RFC 5011 state, read from the state file with no network,
//! and the rollover readiness check against an in-process signing root.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use anchorage_trust::simulate::{
    DEFAULT_MAX_SIMULATION_PROBES, SigningRoot, SimulationConfig, simulate,
};
use anchorage_trust::state::decode;
use anchorage_trust::utc::format_utc;
use anchorage_trust::{Timers, format_listing};

use crate::config::{ROOT_STATE_FILE, format_duration, sentence};

/// The listing of the state file in `state_dir`, as printed.
pub fn list(state_dir: &Path, timers: Timers) -> Result<String, String> {
    let path = state_dir.join(ROOT_STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            format!(
                "no trust state at {}: the resolver has not run with rfc5011 = true and this state-dir",
                path.display()
            )
        } else {
            format!("cannot read trust state {}: {e}", path.display())
        }
    })?;
    let tracker = decode(&text, timers)
        .map_err(|e| format!("refusing trust state {}: {}", path.display(), sentence(&e)))?;
    let mut out = String::new();
    let probe = tracker.probe();
    let when = |at: Option<SystemTime>, none: &str| at.map_or_else(|| none.to_owned(), format_utc);
    // Invariant (every `let _ = writeln!` here): writing to a String cannot fail.
    let _ = writeln!(
        out,
        "trust point {} (state file {})",
        tracker.zone(),
        path.display()
    );
    out.push_str(&format_listing(&tracker.listing()));
    let _ = writeln!(
        out,
        "last valid probe: {}; next probe due: {}; failed probes since: {}",
        when(probe.last_success, "never"),
        when(probe.next_due, "at start"),
        probe.failures
    );
    if tracker.trust_point_revoked() {
        let _ = writeln!(
            out,
            "every key is revoked: the root is insecure (RFC 5011 §5)"
        );
    }
    Ok(out)
}

/// Runs the whole roll against an in-process root from `start` and
/// returns the printed timeline and whether it passed.
pub fn simulate_roll(
    start: SystemTime,
    timers: Timers,
    seed: u64,
) -> Result<(String, bool), String> {
    let mut root = SigningRoot::new(seed)
        .map_err(|e| format!("cannot build the simulated root: {}", sentence(&e)))?;
    let timeline = simulate(
        &mut root,
        SimulationConfig {
            start,
            timers,
            max_probes: DEFAULT_MAX_SIMULATION_PROBES,
        },
    )
    .map_err(|e| format!("the simulation stopped: {}", sentence(&e)))?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Simulated root KSK roll (Ed25519 keys from seed {seed}), add hold-down {}, \
         remove hold-down {}, refresh interval between {} and {}:",
        format_duration(timers.add_hold_down),
        format_duration(timers.remove_hold_down),
        format_duration(timers.min_query_interval),
        format_duration(timers.max_query_interval),
    );
    out.push_str(&timeline.to_string());
    Ok((out, timeline.passed()))
}
