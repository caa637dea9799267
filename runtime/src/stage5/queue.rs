//! asyncio's `Queue`, for tasks on one loop. Nothing here touches the reactor: getters,
//! putters (of a bounded queue) and joiners each wait in a `WaitList` (`wait_list.rs`), and
//! whoever puts, gets or finishes the last item wakes them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use log::trace;

use super::wait_list::{WaitList, wake};

/// asyncio's `Queue`: producers `put`, consumers `get`. Every item put counts as unfinished
/// until a consumer calls [`task_done`](Queue::task_done) for it; [`join`](Queue::join) waits
/// until nothing is: the work is *done*, not just handed out. Unbounded unless
/// [`bounded`](Queue::bounded). Clones share the same queue.
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

    /// Marks one item taken with `get` as finished; when none is left unfinished, wakes every
    /// task in [`join`](Queue::join). Panics if called more times than items were put (asyncio
    /// raises `ValueError`): counting it as "done" would end a `join` too early.
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
            let woken = !state.putters.leave(ticket);
            (woken && !state.is_full()).then(|| state.putters.next())
        };
        wake(next.flatten());
    }
}

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
            let woken = !state.getters.leave(ticket);
            (woken && !state.items.is_empty()).then(|| state.getters.next())
        };
        wake(next.flatten());
    }
}

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
