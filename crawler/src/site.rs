//! The local site: a small HTTP/1.0 server that every stage crawls by default.
//!
//! It serves `/` and `/1`, `/2`, … — small HTML pages linked together — and answers each request
//! only after a delay (200 ms by default), like a slow server far away. It counts the requests
//! it received and the connections it holds open, and remembers the peak: that peak is how the
//! tests prove a crawler fetched concurrently without timing anything. A blocking crawler makes
//! the peak 1; ten concurrent fetches make it 10.
//!
//! The site must never be the bottleneck, so it holds thousands of slow connections at once on
//! ONE background thread: a `mio` event loop, the same readiness idea stage 1 teaches, plus a
//! heap of timers whose earliest deadline becomes the `poll` timeout. It is plumbing, not a
//! lesson, but it is written to be read top to bottom:
//!
//! 1. the public API: [`SiteConfig`], [`Site`], [`paths`];
//! 2. the event loop (`Server`): accept, read the request head, wait, write, close;
//! 3. the pages: which request gets which answer, and the link graph.
//!
//! Every connection walks the same three states: `Reading` its request head, `Waiting` for its
//! timer, `Writing` the response; then the site closes it (HTTP/1.0, `Connection: close`).
//! A per-request `?delay_ms=N` overrides the delay, so a demo can make answers arrive out of
//! order: `/3?delay_ms=50`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, error, info, trace, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use socket2::{Domain, Socket, Type};

/// The delay before each response when nothing else is configured.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(200);

/// The longest delay the site accepts, from its configuration or from `?delay_ms=`.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// How many connections may wait in the kernel's queue before the loop accepts them.
const BACKLOG: i32 = 4096;

/// The largest request head the site reads; a longer one gets `400 Bad Request`.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// The most headers a request may carry.
const MAX_HEADERS: usize = 32;

/// After a failed `accept` (most likely: out of file descriptors), try again this much later.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The token of the listening socket. Connections get tokens from 2 upward, never reused.
const LISTENER: Token = Token(0);

/// The token of the waker that `Site::stop` uses to interrupt `poll` from another thread.
const WAKER: Token = Token(1);

// ---------------------------------------------------------------------------------------------
// The public API
// ---------------------------------------------------------------------------------------------

/// How to run the site.
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// The port to listen on; 0 picks any free port.
    pub port: u16,
    /// The delay before each response (capped at [`MAX_DELAY`]).
    pub delay: Duration,
    /// How many pages the link graph covers: `/` and `/1` … `/{pages-1}`.
    pub pages: usize,
}

impl Default for SiteConfig {
    fn default() -> SiteConfig {
        SiteConfig {
            port: 0,
            delay: DEFAULT_DELAY,
            pages: 10,
        }
    }
}

/// A running site. Dropping it stops it, like [`Site::stop`].
pub struct Site {
    addr: SocketAddr,
    config: SiteConfig,
    shared: Arc<Shared>,
    /// Interrupts the loop's `poll` so it notices `shared.stop`.
    waker: Waker,
    /// `None` once stopped.
    thread: Option<JoinHandle<()>>,
}

/// What the site's thread and the [`Site`] handle share: the counters and the stop flag.
#[derive(Default)]
struct Shared {
    requests: AtomicUsize,
    open: AtomicUsize,
    peak: AtomicUsize,
    stop: AtomicBool,
}

impl Site {
    /// Starts the site on 127.0.0.1 in a background thread; returns once it is listening.
    pub fn start(config: SiteConfig) -> io::Result<Site> {
        Site::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), config)
    }

    /// Like [`Site::start`], on the address `ip`: `0.0.0.0` lets a whole room share one site.
    pub fn start_on(ip: IpAddr, mut config: SiteConfig) -> io::Result<Site> {
        config.delay = config.delay.min(MAX_DELAY);
        let mut listener = listen(SocketAddr::new(ip, config.port))?;
        let addr = listener.local_addr()?;
        config.port = addr.port();

        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let shared = Arc::new(Shared::default());

        let server = Server {
            poll,
            listener,
            config: config.clone(),
            shared: Arc::clone(&shared),
            conns: HashMap::new(),
            timers: BinaryHeap::new(),
            next_id: 2,
            buf: vec![0; 4096],
        };
        let thread = thread::Builder::new()
            .name("looplab-site".into())
            .spawn(move || {
                if let Err(e) = server.run() {
                    error!(target: "site", "the site stopped: {e}");
                }
            })?;
        info!(target: "site", "listening on http://{addr}/ (delay {:?}, {} pages)",
            config.delay, config.pages);
        Ok(Site {
            addr,
            config,
            shared,
            waker,
            thread: Some(thread),
        })
    }

    /// The address the site listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration the site runs with (`port` is the real port, even if 0 was asked).
    pub fn config(&self) -> &SiteConfig {
        &self.config
    }

    /// The full URL of `path` on this site: `"http://127.0.0.1:PORT"` + `path`.
    pub fn url(&self, path: &str) -> String {
        // A site listening on every interface (0.0.0.0) is reached locally through 127.0.0.1.
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        format!("http://{addr}{path}")
    }

    /// The first `count` page URLs: `/`, `/1`, …, `/{count-1}`, as full URLs.
    pub fn urls(&self, count: usize) -> Vec<String> {
        paths(count).iter().map(|path| self.url(path)).collect()
    }

    /// How many requests the site has received so far (each gets an answer after its delay).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// How many connections the site holds open right now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// The most connections the site held open at once.
    pub fn peak_connections(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Sets the request count back to 0 and the peak to the number open right now.
    pub fn reset_counters(&self) {
        self.shared.requests.store(0, Ordering::SeqCst);
        self.shared
            .peak
            .store(self.shared.open.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Stops the site: closes every connection and the listener, and joins the thread.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            warn!(target: "site", "could not wake the site's loop to stop it: {e}");
        }
        if thread.join().is_err() {
            error!(target: "site", "the site's thread panicked");
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The page paths `/`, `/1`, …, `/{count-1}`.
pub fn paths(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            if n == 0 {
                "/".to_string()
            } else {
                format!("/{n}")
            }
        })
        .collect()
}

/// Binds `addr` with a large backlog, so a burst of thousands of connects is not refused while
/// the loop accepts them, and returns it non-blocking, ready for mio.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

// ---------------------------------------------------------------------------------------------
// The event loop
// ---------------------------------------------------------------------------------------------

/// The site's loop and everything it owns; it lives on the site's thread.
struct Server {
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
    /// Runs until `Site::stop`: sleep in `poll` until a socket is ready or the next timer is
    /// due, handle the events, then fire the due timers.
    fn run(mut self) -> io::Result<()> {
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

// ---------------------------------------------------------------------------------------------
// The pages
// ---------------------------------------------------------------------------------------------

/// A response, decided but not yet sent.
struct Reply {
    /// The request as the log shows it: `GET /3?delay_ms=50`.
    request: String,
    status: u16,
    content_type: &'static str,
    body: String,
    delay: Duration,
}

impl Reply {
    fn error(request: String, status: u16, detail: &str, delay: Duration) -> Reply {
        Reply {
            request,
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{status} {}: {detail}\n", reason(status)),
            delay,
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut bytes = format!(
            "HTTP/1.0 {} {}\r\nServer: looplab-site\r\nContent-Type: {}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Unknown",
    }
}

/// Decides the answer to a request head, or `None` if the head is not complete yet.
fn answer(head: &[u8], config: &SiteConfig) -> Option<Reply> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let bad = |detail: &str| Reply::error("bad request".into(), 400, detail, config.delay);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {
            let method = request.method.unwrap_or_default();
            let target = request.path.unwrap_or_default();
            Some(route(method, target, config))
        }
        Ok(httparse::Status::Partial) if head.len() <= MAX_HEAD_BYTES => None,
        Ok(httparse::Status::Partial) => Some(bad("request head too large")),
        Err(e) => Some(bad(&format!("malformed request head: {e}"))),
    }
}

/// A page of the site: `/` or `/N`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Page {
    Root,
    Number(u64),
}

/// Routes one request: `GET /` and `GET /N` are pages, anything else is an error. Every answer
/// waits the same delay, the site's or the request's own `?delay_ms=N`.
fn route(method: &str, target: &str, config: &SiteConfig) -> Reply {
    let request = format!("{method} {target}");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut delay = config.delay;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("delay_ms=") {
            match value.parse::<u64>().map(Duration::from_millis) {
                Ok(ms) if ms <= MAX_DELAY => delay = ms,
                _ => {
                    let detail = format!(
                        "delay_ms must be a whole number of milliseconds up to {}",
                        MAX_DELAY.as_millis()
                    );
                    return Reply::error(request, 400, &detail, config.delay);
                }
            }
        }
    }

    if method != "GET" {
        return Reply::error(request, 405, "the site only answers GET", delay);
    }
    let Some(page) = parse_page(path) else {
        return Reply::error(request, 404, &format!("no page at {path}"), delay);
    };
    Reply {
        request,
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: page_html(page, config.pages),
        delay,
    }
}

/// `/` is the root; `/N` is page N for any whole number written without leading zeros.
fn parse_page(path: &str) -> Option<Page> {
    if path == "/" {
        return Some(Page::Root);
    }
    let digits = path.strip_prefix('/')?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    digits.parse().ok().map(Page::Number)
}

/// The links on `page` when the graph covers `pages` pages. `/` links to `/1` … `/{pages-1}`;
/// each of those links back to `/` and on to the next one (the last to `/1`). Any other page
/// links only to `/`. So a crawler starting at `/` finds exactly `paths(pages)`.
fn links(page: Page, pages: usize) -> Vec<String> {
    let last = pages.saturating_sub(1) as u64; // the highest page number in the graph
    match page {
        Page::Root => (1..=last).map(|n| format!("/{n}")).collect(),
        Page::Number(n) if (1..=last).contains(&n) => {
            let next = n % last + 1;
            let mut links = vec!["/".to_string()];
            if next != n {
                links.push(format!("/{next}"));
            }
            links
        }
        Page::Number(_) => vec!["/".to_string()],
    }
}

/// The HTML of `page`: a title and its links, as `href="/N"` absolute paths.
fn page_html(page: Page, pages: usize) -> String {
    let name = match page {
        Page::Root => "/".to_string(),
        Page::Number(n) => format!("/{n}"),
    };
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n<head><title>looplab {name}</title></head>\n<body>\n\
         <h1>looplab local site: {name}</h1>\n\
         <p>A slow page, served by the looplab local site.</p>\n<ul>\n"
    );
    for link in links(page, pages) {
        // Writing to a String cannot fail.
        let _ = writeln!(html, "<li><a href=\"{link}\">{link}</a></li>");
    }
    html.push_str("</ul>\n</body>\n</html>\n");
    html
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, VecDeque};
    use std::net::{Shutdown, TcpStream as StdStream};
    use std::sync::Barrier;

    /// A response as a test sees it.
    struct Got {
        status: u16,
        head: String,
        body: String,
    }

    fn site(delay_ms: u64) -> Site {
        let config = SiteConfig {
            delay: Duration::from_millis(delay_ms),
            ..SiteConfig::default()
        };
        Site::start(config).expect("the site starts")
    }

    fn connect(addr: SocketAddr) -> StdStream {
        let stream = StdStream::connect(addr).expect("connect");
        // Bounds every test: a site that never answers fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// Reads a whole response (the site closes after it) and splits it.
    fn read_response(mut stream: StdStream) -> Got {
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).expect("read the response");
        let text = String::from_utf8(bytes).expect("utf-8 response");
        let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        Got {
            status,
            head: head.to_string(),
            body: body.to_string(),
        }
    }

    fn send(addr: SocketAddr, raw: &[u8]) -> Got {
        let mut stream = connect(addr);
        stream.write_all(raw).unwrap();
        read_response(stream)
    }

    fn get(addr: SocketAddr, target: &str) -> Got {
        send(
            addr,
            format!("GET {target} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes(),
        )
    }

    /// Waits (at most 5 s) until `condition` holds; for counters that change just after a
    /// client saw its answer.
    fn wait_until(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn content_length(got: &Got) -> usize {
        got.head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse().ok())
            .expect("a Content-Length header")
    }

    #[test]
    fn paths_and_urls_list_the_pages() {
        assert_eq!(paths(0), Vec::<String>::new());
        assert_eq!(paths(3), ["/", "/1", "/2"]);
        let site = site(0);
        let port = site.addr().port();
        assert_eq!(site.url("/7"), format!("http://127.0.0.1:{port}/7"));
        assert_eq!(
            site.urls(2),
            [
                format!("http://127.0.0.1:{port}/"),
                format!("http://127.0.0.1:{port}/1")
            ]
        );
        assert_eq!(site.config().port, port);
    }

    #[test]
    fn serves_the_root_and_a_page_with_their_links() {
        let site = site(10);
        let root = get(site.addr(), "/");
        assert_eq!(root.status, 200);
        assert!(
            root.head.starts_with("HTTP/1.0 200 OK\r\n"),
            "{}",
            root.head
        );
        assert!(root.head.contains("Content-Type: text/html"));
        assert!(root.head.contains("Connection: close"));
        assert_eq!(content_length(&root), root.body.len());
        for n in 1..10 {
            assert!(
                root.body.contains(&format!("href=\"/{n}\"")),
                "{}",
                root.body
            );
        }
        assert!(!root.body.contains("href=\"/10\""));

        let three = get(site.addr(), "/3");
        assert_eq!(three.status, 200);
        assert_eq!(content_length(&three), three.body.len());
        assert!(three.body.contains("href=\"/\""));
        assert!(three.body.contains("href=\"/4\""));

        // Any number is a page; outside the graph it links only back to the root.
        let far = get(site.addr(), "/9999");
        assert_eq!(far.status, 200);
        assert_eq!(far.body.matches("href=").count(), 1);
        assert_eq!(site.requests(), 3);
    }

    #[test]
    fn the_link_graph_from_the_root_covers_exactly_the_pages() {
        for pages in [1, 2, 3, 10, 57] {
            let mut seen = BTreeSet::from(["/".to_string()]);
            let mut queue = VecDeque::from([Page::Root]);
            while let Some(page) = queue.pop_front() {
                for link in links(page, pages) {
                    if seen.insert(link.clone()) {
                        queue.push_back(parse_page(&link).expect("a link to a page"));
                    }
                }
            }
            let expected: BTreeSet<String> = paths(pages).into_iter().collect();
            assert_eq!(seen, expected, "pages = {pages}");
        }
        // The same over the network, on a small site.
        let site = Site::start(SiteConfig {
            delay: Duration::ZERO,
            pages: 4,
            ..SiteConfig::default()
        })
        .unwrap();
        let two = get(site.addr(), "/2");
        assert!(two.body.contains("href=\"/3\""));
        let three = get(site.addr(), "/3");
        assert!(
            three.body.contains("href=\"/1\""),
            "the last page links to /1"
        );
    }

    #[test]
    fn anything_else_is_an_error() {
        let site = site(0);
        for target in [
            "/nope",
            "/1x",
            "/-1",
            "/01",
            "/1/2",
            "/99999999999999999999999",
        ] {
            let got = get(site.addr(), target);
            assert_eq!(got.status, 404, "{target}");
            assert_eq!(content_length(&got), got.body.len());
        }
        let post = send(site.addr(), b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(post.status, 405);
        let garbage = send(site.addr(), b"\x01\x02 nonsense\r\n\r\n");
        assert_eq!(garbage.status, 400);
        let bad_delay = get(site.addr(), "/3?delay_ms=soon");
        assert_eq!(bad_delay.status, 400);
        assert!(bad_delay.body.contains("delay_ms"));
    }

    #[test]
    fn a_request_head_over_the_limit_gets_400() {
        let site = site(0);
        let mut raw = b"GET / HTTP/1.0\r\nX-Filler: ".to_vec();
        raw.resize(MAX_HEAD_BYTES + 100, b'a');
        let got = send(site.addr(), &raw);
        assert_eq!(got.status, 400);
        assert!(got.body.contains("too large"));
    }

    #[test]
    fn delay_ms_overrides_the_delay_per_request() {
        let site = site(200);
        let got = get(site.addr(), "/3?delay_ms=0");
        assert_eq!(got.status, 200);
        assert!(got.body.contains("href=\"/4\""));
        let got = get(site.addr(), "/?x=1&delay_ms=20");
        assert_eq!(got.status, 200);
    }

    #[test]
    fn ten_concurrent_clients_make_a_peak_of_ten() {
        let site = site(200);
        let addr = site.addr();
        let start = Arc::new(Barrier::new(10));
        let clients: Vec<_> = (0..10)
            .map(|n| {
                let start = Arc::clone(&start);
                thread::spawn(move || {
                    start.wait();
                    get(addr, &format!("/{n}")).status
                })
            })
            .collect();
        for client in clients {
            assert_eq!(client.join().unwrap(), 200);
        }
        assert_eq!(site.peak_connections(), 10);
        assert_eq!(site.requests(), 10);
        assert_eq!(site.open_connections(), 0);
    }

    #[test]
    fn sequential_clients_make_a_peak_of_one() {
        let site = site(10);
        for target in paths(5) {
            assert_eq!(get(site.addr(), &target).status, 200);
        }
        assert_eq!(site.peak_connections(), 1);
        assert_eq!(site.requests(), 5);
        assert_eq!(site.open_connections(), 0);

        site.reset_counters();
        assert_eq!(site.requests(), 0);
        assert_eq!(site.peak_connections(), 0);
    }

    #[test]
    fn misbehaving_clients_do_not_stop_the_site() {
        let site = site(50);
        let addr = site.addr();

        // Connects and leaves without a word.
        drop(connect(addr));

        // Sends half a request, then resets the connection.
        let half = connect(addr);
        (&half).write_all(b"GET /1 HT").unwrap();
        socket2::SockRef::from(&half)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(half);

        // Sends a whole request, then resets while the site waits to answer.
        let impatient = connect(addr);
        (&impatient).write_all(b"GET /2 HTTP/1.0\r\n\r\n").unwrap();
        socket2::SockRef::from(&impatient)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(impatient);

        // Sends a request and closes its writing half: still a fine HTTP/1.0 client.
        let half_closed = connect(addr);
        (&half_closed)
            .write_all(b"GET /3 HTTP/1.0\r\n\r\n")
            .unwrap();
        half_closed.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_response(half_closed).status, 200);

        // The next client is served as usual, and nothing is left open.
        assert_eq!(get(addr, "/4").status, 200);
        wait_until("every connection is closed", || {
            site.open_connections() == 0
        });
    }

    #[test]
    fn a_large_page_survives_short_writes() {
        // The root of a 100,000-page site is a few megabytes, and this client's receive buffer
        // is tiny: the site's writes come up short and it must wait for "writable".
        let site = Site::start(SiteConfig {
            delay: Duration::ZERO,
            pages: 100_000,
            ..SiteConfig::default()
        })
        .unwrap();
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&site.addr().into()).unwrap();
        let stream = StdStream::from(socket);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (&stream).write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let root = read_response(stream);
        assert_eq!(root.status, 200);
        assert!(root.body.len() > 2_000_000);
        assert_eq!(content_length(&root), root.body.len());
        assert!(root.body.contains("href=\"/99999\""));
    }

    /// How many connections this test process can afford (each costs a descriptor on both the
    /// client and the site side), up to `wanted`. On Linux, read the soft limit; elsewhere
    /// assume there is room.
    fn connection_budget(wanted: usize) -> usize {
        let limit = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| {
                let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
                line.split_whitespace().nth(3)?.parse::<usize>().ok()
            });
        match limit {
            Some(limit) if limit.saturating_sub(200) / 2 < wanted => {
                let budget = limit.saturating_sub(200) / 2;
                eprintln!("open-file limit {limit}: testing {budget} connections, not {wanted}");
                budget
            }
            _ => wanted,
        }
    }

    #[test]
    fn holds_two_thousand_slow_connections() {
        let count = connection_budget(2000);
        let site = site(300);
        let addr = site.addr();

        // Every client sends half a request head: the site must hold them all at once.
        let mut clients = Vec::with_capacity(count);
        for _ in 0..count {
            let stream = connect(addr);
            (&stream).write_all(b"GET /5 HTTP/1.0\r\n").unwrap();
            clients.push(stream);
        }
        wait_until("every connection is accepted", || {
            site.open_connections() == count
        });
        assert_eq!(site.peak_connections(), count);

        // Now the rest of each request; every answer comes after the delay.
        for stream in &clients {
            let mut stream = stream;
            stream.write_all(b"Host: test\r\n\r\n").unwrap();
        }
        for stream in clients {
            assert_eq!(read_response(stream).status, 200);
        }
        assert_eq!(site.requests(), count);
        wait_until("every connection is closed", || {
            site.open_connections() == 0
        });
    }

    #[test]
    fn stop_closes_everything_and_the_port_refuses() {
        let site = site(10_000);
        let addr = site.addr();
        // One connection waiting for its answer, one still sending its request.
        let waiting = connect(addr);
        (&waiting).write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let reading = connect(addr);
        (&reading).write_all(b"GET / HT").unwrap();
        wait_until("the request is received", || site.requests() == 1);
        assert_eq!(site.open_connections(), 2);

        site.stop();
        for mut stream in [waiting, reading] {
            // The site closed them: end of stream (or a reset), not a timeout.
            match stream.read(&mut [0; 16]) {
                Ok(n) => assert_eq!(n, 0),
                Err(e) => assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "still open"),
            }
        }
        assert!(StdStream::connect(addr).is_err(), "the port still accepts");
    }

    #[test]
    fn dropping_the_site_stops_it() {
        let addr = {
            let site = site(0);
            assert_eq!(get(site.addr(), "/").status, 200);
            site.addr()
        };
        assert!(StdStream::connect(addr).is_err(), "the port still accepts");
    }
}
