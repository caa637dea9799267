//! The executor: stage 3's event loop with wakers. Its ready queue held callbacks; this one
//! holds tasks, each put there by its waker. The loop is the same: run what is ready, stop
//! when nothing is left or at the deadline, otherwise sleep in the (reactor's) `poll`.
//!
//! New in stage 5: `block_on` runs the loop until *a future* is done and gives its output; a
//! [`JoinHandle`] gives a task's; [`spawn`] works inside a task; `park` sleeps no longer
//! than until the next timer; a wake from another thread (a pool thread's) interrupts `poll`.
//!
//! Its rules, each with the test (in `tests.rs`) that proves it:
//!
//! 1. **A task sits in the ready queue at most once** (`TaskWaker::wake_by_ref`, the `queued`
//!    flag). `a_task_woken_twice_before_it_runs_is_polled_once`
//! 2. **A task is polled only when woken, and its waker is stored again on every `Pending`**
//!    (`TcpStream::wait`). `a_task_is_not_polled_without_a_wake`,
//!    `the_reactor_wakes_the_waker_stored_last`
//! 3. **The queue is re-checked before parking** (`Executor::park`).
//!    `a_task_that_wakes_itself_runs_again_without_an_event`
//! 4. **Dropping a future deregisters its source** (`TcpStream`'s `Drop`).
//!    `dropping_a_pending_read_deregisters_its_source`
//! 5. **A wake from another thread interrupts `poll`** (`ReadyQueue::push`).
//!    `a_wake_from_another_thread_while_parked_is_not_lost`
//! 6. **A panic in a task's poll or `Drop` is its `JoinError`** (`join::task`, `Owned`).
//!    `a_panicking_task_is_reported_through_its_handle`, `a_panic_in_drop_…` (three)
//! 7. **`block_on` inside a task panics at once** (`Running::enter`).
//!    `a_nested_block_on_panics_at_once_and_says_why`

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
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
use super::reactor::{self, Reactor};

/// A single-threaded executor with its own [`Reactor`]: stage 3's `EventLoop`, with tasks.
pub struct Executor {
    reactor: Rc<Reactor>,
    /// Shared with [`spawn`] and [`spawn_blocking`] inside a task, through the thread.
    scheduler: Rc<Scheduler>,
}

/// The tasks, the ready queue and the blocking pool: what `spawn` inside a task needs.
struct Scheduler {
    /// The tasks that have not ended, by id. An id is never reused: a late wake of a task that
    /// has ended finds nothing here, and is ignored.
    tasks: RefCell<HashMap<usize, Task, BuildHasherDefault<IdHasher>>>,
    /// The ids of the tasks to poll next, in wake order. The wakers share it.
    ready: Arc<ReadyQueue>,
    /// How many tasks were spawned so far: the next one's id.
    spawned: Cell<usize>,
    pool: BlockingPool,
}

/// A spawned future, type-erased, and its waker.
struct Task {
    /// Pinned on the heap: once polled, an `async fn`'s future may hold references into
    /// itself, so it must never move again. `None` while it is being polled.
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    waker: Arc<TaskWaker>,
}

thread_local! {
    /// The tasks of the executor whose `block_on` runs on this thread: how [`spawn`] and
    /// [`spawn_blocking`] reach them without a parameter.
    static CURRENT: RefCell<Option<Rc<Scheduler>>> = const { RefCell::new(None) };
}

/// Spawns `future` on the executor running on this thread. Panics outside `block_on`.
pub fn spawn<T: 'static>(future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
    let outside = "spawn called outside Executor::block_on";
    CURRENT.with_borrow(|s| s.as_ref().expect(outside).spawn(future))
}

/// asyncio's `run_in_executor`: runs `work` on this thread's executor's blocking pool (see
/// [`blocking`](super::blocking)). Panics outside `block_on`.
pub fn spawn_blocking<T, F>(work: F) -> Blocking<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let outside = "spawn_blocking called outside Executor::block_on";
    CURRENT.with_borrow(|s| s.as_ref().expect(outside).pool.spawn(work))
}

impl Executor {
    /// An executor with a new reactor, and no tasks.
    pub fn new() -> io::Result<Executor> {
        let reactor = Rc::new(Reactor::new()?);
        let ready = Arc::new(ReadyQueue {
            ids: Mutex::default(),
            main: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            unpark: reactor.unparker()?,
            thread: thread::current().id(),
        });
        Ok(Executor {
            reactor,
            scheduler: Rc::new(Scheduler {
                tasks: RefCell::default(),
                ready,
                spawned: Cell::new(0),
                pool: BlockingPool::default(),
            }),
        })
    }

    /// Adds a task, to start when the loop runs. Dropping its handle detaches it.
    pub fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
        self.scheduler.spawn(future)
    }

    /// The reactor (tests count its sources).
    pub fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    /// The blocking pool (tests count its threads).
    pub fn pool(&self) -> &BlockingPool {
        &self.scheduler.pool
    }

    /// How many spawned tasks have not ended.
    pub fn tasks(&self) -> usize {
        self.scheduler.tasks.borrow().len()
    }

    /// Runs the loop until `future` is ready, and returns its output. Spawned tasks run
    /// meanwhile; those still running when it ends stay. Fails only if `poll` fails.
    pub fn block_on<F: Future>(&mut self, future: F) -> io::Result<F::Output> {
        self.run(future, None)
    }

    /// `block_on` with a deadline for the whole run, where every unfinished task is dropped:
    /// the last resort, now that each piece of work can time out alone.
    pub fn block_on_until<F: Future>(
        &mut self,
        deadline: Instant,
        future: F,
    ) -> io::Result<F::Output> {
        self.run(future, Some(deadline))
    }

    // ANCHOR: run
    /// The loop: polls `future` when it is woken, and the tasks that are ready; parks in the
    /// reactor when nothing is, until `future` is done or the deadline passes.
    fn run<F: Future>(&mut self, future: F, deadline: Option<Instant>) -> io::Result<F::Output> {
        let _running = Running::enter(&self.reactor, &self.scheduler);
        // Not a task: it lives on this stack frame, so it need not be `'static`.
        let mut future = pin!(future);
        let main = Waker::from(Arc::new(MainWaker(self.scheduler.ready.clone())));
        main.wake_by_ref();
        loop {
            if self.scheduler.ready.main.swap(false, Ordering::AcqRel) {
                trace!("poll block_on's future");
                if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&main)) {
                    return Ok(output);
                }
            }
            self.scheduler.run_ready(deadline);
            if passed(deadline) {
                return self.shutdown(future.as_mut(), &main);
            }
            self.park(deadline)?;
        }
    }
    // ANCHOR_END: run

    /// The deadline has passed: drop every unfinished task (its sockets close, its handle
    /// wakes whoever awaits it), then poll `future` once more, to finish with what it has.
    fn shutdown<F: Future + ?Sized>(
        &self,
        future: Pin<&mut F>,
        main: &Waker,
    ) -> io::Result<F::Output> {
        // Out of the table first: dropping a task may spawn new ones (then dropped in turn).
        let tasks = || std::mem::take(&mut *self.scheduler.tasks.borrow_mut());
        for unfinished in std::iter::repeat_with(tasks).take_while(|t| !t.is_empty()) {
            debug!("deadline: dropping {} unfinished tasks", unfinished.len());
        }
        let pending = "the future given to block_on_until was still pending at its deadline";
        match future.poll(&mut Context::from_waker(main)) {
            Poll::Ready(output) => Ok(output),
            Poll::Pending => Err(io::Error::new(io::ErrorKind::TimedOut, pending)),
        }
    }
}

impl Scheduler {
    fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
        let id = self.spawned.get();
        self.spawned.set(id + 1);
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        // The handle keeps the task's waker: `abort` wakes the task so that it gets to end.
        let (future, handle) = join::task(id, future, Waker::from(waker.clone()));
        trace!("spawn task {id}");
        // Nobody has woken a new task yet: queue it once so that its first poll starts it.
        waker.wake_by_ref();
        let future = Some(Box::pin(future) as Pin<Box<dyn Future<Output = ()>>>);
        self.tasks.borrow_mut().insert(id, Task { future, waker });
        handle
    }

    /// Polls the tasks woken so far, once each. Those woken meanwhile wait for the next round,
    /// after a look at the OS: a task that keeps waking itself cannot starve the sockets.
    fn run_ready(&self, deadline: Option<Instant>) {
        let mut round = self.ready.take();
        let mut polled = 0;
        while let Some(id) = round.pop_front() {
            // Thousands of first polls (connects) must not run past the deadline: the rest
            // stay queued. The clock, as costly as a poll, is read every 64.
            if polled % 64 == 0 && passed(deadline) {
                round.push_front(id);
                return self.ready.put_back(round);
            }
            polled += 1;
            // Out of the table while it runs: its code may spawn, which needs the table.
            let mut tasks = self.tasks.borrow_mut();
            let taken = tasks
                .get_mut(&id)
                .and_then(|t| Some((t.future.take()?, t.waker.clone())));
            drop(tasks);
            let Some((mut future, waker)) = taken else {
                trace!("task {id} has ended: its wake is ignored");
                continue;
            };
            // Cleared before the poll: a wake during the poll must queue the task again.
            waker.queued.store(false, Ordering::Release);
            trace!("poll task {id}");
            let waker = Waker::from(waker);
            match future.as_mut().poll(&mut Context::from_waker(&waker)) {
                Poll::Pending => {
                    trace!("task {id}: pending");
                    if let Some(task) = self.tasks.borrow_mut().get_mut(&id) {
                        task.future = Some(future);
                    }
                }
                // Dropped here, with everything the task owned (its sockets close).
                Poll::Ready(()) => {
                    self.tasks.borrow_mut().remove(&id);
                    drop(future);
                    trace!("task {id} has ended");
                }
            }
        }
    }
}

fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|at| Instant::now() >= at)
}

/// While it lives, its executor is the thread's running one.
struct Running {
    _reactor: reactor::Current,
}

impl Running {
    /// Panics if an executor runs on this thread already: a `block_on` inside a task would
    /// block every other task until it returns (tokio panics too).
    fn enter(reactor: &Rc<Reactor>, scheduler: &Rc<Scheduler>) -> Running {
        if CURRENT.with_borrow(Option::is_some) {
            panic!(
                "Executor::block_on called inside a task (or inside another block_on): it would \
                 block the thread that runs every task. Await the future instead."
            );
        }
        CURRENT.set(Some(scheduler.clone()));
        Running {
            _reactor: Reactor::make_current(reactor),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        CURRENT.set(None);
    }
}

// ANCHOR: wake
/// What a task's [`Waker`] points at (`Wake` makes the `Arc` a `Waker`, with no unsafe code).
/// A std `Waker` must be `Send + Sync`: it holds the task's id, not the task.
struct TaskWaker {
    id: usize,
    /// In the ready queue already? Then a wake has nothing to do.
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// Queues the task; never polls it (stage 2's rule: resolving must not run the Task
    /// inline). From another thread, it interrupts the loop asleep in `poll`.
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            trace!("wake task {}: queued", self.id);
            self.ready.push(self.id);
        }
    }
}
// ANCHOR_END: wake

/// The waker of the future given to `block_on`, which is not a task: it sets a flag.
struct MainWaker(Arc<ReadyQueue>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        trace!("wake block_on's future");
        self.0.main.store(true, Ordering::Release);
        self.0.unpark_if_parked();
    }
}

impl Executor {
    // ANCHOR: park
    /// Nothing is ready: sleep in the reactor's `poll` until a socket is ready, a timer is
    /// due, another thread wakes a task, or time is up —
    /// unless a task was woken during the round (by another, or by itself): then only look.
    fn park(&self, deadline: Option<Instant>) -> io::Result<()> {
        let ready = &self.scheduler.ready;
        // Set *before* the last look at the queue (see `ReadyQueue::unpark_if_parked`).
        ready.parked.store(true, Ordering::SeqCst);
        let timeout = if ready.len() > 0 || ready.main.load(Ordering::SeqCst) {
            Some(Duration::ZERO)
        } else {
            // No longer than until the next timer: the poll timeout *is* the timer.
            let next_timer = self.reactor.timer_table().next_deadline();
            let wake_at = deadline.into_iter().chain(next_timer).min();
            wake_at.map(|at| at.saturating_duration_since(Instant::now()))
        };
        trace!("park: {} tasks, timeout {timeout:?}", self.tasks());
        let polled = self.reactor.poll(timeout);
        ready.parked.store(false, Ordering::SeqCst);
        polled
    }
    // ANCHOR_END: park
}

/// The ids of the tasks to poll, in wake order, behind a lock: a `Waker` may be used on any
/// thread (a pool thread's).
struct ReadyQueue {
    ids: Mutex<VecDeque<usize>>,
    /// The future given to `block_on` was woken (it is not a task: it has no id).
    main: AtomicBool,
    /// Set while the executor sleeps in `poll`: a wake then has to interrupt it.
    parked: AtomicBool,
    unpark: mio::Waker,
    /// The executor's thread: a wake there comes from an executor awake, with nothing to
    /// interrupt.
    thread: ThreadId,
}

impl ReadyQueue {
    fn push(&self, id: usize) {
        self.lock().push_back(id);
        self.unpark_if_parked();
    }

    /// The executor sets `parked` *before* its last look at the queue, and this looks at
    /// `parked` *after* the push: either it saw the task, or this sees it parked.
    fn unpark_if_parked(&self) {
        if self.parked.load(Ordering::SeqCst) && thread::current().id() != self.thread {
            trace!("the executor is parked: interrupting poll");
            if let Err(e) = self.unpark.wake() {
                debug!("cannot interrupt poll: {e}");
            }
        }
    }

    /// The whole queue, under one lock.
    fn take(&self) -> VecDeque<usize> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back what a round left, before those woken since.
    fn put_back(&self, mut round: VecDeque<usize>) {
        let mut queue = self.lock();
        round.append(&mut queue);
        *queue = round;
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// No task's code runs under this lock; and a queue of ids is never left half-changed.
    fn lock(&self) -> MutexGuard<'_, VecDeque<usize>> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hashes a task id with one multiplication: std's SipHash costs as much as a poll.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&byte| self.write_usize(byte.into()));
    }
    fn write_usize(&mut self, id: usize) {
        self.0 = (self.0 ^ id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
