//! A randomized model test of stage 5's toolkit, through its public API only.
//!
//! Each case is a random sequence of operations — spawn a task that sleeps, holds a permit,
//! puts or gets an item (some under a `timeout`, a `select` or a zero timeout), joins the
//! queue, runs blocking work, reads a socket that never answers, yields, or panics; abort a
//! task; drop a handle; let time pass — run one step at a time on one [`Executor`]. After
//! every step, from outside the loop, the test checks what stage 5 promises:
//!
//! - **permits**: no more holders than permits, and a permit is free only while nobody waits
//!   (the semaphore hands a released permit to the first waiter);
//! - **items**: every item received was put, none twice, and none lost: items put = items in
//!   the queue + items received;
//! - **tasks**: the executor counts exactly the tasks whose future is alive;
//! - **registrations**: no more timers than tasks in a timed wait, no more sockets than tasks
//!   reading, and an ended task leaves no waker behind anywhere (every waker a task is given is
//!   counted, and must be gone when the task is);
//! - **wakes**: each task's future is polled at most once per wake, plus its first poll.
//!
//! At the end, once nothing is timed any more, nothing may wait beside what it waits for (an
//! item, room, a permit, the end of the work), and a deadline (`block_on_until`) ends or
//! cancels whatever still waits: then no task, timer, socket, waiter or waker is left.
//!
//! The generator is a few lines of SplitMix64 rather than proptest (the runtime crate takes
//! no other crate): a failing case prints its seed and its operations, then the shortest
//! sequence found by dropping operations one at a time that still fails.
//!
//! Plain `cargo test` runs `CI_CASES` cases (100, about 1.5 s); `cargo test -p runtime --test
//! model -- --ignored` runs `MANY_CASES` (2,000, about 30 s) from a seed taken from the clock.
//! Replay one with `LOOPLAB_MODEL_SEED=<seed> LOOPLAB_MODEL_CASES=1 cargo test -p runtime
//! --test model -- --nocapture` (timing varies from run to run, so a failure may need a few).
//!
//! What it finds on the code before issue 22: the semaphore leaving a released permit free
//! while others wait (bug 3, in the first case), and a panic in a task's `Drop` during
//! cancellation escaping `block_on` (bug 2, with `PANICS_IN_DROP`). Planted bugs it finds: a
//! `Sleep` that does not disarm when dropped (within 5 cases), a cancelled `acquire` that does
//! not pass its permit on (within about 300), a cancelled getter that does not pass its
//! wake-up on (about once in 5,000). One it did not find in 3,000: the same for a `put`, which
//! later puts and gets hide.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::panic;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use runtime::stage5::{
    Either, Executor, JoinError, JoinHandle, Queue, Semaphore, TcpStream, join_all, select, sleep,
    spawn_blocking, timeout, yield_now,
};

/// Cases in plain `cargo test`, and under `--ignored`.
const CI_CASES: u64 = 100;
const MANY_CASES: u64 = 2_000;
/// The most operations in one case.
const MAX_OPS: usize = 28;
const PERMITS: usize = 2;
const CAPACITY: usize = 2;
/// Issue 22 bug 2 (a panic in a task's `Drop` during cancellation escaped the executor): the
/// model plans such panics too. `false` turns them off, to hunt for something else.
const PANICS_IN_DROP: bool = true;
/// The message of the panics the model plans (they are not reported as failures).
const PLANNED: &str = "model: a planned panic";

#[derive(Clone, Debug)]
enum Op {
    Sleeper {
        ms: u64,
    },
    Holder {
        hold_ms: u64,
    },
    HolderWithTimeout {
        wait_ms: u64,
        hold_ms: u64,
    },
    HolderOrSleep {
        wait_ms: u64,
        hold_ms: u64,
    },
    Producer {
        after_ms: u64,
    },
    ProducerWithTimeout {
        wait_ms: u64,
    },
    Consumer {
        after_ms: u64,
        work_ms: u64,
    },
    ConsumerWithTimeout {
        wait_ms: u64,
    },
    ConsumerRetryingZero {
        tries: u32,
    },
    Joiner {
        wait_ms: u64,
    },
    Blocking {
        ms: u64,
    },
    Reader {
        wait_ms: u64,
    },
    Yielder {
        times: u32,
    },
    Panicker,
    PanicInDrop,
    Abort(usize),
    /// A task that aborts another after a sleep: in the round where timers wake both the
    /// aborted task's waker and whoever it waits for.
    Killer {
        ms: u64,
        target: usize,
    },
    Detach(usize),
    Step {
        ms: u64,
    },
}

/// SplitMix64: small, and good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn ms(&mut self) -> u64 {
        self.below(4)
    }
}

fn generate(seed: u64) -> Vec<Op> {
    let mut rng = Rng(seed);
    let count = 1 + rng.below(MAX_OPS as u64) as usize;
    (0..count)
        .map(|_| match rng.below(24) {
            0 => Op::Sleeper { ms: rng.ms() },
            1..=3 => Op::Holder { hold_ms: rng.ms() },
            4 | 5 => Op::HolderWithTimeout {
                wait_ms: rng.ms(),
                hold_ms: rng.ms(),
            },
            6 => Op::HolderOrSleep {
                wait_ms: rng.ms(),
                hold_ms: rng.ms(),
            },
            7 | 8 => Op::Producer { after_ms: rng.ms() },
            9 => Op::ProducerWithTimeout { wait_ms: rng.ms() },
            10 | 11 => Op::Consumer {
                after_ms: rng.ms(),
                work_ms: rng.ms(),
            },
            12 => Op::ConsumerWithTimeout { wait_ms: rng.ms() },
            13 => Op::ConsumerRetryingZero {
                tries: rng.below(5) as u32,
            },
            14 => Op::Joiner { wait_ms: rng.ms() },
            15 => Op::Blocking { ms: rng.below(3) },
            16 => Op::Reader { wait_ms: rng.ms() },
            17 => Op::Yielder {
                times: rng.below(5) as u32,
            },
            18 if PANICS_IN_DROP => Op::PanicInDrop,
            18 => Op::Panicker,
            19 => Op::Abort(rng.below(64) as usize),
            20 => Op::Killer {
                ms: rng.ms(),
                target: rng.below(64) as usize,
            },
            21 => Op::Detach(rng.below(64) as usize),
            _ => Op::Step { ms: rng.below(3) },
        })
        .collect()
}

// --- Counting wakes, polls and wakers ----------------------------------------------------

/// What the model knows of one task: how often its future was polled, how often the wakers
/// it was given were woken, and (through `token`) how many of those wakers are still alive.
struct TaskRecord {
    what: String,
    polls: Cell<usize>,
    wakes: Arc<AtomicUsize>,
    token: Arc<()>,
    alive: Cell<bool>,
    /// Blocking work may hold a waker until it ends, after its task is gone.
    blocking: bool,
}

/// The waker a task's future gets: counts its wakes, then wakes the executor's.
struct Counting {
    inner: Waker,
    wakes: Arc<AtomicUsize>,
    _token: Arc<()>,
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.inner.wake_by_ref();
    }
}

/// A task's future, polled with a counting waker; its drop marks the task as gone.
struct Tracked<F> {
    future: Pin<Box<F>>,
    record: Rc<TaskRecord>,
    live: Rc<Cell<usize>>,
    world: World,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let record = self.record.clone();
        record.polls.set(record.polls.get() + 1);
        let waker = Waker::from(Arc::new(Counting {
            inner: cx.waker().clone(),
            wakes: record.wakes.clone(),
            _token: record.token.clone(),
        }));
        let polled = self.future.as_mut().poll(&mut Context::from_waker(&waker));
        // After every poll of every task, not only between steps.
        let broken = self.world.promises();
        self.world.violations.borrow_mut().extend(broken);
        polled
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.record.alive.set(false);
        self.live.set(self.live.get() - 1);
    }
}

/// Counts the tasks inside some section; the guard leaves it however the task ends.
#[derive(Clone, Default)]
struct Gauge(Rc<Cell<usize>>);

struct Inside(Gauge);

impl Gauge {
    fn enter(&self) -> Inside {
        self.0.set(self.0.get() + 1);
        Inside(self.clone())
    }

    fn get(&self) -> usize {
        self.0.get()
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.0.set(self.0.0.get() - 1);
    }
}

/// Panics when dropped (issue 22 bug 2).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("{PLANNED}");
        }
    }
}

// --- The world of one case ----------------------------------------------------------------

#[derive(Clone)]
struct World {
    semaphore: Semaphore,
    queue: Queue<u64>,
    /// Tasks between `acquire` returning and the permit's drop.
    held: Gauge,
    acquiring: Gauge,
    getting: Gauge,
    putting: Gauge,
    joining: Gauge,
    /// Tasks awaiting a `Sleep` or a `timeout` (each has at most one timer armed).
    timed: Gauge,
    /// Tasks holding a socket.
    reading: Gauge,
    put: Rc<RefCell<BTreeSet<u64>>>,
    received: Rc<RefCell<BTreeSet<u64>>>,
    next_item: Rc<Cell<u64>>,
    violations: Rc<RefCell<Vec<String>>>,
    jobs_submitted: Rc<Cell<usize>>,
    jobs_done: Arc<AtomicUsize>,
    listener: SocketAddr,
    /// Each task's handle, by the order it was spawned in (`None` once dropped).
    handles: Rc<RefCell<Vec<Option<JoinHandle<u64>>>>>,
}

impl World {
    fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }

    /// The permits' and the items' promises, which hold after every poll of every task.
    fn promises(&self) -> Vec<String> {
        let mut bad = Vec::new();
        let (available, held) = (self.semaphore.available_permits(), self.held.get());
        if available + held > PERMITS {
            bad.push(format!(
                "{available} free + {held} held > {PERMITS} permits"
            ));
        }
        let waiting = self.semaphore.waiting();
        if available > 0 && waiting > 0 {
            bad.push(format!("{available} permits free while {waiting} wait"));
        }
        let (put, received) = (self.put.borrow().len(), self.received.borrow().len());
        let queued = self.queue.len();
        if queued + received != put {
            bad.push(format!(
                "{put} put, but {queued} queued + {received} received"
            ));
        }
        bad
    }

    /// Aborts a task (the `i`th, modulo how many were spawned), if its handle is kept.
    fn abort(&self, i: usize) {
        let handles = self.handles.borrow();
        if let Some(Some(handle)) = handles.get(i % handles.len().max(1)) {
            handle.abort();
        }
    }

    /// `future` under a timer: counted as timed while it lives.
    async fn timed<F: Future>(&self, future: F) -> F::Output {
        let _timed = self.timed.enter();
        let future = future;
        future.await
    }

    async fn hold(&self, permit: runtime::stage5::Permit, hold_ms: u64) {
        let _held = self.held.enter();
        if self.held.get() > PERMITS {
            self.violation(format!("{} holders of {PERMITS} permits", self.held.get()));
        }
        self.timed(sleep(Duration::from_millis(hold_ms))).await;
        drop(permit);
    }

    fn received(&self, item: u64) {
        if !self.put.borrow().contains(&item) {
            self.violation(format!("item {item} received but never put"));
        }
        if !self.received.borrow_mut().insert(item) {
            self.violation(format!("item {item} received twice"));
        }
    }

    /// The body of the task an operation spawns.
    async fn task(self, op: Op) -> u64 {
        match op {
            Op::Sleeper { ms } => self.timed(sleep(Duration::from_millis(ms))).await,
            Op::Holder { hold_ms } => {
                let permit = {
                    let _waiting = self.acquiring.enter();
                    self.semaphore.acquire().await
                };
                self.hold(permit, hold_ms).await;
            }
            Op::HolderWithTimeout { wait_ms, hold_ms } => {
                let permit = {
                    let _waiting = self.acquiring.enter();
                    let wait = Duration::from_millis(wait_ms);
                    self.timed(timeout(wait, self.semaphore.acquire())).await
                };
                if let Ok(permit) = permit {
                    self.hold(permit, hold_ms).await;
                }
            }
            Op::HolderOrSleep { wait_ms, hold_ms } => {
                let raced = {
                    let _waiting = self.acquiring.enter();
                    let wait = sleep(Duration::from_millis(wait_ms));
                    self.timed(select(self.semaphore.acquire(), wait)).await
                };
                if let Either::Left(permit) = raced {
                    self.hold(permit, hold_ms).await;
                }
            }
            Op::Producer { .. } | Op::ProducerWithTimeout { .. } => {
                let item = self.next_item.get();
                self.next_item.set(item + 1);
                let _waiting = self.putting.enter();
                let done = match op {
                    Op::ProducerWithTimeout { wait_ms } => {
                        let wait = Duration::from_millis(wait_ms);
                        self.timed(timeout(wait, self.queue.put(item)))
                            .await
                            .is_ok()
                    }
                    Op::Producer { after_ms } => {
                        self.timed(sleep(Duration::from_millis(after_ms))).await;
                        self.queue.put(item).await;
                        true
                    }
                    _ => unreachable!(),
                };
                // In the poll that put it: no other task ran in between.
                if done {
                    self.put.borrow_mut().insert(item);
                }
            }
            Op::Consumer { after_ms, work_ms } => {
                self.timed(sleep(Duration::from_millis(after_ms))).await;
                let item = {
                    let _waiting = self.getting.enter();
                    self.queue.get().await
                };
                self.received(item);
                self.timed(sleep(Duration::from_millis(work_ms))).await;
                self.queue.task_done();
            }
            Op::ConsumerWithTimeout { wait_ms } => {
                let item = {
                    let _waiting = self.getting.enter();
                    let wait = Duration::from_millis(wait_ms);
                    self.timed(timeout(wait, self.queue.get())).await
                };
                if let Ok(item) = item {
                    self.received(item);
                    self.queue.task_done();
                }
            }
            Op::ConsumerRetryingZero { tries } => {
                // A retry loop around a zero timeout: each try yields (issue 22 bug 4).
                for _ in 0..tries {
                    let item = {
                        let _waiting = self.getting.enter();
                        self.timed(timeout(Duration::ZERO, self.queue.get())).await
                    };
                    if let Ok(item) = item {
                        self.received(item);
                        self.queue.task_done();
                        break;
                    }
                }
            }
            Op::Joiner { wait_ms } => {
                let _waiting = self.joining.enter();
                let wait = Duration::from_millis(wait_ms);
                let _ = self.timed(timeout(wait, self.queue.join())).await;
            }
            Op::Blocking { ms } => {
                self.jobs_submitted.set(self.jobs_submitted.get() + 1);
                let done = self.jobs_done.clone();
                let work = spawn_blocking(move || {
                    thread::sleep(Duration::from_millis(ms));
                    done.fetch_add(1, Ordering::SeqCst);
                    ms
                });
                if work.await != Ok(ms) {
                    self.violation("blocking work lost its result".into());
                }
            }
            Op::Reader { wait_ms } => {
                let _reading = self.reading.enter();
                let mut stream = match TcpStream::connect(self.listener).await {
                    Ok(stream) => stream,
                    Err(e) => {
                        self.violation(format!("connect to the listener: {e}"));
                        return 0;
                    }
                };
                let mut buf = [0u8; 8];
                // Nobody writes: only the timeout ends this.
                let wait = Duration::from_millis(wait_ms);
                let read = self.timed(timeout(wait, stream.read(&mut buf))).await;
                if read.is_ok() {
                    self.violation("a read from a silent socket returned".into());
                }
            }
            Op::Killer { ms, target } => {
                self.timed(sleep(Duration::from_millis(ms))).await;
                self.abort(target);
            }
            Op::Yielder { times } => {
                for _ in 0..times {
                    yield_now().await;
                }
            }
            Op::Panicker => {
                yield_now().await;
                panic!("{PLANNED}");
            }
            Op::PanicInDrop => {
                let _bomb = PanicOnDrop;
                self.timed(sleep(Duration::from_millis(2))).await;
            }
            Op::Abort(_) | Op::Detach(_) | Op::Step { .. } => unreachable!(),
        }
        0
    }
}

// --- Running a case -----------------------------------------------------------------------

struct Case {
    executor: Executor,
    world: World,
    records: Vec<Rc<TaskRecord>>,
    live: Rc<Cell<usize>>,
}

impl Case {
    fn new(listener: SocketAddr) -> Case {
        Case {
            executor: Executor::new().expect("an executor"),
            world: World {
                semaphore: Semaphore::new(PERMITS),
                queue: Queue::bounded(CAPACITY),
                held: Gauge::default(),
                acquiring: Gauge::default(),
                getting: Gauge::default(),
                putting: Gauge::default(),
                joining: Gauge::default(),
                timed: Gauge::default(),
                reading: Gauge::default(),
                put: Rc::default(),
                received: Rc::default(),
                next_item: Rc::default(),
                violations: Rc::default(),
                jobs_submitted: Rc::default(),
                jobs_done: Arc::default(),
                listener,
                handles: Rc::default(),
            },
            records: Vec::new(),
            live: Rc::default(),
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Abort(i) => self.world.abort(i),
            Op::Detach(i) => {
                let mut handles = self.world.handles.borrow_mut();
                let count = handles.len().max(1);
                drop(handles.get_mut(i % count).and_then(Option::take));
            }
            Op::Step { ms: 0 } => self.run(yield_now()),
            Op::Step { ms } => self.run(sleep(Duration::from_millis(ms))),
            ref op => {
                let record = Rc::new(TaskRecord {
                    what: format!("{op:?}"),
                    polls: Cell::new(0),
                    wakes: Arc::default(),
                    token: Arc::new(()),
                    alive: Cell::new(true),
                    blocking: matches!(op, Op::Blocking { .. }),
                });
                self.live.set(self.live.get() + 1);
                let task = Tracked {
                    future: Box::pin(self.world.clone().task(op.clone())),
                    record: record.clone(),
                    live: self.live.clone(),
                    world: self.world.clone(),
                };
                let handle = self.executor.spawn(task);
                self.world.handles.borrow_mut().push(Some(handle));
                self.records.push(record);
            }
        }
        // Every operation is a step: one round of the loop.
        self.run(yield_now());
    }

    fn run(&mut self, future: impl Future<Output = ()>) {
        self.executor.block_on(future).expect("block_on");
    }

    /// What must hold after every step.
    fn check(&self, step: &str) -> Result<(), String> {
        let w = &self.world;
        let mut bad: Vec<String> = w.violations.borrow_mut().drain(..).collect();
        bad.extend(w.promises());
        if self.executor.tasks() != self.live.get() {
            let (tasks, live) = (self.executor.tasks(), self.live.get());
            bad.push(format!("the executor has {tasks} tasks, {live} are alive"));
        }
        let reactor = self.executor.reactor();
        if reactor.timers() > w.timed.get() {
            let (timers, timed) = (reactor.timers(), w.timed.get());
            bad.push(format!("{timers} timers armed for {timed} timed waits"));
        }
        if reactor.sources() > w.reading.get() {
            let (sources, reading) = (reactor.sources(), w.reading.get());
            bad.push(format!(
                "{sources} sources registered for {reading} readers"
            ));
        }
        for record in &self.records {
            let (polls, wakes) = (record.polls.get(), record.wakes.load(Ordering::SeqCst));
            if polls > wakes + 1 {
                bad.push(format!("{}: {polls} polls for {wakes} wakes", record.what));
            }
            let wakers = Arc::strong_count(&record.token) - 1;
            if !record.alive.get() && !record.blocking && wakers > 0 {
                bad.push(format!(
                    "{}: ended, {wakers} wakers left behind",
                    record.what
                ));
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!("after {step}: {}", bad.join("; ")))
        }
    }

    /// Lets every timed wait and blocking job end, then checks that nothing waits beside
    /// what it waits for; then a deadline ends or cancels the rest.
    fn finish(&mut self) -> Result<(), String> {
        // Quiet: a whole step in which no task was woken nor polled (a task woken before the
        // step would have been polled in it), with no timer armed and no work on a thread.
        let activity = |case: &Case| -> usize {
            let records = case.records.iter();
            records
                .map(|r| r.polls.get() + r.wakes.load(Ordering::SeqCst))
                .sum()
        };
        let mut quiet = false;
        for _ in 0..500 {
            let before = activity(self);
            self.run(sleep(Duration::from_millis(2)));
            self.check("a final step")?;
            let jobs_done = self.world.jobs_done.load(Ordering::SeqCst);
            if self.executor.reactor().timers() == 0
                && self.world.reading.get() == 0
                && jobs_done == self.world.jobs_submitted.get()
                && activity(self) == before
            {
                quiet = true;
                break;
            }
        }
        if !quiet {
            return Err("the tasks never settled (timers or blocking work keep coming)".into());
        }
        let w = &self.world;
        let mut bad = Vec::new();
        if !w.queue.is_empty() && w.getting.get() > 0 {
            bad.push(format!(
                "{} getters wait beside {} items",
                w.getting.get(),
                w.queue.len()
            ));
        }
        if w.queue.len() < CAPACITY && w.putting.get() > 0 {
            bad.push(format!("{} putters wait beside free room", w.putting.get()));
        }
        if w.semaphore.available_permits() > 0 && w.acquiring.get() > 0 {
            bad.push(format!("{} wait beside a free permit", w.acquiring.get()));
        }
        if w.queue.unfinished() == 0 && w.joining.get() > 0 {
            bad.push(format!(
                "{} joiners wait for finished work",
                w.joining.get()
            ));
        }
        if !bad.is_empty() {
            return Err(format!("settled, yet: {}", bad.join("; ")));
        }
        // The deadline: whatever still waits (a getter with no item, say) is cancelled.
        let handles: Vec<_> = self.world.handles.borrow_mut().drain(..).collect();
        let deadline = Instant::now() + Duration::from_millis(5);
        let ended = self.executor.block_on_until(
            deadline,
            join_all(
                handles
                    .into_iter()
                    .enumerate()
                    .filter_map(|(n, h)| Some((n, h?)))
                    .map(|(n, h)| async move { (n, h.await) }),
            ),
        );
        if let Ok(ended) = ended {
            for (n, result) in ended {
                let ok = match &result {
                    Ok(_) | Err(JoinError::Cancelled) => true,
                    Err(JoinError::Panicked(message)) => message == PLANNED,
                    Err(JoinError::NotStarted(_)) => false,
                };
                if !ok {
                    bad.push(format!("{}: ended with {result:?}", self.records[n].what));
                }
            }
        }
        // Detached tasks that still wait are not among those joined: the deadline (already
        // past) cancels them too.
        let pending = self
            .executor
            .block_on_until(deadline, std::future::pending::<()>());
        if pending.is_ok() {
            bad.push("block_on_until returned a pending future's output".into());
        }
        self.check("the deadline")?;
        let reactor = self.executor.reactor();
        let w = &self.world;
        let left = [
            ("tasks", self.executor.tasks()),
            ("timers", reactor.timers()),
            ("sources", reactor.sources()),
            ("semaphore waiters", w.semaphore.waiting()),
            ("permits held", w.held.get()),
            (
                "permits missing",
                PERMITS.saturating_sub(w.semaphore.available_permits()),
            ),
            ("tasks in a timed wait", w.timed.get()),
        ];
        for (what, n) in left {
            if n > 0 {
                bad.push(format!("{n} {what} left"));
            }
        }
        for record in &self.records {
            let wakers = Arc::strong_count(&record.token) - 1;
            if wakers > 0 {
                bad.push(format!("{}: {wakers} wakers left behind", record.what));
            }
        }
        // No item lost, none invented: those not received are still in the queue.
        let mut remaining = BTreeSet::new();
        while let Some(item) = w.queue.get_nowait() {
            remaining.insert(item);
        }
        let accounted: BTreeSet<u64> = w.received.borrow().union(&remaining).copied().collect();
        if accounted != *w.put.borrow() {
            bad.push(format!(
                "put {:?}, but received {:?} and {:?} left",
                w.put.borrow(),
                w.received.borrow(),
                remaining
            ));
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!("at the end: {}", bad.join("; ")))
        }
    }
}

/// Runs `ops` on a fresh executor, checking after every step.
fn run_case(ops: &[Op]) -> Result<(), String> {
    // A listener of its own that never accepts nor writes: the case's connections (fewer than
    // its backlog) wait there, and go when it is dropped, with the case.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut case = Case::new(addr);
    for (i, op) in ops.iter().enumerate() {
        case.apply(op);
        case.check(&format!("op {i} ({op:?})"))?;
    }
    case.finish()
}

/// `run_case` on its own thread, so that a hang is a failure and a panic is a message.
fn run_bounded(ops: Vec<Op>) -> Result<(), String> {
    let (done, outcome) = mpsc::channel();
    thread::spawn(move || {
        let result = panic::catch_unwind(panic::AssertUnwindSafe(|| run_case(&ops)));
        let result = result.unwrap_or_else(|payload| {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {message}"))
        });
        let _ = done.send(result);
    });
    outcome
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| Err("hung for 20 s".into()))
}

/// The shortest sequence found, dropping one operation at a time, that still fails.
fn shrink(mut ops: Vec<Op>) -> (Vec<Op>, String) {
    let mut why = String::new();
    let mut at = 0;
    let mut tries = 0;
    while at < ops.len() && tries < 200 {
        let mut fewer = ops.clone();
        fewer.remove(at);
        tries += 1;
        match run_bounded(fewer.clone()) {
            Err(e) if !e.starts_with("hung") => {
                ops = fewer;
                why = e;
            }
            _ => at += 1,
        }
    }
    (ops, why)
}

fn run_model(cases: u64, seed: u64) {
    // Planned panics are part of the model: keep them out of the output.
    let report = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        let planned = message == Some(PLANNED);
        if !planned {
            report(info);
        }
    }));
    let started = Instant::now();
    let mut ops_run = 0;
    for case in 0..cases {
        let case_seed = seed.wrapping_add(case);
        let ops = generate(case_seed);
        ops_run += ops.len();
        if let Err(why) = run_bounded(ops.clone()) {
            let (shortest, shortest_why) = shrink(ops.clone());
            panic!(
                "model case {case} (LOOPLAB_MODEL_SEED={case_seed}) failed: {why}\n\
                 ops: {ops:?}\n\
                 shortest failing sequence found ({shortest_why}):\n{shortest:?}"
            );
        }
    }
    println!(
        "{cases} cases, {ops_run} operations, from seed {seed}, in {:?}",
        started.elapsed()
    );
}

fn cases_and_seed(default_cases: u64, default_seed: u64) -> (u64, u64) {
    let number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    let cases = number("LOOPLAB_MODEL_CASES").unwrap_or(default_cases);
    let seed = number("LOOPLAB_MODEL_SEED").unwrap_or(default_seed);
    (cases, seed)
}

#[test]
fn the_toolkit_keeps_its_promises_in_random_sequences() {
    let (cases, seed) = cases_and_seed(CI_CASES, 22);
    run_model(cases, seed);
}

#[test]
#[ignore = "a few thousand cases: run with --ignored"]
fn the_toolkit_keeps_its_promises_in_many_random_sequences() {
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (cases, seed) = cases_and_seed(MANY_CASES, clock);
    run_model(cases, seed);
}
