//! Batched UDP on Linux: a receive thread per loop takes up to [`BATCH`]
//! queries in one `recvmmsg`, answers what it can at once (errors, then
//! cache hits through the resolver's batched fast path,
//! [`Resolve::answer_many_now`]) and sends those replies in one
//! `sendmmsg`; queries that need
//! resolution go to the tokio runtime, whose tasks send their replies on
//! the same socket.
//!
//! The thread blocks in the kernel, never in the runtime; it wakes at
//! least every [`WAKE`] to notice a stop. Where the kernel or a socket shim
//! refuses `recvmmsg`, the loop falls back to the plain tokio one with a
//! warning; a refused `sendmmsg` falls back to one `sendto` per reply.

use core::net::SocketAddr;
use core::time::Duration;
use std::net::UdpSocket as StdUdpSocket;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anchorage_wire::QueryView;
use socket2::SockRef;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::Resolve;
use crate::handler::{Shared, Step};
use crate::mmsg::Mmsg;
use crate::stats::{ServerStats, bump};
use crate::udp::{MAX_DATAGRAM, MAX_UDP_IN_FLIGHT, fit};

/// Datagrams per `recvmmsg`/`sendmmsg`.
pub(crate) const BATCH: usize = 32;
/// Longest a receive thread sleeps before it looks for a stop.
pub(crate) const WAKE: Duration = Duration::from_millis(100);
/// Queries waiting between the thread and the runtime; past it they are
/// dropped (the client retries), as past the in-flight cap.
const HANDOFF_QUEUE: usize = 1_024;

/// What the receive thread tells the runtime.
// Nearly every message is a `Resolve`: boxing its query would allocate
// per query to shrink a message sent at most once per socket.
#[allow(clippy::large_enum_variant)]
enum Handoff {
    /// A query that needs resolution, and where its reply goes.
    Resolve(QueryView, SocketAddr),
    /// `recvmmsg` is refused here: serve this socket the plain way.
    Unsupported(std::io::Error),
}

/// Serves one socket with a batched receive thread until told to stop,
/// then waits for the thread and for the queries it handed over.
pub(crate) async fn serve<R: Resolve>(
    socket: Arc<StdUdpSocket>,
    shared: Arc<Shared<R>>,
    mut stop: watch::Receiver<bool>,
) {
    let (tx, mut rx) = mpsc::channel(HANDOFF_QUEUE);
    let halt = Arc::new(AtomicBool::new(false));
    // Aborted at the drain deadline, this future still stops the thread.
    let _halt_on_drop = HaltOnDrop(Arc::clone(&halt));
    let thread = {
        let (socket, shared, halt) = (Arc::clone(&socket), Arc::clone(&shared), Arc::clone(&halt));
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("anchorage-udp".to_owned())
            .spawn(move || {
                // The resolver may spawn tasks (prefetch) from a cache hit.
                let _runtime = runtime.enter();
                receive(&socket, &shared, &halt, &tx);
            })
    };
    if let Err(e) = thread {
        tracing::warn!(error = %e, "cannot start a UDP receive thread: plain receive and send");
        plain(&socket, shared, stop).await;
        return;
    }
    let mut in_flight = JoinSet::new();
    let mut stopping = false;
    loop {
        tokio::select! {
            // An error means the server is gone without a shutdown: stop too.
            _ = stop.changed(), if !stopping => {
                halt.store(true, Ordering::Relaxed);
                stopping = true;
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            handoff = rx.recv() => match handoff {
                // The thread has stopped and everything it sent is here.
                None => break,
                Some(Handoff::Resolve(_, _)) if in_flight.len() >= MAX_UDP_IN_FLIGHT => {
                    bump(&shared.stats.dropped);
                }
                Some(Handoff::Resolve(query, peer)) => {
                    let (socket, shared) = (Arc::clone(&socket), Arc::clone(&shared));
                    in_flight.spawn(async move {
                        let mut reply = shared.resolver.resolve(query).await;
                        bump(&shared.stats.resolved);
                        fit(&query, &mut reply, &shared.stats);
                        send_now(&socket, &reply, peer, &shared.stats).await;
                    });
                }
                Some(Handoff::Unsupported(e)) => {
                    tracing::warn!(error = %e, "recvmmsg refused: plain UDP receive and send");
                    while in_flight.join_next().await.is_some() {}
                    if !stopping {
                        plain(&socket, shared, stop).await;
                    }
                    return;
                }
            }
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// Tells the receive thread to stop when dropped.
struct HaltOnDrop(Arc<AtomicBool>);

impl Drop for HaltOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The plain tokio loop on this socket, for when batching cannot run.
async fn plain<R: Resolve>(
    socket: &StdUdpSocket,
    shared: Arc<Shared<R>>,
    stop: watch::Receiver<bool>,
) {
    match socket.try_clone().and_then(crate::udp::to_tokio) {
        Ok(socket) => crate::udp::serve(Arc::new(socket), shared, stop).await,
        Err(e) => tracing::error!(error = %e, "UDP socket unusable: this worker serves nothing"),
    }
}

/// Sends a reply from a runtime task without blocking the runtime: the
/// socket is in blocking mode for the receive thread, so this send says
/// MSG_DONTWAIT. A full send buffer is given a few short waits, then the
/// reply is dropped and counted (the client retries).
async fn send_now(socket: &StdUdpSocket, reply: &[u8], peer: SocketAddr, stats: &ServerStats) {
    if reply.is_empty() {
        return;
    }
    for attempt in 0..=SEND_RETRIES {
        match SockRef::from(socket).send_to_with_flags(reply, &peer.into(), libc::MSG_DONTWAIT) {
            Ok(_) => return,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && attempt < SEND_RETRIES => {
                tokio::time::sleep(SEND_RETRY_WAIT).await;
            }
            Err(_) => break,
        }
    }
    bump(&stats.udp_send_failed);
}

/// Waits given to a reply that meets a full send buffer.
const SEND_RETRIES: u32 = 3;
/// How long each wait is.
const SEND_RETRY_WAIT: Duration = Duration::from_millis(1);

/// The receive thread: batches in, immediate replies out, the rest handed
/// to the runtime, until `halt`.
fn receive<R: Resolve>(
    socket: &StdUdpSocket,
    shared: &Shared<R>,
    halt: &AtomicBool,
    tx: &mpsc::Sender<Handoff>,
) {
    let fd = socket.as_fd();
    let mut mmsg = Mmsg::new(BATCH);
    // Zeroed allocations, each its own (not clones of one): pages are
    // touched only as datagrams fill them.
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM]).collect();
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(1232)).collect();
    let mut replies: Vec<usize> = Vec::with_capacity(BATCH);
    // The admitted queries of a batch, packed for the resolver's batched
    // fast path: `views[k]` came in `slot_of[k]`, its reply goes to
    // `fast[k]`, then (swapped, not copied) to `outs[slot_of[k]]`.
    let mut views = vec![QueryView::new(); BATCH];
    let mut slot_of = [0usize; BATCH];
    let mut fast: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(1232)).collect();
    let mut answered = [false; BATCH];
    let mut received_any = false;
    let mut batched_send = true;
    while !halt.load(Ordering::Relaxed) {
        let got = match mmsg.recv(fd, &mut bufs) {
            Ok(got) => got,
            Err(e) => match e.kind() {
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted => continue,
                // The socket was made non-blocking under us (a worker
                // sharing it fell back to the plain tokio loop): wait a
                // little rather than spin.
                std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                _ if !received_any && refused(&e) => {
                    let _ = tx.blocking_send(Handoff::Unsupported(e));
                    return;
                }
                _ => {
                    // Transient (ENOMEM, a queued ICMP error): not a spin.
                    tracing::debug!(error = %e, "recvmmsg failed");
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
            },
        };
        received_any = true;
        replies.clear();
        let mut admitted = 0;
        for (slot, out) in outs.iter_mut().enumerate().take(got.min(BATCH)) {
            bump(&shared.stats.udp_queries);
            let Some(peer) = mmsg.peer(slot) else {
                bump(&shared.stats.dropped);
                continue;
            };
            out.clear();
            let packet = &bufs[slot][..mmsg.len(slot)];
            // `views[admitted]` is scratch until the query is admitted.
            let view = &mut views[admitted];
            match shared.admit(packet, peer.ip(), view, out) {
                Step::Drop => {}
                Step::Reply => {
                    fit(view, out, &shared.stats);
                    if !out.is_empty() {
                        replies.push(slot);
                    }
                }
                Step::Resolve => {
                    slot_of[admitted] = slot;
                    admitted += 1;
                }
            }
        }
        for reply in &mut fast[..admitted] {
            reply.clear();
        }
        shared.resolver.answer_many_now(
            &views[..admitted],
            &mut fast[..admitted],
            &mut answered[..admitted],
        );
        for k in 0..admitted {
            let (slot, view) = (slot_of[k], &views[k]);
            if answered[k] {
                bump(&shared.stats.answered_now);
                std::mem::swap(&mut outs[slot], &mut fast[k]);
                fit(view, &mut outs[slot], &shared.stats);
                if !outs[slot].is_empty() {
                    replies.push(slot);
                }
            } else if let Some(peer) = mmsg.peer(slot)
                && tx.try_send(Handoff::Resolve(*view, peer)).is_err()
            {
                bump(&shared.stats.dropped);
            }
        }
        if batched_send {
            batched_send = send_batch(&mut mmsg, socket, &replies, &outs, &shared.stats);
        }
        if !batched_send {
            for &slot in &replies {
                if let Some(peer) = mmsg.peer(slot)
                    && socket.send_to(&outs[slot], peer).is_err()
                {
                    bump(&shared.stats.udp_send_failed);
                }
            }
        }
    }
}

/// Sends the replies in `slots` with as few `sendmmsg` calls as the kernel
/// allows, skipping (and counting) any one it refuses. Returns false,
/// having sent nothing, when `sendmmsg` itself is refused.
fn send_batch(
    mmsg: &mut Mmsg,
    socket: &StdUdpSocket,
    slots: &[usize],
    outs: &[Vec<u8>],
    stats: &ServerStats,
) -> bool {
    let mut batch: [(usize, &[u8]); BATCH] = [(0, &[]); BATCH];
    let n = slots.len().min(BATCH);
    for (entry, &slot) in batch.iter_mut().zip(slots) {
        *entry = (slot, &outs[slot]);
    }
    let mut start = 0;
    while start < n {
        match mmsg.send(socket.as_fd(), &batch[start..n]) {
            Ok(sent) => start += sent.max(1),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if start == 0
                    && matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EOPNOTSUPP)) =>
            {
                return false;
            }
            // This reply cannot go (no route, a filter, a full buffer):
            // the next may.
            Err(_) => {
                bump(&stats.udp_send_failed);
                start += 1;
            }
        }
    }
    true
}

/// Errors that mean "this system call is not available here" (an old
/// kernel, a seccomp filter, a socket shim), not "this datagram failed".
fn refused(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM | libc::EINVAL)
    )
}
