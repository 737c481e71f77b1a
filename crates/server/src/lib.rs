//! Anchorage's network front-end: stub clients in, replies out.
//!
//! UDP and TCP listeners (RFC 1035 §4.2, RFC 7766) on the configured
//! addresses, one `SO_REUSEPORT` UDP socket per worker, access control
//! ([`acl`]), replies truncated to the client's size, malformed queries
//! answered as the RFCs say ([`anchorage_wire::response::rejection_reply`]).
//! Resolution itself is behind the `resolver` crate's [`Resolve`] trait.
//!
//! On Linux, UDP is batched by default ([`ServerConfig::udp_batching`]):
//! `recvmmsg`/`sendmmsg` on a receive thread per worker, cache hits
//! answered on that thread.
//!
//! # Limitations
//! No DNS-over-TLS or HTTPS.
#![deny(unsafe_code)]

pub mod acl;
#[cfg(target_os = "linux")]
mod batch;
mod handler;
pub mod metrics;
#[cfg(target_os = "linux")]
mod mmsg;
mod stats;
mod tcp;
mod udp;

use core::net::SocketAddr;
use core::time::Duration;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

pub use acl::{Access, Acl, AclError};
pub use anchorage_resolver::Resolve;
pub use metrics::{
    MetricsError, MetricsListener, MetricsServer, MetricsSources, TrustReport, TrustReportSlot,
};
pub use stats::{ServerStats, StatsSnapshot};

/// Largest DNS message over TCP (RFC 1035 §4.2.2: 16-bit length).
pub const MAX_TCP_MESSAGE: usize = 65_535;
/// TCP connections served at once; more wait in the kernel's backlog.
pub const DEFAULT_TCP_CONNECTIONS: usize = 1_024;
/// Idle time before a TCP connection is closed (RFC 7766 §6.2.3 suggests
/// seconds, not minutes).
pub const DEFAULT_TCP_IDLE: Duration = Duration::from_secs(10);
/// Queries resolved at once on one TCP connection (RFC 7766 §6.2.1.1
/// pipelining), so one client cannot queue unbounded work.
pub const DEFAULT_TCP_PIPELINE: usize = 64;
/// Batched UDP where the platform has it (Linux).
pub const DEFAULT_UDP_BATCHING: bool = cfg!(target_os = "linux");
/// How long shutdown waits for in-flight queries before giving up.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// Listener settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Addresses to serve on, UDP and TCP each.
    pub listen: Vec<SocketAddr>,
    /// UDP sockets (and receive loops) per address.
    pub udp_workers: usize,
    /// Batched UDP receive and send (`recvmmsg`/`sendmmsg`, Linux only);
    /// off, one system call per datagram, for sandboxes and socket shims
    /// that support only those.
    pub udp_batching: bool,
    /// Who may query.
    pub acl: Acl,
    /// Concurrent TCP connections.
    pub tcp_connections: usize,
    /// Idle timeout of a TCP connection.
    pub tcp_idle: Duration,
    /// Queries resolved at once per TCP connection.
    pub tcp_pipeline: usize,
    /// Drain deadline at shutdown.
    pub drain: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            udp_workers: 1,
            udp_batching: DEFAULT_UDP_BATCHING,
            acl: Acl::default(),
            tcp_connections: DEFAULT_TCP_CONNECTIONS,
            tcp_idle: DEFAULT_TCP_IDLE,
            tcp_pipeline: DEFAULT_TCP_PIPELINE,
            drain: DEFAULT_DRAIN,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A socket could not be created, configured or bound.
    #[error("cannot listen on {proto} {addr}: {source}")]
    Bind {
        /// "UDP" or "TCP".
        proto: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// No address to listen on.
    #[error("no listen address configured")]
    NoListenAddress,
}

/// Tries for a port free for both UDP and TCP when port 0 is asked: the
/// kernel picks the UDP port, and TCP may already use that number.
const PORT_ZERO_TRIES: usize = 16;

type Bound = (
    Vec<std::net::UdpSocket>,
    tokio::net::TcpListener,
    SocketAddr,
);

/// Binds the UDP sockets and the TCP listener of one address, on the same
/// port; with port 0, retries until a port is free for both.
fn bind_pair(addr: SocketAddr, udp_workers: usize) -> Result<Bound, ServerError> {
    let mut tries = 0;
    loop {
        let sockets = udp::bind(addr, udp_workers)?;
        let bound = sockets[0]
            .local_addr()
            .map_err(|source| ServerError::Bind {
                proto: "UDP",
                addr,
                source,
            })?;
        match tcp::bind(bound) {
            Ok(listener) => return Ok((sockets, listener, bound)),
            Err(ServerError::Bind { source, .. })
                if addr.port() == 0
                    && source.kind() == std::io::ErrorKind::AddrInUse
                    && tries < PORT_ZERO_TRIES =>
            {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A running server: its bound addresses, its counters, and the way to stop it.
pub struct Server {
    local: Vec<SocketAddr>,
    stats: Arc<ServerStats>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    drain: Duration,
}

impl Server {
    /// Binds every listener and starts serving on the current tokio runtime
    /// (call it from inside one).
    pub fn start<R: Resolve>(config: &ServerConfig, resolver: Arc<R>) -> Result<Self, ServerError> {
        if config.listen.is_empty() {
            return Err(ServerError::NoListenAddress);
        }
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(ServerStats::default());
        let shared = Arc::new(handler::Shared {
            acl: config.acl.clone(),
            resolver,
            stats: Arc::clone(&stats),
        });
        let mut tasks = JoinSet::new();
        let mut local = Vec::new();
        for &addr in &config.listen {
            let (sockets, listener, bound) = bind_pair(addr, config.udp_workers)?;
            udp::start(
                sockets,
                config.udp_workers,
                config.udp_batching,
                &shared,
                &stopped,
                &mut tasks,
            )
            .map_err(|source| ServerError::Bind {
                proto: "UDP",
                addr: bound,
                source,
            })?;
            tasks.spawn(tcp::serve(
                listener,
                Arc::clone(&shared),
                config.clone(),
                stopped.clone(),
            ));
            local.push(bound);
        }
        Ok(Self {
            local,
            stats,
            stop,
            tasks,
            drain: config.drain,
        })
    }

    /// The addresses actually bound (ports resolved when 0 was asked).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// The server's counters.
    pub fn stats(&self) -> &Arc<ServerStats> {
        &self.stats
    }

    /// Stops accepting queries, lets in-flight ones finish (up to the drain
    /// deadline), and returns the final counters.
    pub async fn shutdown(mut self) -> StatsSnapshot {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(self.drain, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("shutdown: in-flight queries still running after the drain deadline");
            self.tasks.abort_all();
        }
        self.stats.snapshot()
    }
}
