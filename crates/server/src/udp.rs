//! UDP listeners: one `SO_REUSEPORT` socket per worker where the platform
//! allows it, one shared socket otherwise; served by tokio tasks here, or by
//! batched receive threads ([`crate::batch`], Linux) when configured.

use core::net::SocketAddr;
use std::net::UdpSocket as StdUdpSocket;
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
pub(crate) const MAX_DATAGRAM: usize = 65_535;
/// Queries awaiting resolution per socket; past it new ones are dropped
/// (the client retries) rather than queueing without bound.
pub(crate) const MAX_UDP_IN_FLIGHT: usize = 10_000;

/// Binds up to `workers` sockets to `addr` with `SO_REUSEPORT`, so the
/// kernel spreads clients over them. Where the option is refused, binds one
/// socket and warns: the workers then all receive on it.
pub(crate) fn bind(addr: SocketAddr, workers: usize) -> Result<Vec<StdUdpSocket>, ServerError> {
    let err = |source| ServerError::Bind {
        proto: "UDP",
        addr,
        source,
    };
    let (first, reuse) = new_socket(addr, workers > 1).map_err(err)?;
    let bound = first.local_addr().map_err(err)?;
    let mut sockets = vec![first];
    if !reuse {
        return Ok(sockets);
    }
    for _ in 1..workers {
        match new_socket(bound, true) {
            Ok((socket, true)) => sockets.push(socket),
            Ok((_, false)) => break,
            Err(e) => {
                tracing::warn!(%bound, error = %e, "SO_REUSEPORT refused: the remaining UDP workers share a socket");
                break;
            }
        }
    }
    Ok(sockets)
}

/// A bound UDP socket, and whether `SO_REUSEPORT` is set on it (asked and
/// not refused; a refusal is logged).
fn new_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<(StdUdpSocket, bool)> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    let reused = reuse_port
        && match socket.set_reuse_port(true) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "SO_REUSEPORT refused: UDP workers share one socket");
                false
            }
        };
    socket.bind(&addr.into())?;
    Ok((socket.into(), reused))
}

/// Starts `workers` receive loops over `sockets` (several loops share a
/// socket when there are fewer sockets than workers): batched threads when
/// `batching` is asked and the platform has it, tokio tasks otherwise.
pub(crate) fn start<R: Resolve>(
    sockets: Vec<StdUdpSocket>,
    workers: usize,
    batching: bool,
    shared: &Arc<Shared<R>>,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> std::io::Result<()> {
    let count = sockets.len();
    if count == 0 {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    if batching {
        // The receive threads wake for a stop at least this often; a socket
        // that cannot time out its receive is served the plain way.
        match sockets
            .iter()
            .try_for_each(|s| s.set_read_timeout(Some(crate::batch::WAKE)))
        {
            Ok(()) => {
                let sockets: Vec<_> = sockets.into_iter().map(Arc::new).collect();
                for i in 0..workers.max(count) {
                    tasks.spawn(crate::batch::serve(
                        Arc::clone(&sockets[i % count]),
                        Arc::clone(shared),
                        stop.clone(),
                    ));
                }
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "no receive timeout on UDP sockets: plain receive and send");
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    if batching {
        tracing::warn!("batched UDP I/O exists on Linux only: plain receive and send");
    }
    let mut tokio_sockets = Vec::with_capacity(count);
    for socket in sockets {
        tokio_sockets.push(Arc::new(to_tokio(socket)?));
    }
    for i in 0..workers.max(count) {
        tasks.spawn(serve(
            Arc::clone(&tokio_sockets[i % count]),
            Arc::clone(shared),
            stop.clone(),
        ));
    }
    Ok(())
}

/// A bound socket handed to the tokio reactor (non-blocking).
pub(crate) fn to_tokio(socket: StdUdpSocket) -> std::io::Result<UdpSocket> {
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
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
                        if !out.is_empty() && socket.send_to(&out, peer).await.is_err() {
                            bump(&shared.stats.udp_send_failed);
                        }
                    }
                    Step::Resolve if in_flight.len() >= MAX_UDP_IN_FLIGHT => bump(&shared.stats.dropped),
                    Step::Resolve => {
                        let (query, socket, shared) = (view, Arc::clone(&socket), Arc::clone(&shared));
                        in_flight.spawn(async move {
                            let mut reply = shared.resolver.resolve(query).await;
                            bump(&shared.stats.resolved);
                            fit(&query, &mut reply, &shared.stats);
                            if !reply.is_empty() && socket.send_to(&reply, peer).await.is_err() {
                                bump(&shared.stats.udp_send_failed);
                            }
                        });
                    }
                }
            }
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// Truncates a UDP reply to what the client accepts (RFC 6891 §7).
pub(crate) fn fit(query: &QueryView, reply: &mut Vec<u8>, stats: &ServerStats) {
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
