//! The RFC 5011 shell: starts the tracker from its state file, probes the
//! root DNSKEY RRset through the recursor when the tracker asks, saves the
//! state after every probe, and hands the validator each new set of
//! trusted keys.
//!
//! The tracker decides; this module only reads the clock, awaits the
//! network and writes files. A failed probe changes no key's state.
//!
//! After each valid update it sends the RFC 8145 key-tag query (unless
//! `trust-anchor-signaling = false`) and publishes the tracker's state for
//! the metrics.
//!
//! # Limitations
//! The root is the only trust point.

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anchorage_iterator::{Question, Recursor, ResolveError};
use anchorage_resolver::Pipeline;
use anchorage_server::{TrustReport, TrustReportSlot};
use anchorage_trust::signal::key_tag_qname;
use anchorage_trust::store::{self, set_aside};
use anchorage_trust::{NextProbe, StartConfig, StartOrigin, StateStore, StoreError, Tracker};
use anchorage_validator::TrustAnchors as ValidatorAnchors;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::{Name, Record, RecordType};
use tracing::{error, info, warn};

use crate::config::{SeedSource, TrustSettings, sentence};

/// Longest one probe may take, on top of the recursor's own deadline: a
/// bound on the await, so a stuck probe becomes a failed one.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The wall clock, read only by this shell (STYLE.md: time is injected).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The tracker, its store and the clock, between probes.
pub struct TrustShell {
    tracker: Tracker,
    store: StateStore,
    clock: Arc<dyn Clock>,
    /// Where the metrics read the tracker's state; written after each probe.
    report: Option<Arc<TrustReportSlot>>,
    /// Send the RFC 8145 key-tag query after each valid probe.
    signaling: bool,
}

/// Why a probe got no answer to observe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Nothing within [`PROBE_TIMEOUT`].
    #[error("no answer within {PROBE_TIMEOUT:?}")]
    Timeout,
    /// The recursor gave up.
    #[error("the root DNSKEY query failed")]
    Resolve(#[source] ResolveError),
    /// The root answered with an error.
    #[error("the root answered {rcode}")]
    Rcode {
        /// The RCODE.
        rcode: ResponseCode,
    },
    /// The root answered without a DNSKEY RRset.
    #[error("the root answered without DNSKEY records")]
    NoDnskeys,
}

/// Loads the state (or seeds it) and checks the directory; the error is
/// one sentence for the operator. A corrupt file is moved aside.
pub fn start(settings: &TrustSettings, clock: Arc<dyn Clock>) -> Result<TrustShell, String> {
    let now = clock.now();
    let path = settings.state_path();
    match &settings.seed_source {
        SeedSource::BuiltIn => info!(
            tags = ?settings.seed.iter().map(anchorage_trust::Anchor::tag).collect::<Vec<_>>(),
            "RFC 5011 seed: the built-in IANA root anchors"
        ),
        SeedSource::File(file) => info!(
            file = %file.display(),
            tags = ?settings.seed.iter().map(anchorage_trust::Anchor::tag).collect::<Vec<_>>(),
            "RFC 5011 seed: the operator's trust-anchor file"
        ),
    }
    let config = StartConfig {
        zone: Name::root(),
        state_path: path.clone(),
        persistence: settings.persistence,
        anchors: settings.seed.clone(),
        timers: settings.timers,
    };
    let started = store::start(&config, now).map_err(|e| match &e {
        StoreError::Corrupt { path, .. } => match set_aside(path, now) {
            Ok(aside) => format!(
                "{}; moved it to {}: the next start begins again from the seed anchors",
                sentence(&e),
                aside.display()
            ),
            Err(why) => format!("{}; and cannot move it aside: {why}", sentence(&e)),
        },
        StoreError::DirectoryMissing { .. }
        | StoreError::NotADirectory { .. }
        | StoreError::DirectoryUnwritable { .. } => format!(
            "{}: create it writable by the resolver, choose another with state-dir, \
             or set state-in-memory-on-failure = true to run without saving the state",
            sentence(&e)
        ),
        StoreError::Read { .. } | StoreError::Write { .. } => sentence(&e),
    })?;
    match started.origin {
        StartOrigin::Resumed => {
            info!(path = %path.display(), "RFC 5011 state resumed from the state file");
        }
        // `store::start` has warned that there was no state file.
        StartOrigin::NoStateFile | StartOrigin::InMemory => {}
    }
    if started.tracker.trust_point_revoked() {
        error!(
            "every root key in the RFC 5011 state is revoked: the root is insecure, nothing validates"
        );
    }
    Ok(TrustShell {
        tracker: started.tracker,
        store: started.store,
        clock,
        report: None,
        signaling: settings.signaling,
    })
}

impl TrustShell {
    /// The validator's anchors for the keys trusted now.
    pub fn validator_anchors(&self) -> ValidatorAnchors {
        validator_anchors(&self.tracker)
    }

    /// Publishes the tracker's state to `slot` now and after every probe.
    #[must_use]
    pub fn reporting_to(mut self, slot: &Arc<TrustReportSlot>) -> Self {
        self.report = Some(Arc::clone(slot));
        self.publish();
        self
    }

    /// Writes the keys, probe bookkeeping and store health for the metrics.
    fn publish(&self) {
        if let Some(slot) = &self.report {
            slot.publish(TrustReport {
                keys: self.tracker.listing(),
                probe: self.tracker.probe().clone(),
                store: self.store.health(),
            });
        }
    }

    /// Probes whenever the tracker asks, for ever; cancel the task to stop.
    /// A save happens between awaits, so cancelling never tears a write.
    pub async fn run(mut self, pipeline: Arc<Pipeline>) {
        loop {
            let now = self.clock.now();
            let window = self.tracker.next_refresh(now);
            let at = pick(window, random());
            tokio::time::sleep(at.duration_since(now).unwrap_or(Duration::ZERO)).await;
            self.probe(&pipeline).await;
        }
    }

    /// One probe: fetch; observe, or record the failure; hand a changed
    /// trusted set to the validator; save; then log the outcome, so a
    /// reader of the log knows the state file already holds it.
    async fn probe(&mut self, pipeline: &Pipeline) {
        let fetched = fetch_root_dnskeys(pipeline.recursor()).await;
        let now = self.clock.now();
        let outcome = match fetched {
            Ok(records) => {
                let observation = self.tracker.observe(&records, now);
                if observation.anchors_changed {
                    pipeline
                        .validator()
                        .set_anchors(Arc::new(validator_anchors(&self.tracker)));
                    info!(
                        trusted = ?self.tracker.trusted_tags(),
                        "validator trust anchors replaced"
                    );
                    if self.tracker.trust_point_revoked() {
                        error!(
                            "every root key is revoked: the root is insecure, nothing validates"
                        );
                    }
                }
                // `observe` has logged the reason of an invalid update.
                observation.verdict.ok()
            }
            Err(why) => {
                warn!(error = %sentence(&why), "root DNSKEY probe failed; trust anchors unchanged");
                let _ = self.tracker.on_probe_failure(now);
                None
            }
        };
        if let Err(e) = self.store.save(&self.tracker, now) {
            error!(
                error = %sentence(&e),
                failures = self.store.health().consecutive_write_failures,
                "RFC 5011 state kept in memory; the next probe retries the write"
            );
        }
        self.publish();
        if let Some(accepted) = outcome {
            info!(
                signer = accepted.signer,
                trusted = ?self.tracker.trusted_tags(),
                "root DNSKEY probe: valid update"
            );
            if self.signaling {
                // In the background: a slow root must not delay the next probe.
                tokio::spawn(signal_trusted_tags(
                    pipeline.clone(),
                    self.tracker.trusted_tags(),
                ));
            }
        } else {
            info!(
                failures = self.tracker.probe().failures,
                "root DNSKEY probe: no valid update"
            );
        }
    }
}

/// The validator's anchor set for the keys `tracker` trusts (Valid or
/// Missing): their DNSKEYs, or DS for seeds never yet seen as a key.
pub fn validator_anchors(tracker: &Tracker) -> ValidatorAnchors {
    let snapshot = anchorage_trust::TrustAnchors::from_tracker(tracker, &[]);
    // `records` yields DS and DNSKEY records only, the two kinds
    // `from_records` takes; an error would mean a new kind was added there.
    ValidatorAnchors::from_records(snapshot.records()).unwrap_or_else(|e| {
        error!(error = %sentence(&e), "cannot convert the trusted keys: no root anchor");
        ValidatorAnchors::empty()
    })
}

/// Sends the RFC 8145 §5.1 key-tag query (`_ta-XXXX[-YYYY].` NULL) for
/// `tags` to the root through the recursor; the answer (NXDOMAIN, usually)
/// is ignored, and a failure only logged.
async fn signal_trusted_tags(pipeline: Pipeline, tags: Vec<u16>) {
    let Some(qname) = key_tag_qname(&tags, &Name::root()) else {
        return;
    };
    let question = Question::new(qname.clone(), RecordType::NULL);
    match tokio::time::timeout(PROBE_TIMEOUT, pipeline.recursor().resolve(question)).await {
        Ok(Ok(answer)) => {
            info!(qname = %qname, rcode = ?answer.rcode, "RFC 8145 key-tag signal sent");
        }
        Ok(Err(e)) => {
            warn!(qname = %qname, error = %sentence(&e), "RFC 8145 key-tag signal failed");
        }
        Err(_) => warn!(qname = %qname, "RFC 8145 key-tag signal timed out"),
    }
}

/// The root DNSKEY RRset and its RRSIGs through the recursor (DO set,
/// TC followed over TCP), or why there is nothing to observe.
async fn fetch_root_dnskeys(recursor: &Recursor) -> Result<Vec<Record>, ProbeError> {
    let question = Question::new(Name::root(), RecordType::DNSKEY);
    let answer = tokio::time::timeout(PROBE_TIMEOUT, recursor.resolve(question))
        .await
        .map_err(|_| ProbeError::Timeout)?
        .map_err(ProbeError::Resolve)?;
    if answer.rcode != ResponseCode::NoError {
        return Err(ProbeError::Rcode {
            rcode: answer.rcode,
        });
    }
    if answer.is_nodata() {
        return Err(ProbeError::NoDnskeys);
    }
    Ok(answer.answers.clone())
}

/// An instant in `window` chosen by `random`, so resolvers do not probe in step.
fn pick(window: NextProbe, random: u64) -> SystemTime {
    let span = window
        .latest
        .duration_since(window.earliest)
        .unwrap_or(Duration::ZERO);
    let millis = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
    let offset = random.checked_rem(millis.saturating_add(1)).unwrap_or(0);
    window.earliest + Duration::from_millis(offset)
}

/// 64 random bits from std's per-process hasher keys: enough to spread
/// probes, no generator to depend on.
fn random() -> u64 {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_instant_stays_in_its_window() {
        let earliest = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let window = NextProbe {
            earliest,
            latest: earliest + Duration::from_secs(10),
        };
        for random in [0, 1, 9_999, 10_000, 10_001, u64::MAX] {
            let at = pick(window, random);
            assert!(at >= window.earliest && at <= window.latest, "{random}");
        }
        assert_eq!(pick(window, 10_000), window.latest);
        let now = NextProbe {
            earliest,
            latest: earliest,
        };
        assert_eq!(pick(now, u64::MAX), earliest);
    }
}
