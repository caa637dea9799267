//! The Task: the step driver that resumes one coroutine each time the Future it waits on
//! resolves.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use log::trace;

use super::coroutine::{Coroutine, Step};
use super::event_loop::{EventLoop, Readiness, describe};
use super::future::Future;

/// Python's `Task` from the original crawler (asyncio's `Task` is the same idea): it owns one
/// coroutine and steps it. Each step sends the last result in; the coroutine runs to its next
/// wait and hands back the Future it now waits on; the Task asks that Future to call
/// [`Task::step`] again once it resolves. Nobody else resumes the coroutine.
///
/// A Task can itself be waited on: when the coroutine returns, [`Task::future`] resolves with
/// its output (asyncio's Task *is* a Future; here it has one).
///
/// A `Task` is a cheap handle (`Rc`): the Future it waits on holds one in its callback.
pub struct Task<C: Coroutine> {
    inner: Rc<Inner<C>>,
}

struct Inner<C: Coroutine> {
    /// For the trace: the URL a fetch is for.
    name: String,
    /// `None` once the coroutine has returned or was closed.
    coroutine: RefCell<Option<C>>,
    /// Resolved with the coroutine's output.
    output: Future<C::Output>,
    steps: Cell<u64>,
}

impl<C: Coroutine + 'static> Task<C> {
    /// Python's `Task(coro)` (asyncio's `loop.create_task`): wraps `coroutine` and schedules
    /// its first step, `send(None)`, on the loop. Nothing of the coroutine runs in here.
    pub fn new(event_loop: &mut EventLoop, name: &str, coroutine: C) -> Task<C> {
        let task = Task {
            inner: Rc::new(Inner {
                name: name.to_string(),
                coroutine: RefCell::new(Some(coroutine)),
                output: event_loop.create_future(),
                steps: Cell::new(0),
            }),
        };
        let first = task.clone();
        event_loop.call_soon(move |event_loop| first.step(event_loop, None));
        task
    }

    // ANCHOR: step
    /// Python's `Task.step`: sends `value` into the coroutine, which runs to its next wait. If
    /// it waits on a Future, the Task subscribes itself to that Future: its resolution brings
    /// the Task back here, with the result. If it returns, the Task's own Future resolves.
    pub fn step(&self, event_loop: &mut EventLoop, value: Option<Readiness>) {
        let task = &self.inner;
        let steps = task.steps.get() + 1;
        task.steps.set(steps);
        let sent = value.map_or("None".to_string(), |ready| {
            format!("token {} {}", ready.token.0, describe(&ready))
        });
        trace!("{}: step {steps}, send({sent})", task.name);
        let step = match task.coroutine.borrow_mut().as_mut() {
            Some(coroutine) => coroutine.send(event_loop, value),
            None => {
                trace!("{}: ended already, step ignored", task.name);
                return;
            }
        };
        match step {
            Step::Wait(future) => {
                trace!("{}: step {steps} waits on {future:?}", task.name);
                let me = self.clone();
                future.add_done_callback(move |event_loop, future| {
                    me.step(event_loop, future.result());
                });
            }
            Step::Return(output) => {
                trace!(
                    "{}: returned after {steps} steps, resolves {:?}",
                    task.name, task.output
                );
                // A generator that returned is never resumed: drop it, and what it holds.
                task.coroutine.borrow_mut().take();
                task.output.set_result(output);
            }
        }
    }
    // ANCHOR_END: step

    /// Ends the Task without finishing its coroutine: Python's `close()` on the generator
    /// (asyncio's `Task.cancel()` is the same idea). The coroutine releases what it holds and
    /// is dropped; [`Task::future`] stays pending, and a late step is ignored.
    pub fn close(&self, event_loop: &mut EventLoop) {
        let coroutine = self.inner.coroutine.borrow_mut().take();
        if let Some(mut coroutine) = coroutine {
            trace!("{}: closed after {} steps", self.inner.name, self.steps());
            coroutine.close(event_loop);
        }
    }

    /// The Future that resolves with the coroutine's output: waiting on the Task is waiting
    /// on this.
    pub fn future(&self) -> Future<C::Output> {
        self.inner.output.clone()
    }

    /// The name the Task was given.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many times the coroutine has been stepped so far.
    pub fn steps(&self) -> u64 {
        self.inner.steps.get()
    }
}

/// A second handle to the same Task.
impl<C: Coroutine> Clone for Task<C> {
    fn clone(&self) -> Self {
        Task {
            inner: Rc::clone(&self.inner),
        }
    }
}
