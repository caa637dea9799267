//! Stage 2: Future + Task — the fetch is ONE hand-written state machine, stepped by a Task.
//!
//! **New here:** the fetch is a coroutine ([`runtime::stage2::Coroutine`]): a struct with one
//! `send` method that runs from where it stopped to its next wait and hands back the Future it
//! waits on. A [`Task`] sends it each result and subscribes it to the next Future; the loop
//! resolves Futures when sockets are ready. This is exactly the shape rustc gives an
//! `async fn` (see `Fetcher`): an enum of states, one per wait, and a method that resumes it.
//!
//! **Pain removed:** the fetch reads top to bottom again, in one `match`. Its locals live in
//! the state they belong to (`request` and `sent` only while sending, `response` only while
//! reading), "what next" is the value of `state` instead of which callback is registered,
//! and an error is a value: `?` works across waits, and one `send` turns every error into
//! the Task's result.
//!
//! **Pain left:** the state machine is written by hand, and nothing in it is reusable: to
//! fetch twice, or to read something else, we would copy its connect, send and read states.
//! Stage 3 makes them sub-coroutines that any coroutine can delegate to.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Instant;

use log::debug;
use mio::net::TcpStream;
use mio::{Interest, Token};
use runtime::stage2::{Coroutine, EventLoop, Readiness, Step, Task};
use socket2::{Domain, Protocol, Socket, Type};

use crate::fetch::{FetchError, Outcome, Page, Timeline};
use crate::http::{self, ResponseReader};
use crate::url::Url;

pub const IDEA: &str = "Future + Task step driver";

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
/// One URL's fetch, as a coroutine: the state machine rustc would write for this `async fn`
/// (stage 4 lets it):
///
/// ```text
/// async fn fetch(url: &str) -> Result<Page, FetchError> {
///     let url = Url::parse(url)?;                                        // Start
///     let mut stream = TcpStream::connect(url.socket_addr()?).await?;   // Connecting
///     stream.write_all(&http::request(&url)).await?;                    // Sending
///     let mut response = ResponseReader::new();
///     loop {                                                            // Reading
///         let n = stream.read(response.spare()).await?;
///         if let Some(page) = response.filled(n)? {
///             return Ok(page);
///         }
///     }
/// }
/// ```
///
/// Each `.await` is a place the fetch stops; each `State` holds the locals that must
/// survive until it resumes there. The socket is needed in every state after `Start`, so it
/// sits beside the state, where `finish` can always find it to close it.
pub struct Fetcher {
    url: String,
    /// Shared with the crawl, which reads it even if the fetch never ends.
    timeline: Rc<RefCell<Timeline>>,
    stream: Option<TcpStream>,
    token: Option<Token>,
    state: State,
}

/// Where the fetch stopped, and what it must remember until it resumes there.
enum State {
    /// Created; nothing has run yet (Python: a generator before its first `send`).
    Start,
    /// Waiting for the connect to complete.
    Connecting { request: Vec<u8> },
    /// Writing the request; `sent` bytes are out (writes can be short).
    Sending { request: Vec<u8>, sent: usize },
    /// Reading until the response is complete.
    Reading { response: ResponseReader },
}
// ANCHOR_END: fetch

impl Coroutine for Fetcher {
    type Output = Result<Page, FetchError>;

    /// Python's `send`: runs the fetch to its next wait, or to its end. Whatever way it ends,
    /// with a page or with an error from any state, it ends here, through `finish`.
    fn send(&mut self, event_loop: &mut EventLoop, _: Option<Readiness>) -> Step<Self::Output> {
        match self.resume(event_loop) {
            Ok(Step::Wait(future)) => Step::Wait(future),
            Ok(Step::Return(page)) => Step::Return(self.finish(event_loop, Ok(page))),
            Err(e) => Step::Return(self.finish(event_loop, Err(e))),
        }
    }

    /// The Task gives up on the fetch (the deadline passed): unregister and close the socket.
    fn close(&mut self, event_loop: &mut EventLoop) {
        if let (Some(mut stream), Some(token)) = (self.stream.take(), self.token.take()) {
            if let Err(e) = event_loop.unregister(token, &mut stream) {
                debug!("unregister {}: {e}", self.url);
            }
        } // `stream` is dropped here, which closes the socket.
        self.timeline.borrow_mut().end();
    }
}

impl Fetcher {
    fn new(url: &str) -> Fetcher {
        Fetcher {
            url: url.to_string(),
            timeline: Rc::new(RefCell::new(Timeline::start())),
            stream: None,
            token: None,
            state: State::Start,
        }
    }

    /// Starts a non-blocking connect and registers the socket; returns its token and the
    /// request to send once connected.
    fn start_connect(
        &mut self,
        event_loop: &mut EventLoop,
    ) -> Result<(Token, Vec<u8>), FetchError> {
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
        self.stream = Some(stream);
        self.token = Some(token);
        Ok((token, request))
    }

    // ANCHOR: resume
    /// The body of the fetch. Each arm is the code between two waits; `return Ok(Step::Wait(…))`
    /// is a wait (an `.await`), and the Task comes back into the arm of the new `state`. An
    /// error is just this function's return value, so `?` works from any state.
    fn resume(&mut self, event_loop: &mut EventLoop) -> Result<Step<Page>, FetchError> {
        loop {
            match (&mut self.state, &mut self.stream, self.token) {
                (State::Start, _, _) => {
                    *self.timeline.borrow_mut() = Timeline::start();
                    let (token, request) = self.start_connect(event_loop)?;
                    self.state = State::Connecting { request };
                    return Ok(Step::Wait(event_loop.when_ready(token)));
                }
                (State::Connecting { request }, Some(stream), Some(token)) => {
                    // Writable can also mean the connect failed: ask the socket for its error.
                    if !connect_result(stream).map_err(FetchError::Connect)? {
                        // A spurious event: still connecting, keep waiting.
                        return Ok(Step::Wait(event_loop.when_ready(token)));
                    }
                    debug!("token {} is {}: connected", token.0, self.url);
                    self.timeline.borrow_mut().connected();
                    let request = std::mem::take(request);
                    self.state = State::Sending { request, sent: 0 };
                }
                (State::Sending { request, sent }, Some(stream), Some(token)) => {
                    while *sent < request.len() {
                        match stream.write(&request[*sent..]) {
                            Ok(0) => {
                                let closed = io::Error::from(io::ErrorKind::WriteZero);
                                return Err(FetchError::Send(closed));
                            }
                            Ok(n) => *sent += n,
                            // A short write: the rest goes when the socket is writable again.
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                return Ok(Step::Wait(event_loop.when_ready(token)));
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(FetchError::Send(e)),
                        }
                    }
                    debug!("token {} is {}: request sent", token.0, self.url);
                    event_loop
                        .modify(token, stream, Interest::READABLE)
                        .map_err(FetchError::Runtime)?;
                    self.state = State::Reading {
                        response: ResponseReader::new(),
                    };
                    return Ok(Step::Wait(event_loop.when_ready(token)));
                }
                // ANCHOR: reading
                (State::Reading { response }, Some(stream), Some(token)) => {
                    // Read until `WouldBlock` (mio is edge-triggered: the bytes left unread now
                    // would never be announced again).
                    loop {
                        let n = match stream.read(response.spare()) {
                            Ok(n) => n,
                            // Drained (or a spurious event): wait for the next readable event.
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                return Ok(Step::Wait(event_loop.when_ready(token)));
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(FetchError::Receive(e)),
                        };
                        debug!("token {} is {}: read {n} bytes", token.0, self.url);
                        if n > 0 {
                            self.timeline.borrow_mut().first_byte();
                        }
                        // An empty read is the end of the stream: the reader then says page or error.
                        if let Some(page) = response.filled(n)? {
                            return Ok(Step::Return(page));
                        }
                    }
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
