//! Waiting in line: what the [`Semaphore`](super::Semaphore) and the [`Queue`](super::Queue)
//! share (asyncio gives each a deque of futures). A task that cannot go on leaves its `Waker`
//! here; whoever makes progress possible wakes it, and the woken task checks again. One
//! thread, so `Rc<RefCell<…>>`: no locks.
//!
//! Cancellation is the subtle part: a waiter dropped after it was *woken*, before it ran,
//! would lose that wake-up, and another could sleep forever next to a free permit. So it
//! passes the wake-up on (the semaphore's, handed a permit, passes the permit on).

use std::collections::BTreeMap;
use std::task::Waker;

/// Tasks waiting for the same thing, first come first served. A waiting future holds a
/// ticket, to refresh its waker or leave the line when dropped. Tickets are handed out in
/// order, so a map keyed by ticket is the line, at O(log n) a step (ten thousand idle workers
/// cancelled at the end of a crawl leave at once: a list would cost O(n²)).
#[derive(Default)]
pub(super) struct WaitList {
    next_ticket: u64,
    line: BTreeMap<u64, Waker>,
}

impl WaitList {
    /// Stands in line, or refreshes the waker of a future already in line (on every
    /// `Pending`). A future woken that found nothing (someone was faster) stands in line again
    /// with its old ticket: ahead of everyone who came after it.
    pub(super) fn wait(&mut self, ticket: &mut Option<u64>, waker: &Waker) {
        let mine = *ticket.get_or_insert_with(|| {
            self.next_ticket += 1;
            self.next_ticket
        });
        self.line.insert(mine, waker.clone());
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
    waker.into_iter().for_each(Waker::wake);
}
