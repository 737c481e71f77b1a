//! Batched datagram I/O on Linux: `recvmmsg(2)` and `sendmmsg(2)`, which no
//! safe crate wraps without reading uninitialised memory. The crate's only
//! `unsafe` code; everything here is bounds-checked before the kernel sees
//! a pointer, and no pointer outlives the call that uses it.
#![allow(unsafe_code)]

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Headers and peer addresses for up to `capacity` datagrams, reused from
/// one batch to the next; a reply goes back to the address its query came from.
pub(crate) struct Mmsg {
    headers: Vec<libc::mmsghdr>,
    iovecs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    name_lens: Vec<libc::socklen_t>,
    lens: Vec<usize>,
}

// SAFETY: the raw pointers inside `headers` and `iovecs` are written just
// before each system call and never read by Rust code; between calls they are
// dead values, so moving the buffers to another thread shares nothing.
unsafe impl Send for Mmsg {}

impl Mmsg {
    /// Room for `capacity` datagrams per call.
    pub(crate) fn new(capacity: usize) -> Self {
        // SAFETY: all-zero bytes are a valid value of these plain C structs
        // (null pointers, zero lengths, AF_UNSPEC).
        let (header, name) = unsafe {
            (
                core::mem::zeroed::<libc::mmsghdr>(),
                core::mem::zeroed::<libc::sockaddr_storage>(),
            )
        };
        let iovec = libc::iovec {
            iov_base: core::ptr::null_mut(),
            iov_len: 0,
        };
        Self {
            headers: vec![header; capacity],
            iovecs: vec![iovec; capacity],
            names: vec![name; capacity],
            name_lens: vec![0; capacity],
            lens: vec![0; capacity],
        }
    }

    /// Receives up to `min(capacity, bufs.len())` datagrams, one per
    /// buffer: blocks (up to the socket's receive timeout) for the first,
    /// then takes only what is already queued. Returns how many arrived.
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>, bufs: &mut [Vec<u8>]) -> io::Result<usize> {
        let n = bufs.len().min(self.headers.len());
        for (iovec, buf) in self.iovecs.iter_mut().zip(bufs.iter_mut()) {
            iovec.iov_base = buf.as_mut_ptr().cast();
            iovec.iov_len = buf.len();
        }
        let (iovecs, names) = (self.iovecs.as_mut_ptr(), self.names.as_mut_ptr());
        for (i, header) in self.headers[..n].iter_mut().enumerate() {
            header.msg_len = 0;
            let msg = &mut header.msg_hdr;
            msg.msg_name = names.wrapping_add(i).cast();
            msg.msg_namelen = SOCKADDR_STORAGE_LEN;
            msg.msg_iov = iovecs.wrapping_add(i);
            msg.msg_iovlen = 1;
            msg.msg_control = core::ptr::null_mut();
            msg.msg_controllen = 0;
            msg.msg_flags = 0;
        }
        // SAFETY: the first `n` headers point at `n` iovecs and `n` address
        // slots owned by `self`, and each iovec at a live buffer of `bufs`
        // of the length given; `&mut self` and `&mut bufs` keep them all
        // alive and unaliased until the call returns. A null timeout is
        // allowed (the socket's SO_RCVTIMEO bounds the wait).
        let got = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.headers.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_WAITFORONE,
                core::ptr::null_mut(),
            )
        };
        let got = usize::try_from(got).map_err(|_| io::Error::last_os_error())?;
        let got = got.min(n);
        let filled = self.headers.iter().zip(bufs.iter()).take(got);
        for (i, (header, buf)) in filled.enumerate() {
            self.name_lens[i] = header.msg_hdr.msg_namelen;
            // A datagram longer than its buffer is cut (MSG_TRUNC); its
            // length is then the buffer's, and the parse decides.
            self.lens[i] = (header.msg_len as usize).min(buf.len());
        }
        Ok(got)
    }

    /// The length of datagram `i` of the last [`Mmsg::recv`].
    pub(crate) fn len(&self, i: usize) -> usize {
        self.lens.get(i).copied().unwrap_or(0)
    }

    /// The sender of datagram `i` of the last [`Mmsg::recv`], if an IP address.
    pub(crate) fn peer(&self, i: usize) -> Option<SocketAddr> {
        let (name, len) = (self.names.get(i)?, *self.name_lens.get(i)? as usize);
        match i32::from(name.ss_family) {
            libc::AF_INET if len >= core::mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the kernel wrote an AF_INET address of at least
                // sockaddr_in's size; sockaddr_storage is aligned for it.
                let sin = unsafe { &*core::ptr::from_ref(name).cast::<libc::sockaddr_in>() };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if len >= core::mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for AF_INET6 and sockaddr_in6.
                let sin6 = unsafe { &*core::ptr::from_ref(name).cast::<libc::sockaddr_in6>() };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// Sends `replies[k].1` to the sender of datagram `replies[k].0` of the
    /// last [`Mmsg::recv`], in one call; returns how many the kernel took
    /// (it stops at the first that fails: the caller resumes after it).
    pub(crate) fn send(
        &mut self,
        fd: BorrowedFd<'_>,
        replies: &[(usize, &[u8])],
    ) -> io::Result<usize> {
        let n = replies.len().min(self.headers.len());
        let mut slots = 0;
        for (iovec, &(_, reply)) in self.iovecs.iter_mut().zip(replies) {
            // The kernel only reads a send buffer.
            iovec.iov_base = reply.as_ptr().cast_mut().cast();
            iovec.iov_len = reply.len();
        }
        let (iovecs, names) = (self.iovecs.as_mut_ptr(), self.names.as_mut_ptr());
        for (k, (header, &(slot, _))) in self.headers[..n].iter_mut().zip(replies).enumerate() {
            if slot >= self.names.len() {
                break;
            }
            header.msg_len = 0;
            let msg = &mut header.msg_hdr;
            msg.msg_name = names.wrapping_add(slot).cast();
            msg.msg_namelen = self.name_lens[slot];
            msg.msg_iov = iovecs.wrapping_add(k);
            msg.msg_iovlen = 1;
            msg.msg_control = core::ptr::null_mut();
            msg.msg_controllen = 0;
            msg.msg_flags = 0;
            slots = k + 1;
        }
        if slots == 0 {
            return Ok(0);
        }
        // SAFETY: the first `slots` headers point at iovecs and address
        // slots owned by `self` (slot indices checked above), each iovec at
        // a reply borrowed for the whole call; the kernel reads them only.
        let sent = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                self.headers.as_mut_ptr(),
                slots as libc::c_uint,
                0,
            )
        };
        usize::try_from(sent).map_err(|_| io::Error::last_os_error())
    }
}

/// What the kernel may write into an address slot.
const SOCKADDR_STORAGE_LEN: libc::socklen_t =
    core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn a_batch_round_trips_to_every_sender() {
        let server = UdpSocket::bind("127.40.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.40.0.2:0").unwrap())
            .collect();
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[i as u8; 5], addr).unwrap();
        }
        let mut mmsg = Mmsg::new(8);
        let mut bufs = vec![vec![0u8; 512]; 8];
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let got = mmsg.recv(server.as_fd(), &mut bufs).unwrap();
        assert_eq!(got, 3, "loopback queues a datagram before send_to returns");
        let replies: Vec<(usize, Vec<u8>)> = (0..3)
            .map(|i| (i, bufs[i][..mmsg.len(i)].iter().map(|b| b + 1).collect()))
            .collect();
        for (i, _) in &replies {
            assert_eq!(mmsg.len(*i), 5);
            assert_eq!(mmsg.peer(*i).unwrap().ip().to_string(), "127.40.0.2");
        }
        let borrowed: Vec<(usize, &[u8])> = replies.iter().map(|(i, r)| (*i, &r[..])).collect();
        assert_eq!(mmsg.send(server.as_fd(), &borrowed).unwrap(), 3);
        for c in &clients {
            let mut buf = [0u8; 16];
            let n = c.recv(&mut buf).unwrap();
            assert_eq!(n, 5);
            let sent = buf[0] - 1;
            assert_eq!(
                mmsg.peer(usize::from(sent)).unwrap(),
                c.local_addr().unwrap()
            );
        }
    }
}
