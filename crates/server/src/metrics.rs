//! Prometheus metrics: the counters the server, the caches, the upstream
//! transport and the RFC 5011 tracker already keep, read at scrape time and
//! served as `GET /metrics` in the Prometheus text format.
//!
//! Nothing here runs per query: a scrape copies the atomics and the
//! tracker's last published report.
//!
//! # Limitations
//! Plain HTTP/1.1 only, no TLS or authentication: bind it to a private address.

use core::net::SocketAddr;
use core::time::Duration;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use anchorage_cache::CacheStats;
use anchorage_resolver::Pipeline;
use anchorage_trust::store::StoreHealth;
use anchorage_trust::{KeyListing, ProbeState};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::stats::ServerStats;

/// Metrics connections served at once; more wait in the kernel's backlog.
pub const MAX_METRICS_CONNECTIONS: usize = 8;
/// Longest one metrics connection may stay open, so a slow client cannot hold a slot.
pub const METRICS_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Content type of the OpenMetrics text format, which `prometheus-client`
/// writes and Prometheus reads.
pub const TEXT_FORMAT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the RFC 5011 shell last published, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustReport {
    /// One row per tracked root key.
    pub keys: Vec<KeyListing>,
    /// Probe bookkeeping of the root trust point.
    pub probe: ProbeState,
    /// Whether the state file is written.
    pub store: StoreHealth,
}

/// The slot the RFC 5011 shell writes its report into after every probe.
#[derive(Debug, Default)]
pub struct TrustReportSlot(Mutex<Option<TrustReport>>);

impl TrustReportSlot {
    /// Replaces the report.
    pub fn publish(&self, report: TrustReport) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
    }

    /// The last report, if any.
    pub fn current(&self) -> Option<TrustReport> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Where the metrics come from.
#[derive(Clone)]
pub struct MetricsSources {
    /// The front-end's counters.
    pub server: Arc<ServerStats>,
    /// The pipeline: answer and aggressive caches, upstream transport.
    pub pipeline: Pipeline,
    /// The RFC 5011 report; `None` when RFC 5011 is off.
    pub trust: Option<Arc<TrustReportSlot>>,
}

impl std::fmt::Debug for MetricsSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSources")
            .field("server", &self.server)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

/// Why the metrics listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The TCP listener could not be bound.
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// The running metrics listener; dropping it stops it.
#[derive(Debug)]
pub struct MetricsServer {
    local: SocketAddr,
    task: JoinHandle<()>,
}

/// A bound metrics port not yet serving: bind it before the DNS listeners
/// so a taken port fails start-up before any query is answered.
#[derive(Debug)]
pub struct MetricsListener {
    listener: TcpListener,
    local: SocketAddr,
}

impl MetricsListener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> Result<Self, MetricsError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        Ok(Self { listener, local })
    }

    /// Serves `GET /metrics` from `sources` on the current tokio runtime.
    pub fn serve(self, sources: MetricsSources) -> MetricsServer {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape(sources)));
        let task = tokio::spawn(accept(self.listener, Arc::new(registry)));
        MetricsServer {
            local: self.local,
            task,
        }
    }
}

impl MetricsServer {
    /// Binds `addr` and serves `GET /metrics` on the current tokio runtime.
    pub async fn start(addr: SocketAddr, sources: MetricsSources) -> Result<Self, MetricsError> {
        Ok(MetricsListener::bind(addr).await?.serve(sources))
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The whole exposition for `sources`, as a scrape returns it.
pub fn render(sources: &MetricsSources) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(sources.clone())));
    encode(&registry)
}

fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug
    // in a collector, and the scrape then shows what was written before it.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, registry) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    text
}

/// Pause after a failed `accept` (e.g. no file descriptors left).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Content type of error replies.
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

async fn accept(listener: TcpListener, registry: Arc<Registry>) {
    let permits = Arc::new(Semaphore::new(MAX_METRICS_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of descriptors (a TCP flood) or a transient error: pause
            // rather than spin on a runtime worker.
            Err(e) => {
                tracing::debug!(error = %e, "metrics accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let registry = Arc::clone(&registry);
                async move { Ok::<_, std::convert::Infallible>(respond(&request, &registry)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(METRICS_CONNECTION_TIMEOUT, connection).await;
            drop(permit);
        });
    }
}

fn respond(request: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let (status, body, content_type) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, encode(registry), TEXT_FORMAT),
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "not found: try /metrics\n".to_owned(),
            PLAIN_TEXT,
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served\n".to_owned(),
            PLAIN_TEXT,
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The collector run at each scrape.
struct Scrape(MetricsSources);

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Scrape").finish_non_exhaustive()
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sources = &self.0;
        server_metrics(&sources.server, &mut encoder)?;
        cache_metrics(
            &[
                ("answer", sources.pipeline.answers().stats()),
                ("aggressive", sources.pipeline.aggressive().stats()),
            ],
            &mut encoder,
        )?;
        upstream_metrics(&sources.pipeline, &mut encoder)?;
        validator_metrics(&sources.pipeline, &mut encoder)?;
        if let Some(report) = sources.trust.as_ref().and_then(|slot| slot.current()) {
            trust_metrics(&report, &mut encoder)?;
        }
        Ok(())
    }
}

/// Label pairs of one series.
type Labels<'a> = [(&'static str, &'a str)];

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(&Labels, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family =
        encoder.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for (labels, value) in series {
        let labels = labels.to_vec();
        ConstCounter::new(*value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Vec<(&'static str, String)>, i64)],
) -> Result<(), std::fmt::Error> {
    let mut family =
        encoder.encode_descriptor(name, help, None, ConstGauge::new(0i64).metric_type())?;
    for (labels, value) in series {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn server_metrics(
    stats: &ServerStats,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let s = stats.snapshot();
    counter(
        encoder,
        "anchorage_queries",
        "Queries received from clients, by transport.",
        &[
            (&[("transport", "udp")], s.udp_queries),
            (&[("transport", "tcp")], s.tcp_queries),
        ],
    )?;
    for (name, help, value) in [
        (
            "anchorage_answered_from_cache",
            "Replies given without waiting (cache hits and local answers).",
            s.answered_now,
        ),
        (
            "anchorage_resolved",
            "Replies that needed resolution.",
            s.resolved,
        ),
        (
            "anchorage_rejected",
            "Malformed or unsupported queries answered with an error RCODE.",
            s.rejected,
        ),
        (
            "anchorage_refused",
            "Queries refused by access control.",
            s.refused,
        ),
        (
            "anchorage_dropped",
            "Packets dropped without a reply.",
            s.dropped,
        ),
        (
            "anchorage_truncated",
            "UDP replies truncated to the client's size.",
            s.truncated,
        ),
        (
            "anchorage_tcp_connections",
            "TCP connections accepted.",
            s.tcp_connections,
        ),
        (
            "anchorage_tcp_idle_closed",
            "TCP connections closed for idleness.",
            s.tcp_idle_closed,
        ),
        (
            "anchorage_udp_send_failed",
            "UDP replies the kernel would not send (full send buffer, no route).",
            s.udp_send_failed,
        ),
    ] {
        counter(encoder, name, help, &[(&[], value)])?;
    }
    Ok(())
}

fn cache_metrics(
    caches: &[(&'static str, CacheStats)],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    type Field = fn(&CacheStats) -> u64;
    let counters: [(&str, &str, Field); 7] = [
        (
            "anchorage_cache_hits",
            "Lookups answered from a fresh entry.",
            |c| c.hits,
        ),
        (
            "anchorage_cache_stale_hits",
            "Lookups answered from an expired entry (serve-stale).",
            |c| c.stale_hits,
        ),
        (
            "anchorage_cache_misses",
            "Lookups that found nothing usable.",
            |c| c.misses,
        ),
        ("anchorage_cache_inserts", "Entries stored.", |c| c.inserts),
        (
            "anchorage_cache_evictions",
            "Entries dropped to make room.",
            |c| c.evictions,
        ),
        (
            "anchorage_cache_expirations",
            "Entries dropped because they expired.",
            |c| c.expirations,
        ),
        (
            "anchorage_cache_prefetches",
            "Hits that asked for a refresh of the entry.",
            |c| c.prefetches,
        ),
    ];
    for (name, help, field) in counters {
        let series: Vec<([(&str, &str); 1], u64)> = caches
            .iter()
            .map(|(cache, stats)| ([("cache", *cache)], field(stats)))
            .collect();
        let series: Vec<(&Labels, u64)> = series.iter().map(|(l, v)| (&l[..], *v)).collect();
        counter(encoder, name, help, &series)?;
    }
    let per_cache = |field: fn(&CacheStats) -> usize| -> Vec<(Vec<(&'static str, String)>, i64)> {
        caches
            .iter()
            .map(|(cache, stats)| {
                (
                    vec![("cache", (*cache).to_owned())],
                    i64::try_from(field(stats)).unwrap_or(i64::MAX),
                )
            })
            .collect()
    };
    gauge(
        encoder,
        "anchorage_cache_bytes",
        "Heap bytes the cache holds now.",
        &per_cache(|c| c.bytes),
    )?;
    gauge(
        encoder,
        "anchorage_cache_entries",
        "Entries the cache holds now.",
        &per_cache(|c| c.entries),
    )
}

fn validator_metrics(
    pipeline: &Pipeline,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let v = pipeline.validator().stats();
    counter(
        encoder,
        "anchorage_validations",
        "Answers validated, by outcome.",
        &[
            (&[("status", "secure")], v.secure),
            (&[("status", "insecure")], v.insecure),
            (&[("status", "bogus")], v.bogus),
            (&[("status", "indeterminate")], v.indeterminate),
        ],
    )?;
    counter(
        encoder,
        "anchorage_signature_checks",
        "RRSIG verifications computed (the math ran).",
        &[(&[], v.signature_checks)],
    )?;
    counter(
        encoder,
        "anchorage_signature_memo_hits",
        "RRSIG checks answered by the memo of earlier verifications (math saved).",
        &[(&[], v.memo_hits)],
    )?;
    counter(
        encoder,
        "anchorage_nsec3_hashes",
        "NSEC3 hashes computed.",
        &[(&[], v.nsec3_hashes)],
    )?;
    counter(
        encoder,
        "anchorage_validator_fetches",
        "DS and DNSKEY fetches made by the validator.",
        &[(&[], v.fetches)],
    )?;
    Ok(())
}

fn upstream_metrics(
    pipeline: &Pipeline,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    use std::sync::atomic::Ordering::Relaxed;
    let t = pipeline.recursor().transport().stats();
    counter(
        encoder,
        "anchorage_upstream_queries",
        "Queries sent to authoritative servers, by transport.",
        &[
            (&[("transport", "udp")], t.udp_sent.load(Relaxed)),
            (&[("transport", "tcp")], t.tcp_sent.load(Relaxed)),
        ],
    )?;
    counter(
        encoder,
        "anchorage_upstream_timeouts",
        "Upstream queries that timed out.",
        &[(&[], t.timeouts.load(Relaxed))],
    )?;
    counter(
        encoder,
        "anchorage_upstream_mismatched_replies",
        "Upstream replies ignored, by reason (source, id, question, case).",
        &[
            (&[("reason", "source")], t.wrong_source.load(Relaxed)),
            (&[("reason", "id")], t.wrong_id.load(Relaxed)),
            (&[("reason", "question")], t.wrong_question.load(Relaxed)),
            (&[("reason", "case")], t.case_mismatch.load(Relaxed)),
        ],
    )?;
    counter(
        encoder,
        "anchorage_upstream_refused_non_loopback",
        "Upstream queries refused by the loopback guard.",
        &[(&[], t.refused_non_loopback.load(Relaxed))],
    )
}

fn unix_seconds(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn trust_metrics(
    report: &TrustReport,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let key_labels = |k: &KeyListing| {
        let mut tag = String::new();
        let _ = write!(tag, "{}", k.tag);
        vec![("key_tag", tag), ("algorithm", k.algorithm.to_string())]
    };
    let states: Vec<_> = report
        .keys
        .iter()
        .map(|k| {
            let mut labels = key_labels(k);
            labels.push(("state", k.state.name().to_owned()));
            (labels, 1)
        })
        .collect();
    gauge(
        encoder,
        "anchorage_trust_root_key",
        "RFC 5011 root keys, one series per key with its state (value always 1).",
        &states,
    )?;
    let next: Vec<_> = report
        .keys
        .iter()
        .filter_map(|k| {
            let due = k.next?;
            let mut labels = key_labels(k);
            labels.push(("to", due.to.name().to_owned()));
            Some((labels, unix_seconds(due.at)))
        })
        .collect();
    gauge(
        encoder,
        "anchorage_trust_root_key_next_transition_timestamp_seconds",
        "When a root key's pending timed transition is allowed (Unix time), with its target state.",
        &next,
    )?;
    let mut probe = Vec::new();
    if let Some(at) = report.probe.last_success {
        probe.push((vec![], unix_seconds(at)));
    }
    gauge(
        encoder,
        "anchorage_trust_last_successful_probe_timestamp_seconds",
        "When the root DNSKEY probe last gave a valid update (Unix time).",
        &probe,
    )?;
    let mut due = Vec::new();
    if let Some(at) = report.probe.next_due {
        due.push((vec![], unix_seconds(at)));
    }
    gauge(
        encoder,
        "anchorage_trust_next_probe_timestamp_seconds",
        "When the next root DNSKEY probe is due (Unix time).",
        &due,
    )?;
    gauge(
        encoder,
        "anchorage_trust_probe_failures",
        "Root DNSKEY probes failed in a row since the last valid update.",
        &[(vec![], i64::from(report.probe.failures))],
    )?;
    gauge(
        encoder,
        "anchorage_trust_state_in_memory",
        "1 when the RFC 5011 state is not persisted (kept in memory: a restart loses it).",
        &[(vec![], i64::from(report.store.in_memory))],
    )?;
    gauge(
        encoder,
        "anchorage_trust_state_consecutive_write_failures",
        "State-file writes failed in a row since the last good one.",
        &[(vec![], i64::from(report.store.consecutive_write_failures))],
    )?;
    counter(
        encoder,
        "anchorage_trust_state_write_failures",
        "State-file writes failed since start.",
        &[(&[], report.store.total_write_failures)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchorage_trust::KeyState;
    use anchorage_trust::listing::Due;

    fn listing(tag: u16, state: KeyState, next: Option<Due>) -> KeyListing {
        KeyListing {
            tag,
            revoked_tag: None,
            algorithm: 8,
            state,
            id: None,
            first_seen: None,
            last_change: UNIX_EPOCH,
            pending_count: 0,
            next,
        }
    }

    fn trust_text(report: &TrustReport) -> String {
        #[derive(Debug)]
        struct Only(TrustReport);
        impl Collector for Only {
            fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
                trust_metrics(&self.0, &mut encoder)
            }
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Only(report.clone())));
        encode(&registry)
    }

    #[test]
    fn root_keys_appear_with_their_state_and_next_transition() {
        let due = UNIX_EPOCH + Duration::from_hours(500_000);
        let report = TrustReport {
            keys: vec![
                listing(20326, KeyState::Valid, None),
                listing(
                    38696,
                    KeyState::AddPend,
                    Some(Due {
                        at: due,
                        to: KeyState::Valid,
                    }),
                ),
            ],
            probe: ProbeState {
                failures: 2,
                ..ProbeState::default()
            },
            store: StoreHealth {
                in_memory: true,
                consecutive_write_failures: 0,
                total_write_failures: 3,
            },
        };
        let text = trust_text(&report);
        for line in [
            r#"anchorage_trust_root_key{key_tag="20326",algorithm="8",state="Valid"} 1"#,
            r#"anchorage_trust_root_key{key_tag="38696",algorithm="8",state="AddPend"} 1"#,
            r#"anchorage_trust_root_key_next_transition_timestamp_seconds{key_tag="38696",algorithm="8",to="Valid"} 1800000000"#,
            "anchorage_trust_probe_failures 2",
            "anchorage_trust_state_in_memory 1",
            "anchorage_trust_state_write_failures_total 3",
            "# HELP anchorage_trust_root_key RFC 5011 root keys",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(line)),
                "{line} missing from\n{text}"
            );
        }
        // Never probed: the family is described but has no sample.
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("anchorage_trust_last_successful_probe_timestamp_seconds"))
        );
    }
}
