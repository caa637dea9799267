//! Stage 3: composition — the fetch delegates to reusable sub-coroutines (Python's
//! `yield from`).
//!
//! **New here:** the parts of stage 2's state machine that any request needs become
//! coroutines of their own, each written once: `connect`, `write_all`, `read`, and `read_all`
//! (which delegates to `read`). The fetch keeps the one it is running in its state and
//! forwards each `send` to it with [`runtime::stage3::yield_from`]: its waits go up to the
//! Task unchanged, its output comes back as a value, its error through `?`. The Task is stage
//! 2's, unchanged.
//!
//! **Pain removed:** reuse, and errors that find their own way up: a reset inside `read` ends
//! `read_all`, then the fetch, then the Task, one `?` at each level.
//!
//! **Pain left:** every delegation is the same boilerplate: a state variant to hold the
//! sub-coroutine, a `match` that passes its waits up, a `ready.take()`, and a socket and a
//! reader shared through `Rc`, as a sub-coroutine cannot borrow from its caller across a wait.
//! All of that is what `connect(&sock).await?` means; stage 4 lets the compiler write it.

use std::cell::RefCell;
// std's `Read` trait is in scope unnamed: its name is the `read` sub-coroutine's below.
use std::io::{self, Read as _, Write};
use std::rc::Rc;
use std::time::Instant;

use log::debug;
use mio::net::TcpStream;
use mio::{Interest, Token};
use runtime::stage3::{Coroutine, EventLoop, Readiness, Step, Task, yield_from};
use socket2::{Domain, Protocol, Socket, Type};

use crate::fetch::{FetchError, Outcome, Page, Timeline};
use crate::http::{self, ResponseReader};
use crate::url::Url;

pub const IDEA: &str = "composition (yield from)";

/// Starts a Task per URL, then runs the loop until they have all ended or the deadline passes.
pub fn crawl(urls: &[String], deadline: Instant) -> Vec<Outcome> {
    let mut event_loop = match EventLoop::new() {
        Ok(event_loop) => event_loop,
        Err(e) => return Outcome::all_failed(urls, &e),
    };
    let tasks: Vec<(Task<Fetcher>, Rc<RefCell<Timeline>>)> = urls
        .iter()
        .map(|url| {
            let fetch = Fetcher::new(url);
            let timeline = fetch.timeline.clone();
            (Task::new(&mut event_loop, url, fetch), timeline)
        })
        .collect();
    let stopped = event_loop.run_until(deadline);
    // Whatever has not ended by now ends here: at the deadline with a timeout, or with the
    // loop's own error. `close` unregisters and closes its socket.
    tasks
        .iter()
        .map(|(task, timeline)| {
            let result = task.future().take_result().unwrap_or_else(|| {
                task.close(&mut event_loop);
                Err(match &stopped {
                    Ok(_) => FetchError::timed_out(&timeline.borrow()),
                    Err(e) => FetchError::runtime(e),
                })
            });
            Outcome::new(task.name(), result, *timeline.borrow())
        })
        .collect()
}

// ANCHOR: fetch
/// One URL's fetch, as a coroutine that delegates: the state machine rustc would write for
/// this `async fn` (stage 4 lets it):
///
/// ```text
/// async fn fetch(url: &str) -> Result<Page, FetchError> {
///     let url = Url::parse(url)?;                                   // Start
///     let sock = start_connect(url.socket_addr()?)?;
///     connect(&sock).await?;                                        // Connecting
///     write_all(&sock, http::request(&url)).await?;                 // Sending
///     read_all(&sock).await                                         // Reading
/// }
/// ```
///
/// Each `.await` is a place the fetch stops; each `State` now holds the sub-coroutine the
/// fetch waits in. The socket is needed in every state after `Start`, so it sits beside the
/// state, where `finish` can always find it to close it.
pub struct Fetcher {
    url: String,
    /// Shared with the crawl, which reads it even if the fetch never ends.
    timeline: Rc<RefCell<Timeline>>,
    sock: Option<Sock>,
    state: State,
}

/// Where the fetch stopped: in which sub-coroutine, and what it must remember until then.
enum State {
    /// Created; nothing has run yet (Python: a generator before its first `send`).
    Start,
    /// In `connect`; the request waits its turn.
    Connecting { connect: Connect, request: Vec<u8> },
    /// In `write_all`.
    Sending { write_all: WriteAll },
    /// In `read_all`.
    Reading { read_all: ReadAll },
}
// ANCHOR_END: fetch

impl Coroutine for Fetcher {
    type Output = Result<Page, FetchError>;

    /// Python's `send`: runs the fetch to its next wait, or to its end. Whatever way it ends,
    /// with a page or with an error from any state, it ends here, through `finish`.
    fn send(&mut self, event_loop: &mut EventLoop, ready: Option<Readiness>) -> Step<Self::Output> {
        match self.resume(event_loop, ready) {
            Ok(Step::Wait(future)) => Step::Wait(future),
            Ok(Step::Return(page)) => Step::Return(self.finish(event_loop, Ok(page))),
            Err(e) => Step::Return(self.finish(event_loop, Err(e))),
        }
    }

    /// The Task gives up on the fetch (the deadline passed): unregister and close the socket.
    fn close(&mut self, event_loop: &mut EventLoop) {
        if let Some(sock) = self.sock.take() {
            if let Err(e) = event_loop.unregister(sock.token, &mut *sock.stream.borrow_mut()) {
                debug!("unregister {}: {e}", self.url);
            }
        } // The socket closes with its last handle: the sub-coroutine's goes with the fetch.
        self.timeline.borrow_mut().end();
    }
}

impl Fetcher {
    fn new(url: &str) -> Fetcher {
        Fetcher {
            url: url.to_string(),
            timeline: Rc::new(RefCell::new(Timeline::start())),
            sock: None,
            state: State::Start,
        }
    }

    /// Starts a non-blocking connect and registers the socket; returns it, shared, and the
    /// request to send once connected.
    fn start_connect(&mut self, event_loop: &mut EventLoop) -> Result<(Sock, Vec<u8>), FetchError> {
        let url = Url::parse(&self.url)?;
        let addr = url.socket_addr()?;
        let request = http::request(&url);

        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(FetchError::Connect)?;
        socket.set_nonblocking(true).map_err(FetchError::Connect)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            // Python's `except BlockingIOError: pass`: the handshake goes on without us.
            Err(e) if runtime::connect_in_progress(&e) => {}
            Err(e) => return Err(FetchError::Connect(e)),
        }
        let mut stream = TcpStream::from_std(socket.into());
        let token = event_loop
            .register(&mut stream, Interest::WRITABLE)
            .map_err(FetchError::Runtime)?;
        debug!("token {} is {}: connecting to {addr}", token.0, self.url);
        let sock = Sock {
            stream: Rc::new(RefCell::new(stream)),
            token,
        };
        self.sock = Some(sock.clone());
        Ok((sock, request))
    }

    // ANCHOR: resume
    /// The body of the fetch: each arm runs one sub-coroutine with `yield_from`. `ready.take()`:
    /// the value sent goes to the sub-coroutine that waited for it; one that starts later in
    /// the same `send` starts with `None`, as in Python.
    fn resume(
        &mut self,
        event_loop: &mut EventLoop,
        mut ready: Option<Readiness>,
    ) -> Result<Step<Page>, FetchError> {
        loop {
            match (&mut self.state, &self.sock) {
                (State::Start, _) => {
                    *self.timeline.borrow_mut() = Timeline::start();
                    let (sock, request) = self.start_connect(event_loop)?;
                    let connect = connect(&sock);
                    self.state = State::Connecting { connect, request };
                }
                (State::Connecting { connect, request }, Some(sock)) => {
                    match yield_from(connect, event_loop, ready.take())? {
                        Step::Wait(future) => return Ok(Step::Wait(future)),
                        Step::Return(()) => {}
                    }
                    debug!("token {} is {}: connected", sock.token.0, self.url);
                    self.timeline.borrow_mut().connected();
                    let write_all = write_all(sock, std::mem::take(request));
                    self.state = State::Sending { write_all };
                }
                (State::Sending { write_all }, Some(sock)) => {
                    match yield_from(write_all, event_loop, ready.take())? {
                        Step::Wait(future) => return Ok(Step::Wait(future)),
                        Step::Return(()) => {}
                    }
                    debug!("token {} is {}: request sent", sock.token.0, self.url);
                    let read_all = read_all(sock, &self.timeline);
                    self.state = State::Reading { read_all };
                }
                // ANCHOR: reading
                // The last delegation: its waits and its page are the fetch's own.
                (State::Reading { read_all }, Some(_)) => {
                    return yield_from(read_all, event_loop, ready.take());
                }
                // ANCHOR_END: reading
                // The socket is gone: the fetch has ended, and a Task never resumes it again.
                _ => {
                    return Err(FetchError::Runtime(io::Error::other(
                        "resumed after its end",
                    )));
                }
            }
        }
    }
    // ANCHOR_END: resume

    /// The end of the fetch, whatever it was: unregister and close the socket, log the result.
    fn finish(
        &mut self,
        event_loop: &mut EventLoop,
        result: Result<Page, FetchError>,
    ) -> Result<Page, FetchError> {
        self.close(event_loop);
        match &result {
            Ok(page) => {
                debug!("{}: {} ({} bytes)", self.url, page.status, page.body.len())
            }
            Err(e) => debug!("{}: {e}", self.url),
        }
        result
    }
}

/// A fetch's socket and its token, shared by the fetch and its sub-coroutines, as in Python.
/// Not borrowed: the caller holds the sub-coroutine, so a borrow would point into the caller,
/// a self-referential struct that only rustc builds (`async fn`, kept by `Pin`: stage 4).
#[derive(Clone)]
struct Sock {
    stream: Rc<RefCell<TcpStream>>,
    token: Token,
}

impl Sock {
    /// Python's `selector.register(sock, interest, …)` and `yield f`. A sub-coroutine cannot
    /// know what the one before it waited for, so each says it every time.
    fn wait<T>(
        &self,
        event_loop: &mut EventLoop,
        interest: Interest,
    ) -> Step<Result<T, FetchError>> {
        let watching = event_loop.modify(self.token, &mut *self.stream.borrow_mut(), interest);
        match watching {
            Ok(()) => Step::Wait(event_loop.when_ready(self.token)),
            Err(e) => Step::Return(Err(FetchError::Runtime(e))),
        }
    }
}

/// Python's `connect(sock, address)`: waits until the connect that `start_connect` began has
/// completed, or failed. Like calling a generator function, calling it runs nothing yet.
fn connect(sock: &Sock) -> Connect {
    Connect {
        sock: sock.clone(),
        waited: false,
    }
}

struct Connect {
    sock: Sock,
    /// A connect just started is not done: the first `send` only waits (Python's `connect`
    /// yields right after `register`). A two-state machine, in a `bool`.
    waited: bool,
}

impl Coroutine for Connect {
    type Output = Result<(), FetchError>;

    fn send(&mut self, event_loop: &mut EventLoop, _: Option<Readiness>) -> Step<Self::Output> {
        if !self.waited {
            self.waited = true;
            return self.sock.wait(event_loop, Interest::WRITABLE);
        }
        // Writable can also mean the connect failed: ask the socket for its error.
        let connected = connect_result(&self.sock.stream.borrow());
        match connected {
            Ok(true) => Step::Return(Ok(())),
            Ok(false) => self.sock.wait(event_loop, Interest::WRITABLE),
            Err(e) => Step::Return(Err(FetchError::Connect(e))),
        }
    }
}

/// Writes all of `bytes`; if the socket takes only part of them, waits to be writable again.
fn write_all(sock: &Sock, bytes: Vec<u8>) -> WriteAll {
    WriteAll {
        sock: sock.clone(),
        bytes,
        sent: 0,
    }
}

struct WriteAll {
    sock: Sock,
    bytes: Vec<u8>,
    /// How much of `bytes` has been written: writes can be short.
    sent: usize,
}

impl Coroutine for WriteAll {
    type Output = Result<(), FetchError>;

    fn send(&mut self, event_loop: &mut EventLoop, _: Option<Readiness>) -> Step<Self::Output> {
        while self.sent < self.bytes.len() {
            // The result is bound first: `wait` below borrows the stream again.
            let rest = &self.bytes[self.sent..];
            let written = self.sock.stream.borrow_mut().write(rest);
            match written {
                Ok(0) => {
                    let closed = io::Error::from(io::ErrorKind::WriteZero);
                    return Step::Return(Err(FetchError::Send(closed)));
                }
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return self.sock.wait(event_loop, Interest::WRITABLE);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Step::Return(Err(FetchError::Send(e))),
            }
        }
        Step::Return(Ok(()))
    }
}

/// Python's `read(sock)`, into the reader shared with its caller as the socket is (`Sock`
/// says why): how many bytes came, 0 at the end of the stream. It reads first and waits only
/// when there is nothing to read, so a caller that reads again and again reads until
/// `WouldBlock` before it ever waits (mio is edge-triggered: the bytes left unread now would
/// never be announced again).
fn read(sock: &Sock, response: &Rc<RefCell<ResponseReader>>) -> Read {
    Read {
        sock: sock.clone(),
        response: response.clone(),
    }
}

struct Read {
    sock: Sock,
    response: Rc<RefCell<ResponseReader>>,
}

impl Coroutine for Read {
    type Output = Result<usize, FetchError>;

    fn send(&mut self, event_loop: &mut EventLoop, _: Option<Readiness>) -> Step<Self::Output> {
        loop {
            let mut response = self.response.borrow_mut();
            let read = self.sock.stream.borrow_mut().read(response.spare());
            match read {
                Ok(n) => {
                    debug!("token {}: read {n} bytes", self.sock.token.0);
                    return Step::Return(Ok(n));
                }
                // Nothing to read yet (or a spurious event): wait to be readable.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return self.sock.wait(event_loop, Interest::READABLE);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Step::Return(Err(FetchError::Receive(e))),
            }
        }
    }
}

// ANCHOR: read_all
/// Python's `read_all(sock)`: [`read`] after `read` until the bytes make a complete response,
/// at its Content-Length or at the end of the stream. It marks the first byte on `timeline`.
fn read_all(sock: &Sock, timeline: &Rc<RefCell<Timeline>>) -> ReadAll {
    let response = Rc::new(RefCell::new(ResponseReader::new()));
    ReadAll {
        sock: sock.clone(),
        timeline: timeline.clone(),
        read: read(sock, &response),
        response,
    }
}

struct ReadAll {
    sock: Sock,
    timeline: Rc<RefCell<Timeline>>,
    response: Rc<RefCell<ResponseReader>>,
    /// The `read` it delegates to now; a new one for each read.
    read: Read,
}

impl Coroutine for ReadAll {
    type Output = Result<Page, FetchError>;

    fn send(&mut self, event_loop: &mut EventLoop, ready: Option<Readiness>) -> Step<Self::Output> {
        self.resume(event_loop, ready).into()
    }
}

impl ReadAll {
    // ANCHOR: read_chunks
    /// `n = yield from read(sock, response)` in a loop, with `?` for the errors of `read` and
    /// of the response.
    fn resume(
        &mut self,
        event_loop: &mut EventLoop,
        mut ready: Option<Readiness>,
    ) -> Result<Step<Page>, FetchError> {
        loop {
            let n = match yield_from(&mut self.read, event_loop, ready.take())? {
                Step::Wait(future) => return Ok(Step::Wait(future)),
                Step::Return(n) => n,
            };
            if n > 0 {
                self.timeline.borrow_mut().first_byte();
            }
            // An empty read is the end of the stream: the reader then says page or error.
            if let Some(page) = self.response.borrow_mut().filled(n)? {
                return Ok(Step::Return(page));
            }
            self.read = read(&self.sock, &self.response);
        }
    }
    // ANCHOR_END: read_chunks
}
// ANCHOR_END: read_all

// ANCHOR: connect_result
/// After a writable event on a connecting socket: `Ok(true)` if connected, `Ok(false)` if
/// still connecting (a spurious event), `Err` if the connect failed (refused, unreachable…).
fn connect_result(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}
// ANCHOR_END: connect_result
