//! The event loop: a loop over `mio::Poll` and a `Slab` of callbacks. A readiness event runs
//! the callback registered for its source, which does the fetch's next piece of work.

use std::io;
use std::time::Instant;

use log::{debug, trace};
use mio::event::Source;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

/// What a readiness event says about a source. A copy of `mio::event::Event`'s answers, so a
/// callback can keep it while it borrows the loop.
///
/// Readiness is a *hint*: an event can be spurious, and mio is edge-triggered, so a callback
/// reads or writes until `WouldBlock` and treats a readable event with nothing to read as
/// normal.
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

/// A callback: run by the loop when its source is ready. It gets the loop back so that it can
/// register, modify or unregister sources — that is how "what next" is said in this stage.
pub type Callback = Box<dyn FnMut(&mut EventLoop, Readiness)>;

/// The event loop: a selector (`mio::Poll`) and the callback registered for each source.
pub struct EventLoop {
    poll: Poll,
    events: Events,
    /// The callbacks, keyed by the `Token` the source was registered with. A slot is `None`
    /// while its callback runs (the callback is taken out so it can borrow the loop).
    callbacks: Slab<Option<Callback>>,
    ticks: u64,
}

impl EventLoop {
    pub fn new() -> io::Result<EventLoop> {
        Ok(EventLoop {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            callbacks: Slab::new(),
            ticks: 0,
        })
    }

    /// Python's `selector.register(sock, events, callback)`: asks the OS to watch `source` for
    /// `interest`, and remembers what to call when it is ready. Returns the source's token.
    pub fn register(
        &mut self,
        source: &mut impl Source,
        interest: Interest,
        callback: Callback,
    ) -> io::Result<Token> {
        let entry = self.callbacks.vacant_entry();
        let token = Token(entry.key());
        self.poll.registry().register(source, token, interest)?;
        entry.insert(Some(callback));
        debug!("register token {} for {interest:?}", token.0);
        Ok(token)
    }

    /// Python's `selector.modify`: watch the same source for other events, with another
    /// callback. This is how a fetch moves on from "connected" to "reading".
    pub fn modify(
        &mut self,
        token: Token,
        source: &mut impl Source,
        interest: Interest,
        callback: Callback,
    ) -> io::Result<()> {
        self.poll.registry().reregister(source, token, interest)?;
        self.callbacks[token.0] = Some(callback);
        debug!("modify token {} to {interest:?}", token.0);
        Ok(())
    }

    /// Python's `selector.unregister`: stop watching `source` and forget its callback.
    pub fn unregister(&mut self, token: Token, source: &mut impl Source) -> io::Result<()> {
        self.callbacks.try_remove(token.0);
        debug!("unregister token {}", token.0);
        self.poll.registry().deregister(source)
    }

    /// How many sources are registered.
    pub fn registered(&self) -> usize {
        self.callbacks.len()
    }

    // ANCHOR: run_until
    /// Runs callbacks as their sources become ready, until nothing is registered (every
    /// fetch has ended) or `deadline` passes. Returns `Ok(true)` when nothing is left,
    /// `Ok(false)` at the deadline with sources still registered.
    pub fn run_until(&mut self, deadline: Instant) -> io::Result<bool> {
        while !self.callbacks.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                debug!("deadline passed, {} registered", self.registered());
                return Ok(false);
            }
            self.ticks += 1;
            trace!(
                "tick {}: poll, {} registered, timeout {:?}",
                self.ticks,
                self.registered(),
                deadline - now
            );
            // Block until the OS has news, or until the deadline.
            match self.poll.poll(&mut self.events, Some(deadline - now)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            // Copy the events out: the callbacks need `&mut self`.
            let ready: Vec<Readiness> = self.events.iter().map(readiness).collect();
            for event in ready {
                self.dispatch(event);
            }
        }
        Ok(true)
    }
    // ANCHOR_END: run_until

    // ANCHOR: dispatch
    /// Runs the callback registered for `event.token`.
    fn dispatch(&mut self, event: Readiness) {
        let key = event.token.0;
        // Take the callback out of its slot while it runs, so it can borrow the loop.
        let Some(mut callback) = self.callbacks.get_mut(key).and_then(Option::take) else {
            // Unregistered earlier in this tick: a stale event. (If the slot was reused by a
            // new registration, that callback gets a spurious event, which it must tolerate.)
            trace!("token {key} fired but nothing is registered");
            return;
        };
        trace!("token {key} fired: {}", describe(&event));
        callback(self, event);
        // Put it back unless the callback unregistered its source or registered a new callback.
        if let Some(slot @ None) = self.callbacks.get_mut(key) {
            *slot = Some(callback);
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

fn describe(event: &Readiness) -> String {
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
