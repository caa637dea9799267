//! The reactor: the `mio::Poll`, and for each source the wakers of whoever waits on it.
//!
//! Stage 1's loop kept a *callback* per token and ran it. The reactor keeps a *waker* per
//! token and direction (one for the reader, one for the writer) and only wakes it: what
//! happens next is up to whoever polls the future. It knows nothing about tasks.
//!
//! Two rules of edge-triggered readiness live here:
//!
//! - interest is registered lazily, by [`Reactor::wait_for`], which a leaf future calls only
//!   after its system call said `WouldBlock`; registering a socket that is *already* ready
//!   still reports it, so nothing is missed between the `WouldBlock` and the registration;
//! - a waker is used once: an event takes it out of its slot. A future that is still not
//!   done stores a fresh one on its next `Pending`.

use std::cell::RefCell;
use std::io;
use std::task::Waker;
use std::time::Duration;

use log::{debug, trace};
use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

use super::executor;

/// The token of the `mio::Waker` that lets another thread interrupt `poll` (see
/// [`Reactor::unparker`]). Slab keys start at 0 and never get near it.
pub const UNPARK: Token = Token(usize::MAX);

// ANCHOR: reactor
/// The reactor: a selector (`mio::Poll`) and, for each registered source, who waits on it.
///
/// It lives behind an `Rc` shared by the executor and every [`TcpStream`](super::TcpStream),
/// so its parts sit in `RefCell`s, each borrowed only for the length of one call.
pub struct Reactor {
    poll: RefCell<Poll>,
    /// A clone of `poll.registry()`: registering never needs the `poll` borrow.
    registry: Registry,
    events: RefCell<Events>,
    /// The state of each source, keyed by the `Token` it is (or will be) registered with.
    sources: RefCell<Slab<IoSource>>,
}

/// One source's state: what the OS watches it for, and who waits for each direction.
#[derive(Default)]
struct IoSource {
    /// `None` until a first call would have blocked: only then is the source registered.
    interest: Option<Interest>,
    reader: Option<Waiter>,
    writer: Option<Waiter>,
}

/// A stored waker, and the task it belongs to (for the trace only: a waker does not say).
struct Waiter {
    waker: Waker,
    task: Option<usize>,
}
// ANCHOR_END: reactor

impl Reactor {
    pub fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok(Reactor {
            poll: RefCell::new(poll),
            registry,
            events: RefCell::new(Events::with_capacity(1024)),
            sources: RefCell::new(Slab::new()),
        })
    }

    /// A `mio::Waker` that makes [`poll`](Reactor::poll) return at once, from any thread. The
    /// executor gives it to its wakers (a wake from another thread must not wait for an
    /// unrelated event to end the sleep).
    pub fn unparker(&self) -> io::Result<mio::Waker> {
        mio::Waker::new(&self.registry, UNPARK)
    }

    /// A slot for a new source. Nothing is registered with the OS yet: that happens the first
    /// time the source would block ([`wait_for`](Reactor::wait_for)).
    pub fn add(&self) -> Token {
        let token = Token(self.sources.borrow_mut().insert(IoSource::default()));
        debug!("token {}: new source", token.0);
        token
    }

    // ANCHOR: wait_for
    /// Called by a leaf future whose system call said `WouldBlock`: stores `waker` as the one
    /// to wake when `source` becomes ready for `direction` (`READABLE` or `WRITABLE`), and
    /// makes sure the OS watches the source for it.
    ///
    /// The waker is stored again on *every* `Pending`: the future may be polled by another
    /// task than last time, and a waker is used once anyway.
    pub fn wait_for(
        &self,
        token: Token,
        source: &mut impl Source,
        direction: Interest,
        waker: &Waker,
    ) -> io::Result<()> {
        let mut sources = self.sources.borrow_mut();
        let Some(entry) = sources.get_mut(token.0) else {
            return Err(io::Error::other(format!(
                "token {} is not a source",
                token.0
            )));
        };
        let slot = if direction.is_readable() {
            &mut entry.reader
        } else {
            &mut entry.writer
        };
        *slot = Some(Waiter {
            waker: waker.clone(),
            task: executor::current_task(),
        });
        let wanted = match entry.interest {
            Some(interest) => interest | direction,
            None => direction,
        };
        if entry.interest != Some(wanted) {
            match entry.interest {
                None => self.registry.register(source, token, wanted)?,
                Some(_) => self.registry.reregister(source, token, wanted)?,
            }
            entry.interest = Some(wanted);
            debug!("token {}: watch for {wanted:?}", token.0);
        }
        trace!(
            "token {}: task {} waits until {}",
            token.0,
            task_name(executor::current_task()),
            direction_name(direction)
        );
        Ok(())
    }
    // ANCHOR_END: wait_for

    /// Forgets a source: deregisters it from the OS if it was registered, and drops its
    /// wakers. A [`TcpStream`](super::TcpStream) calls this when it is dropped.
    pub fn remove(&self, token: Token, source: &mut impl Source) -> io::Result<()> {
        let removed = self.sources.borrow_mut().try_remove(token.0);
        debug!("token {}: removed", token.0);
        match removed {
            Some(IoSource {
                interest: Some(_), ..
            }) => self.registry.deregister(source),
            _ => Ok(()),
        }
    }

    /// How many sources the reactor knows (registered or not). Zero once every stream is
    /// dropped: that is how the tests see that nothing leaked.
    pub fn sources(&self) -> usize {
        self.sources.borrow().len()
    }

    // ANCHOR: poll
    /// Sleeps in `Poll::poll` until a source is ready, another thread calls the
    /// [`unparker`](Reactor::unparker), or `timeout` passes (`None`: no limit); then wakes the
    /// waker stored for each direction that became ready.
    pub fn poll(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        match events.iter().count() {
            0 => trace!("poll: timed out, no events"),
            n => trace!("poll: {n} events"),
        }
        // Take the wakers out first and wake them after, with the table no longer borrowed.
        let mut ready = Vec::new();
        let mut sources = self.sources.borrow_mut();
        for event in events.iter() {
            let token = event.token();
            if token == UNPARK {
                trace!("poll: woken from another thread");
                continue;
            }
            let Some(source) = sources.get_mut(token.0) else {
                trace!("token {}: event for a removed source", token.0);
                continue;
            };
            // An error or a hang-up ends both directions: whoever waits must try again and
            // see the error from the system call itself.
            let failed = event.is_error();
            let readable = event.is_readable() || event.is_read_closed() || failed;
            let writable = event.is_writable() || event.is_write_closed() || failed;
            for (ready_now, slot, what) in [
                (readable, &mut source.reader, "readable"),
                (writable, &mut source.writer, "writable"),
            ] {
                if !ready_now {
                    continue;
                }
                match slot.take() {
                    Some(waiter) => {
                        trace!(
                            "token {} {what}: wake task {}",
                            token.0,
                            task_name(waiter.task)
                        );
                        ready.push(waiter.waker);
                    }
                    // Nobody waits that way (yet): the next attempt will simply succeed.
                    None => {
                        trace!("token {} {what}: nobody waits", token.0)
                    }
                }
            }
        }
        drop((sources, events));
        for waker in ready {
            waker.wake();
        }
        Ok(())
    }
    // ANCHOR_END: poll
}

fn task_name(task: Option<usize>) -> String {
    task.map_or_else(|| "?".to_string(), |id| id.to_string())
}

fn direction_name(direction: Interest) -> &'static str {
    if direction.is_readable() {
        "readable"
    } else {
        "writable"
    }
}
