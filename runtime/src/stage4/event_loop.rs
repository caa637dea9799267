//! The executor: stage 3's event loop with wakers. Its ready queue held callbacks; this one
//! holds tasks, each put there by its waker. The loop is the same: run what is ready, stop
//! when nothing is left or at the deadline, otherwise sleep in the (reactor's) `poll`.
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
//!
//! Not kept here: a wake from *another thread* while the loop sleeps in `poll` is seen only
//! at the next event or the deadline (see `wake_by_ref`); stage 5 interrupts `poll`.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use log::{debug, trace};

use super::reactor::Reactor;

/// A single-threaded executor with its own [`Reactor`]: stage 3's `EventLoop`, with tasks.
pub struct Executor {
    reactor: Rc<Reactor>,
    /// The tasks that have not ended, by id. An id is never reused: a late wake of a task that
    /// has ended finds nothing here, and is ignored.
    tasks: HashMap<usize, Task, BuildHasherDefault<IdHasher>>,
    /// The ids of the tasks to poll next, in wake order. The wakers share it.
    ready: Arc<ReadyQueue>,
    /// How many tasks were spawned so far: the next one's id.
    spawned: usize,
}

/// A spawned future, type-erased, and its waker.
struct Task {
    /// Pinned on the heap: once polled, an `async fn`'s future may hold references into
    /// itself, so it must never move again.
    future: Pin<Box<dyn Future<Output = ()>>>,
    waker: Arc<TaskWaker>,
}

impl Executor {
    /// An executor with a new reactor, and no tasks.
    pub fn new() -> io::Result<Executor> {
        Ok(Executor {
            reactor: Rc::new(Reactor::new()?),
            tasks: HashMap::default(),
            ready: Arc::default(),
            spawned: 0,
        })
    }

    /// Adds a task, to start when the loop runs; returns its id (`poll task 3`). The task
    /// leaves its result where its caller looks, as stage 3's Task did in its Future.
    pub fn spawn(&mut self, future: impl Future<Output = ()> + 'static) -> usize {
        let id = self.spawned;
        self.spawned += 1;
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        trace!("spawn task {id}");
        // Nobody has woken a new task yet: queue it once so that its first poll starts it.
        waker.wake_by_ref();
        let future = Box::pin(future);
        self.tasks.insert(id, Task { future, waker });
        id
    }

    /// The reactor (tests count its sources).
    pub fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    /// How many spawned tasks have not ended.
    pub fn tasks(&self) -> usize {
        self.tasks.len()
    }

    // ANCHOR: run
    /// Polls the tasks that are ready, and parks in the reactor when none is, until no task is
    /// left (`Ok(true)`) or `deadline` passes (`Ok(false)`). Tasks still pending then stay
    /// here; dropping the executor drops them, and their sockets with them.
    pub fn run_until(&mut self, deadline: Instant) -> io::Result<bool> {
        let _current = Reactor::make_current(&self.reactor);
        loop {
            self.run_ready(deadline);
            if self.tasks.is_empty() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                debug!("deadline passed, {} tasks pending", self.tasks.len());
                return Ok(false);
            }
            self.park(deadline - now)?;
        }
    }

    /// Polls the tasks woken so far, once each. Those woken meanwhile wait for the next round,
    /// after a look at the OS: a task that keeps waking itself cannot starve the sockets.
    fn run_ready(&mut self, deadline: Instant) {
        let mut round = self.ready.take();
        let mut polled = 0;
        while let Some(id) = round.pop_front() {
            // Thousands of first polls (connects) must not run past the deadline: the rest
            // stay queued. The clock, as costly as a poll, is read every 64.
            if polled % 64 == 0 && Instant::now() >= deadline {
                round.push_front(id);
                return self.ready.put_back(round);
            }
            polled += 1;
            let Some(task) = self.tasks.get_mut(&id) else {
                trace!("task {id} has ended: its wake is ignored");
                continue;
            };
            // Cleared before the poll: a wake during the poll must queue the task again.
            task.waker.queued.store(false, Ordering::Release);
            trace!("poll task {id}");
            let waker = Waker::from(task.waker.clone());
            match task.future.as_mut().poll(&mut Context::from_waker(&waker)) {
                Poll::Pending => trace!("task {id}: pending"),
                // Dropped here, with everything the task owned (its sockets close).
                Poll::Ready(()) => {
                    self.tasks.remove(&id);
                    trace!("task {id} has ended");
                }
            }
        }
    }
    // ANCHOR_END: run
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
    /// inline). A wake from another thread queues it too, but does not interrupt the loop if
    /// it sleeps in `poll`: the task waits for the next event, or the deadline.
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            trace!("wake task {}: queued", self.id);
            self.ready.push(self.id);
        }
    }
}
// ANCHOR_END: wake

impl Executor {
    // ANCHOR: park
    /// Nothing is ready: sleep in the reactor's `poll` until a socket is ready or time is up —
    /// unless a task was woken during the round (by another, or by itself): then only look.
    fn park(&self, time_left: Duration) -> io::Result<()> {
        let timeout = match self.ready.len() {
            0 => time_left,
            _ => Duration::ZERO,
        };
        trace!("park: {} tasks, timeout {timeout:?}", self.tasks.len());
        self.reactor.poll(Some(timeout))
    }
    // ANCHOR_END: park
}

/// The ids of the tasks to poll, in wake order. Behind a lock: a `Waker` may be used on any
/// thread (stage 4 never does; the type allows it).
#[derive(Default)]
struct ReadyQueue {
    ids: Mutex<VecDeque<usize>>,
}

impl ReadyQueue {
    fn push(&self, id: usize) {
        self.lock().push_back(id);
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
