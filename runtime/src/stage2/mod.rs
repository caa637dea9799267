//! Stage 2: a hand-rolled Future, a coroutine trait, and a Task that steps the coroutine.
//!
//! **New here:** the loop no longer runs *your* callbacks. Your code is a [`Coroutine`]: it
//! runs until it would block, then hands back the [`Future`] it waits on. A readiness event
//! resolves that Future, and the [`Task`] that owns the coroutine resumes it with the result.
//! This is the Python crawler's `Future` + `Task.step`:
//!
//! ```python
//! def step(self, future):
//!     try:
//!         next_future = self.coro.send(future.result)
//!     except StopIteration:
//!         return
//!     next_future.add_done_callback(self.step)
//! ```
//!
//! One turn of the cycle, for one fetch:
//!
//! ```text
//!   poll: token 3 is writable
//!     -> EventLoop::dispatch resolves the Future waiting on token 3   (future.rs)
//!     -> the Future schedules its callback: call_soon(task.step)      (event_loop.rs)
//!     -> next round: Task::step sends the Readiness in                (task.rs)
//!     -> the coroutine resumes where it stopped, does its I/O         (your code)
//!        until WouldBlock, returns Step::Wait(next future)
//!     -> the Task adds itself as that Future's done callback; back to poll
//! ```
//!
//! The pieces, one file each: [`EventLoop`] (stage 1's loop, whose `Slab` now holds the Future
//! each source resolves, plus a ready queue), [`Future`], [`Coroutine`] and [`Step`], [`Task`].
//!
//! **Pain removed:** a fetch is one value with one `send`, its locals and its "what next" in
//! one state machine; errors are values again, so `?` works; and resolving a Future never
//! runs the waiting code inline, so nothing recurses.
//!
//! **Pain left:** the state machine is written by hand, and nothing in it is reusable: a
//! second kind of request would copy its connect and read states. Stage 3 lets a coroutine
//! delegate to another one.

mod coroutine;
mod event_loop;
mod future;
mod task;

#[cfg(test)]
mod tests;

pub use coroutine::{Coroutine, Step};
pub use event_loop::{EventLoop, Readiness, ReadyCallback};
pub use future::{DoneCallback, Future};
pub use task::Task;
