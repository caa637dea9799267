//! Waiting in line: what the [`Semaphore`](super::Semaphore) and the [`Queue`](super::Queue)
//! share. asyncio gives each of them a deque of futures; here it is a `WaitList` of wakers.
//!
//! Nothing here touches the reactor. A task that cannot go on parks its `Waker` in a
//! `WaitList`; whoever makes progress possible (a permit released, an item put, the last
//! `task_done`) wakes it, and the woken task checks again. Everything lives on the loop's one
//! thread, so the state is `Rc<RefCell<…>>`: no locks, no atomics.
//!
//! Cancellation is the subtle part. A waiting future can be dropped at any time (its task was
//! aborted, it lost a `select`, a `timeout` fired). If it was still in line, it leaves the line.
//! If it had already been *woken* — someone picked it to take the permit or the item — and it
//! is dropped before it ran, that wake-up would be lost and another waiter could sleep forever
//! next to a free permit. So a dropped waiter that was woken passes the wake-up on (the
//! semaphore, which hands the permit itself to the first in line, passes the permit on).
//!
//! The line has a file of its own, not a place in `semaphore.rs`, because neither tool owns
//! it: both use it the same way, and a reader of `queue.rs` should not have to open the
//! semaphore to find it.

use std::collections::BTreeMap;
use std::task::Waker;

/// Tasks waiting for the same thing, first come first served. A waiting future holds a
/// ticket, so that it can refresh its waker, or leave the line when it is dropped. Tickets
/// are handed out in order, so the line is simply the tickets sorted: a map keyed by ticket
/// makes standing in line, refreshing and leaving cost O(log n). (A list searched front to
/// back costs O(n) each, and at the end of a crawl ten thousand idle workers are cancelled
/// and leave at once: O(n²), which the bench measured as tens of milliseconds.)
#[derive(Default)]
pub(super) struct WaitList {
    next_ticket: u64,
    line: BTreeMap<u64, Waker>,
}

impl WaitList {
    /// Stands in line, or refreshes the waker of a future already in line (a waker must be
    /// stored again on every `Pending`: the task may be polled through another one). A future
    /// that was woken but found nothing (someone else was faster) stands in line again with
    /// its old ticket: ahead of everyone who came after it.
    pub(super) fn wait(&mut self, ticket: &mut Option<u64>, waker: &Waker) {
        let mine = *ticket.get_or_insert_with(|| {
            self.next_ticket += 1;
            self.next_ticket
        });
        match self.line.get_mut(&mine) {
            Some(stored) => stored.clone_from(waker),
            None => {
                self.line.insert(mine, waker.clone());
            }
        }
    }

    /// Leaves the line (a dropped future). Returns whether it was still in line: `false`
    /// means it had been woken already.
    pub(super) fn leave(&mut self, ticket: u64) -> bool {
        self.line.remove(&ticket).is_some()
    }

    /// Whether `ticket` is still in line (`false`: taken out by [`next`](WaitList::next), or it
    /// left).
    pub(super) fn is_waiting(&self, ticket: u64) -> bool {
        self.line.contains_key(&ticket)
    }

    /// Takes the first in line out, to be woken. The caller wakes it once it has let go of
    /// the state, so the waker never runs while the state is borrowed.
    pub(super) fn next(&mut self) -> Option<Waker> {
        self.line.pop_first().map(|(_, waker)| waker)
    }

    /// Takes everyone out, to be woken.
    pub(super) fn everyone(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.line).into_values().collect()
    }

    pub(super) fn len(&self) -> usize {
        self.line.len()
    }
}

/// Wakes `waker`, if there is one. Called after the state's `RefCell` borrow has ended.
pub(super) fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}
