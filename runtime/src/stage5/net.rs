//! The leaf futures: an async `TcpStream`, and (new in stage 5) a `TcpListener`, so that a
//! server can run on the loop too.
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
use socket2::{Domain, Socket, Type};

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

/// How many connections may wait in the kernel's queue for `accept` (the OS caps it at
/// `net.core.somaxconn`). With mio's 128, a burst of clients would see the rest of their
/// handshakes dropped, and retried a second, then three, then seven seconds later.
const BACKLOG: i32 = 4096;

/// A listening socket whose `accept` is a future: the seeds' echo server, on the loop.
/// Like a stream, it is registered with the reactor once and deregistered when dropped.
pub struct TcpListener {
    listener: mio::net::TcpListener,
    token: Token,
    reactor: Rc<Reactor>,
}

impl TcpListener {
    /// Listens on `addr` (port 0 picks a free one), with `SO_REUSEADDR` (a server restarted at
    /// once can listen on the port its last run left in `TIME_WAIT`) and `BACKLOG`. Must run
    /// inside [`Executor::block_on`](super::Executor::block_on), where the reactor is.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let reactor = Reactor::current()?;
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        socket.set_nonblocking(true)?;
        let mut listener = mio::net::TcpListener::from_std(socket.into());
        let token = reactor.register(&mut listener)?;
        debug!("token {}: listening on {}", token.0, listener.local_addr()?);
        Ok(TcpListener {
            listener,
            token,
            reactor,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for the next connection: a [`TcpStream`] on the same loop, and the peer's address.
    pub async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (mut stream, peer) = poll_fn(|cx| self.poll_accept(cx)).await?;
        let token = self.reactor.register(&mut stream)?;
        debug!("token {}: accepted {peer}", token.0);
        let stream = TcpStream {
            stream,
            token,
            reactor: self.reactor.clone(),
        };
        Ok((stream, peer))
    }

    /// One accept as a poll: the system call first, the reactor only if it would block.
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(mio::net::TcpStream, SocketAddr)>> {
        loop {
            match self.listener.accept() {
                Ok(accepted) => return Poll::Ready(Ok(accepted)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reactor
                        .wait_for(self.token, Interest::READABLE, cx.waker());
                    return Poll::Pending;
                }
                // A client that gave up before we accepted it is not our error.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        if let Err(e) = self.reactor.deregister(self.token, &mut self.listener) {
            debug!("token {}: deregister: {e}", self.token.0);
        }
    }
}
