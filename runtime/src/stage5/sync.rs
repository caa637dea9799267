//! Waiting for each other: asyncio's `Semaphore` and `Queue`, for tasks on one loop.
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
//! next to a free permit. So a dropped waiter that was woken passes the wake-up on.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use log::trace;

// ANCHOR: wait_list
/// Tasks waiting for the same thing, first come first served. A waiting future holds a
/// ticket, so that it can refresh its waker, or leave the line when it is dropped. Tickets
/// are handed out in order, so the line is simply the tickets sorted: a map keyed by ticket
/// makes standing in line, refreshing and leaving cost O(log n). (A list searched front to
/// back costs O(n) each, and at the end of a crawl ten thousand idle workers are cancelled
/// and leave at once: O(n²), which the bench measured as tens of milliseconds.)
#[derive(Default)]
struct WaitList {
    next_ticket: u64,
    line: BTreeMap<u64, Waker>,
}

impl WaitList {
    /// Stands in line, or refreshes the waker of a future already in line (a waker must be
    /// stored again on every `Pending`: the task may be polled through another one). A future
    /// that was woken but found nothing (someone else was faster) stands in line again with
    /// its old ticket: ahead of everyone who came after it.
    fn wait(&mut self, ticket: &mut Option<u64>, waker: &Waker) {
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
    fn leave(&mut self, ticket: u64) -> bool {
        self.line.remove(&ticket).is_some()
    }

    /// Takes the first in line out, to be woken. The caller wakes it once it has let go of
    /// the state, so the waker never runs while the state is borrowed.
    fn next(&mut self) -> Option<Waker> {
        self.line.pop_first().map(|(_, waker)| waker)
    }

    /// Takes everyone out, to be woken.
    fn everyone(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.line).into_values().collect()
    }

    fn len(&self) -> usize {
        self.line.len()
    }
}
// ANCHOR_END: wait_list

/// Wakes `waker`, if there is one. Called after the state's `RefCell` borrow has ended.
fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphore
// ---------------------------------------------------------------------------------------------

// ANCHOR: semaphore
/// asyncio's `Semaphore`: at most `permits` holders at once. `acquire().await` waits for a
/// permit; the [`Permit`] gives it back when dropped, so an early `return`, a `?` or a
/// cancelled task cannot leak one. (Python writes `async with semaphore:`; here the scope of
/// the permit is the scope of a variable.) Clones share the same permits.
///
/// Not strictly fair: a task that arrives while a woken waiter is on its way through the
/// ready queue may take the permit first; the woken one then waits again at the front.
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

// ANCHOR: acquire
impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = &mut *self;
        let mut state = this.semaphore.state.borrow_mut();
        if state.permits > 0 {
            state.permits -= 1;
            if let Some(ticket) = this.ticket.take() {
                state.waiting.leave(ticket);
            }
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
// ANCHOR_END: acquire

impl Drop for Acquire {
    /// A cancelled `acquire`: leave the line; if we had been woken for a free permit, wake
    /// the next in line instead, or that permit would sit unused.
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let next = {
            let mut state = self.semaphore.state.borrow_mut();
            let was_in_line = state.waiting.leave(ticket);
            if !was_in_line && state.permits > 0 {
                state.waiting.next()
            } else {
                None
            }
        };
        wake(next);
    }
}

/// One permit of a [`Semaphore`]; dropping it releases it and wakes the next in line.
pub struct Permit {
    semaphore: Semaphore,
}

// ANCHOR: permit_drop
impl Drop for Permit {
    fn drop(&mut self) {
        let next = {
            let mut state = self.semaphore.state.borrow_mut();
            state.permits += 1;
            trace!("semaphore: permit released, {} free", state.permits);
            state.waiting.next()
        };
        wake(next);
    }
}
// ANCHOR_END: permit_drop
// ANCHOR_END: semaphore

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

// ANCHOR: queue
/// asyncio's `Queue`: producers `put`, consumers `get`, and the bookkeeping that tells when
/// the work is *done*, not just handed out. Every item put counts as unfinished until a
/// consumer calls [`task_done`](Queue::task_done) for it; [`join`](Queue::join) waits until
/// nothing is unfinished. A crawler needs exactly that: the queue is empty for a moment every
/// time the workers are busy, but the crawl is over only when no fetch can add another URL.
///
/// Unbounded by default; [`Queue::bounded`] makes `put` wait while the queue is full.
/// Clones share the same queue.
pub struct Queue<T> {
    state: Rc<RefCell<QueueState<T>>>,
}

struct QueueState<T> {
    items: VecDeque<T>,
    capacity: Option<usize>,
    /// Items put and not yet marked `task_done`.
    unfinished: usize,
    getters: WaitList,
    putters: WaitList,
    joiners: WaitList,
}
// ANCHOR_END: queue

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            state: Rc::clone(&self.state),
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T> Queue<T> {
    /// An unbounded queue: `put` never waits.
    pub fn new() -> Queue<T> {
        Queue::with_capacity(None)
    }

    /// A queue of at most `capacity` items (at least 1): `put` waits while it is full.
    pub fn bounded(capacity: usize) -> Queue<T> {
        Queue::with_capacity(Some(capacity.max(1)))
    }

    fn with_capacity(capacity: Option<usize>) -> Queue<T> {
        Queue {
            state: Rc::new(RefCell::new(QueueState {
                items: VecDeque::new(),
                capacity,
                unfinished: 0,
                getters: WaitList::default(),
                putters: WaitList::default(),
                joiners: WaitList::default(),
            })),
        }
    }

    /// Puts `item` at the back, waiting for room if the queue is bounded and full.
    pub fn put(&self, item: T) -> Put<T> {
        Put {
            queue: self.clone(),
            item: Some(item),
            ticket: None,
        }
    }

    /// Puts `item` at the back if there is room now; gives it back if the queue is full.
    pub fn put_nowait(&self, item: T) -> Result<(), T> {
        let next = {
            let mut state = self.state.borrow_mut();
            if state.is_full() {
                return Err(item);
            }
            state.items.push_back(item);
            state.unfinished += 1;
            state.getters.next()
        };
        wake(next);
        Ok(())
    }

    /// Takes the item at the front, waiting for one if the queue is empty.
    pub fn get(&self) -> Get<T> {
        Get {
            queue: self.clone(),
            ticket: None,
        }
    }

    /// Takes the item at the front if there is one.
    pub fn get_nowait(&self) -> Option<T> {
        let (item, next) = {
            let mut state = self.state.borrow_mut();
            let item = state.items.pop_front();
            let next = item.as_ref().and_then(|_| state.putters.next());
            (item, next)
        };
        wake(next);
        item
    }

    // ANCHOR: task_done
    /// Marks one item taken with `get` as finished. When none is left unfinished, every task
    /// waiting in [`join`](Queue::join) wakes up.
    ///
    /// Panics if called more times than items were put, like asyncio's `ValueError`: that is
    /// a bug in the caller, and counting it as "done" would end a `join` too early.
    pub fn task_done(&self) {
        let joiners = {
            let mut state = self.state.borrow_mut();
            assert!(
                state.unfinished > 0,
                "Queue::task_done called more times than items were put"
            );
            state.unfinished -= 1;
            if state.unfinished > 0 {
                return;
            }
            state.joiners.everyone()
        };
        trace!("queue: all work done, waking {} joiners", joiners.len());
        joiners.into_iter().for_each(Waker::wake);
    }

    /// Waits until every item put has been marked [`task_done`](Queue::task_done).
    pub fn join(&self) -> Join<T> {
        Join {
            queue: self.clone(),
            ticket: None,
        }
    }
    // ANCHOR_END: task_done

    /// How many items are in the queue (not counting those taken and still being worked on).
    pub fn len(&self) -> usize {
        self.state.borrow().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many items were put and not yet marked `task_done`.
    pub fn unfinished(&self) -> usize {
        self.state.borrow().unfinished
    }
}

impl<T> QueueState<T> {
    fn is_full(&self) -> bool {
        self.capacity.is_some_and(|c| self.items.len() >= c)
    }
}

/// The future of [`Queue::put`].
pub struct Put<T> {
    queue: Queue<T>,
    /// The item, until it is in the queue.
    item: Option<T>,
    ticket: Option<u64>,
}

// `Put` never pins its item: it only moves it into the queue. So it may move freely.
impl<T> Unpin for Put<T> {}

impl<T> Future for Put<T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.item.is_none() {
            return Poll::Ready(()); // polled again after it finished
        }
        let next = {
            let mut state = this.queue.state.borrow_mut();
            if state.is_full() {
                state.putters.wait(&mut this.ticket, cx.waker());
                return Poll::Pending;
            }
            if let Some(ticket) = this.ticket.take() {
                state.putters.leave(ticket);
            }
            state.items.extend(this.item.take());
            state.unfinished += 1;
            state.getters.next()
        };
        wake(next);
        Poll::Ready(())
    }
}

impl<T> Drop for Put<T> {
    /// A cancelled `put` that had been woken for a free slot passes the wake-up on.
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let next = {
            let mut state = self.queue.state.borrow_mut();
            let was_in_line = state.putters.leave(ticket);
            if !was_in_line && !state.is_full() {
                state.putters.next()
            } else {
                None
            }
        };
        wake(next);
    }
}

// ANCHOR: get
/// The future of [`Queue::get`].
pub struct Get<T> {
    queue: Queue<T>,
    ticket: Option<u64>,
}

impl<T> Future for Get<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let (item, next) = {
            let mut state = this.queue.state.borrow_mut();
            let Some(item) = state.items.pop_front() else {
                state.getters.wait(&mut this.ticket, cx.waker());
                trace!("queue: empty, {} getters waiting", state.getters.len());
                return Poll::Pending;
            };
            if let Some(ticket) = this.ticket.take() {
                state.getters.leave(ticket);
            }
            (item, state.putters.next())
        };
        wake(next);
        Poll::Ready(item)
    }
}

impl<T> Drop for Get<T> {
    /// A cancelled `get` — an idle worker cancelled at the end of a crawl — leaves the line;
    /// if it had been woken for an item it will never take, the next getter gets the wake-up.
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let next = {
            let mut state = self.queue.state.borrow_mut();
            let was_in_line = state.getters.leave(ticket);
            if !was_in_line && !state.items.is_empty() {
                state.getters.next()
            } else {
                None
            }
        };
        wake(next);
    }
}
// ANCHOR_END: get

/// The future of [`Queue::join`].
pub struct Join<T> {
    queue: Queue<T>,
    ticket: Option<u64>,
}

impl<T> Future for Join<T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.queue.state.borrow_mut();
        if state.unfinished == 0 {
            if let Some(ticket) = this.ticket.take() {
                state.joiners.leave(ticket);
            }
            return Poll::Ready(());
        }
        state.joiners.wait(&mut this.ticket, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Join<T> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.queue.state.borrow_mut().joiners.leave(ticket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage5::testing::{Pool, poll_once};
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

    #[test]
    fn the_queue_hands_items_out_in_order_and_get_waits_for_one() {
        let queue = Queue::new();
        let mut pool = Pool::new();
        let got = Rc::new(RefCell::new(Vec::new()));
        for _ in 0..2 {
            let (queue, got) = (queue.clone(), got.clone());
            pool.spawn(async move {
                loop {
                    let n: u32 = queue.get().await;
                    got.borrow_mut().push(n);
                    queue.task_done();
                }
            });
        }
        pool.run_until_stalled();
        assert!(got.borrow().is_empty(), "nothing to get yet");
        for n in 0..5 {
            queue.put_nowait(n).unwrap();
        }
        pool.run_until_stalled();
        assert_eq!(*got.borrow(), [0, 1, 2, 3, 4]);
        assert_eq!(queue.unfinished(), 0);
    }

    #[test]
    fn join_waits_for_every_task_done() {
        let queue = Queue::new();
        let mut pool = Pool::new();
        let joined = Rc::new(Cell::new(false));
        for n in 0..3 {
            queue.put_nowait(n).unwrap();
        }
        {
            let (queue, joined) = (queue.clone(), joined.clone());
            pool.spawn(async move {
                queue.join().await;
                joined.set(true);
            });
        }
        pool.run_until_stalled();
        // Taking the items out is not enough: the work on them must be done.
        while queue.get_nowait().is_some() {}
        pool.run_until_stalled();
        assert!(!joined.get());
        queue.task_done();
        queue.task_done();
        pool.run_until_stalled();
        assert!(!joined.get(), "one item is still being worked on");
        queue.task_done();
        pool.run_until_stalled();
        assert!(joined.get());
    }

    #[test]
    #[should_panic(expected = "task_done called more times")]
    fn task_done_too_often_is_a_bug() {
        let queue = Queue::<()>::new();
        queue.task_done();
    }

    #[test]
    fn a_bounded_queue_makes_put_wait() {
        let queue = Queue::bounded(1);
        let mut pool = Pool::new();
        let put = Rc::new(Cell::new(0));
        {
            let (queue, put) = (queue.clone(), put.clone());
            pool.spawn(async move {
                for n in 0..3 {
                    queue.put(n).await;
                    put.set(put.get() + 1);
                }
            });
        }
        pool.run_until_stalled();
        assert_eq!(put.get(), 1, "the second put waits for room");
        assert_eq!(queue.get_nowait(), Some(0));
        pool.run_until_stalled();
        assert_eq!(put.get(), 2);
        assert_eq!(queue.put_nowait(9), Err(9));
    }

    #[test]
    fn a_cancelled_getter_that_was_woken_passes_the_item_on() {
        let queue = Queue::new();
        let mut a = Box::pin(queue.get());
        let mut b = Box::pin(queue.get());
        assert!(poll_once(a.as_mut()).is_pending());
        let (b_waker, b_woken) = crate::stage5::testing::flag_waker();
        assert!(
            b.as_mut()
                .poll(&mut Context::from_waker(&b_waker))
                .is_pending()
        );
        queue.put_nowait("url").unwrap(); // wakes `a`…
        drop(a); // …which is cancelled (an idle worker at the end of a crawl)
        assert!(b_woken.get(), "the item must not sit unclaimed");
        assert_eq!(poll_once(b.as_mut()), Poll::Ready("url"));
    }
}
