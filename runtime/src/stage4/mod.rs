//! Stage 4: std `Future` + `Waker` — a reactor, an executor, and an async `TcpStream`.
//!
//! **New here:** the futures are Rust's own, so the compiler writes the state machines:
//! `async fn` is stage 2's hand-written enum, `.await` stage 3's `yield from`. A std future
//! keeps no callbacks: whoever polls it passes a `Waker`, the future stores the latest one,
//! and waking means "poll me again". What the compiler does not write is the loop that drives
//! them, stage 3's `EventLoop` split in two: the [`reactor`] (the `mio::Poll`, a waker per
//! source), the executor in [`event_loop`] (the ready queue, now of tasks, and `run_until`),
//! and the leaf future that joins them, [`net`]'s `TcpStream`. To see the loop become an
//! executor: `diff -u runtime/src/stage3/event_loop.rs runtime/src/stage4/event_loop.rs`.
//!
//! **Pain removed:** nobody writes a state machine or a delegation by hand any more.
//!
//! **Pain left:** no timers (only the whole run's deadline), no cap on fan-out, and a task
//! that blocks freezes all the others. Nothing awaits a task; a panicking one ends the run.
//! A wake from another thread is seen only at the next event: nothing interrupts `poll`.
//! Stage 5 brings the toolkit, `JoinHandle`, `block_on`, the cross-thread wake.
//!
//! The waker's round trip, for one read:
//!
//! ```text
//!   run_until ─poll task 2─▶ TcpStream::read: WouldBlock ─▶ wait: reactor keeps task 2's waker
//!   nothing ready ─▶ park: Reactor::poll sleeps in mio's poll
//!   OS: token 3 readable ─▶ the reactor wakes that waker ─▶ wake: ready queue += task 2
//!   run_until ─poll task 2─▶ TcpStream::read: the bytes
//! ```

pub mod event_loop;
pub mod net;
pub mod reactor;

#[cfg(test)]
mod tests;

pub use event_loop::Executor;
pub use net::TcpStream;
pub use reactor::Reactor;
