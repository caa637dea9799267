//! The coroutine trait: a computation that stops where it must wait and is resumed with a value.

use super::event_loop::{EventLoop, Readiness};
use super::future::Future;

/// A computation that can stop in the middle and be resumed later: Python's generator, and
/// the shape the Rust compiler gives an `async fn`.
///
/// | Python generator | this trait | `async fn`, as rustc compiles it |
/// |---|---|---|
/// | `gen.send(value)` runs to the next `yield` | [`send`](Coroutine::send) | `Future::poll(cx)` |
/// | `yield future`: suspended until `future` resolves | [`Step::Wait`]`(future)` | `Poll::Pending`, after storing the waker |
/// | `return v`, seen as `StopIteration(v)` | [`Step::Return`]`(v)` | `Poll::Ready(v)` |
/// | the frame: locals and where it stopped | your struct, with a `State` enum | an enum rustc writes, one variant per `.await` |
/// | `gen.close()` | [`close`](Coroutine::close) | dropping the future |
///
/// Where the two worlds differ:
///
/// - The value sent in is what the awaited Future resolved with. In this runtime a coroutine
///   only ever waits for readiness, so that is a [`Readiness`], and `None` on the first send
///   (Python's first send must be `send(None)` too). The Python crawler sends the *bytes*
///   (its callback calls `sock.recv`); here the coroutine does its own reads and writes until
///   `WouldBlock`, so draining and error handling sit in one place, and the readiness it is
///   sent is only a hint.
/// - Python *pushes* the result into the generator; Rust's `poll` *pulls* it: the future asks
///   again when woken. Stage 4 makes that switch.
/// - Python writes the state machine for you from a function with `yield` in it; here you
///   write it by hand (stage 2), and `async fn` makes the compiler write it (stage 4).
pub trait Coroutine {
    /// What the coroutine returns at the end (Python's `StopIteration.value`).
    type Output;

    /// Python's `send(value)`: runs from where the coroutine stopped to its next wait, and
    /// says what it waits on, or what it returned.
    fn send(&mut self, event_loop: &mut EventLoop, value: Option<Readiness>) -> Step<Self::Output>;

    /// Python's `close()`: the coroutine will never be resumed, so it releases what it holds
    /// (unregisters and closes its sockets). Nothing to release by default.
    fn close(&mut self, _event_loop: &mut EventLoop) {}
}

/// What one `send` ended with.
pub enum Step<T> {
    /// Python's `yield future`: suspended until `future` resolves; its result is the value of
    /// the next `send`.
    Wait(Future<Readiness>),
    /// Python's `return value`: finished, with this output. Never resumed again.
    Return(T),
}
