//! The leaf future: an async `TcpStream`.
//!
//! Every operation follows one pattern: try the system call; if it would block, give the
//! reactor the current waker and return `Pending`; when woken, try again. A `Pending` is
//! only ever returned after a `WouldBlock`, which is what edge-triggered readiness needs:
//! the OS announces the *next* change, so we must have seen "nothing more" first.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use log::debug;
use mio::{Interest, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::executor;
use super::reactor::Reactor;

/// A TCP connection whose reads and writes are futures.
///
/// It holds a handle to its reactor, so dropping it — when its fetch ends, or when its task
/// is dropped at the deadline — deregisters its source and closes the socket.
pub struct TcpStream {
    stream: mio::net::TcpStream,
    token: Token,
    reactor: Rc<Reactor>,
}

impl TcpStream {
    // ANCHOR: connect
    /// Connects to `addr` without blocking the thread: starts a non-blocking connect, waits
    /// until the socket is writable, then asks it whether the connect worked.
    ///
    /// Must run inside [`Executor::block_on`](super::Executor::block_on): that is where it
    /// finds the reactor.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let reactor = executor::current_reactor()?;
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            // The handshake goes on without us; writability will say when it has ended.
            Err(e) if crate::connect_in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        let token = reactor.add();
        debug!("token {}: connecting to {addr}", token.0);
        let mut stream = TcpStream {
            stream: mio::net::TcpStream::from_std(socket.into()),
            token,
            reactor,
        };
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        debug!("token {}: connected", stream.token.0);
        Ok(stream)
    }

    /// Ready once the connect has ended: `Ok` if connected, the socket's error if not.
    fn poll_connected(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writable can also mean the connect failed: ask the socket for its error.
        if let Some(e) = self.stream.take_error()? {
            return Poll::Ready(Err(e));
        }
        match self.stream.peer_addr() {
            Ok(_) => Poll::Ready(Ok(())),
            // Still connecting (not yet writable, or a spurious event): wait to be writable.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => self.wait(Interest::WRITABLE, cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
    // ANCHOR_END: connect

    // ANCHOR: read
    /// Reads some bytes into `buf`; `Ok(0)` is the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// The read as a poll: the system call first, the reactor only if it would block.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.stream.read(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return self.wait(Interest::READABLE, cx);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
    // ANCHOR_END: read

    // ANCHOR: write_all
    /// Writes all of `buf`. A write can be short: the loop goes on with the rest, waiting to
    /// be writable whenever the socket's buffer is full.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = poll_fn(|cx| self.poll_write(cx, buf)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    /// One write as a poll: the system call first, the reactor only if it would block.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.stream.write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return self.wait(Interest::WRITABLE, cx);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
    // ANCHOR_END: write_all

    /// The reactor's token for this stream (the trace names sources by token).
    pub fn token(&self) -> Token {
        self.token
    }

    /// The call would block: store this poll's waker with the reactor and return `Pending`.
    /// Only a failure to register ends the wait early, as an error.
    fn wait<T>(&mut self, direction: Interest, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self
            .reactor
            .wait_for(self.token, &mut self.stream, direction, cx.waker())
        {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

// ANCHOR: drop
impl Drop for TcpStream {
    /// Deregisters the source (and drops the wakers stored for it); then the socket closes.
    fn drop(&mut self) {
        if let Err(e) = self.reactor.remove(self.token, &mut self.stream) {
            debug!("token {}: deregister: {e}", self.token.0);
        }
    }
}
// ANCHOR_END: drop
