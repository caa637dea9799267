//! Stage 3: composition — a coroutine delegates to sub-coroutines (Python's `yield from`).
//!
//! **New here:** one piece, [`yield_from`] (in `yield_from.rs`). Everything else in this
//! module is stage 2, unchanged: the same [`EventLoop`], [`Future`], [`Coroutine`] and — the
//! point of this stage — the same [`Task`]. Diff the two directories to see it:
//! `diff -ru runtime/src/stage2 runtime/src/stage3`.
//!
//! A coroutine keeps a sub-coroutine in its state and forwards each `send` to it, as Python's
//! `yield from` does:
//!
//! ```python
//! def read_all(sock):
//!     response = []
//!     chunk = yield from read(sock)   # read's yields go straight up to the Task
//!     while chunk:
//!         response.append(chunk)
//!         chunk = yield from read(sock)
//!     return b''.join(response)
//! ```
//!
//! The Task still sees one coroutine that waits on one Future at a time: the Future the
//! innermost sub-coroutine asked for, passed up through every caller. When it resolves, the
//! Task's `send` goes down the same chain. A sub-coroutine's error comes back up as an
//! `Err`, and each caller's `?` passes it on, up to the Task's result.
//!
//! Under it, the machinery is stage 2's, file for file. One turn of the cycle, for one fetch:
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
//! each source resolves, plus a ready queue), [`Future`], [`Coroutine`] and [`Step`], [`Task`];
//! and the new one, [`yield_from`].
//!
//! **Pain removed:** reuse. `connect`, `read`, `read_all` are written once and composed; an
//! error inside any of them ends the whole chain with that error, with no routing by hand.
//!
//! **Pain left:** every delegation is the same boilerplate: a state variant to hold the
//! sub-coroutine, a `match` that passes its waits up, `?` for its errors. The compiler could
//! write all of it — and with `async fn` and `.await` it does (stage 4).

mod coroutine;
mod event_loop;
mod future;
mod task;
mod yield_from;

#[cfg(test)]
mod tests;

pub use coroutine::{Coroutine, Step};
pub use event_loop::{EventLoop, Readiness, ReadyCallback};
pub use future::{DoneCallback, Future};
pub use task::Task;
pub use yield_from::yield_from;
