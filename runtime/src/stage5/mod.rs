//! Stage 5: the toolkit — stage 4's loop, and what asyncio gives a program on top of it.
//!
//! **New here:** the tools the seeds use, each built into the stage 4 loop, so that
//! `diff -ru runtime/src/stage4 runtime/src/stage5` shows what each one needs from it:
//!
//! - **timers** ([`timers`]): [`sleep`], [`timeout`]. The poll timeout *is* the timer;
//! - **tasks with a result** ([`event_loop`], [`join`]): [`Executor::block_on`], [`spawn`]
//!   inside a task, a [`JoinHandle`] to await; a panicking task is caught (`JoinError`);
//! - **cancellation**: dropping a future cancels it; [`JoinHandle::abort`] drops a task;
//! - **combinators** ([`combinators`]): [`join_all`] (`gather`), [`select`], [`wait`],
//!   [`as_completed`]. Nothing from the loop;
//! - **sync** ([`semaphore`], [`queue`]): [`Semaphore`] and [`Queue`] (`put` / `get` /
//!   `task_done` / `join`). Nothing from the loop either: wakers wait in line;
//! - **[`spawn_blocking`]** ([`blocking`]): asyncio's `run_in_executor`, a small thread pool,
//!   and a wake from another thread that interrupts `poll`, which stage 4 did not have;
//! - a [`TcpListener`] ([`net`]), so that a server runs on the loop too.
//!
//! **Pain removed:** a URL that hangs times out alone; the fan-out has a cap (a queue and a
//! fixed number of workers, or a semaphore); a blocking call (DNS) no longer freezes the loop,
//! and the pool thread's wake is seen at once; one panicking task no longer ends the run.
//!
//! **Pain left:** one thread does all the work, so a busy crawl uses one core; the timers are
//! a sorted map (fine for thousands, not millions); a woken `join_all` polls all its futures;
//! no file I/O, no TLS, no structured shutdown. The next step is tokio: "Where next" in
//! NOTES.md.
//!
//! ```text
//!   task 2 ─poll─▶ Sleep: not yet ─▶ reactor timers: at t+200ms, wake task 2's waker
//!   executor: nothing ready ─▶ park in Poll::poll(timeout = next deadline − now)
//!   poll returns, no event ─▶ timer due ─▶ ready queue: task 2 ─▶ poll task 2 ─▶ Ready
//! ```

pub mod blocking;
pub mod combinators;
pub mod event_loop;
pub mod join;
pub mod net;
pub mod queue;
pub mod reactor;
pub mod semaphore;
pub mod timers;
// The line of waiting tasks that `semaphore` and `queue` share: a detail of both, not a tool.
mod wait_list;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use blocking::Blocking;
pub use combinators::{Either, as_completed, join_all, select, wait};
pub use event_loop::{Executor, spawn, spawn_blocking};
pub use join::{JoinError, JoinHandle};
pub use net::{TcpListener, TcpStream};
pub use queue::Queue;
pub use reactor::Reactor;
pub use semaphore::{Permit, Semaphore};
pub use timers::{Elapsed, Sleep, Timeout, sleep, sleep_until, timeout, timeout_at, yield_now};
