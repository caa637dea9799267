//! Stage 1: readiness and callbacks — an event loop over `mio::Poll`.
//!
//! **New here:** the operating system tells us which sockets are ready (`epoll` on Linux,
//! `kqueue` on macOS, wrapped by `mio::Poll`), and the loop runs the callback registered for
//! each. This is Python's `selectors` loop from the original crawler:
//!
//! ```python
//! while not stopped:
//!     events = selector.select()
//!     for event_key, event_mask in events:
//!         callback = event_key.data
//!         callback(event_key, event_mask)
//! ```
//!
//! **Pain removed:** no thread sits blocked per connection; one thread waits for all of them.
//!
//! **Pain left:** the loop only knows *callbacks*. Whoever uses it must keep their state in
//! struct fields between callbacks, encode "what to do next" as *which* callback is registered,
//! and cannot use `?` across a wait. Stage 2 gives that state one home: a coroutine.

mod event_loop;

#[cfg(test)]
mod tests;

pub use event_loop::{Callback, EventLoop, Readiness};
