//! The event loop: stage 1's loop over `mio::Poll`, plus a ready queue. A readiness event no
//! longer runs fetch logic: it resolves the [`Future`] a coroutine waits on, and the Future's
//! callbacks (the Task's next step) run from the ready queue.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{debug, trace};
use mio::event::Source;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

// A circle with `future`, on purpose: see the note on the import in `future.rs`.
use super::future::Future;

/// What a readiness event says about a source. A copy of `mio::event::Event`'s answers, so it
/// can be the result of a Future.
///
/// Readiness is a *hint*: an event can be spurious, and mio is edge-triggered, so whoever
/// waited on it reads or writes until `WouldBlock` and treats a readable event with nothing to
/// read as normal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub token: Token,
    pub readable: bool,
    pub writable: bool,
    /// The source has an error pending (e.g. a failed connect).
    pub error: bool,
    /// The peer hung up its side (reads will return 0 once drained).
    pub read_closed: bool,
}

/// Something to run on the loop soon: Python's `loop.call_soon(callback)`.
pub type ReadyCallback = Box<dyn FnOnce(&mut EventLoop)>;

/// The ready queue: callbacks to run on the loop's next round. The loop and every Future it
/// created share it, so that resolving a Future can schedule its callbacks without holding the
/// loop — and without running them on the spot.
#[derive(Clone, Default)]
pub(super) struct ReadyQueue(Rc<RefCell<VecDeque<ReadyCallback>>>);

impl ReadyQueue {
    pub(super) fn call_soon(&self, callback: ReadyCallback) {
        self.0.borrow_mut().push_back(callback);
    }

    fn pop(&self) -> Option<ReadyCallback> {
        self.0.borrow_mut().pop_front()
    }

    fn len(&self) -> usize {
        self.0.borrow().len()
    }

    fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

/// The event loop: a selector (`mio::Poll`), the Future each registered source resolves when it
/// is ready, and the ready queue.
pub struct EventLoop {
    poll: Poll,
    events: Events,
    /// One slot per registered source, keyed by its `Token`: the Future its next event
    /// resolves, if a coroutine waits on it (`None` while nobody waits).
    waiting: Slab<Option<Future<Readiness>>>,
    /// Callbacks to run before the loop sleeps again.
    ready: ReadyQueue,
    ticks: u64,
    futures_created: u64,
}

impl EventLoop {
    pub fn new() -> io::Result<EventLoop> {
        Ok(EventLoop {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            waiting: Slab::new(),
            ready: ReadyQueue::default(),
            ticks: 0,
            futures_created: 0,
        })
    }

    /// Python's `selector.register(sock, events)`: asks the OS to watch `source` for
    /// `interest`. Returns the source's token; [`EventLoop::when_ready`] turns it into a Future.
    pub fn register(&mut self, source: &mut impl Source, interest: Interest) -> io::Result<Token> {
        let entry = self.waiting.vacant_entry();
        let token = Token(entry.key());
        self.poll.registry().register(source, token, interest)?;
        entry.insert(None);
        debug!("register token {} for {interest:?}", token.0);
        Ok(token)
    }

    /// Python's `selector.modify`: watch the same source for other events.
    pub fn modify(
        &mut self,
        token: Token,
        source: &mut impl Source,
        interest: Interest,
    ) -> io::Result<()> {
        self.poll.registry().reregister(source, token, interest)?;
        debug!("modify token {} to {interest:?}", token.0);
        Ok(())
    }

    /// Python's `selector.unregister`: stop watching `source`. A Future still waiting on it is
    /// dropped unresolved, with its callbacks.
    pub fn unregister(&mut self, token: Token, source: &mut impl Source) -> io::Result<()> {
        self.waiting.try_remove(token.0);
        debug!("unregister token {}", token.0);
        self.poll.registry().deregister(source)
    }

    /// How many sources are registered.
    pub fn registered(&self) -> usize {
        self.waiting.len()
    }

    /// The Future that the next event of the source registered as `token` resolves. This is
    /// what a coroutine waits on once its I/O said `WouldBlock`.
    ///
    /// # Panics
    ///
    /// If nothing is registered as `token`: such a Future could never resolve.
    pub fn when_ready(&mut self, token: Token) -> Future<Readiness> {
        if let Some(Some(future)) = self.waiting.get(token.0) {
            return future.clone(); // someone already waits for this event: share it
        }
        let future = self.create_future();
        let slot = self
            .waiting
            .get_mut(token.0)
            .unwrap_or_else(|| panic!("when_ready: token {} is not registered", token.0));
        *slot = Some(future.clone());
        trace!("token {}: {future:?} waits for its next event", token.0);
        future
    }

    /// asyncio's `loop.create_future()`: a pending Future whose callbacks this loop runs.
    pub fn create_future<T: 'static>(&mut self) -> Future<T> {
        self.futures_created += 1;
        Future::new(self.futures_created, self.ready.clone())
    }

    /// Python's `loop.call_soon(callback)`: runs `callback` on the loop's next round, after
    /// whatever is running now has returned.
    pub fn call_soon(&self, callback: impl FnOnce(&mut EventLoop) + 'static) {
        self.ready.call_soon(Box::new(callback));
    }

    // ANCHOR: run_until
    /// Runs ready callbacks, and resolves Futures as their sources become ready, until nothing
    /// is left to do (no source registered, no callback ready) or `deadline` passes. Returns
    /// `Ok(true)` when nothing is left, `Ok(false)` at the deadline with work still pending.
    pub fn run_until(&mut self, deadline: Instant) -> io::Result<bool> {
        loop {
            self.run_ready();
            if self.waiting.is_empty() && self.ready.is_empty() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                debug!(
                    "deadline passed, {} registered, {} ready",
                    self.registered(),
                    self.ready.len()
                );
                return Ok(false);
            }
            self.ticks += 1;
            // Ready callbacks must not wait for the network: if there are any, only look.
            let timeout = if self.ready.is_empty() {
                deadline - now
            } else {
                Duration::ZERO
            };
            trace!(
                "tick {}: poll, {} registered, {} ready, timeout {timeout:?}",
                self.ticks,
                self.registered(),
                self.ready.len()
            );
            match self.poll.poll(&mut self.events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            // Copy the events out: resolving a Future needs `&mut self`.
            let ready: Vec<Readiness> = self.events.iter().map(readiness).collect();
            for event in ready {
                self.dispatch(event);
            }
        }
    }
    // ANCHOR_END: run_until

    /// Runs the callbacks that are ready now. Those they schedule wait for the next round
    /// (after a `poll` that does not sleep): a chain of Futures resolving each other never
    /// recurses, and never keeps the loop from looking at the network.
    fn run_ready(&mut self) {
        let round = self.ready.len();
        if round > 0 {
            trace!("tick {}: run {round} ready callback(s)", self.ticks);
        }
        for _ in 0..round {
            // `pop` returns before the callback runs: the queue is not borrowed while it runs.
            let Some(callback) = self.ready.pop() else {
                break;
            };
            callback(self);
        }
    }

    // ANCHOR: dispatch
    /// Resolves the Future waiting on `event.token`, if any. Its callbacks go to the ready
    /// queue; nothing runs here.
    fn dispatch(&mut self, event: Readiness) {
        let key = event.token.0;
        match self.waiting.get_mut(key).and_then(Option::take) {
            Some(future) => {
                trace!(
                    "token {key} fired: {} -> resolves {future:?}",
                    describe(&event)
                );
                future.set_result(event);
            }
            // Nobody waits: the coroutine is running or about to, and does its I/O until
            // `WouldBlock` before it waits again, so nothing is lost. Or the source was
            // unregistered earlier in this tick: a stale event.
            None => trace!("token {key} fired: {}, nobody waits", describe(&event)),
        }
    }
    // ANCHOR_END: dispatch
}

fn readiness(event: &mio::event::Event) -> Readiness {
    Readiness {
        token: event.token(),
        readable: event.is_readable(),
        writable: event.is_writable(),
        error: event.is_error(),
        read_closed: event.is_read_closed(),
    }
}

/// `readable+writable`, for the trace.
pub(super) fn describe(event: &Readiness) -> String {
    let mut parts = Vec::new();
    for (on, name) in [
        (event.readable, "readable"),
        (event.writable, "writable"),
        (event.error, "error"),
        (event.read_closed, "read-closed"),
    ] {
        if on {
            parts.push(name);
        }
    }
    parts.join("+")
}
