//! The executor: tasks, a ready queue, wakers that put a task back in the queue, and the loop
//! that polls what is ready and otherwise parks in the reactor — now no longer than until the
//! next timer — plus the blocking pool it owns.
//!
//! Its rules, each with the test (in `tests.rs`) that proves it:
//!
//! 1. **A task sits in the ready queue at most once**: only the wake that sets its `queued`
//!    flag pushes it (`TaskWaker`). `a_task_woken_twice_before_it_runs_is_polled_once`
//! 2. **A task is polled only when woken, and its waker is stored again on every
//!    `Pending`**: each poll hands it the waker, and a leaf future gives that to the reactor
//!    each time it would block. `a_task_is_not_polled_without_a_wake`,
//!    `the_reactor_wakes_the_waker_stored_last`
//! 3. **The queue is re-checked before parking**: a task woken during a round must not wait
//!    for an unrelated event (`Core::park`). `a_task_that_wakes_itself_runs_again_without_an_event`
//! 4. **A wake from another thread interrupts `poll`**: a std `Waker` is `Send + Sync`, so the
//!    queue of task ids is a `Mutex`, and a push from another thread wakes the reactor through
//!    a `mio::Waker` (`ReadyQueue::push`). The tasks themselves never leave this thread.
//!    `a_wake_from_another_thread_while_parked_is_not_lost`
//! 5. **Dropping a future deregisters its source**: a task dropped at the deadline drops its
//!    `TcpStream`, whose `Drop` removes it from the reactor.
//!    `dropping_a_pending_read_deregisters_its_source`

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use log::{debug, trace};

use super::blocking::{Blocking, BlockingPool};
use super::join::{self, JoinHandle};
use super::reactor::Reactor;

// ANCHOR: executor
/// A single-threaded executor with its own [`Reactor`].
pub struct Executor {
    core: Rc<Core>,
}

/// What the executor, the thread's *current* executor handle and [`spawn`] share.
struct Core {
    reactor: Rc<Reactor>,
    /// The tasks that have not ended, by id. Ids are never reused, so a late wake for a task
    /// that has ended finds nothing and is ignored.
    tasks: RefCell<HashMap<usize, Task>>,
    next_id: Cell<usize>,
    queue: Arc<ReadyQueue>,
    /// The threads for `spawn_blocking`, started when first needed.
    pool: BlockingPool,
}

/// A spawned future, type-erased, and the waker that puts it back in the ready queue.
struct Task {
    /// Pinned on the heap: once polled, an `async fn`'s future may hold references into
    /// itself, so it must never move again.
    future: Pin<Box<dyn Future<Output = ()>>>,
    waker: Arc<TaskWaker>,
}
// ANCHOR_END: executor

/// The ids of the tasks to poll next, in wake order. Wakers push from any thread.
struct ReadyQueue {
    ids: Mutex<VecDeque<usize>>,
    /// The executor's thread: a wake from any other thread must interrupt `poll`.
    thread: ThreadId,
    unpark: mio::Waker,
}

impl ReadyQueue {
    fn push(&self, task: usize) {
        self.lock().push_back(task);
        if thread::current().id() == self.thread {
            // On the executor's thread the executor is not asleep (we are running), and it
            // looks at the queue before it sleeps again.
            trace!("wake task {task}: queued");
        } else {
            trace!("wake task {task}: queued from another thread, interrupting poll");
            if let Err(e) = self.unpark.wake() {
                debug!("cannot interrupt poll: {e}");
            }
        }
    }

    fn pop(&self) -> Option<usize> {
        self.lock().pop_front()
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// A plain list of numbers cannot be left half-changed: a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, VecDeque<usize>> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// ANCHOR: wake
/// What a task's [`Waker`] points at: the task's id and the queue to put it in. `Wake` turns
/// an `Arc<TaskWaker>` into a std `Waker` with no unsafe code.
struct TaskWaker {
    task: usize,
    /// In the ready queue already? A task woken twice before it runs is polled once.
    queued: AtomicBool,
    queue: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            trace!("wake task {}: already queued", self.task);
            return;
        }
        self.queue.push(self.task);
    }
}
// ANCHOR_END: wake

// ANCHOR: current
thread_local! {
    /// The executor running on this thread, while [`Executor::block_on`] runs. This is how
    /// [`spawn`], [`spawn_blocking`], `Sleep` and [`TcpStream::connect`](super::TcpStream::connect)
    /// reach it without taking it as a parameter — the "current runtime" every Rust runtime has.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// While it lives, its executor is the thread's current one; then the one before is again.
struct Enter(Option<Rc<Core>>);

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.set(self.0.take());
    }
}
// ANCHOR_END: current

/// The reactor of the executor running on this thread.
pub(crate) fn current_reactor() -> io::Result<Rc<Reactor>> {
    CURRENT
        .with_borrow(|core| core.as_ref().map(|core| core.reactor.clone()))
        .ok_or_else(|| {
            io::Error::other(
                "no executor is running on this thread: call this inside Executor::block_on",
            )
        })
}

/// Spawns `future` on the executor running on this thread. Panics outside `block_on`.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let core = CURRENT.with_borrow(|core| core.clone());
    let core = core.expect("spawn called outside Executor::block_on");
    core.spawn(future)
}

/// asyncio's `run_in_executor`: runs `work` on this thread's executor's blocking pool (see
/// [`blocking`](super::blocking)). Panics outside `block_on`.
pub fn spawn_blocking<T, F>(work: F) -> Blocking<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let core = CURRENT.with_borrow(|core| core.clone());
    let core = core.expect("spawn_blocking called outside Executor::block_on");
    core.pool.spawn(work)
}

impl Executor {
    /// An executor with a new reactor, and no tasks.
    pub fn new() -> io::Result<Executor> {
        let reactor = Rc::new(Reactor::new()?);
        let queue = Arc::new(ReadyQueue {
            ids: Mutex::new(VecDeque::new()),
            thread: thread::current().id(),
            unpark: reactor.unparker()?,
        });
        Ok(Executor {
            core: Rc::new(Core {
                reactor,
                tasks: RefCell::new(HashMap::new()),
                next_id: Cell::new(0),
                queue,
                pool: BlockingPool::new(),
            }),
        })
    }

    /// Adds a task, to run when the executor runs. Dropping its handle detaches it.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future)
    }

    /// Runs the executor until `future` is ready, and returns its output. Spawned tasks run
    /// meanwhile; those still running when it ends stay. Fails only if `poll` fails.
    pub fn block_on<F: Future>(&mut self, future: F) -> io::Result<F::Output> {
        self.run(future, None)
    }

    /// `block_on` with a deadline for the whole run, where every unfinished task is dropped
    /// (see `shutdown`). Stage 4 had only this; with timers, each piece of work can time out
    /// alone ([`timeout`](super::timeout)), and this stays as the last resort.
    pub fn block_on_until<F: Future>(
        &mut self,
        deadline: Instant,
        future: F,
    ) -> io::Result<F::Output> {
        self.run(future, Some(deadline))
    }

    /// The reactor (tests count its sources).
    pub fn reactor(&self) -> &Reactor {
        &self.core.reactor
    }

    /// The blocking pool (tests count its threads).
    pub fn pool(&self) -> &BlockingPool {
        &self.core.pool
    }

    /// How many spawned tasks have not ended.
    pub fn tasks(&self) -> usize {
        self.core.tasks.borrow().len()
    }

    // ANCHOR: run
    /// The loop: poll what is ready; stop at the deadline; otherwise park until woken.
    fn run<F: Future>(&mut self, future: F, deadline: Option<Instant>) -> io::Result<F::Output> {
        let core = &self.core;
        let _current = Enter(CURRENT.replace(Some(core.clone())));
        // The future given to `block_on` is polled like a task — its own id, its own waker —
        // but it lives here, on this stack frame, so it need not be `'static`.
        let mut future = pin!(future);
        let main = core.waker(core.new_id());
        trace!("block_on: its future is task {}", main.task);
        main.wake_by_ref();
        let past = |deadline: Option<Instant>| deadline.is_some_and(|at| Instant::now() >= at);
        loop {
            // Poll the tasks that are ready now. Those woken meanwhile wait for the next
            // round, after a look at the OS: a task that keeps waking itself cannot starve
            // the sockets. The deadline is checked after every poll: a round of thousands
            // of first polls (thousands of connects) must not run past it.
            for _ in 0..core.queue.len() {
                let Some(id) = core.queue.pop() else { break };
                if id != main.task {
                    core.poll_task(id);
                } else if let Poll::Ready(output) = poll_as(&main, future.as_mut()) {
                    trace!("block_on: task {} is done", main.task);
                    return Ok(output);
                }
                if past(deadline) {
                    break;
                }
            }
            if past(deadline) {
                return core.shutdown(&main, future.as_mut());
            }
            core.park(deadline)?;
        }
    }
    // ANCHOR_END: run
}

impl Core {
    fn new_id(&self) -> usize {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    fn waker(&self, task: usize) -> Arc<TaskWaker> {
        Arc::new(TaskWaker {
            task,
            queued: AtomicBool::new(false),
            queue: self.queue.clone(),
        })
    }

    fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let id = self.new_id();
        let waker = self.waker(id);
        // The handle keeps the task's waker: `abort` wakes the task so that it gets to end.
        let (future, handle) = join::task(id, future, Waker::from(waker.clone()));
        let task = Task {
            future: Box::pin(future),
            waker,
        };
        trace!("spawn task {id}");
        // Nobody has woken a new task yet: queue it once so that its first poll starts it.
        task.waker.wake_by_ref();
        self.tasks.borrow_mut().insert(id, task);
        handle
    }

    // ANCHOR: poll_task
    /// Polls one task that was woken.
    fn poll_task(&self, id: usize) {
        // Take the task out of the table while it runs: its code may spawn tasks, which
        // needs the table.
        let Some(mut task) = self.tasks.borrow_mut().remove(&id) else {
            trace!("task {id} has ended: its wake is ignored");
            return;
        };
        match poll_as(&task.waker, task.future.as_mut()) {
            Poll::Pending => {
                self.tasks.borrow_mut().insert(id, task);
            }
            // Dropped here, with everything the task owned (its sockets close).
            Poll::Ready(()) => trace!("task {id} has ended"),
        }
    }
    // ANCHOR_END: poll_task

    // ANCHOR: park
    /// Nothing is ready: sleep in the reactor's `poll` until a socket is ready, another
    /// thread wakes a task, the next timer is due, or the deadline comes.
    fn park(&self, deadline: Option<Instant>) -> io::Result<()> {
        // Look at the queue once more, right before sleeping: a task woken during this round
        // (by another task, or by itself) must not wait for an unrelated event. A wake from
        // another thread after this look is not lost either: it interrupts `poll`.
        let timeout = if self.queue.len() > 0 {
            Some(Duration::ZERO)
        } else {
            // ANCHOR: timer_timeout
            // Sleep no longer than until the next timer: the poll timeout *is* the timer.
            let wake_at = match (deadline, self.reactor.next_timer()) {
                (Some(deadline), Some(timer)) => Some(deadline.min(timer)),
                (deadline, timer) => deadline.or(timer),
            };
            wake_at.map(|at| at.saturating_duration_since(Instant::now()))
            // ANCHOR_END: timer_timeout
        };
        trace!(
            "park: {} tasks, timeout {timeout:?}",
            self.tasks.borrow().len()
        );
        self.reactor.poll(timeout)
    }
    // ANCHOR_END: park

    /// The deadline has passed: drop every unfinished task — its sockets are deregistered and
    /// closed, its handle wakes whoever awaits it — then poll the `block_on` future once more,
    /// so it can finish with what it has.
    fn shutdown<F: Future + ?Sized>(
        &self,
        main: &Arc<TaskWaker>,
        future: Pin<&mut F>,
    ) -> io::Result<F::Output> {
        // Out of the table first: dropping a task may wake, or even spawn, others.
        let unfinished: Vec<Task> = self.tasks.borrow_mut().drain().map(|(_, t)| t).collect();
        debug!("deadline: dropping {} unfinished tasks", unfinished.len());
        drop(unfinished);
        match poll_as(main, future) {
            Poll::Ready(output) => Ok(output),
            Poll::Pending => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the future given to block_on_until was still pending at its deadline",
            )),
        }
    }
}

/// Polls `future` as task `waker.task`. Clears its "queued" flag first: a wake during this
/// poll must queue it again.
fn poll_as<F: Future + ?Sized>(waker: &Arc<TaskWaker>, future: Pin<&mut F>) -> Poll<F::Output> {
    waker.queued.store(false, Ordering::Release);
    trace!("poll task {}", waker.task);
    let std_waker = Waker::from(waker.clone());
    let polled = future.poll(&mut Context::from_waker(&std_waker));
    if polled.is_pending() {
        trace!("task {}: pending", waker.task);
    }
    polled
}
