//! asyncio's `Semaphore`, for tasks on one loop. Nothing here touches the reactor: a task
//! with no permit waits in a `WaitList` (`wait_list.rs`), and a [`Permit`] dropped is *handed*
//! to the first in line, then woken — left free, a holder that releases and asks again in the
//! same poll would take it back every time while the line waits forever.
//!
//! Its rules, each with the test (below) that proves it (`runtime/tests/model.rs` checks all
//! four in random sequences of tasks):
//!
//! 1. **First come, first served**: a released permit goes to the first in line
//!    (`SemaphoreState::release`), and a newcomer takes one only while nobody waits (the
//!    `None` arms of `Acquire::poll`). `a_released_permit_goes_to_the_first_waiter`
//! 2. **At most N holders** (`permits`). `the_semaphore_limits_holders_and_releases_on_drop`
//! 3. **A permit cannot leak**: dropping it, or its task, releases it (`Permit`'s `Drop`).
//!    `a_permit_is_released_even_when_its_holder_is_cancelled`
//! 4. **A waiter cancelled after a permit was handed to it passes it on** (`Acquire`'s
//!    `Drop`). `a_cancelled_waiter_that_was_woken_passes_the_permit_on`

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use log::trace;

use super::wait_list::{WaitList, wake};

/// asyncio's `Semaphore`: at most `permits` holders at once. `acquire().await` waits for a
/// [`Permit`], which gives it back when dropped: Python's `async with semaphore:` is the
/// scope of a variable. Clones share the same permits.
#[derive(Clone)]
pub struct Semaphore {
    state: Rc<RefCell<SemaphoreState>>,
}

struct SemaphoreState {
    permits: usize,
    waiting: WaitList,
}

impl Semaphore {
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: Rc::new(RefCell::new(SemaphoreState {
                permits,
                waiting: WaitList::default(),
            })),
        }
    }

    /// Waits for a permit.
    pub fn acquire(&self) -> Acquire {
        Acquire {
            semaphore: self.clone(),
            ticket: None,
        }
    }

    /// A permit if one is free now, without waiting.
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut state = self.state.borrow_mut();
        if state.permits == 0 {
            return None;
        }
        state.permits -= 1;
        Some(Permit {
            semaphore: self.clone(),
        })
    }

    /// How many permits are free right now.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// How many tasks are waiting in line for a permit.
    pub fn waiting(&self) -> usize {
        self.state.borrow().waiting.len()
    }
}

/// The future of [`Semaphore::acquire`].
pub struct Acquire {
    semaphore: Semaphore,
    /// Our place in line, once we had to wait.
    ticket: Option<u64>,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = &mut *self;
        let mut state = this.semaphore.state.borrow_mut();
        let granted = match this.ticket {
            // In line: out of it means a released permit was handed to us.
            Some(ticket) => !state.waiting.is_waiting(ticket),
            // New: a free permit is ours. There is one only if nobody waits.
            None if state.permits > 0 => {
                state.permits -= 1;
                true
            }
            None => false,
        };
        if granted {
            this.ticket = None;
            trace!("semaphore: permit taken, {} left", state.permits);
            return Poll::Ready(Permit {
                semaphore: this.semaphore.clone(),
            });
        }
        state.waiting.wait(&mut this.ticket, cx.waker());
        trace!("semaphore: no permit, {} waiting", state.waiting.len());
        Poll::Pending
    }
}

impl Drop for Acquire {
    /// A cancelled `acquire`: leave the line; if a permit had been handed to us already, pass
    /// it on, or it would be lost.
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let next = {
            let mut state = self.semaphore.state.borrow_mut();
            let was_in_line = state.waiting.leave(ticket);
            if was_in_line { None } else { state.release() }
        };
        wake(next);
    }
}

/// One permit of a [`Semaphore`]; dropping it releases it and wakes the next in line.
pub struct Permit {
    semaphore: Semaphore,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let next = self.semaphore.state.borrow_mut().release();
        wake(next);
    }
}

impl SemaphoreState {
    /// A permit comes back: to the first in line, taken out of the line to be woken; to the
    /// free ones only if nobody waits.
    // ANCHOR: permit_drop
    fn release(&mut self) -> Option<Waker> {
        let next = self.waiting.next();
        if next.is_none() {
            self.permits += 1;
        }
        trace!("semaphore: permit released, {} free", self.permits);
        next
    }
    // ANCHOR_END: permit_drop
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage5::testing::{Pool, poll_once, yield_once};
    use std::cell::Cell;

    #[test]
    fn the_semaphore_limits_holders_and_releases_on_drop() {
        let semaphore = Semaphore::new(3);
        let mut pool = Pool::new();
        let holding = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let gates: Vec<Rc<Cell<bool>>> = (0..10).map(|_| Rc::new(Cell::new(false))).collect();
        for gate in &gates {
            let (semaphore, holding, peak, gate) = (
                semaphore.clone(),
                holding.clone(),
                peak.clone(),
                gate.clone(),
            );
            pool.spawn(async move {
                let _permit = semaphore.acquire().await;
                holding.set(holding.get() + 1);
                peak.set(peak.get().max(holding.get()));
                crate::stage5::testing::until(move || gate.get()).await;
                holding.set(holding.get() - 1);
                // `_permit` drops here: the next waiter is woken.
            });
        }
        pool.run_until_stalled();
        assert_eq!(holding.get(), 3);
        assert_eq!(semaphore.available_permits(), 0);
        assert_eq!(semaphore.waiting(), 7);
        // Let the holders go one by one: each release lets exactly one more in.
        for (released, gate) in gates.iter().enumerate() {
            gate.set(true);
            pool.wake_all();
            pool.run_until_stalled();
            assert!(holding.get() <= 3, "after {released} releases");
        }
        assert_eq!(pool.unfinished(), 0);
        assert_eq!(peak.get(), 3);
        assert_eq!(semaphore.available_permits(), 3);
        assert_eq!(semaphore.waiting(), 0);
    }

    /// Issue 22, bug 3: a holder that releases its permit and asks for it again in the same
    /// poll must not starve the task waiting in line. Counts how many of the holder's
    /// releases the waiter waits through: one, as with asyncio and tokio.
    #[test]
    fn a_released_permit_goes_to_the_first_waiter() {
        let semaphore = Semaphore::new(1);
        let mut pool = Pool::new();
        let releases = Rc::new(Cell::new(0));
        let waited = Rc::new(Cell::new(None));
        let (holder_semaphore, holder_releases) = (semaphore.clone(), releases.clone());
        pool.spawn(async move {
            let mut permit = holder_semaphore.acquire().await;
            for _ in 0..50 {
                yield_once().await;
                drop(permit);
                holder_releases.set(holder_releases.get() + 1);
                permit = holder_semaphore.acquire().await; // in the poll that released it
            }
        });
        let (waiter_releases, waiter_waited) = (releases.clone(), waited.clone());
        pool.spawn(async move {
            let _permit = semaphore.acquire().await;
            waiter_waited.set(Some(waiter_releases.get()));
        });
        pool.run_until_stalled();
        println!(
            "the waiter got the permit after {:?} releases",
            waited.get()
        );
        assert_eq!(waited.get(), Some(1));
        assert_eq!(pool.unfinished(), 0);
        assert_eq!(releases.get(), 50);
    }

    #[test]
    fn a_permit_is_released_even_when_its_holder_is_cancelled() {
        let semaphore = Semaphore::new(1);
        let mut pool = Pool::new();
        let holder = {
            let semaphore = semaphore.clone();
            pool.spawn(async move {
                let _permit = semaphore.acquire().await;
                std::future::pending::<()>().await; // holds it forever…
            })
        };
        pool.run_until_stalled();
        assert_eq!(semaphore.available_permits(), 0);
        pool.cancel(holder); // …until it is cancelled: dropping the task drops the permit
        assert_eq!(semaphore.available_permits(), 1);
    }

    #[test]
    fn a_cancelled_waiter_that_was_woken_passes_the_permit_on() {
        let semaphore = Semaphore::new(1);
        let first = semaphore.try_acquire().unwrap();
        let mut a = Box::pin(semaphore.acquire());
        let mut b = Box::pin(semaphore.acquire());
        assert!(poll_once(a.as_mut()).is_pending());
        let (b_waker, b_woken) = crate::stage5::testing::flag_waker();
        assert!(
            b.as_mut()
                .poll(&mut Context::from_waker(&b_waker))
                .is_pending()
        );
        drop(first); // wakes `a`, the first in line…
        drop(a); // …which is cancelled before it runs: `b` must be woken instead
        assert!(b_woken.get());
        assert!(poll_once(b.as_mut()).is_ready());
    }
}
