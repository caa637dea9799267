//! Stage 5: the toolkit — stage 4's loop, and what asyncio gives a program on top of it.
//!
//! **New here:** the tools the seeds use, each built into the stage 4 loop, so that
//! `diff -ru runtime/src/stage4 runtime/src/stage5` shows what each one needs from it:
//!
//! - **timers** ([`timers`]): [`sleep`], [`timeout`]. The reactor keeps wakers by deadline;
//!   the executor's `park` sleeps in `poll` no longer than until the next one, and `poll`
//!   wakes those due. The poll timeout *is* the timer;
//! - **tasks with a result** ([`executor`], [`join`]): [`Executor::block_on`] runs the loop
//!   until one future is done and returns its output; [`spawn`] works inside a task and
//!   gives a [`JoinHandle`] to await. A task that panics — in its poll or in its `Drop` — is
//!   caught (`JoinError::Panicked`), so one bad URL cannot end a crawl;
//! - **cancellation**: dropping a future cancels it — its `Drop` deregisters its socket and
//!   removes its timer — and [`JoinHandle::abort`] makes the executor drop a task at its next
//!   suspension point;
//! - **combinators** ([`combinators`]): [`join_all`] (`gather`), [`select`] (the loser is
//!   dropped), [`wait`] with a timeout (done and pending), [`as_completed`]. Nothing from the
//!   loop: a combinator polls its futures with its own task's waker;
//! - **sync** ([`semaphore`], [`queue`]): [`Semaphore`] and [`Queue`] (`put` / `get` /
//!   `task_done` / `join`). Nothing from the loop either: wakers wait in line, and whoever
//!   frees a permit or puts an item wakes the first;
//! - **[`spawn_blocking`]** ([`blocking`]): asyncio's `run_in_executor`, a small thread pool
//!   owned by the executor. What it needs from the loop is a wake from another thread that
//!   interrupts `poll`, which stage 4 did not: the reactor's `mio::Waker` (its *unparker*);
//! - a [`TcpListener`] ([`net`]), so that a server runs on the loop too.
//!
//! The loop underneath is stage 4's: the [`Reactor`] ([`reactor`], now with the timers),
//! the [`Executor`] ([`executor`], now with `block_on`, parking no longer than the next
//! timer, interruptible from another thread, and owning the blocking pool), the leaf futures [`TcpStream`], [`TcpListener`] ([`net`]) and [`Sleep`]
//! ([`timers`]), and the [`JoinHandle`] bookkeeping ([`join`]).
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
pub mod executor;
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
pub use executor::{Executor, spawn, spawn_blocking};
pub use join::{JoinError, JoinHandle};
pub use net::{TcpListener, TcpStream};
pub use queue::Queue;
pub use reactor::Reactor;
pub use semaphore::{Permit, Semaphore};
pub use timers::{Elapsed, Sleep, sleep, sleep_until, timeout, timeout_at, yield_now};
