//! Counters the server keeps, for metrics and tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated without locks.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub(crate) udp_queries: AtomicU64,
    pub(crate) tcp_queries: AtomicU64,
    pub(crate) answered_now: AtomicU64,
    pub(crate) resolved: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) truncated: AtomicU64,
    pub(crate) tcp_connections: AtomicU64,
    pub(crate) tcp_idle_closed: AtomicU64,
    pub(crate) udp_send_failed: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Queries received over UDP.
    pub udp_queries: u64,
    /// Queries received over TCP.
    pub tcp_queries: u64,
    /// Replies given without waiting (cache hits).
    pub answered_now: u64,
    /// Replies that needed resolution.
    pub resolved: u64,
    /// Malformed or unsupported queries answered with an error RCODE.
    pub rejected: u64,
    /// Queries refused by access control.
    pub refused: u64,
    /// Packets dropped without a reply.
    pub dropped: u64,
    /// UDP replies truncated to the client's size.
    pub truncated: u64,
    /// TCP connections accepted.
    pub tcp_connections: u64,
    /// TCP connections closed for idleness.
    pub tcp_idle_closed: u64,
    /// UDP replies the kernel would not send (full send buffer, no route).
    pub udp_send_failed: u64,
}

impl ServerStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            udp_queries: get(&self.udp_queries),
            tcp_queries: get(&self.tcp_queries),
            answered_now: get(&self.answered_now),
            resolved: get(&self.resolved),
            rejected: get(&self.rejected),
            refused: get(&self.refused),
            dropped: get(&self.dropped),
            truncated: get(&self.truncated),
            tcp_connections: get(&self.tcp_connections),
            tcp_idle_closed: get(&self.tcp_idle_closed),
            udp_send_failed: get(&self.udp_send_failed),
        }
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
