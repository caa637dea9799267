//! The executor: tasks, a ready queue, wakers that put a task back in the queue, and the loop
//! that polls what is ready and otherwise parks in the reactor — now no longer than until the
//! next timer — plus the blocking pool it owns.
//!
//! Its rules, each with the test (in `tests.rs`) that proves it:
//!
//! 1. **A task sits in the ready queue at most once** (`TaskWaker`'s `queued` flag).
//!    `a_task_woken_twice_before_it_runs_is_polled_once`
//! 2. **A task is polled only when woken, and its waker is stored again on every `Pending`**
//!    (a leaf future hands it to the reactor). `a_task_is_not_polled_without_a_wake`,
//!    `the_reactor_wakes_the_waker_stored_last`
//! 3. **The queue is re-checked before parking** (`Core::park`).
//!    `a_task_that_wakes_itself_runs_again_without_an_event`
//! 4. **A wake from another thread interrupts `poll`** (`ReadyQueue::push`).
//!    `a_wake_from_another_thread_while_parked_is_not_lost`
//! 5. **Dropping a future deregisters its source** (`TcpStream`'s `Drop`).
//!    `dropping_a_pending_read_deregisters_its_source`

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use log::{debug, trace};
use slab::Slab;

use super::blocking::{Blocking, BlockingPool};
use super::join::{self, JoinHandle};
use super::reactor::Reactor;

/// A single-threaded executor with its own [`Reactor`].
pub struct Executor {
    core: Rc<Core>,
}

/// What the executor, the thread's *current* executor handle and [`spawn`] share.
struct Core {
    reactor: Rc<Reactor>,
    /// The tasks that have not ended, keyed by id. An ended task's key is reused, so the ready
    /// queue holds wakers, not keys: a late wake is told apart from the slot's new task.
    tasks: RefCell<Slab<Task>>,
    queue: Arc<ReadyQueue>,
    /// The threads for `spawn_blocking`, started when first needed.
    pool: BlockingPool,
}

/// A spawned future, type-erased, and the waker that puts it back in the ready queue.
struct Task {
    /// Pinned on the heap: once polled, an `async fn`'s future may hold references into
    /// itself, so it must never move again. `None` while it is being polled.
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    waker: Arc<TaskWaker>,
}

/// The tasks to poll next, in wake order, each as its waker. A std `Waker` is `Send + Sync`, so
/// wakers push from any thread (the tasks themselves never leave this one).
struct ReadyQueue {
    tasks: Mutex<VecDeque<Arc<TaskWaker>>>,
    /// Set while the executor sleeps in `poll`: a push then has to interrupt it.
    parked: AtomicBool,
    unpark: mio::Waker,
}

impl ReadyQueue {
    fn push(&self, task: Arc<TaskWaker>) {
        trace!("wake task {}: queued", task.id);
        self.lock().push_back(task);
        // The executor sets `parked` *before* its last look at the queue, and this looks at
        // `parked` *after* the push: either it saw this task, or this sees it parked. (A
        // wake on the executor's own thread, from inside the reactor's `poll`, comes from
        // an executor that is awake already: it needs no interrupt.)
        if self.parked.load(Ordering::SeqCst) && !self.is_current() {
            trace!("the executor is parked: interrupting poll");
            if let Err(e) = self.unpark.wake() {
                debug!("cannot interrupt poll: {e}");
            }
        }
    }

    /// Whether this is the queue of the executor running on this thread.
    fn is_current(&self) -> bool {
        CURRENT.with_borrow(|core| core.as_ref().is_some_and(|c| std::ptr::eq(&*c.queue, self)))
    }

    /// A queue of wakers cannot be left half-changed: a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<TaskWaker>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// ANCHOR: wake
/// What a task's [`Waker`] points at (`Wake` makes the `Arc` a `Waker`, with no unsafe code).
struct TaskWaker {
    id: TaskId,
    /// In the ready queue already? Then a wake has nothing to do.
    queued: AtomicBool,
    queue: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.queue.clone().push(self);
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.queue.push(self.clone());
        }
    }
}

/// A task's id, as the trace shows it; the future given to `block_on` is `main`.
#[derive(Clone, Copy)]
struct TaskId(Option<usize>);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(key) => write!(f, "{key}"),
            None => write!(f, "main"),
        }
    }
}
// ANCHOR_END: wake

thread_local! {
    /// The executor running on this thread, while [`Executor::block_on`] runs: how [`spawn`],
    /// [`spawn_blocking`], `Sleep` and [`TcpStream::connect`](super::TcpStream::connect) reach
    /// it without a parameter.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// While it lives, its executor is the thread's current one; then the one before is again.
struct Enter(Option<Rc<Core>>);

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.set(self.0.take());
    }
}

/// The reactor of the executor running on this thread.
pub(crate) fn current_reactor() -> io::Result<Rc<Reactor>> {
    let outside = "no executor is running on this thread: call this inside Executor::block_on";
    let Some(core) = CURRENT.with_borrow(|core| core.clone()) else {
        return Err(io::Error::other(outside));
    };
    Ok(core.reactor.clone())
}

/// Spawns `future` on the executor running on this thread. Panics outside `block_on`.
pub fn spawn<T: 'static>(future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
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
            tasks: Mutex::default(),
            parked: AtomicBool::new(false),
            unpark: reactor.unparker()?,
        });
        Ok(Executor {
            core: Rc::new(Core {
                reactor,
                tasks: RefCell::default(),
                queue,
                pool: BlockingPool::new(),
            }),
        })
    }

    /// Adds a task, to run when the executor runs. Dropping its handle detaches it.
    pub fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
        self.core.spawn(future)
    }

    /// Runs the executor until `future` is ready, and returns its output. Spawned tasks run
    /// meanwhile; those still running when it ends stay. Fails only if `poll` fails.
    pub fn block_on<F: Future>(&mut self, future: F) -> io::Result<F::Output> {
        self.run(future, None)
    }

    /// `block_on` with a deadline for the whole run, where every unfinished task is dropped.
    /// With timers, each piece of work can time out alone ([`timeout`](super::timeout)): this
    /// stays as the last resort.
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
        let main = core.waker(TaskId(None));
        main.wake_by_ref();
        let past = |deadline: Option<Instant>| deadline.is_some_and(|at| Instant::now() >= at);
        let mut batch = VecDeque::new();
        loop {
            // Take the whole queue, under one lock. Those woken while this batch is polled
            // wait for the next round, after a look at the OS: a task that keeps waking
            // itself cannot starve the sockets. The deadline is checked after every poll: a
            // round of thousands of first polls (thousands of connects) must not run past it.
            std::mem::swap(&mut *core.queue.lock(), &mut batch);
            while let Some(task) = batch.pop_front() {
                if !Arc::ptr_eq(&task, &main) {
                    core.poll_task(task);
                } else if let Poll::Ready(output) = poll_as(task, future.as_mut()) {
                    trace!("block_on: main is done");
                    // The rest of the round stays queued (their `queued` flags are set), or
                    // the next `block_on` would never poll them.
                    core.queue.lock().extend(batch);
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
    fn waker(&self, id: TaskId) -> Arc<TaskWaker> {
        Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            queue: self.queue.clone(),
        })
    }

    fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let id = entry.key();
        let waker = self.waker(TaskId(Some(id)));
        // The handle keeps the task's waker: `abort` wakes the task so that it gets to end.
        let (future, handle) = join::task(id, future, Waker::from(waker.clone()));
        entry.insert(Task {
            future: Some(Box::pin(future)),
            waker: waker.clone(),
        });
        drop(tasks);
        trace!("spawn task {id}");
        // Nobody has woken a new task yet: queue it once so that its first poll starts it.
        waker.wake();
        handle
    }

    /// Polls one task that was woken.
    fn poll_task(&self, woken: Arc<TaskWaker>) {
        let TaskId(Some(id)) = woken.id else { return };
        // Take the future out of the table while it runs: its code may spawn tasks, which
        // needs the table. A waker that is not the slot's own belongs to a task that ended.
        let taken = match self.tasks.borrow_mut().get_mut(id) {
            Some(task) if Arc::ptr_eq(&task.waker, &woken) => task.future.take(),
            _ => None,
        };
        let Some(mut future) = taken else {
            trace!("task {id} has ended: its wake is ignored");
            return;
        };
        match poll_as(woken, future.as_mut()) {
            Poll::Pending => self.tasks.borrow_mut()[id].future = Some(future),
            // Dropped here, with everything the task owned (its sockets close).
            Poll::Ready(()) => {
                self.tasks.borrow_mut().remove(id);
                trace!("task {id} has ended");
            }
        }
    }

    // ANCHOR: park
    /// Nothing is ready: sleep in the reactor's `poll` until a socket is ready, another
    /// thread wakes a task, the next timer is due, or the deadline comes.
    fn park(&self, deadline: Option<Instant>) -> io::Result<()> {
        // Look at the queue once more, right before sleeping: a task woken during this round
        // (by another task, or by itself) must not wait for an unrelated event. A wake from
        // another thread after this look is not lost either: it interrupts `poll`.
        self.queue.parked.store(true, Ordering::SeqCst);
        let timeout = if !self.queue.lock().is_empty() {
            Some(Duration::ZERO)
        } else {
            // Sleep no longer than until the next timer: the poll timeout *is* the timer.
            let wake_at = match (deadline, self.reactor.next_timer()) {
                (Some(deadline), Some(timer)) => Some(deadline.min(timer)),
                (deadline, timer) => deadline.or(timer),
            };
            wake_at.map(|at| at.saturating_duration_since(Instant::now()))
        };
        let tasks = self.tasks.borrow().len();
        trace!("park: {tasks} tasks, timeout {timeout:?}");
        let polled = self.reactor.poll(timeout);
        self.queue.parked.store(false, Ordering::SeqCst);
        polled
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
        let unfinished: Vec<Task> = self.tasks.borrow_mut().drain().collect();
        debug!("deadline: dropping {} unfinished tasks", unfinished.len());
        drop(unfinished);
        let pending = "the future given to block_on_until was still pending at its deadline";
        match poll_as(main.clone(), future) {
            Poll::Ready(output) => Ok(output),
            Poll::Pending => Err(io::Error::new(io::ErrorKind::TimedOut, pending)),
        }
    }
}

/// Polls `future` as the task `waker` wakes. Clears its "queued" flag first: a wake during
/// this poll must queue it again.
fn poll_as<F: Future + ?Sized>(waker: Arc<TaskWaker>, future: Pin<&mut F>) -> Poll<F::Output> {
    waker.queued.store(false, Ordering::Release);
    let id = waker.id;
    trace!("poll task {id}");
    // The `Arc` the queue held becomes the std `Waker`: no count to raise, nothing to copy.
    let waker = Waker::from(waker);
    let polled = future.poll(&mut Context::from_waker(&waker));
    if polled.is_pending() {
        trace!("task {id}: pending");
    }
    polled
}
