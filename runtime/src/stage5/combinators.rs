//! Combinators: futures made of futures — asyncio's `gather`, `wait` and `as_completed`, and
//! a `select` of two.
//!
//! Each polls the futures it holds with its own task's waker, so that any of them wakes it;
//! then it polls them all (fine for tens; tokio's `JoinSet` gives each child its own waker).
//! Dropping a combinator drops, so cancels, the futures it still holds.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use log::trace;

use super::timers::{Sleep, sleep};

/// asyncio's `gather`: runs every future concurrently, inside the current task, and gives
/// their outputs in the order of the futures.
pub fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> JoinAll<F> {
    let futures: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let outputs = futures.iter().map(|_| None).collect();
    JoinAll { futures, outputs }
}

/// The future of [`join_all`].
pub struct JoinAll<F: Future> {
    /// `None` once that future has finished.
    futures: Vec<Option<Pin<Box<F>>>>,
    outputs: Vec<Option<F::Output>>,
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut pending = 0;
        for (slot, output) in this.futures.iter_mut().zip(&mut this.outputs) {
            let Some(future) = slot else { continue };
            match future.as_mut().poll(cx) {
                Poll::Ready(value) => {
                    *output = Some(value);
                    *slot = None; // dropped as soon as it is done
                }
                Poll::Pending => pending += 1,
            }
        }
        if pending > 0 {
            return Poll::Pending;
        }
        let outputs = std::mem::take(&mut this.outputs);
        Poll::Ready(outputs.into_iter().flatten().collect())
    }
}

// The futures are boxed, so `JoinAll` never pins anything in place itself.
impl<F: Future> Unpin for JoinAll<F> {}

/// Which of two futures finished first, with its output.
#[derive(Debug, PartialEq, Eq)]
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs two futures concurrently and returns the output of the first to finish; the loser
/// is dropped (cancelled) at once. If both are ready in the same poll, `a` wins.
pub fn select<A: Future, B: Future>(a: A, b: B) -> Select<A, B> {
    Select {
        a: Some(Box::pin(a)),
        b: Some(Box::pin(b)),
    }
}

/// The future of [`select`].
pub struct Select<A, B> {
    a: Option<Pin<Box<A>>>,
    b: Option<Pin<Box<B>>>,
}

// ANCHOR: select_poll
impl<A: Future, B: Future> Future for Select<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (Some(a), Some(b)) = (&mut this.a, &mut this.b) else {
            panic!("Select polled after it finished");
        };
        let winner = if let Poll::Ready(out) = a.as_mut().poll(cx) {
            Either::Left(out)
        } else if let Poll::Ready(out) = b.as_mut().poll(cx) {
            Either::Right(out)
        } else {
            return Poll::Pending;
        };
        // Drop both now: the loser is cancelled here, not whenever `Select` itself is dropped.
        this.a = None;
        this.b = None;
        trace!(
            "select: {} won, the other is dropped",
            if matches!(winner, Either::Left(_)) {
                "a"
            } else {
                "b"
            }
        );
        Poll::Ready(winner)
    }
}
// ANCHOR_END: select_poll

/// asyncio's `wait(futures, timeout=…)`: waits until every future is done or `timeout` has
/// passed, and returns the outputs of those done (in the order they finished) and the futures
/// still pending, untouched, to wait longer or drop (the seed's `t.cancel()` is `abort`). They
/// are `Unpin`, to be handed back: `JoinHandle`s are, and `Box::pin(f)` makes any future so.
pub fn wait<F: Future + Unpin>(futures: impl IntoIterator<Item = F>, timeout: Duration) -> Wait<F> {
    Wait {
        pending: futures.into_iter().collect(),
        done: Vec::new(),
        timer: Box::pin(sleep(timeout)),
    }
}

/// The future of [`wait`].
pub struct Wait<F: Future> {
    pending: Vec<F>,
    done: Vec<F::Output>,
    timer: Pin<Box<Sleep>>,
}

impl<F: Future + Unpin> Future for Wait<F> {
    type Output = (Vec<F::Output>, Vec<F>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut still = Vec::with_capacity(this.pending.len());
        for mut future in this.pending.drain(..) {
            match Pin::new(&mut future).poll(cx) {
                Poll::Ready(output) => this.done.push(output),
                Poll::Pending => still.push(future),
            }
        }
        this.pending = still;
        if !this.pending.is_empty() && this.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let (done, pending) = (this.done.len(), this.pending.len());
        trace!("wait: {done} done, {pending} pending");
        Poll::Ready((
            std::mem::take(&mut this.done),
            std::mem::take(&mut this.pending),
        ))
    }
}

impl<F: Future> Unpin for Wait<F> {}

/// asyncio's `as_completed`: the outputs of the futures in the order they finish, one per
/// `next().await`. Dropping it cancels the futures not yet finished.
pub fn as_completed<F: Future>(futures: impl IntoIterator<Item = F>) -> AsCompleted<F> {
    AsCompleted {
        futures: futures.into_iter().map(Box::pin).collect(),
    }
}

/// What [`as_completed`] returns; call [`next`](AsCompleted::next) until it gives `None`.
pub struct AsCompleted<F> {
    futures: Vec<Pin<Box<F>>>,
}

impl<F: Future> AsCompleted<F> {
    /// The output of the next future to finish, or `None` when all have. (An `async` next,
    /// like a stream's: not `Iterator::next`.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Next<'_, F> {
        Next { of: self }
    }

    /// How many futures have not finished.
    pub fn remaining(&self) -> usize {
        self.futures.len()
    }
}

/// The future of [`AsCompleted::next`].
pub struct Next<'a, F> {
    of: &'a mut AsCompleted<F>,
}

impl<F: Future> Future for Next<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let futures = &mut self.of.futures;
        if futures.is_empty() {
            return Poll::Ready(None);
        }
        for i in 0..futures.len() {
            if let Poll::Ready(output) = futures[i].as_mut().poll(cx) {
                futures.remove(i);
                return Poll::Ready(Some(output));
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage5::testing::{Pool, poll_once};
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    /// A future that finishes when its flag is raised, and records being dropped.
    struct Gate {
        open: Rc<Cell<bool>>,
        dropped: Rc<Cell<bool>>,
        value: u32,
    }

    impl Future for Gate {
        type Output = u32;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
            if self.open.get() {
                Poll::Ready(self.value)
            } else {
                Poll::Pending
            }
        }
    }

    impl Drop for Gate {
        fn drop(&mut self) {
            self.dropped.set(true);
        }
    }

    fn gate(value: u32) -> (Gate, Rc<Cell<bool>>, Rc<Cell<bool>>) {
        let (open, dropped) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
        let g = Gate {
            open: open.clone(),
            dropped: dropped.clone(),
            value,
        };
        (g, open, dropped)
    }

    #[test]
    fn join_all_keeps_the_order_of_the_futures() {
        let (gates, opens): (Vec<_>, Vec<_>) = (0..3).map(gate).map(|(g, o, _)| (g, o)).unzip();
        let mut all = join_all(gates);
        assert!(poll_once(Pin::new(&mut all)).is_pending());
        // They finish in the order 2, 0, 1; the outputs still come in the order given.
        for i in [2, 0] {
            opens[i].set(true);
            assert!(poll_once(Pin::new(&mut all)).is_pending());
        }
        opens[1].set(true);
        assert_eq!(poll_once(Pin::new(&mut all)), Poll::Ready(vec![0, 1, 2]));
    }

    #[test]
    fn select_returns_the_winner_and_drops_the_loser_at_once() {
        let (a, a_open, a_dropped) = gate(1);
        let (b, _b_open, b_dropped) = gate(2);
        let mut race = select(a, b);
        assert!(poll_once(Pin::new(&mut race)).is_pending());
        a_open.set(true);
        assert_eq!(poll_once(Pin::new(&mut race)), Poll::Ready(Either::Left(1)));
        assert!(
            b_dropped.get(),
            "the loser is dropped when the winner is ready"
        );
        assert!(a_dropped.get());
        drop(race);
    }

    #[test]
    fn select_prefers_the_first_when_both_are_ready() {
        let mut race = select(std::future::ready('a'), std::future::ready('b'));
        assert_eq!(
            poll_once(Pin::new(&mut race)),
            Poll::Ready(Either::Left('a'))
        );
    }

    #[test]
    fn as_completed_gives_outputs_in_the_order_they_finish() {
        let gates: Vec<_> = (0..3).map(gate).collect();
        let opens: Vec<_> = gates.iter().map(|(_, open, _)| open.clone()).collect();
        let mut pool = Pool::new();
        let got = Rc::new(RefCell::new(Vec::new()));
        {
            let got = got.clone();
            let futures: Vec<Gate> = gates.into_iter().map(|(g, ..)| g).collect();
            pool.spawn(async move {
                let mut done = as_completed(futures);
                while let Some(value) = done.next().await {
                    got.borrow_mut().push(value);
                }
            });
        }
        for i in [1, 2, 0] {
            opens[i].set(true);
            pool.wake_all();
            pool.run_until_stalled();
        }
        assert_eq!(*got.borrow(), [1, 2, 0]);
        assert_eq!(pool.unfinished(), 0);
    }

    #[test]
    fn dropping_as_completed_cancels_the_rest() {
        let (g, _, dropped) = gate(0);
        let mut done = as_completed([g]);
        assert!(poll_once(Pin::new(&mut Box::pin(done.next()))).is_pending());
        assert_eq!(done.remaining(), 1);
        drop(done);
        assert!(dropped.get());
    }

    /// The seed's `asyncio.wait(phases, timeout=0.1)`, then `t.cancel()` for the pending.
    #[test]
    fn wait_returns_done_and_pending_at_its_timeout_and_pending_can_be_aborted() {
        use crate::stage5::{Executor, JoinError, sleep, spawn};
        use std::time::Duration;

        let mut executor = Executor::new().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let seen = log.clone();
        let cancelled = executor
            .block_on(async move {
                // Phase i sleeps i hours: phase 0 is done at once, the others never are.
                let phases = (0..3u64).map(|i| {
                    let log = seen.clone();
                    spawn(async move {
                        log.borrow_mut().push(format!("in phase {i}"));
                        sleep(Duration::from_secs(3600 * i)).await;
                        log.borrow_mut().push(format!("done with phase {i}"));
                        format!("phase {i} result")
                    })
                });
                let (done, pending) = wait(phases, Duration::from_millis(20)).await;
                seen.borrow_mut().push(format!(
                    "{} completed and {} pending",
                    done.len(),
                    pending.len()
                ));
                for task in &pending {
                    task.abort();
                }
                join_all(pending).await
            })
            .unwrap();
        assert_eq!(
            *log.borrow(),
            [
                "in phase 0",
                "in phase 1",
                "in phase 2",
                "done with phase 0", // a sleep of 0 yields once, as asyncio's does
                "1 completed and 2 pending"
            ]
        );
        assert_eq!(
            cancelled,
            [Err(JoinError::Cancelled), Err(JoinError::Cancelled)]
        );
        assert_eq!(
            executor.reactor().timers(),
            0,
            "the cancelled phases' timers are gone"
        );
    }
}
