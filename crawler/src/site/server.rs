//! The site's event loop: one `mio::Poll` that accepts, reads each request head, holds the
//! connection until its delay is over, writes the answer and closes. Each connection has one
//! deadline at a time (head, delay, or answer) in a sorted set of timers whose earliest is
//! `poll`'s timeout: a thousand waiting connections cost no thread and no busy loop.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use log::{debug, trace, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::{Domain, Socket, Type};

use super::pages::{MAX_HEAD_BYTES, Reply, answer};
use super::{Shared, SiteConfig};

/// The tokens of the listening socket and of the waker that `Site::stop` uses to interrupt
/// `poll`. Connections get tokens from 2 upward, never reused.
const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

/// After a failed `accept` (most likely: out of file descriptors), try again this much later.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The OS error numbers for "out of file descriptors": `ENFILE` (the system) and `EMFILE` (this
/// process) on Linux, macOS and the BSDs, and Windows' `WSAEMFILE`.
const OUT_OF_DESCRIPTORS: [i32; 3] = [23, 24, 10024];

/// Timers, earliest first: (when, token).
type Timers = BTreeSet<(Instant, usize)>;

/// The site's loop and everything it owns; it lives on the site's thread.
pub(super) struct Server {
    poll: Poll,
    listener: TcpListener,
    pub(super) shared: Arc<Shared>,
    conns: HashMap<usize, Conn>,
    /// A due `LISTENER` means "try accepting again"; a connection's, that its time is up.
    timers: Timers,
    /// A run of failed accepts (out of descriptors), `Some((since, tries))` while it lasts:
    /// the log tells of it as it starts and as it ends, with one retry timer pending.
    accept_failing: Option<(Instant, usize)>,
    next_id: usize,
}

/// One connection, where it is in its life, and when that step's time is up (its timer).
struct Conn {
    stream: TcpStream,
    state: State,
    deadline: Instant,
}

enum State {
    /// Collecting the request head; by the deadline it gets `408`.
    Reading(Vec<u8>),
    /// The answer is decided (its bytes are made when it is due, at the deadline).
    Waiting(Reply),
    /// Sending the response, `sent` bytes of it so far; by the deadline it is dropped.
    Writing { response: Vec<u8>, sent: usize },
}

impl Server {
    /// The loop, listening on `addr` (`config.port` becomes the port it got), and the waker
    /// that interrupts it. A large backlog: a burst of thousands of connects is not refused.
    pub(super) fn new(addr: SocketAddr, mut config: SiteConfig) -> io::Result<(Self, Waker)> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(4096)?;
        socket.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(socket.into());
        config.port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            config,
            ..Shared::default()
        });
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let server = Server {
            poll,
            listener,
            shared,
            conns: HashMap::new(),
            timers: BTreeSet::new(),
            accept_failing: None,
            next_id: 2, // 0 and 1 are `LISTENER` and `WAKER`
        };
        Ok((server, waker))
    }

    /// Runs until `Site::stop`: sleep in `poll` until a socket is ready or the next timer is
    /// due, handle the events, then fire the due timers.
    pub(super) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let next_timer = self.timers.first().map(|(due, _)| *due);
            let timeout = next_timer.map(|due| due.saturating_duration_since(Instant::now()));
            match self.poll.poll(&mut events, timeout) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                result => result?,
            }
            trace!(target: "site", "tick: {} events, {} open, {} timers (slept at most {timeout:?})",
                events.iter().count(), self.conns.len(), self.timers.len());
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    // Only dropping the `Site` wakes the loop: returning drops, and so closes,
                    // every connection and the listener.
                    WAKER => return Ok(()),
                    // Each does nothing unless the connection is open and in its state.
                    Token(id) => {
                        self.read(id);
                        self.write_response(id);
                    }
                }
            }
            self.fire_due_timers();
        }
    }

    /// Accepts every pending connection. mio is edge-triggered: the listener reports
    /// "readable" once for a whole burst, so accept until `WouldBlock`.
    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    // Writable too, so that a short write continues on the next event.
                    let both = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) = self.poll.registry().register(&mut stream, Token(id), both) {
                        warn!(target: "site", "#{id} from {peer}: cannot register: {e}");
                        continue; // dropping `stream` closes it
                    }
                    let open = self.shared.open.fetch_add(1, Ordering::SeqCst) + 1;
                    self.shared.peak.fetch_max(open, Ordering::SeqCst);
                    debug!(target: "site", "#{id} accepted from {peer} ({open} open)");
                    let deadline = Instant::now() + self.shared.config.head_timeout;
                    self.timers.insert((deadline, id));
                    let state = State::Reading(Vec::new());
                    let conn = Conn {
                        stream,
                        state,
                        deadline,
                    };
                    self.conns.insert(id, conn);
                }
                Err(e) => match e.kind() {
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted => {}
                    ErrorKind::WouldBlock => {
                        // Nobody left waiting: if `accept` was failing, the site has caught up.
                        if let Some((since, tries)) = self.accept_failing.take() {
                            warn!(target: "site", "accepting again after {} ms ({tries} failed tries)",
                                since.elapsed().as_millis());
                        }
                        return;
                    }
                    _ => return self.accept_failed(&e),
                },
            }
        }
    }

    /// `accept` failed, most likely for want of a file descriptor. The site keeps serving the
    /// connections it holds; each gives its descriptor back within a bound (head timeout,
    /// delay, send timeout). The backlog fires no new "readable" edge: retry on a timer.
    fn accept_failed(&mut self, e: &io::Error) {
        if let Some((_, tries)) = &mut self.accept_failing {
            *tries += 1;
            trace!(target: "site", "accept failed again: {e}");
        } else {
            self.accept_failing = Some((Instant::now(), 1));
            let (what, advice) = match e.raw_os_error() {
                Some(code) if OUT_OF_DESCRIPTORS.contains(&code) => (
                    "out of file descriptors",
                    "; raise the limit with `ulimit -n`, or crawl fewer URLs at once",
                ),
                _ => ("accept failed", ""),
            };
            warn!(target: "site", "{what} ({e}): not accepting new connections for now (retrying \
                every {ACCEPT_RETRY:?}), still serving the {} it holds{advice}", self.conns.len());
        }
        if !self.timers.iter().any(|&(_, id)| id == LISTENER.0) {
            self.timers
                .insert((Instant::now() + ACCEPT_RETRY, LISTENER.0));
        }
    }

    fn fire_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(&(when, id)) = self.timers.first() {
            if when > now {
                break;
            }
            self.timers.pop_first();
            if id == LISTENER.0 {
                self.accept_all();
                continue;
            }
            let config = &self.shared.config;
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            match &mut conn.state {
                // Answered at once, on the next turn of the loop.
                State::Reading(_) => {
                    let why = format!("no complete request head within {:?}", config.head_timeout);
                    let reply = Reply::new(why.clone(), 408, &why, Duration::ZERO);
                    conn.wait(id, reply, &mut self.timers);
                }
                State::Waiting(reply) => {
                    let response = std::mem::take(reply).into_bytes();
                    conn.state = State::Writing { response, sent: 0 };
                    conn.set_deadline(id, now + config.send_timeout, &mut self.timers);
                    self.write_response(id);
                }
                State::Writing { .. } => {
                    let why = format!("not all taken in {:?}", config.send_timeout);
                    self.close(id, &why);
                }
            }
        }
    }

    /// Closes connection `id`. The open count goes down before the socket closes, so a client
    /// that saw the end of its response also sees the count without its connection.
    fn close(&mut self, id: usize, why: &str) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        self.timers.remove(&(conn.deadline, id));
        // Deregistering can only fail if the socket is already broken: nothing to do then.
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let open = self.shared.open.fetch_sub(1, Ordering::SeqCst) - 1;
        debug!(target: "site", "#{id} {why}; closed ({open} open)");
    }

    /// Reads until `WouldBlock`: the request head, then nothing if the client behaves. Reading
    /// on sees at once that a client left (an error, or the end of the stream), not when its
    /// answer is due, up to an hour later. The end of the stream may also mean a client that
    /// only closed its sending half (`nc -N`, a fine HTTP/1.0 client): so the site answers at
    /// once, without the delay; a client that left gets a reset, and the descriptor is free.
    fn read(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut buf = [0; 4096];
        let mut extra = 0; // bytes after the request: HTTP/1.0 has no second one, so dropped
        loop {
            let n = match conn.stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.close(id, &format!("read failed: {e}")),
            };
            match &mut conn.state {
                State::Reading(_) if n == 0 => {
                    return self.close(id, "the client left before sending a request");
                }
                State::Reading(head) => {
                    head.extend_from_slice(&buf[..n]);
                    // Once the answer waits, read on: the client may have left in the very
                    // read that completed its request, and no new event would say so.
                    if let Some(reply) = answer(head, &self.shared.config) {
                        self.shared.requests.fetch_add(1, Ordering::SeqCst);
                        conn.wait(id, reply, &mut self.timers);
                    }
                }
                // Due now: answered on the next turn of the loop.
                State::Waiting(_) if n == 0 => {
                    return conn.set_deadline(id, Instant::now(), &mut self.timers);
                }
                _ if n == 0 => return,
                _ if extra + n > MAX_HEAD_BYTES => {
                    return self.close(id, "the client sent too much after its request");
                }
                _ => extra += n,
            }
        }
    }

    /// Writes as much of the response as the socket takes. Writes can be short: then the next
    /// "writable" event continues. Done means close, right here in the same step.
    fn write_response(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Writing { response, sent } = &mut conn.state else {
            return;
        };
        while *sent < response.len() {
            match conn.stream.write(&response[*sent..]) {
                Ok(0) => return self.close(id, "the socket took no bytes"),
                Ok(n) => *sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.close(id, &format!("write failed: {e}")),
            }
        }
        self.close(id, "answered");
    }
}

impl Conn {
    /// The answer is decided: wait with it until it is due.
    fn wait(&mut self, id: usize, reply: Reply, timers: &mut Timers) {
        let (request, status, delay) = (&reply.request, reply.status, reply.delay);
        debug!(target: "site", "#{id} {request} -> {status}, answering in {delay:?}");
        self.set_deadline(id, Instant::now() + delay, timers);
        self.state = State::Waiting(reply);
    }

    fn set_deadline(&mut self, id: usize, deadline: Instant, timers: &mut Timers) {
        timers.remove(&(self.deadline, id));
        self.deadline = deadline;
        timers.insert((deadline, id));
    }
}
