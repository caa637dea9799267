//! Stage 4, exercise 5: `yield_now`, asyncio's `await asyncio.sleep(0)` — a future that lets
//! the other ready tasks run before its own task goes on. Write `YieldNow::poll`; the check is
//! `cargo test --test exercises stage4_ex5 -- --ignored`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Gives every other ready task a turn, then resumes.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
pub struct YieldNow {
    /// Whether it has returned `Pending` once already.
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Stage 4, exercise 5: the first poll returns `Pending`, the second `Ready`. No socket
        // and no timer will poll this task again: what does `Pending` promise, and who keeps
        // that promise here? (As it stands, it never yields.)
        let _ = (&mut self.yielded, cx);
        Poll::Ready(())
    }
}
