//! Stage 4: std `Future` + `Waker` — a reactor, an executor, and an async `TcpStream`.
//!
//! **New here:** the futures are Rust's own, so the compiler writes the state machines:
//! `async fn` is stage 2's hand-written enum, `.await` stage 3's `yield from`. A std future
//! keeps no callbacks: whoever polls it passes a `Waker`, the future stores the latest one,
//! and waking means "poll me again". What the compiler does not write is the loop that drives
//! them: read [`reactor`], [`executor`] and [`net`]; [`join`] is bookkeeping a first reading
//! can skip.
//!
//! **Pain removed:** nobody writes a state machine or a delegation by hand any more.
//!
//! **Pain left:** no timers (only the whole run's deadline), no cap on fan-out, and a task
//! that blocks freezes all the others. Stage 5 adds the toolkit, and catches a panicking task
//! (here a panic ends the run); the cross-thread wake a `Send` waker needs is already here.
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
