//! UDP listeners: one `SO_REUSEPORT` socket per worker where the platform
//! allows it, one shared socket otherwise.

use core::net::SocketAddr;
use std::sync::Arc;

use anchorage_wire::QueryView;
use anchorage_wire::response::truncate;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::handler::{Shared, Step};
use crate::stats::{ServerStats, bump};
use crate::{Resolve, ServerError};

/// Largest UDP datagram we read; anything longer is cut by the kernel and
/// fails to parse.
const MAX_DATAGRAM: usize = 65_535;
/// Queries awaiting resolution per socket; past it new ones are dropped
/// (the client retries) rather than queueing without bound.
pub(crate) const MAX_UDP_IN_FLIGHT: usize = 10_000;

/// Binds `workers` sockets to `addr` with `SO_REUSEPORT`, so the kernel
/// spreads clients over them. Falls back to one socket, with a warning,
/// where the option is refused.
pub(crate) fn bind(addr: SocketAddr, workers: usize) -> Result<Vec<Arc<UdpSocket>>, ServerError> {
    let err = |source| ServerError::Bind {
        proto: "UDP",
        addr,
        source,
    };
    let first = new_socket(addr, workers > 1).map_err(err)?;
    let bound = first.local_addr().map_err(err)?;
    let mut sockets = vec![Arc::new(first)];
    for _ in 1..workers {
        match new_socket(bound, true) {
            Ok(socket) => sockets.push(Arc::new(socket)),
            Err(e) => {
                tracing::warn!(%bound, error = %e, "SO_REUSEPORT refused: all UDP workers share one socket");
                break;
            }
        }
    }
    Ok(sockets)
}

fn new_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Receives queries on one socket until told to stop, then waits for the
/// queries it handed to resolution.
pub(crate) async fn serve<R: Resolve>(
    socket: Arc<UdpSocket>,
    shared: Arc<Shared<R>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut view = QueryView::new();
    let mut out = Vec::with_capacity(4096);
    let mut in_flight = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            received = socket.recv_from(&mut buf) => {
                let Ok((len, peer)) = received else { continue };
                bump(&shared.stats.udp_queries);
                out.clear();
                match shared.prepare(&buf[..len], peer.ip(), &mut view, &mut out) {
                    Step::Drop => {}
                    Step::Reply => {
                        fit(&view, &mut out, &shared.stats);
                        let _ = socket.send_to(&out, peer).await;
                    }
                    Step::Resolve if in_flight.len() >= MAX_UDP_IN_FLIGHT => bump(&shared.stats.dropped),
                    Step::Resolve => {
                        let (query, socket, shared) = (view, Arc::clone(&socket), Arc::clone(&shared));
                        in_flight.spawn(async move {
                            let mut reply = shared.resolver.resolve(query).await;
                            bump(&shared.stats.resolved);
                            fit(&query, &mut reply, &shared.stats);
                            let _ = socket.send_to(&reply, peer).await;
                        });
                    }
                }
            }
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// Truncates a UDP reply to what the client accepts (RFC 6891 §7).
fn fit(query: &QueryView, reply: &mut Vec<u8>, stats: &ServerStats) {
    let limit = query.max_udp_reply();
    if reply.len() > limit {
        match truncate(reply, limit) {
            Ok(_) => bump(&stats.truncated),
            // A reply we cannot cut safely is not sent over UDP at all;
            // the client retries.
            Err(_) => reply.clear(),
        }
    }
}
