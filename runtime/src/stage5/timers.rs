//! Timers: `sleep`, `sleep_until`, `timeout`, `timeout_at`, and `yield_now`.
//!
//! A timer is a deadline and a waker, kept by the reactor sorted by deadline. The executor's
//! `park` sleeps in `poll` *at most until the next deadline*, and after `poll` returns the
//! reactor wakes every timer that is due: the OS's `poll` timeout *is* the timer. A timer
//! fires late by however long the loop was busy, which is why a task must never block it.
//!
//! [`timeout`] is a `select` between the future and a [`Sleep`]: the loser is dropped.
//!
//! Its rules, each with the test (below) that proves it (`runtime/tests/model.rs` checks 4
//! and 5 in random sequences of tasks):
//!
//! 1. **Never early**: the clock decides, not the wake-up (top of `Sleep::poll`).
//!    `timers_fire_in_deadline_order_and_never_early`
//! 2. **The loop sleeps no longer than until the next deadline** (`park`, `take_due`).
//!    `the_loop_sleeps_until_the_next_deadline_with_nothing_else_to_wait_for`
//! 3. **A sleep already due when first polled yields once** (`sleep(ZERO)`, [`yield_now`], a
//!    past deadline, `timeout(ZERO, …)`), as asyncio's `sleep(0)` (`waited` in `Sleep::poll`).
//!    `a_sleep_already_due_yields_once`, `a_loop_of_zero_sleeps_or_timeouts_does_not_freeze_the_loop`
//! 4. **A dropped timer is removed** (`Sleep`'s `Drop`). `a_dropped_timer_is_removed`
//! 5. **A timeout drops the loser at once** (`Timeout::poll`).
//!    `a_timeout_fires_cancels_the_future_and_deregisters_its_source`

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use log::trace;

use super::reactor::{Reactor, TimerKey};

/// asyncio's `sleep`: a future that is ready once `duration` has passed.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(after(duration))
}

/// A future that is ready once `deadline` has passed; one already past yields once.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
        waited: false,
    }
}

/// Gives the loop a turn (asyncio's `sleep(0)`, tokio's `yield_now`): the task runs again
/// after the others that were ready, and after the loop has looked at sockets and timers.
pub fn yield_now() -> Sleep {
    sleep(Duration::ZERO)
}

/// The future of [`sleep`] and [`sleep_until`]. Its timer is armed at the first `poll` and
/// removed when it is dropped, whether it fired or not.
pub struct Sleep {
    deadline: Instant,
    timer: Option<(Rc<Reactor>, TimerKey)>,
    /// It has returned `Pending` at least once.
    waited: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Never early: only the clock says when it is done, not the wake-up.
        if Instant::now() >= self.deadline {
            // Due before it ever waited (`sleep(ZERO)`): yield once all the same (rule 3).
            if !self.waited {
                self.waited = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.disarm();
            return Poll::Ready(());
        }
        self.waited = true;
        let deadline = self.deadline;
        match &self.timer {
            // Woken before the deadline (by a `select` partner, say): keep the latest waker.
            Some((reactor, key)) => reactor.timer_table().set_waker(*key, cx.waker()),
            None => {
                let reactor = Reactor::current()
                    .expect("Sleep polled outside Executor::block_on: there are no timers");
                let key = reactor.timer_table().insert(deadline, cx.waker());
                trace!(
                    "timer {} armed for {:?} from now",
                    key.id(),
                    deadline.saturating_duration_since(Instant::now())
                );
                self.timer = Some((reactor, key));
            }
        }
        Poll::Pending
    }
}

impl Sleep {
    fn disarm(&mut self) {
        if let Some((reactor, key)) = self.timer.take() {
            reactor.timer_table().remove(key);
        }
    }
}

impl Drop for Sleep {
    /// Removes the timer: a cancelled `sleep` must not wake anyone, nor keep `poll`'s timeout short.
    fn drop(&mut self) {
        if let Some((_, key)) = &self.timer {
            trace!("timer {} dropped", key.id());
        }
        self.disarm();
    }
}

/// asyncio's `wait_for(future, timeout)`: the future's output, or [`Elapsed`] if `duration`
/// passes first — and then the future has been dropped, i.e. cancelled.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<Pin<Box<F>>> {
    Timeout {
        after: duration,
        ..Timeout::pinned(after(duration), Box::pin(future))
    }
}

/// [`timeout`] with a deadline instead of a duration.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<Pin<Box<F>>> {
    Timeout::pinned(deadline, Box::pin(future))
}

/// The future of [`timeout`]: a [`select`](super::select) against a [`Sleep`], written out as
/// a struct that stores the future once, not twice (it runs on every request).
pub struct Timeout<F> {
    future: Option<F>,
    timer: Option<Sleep>,
    after: Duration,
}

impl<F: Future + Unpin> Timeout<F> {
    /// [`timeout_at`] for a future pinned already (`pin!` in the caller's state): no box. The
    /// future stays the caller's: a loser is dropped where the `pin!` ends, not by the timeout.
    pub fn pinned(deadline: Instant, future: F) -> Timeout<F> {
        Timeout {
            future: Some(future),
            timer: Some(sleep_until(deadline)),
            after: deadline.saturating_duration_since(Instant::now()),
        }
    }
}

impl<F: Future + Unpin> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (Some(future), Some(timer)) = (&mut this.future, &mut this.timer) else {
            panic!("Timeout polled after it finished");
        };
        // If both are ready in the same poll, the future wins: a result that arrived in time
        // is not thrown away.
        let output = if let Poll::Ready(output) = Pin::new(future).poll(cx) {
            Ok(output)
        } else if Pin::new(timer).poll(cx).is_ready() {
            trace!("timeout: {:?} passed, the future is dropped", this.after);
            Err(Elapsed { after: this.after })
        } else {
            return Poll::Pending;
        };
        // Drop both now: the loser is cancelled here, not whenever `Timeout` itself is dropped.
        this.future = None;
        this.timer = None;
        Poll::Ready(output)
    }
}

/// The error of [`timeout`]: the time ran out, and the future was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    /// How long it was given.
    pub after: Duration,
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rounded to the nearest millisecond: `timeout_at` measures from a moment later.
        let ms = (self.after.as_micros() + 500) / 1000;
        write!(f, "timed out after {ms} ms")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}

/// `now + duration`, or about thirty years from now for durations too long to add.
fn after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage5::reactor::Timers;
    use crate::stage5::testing::flag_waker;
    use crate::stage5::{Executor, TcpStream, spawn};
    use std::cell::{Cell, RefCell};
    use std::net::TcpListener;
    use std::pin::pin;
    use std::task::Waker;

    #[test]
    fn timers_fire_in_deadline_order_and_never_early() {
        let mut executor = Executor::new().unwrap();
        let fired = Rc::new(RefCell::new(Vec::new()));
        // Armed in one order, due in another.
        for ms in [30u64, 10, 20, 10, 0] {
            let fired = fired.clone();
            executor.spawn(async move {
                let deadline = Instant::now() + Duration::from_millis(ms);
                sleep_until(deadline).await;
                let early = Instant::now() < deadline;
                fired.borrow_mut().push((ms, early));
            });
        }
        executor.block_on(sleep(Duration::from_millis(60))).unwrap();
        let fired = fired.borrow();
        let order: Vec<u64> = fired.iter().map(|(ms, _)| *ms).collect();
        assert_eq!(order, [0, 10, 10, 20, 30]);
        assert!(fired.iter().all(|(_, early)| !early), "{fired:?}");
        assert_eq!(executor.reactor().timers(), 0);
    }

    #[test]
    fn the_loop_sleeps_until_the_next_deadline_with_nothing_else_to_wait_for() {
        // No socket, no other task: only the poll timeout can end the sleep. If the loop
        // ignored the timer, this would hang (and the test harness would report it).
        let mut executor = Executor::new().unwrap();
        let deadline = Instant::now() + Duration::from_millis(20);
        executor.block_on(sleep_until(deadline)).unwrap();
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn a_dropped_timer_is_removed() {
        let mut executor = Executor::new().unwrap();
        let armed = executor
            .block_on(async {
                let mut long = Box::pin(sleep(Duration::from_secs(3600)));
                // Poll it once, so that it arms its timer, then drop it.
                std::future::poll_fn(|cx| {
                    let _ = long.as_mut().poll(cx);
                    Poll::Ready(())
                })
                .await;
                let armed = Reactor::current().unwrap().timers();
                drop(long);
                armed
            })
            .unwrap();
        assert_eq!(armed, 1);
        assert_eq!(executor.reactor().timers(), 0);
    }

    #[test]
    fn a_timeout_fires_cancels_the_future_and_deregisters_its_source() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut executor = Executor::new().unwrap();
        let sources_while_reading = Rc::new(RefCell::new(0));
        let seen = sources_while_reading.clone();
        let result = executor
            .block_on(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                let reactor = Reactor::current().unwrap();
                // Nobody will ever write: the read can only end by the timeout.
                timeout(Duration::from_millis(20), async move {
                    *seen.borrow_mut() = reactor.sources();
                    let mut buf = [0u8; 16];
                    stream.read(&mut buf).await
                })
                .await
            })
            .unwrap();
        let elapsed = result.unwrap_err();
        assert_eq!(elapsed.after, Duration::from_millis(20));
        assert_eq!(elapsed.to_string(), "timed out after 20 ms");
        assert_eq!(*sources_while_reading.borrow(), 1);
        assert_eq!(executor.reactor().sources(), 0, "the stream was dropped");
        assert_eq!(executor.reactor().timers(), 0);
        drop(listener);
    }

    #[test]
    fn a_future_done_in_time_wins_and_its_timer_is_removed() {
        let mut executor = Executor::new().unwrap();
        let out = executor
            .block_on(async {
                let quick = spawn(async {
                    sleep(Duration::from_millis(5)).await;
                    "quick"
                });
                timeout(Duration::from_secs(3600), quick).await
            })
            .unwrap();
        assert_eq!(out, Ok(Ok("quick")));
        assert_eq!(executor.reactor().timers(), 0);
    }

    /// `Timeout::pinned` polls the future where the caller pinned it, with the same two
    /// outcomes as `timeout`.
    #[test]
    fn a_pinned_timeout_polls_the_future_where_it_is_pinned() {
        let mut executor = Executor::new().unwrap();
        let (in_time, late) = executor
            .block_on(async {
                let soon = Instant::now() + Duration::from_millis(5);
                let later = soon + Duration::from_secs(3600);
                let in_time = Timeout::pinned(later, pin!(async { 7 })).await;
                let late = Timeout::pinned(soon, pin!(sleep_until(later))).await;
                (in_time, late)
            })
            .unwrap();
        assert_eq!(in_time, Ok(7));
        assert!(late.is_err());
    }

    /// Issue 22, bug 4: a sleep already due when first polled — `sleep(ZERO)`, a deadline in
    /// the past — still yields once: it wakes itself and returns `Pending`, then is ready.
    #[test]
    fn a_sleep_already_due_yields_once() {
        let past = Instant::now() - Duration::from_secs(1);
        for mut due in [Box::pin(sleep(Duration::ZERO)), Box::pin(sleep_until(past))] {
            let (waker, woken) = flag_waker();
            let mut cx = Context::from_waker(&waker);
            let first = due.as_mut().poll(&mut cx);
            println!("first poll: {first:?}, woken: {}", woken.get());
            assert!(first.is_pending() && woken.get(), "it did not yield");
            assert!(due.as_mut().poll(&mut cx).is_ready());
        }
    }

    #[test]
    fn yield_now_yields_once() {
        let mut yielding = Box::pin(yield_now());
        let (waker, woken) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(yielding.as_mut().poll(&mut cx).is_pending());
        assert!(woken.get());
        assert!(yielding.as_mut().poll(&mut cx).is_ready());
    }

    /// Issue 22, bug 4: tasks that loop on `sleep(ZERO)`, or retry a `timeout(ZERO, …)`, must
    /// not freeze the loop: a timer fires, a socket is read and another task runs meanwhile.
    /// The spinners stop when told to, or after `LIMIT` turns: reaching it means they froze
    /// everything else, and the count says so (no stopwatch).
    #[test]
    fn a_loop_of_zero_sleeps_or_timeouts_does_not_freeze_the_loop() {
        const LIMIT: u32 = 100_000;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            std::io::Write::write_all(&mut socket, b"hi").unwrap();
        });
        let mut executor = Executor::new().unwrap();
        let stop = Rc::new(Cell::new(false));
        let turns = Rc::new(Cell::new(0));
        let (s1, t1, s2, t2, s3) = (
            stop.clone(),
            turns.clone(),
            stop.clone(),
            turns.clone(),
            stop.clone(),
        );
        let sleeper = executor.spawn(async move {
            let mut n = 0;
            while !s1.get() && n < LIMIT {
                sleep(Duration::ZERO).await;
                n += 1;
            }
            t1.set(t1.get() + 1);
            n
        });
        let retrier = executor.spawn(async move {
            let mut n = 0;
            while !s2.get() && n < LIMIT {
                let _ = timeout(Duration::ZERO, std::future::pending::<()>()).await;
                n += 1;
            }
            t2.set(t2.get() + 1);
            n
        });
        let (read, spins) = executor
            .block_on(async move {
                // Another task, a timer and a socket, all while the spinners spin.
                let other = spawn(async { 7 });
                sleep(Duration::from_millis(1)).await;
                let mut stream = TcpStream::connect(addr).await.unwrap();
                let mut buf = [0u8; 2];
                let read = stream.read(&mut buf).await.unwrap();
                assert_eq!(other.await, Ok(7));
                s3.set(true);
                (read, (sleeper.await.unwrap(), retrier.await.unwrap()))
            })
            .unwrap();
        writer.join().unwrap();
        println!("read {read} bytes; the spinners turned {spins:?} times");
        assert_eq!(read, 2);
        assert!(
            spins.0 < LIMIT && spins.1 < LIMIT,
            "froze the loop: {spins:?}"
        );
        assert_eq!(turns.get(), 2);
        assert_eq!(executor.reactor().timers(), 0);
    }

    #[test]
    fn take_due_takes_exactly_the_prefix_that_is_due() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let waker = Waker::noop();
        let (early, late) = (
            now - Duration::from_millis(1),
            now + Duration::from_millis(1),
        );
        timers.insert(early, waker);
        timers.insert(now, waker);
        let c = timers.insert(late, waker);
        assert_eq!(timers.next_deadline(), Some(early));
        assert_eq!(timers.take_due(now).len(), 2);
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.next_deadline(), Some(late));
        timers.remove(c);
        assert_eq!(timers.len(), 0);
    }
}
