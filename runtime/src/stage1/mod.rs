//! Stage 1: readiness and callbacks — an event loop over `mio::Poll`.
//!
//! **New here:** the operating system tells us which sockets are ready (`epoll` on Linux,
//! `kqueue` on macOS, wrapped by `mio::Poll`), and the loop runs the callback registered for
//! each. This is Python's `selectors` loop from the original crawler:
//!
//! ```python
//! while not stopped:
//!     events = selector.select()
//!     for event_key, event_mask in events:
//!         callback = event_key.data
//!         callback(event_key, event_mask)
//! ```
//!
//! **Pain removed:** no thread sits blocked per connection; one thread waits for all of them.
//!
//! **Pain left:** the loop only knows *callbacks*. Whoever uses it must keep their state in
//! struct fields between callbacks, encode "what to do next" as *which* callback is registered,
//! and cannot use `?` across a wait. Stage 2 gives that state one home: a coroutine.

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

// ANCHOR: event_loop
/// The event loop: a selector (`mio::Poll`) and the callback registered for each source.
pub struct EventLoop {
    poll: Poll,
    events: Events,
    /// The callbacks, keyed by the `Token` the source was registered with. A slot is `None`
    /// while its callback runs (the callback is taken out so it can borrow the loop).
    callbacks: Slab<Option<Callback>>,
    ticks: u64,
}
// ANCHOR_END: event_loop

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::io::{Read, Write};
    use std::rc::Rc;
    use std::time::Duration;

    fn pair() -> (mio::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.set_nonblocking(true).unwrap();
        (mio::net::TcpStream::from_std(client), server)
    }

    #[test]
    fn runs_the_callback_of_the_ready_source_and_stops_when_nothing_is_registered() {
        let mut el = EventLoop::new().unwrap();
        let (client, mut server) = pair();
        let client = Rc::new(RefCell::new(client));
        let got = Rc::new(RefCell::new(Vec::new()));
        let (c, g) = (client.clone(), got.clone());
        let token = el
            .register(
                &mut *client.borrow_mut(),
                Interest::READABLE,
                Box::new(move |el, ready| {
                    let mut buf = [0u8; 16];
                    // Drain until WouldBlock: mio is edge-triggered.
                    loop {
                        let read = c.borrow_mut().read(&mut buf);
                        match read {
                            Ok(0) => {
                                el.unregister(ready.token, &mut *c.borrow_mut()).unwrap();
                                return;
                            }
                            Ok(n) => g.borrow_mut().extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }),
            )
            .unwrap();
        assert_eq!(token, Token(0));
        server.write_all(b"hello").unwrap();
        drop(server);
        let done = el
            .run_until(Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert!(done);
        assert_eq!(&*got.borrow(), b"hello");
        assert_eq!(el.registered(), 0);
    }

    #[test]
    fn returns_at_the_deadline_when_nothing_happens() {
        let mut el = EventLoop::new().unwrap();
        let (mut client, _server) = pair();
        el.register(&mut client, Interest::READABLE, Box::new(|_, _| {}))
            .unwrap();
        let done = el
            .run_until(Instant::now() + Duration::from_millis(20))
            .unwrap();
        assert!(!done);
        assert_eq!(el.registered(), 1);
    }

    #[test]
    fn a_callback_can_replace_itself() {
        let mut el = EventLoop::new().unwrap();
        let (client, mut server) = pair();
        let client = Rc::new(RefCell::new(client));
        let calls = Rc::new(RefCell::new(Vec::new()));
        let (c, log) = (client.clone(), calls.clone());
        el.register(
            &mut *client.borrow_mut(),
            Interest::WRITABLE,
            Box::new(move |el, ready| {
                log.borrow_mut().push("first");
                let (c2, log2) = (c.clone(), log.clone());
                el.modify(
                    ready.token,
                    &mut *c.borrow_mut(),
                    Interest::READABLE,
                    Box::new(move |el, ready| {
                        log2.borrow_mut().push("second");
                        el.unregister(ready.token, &mut *c2.borrow_mut()).unwrap();
                    }),
                )
                .unwrap();
            }),
        )
        .unwrap();
        server.write_all(b"x").unwrap();
        assert!(
            el.run_until(Instant::now() + Duration::from_secs(5))
                .unwrap()
        );
        assert_eq!(&*calls.borrow(), &["first", "second"]);
    }
}
