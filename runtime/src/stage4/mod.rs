//! Stage 4: std `Future` + `Waker` — a reactor, an executor, and an async `TcpStream`.
//!
//! **New here:** the futures are Rust's own (`std::future::Future`), so the compiler writes
//! the state machines: `async fn` compiles to exactly the kind of enum stage 2 wrote by hand,
//! and `.await` is stage 3's `yield from`. What the compiler does *not* write is the loop that
//! drives them. That is this module, in three parts, read in this order:
//!
//! the [`Reactor`] ([`reactor`]) wakes whoever waits on a socket when the OS says it is
//! ready; the [`Executor`] ([`executor`]) polls the tasks whose wakers put them in its ready
//! queue, and parks in the reactor's `poll` when none is; the leaf future, [`TcpStream`]
//! ([`net`]), gives the reactor its waker when a call would block. [`JoinHandle`] ([`join`])
//! is bookkeeping a first reading can skip.
//!
//! Stage 2's Future kept *callbacks* ("when done, call `step`"). A std future keeps none:
//! whoever polls it passes a [`Waker`](std::task::Waker) in the `Context`, the future stores
//! the latest one, and waking means "poll me again".
//!
//! **What stays here, what waits for stage 5.** A std `Waker` is `Send + Sync`, so even this
//! single-threaded executor must accept a wake from another thread and let it interrupt
//! `poll`: that stays (rule 4 in [`executor`]). Catching a panicking task is left to stage 5:
//! here a panic in a task unwinds out of `block_on` and ends the run, as a panic in a stage 1
//! callback does.
//!
//! **Pain removed:** nobody writes a state machine or a delegation by hand any more.
//!
//! **Pain left:** there are no timers, so no per-fetch timeout — only the deadline of the
//! whole run ([`Executor::block_on_until`]); nothing caps how many tasks run at once; and a
//! task that blocks (a slow DNS lookup, a long computation) freezes every other task, because
//! they all share one thread. Stage 5 adds the toolkit for those.
//!
//! ```text
//!   task 2 ─poll─▶ TcpStream::read: WouldBlock ─▶ reactor: token 3's reader = task 2's waker
//!   executor: nothing ready ─▶ park in Poll::poll
//!   OS: token 3 readable ─▶ reactor wakes that waker ─▶ ready queue: task 2 ─▶ poll task 2
//! ```

pub mod executor;
pub mod join;
pub mod net;
pub mod reactor;

#[cfg(test)]
mod tests;

pub use executor::{Executor, spawn};
pub use join::{JoinError, JoinHandle};
pub use net::TcpStream;
pub use reactor::Reactor;
