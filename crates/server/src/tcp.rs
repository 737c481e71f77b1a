//! TCP listeners (RFC 7766): length-framed messages, pipelined queries
//! answered out of order, idle timeout, connection limit.

use core::net::SocketAddr;
use std::sync::Arc;

use anchorage_wire::QueryView;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::handler::{Shared, Step};
use crate::stats::bump;
use crate::{Resolve, ServerConfig, ServerError};

/// Pending connections the kernel queues for us.
const BACKLOG: i32 = 1_024;

pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    let err = |source| ServerError::Bind {
        proto: "TCP",
        addr,
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(err)?;
    }
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(BACKLOG).map_err(err)?;
    TcpListener::from_std(socket.into()).map_err(err)
}

/// Accepts connections until told to stop, then waits for open ones.
pub(crate) async fn serve<R: Resolve>(
    listener: TcpListener,
    shared: Arc<Shared<R>>,
    config: ServerConfig,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.tcp_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                // Over the limit: close at once rather than queue.
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else { continue };
                bump(&shared.stats.tcp_connections);
                connections.spawn(connection(stream, peer, Arc::clone(&shared), config.clone(), stop.clone(), slot));
            }
        }
    }
    while connections.join_next().await.is_some() {}
}

async fn connection<R: Resolve>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<R>>,
    config: ServerConfig,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (replies, mut outbox) = mpsc::channel::<Vec<u8>>(config.tcp_pipeline);
    let write = tokio::spawn(async move {
        while let Some(reply) = outbox.recv().await {
            // Invariant: replies come from `prepare` or the resolver and are
            // DNS messages, at most 65535 bytes; longer ones are not sent.
            let Ok(len) = u16::try_from(reply.len()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(2 + reply.len());
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&reply);
            if writer.write_all(&framed).await.is_err() {
                break;
            }
        }
    });
    let pipeline = Arc::new(Semaphore::new(config.tcp_pipeline));
    let mut view = QueryView::new();
    let mut out = Vec::with_capacity(512);
    let mut message = Vec::with_capacity(512);
    loop {
        let mut len = [0u8; 2];
        tokio::select! {
            _ = stop.changed() => break,
            read = tokio::time::timeout(config.tcp_idle, reader.read_exact(&mut len)) => match read {
                Err(_) => {
                    bump(&shared.stats.tcp_idle_closed);
                    break;
                }
                Ok(Err(_)) => break, // closed by the client
                Ok(Ok(_)) => {}
            },
        }
        let size = usize::from(u16::from_be_bytes(len));
        message.resize(size, 0);
        match tokio::time::timeout(config.tcp_idle, reader.read_exact(&mut message)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        bump(&shared.stats.tcp_queries);
        out.clear();
        match shared.prepare(&message, peer.ip(), &mut view, &mut out) {
            Step::Drop => {}
            Step::Reply => {
                if replies.send(out.clone()).await.is_err() {
                    break;
                }
            }
            Step::Resolve => {
                let Ok(permit) = Arc::clone(&pipeline).acquire_owned().await else {
                    break;
                };
                let (query, shared, replies) = (view, Arc::clone(&shared), replies.clone());
                tokio::spawn(async move {
                    let reply = shared.resolver.resolve(query).await;
                    bump(&shared.stats.resolved);
                    let _ = replies.send(reply).await;
                    drop(permit);
                });
            }
        }
    }
    // In-flight resolutions hold clones of `replies`; the writer ends when
    // the last one has sent its answer.
    drop(replies);
    let _ = write.await;
}
