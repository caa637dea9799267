//! A spawned task's [`JoinHandle`]: a future of its output, or of the [`JoinError`] that says
//! why there is none. Bookkeeping around the executor: a first reading can skip this file.

use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Where a task's output waits for its [`JoinHandle`], and the waker of whoever awaits it.
struct JoinState<T> {
    output: Option<Result<T, JoinError>>,
    ended: bool,
    waiter: Option<Waker>,
}

/// What the executor runs for a spawned `future`: the future, then its output to the handle.
/// If the task is dropped before it ends (at the deadline), the guard tells the handle so.
pub(super) fn task<F: Future + 'static>(
    id: usize,
    future: F,
) -> (impl Future<Output = ()>, JoinHandle<F::Output>) {
    let join = Rc::new(RefCell::new(JoinState {
        output: None,
        ended: false,
        waiter: None,
    }));
    let guard = Cancelled(join.clone());
    let task = async move {
        let output = future.await;
        end(&guard.0, Ok(output));
    };
    (task, JoinHandle { id, join })
}

/// Ends the task as cancelled when dropped, unless it has ended.
struct Cancelled<T>(Rc<RefCell<JoinState<T>>>);

impl<T> Drop for Cancelled<T> {
    fn drop(&mut self) {
        end(&self.0, Err(JoinError::Cancelled));
    }
}

/// Records how the task ended (the first call wins) and wakes whoever awaits its handle.
fn end<T>(join: &Rc<RefCell<JoinState<T>>>, output: Result<T, JoinError>) {
    let mut state = join.borrow_mut();
    if state.ended {
        return;
    }
    state.ended = true;
    state.output = Some(output);
    let waiter = state.waiter.take();
    drop(state);
    if let Some(waiter) = waiter {
        waiter.wake();
    }
}

/// The handle of a spawned task: awaiting it gives `Ok(output)`, or the [`JoinError`] that
/// says why there is none. Dropping it detaches the task, which runs on.
pub struct JoinHandle<T> {
    id: usize,
    join: Rc<RefCell<JoinState<T>>>,
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
    /// The task's id, as the trace shows it (`poll task 3`).
    pub fn id(&self) -> usize {
        self.id
    }
}

/// Why a task gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The task was dropped before it ended (at the deadline, or with its executor).
    Cancelled,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => write!(f, "the task was dropped before it ended"),
        }
    }
}

impl std::error::Error for JoinError {}
