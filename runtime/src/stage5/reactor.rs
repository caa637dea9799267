//! The reactor: the `mio::Poll`, and for each source the wakers of whoever waits on it.
//!
//! Stage 1's loop kept a *callback* per token and ran it; the reactor keeps a *waker* per
//! token and direction and only wakes it. It knows nothing of tasks.
//!
//! New in stage 5: the timers, wakers by deadline, which `poll` wakes once due; and an
//! [`unparker`](Reactor::unparker), so that another thread can interrupt `poll`.

use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

use log::{debug, trace};
use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

/// The token of the `mio::Waker` that lets another thread interrupt `poll` (see
/// [`Reactor::unparker`]). Slab keys start at 0 and never get near it.
const UNPARK: Token = Token(usize::MAX);

// ANCHOR: reactor
/// The reactor: a selector (`mio::Poll`) and, for each registered source, who waits on it.
/// Shared (`Rc`) by the executor and every stream, so its parts sit in `RefCell`s.
pub struct Reactor {
    poll: RefCell<Poll>,
    /// A clone of `poll.registry()`: registering never needs the `poll` borrow.
    registry: Registry,
    events: RefCell<Events>,
    /// Who waits on each source, keyed by the `Token` it is registered with.
    sources: RefCell<Slab<Waiters>>,
    /// Whom to wake when, earliest deadline first.
    timers: RefCell<Timers>,
}

/// The waker of whoever waits to read a source, and of whoever waits to write it.
#[derive(Default)]
struct Waiters {
    reader: Option<Waker>,
    writer: Option<Waker>,
}
// ANCHOR_END: reactor

thread_local! {
    /// The reactor of the executor running on this thread, while it runs: how
    /// [`TcpStream::connect`](super::TcpStream::connect) finds it without a parameter.
    static CURRENT: RefCell<Option<Rc<Reactor>>> = const { RefCell::new(None) };
}

impl Reactor {
    pub fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        Ok(Reactor {
            registry: poll.registry().try_clone()?,
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(1024)),
            sources: RefCell::default(),
            timers: RefCell::default(),
        })
    }

    /// The reactor of the executor running on this thread.
    pub fn current() -> io::Result<Rc<Reactor>> {
        let outside = "no executor is running on this thread: call this inside a task";
        CURRENT
            .with_borrow(Option::clone)
            .ok_or_else(|| io::Error::other(outside))
    }

    /// Makes `reactor` the thread's current one until the returned value is dropped.
    pub(super) fn make_current(reactor: &Rc<Reactor>) -> Current {
        Current(CURRENT.replace(Some(reactor.clone())))
    }

    /// A `mio::Waker` that makes [`poll`](Reactor::poll) return at once, from any thread.
    pub fn unparker(&self) -> io::Result<mio::Waker> {
        mio::Waker::new(&self.registry, UNPARK)
    }

    /// Registers `source` with the OS, once for both directions, and returns its token. (Stages
    /// 1–3 registered for each wait: edge-triggered, that only cost system calls.)
    pub fn register(&self, source: &mut impl Source) -> io::Result<Token> {
        let mut sources = self.sources.borrow_mut();
        let entry = sources.vacant_entry();
        let token = Token(entry.key());
        let both = Interest::READABLE | Interest::WRITABLE;
        self.registry.register(source, token, both)?;
        entry.insert(Waiters::default());
        debug!("token {}: registered", token.0);
        Ok(token)
    }

    /// Called by a leaf future whose system call said `WouldBlock`: `waker` is to be woken when
    /// the source is ready for `direction`. It replaces the waker stored before.
    pub fn wait_for(&self, token: Token, direction: Interest, waker: &Waker) {
        let mut sources = self.sources.borrow_mut();
        let Some(waiters) = sources.get_mut(token.0) else {
            return; // deregistered: nothing will ever be ready (a stream does it on drop)
        };
        let (slot, what) = if direction.is_readable() {
            (&mut waiters.reader, "readable")
        } else {
            (&mut waiters.writer, "writable")
        };
        *slot = Some(waker.clone());
        trace!("token {}: waits until {what}", token.0);
    }

    /// Forgets a source: deregisters it and drops its wakers (a dropped stream calls this).
    pub fn deregister(&self, token: Token, source: &mut impl Source) -> io::Result<()> {
        self.sources.borrow_mut().try_remove(token.0);
        debug!("token {}: deregistered", token.0);
        self.registry.deregister(source)
    }

    /// How many sources are registered: zero once every stream is dropped (no leak).
    pub fn sources(&self) -> usize {
        self.sources.borrow().len()
    }

    /// The timers, for a `Sleep` to arm and disarm its own.
    pub(crate) fn timer_table(&self) -> RefMut<'_, Timers> {
        self.timers.borrow_mut()
    }

    /// How many timers are armed. Zero once every `Sleep` has fired or been dropped.
    pub fn timers(&self) -> usize {
        self.timers.borrow().len()
    }

    // ANCHOR: poll
    /// Sleeps in `Poll::poll` until a source is ready, another thread calls the
    /// [`unparker`](Reactor::unparker), or `timeout` passes (`None`: no limit);
    /// then wakes the waker stored for each direction that became ready, taking it out: a
    /// waker is used once; and each timer that is due.
    pub fn poll(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
            _ => {} // done, or interrupted by a signal (then with no events)
        }
        trace!("poll: {} events", events.iter().count());
        // Take the wakers out first and wake them after, with the table no longer borrowed.
        let mut ready = Vec::new();
        let mut sources = self.sources.borrow_mut();
        for event in events.iter() {
            let token = event.token();
            let Some(waiters) = sources.get_mut(token.0) else {
                continue; // the unparker (its work is done), or a source deregistered since
            };
            // An error or a hang-up ends both directions: whoever waits must try again and
            // see the error from the system call itself.
            let failed = event.is_error();
            if event.is_readable() || event.is_read_closed() || failed {
                ready.extend(waiters.reader.take().map(|w| (token, "readable", w)));
            }
            if event.is_writable() || event.is_write_closed() || failed {
                ready.extend(waiters.writer.take().map(|w| (token, "writable", w)));
            }
        }
        // The timers due by now, earliest first. One that is not due yet stays armed: a
        // timer never fires early, even if `poll` returned a little before its deadline.
        let due = self.timers.borrow_mut().take_due(Instant::now());
        if !due.is_empty() {
            trace!("poll: {} timers due", due.len());
        }
        drop((sources, events));
        for (token, what, waker) in ready {
            trace!("token {} {what}: wake", token.0);
            waker.wake();
        }
        for waker in due {
            waker.wake();
        }
        Ok(())
    }
    // ANCHOR_END: poll
}

/// While it lives, its reactor is the thread's current one; then the one before is again.
pub(super) struct Current(Option<Rc<Reactor>>);

impl Drop for Current {
    fn drop(&mut self) {
        CURRENT.set(self.0.take());
    }
}

/// The timers: whom to wake, by deadline. A `BTreeMap` keeps them sorted, so the
/// next deadline is its first key and the due timers are a prefix of it.
#[derive(Default)]
pub(crate) struct Timers {
    wakers: BTreeMap<TimerKey, Waker>,
    next_id: u64,
}

/// Which timer: its deadline, and a number that tells apart timers with the same deadline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey(Instant, u64);

impl Timers {
    /// Arms a timer: `waker` is woken once `deadline` has passed.
    pub fn insert(&mut self, deadline: Instant, waker: &Waker) -> TimerKey {
        let key = TimerKey(deadline, self.next_id);
        self.next_id += 1;
        self.set_waker(key, waker);
        key
    }

    /// Stores the latest waker of a timer (and arms it again if it had fired).
    pub fn set_waker(&mut self, key: TimerKey, waker: &Waker) {
        self.wakers.insert(key, waker.clone());
    }

    /// Disarms a timer (it may have fired already: then nothing happens).
    pub fn remove(&mut self, key: TimerKey) {
        self.wakers.remove(&key);
    }

    /// The earliest deadline: how long the loop may sleep.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.wakers.keys().next().map(|key| key.0)
    }

    /// Takes out the timers due at `now`, earliest first, to be woken.
    pub fn take_due(&mut self, now: Instant) -> Vec<Waker> {
        let later = self.wakers.split_off(&TimerKey(now, u64::MAX));
        let due = std::mem::replace(&mut self.wakers, later);
        due.into_values().collect()
    }

    /// How many timers are armed.
    pub fn len(&self) -> usize {
        self.wakers.len()
    }
}

impl TimerKey {
    /// The timer's number, as the trace shows it.
    pub fn id(&self) -> u64 {
        self.1
    }
}
