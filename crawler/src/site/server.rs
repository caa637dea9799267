//! The site's event loop: one `mio::Poll` on the site's thread that accepts connections,
//! reads each request head, holds the connection until its delay is over, writes the answer
//! and closes it. Timers live in a heap; the earliest deadline is `poll`'s timeout, so a
//! thousand waiting connections cost no thread and no busy loop. The same heap bounds how long
//! a client may take to send its request head and to take its answer, and paces `accept` when
//! it fails (`accept.rs`). What each answer *says* is decided in `pages.rs`; this file only
//! moves bytes and keeps time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use log::{debug, trace, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::accept::{ACCEPT_RETRY, AcceptFailures, accept_failed};
use super::pages::{MAX_HEAD_BYTES, Reply, answer};
use super::{Shared, SiteConfig};

/// The token of the listening socket. Connections get tokens from 2 upward, never reused.
pub(super) const LISTENER: Token = Token(0);

/// The token of the waker that `Site::stop` uses to interrupt `poll` from another thread.
pub(super) const WAKER: Token = Token(1);

/// The site's loop and everything it owns; it lives on the site's thread.
pub(super) struct Server {
    poll: Poll,
    listener: TcpListener,
    config: SiteConfig,
    shared: Arc<Shared>,
    /// The open connections by token number. Tokens are never reused, so an event or a timer
    /// for a connection that is already gone finds nothing here and is ignored.
    conns: HashMap<usize, Conn>,
    /// Timers, earliest first: (when, token). A due `LISTENER` means "try accepting again". A
    /// due connection token means "your time is up" — for its request head, its delay, or its
    /// answer — and the connection's state says which; a timer it has outlived is ignored.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Failed `accept`s, so the log tells of a run of them once rather than every 10 ms.
    accept_failures: AcceptFailures,
    next_id: usize,
    /// Scratch space for reads.
    buf: Vec<u8>,
}

/// One connection and where it is in its life.
struct Conn {
    stream: TcpStream,
    /// The request and its status, for the log: `GET /3 -> 200`.
    request: String,
    state: State,
}

enum State {
    /// Collecting the request head, which must be complete by `deadline` (a timer is set).
    Reading { head: Vec<u8>, deadline: Instant },
    /// The answer is decided (its bytes are made when it is due, when a timer wakes it).
    Waiting { reply: Reply, due: Instant },
    /// Sending the response, which must be out by `deadline` (a timer is set); `sent` bytes
    /// are already out.
    Writing {
        response: Vec<u8>,
        sent: usize,
        deadline: Instant,
    },
}

impl Server {
    /// The loop, ready to run: `poll` already watches `listener`.
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
            accept_failures: AcceptFailures::default(),
            next_id: 2, // 0 and 1 are `LISTENER` and `WAKER`
            buf: vec![0; 4096],
        }
    }

    /// Runs until `Site::stop`: sleep in `poll` until a socket is ready or the next timer is
    /// due, handle the events, then fire the due timers.
    pub(super) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let next_timer = self.timers.peek().map(|Reverse((due, _))| *due);
            let timeout = next_timer.map(|due| due.saturating_duration_since(Instant::now()));
            match self.poll.poll(&mut events, timeout) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => result?,
            }
            trace!(target: "site", "tick: {} events, {} open, {} timers (slept at most {timeout:?})",
                events.iter().count(), self.conns.len(), self.timers.len());
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER if self.shared.stop.load(Ordering::SeqCst) => {
                        let ids: Vec<usize> = self.conns.keys().copied().collect();
                        for id in ids {
                            self.close(id, "the site is stopping");
                        }
                        return Ok(());
                    }
                    WAKER => {}
                    Token(id) => self.on_ready(id),
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
                    let registry = self.poll.registry();
                    if let Err(e) = registry.register(&mut stream, Token(id), Interest::READABLE) {
                        warn!(target: "site", "#{id} from {peer}: cannot register: {e}");
                        continue; // dropping `stream` closes it
                    }
                    let open = self.shared.open.fetch_add(1, Ordering::SeqCst) + 1;
                    self.shared.peak.fetch_max(open, Ordering::SeqCst);
                    debug!(target: "site", "#{id} accepted from {peer} ({open} open)");
                    let deadline = Instant::now() + self.config.head_timeout;
                    let request = "no request yet".to_string();
                    let head = Vec::new();
                    let state = State::Reading { head, deadline };
                    let conn = Conn {
                        stream,
                        request,
                        state,
                    };
                    self.conns.insert(id, conn);
                    self.timers.push(Reverse((deadline, id)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Nobody left waiting: if `accept` was failing, the site has caught up.
                    if let Some((lasted, tries)) = self.accept_failures.caught_up(Instant::now()) {
                        warn!(target: "site", "accepting again after {} ms ({tries} failed tries)",
                            lasted.as_millis());
                    }
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // Most likely out of file descriptors (`accept.rs`). The connections
                    // waiting in the backlog will fire no new "readable" edge: retry on a
                    // timer — one at a time, though every new connection fires the listener.
                    let now = Instant::now();
                    if self.accept_failures.failed(now) {
                        warn!(target: "site", "{}", accept_failed(&e, self.conns.len()));
                    } else {
                        trace!(target: "site", "accept failed again: {e}");
                    }
                    if self.accept_failures.set_retry() {
                        self.timers.push(Reverse((now + ACCEPT_RETRY, LISTENER.0)));
                    }
                    return;
                }
            }
        }
    }

    /// A connection's socket is ready: take the step its state calls for.
    fn on_ready(&mut self, id: usize) {
        match self.conns.get(&id).map(|conn| &conn.state) {
            Some(State::Reading { .. } | State::Waiting { .. }) => self.read(id),
            Some(State::Writing { .. }) => self.write_response(id),
            None => {} // already closed
        }
    }

    /// Fires every timer that is due: answers the waiting connections, answers `408` to those
    /// whose request head is not in by its deadline, drops those that did not take their
    /// answer by theirs, retries `accept`.
    fn fire_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((when, id))) = self.timers.peek() {
            if when > now {
                break;
            }
            self.timers.pop();
            if id == LISTENER.0 {
                self.accept_failures.retry_fired();
                self.accept_all();
                continue;
            }
            let Some(conn) = self.conns.get_mut(&id) else {
                continue; // the connection is gone: a stale timer
            };
            match &conn.state {
                State::Reading { deadline, .. } if *deadline <= now => {
                    conn.wait(id, Reply::timed_out(self.config.head_timeout));
                    self.answer(id);
                }
                State::Waiting { due, .. } if *due <= now => self.answer(id),
                State::Writing { deadline, .. } if *deadline <= now => {
                    let why = format!("not all taken in {:?}", self.config.send_timeout);
                    self.close(id, &why);
                }
                _ => {} // a timer the connection has outlived
            }
        }
    }

    /// Starts sending the answer connection `id` waits with, under the send deadline.
    fn answer(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Waiting { reply, .. } = &mut conn.state else {
            return;
        };
        let response = std::mem::take(reply).into_bytes();
        let deadline = Instant::now() + self.config.send_timeout;
        self.timers.push(Reverse((deadline, id)));
        conn.state = State::Writing {
            response,
            sent: 0,
            deadline,
        };
        self.write_response(id);
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
        // Its timers stay in the heap until due, up to an hour away. A live connection has at
        // most three; once the rest outnumber them, sweep them out, so that clients that come
        // and go cannot grow the heap (each sweep removes at least as many as it visits / 4).
        if self.timers.len() > 4 * self.conns.len() + 64 {
            let conns = &self.conns;
            self.timers
                .retain(|Reverse((_, id))| *id == LISTENER.0 || conns.contains_key(id));
        }
    }

    /// Reads what the client sends until `WouldBlock`: its request head, then, while its answer
    /// waits, nothing if it behaves. Reading on notices at once that a client left — an error,
    /// or the end of the stream — rather than when its answer is due, up to an hour later,
    /// holding a descriptor meanwhile. The end of the stream is ambiguous: a client that left
    /// and one that only closed its sending half (`nc -N`, a fine HTTP/1.0 client) look the
    /// same. So the site answers at once, without the delay: the second gets its page, the
    /// first a reset that closes the connection; either way the descriptor is given back now.
    fn read(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut extra = 0; // bytes after the request: HTTP/1.0 has no second one, so dropped
        loop {
            let n = match conn.stream.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.close(id, &format!("read failed: {e}")),
            };
            match &mut conn.state {
                State::Reading { .. } if n == 0 => {
                    return self.close(id, "the client left before sending a request");
                }
                State::Reading { head, .. } => {
                    head.extend_from_slice(&self.buf[..n]);
                    // Once the answer waits, read on: the client may have left in the very
                    // read that completed its request, and no new event would say so.
                    if let Some(reply) = answer(head, &self.config) {
                        let due = conn.wait(id, reply);
                        self.shared.requests.fetch_add(1, Ordering::SeqCst);
                        self.timers.push(Reverse((due, id)));
                    }
                }
                _ if n == 0 => return self.answer(id),
                _ if extra + n > MAX_HEAD_BYTES => {
                    return self.close(id, "the client sent too much after its request");
                }
                _ => extra += n,
            }
        }
    }

    /// Writes as much of the response as the socket takes. Writes can be short: then wait for
    /// "writable" and continue. Done means close, right here in the same step.
    fn write_response(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Writing { response, sent, .. } = &mut conn.state else {
            return;
        };
        while *sent < response.len() {
            match conn.stream.write(&response[*sent..]) {
                Ok(0) => return self.close(id, "the socket took no bytes"),
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    trace!(target: "site", "#{id} short write: {sent} of {} bytes; waiting for writable",
                        response.len());
                    let registry = self.poll.registry();
                    let writable = Interest::WRITABLE;
                    if let Err(e) = registry.reregister(&mut conn.stream, Token(id), writable) {
                        self.close(id, &format!("cannot wait for writable: {e}"));
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.close(id, &format!("write failed: {e}")),
            }
        }
        self.close(id, "answered");
    }
}

impl Conn {
    /// The answer is decided: wait with it until it is due, and say when that is.
    fn wait(&mut self, id: usize, reply: Reply) -> Instant {
        self.request = format!("{} -> {}", reply.request, reply.status);
        debug!(target: "site", "#{id} {}, answering in {:?}", self.request, reply.delay);
        let due = Instant::now() + reply.delay;
        self.state = State::Waiting { reply, due };
        due
    }
}
