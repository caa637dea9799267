//! A spawned task's [`JoinHandle`], its [`abort`](JoinHandle::abort) (asyncio's
//! `task.cancel()`), and the `catch_unwind` around a task's poll and drop: a crawl of thousands
//! must not end because one task panicked. Bookkeeping: a first reading can skip this file.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use log::{trace, warn};

/// Where a task's output waits for its [`JoinHandle`], and the waker of whoever awaits it.
struct JoinState<T> {
    output: Option<Result<T, JoinError>>,
    ended: bool,
    waiter: Option<Waker>,
    /// [`JoinHandle::abort`] was called: the task ends the next time it is polled.
    aborted: bool,
}

/// What the executor runs for a spawned `future`: the future, then its output to the handle
/// (or, if it is dropped before it ends, [`Owned`] tells the handle so).
pub(super) fn task<F: Future + 'static>(
    id: usize,
    future: F,
    waker: Waker,
) -> (impl Future<Output = ()>, JoinHandle<F::Output>) {
    let join = Rc::new(RefCell::new(JoinState {
        output: None,
        ended: false,
        waiter: None,
        aborted: false,
    }));
    // Boxed: pinned with no unsafe code. (An `async` block would hold it twice: rustc #62958.)
    let owned = Owned {
        future: Some(Box::pin(future)),
        join: join.clone(),
    };
    (owned, JoinHandle { id, join, waker })
}

/// A task's future (`None` once dropped) and the state its handle reads.
struct Owned<F: Future> {
    future: Option<Pin<Box<F>>>,
    join: Rc<RefCell<JoinState<F::Output>>>,
}

impl<F: Future> Future for Owned<F> {
    type Output = ();

    /// Polls the future, and gives its output (or its panic) to the handle.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // ANCHOR: aborted
        // Aborted while it waited: do not poll it again. Ending here makes the executor
        // drop the task, and with it the future and whatever it holds: its sockets are
        // deregistered, its timers removed. This is the next suspension point.
        if self.join.borrow().aborted {
            return Poll::Ready(());
        }
        // ANCHOR_END: aborted
        let Some(future) = self.future.as_mut() else {
            return Poll::Ready(());
        };
        // A panic must not unwind through the executor: it goes to the JoinHandle.
        let output = match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(JoinError::Panicked(panic_message(&*payload))),
        };
        end(&self.join, output);
        Poll::Ready(())
    }
}

impl<F: Future> Drop for Owned<F> {
    /// Drops the future under `catch_unwind` too: a panic in its `Drop` is that task's panic.
    /// Then, unless the task has ended, tells the handle how: cancelled, or panicked.
    fn drop(&mut self) {
        let future = self.future.take();
        let dropped = panic::catch_unwind(AssertUnwindSafe(|| drop(future)));
        let output = match dropped {
            Ok(()) => Err(JoinError::Cancelled),
            Err(payload) => Err(JoinError::Panicked(panic_message(&*payload))),
        };
        end(&self.join, output);
    }
}

/// Records how the task ended (the first call wins) and wakes whoever awaits its handle.
fn end<T>(join: &Rc<RefCell<JoinState<T>>>, output: Result<T, JoinError>) {
    let mut state = join.borrow_mut();
    if state.ended {
        return;
    }
    // Nobody holds the handle (only the task's guard holds the state): say it here, or the
    // panic would be lost.
    if let Err(e @ JoinError::Panicked(_)) = &output {
        if Rc::strong_count(join) == 1 {
            warn!("{e} (its JoinHandle was dropped)");
        }
    }
    state.ended = true;
    state.output = Some(output);
    let waiter = state.waiter.take();
    drop(state);
    waiter.into_iter().for_each(Waker::wake);
}

/// The handle of a spawned task: awaiting it gives `Ok(output)`, or a [`JoinError`]. Dropping
/// it detaches the task, which runs on; [`abort`](JoinHandle::abort) cancels it.
pub struct JoinHandle<T> {
    id: usize,
    join: Rc<RefCell<JoinState<T>>>,
    /// The task's own waker: `abort` wakes the task so that the executor gets to end it.
    waker: Waker,
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.join.borrow_mut();
        if let Some(output) = state.output.take() {
            return Poll::Ready(output);
        }
        assert!(!state.ended, "JoinHandle polled after it gave its output");
        // Not ended yet: store the latest waker; the task wakes it when it ends.
        state.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> JoinHandle<T> {
    /// Whether the task has ended (with an output, a panic or a cancellation).
    pub fn is_finished(&self) -> bool {
        self.join.borrow().ended
    }

    /// asyncio's `task.cancel()`: the task ends at its next suspension point (the next time
    /// the executor picks it up, it drops it instead of polling it), and awaiting the handle
    /// gives [`JoinError::Cancelled`]. A task that has ended is left as it is.
    pub fn abort(&self) {
        let mut state = self.join.borrow_mut();
        if state.ended || state.aborted {
            return;
        }
        state.aborted = true;
        drop(state);
        trace!("abort task {}", self.id);
        self.waker.wake_by_ref();
    }
}

/// Why a task gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The task panicked; the panic's message.
    Panicked(String),
    /// The task was dropped before it ended (aborted, at the deadline, with its executor).
    Cancelled,
    /// Blocking work could not start: no thread could be started for it (the OS's reason).
    NotStarted(String),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(message) => write!(f, "the task panicked: {message}"),
            JoinError::Cancelled => write!(f, "the task was dropped before it ended"),
            JoinError::NotStarted(why) => write!(f, "the work could not start: {why}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The message a panic was started with, if it has one.
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload.downcast_ref::<String>().map(String::as_str);
    let text = text.or_else(|| payload.downcast_ref::<&str>().copied());
    text.unwrap_or("(a panic without a message)").to_string()
}
