//! Stage 4: std `Future` + `Waker` — a reactor, an executor, and an async `TcpStream`.
//!
//! **New here:** the futures are Rust's own (`std::future::Future`), so the compiler writes
//! the state machines: `async fn` compiles to exactly the kind of enum stage 2 wrote by hand,
//! and `.await` is stage 3's `yield from`. What the compiler does *not* write is the loop that
//! drives them. That is this module, in three parts:
//!
//! - the [`Reactor`] ([`reactor`]) owns the `mio::Poll`. For each socket it keeps the waker of
//!   whoever waits to read and whoever waits to write, keyed by `Token`. When the OS says a
//!   socket is ready, it wakes that waker — the reactor knows nothing of tasks;
//! - the [`Executor`] ([`executor`]) owns the tasks and a ready queue. A waker is just "put
//!   task N back in the ready queue". The executor polls what is queued, and when nothing
//!   is, it parks in the reactor's `poll`. [`Executor::spawn`] returns a [`JoinHandle`],
//!   itself a future of the task's output; [`Executor::block_on`] drives one future to its
//!   end;
//! - the leaf future, [`TcpStream`] ([`net`]): it tries the system call first, and only when
//!   the call would block does it give the reactor its waker and return `Pending`.
//!
//! Stage 2's Future kept *callbacks* ("when done, call `step`"). A std future keeps none:
//! whoever polls it passes a [`Waker`](std::task::Waker) in the `Context`, the future
//! stores the latest one, and waking means "poll me again".
//!
//! **Pain removed:** nobody writes a state machine or a delegation by hand any more.
//!
//! **Pain left:** there are no timers, so no per-fetch timeout — only the deadline of the
//! whole run ([`Executor::block_on_until`]); nothing caps how many tasks run at once; and a
//! task that blocks (a slow DNS lookup, a long computation) freezes every other task, because
//! they all share one thread. Stage 5 adds the toolkit for those.
//!
//! How a leaf future finds the reactor: while [`Executor::block_on`] runs, the executor is
//! the thread's *current* executor (a thread-local, see [`executor`]). `TcpStream::connect`
//! and the free function [`spawn`] look it up there; a stream keeps its own handle to the
//! reactor afterwards, so it can deregister itself whenever it is dropped.
//!
//! ```text
//!   task 2 ─poll─▶ TcpStream::read: WouldBlock ─▶ reactor: token 3's reader = task 2's waker
//!   executor: nothing ready ─▶ park in Poll::poll
//!   OS: token 3 readable ─▶ reactor wakes that waker ─▶ ready queue: task 2 ─▶ poll task 2
//! ```

pub mod executor;
pub mod net;
pub mod reactor;

#[cfg(test)]
mod tests;

pub use executor::{Executor, JoinError, JoinHandle, spawn};
pub use net::TcpStream;
pub use reactor::Reactor;
