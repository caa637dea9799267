//! Stage 1: readiness and callbacks — the fetcher is a chain of callbacks on an event loop.
//!
//! **New here:** sockets are non-blocking. `connect` returns at once ("in progress"), and the
//! event loop ([`runtime::stage1::EventLoop`]) calls us back when the socket is writable
//! (connected), then when it is readable (bytes arrived). All ten fetches wait in one place,
//! so the crawl takes about one latency instead of ten, on one thread.
//!
//! **Pain removed:** waiting. Nothing blocks; no thread per connection.
//!
//! **Pain left:** the fetch no longer reads top to bottom. Its local variables live in struct
//! fields (`sent`, `response`, `stream`) because no stack survives between callbacks; "what
//! to do next" is *which callback is registered*; `?` only works inside one callback, so every
//! error is routed to `finish` by hand; and a backtrace from `read_response` shows the loop,
//! not who started the fetch (stack ripping). Stage 2 puts the state back in one place.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::{Rc, Weak};
use std::time::Instant;

use log::debug;
use mio::net::TcpStream;
use mio::{Interest, Token};
use runtime::stage1::{Callback, EventLoop, Readiness};
use socket2::{Domain, Protocol, Socket, Type};

use crate::fetch::{FetchError, Outcome, Page, Timeline};
use crate::http::{self, ResponseReader};
use crate::url::Url;

pub const IDEA: &str = "readiness + callbacks";

/// Starts every fetch, then runs the loop until they have all ended or the deadline passes.
pub fn crawl(urls: &[String], deadline: Instant) -> Vec<Outcome> {
    let mut event_loop = match EventLoop::new() {
        Ok(event_loop) => event_loop,
        Err(e) => return Outcome::all_failed(urls, &e),
    };
    let fetchers: Vec<Rc<RefCell<Fetcher>>> = urls.iter().map(|url| Fetcher::new(url)).collect();
    for fetcher in &fetchers {
        fetcher.borrow_mut().fetch(&mut event_loop);
    }
    let stopped = event_loop.run_until(deadline);
    // Whatever has not ended by now ends here: at the deadline with a timeout, or with the
    // loop's own error. `finish` unregisters and closes its socket.
    fetchers
        .iter()
        .map(|fetcher| {
            let mut fetcher = fetcher.borrow_mut();
            if fetcher.result.is_none() {
                let error = match &stopped {
                    Ok(_) => FetchError::timed_out(&fetcher.timeline),
                    Err(e) => FetchError::runtime(e),
                };
                fetcher.finish(&mut event_loop, Err(error));
            }
            fetcher.outcome()
        })
        .collect()
}

/// One URL's fetch. Everything that must survive from one callback to the next is a field.
pub struct Fetcher {
    /// This fetcher itself, so it can hand the loop callbacks bound to it (Python's
    /// `self.connected`). Weak, so the loop does not keep a finished fetcher alive.
    me: Weak<RefCell<Fetcher>>,
    url: String,
    timeline: Timeline,
    stream: Option<TcpStream>,
    token: Option<Token>,
    request: Vec<u8>,
    /// How much of `request` has been written: writes can be short.
    sent: usize,
    response: ResponseReader,
    result: Option<Result<Page, FetchError>>,
}

impl Fetcher {
    fn new(url: &str) -> Rc<RefCell<Fetcher>> {
        Rc::new_cyclic(|me| {
            RefCell::new(Fetcher {
                me: me.clone(),
                url: url.to_string(),
                timeline: Timeline::start(),
                stream: None,
                token: None,
                request: Vec::new(),
                sent: 0,
                response: ResponseReader::new(),
                result: None,
            })
        })
    }

    // ANCHOR: fetch
    /// Starts a non-blocking connect and registers `connected` for when it completes.
    fn fetch(&mut self, event_loop: &mut EventLoop) {
        self.timeline = Timeline::start();
        if let Err(e) = self.start_connect(event_loop) {
            self.finish(event_loop, Err(e));
        }
    }

    fn start_connect(&mut self, event_loop: &mut EventLoop) -> Result<(), FetchError> {
        let url = Url::parse(&self.url)?;
        let addr = url.socket_addr()?;
        self.request = http::request(&url);

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
        let connected = bound(&self.me, Fetcher::connected);
        let token = event_loop
            .register(&mut stream, Interest::WRITABLE, connected)
            .map_err(FetchError::Runtime)?;
        debug!("token {} is {}: connecting to {addr}", token.0, self.url);
        self.stream = Some(stream);
        self.token = Some(token);
        Ok(())
    }
    // ANCHOR_END: fetch

    /// Callback: the socket became writable, so the connect has completed — or failed.
    fn connected(&mut self, event_loop: &mut EventLoop, ready: Readiness) {
        let Some(stream) = &self.stream else { return };
        // Writable can also mean the connect failed: ask the socket for its error.
        match connect_result(stream) {
            Ok(true) => {}
            Ok(false) => return, // a spurious event: still connecting, keep waiting
            Err(e) => return self.finish(event_loop, Err(FetchError::Connect(e))),
        }
        debug!("token {} is {}: connected", ready.token.0, self.url);
        self.timeline.connected();
        self.send_request(event_loop, ready);
    }

    /// Writes the request; if the socket takes only part of it, waits to be writable again
    /// and comes back here. Once it is all sent, waits for the response.
    fn send_request(&mut self, event_loop: &mut EventLoop, ready: Readiness) {
        let (Some(stream), Some(token)) = (&mut self.stream, self.token) else {
            return;
        };
        while self.sent < self.request.len() {
            match stream.write(&self.request[self.sent..]) {
                Ok(0) => {
                    let closed = io::Error::from(io::ErrorKind::WriteZero);
                    return self.finish(event_loop, Err(FetchError::Send(closed)));
                }
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // A short write: the rest goes when the socket is writable again.
                    let send_request = bound(&self.me, Fetcher::send_request);
                    let waiting =
                        event_loop.modify(token, stream, Interest::WRITABLE, send_request);
                    return self.fail_if_err(event_loop, waiting);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.finish(event_loop, Err(FetchError::Send(e))),
            }
        }
        debug!("token {} is {}: request sent", ready.token.0, self.url);
        let read_response = bound(&self.me, Fetcher::read_response);
        let waiting = event_loop.modify(token, stream, Interest::READABLE, read_response);
        self.fail_if_err(event_loop, waiting);
    }

    /// Callback: the socket is readable. Reads until `WouldBlock` (mio is edge-triggered:
    /// the bytes left unread now would never be announced again).
    fn read_response(&mut self, event_loop: &mut EventLoop, ready: Readiness) {
        // ANCHOR: reading
        loop {
            let Some(stream) = &mut self.stream else {
                return;
            };
            let n = match stream.read(self.response.spare()) {
                Ok(n) => n,
                // Drained (or a spurious event): wait for the next readable event.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.finish(event_loop, Err(FetchError::Receive(e))),
            };
            debug!("token {} is {}: read {n} bytes", ready.token.0, self.url);
            if n > 0 {
                self.timeline.first_byte();
            }
            // An empty read is the end of the stream: the reader then says page or error.
            match self.response.filled(n) {
                Ok(None) => {}
                Ok(Some(page)) => return self.finish(event_loop, Ok(page)),
                Err(e) => return self.finish(event_loop, Err(e)),
            }
        }
        // ANCHOR_END: reading
    }

    /// The end of the fetch, whatever it was: unregister and close the socket, keep the result.
    /// With nothing registered for it any more, the loop no longer waits for this fetch.
    fn finish(&mut self, event_loop: &mut EventLoop, result: Result<Page, FetchError>) {
        if let (Some(mut stream), Some(token)) = (self.stream.take(), self.token.take()) {
            if let Err(e) = event_loop.unregister(token, &mut stream) {
                debug!("unregister {}: {e}", self.url);
            }
        } // `stream` is dropped here, which closes the socket.
        match &result {
            Ok(page) => {
                debug!("{}: {} ({} bytes)", self.url, page.status, page.body.len())
            }
            Err(e) => debug!("{}: {e}", self.url),
        }
        self.timeline.end();
        self.result.get_or_insert(result);
    }

    /// Ends the fetch if the loop refused a registration change.
    fn fail_if_err(&mut self, event_loop: &mut EventLoop, result: io::Result<()>) {
        if let Err(e) = result {
            self.finish(event_loop, Err(FetchError::Runtime(e)));
        }
    }

    fn outcome(&mut self) -> Outcome {
        let result = self.result.take().unwrap_or_else(|| {
            Err(FetchError::Runtime(io::Error::other(
                "the fetch never ended",
            )))
        });
        Outcome::new(&self.url, result, self.timeline)
    }
}

/// Python's bound method `self.connected`: a callback that runs `method` on the fetcher.
fn bound(
    me: &Weak<RefCell<Fetcher>>,
    method: fn(&mut Fetcher, &mut EventLoop, Readiness),
) -> Callback {
    let me = me.clone();
    Box::new(move |event_loop, ready| {
        if let Some(me) = me.upgrade() {
            method(&mut me.borrow_mut(), event_loop, ready);
        }
    })
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
