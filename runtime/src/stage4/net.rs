//! The leaf future: an async `TcpStream`.
//!
//! Every operation tries the system call first, and only if it would block gives the reactor
//! the current waker and returns `Pending`: edge-triggered readiness announces the *next*
//! change, so a future may wait only after it has seen "nothing more".

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use log::debug;
use mio::{Interest, Token};

use super::reactor::Reactor;

/// A TCP connection whose reads and writes are futures. It holds its reactor, so dropping it
/// — when its fetch ends, or with its task at the deadline — deregisters its source.
pub struct TcpStream {
    stream: mio::net::TcpStream,
    token: Token,
    reactor: Rc<Reactor>,
}

impl TcpStream {
    /// Connects without blocking the thread, as stage 1 did by hand: a non-blocking connect, a
    /// wait until writable, then the socket's own verdict. The reactor is the running executor's.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let reactor = Reactor::current()?;
        let mut stream = mio::net::TcpStream::connect(addr)?;
        let token = reactor.register(&mut stream)?;
        debug!("token {}: connecting to {addr}", token.0);
        let mut stream = TcpStream {
            stream,
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

    /// Reads some bytes into `buf`; `Ok(0)` is the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_io(Interest::READABLE, cx, |stream| stream.read(buf))).await
    }

    /// Writes all of `buf`. A write can be short: the loop goes on with the rest, waiting to
    /// be writable whenever the socket's buffer is full.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let write = |stream: &mut mio::net::TcpStream| stream.write(buf);
            match poll_fn(|cx| self.poll_io(Interest::WRITABLE, cx, write)).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    // ANCHOR: wait
    /// The pattern of every operation: the system call first, the reactor only if it blocks.
    fn poll_io<T>(
        &mut self,
        direction: Interest,
        cx: &mut Context<'_>,
        mut call: impl FnMut(&mut mio::net::TcpStream) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        match call(&mut self.stream) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(direction, cx),
            result => Poll::Ready(result),
        }
    }

    /// The call would block: leave this poll's waker with the reactor, for the event that
    /// says the source is ready, and return `Pending`. On *every* `Pending`: the reactor takes
    /// the waker out when it wakes it, and the next poll may come with another waker.
    fn wait<T>(&self, direction: Interest, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        self.reactor.wait_for(self.token, direction, cx.waker());
        Poll::Pending
    }
    // ANCHOR_END: wait
}

impl Drop for TcpStream {
    /// Deregisters the source (and drops the wakers stored for it); then the socket closes.
    fn drop(&mut self) {
        if let Err(e) = self.reactor.deregister(self.token, &mut self.stream) {
            debug!("token {}: deregister: {e}", self.token.0);
        }
    }
}
