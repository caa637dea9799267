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
use std::time::{Duration, Instant};

use log::{debug, trace, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};

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
    /// due connection token means "your time is up" — for its request head, or its delay —
    /// and the connection's state says which; a timer it has outlived is ignored.
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
    token: Token,
    /// The request and its status, for the log: `GET /3 -> 200`.
    request: String,
    state: State,
}

enum State {
    /// Collecting the request head, which must be complete by `deadline` (a timer is set).
    Reading { head: Vec<u8>, deadline: Instant },
    /// The answer is decided (its bytes are made when it is due); a timer will wake the
    /// connection then.
    Waiting { reply: Reply, due: Instant },
    /// Sending the response, which must be out by `deadline` (a timer is set); `sent` bytes
    /// are already out.
    Writing {
        response: Vec<u8>,
        sent: usize,
        deadline: Instant,
    },
}

/// What the loop does with a connection after one step of it.
enum Next {
    /// Keep it until its next event.
    Keep,
    /// Its request is in: count it, and wake it at this time to answer.
    AnswerAt(Instant),
    /// The client closed its sending half while its answer waited: answer at once.
    AnswerNow,
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
                    let deadline = Instant::now() + self.config.head_timeout;
                    let conn = Conn {
                        stream,
                        token,
                        request: "no request yet".to_string(),
                        state: State::Reading {
                            head: Vec::new(),
                            deadline,
                        },
                    };
                    self.conns.insert(token.0, conn);
                    self.timers.push(Reverse((deadline, token.0)));
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
                    // Most likely out of file descriptors: they are the site's budget, and
                    // it is spent. It keeps serving the connections it holds, each of which
                    // gives its descriptor back within a bound: `head_timeout` to send its
                    // head, its delay (cut short if the client leaves), `send_timeout` to
                    // take its answer. (A client that waits an hour for `?delay_ms=3600000`
                    // on purpose holds its descriptor that long; `ulimit -n` is the knob.)
                    // The new connections wait in the backlog, but no new "readable" edge
                    // will come for them: retry on a timer — one at a time, though every new
                    // connection fires the listener again.
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
        let Some(conn) = self.conns.get_mut(&id) else {
            return; // already closed
        };
        let next = match conn.state {
            State::Reading { .. } => conn.read_request(&self.config, &mut self.buf),
            State::Writing { .. } => conn.write_response(self.poll.registry()),
            State::Waiting { .. } => conn.read_while_waiting(&mut self.buf),
        };
        self.then(id, next);
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
            let response = match &mut conn.state {
                State::Reading { deadline, .. } if *deadline <= now => {
                    let reply = Reply::timed_out(self.config.head_timeout);
                    conn.request = format!("{} -> {}", reply.request, reply.status);
                    debug!(target: "site", "#{id} {}", conn.request);
                    reply.into_bytes()
                }
                State::Waiting { reply, due } if *due <= now => std::mem::take(reply).into_bytes(),
                State::Writing { deadline, .. } if *deadline <= now => {
                    let why = format!("not all taken in {:?}", self.config.send_timeout);
                    self.close(id, &why);
                    continue;
                }
                _ => continue, // a timer the connection has outlived
            };
            self.send(id, response);
        }
    }

    /// Starts sending `response` on connection `id`, under the send deadline.
    fn send(&mut self, id: usize, response: Vec<u8>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let deadline = Instant::now() + self.config.send_timeout;
        self.timers.push(Reverse((deadline, id)));
        conn.state = State::Writing {
            response,
            sent: 0,
            deadline,
        };
        let next = conn.write_response(self.poll.registry());
        self.then(id, next);
    }

    /// Carries out what a step of connection `id` decided.
    fn then(&mut self, id: usize, next: Next) {
        match next {
            Next::Keep => {}
            Next::AnswerAt(due) => {
                self.shared.requests.fetch_add(1, Ordering::SeqCst);
                self.timers.push(Reverse((due, id)));
                // The client may have left in the very read that completed its request: no
                // new event would say so.
                if let Some(conn) = self.conns.get_mut(&id) {
                    let next = conn.read_while_waiting(&mut self.buf);
                    self.then(id, next);
                }
            }
            Next::AnswerNow => {
                let Some(conn) = self.conns.get_mut(&id) else {
                    return;
                };
                let State::Waiting { reply, .. } = &mut conn.state else {
                    return;
                };
                let response = std::mem::take(reply).into_bytes();
                self.send(id, response);
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
        // Its timers stay in the heap until due, up to an hour away. A live connection has at
        // most three; once the rest outnumber them, sweep them out, so that clients that come
        // and go cannot grow the heap (each sweep removes at least as many as it visits / 4).
        if self.timers.len() > 4 * self.conns.len() + 64 {
            let conns = &self.conns;
            self.timers
                .retain(|Reverse((_, id))| *id == LISTENER.0 || conns.contains_key(id));
        }
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
        let State::Reading { head, .. } = &mut self.state else {
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
        debug!(target: "site", "#{} {}, answering in {delay:?}", self.token.0, self.request);
        let due = Instant::now() + delay;
        self.state = State::Waiting { reply, due };
        Next::AnswerAt(due)
    }

    /// While the answer waits: reads until `WouldBlock` what the client sends (nothing, if it
    /// behaves), to notice at once that it left — an error, or the end of the stream — rather
    /// than when the answer is due, up to an hour later, holding a descriptor meanwhile. The
    /// end of the stream is ambiguous: a client that left and one that only closed its sending
    /// half (`nc -N`, a fine HTTP/1.0 client) look the same. So the site answers at once,
    /// without the delay: the second gets its page, the first a reset that closes the
    /// connection; either way the descriptor is given back now, not in an hour.
    fn read_while_waiting(&mut self, buf: &mut [u8]) -> Next {
        let mut extra = 0;
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Next::AnswerNow,
                Ok(n) if extra + n > MAX_HEAD_BYTES => {
                    return Next::Close("the client sent too much after its request".into());
                }
                Ok(n) => extra += n, // HTTP/1.0 has no second request: dropped
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Next::Close(format!("read failed: {e}")),
            }
        }
    }

    /// Writes as much of the response as the socket takes. Writes can be short: then wait for
    /// "writable" and continue. Done means close, right here in the same step.
    fn write_response(&mut self, registry: &Registry) -> Next {
        let State::Writing { response, sent, .. } = &mut self.state else {
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
