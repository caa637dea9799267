//! The site's event loop: one `mio::Poll` on the site's thread that accepts connections,
//! reads each request head, holds the connection until its delay is over, writes the answer
//! and closes it. Timers live in a heap; the earliest deadline is `poll`'s timeout, so a
//! thousand waiting connections cost no thread and no busy loop. What each answer *says* is
//! decided in `pages.rs`; this file only moves bytes and keeps time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use log::{debug, trace, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use socket2::{Domain, Socket, Type};

use super::pages::answer;
use super::{Shared, SiteConfig};

/// How many connections may wait in the kernel's queue before the loop accepts them.
const BACKLOG: i32 = 4096;

/// After a failed `accept` (most likely: out of file descriptors), try again this much later.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The token of the listening socket. Connections get tokens from 2 upward, never reused.
pub(super) const LISTENER: Token = Token(0);

/// The token of the waker that `Site::stop` uses to interrupt `poll` from another thread.
pub(super) const WAKER: Token = Token(1);

/// Binds `addr` with a large backlog, so a burst of thousands of connects is not refused while
/// the loop accepts them, and returns it non-blocking, ready for mio.
pub(super) fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// The site's loop and everything it owns; it lives on the site's thread.
pub(super) struct Server {
    poll: Poll,
    listener: TcpListener,
    config: SiteConfig,
    shared: Arc<Shared>,
    /// The open connections by token number. Tokens are never reused, so an event or a timer
    /// for a connection that is already gone finds nothing here and is ignored.
    conns: HashMap<usize, Conn>,
    /// Timers, earliest first: (when, token). A due connection token means "answer now"; a due
    /// `LISTENER` means "try accepting again".
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    next_id: usize,
    /// Scratch space for reads.
    buf: Vec<u8>,
}

/// One connection and where it is in its life.
struct Conn {
    stream: TcpStream,
    token: Token,
    /// The request and its status, for the log: `GET /3 -> 200`.
    request: String,
    state: State,
}

enum State {
    /// Collecting the request head.
    Reading { head: Vec<u8> },
    /// The response is ready; a timer will wake the connection when it is due.
    Waiting { response: Vec<u8> },
    /// Sending the response; `sent` bytes are already out.
    Writing { response: Vec<u8>, sent: usize },
}

/// What the loop does with a connection after one step of it.
enum Next {
    /// Keep it until its next event.
    Keep,
    /// Keep it, and wake it again after this delay.
    WakeAfter(Duration),
    /// Close it; the text says why, for the log.
    Close(String),
}

impl Server {
    /// The loop, ready to run: `poll` already watches `listener`. Built here rather than in
    /// `Site::start_on` so that the connection table and the timers stay the loop's own.
    pub(super) fn new(
        poll: Poll,
        listener: TcpListener,
        config: SiteConfig,
        shared: Arc<Shared>,
    ) -> Server {
        Server {
            poll,
            listener,
            config,
            shared,
            conns: HashMap::new(),
            timers: BinaryHeap::new(),
            next_id: 2, // 0 and 1 are `LISTENER` and `WAKER`
            buf: vec![0; 4096],
        }
    }

    /// Runs until `Site::stop`: sleep in `poll` until a socket is ready or the next timer is
    /// due, handle the events, then fire the due timers.
    pub(super) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.time_to_next_timer();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            trace!(target: "site", "tick: {} events, {} open, {} timers (slept at most {timeout:?})",
                events.iter().count(), self.conns.len(), self.timers.len());

            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {
                        if self.shared.stop.load(Ordering::SeqCst) {
                            self.close_all();
                            return Ok(());
                        }
                    }
                    Token(id) => self.on_ready(id),
                }
            }
            self.fire_due_timers();
        }
    }

    /// How long `poll` may sleep: until the earliest timer, or forever if there is none.
    fn time_to_next_timer(&self) -> Option<Duration> {
        self.timers
            .peek()
            .map(|Reverse((due, _))| due.saturating_duration_since(Instant::now()))
    }

    /// Accepts every pending connection. mio is edge-triggered: the listener reports
    /// "readable" once for a whole burst, so accept until `WouldBlock`.
    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    let token = Token(self.next_id);
                    self.next_id += 1;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut stream, token, Interest::READABLE)
                    {
                        warn!(target: "site", "#{} from {peer}: cannot register: {e}", token.0);
                        continue; // dropping `stream` closes it
                    }
                    let open = self.shared.open.fetch_add(1, Ordering::SeqCst) + 1;
                    self.shared.peak.fetch_max(open, Ordering::SeqCst);
                    debug!(target: "site", "#{} accepted from {peer} ({open} open)", token.0);
                    let conn = Conn {
                        stream,
                        token,
                        request: "no request yet".to_string(),
                        state: State::Reading { head: Vec::new() },
                    };
                    self.conns.insert(token.0, conn);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // Most likely out of file descriptors. The connections wait in the backlog,
                    // but no new "readable" edge will come for them: retry on a timer.
                    warn!(target: "site", "accept failed: {e}; retrying in {ACCEPT_RETRY:?}");
                    self.timers
                        .push(Reverse((Instant::now() + ACCEPT_RETRY, LISTENER.0)));
                    return;
                }
            }
        }
    }

    /// A connection's socket is ready: take the step its state calls for.
    fn on_ready(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return; // already closed
        };
        let next = match conn.state {
            State::Reading { .. } => conn.read_request(&self.config, &mut self.buf),
            State::Writing { .. } => conn.write_response(self.poll.registry()),
            // Nothing to do until the timer fires. (A client that went away meanwhile is
            // noticed when the write fails.)
            State::Waiting { .. } => Next::Keep,
        };
        self.then(id, next);
    }

    /// Fires every timer that is due: answers the waiting connections, retries `accept`.
    fn fire_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((due, id))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            if id == LISTENER.0 {
                self.accept_all();
                continue;
            }
            let Some(conn) = self.conns.get_mut(&id) else {
                continue; // the connection is gone: a stale timer
            };
            if let State::Waiting { response } = &mut conn.state {
                let response = std::mem::take(response);
                conn.state = State::Writing { response, sent: 0 };
                let next = conn.write_response(self.poll.registry());
                self.then(id, next);
            }
        }
    }

    /// Carries out what a step of connection `id` decided.
    fn then(&mut self, id: usize, next: Next) {
        match next {
            Next::Keep => {}
            Next::WakeAfter(delay) => {
                self.shared.requests.fetch_add(1, Ordering::SeqCst);
                if let Some(conn) = self.conns.get(&id) {
                    debug!(target: "site", "#{id} {}, answering in {delay:?}", conn.request);
                }
                self.timers.push(Reverse((Instant::now() + delay, id)));
            }
            Next::Close(why) => self.close(id, &why),
        }
    }

    /// Closes connection `id`. The open count goes down before the socket closes, so a client
    /// that saw the end of its response also sees the count without its connection.
    fn close(&mut self, id: usize, why: &str) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        // Deregistering can only fail if the socket is already broken: nothing to do then.
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let open = self.shared.open.fetch_sub(1, Ordering::SeqCst) - 1;
        debug!(target: "site", "#{id} {}: {why}; closed ({open} open)", conn.request);
        drop(conn);
    }

    fn close_all(&mut self) {
        let ids: Vec<usize> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id, "the site is stopping");
        }
    }
}

impl Conn {
    /// Reads what the client sent until `WouldBlock`; once the head is complete, prepares the
    /// answer and asks to be woken when it is due.
    fn read_request(&mut self, config: &SiteConfig, buf: &mut [u8]) -> Next {
        let State::Reading { head } = &mut self.state else {
            return Next::Keep;
        };
        let reply = loop {
            match self.stream.read(buf) {
                Ok(0) => return Next::Close("the client left before sending a request".into()),
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Next::Close(format!("read failed: {e}")),
            }
            if let Some(reply) = answer(head, config) {
                break reply;
            }
        };
        self.request = format!("{} -> {}", reply.request, reply.status);
        let delay = reply.delay;
        self.state = State::Waiting {
            response: reply.into_bytes(),
        };
        Next::WakeAfter(delay)
    }

    /// Writes as much of the response as the socket takes. Writes can be short: then wait for
    /// "writable" and continue. Done means close, right here in the same step.
    fn write_response(&mut self, registry: &Registry) -> Next {
        let State::Writing { response, sent } = &mut self.state else {
            return Next::Keep;
        };
        while *sent < response.len() {
            match self.stream.write(&response[*sent..]) {
                Ok(0) => return Next::Close("the socket took no bytes".into()),
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    trace!(target: "site", "#{} short write: {sent} of {} bytes; waiting for writable",
                        self.token.0, response.len());
                    return match registry.reregister(
                        &mut self.stream,
                        self.token,
                        Interest::WRITABLE,
                    ) {
                        Ok(()) => Next::Keep,
                        Err(e) => Next::Close(format!("cannot wait for writable: {e}")),
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Next::Close(format!("write failed: {e}")),
            }
        }
        Next::Close("answered".into())
    }
}
