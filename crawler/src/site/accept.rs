//! Accepting connections: the listening socket, and what the site does when `accept` fails —
//! most likely because it is out of file descriptors, its budget. It keeps serving the
//! connections it holds, each of which gives its descriptor back within a bound (its head
//! timeout, its delay — cut short if the client leaves —, its send timeout), and retries on a
//! timer; it says so once when the failures start and once when they end.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use socket2::{Domain, Socket, Type};

/// How many connections may wait in the kernel's queue before the loop accepts them.
const BACKLOG: i32 = 4096;

/// After a failed `accept` (most likely: out of file descriptors), try again this much later.
pub(super) const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The OS error numbers for "out of file descriptors": `ENFILE` (the system) and `EMFILE` (this
/// process) on Linux, macOS and the BSDs, and Windows' `WSAEMFILE`.
const OUT_OF_DESCRIPTORS: [i32; 3] = [23, 24, 10024];

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

/// What to log when `accept` starts failing: what happened, what the site does about it, and,
/// for the usual cause, what the user can do.
pub(super) fn accept_failed(e: &io::Error, open: usize) -> String {
    let doing = format!(
        "not accepting new connections for now (retrying every {ACCEPT_RETRY:?}), \
         still serving the {open} it holds"
    );
    match e.raw_os_error() {
        Some(code) if OUT_OF_DESCRIPTORS.contains(&code) => format!(
            "out of file descriptors ({e}): {doing}; raise the limit with `ulimit -n`, \
             or crawl fewer URLs at once"
        ),
        _ => format!("accept failed ({e}): {doing}"),
    }
}

/// A run of failed `accept`s — an episode — from the first failure until the loop has accepted
/// every waiting connection again. Out of file descriptors, a site retries 100 times a second
/// and every new connection fires the listener once more: this says when to log (at the start
/// and the end of an episode, not on every try) and keeps a single retry timer pending.
#[derive(Debug, Default)]
pub(super) struct AcceptFailures {
    /// When the episode's first `accept` failed, and how many have; `None` while accepting works.
    since: Option<Instant>,
    tries: usize,
    /// Whether a retry timer is set and has not fired yet.
    retry_set: bool,
}

impl AcceptFailures {
    /// An `accept` failed at `now`. True if that starts an episode: the one time to say so.
    pub(super) fn failed(&mut self, now: Instant) -> bool {
        self.tries += 1;
        if self.since.is_some() {
            return false;
        }
        self.since = Some(now);
        true
    }

    /// `accept` found nobody left waiting at `now`. If that ends an episode: how long it
    /// lasted and how many tries failed.
    pub(super) fn caught_up(&mut self, now: Instant) -> Option<(Duration, usize)> {
        let since = self.since.take()?;
        let tries = std::mem::take(&mut self.tries);
        Some((now.saturating_duration_since(since), tries))
    }

    /// Whether to set a retry timer: true unless one is set already.
    pub(super) fn set_retry(&mut self) -> bool {
        !std::mem::replace(&mut self.retry_set, true)
    }

    /// The retry timer fired; the next failure may set another.
    pub(super) fn retry_fired(&mut self) {
        self.retry_set = false;
    }
}
