//! The executor: tasks, a ready queue, wakers that put a task back in the queue, and the loop
//! that polls what is ready and otherwise parks in the reactor.
//!
//! The executor is single-threaded: tasks are polled on the thread that runs
//! [`Executor::block_on`], and they need not be `Send`. But a std [`Waker`] must be
//! `Send + Sync` — anyone may wake a task, from any thread — so the one thing wakers share
//! with the executor, the `ReadyQueue`, is thread-safe: a `Mutex` around a queue of task
//! ids, and a `mio::Waker` to interrupt `poll` when a wake comes from another thread. The
//! tasks themselves stay on this thread, in a table the wakers never touch.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use log::{debug, trace, warn};

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
}

/// A spawned future, type-erased, and the waker that puts it back in the ready queue.
struct Task {
    /// Pinned on the heap: once polled, an `async fn`'s future may hold references into
    /// itself, so it must never move again.
    future: Pin<Box<dyn Future<Output = ()>>>,
    waker: Arc<TaskWaker>,
}
// ANCHOR_END: executor

// ANCHOR: ready_queue
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

    /// The queue is a plain list of numbers: a thread that panicked while holding the lock
    /// cannot have left it half-changed, so a poisoned lock is used as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<usize>> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: ready_queue

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
    /// [`spawn`] and [`TcpStream::connect`](super::TcpStream::connect) reach it without
    /// taking it as a parameter — the "current runtime" every Rust runtime has.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// The task being polled right now (for the trace).
    static CURRENT_TASK: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Makes `core` the thread's current executor until it is dropped (then restores the one
/// before, so a `block_on` inside a task of another executor works too).
struct Enter {
    previous: Option<Rc<Core>>,
}

impl Enter {
    fn new(core: &Rc<Core>) -> Enter {
        Enter {
            previous: CURRENT.replace(Some(core.clone())),
        }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.set(self.previous.take());
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

/// The id of the task being polled on this thread, if any.
pub fn current_task() -> Option<usize> {
    CURRENT_TASK.get()
}

/// Spawns `future` on the executor running on this thread (from inside a task, or inside the
/// future given to `block_on`).
///
/// # Panics
///
/// Outside [`Executor::block_on`]: there is no executor to run the task.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let core = CURRENT.with_borrow(|core| core.clone());
    let core = core.expect("runtime::stage4::spawn called outside Executor::block_on");
    core.spawn(future)
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
            }),
        })
    }

    /// Adds a task: `future` will run when the executor runs (in [`block_on`]). The
    /// [`JoinHandle`] gives its output; dropping the handle lets the task run on, detached.
    ///
    /// [`block_on`]: Executor::block_on
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future)
    }

    /// Runs the executor until `future` is ready, and returns its output. Spawned tasks run
    /// meanwhile; those still running when `future` ends stay in the executor.
    ///
    /// Fails only if the reactor fails (`poll` returned an error).
    pub fn block_on<F: Future>(&mut self, future: F) -> io::Result<F::Output> {
        self.run(future, None)
    }

    /// [`block_on`](Executor::block_on) with a deadline for the whole run. At the deadline
    /// every spawned task that has not ended is dropped — its sockets are deregistered and
    /// closed, and its [`JoinHandle`] yields [`JoinError::Cancelled`] — and `future` is polled
    /// on without waiting for the OS, so it can still finish with what it has (for example,
    /// collect those handles). If it still cannot, the error is `TimedOut`.
    ///
    /// This blunt deadline is all stage 4 has: with no timers, nothing can time out alone.
    pub fn block_on_until<F: Future>(
        &mut self,
        deadline: Instant,
        future: F,
    ) -> io::Result<F::Output> {
        self.run(future, Some(deadline))
    }

    /// The executor's reactor (tests look at how many sources it holds).
    pub fn reactor(&self) -> &Reactor {
        &self.core.reactor
    }

    /// How many spawned tasks have not ended.
    pub fn tasks(&self) -> usize {
        self.core.tasks.borrow().len()
    }

    // ANCHOR: run
    /// The loop: poll what is ready; stop at the deadline; otherwise park until woken.
    fn run<F: Future>(&mut self, future: F, deadline: Option<Instant>) -> io::Result<F::Output> {
        let core = &self.core;
        let _current = Enter::new(core);
        // The future given to `block_on` is polled like a task — its own id, its own waker —
        // but it lives here, on this stack frame, so it need not be `'static`.
        let mut future = pin!(future);
        let main = core.waker(core.new_id());
        trace!("block_on: its future is task {}", main.task);
        main.wake_by_ref();
        loop {
            // Poll the tasks that are ready now. Those woken meanwhile wait for the next
            // round, after a look at the OS: a task that keeps waking itself cannot starve
            // the sockets.
            for _ in 0..core.queue.len() {
                let Some(id) = core.queue.pop() else { break };
                if id != main.task {
                    core.poll_task(id);
                } else if let Poll::Ready(output) = poll_as(&main, future.as_mut()) {
                    trace!("block_on: task {} is done", main.task);
                    return Ok(output);
                }
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return core.shutdown(&main, future.as_mut());
            }
            core.park(deadline)?;
        }
    }
    // ANCHOR_END: run
}

impl Drop for Executor {
    /// Drops the tasks that never ended, closing whatever they held.
    fn drop(&mut self) {
        let unfinished = self.core.take_tasks();
        if !unfinished.is_empty() {
            debug!("dropping {} unfinished tasks", unfinished.len());
        }
    }
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

    // ANCHOR: spawn
    fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let id = self.new_id();
        let join = Rc::new(RefCell::new(JoinState {
            output: None,
            ended: false,
            waiter: None,
        }));
        let task = Task {
            future: Box::pin(Spawned {
                id,
                future: Box::pin(future),
                join: join.clone(),
            }),
            waker: self.waker(id),
        };
        trace!("spawn task {id}");
        // Nobody has woken a new task yet: queue it once so that its first poll starts it.
        task.waker.wake_by_ref();
        self.tasks.borrow_mut().insert(id, task);
        JoinHandle { id, join }
    }
    // ANCHOR_END: spawn

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
    /// thread wakes a task, or the deadline comes.
    fn park(&self, deadline: Option<Instant>) -> io::Result<()> {
        let timeout = self.park_timeout(deadline);
        trace!(
            "park: {} tasks pending, timeout {}",
            self.tasks.borrow().len(),
            show(timeout)
        );
        self.reactor.poll(timeout)
    }

    /// How long `park` may sleep: the one place that decides it.
    fn park_timeout(&self, deadline: Option<Instant>) -> Option<Duration> {
        // Look at the queue once more, right before sleeping: a task woken during this round
        // (by another task, or by itself) must not wait for an unrelated event. A wake from
        // another thread after this look is not lost either: it interrupts `poll`.
        if self.queue.len() > 0 {
            return Some(Duration::ZERO);
        }
        deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }
    // ANCHOR_END: park

    // ANCHOR: shutdown
    /// The deadline has passed: drop every unfinished task, then let the `block_on` future
    /// finish with what is ready, without waiting for the OS.
    fn shutdown<F: Future + ?Sized>(
        &self,
        main: &Arc<TaskWaker>,
        mut future: Pin<&mut F>,
    ) -> io::Result<F::Output> {
        let unfinished = self.take_tasks();
        debug!("deadline: dropping {} unfinished tasks", unfinished.len());
        // Dropping them closed their sockets and woke whoever awaits their handles.
        drop(unfinished);
        while let Some(id) = self.queue.pop() {
            if id == main.task {
                if let Poll::Ready(output) = poll_as(main, future.as_mut()) {
                    return Ok(output);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the future given to block_on_until was still pending at its deadline",
        ))
    }
    // ANCHOR_END: shutdown

    /// Removes every task from the table; the caller drops them once the table is no longer
    /// borrowed (dropping a task may wake, or even spawn, others).
    fn take_tasks(&self) -> Vec<Task> {
        let tasks: Vec<Task> = self
            .tasks
            .borrow_mut()
            .drain()
            .map(|(_, task)| task)
            .collect();
        tasks
    }
}

/// Polls `future` as task `waker.task`: clears its "queued" flag first (a wake during this
/// poll must queue it again), and makes it the current task for the trace.
fn poll_as<F: Future + ?Sized>(waker: &Arc<TaskWaker>, future: Pin<&mut F>) -> Poll<F::Output> {
    waker.queued.store(false, Ordering::Release);
    trace!("poll task {}", waker.task);
    let std_waker = Waker::from(waker.clone());
    let previous = CURRENT_TASK.replace(Some(waker.task));
    let polled = future.poll(&mut Context::from_waker(&std_waker));
    CURRENT_TASK.set(previous);
    if polled.is_pending() {
        trace!("task {}: pending", waker.task);
    }
    polled
}

fn show(timeout: Option<Duration>) -> String {
    match timeout {
        Some(timeout) => format!("{timeout:?}"),
        None => "none".to_string(),
    }
}

// ANCHOR: spawned
/// What a task runs: the spawned future, and where its output goes.
struct Spawned<F: Future> {
    id: usize,
    /// Boxed on its own so that `Spawned` can be moved freely (`Unpin`) and reach the future
    /// without unsafe pin projection.
    future: Pin<Box<F>>,
    join: Rc<RefCell<JoinState<F::Output>>>,
}

impl<F: Future> Future for Spawned<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        // A panic must not unwind through the executor and take every other task with it:
        // catch it here and hand it to the JoinHandle.
        let polled = panic::catch_unwind(AssertUnwindSafe(|| this.future.as_mut().poll(cx)));
        let output = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(JoinError::Panicked(panic_message(payload.as_ref()))),
        };
        end(this.id, &this.join, output);
        Poll::Ready(())
    }
}

impl<F: Future> Drop for Spawned<F> {
    /// Dropped before it ended (at the deadline, or with the executor): the handle says so.
    fn drop(&mut self) {
        end(self.id, &self.join, Err(JoinError::Cancelled));
    }
}
// ANCHOR_END: spawned

/// Where a task's output waits for its [`JoinHandle`].
struct JoinState<T> {
    output: Option<Result<T, JoinError>>,
    ended: bool,
    /// The waker of whoever awaits the handle.
    waiter: Option<Waker>,
}

/// Records how the task ended (the first call wins) and wakes whoever awaits its handle.
fn end<T>(id: usize, join: &Rc<RefCell<JoinState<T>>>, output: Result<T, JoinError>) {
    let mut state = join.borrow_mut();
    if state.ended {
        return;
    }
    match &output {
        Ok(_) => {}
        // Nobody holds the handle: say it here, or the panic would be lost.
        Err(e @ JoinError::Panicked(_)) if Rc::strong_count(join) == 1 => {
            warn!("task {id}: {e} (its JoinHandle was dropped)")
        }
        Err(e) => debug!("task {id}: {e}"),
    }
    state.ended = true;
    state.output = Some(output);
    let waiter = state.waiter.take();
    drop(state);
    if let Some(waiter) = waiter {
        waiter.wake();
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

// ANCHOR: join_handle
/// The handle of a spawned task: a future of the task's output.
///
/// Awaiting it gives `Ok(output)`, or the [`JoinError`] that says why there is none.
/// Dropping it detaches the task, which runs on.
pub struct JoinHandle<T> {
    id: usize,
    join: Rc<RefCell<JoinState<T>>>,
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.join.borrow_mut();
        if let Some(output) = state.output.take() {
            return Poll::Ready(output);
        }
        assert!(
            !state.ended,
            "JoinHandle polled again after it gave its output"
        );
        // Not ended yet: store the latest waker; the task wakes it when it ends.
        state.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}
// ANCHOR_END: join_handle

impl<T> JoinHandle<T> {
    /// The task's id, as the trace shows it (`poll task 3`).
    pub fn id(&self) -> usize {
        self.id
    }

    /// Whether the task has ended (with an output, a panic or a cancellation).
    pub fn is_finished(&self) -> bool {
        self.join.borrow().ended
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("task", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The task panicked; the panic's message.
    Panicked(String),
    /// The task was dropped before it ended (at the deadline, or with its executor).
    Cancelled,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(message) => write!(f, "the task panicked: {message}"),
            JoinError::Cancelled => write!(f, "the task was dropped before it ended"),
        }
    }
}

impl std::error::Error for JoinError {}
