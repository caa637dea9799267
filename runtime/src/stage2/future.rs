//! A hand-rolled Future: a result that is not there yet, and the callbacks to run once it is.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use log::trace;

// A circle with `event_loop`, on purpose: a Future schedules its callbacks on the loop's
// ready queue and hands them the loop, and the loop keeps the Futures its sources resolve.
// Python's Future and loop know each other the same way (`future._loop.call_soon`).
use super::event_loop::{EventLoop, ReadyQueue};

/// What [`Future::add_done_callback`] takes: run on the loop once the Future is resolved, and
/// given the Future — Python calls `fn(future)` the same way.
pub type DoneCallback<T> = Box<dyn FnOnce(&mut EventLoop, &Future<T>)>;

/// Python's `Future` from the original crawler (and asyncio's): a result that is not there
/// yet, and the callbacks to run once it is.
///
/// A `Future` is a cheap handle (`Rc`): the event loop keeps one to resolve it, a Task keeps
/// one to wait on it. One difference from the Python original, which calls each callback
/// inside `set_result`: here resolving only *schedules* the callbacks on the loop's ready
/// queue (asyncio's `call_soon`). So `set_result` never runs a Task's step in the middle of
/// someone else's code: nothing recurses, and no `RefCell` is borrowed twice.
pub struct Future<T> {
    id: u64,
    ready: ReadyQueue,
    state: Rc<RefCell<State<T>>>,
}

struct State<T> {
    done: bool,
    result: Option<T>,
    callbacks: Vec<DoneCallback<T>>,
}

impl<T: 'static> Future<T> {
    /// Python's `set_result`: stores `value`, marks the Future done, and schedules every
    /// callback added so far.
    ///
    /// # Panics
    ///
    /// If the Future is already done (Python raises `InvalidStateError`).
    pub fn set_result(&self, value: T) {
        let callbacks = {
            let mut state = self.state.borrow_mut();
            assert!(!state.done, "future #{} resolved twice", self.id);
            state.done = true;
            state.result = Some(value);
            std::mem::take(&mut state.callbacks)
        }; // the borrow ends here, before anything is scheduled
        trace!(
            "{self:?} resolved, {} callback(s) scheduled",
            callbacks.len()
        );
        for callback in callbacks {
            self.schedule(callback);
        }
    }

    /// Python's `add_done_callback`: `callback` runs once the Future is done — on the loop,
    /// never inside this call, even when the Future is done already.
    pub fn add_done_callback(&self, callback: impl FnOnce(&mut EventLoop, &Future<T>) + 'static) {
        let callback: DoneCallback<T> = Box::new(callback);
        let mut state = self.state.borrow_mut();
        if state.done {
            drop(state);
            self.schedule(callback);
        } else {
            state.callbacks.push(callback);
        }
    }

    fn schedule(&self, callback: DoneCallback<T>) {
        let future = self.clone();
        self.ready
            .call_soon(Box::new(move |event_loop| callback(event_loop, &future)));
    }
}

impl<T: 'static> Future<T> {
    /// A pending Future whose callbacks go to `ready`; see [`EventLoop::create_future`].
    pub(super) fn new(id: u64, ready: ReadyQueue) -> Future<T> {
        Future {
            id,
            ready,
            state: Rc::new(RefCell::new(State {
                done: false,
                result: None,
                callbacks: Vec::new(),
            })),
        }
    }

    /// Python's `done()`: whether `set_result` has been called.
    pub fn done(&self) -> bool {
        self.state.borrow().done
    }

    /// Python's `result()`: a copy of the result, `None` while pending (or once taken).
    pub fn result(&self) -> Option<T>
    where
        T: Clone,
    {
        self.state.borrow().result.clone()
    }

    /// Moves the result out, for results that cannot be copied (a fetch's `Result` holds an
    /// `io::Error`). Whoever takes it owns it; the Future stays done.
    pub fn take_result(&self) -> Option<T> {
        self.state.borrow_mut().result.take()
    }
}

/// A second handle to the same Future (not a copy of its result).
impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            id: self.id,
            ready: self.ready.clone(),
            state: Rc::clone(&self.state),
        }
    }
}

/// `future #7`: the trace names Futures by the number their loop gave them.
impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "future #{}", self.id)
    }
}
