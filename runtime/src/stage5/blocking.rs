//! `spawn_blocking`: asyncio's `run_in_executor` — blocking work on a small thread pool.
//!
//! A call that blocks (the system resolver, a long computation) stops *every* task on the
//! loop's one thread, so it runs on a pool thread instead, which wakes the task when done:
//! a wake from another thread, which interrupts the loop's `poll` (see the executor's
//! `ReadyQueue`). The pool adds a thread whenever work arrives and none is idle, up to
//! [`MAX_THREADS`]. Blocking work cannot be cancelled: dropping the future drops the result.
//!
//! Its rules, each with the test (below) that proves it:
//!
//! 1. **Each job waiting gets a thread, up to [`MAX_THREADS`]**: `submit` compares the jobs
//!    with the idle threads under one lock (`State`).
//!    `jobs_submitted_together_each_get_a_thread_when_none_is_idle`
//! 2. **Never more threads than that** (`submit`). `the_pool_never_starts_more_than_max_threads`

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;

use log::{debug, trace, warn};

use super::join::{JoinError, panic_message};

/// The most threads a pool starts.
pub const MAX_THREADS: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

/// The threads that run blocking work, and the queue of work they take it from.
#[derive(Default)]
pub struct BlockingPool {
    shared: Arc<Shared>,
    threads: Cell<usize>,
}

/// What the pool's threads share: the work queue and how many of them wait for work, under
/// one lock, and the signal that wakes a waiting thread.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    work_arrived: Condvar,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Threads waiting for work. One leaves this count only once it has woken *and* holds the
    /// lock: four jobs submitted in one poll, with one idle thread, start three more.
    idle: usize,
    /// The pool was dropped: the threads end once the queue is empty.
    closed: bool,
}

impl Shared {
    /// The queue never stays half-changed (jobs run outside the lock, and catch their own
    /// panics): a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BlockingPool {
    /// How many threads the pool has started.
    pub fn threads(&self) -> usize {
        self.threads.get()
    }

    /// Queues `job`, starting a thread for it unless an idle one is left for it, while there
    /// is room. (Only this thread submits; a pool thread that takes a job lowers both numbers.)
    fn submit(&self, job: Job) -> io::Result<()> {
        let started = self.threads.get();
        let state = self.shared.lock();
        let waiting = state.jobs.len() + 1 > state.idle;
        drop(state);
        if waiting && started < MAX_THREADS {
            let shared = Arc::clone(&self.shared);
            let spawned = thread::Builder::new()
                .name(format!("looplab-blocking-{started}"))
                .spawn(move || work(&shared));
            match spawned {
                Ok(_) => {
                    self.threads.set(started + 1);
                    debug!("started pool thread {started}");
                }
                // With at least one thread, the work can wait for it; with none, it cannot run.
                Err(e) if started > 0 => warn!("cannot start a thread: {e}"),
                Err(e) => return Err(e),
            }
        }
        self.shared.lock().jobs.push_back(job);
        self.shared.work_arrived.notify_one();
        Ok(())
    }
}

impl Drop for BlockingPool {
    /// Tells the threads to end once the queue is empty; does not wait for them.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work_arrived.notify_all();
    }
}

/// A pool thread: take work, run it, repeat. Ends once the pool is dropped and the queue is
/// empty; the executor does not wait for it (a stuck lookup must not hold up a crawl's end).
fn work(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            job();
            state = shared.lock();
        } else if state.closed {
            return;
        } else {
            state.idle += 1;
            state = shared
                .work_arrived
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.idle -= 1;
        }
    }
}

impl BlockingPool {
    /// Runs `work` on one of the pool's threads; the future gives its result, or
    /// [`JoinError::Panicked`] if it panicked (the pool thread survives). Tasks call
    /// [`spawn_blocking`](super::spawn_blocking).
    pub fn spawn<T, F>(&self, work: F) -> Blocking<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::new(Mutex::new(Slot {
            result: None,
            waker: None,
        }));
        let filled = Arc::clone(&slot);
        // ANCHOR: job
        let job: Job = Box::new(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(work))
                .map_err(|payload| JoinError::Panicked(panic_message(payload.as_ref())));
            let waker = {
                let mut slot = filled.lock().unwrap_or_else(PoisonError::into_inner);
                slot.result = Some(result);
                slot.waker.take()
            };
            trace!(
                "blocking work done on {}: waking its task",
                thread::current().name().unwrap_or("?")
            );
            // From this thread: this wake interrupts the loop's `poll`.
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        // ANCHOR_END: job
        if let Err(e) = self.submit(job) {
            slot.lock().unwrap_or_else(PoisonError::into_inner).result =
                Some(Err(JoinError::NotStarted(e.to_string())));
        }
        Blocking { slot }
    }
}

/// The future of [`spawn_blocking`](super::spawn_blocking).
pub struct Blocking<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

/// Where the pool thread leaves the result, and the waker of whoever awaits it.
struct Slot<T> {
    result: Option<Result<T, JoinError>>,
    waker: Option<Waker>,
}

impl<T> Future for Blocking<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The lock makes "no result yet, so store the waker" one step: the pool thread
        // cannot store its result in between and miss the waker.
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage5::{Executor, sleep, spawn_blocking};
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `test` on its own thread; a hang fails the test instead of freezing it.
    fn bounded(test: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        thread::spawn(move || {
            test();
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(20))
            .expect("the test hung (or panicked: see its output)");
    }

    #[test]
    fn spawn_blocking_wakes_a_parked_loop() {
        bounded(|| {
            let mut executor = Executor::new().unwrap();
            // The only task waits for the pool: no socket, no timer. The loop parks in
            // `poll` with no timeout, and only the pool thread's wake can end that.
            let answer = executor.block_on(async {
                spawn_blocking(|| {
                    thread::sleep(Duration::from_millis(50));
                    42
                })
                .await
            });
            assert_eq!(answer.unwrap(), Ok(42));
        });
    }

    #[test]
    fn blocking_work_does_not_freeze_the_loop() {
        bounded(|| {
            let mut executor = Executor::new().unwrap();
            let log = Rc::new(RefCell::new(Vec::new()));
            let (tick_log, blocking_log) = (log.clone(), log.clone());
            let (release, released) = mpsc::channel::<()>();
            executor.spawn(async move {
                for _ in 0..3 {
                    sleep(Duration::from_millis(1)).await;
                    tick_log.borrow_mut().push("tick");
                }
                let _ = release.send(()); // only now may the blocking work end
            });
            executor
                .block_on(async move {
                    let done = spawn_blocking(move || released.recv().is_ok()).await;
                    blocking_log.borrow_mut().push("blocking work done");
                    done
                })
                .unwrap()
                .unwrap();
            // The ticks ran while the blocking work waited on its thread.
            assert_eq!(
                *log.borrow(),
                ["tick", "tick", "tick", "blocking work done"]
            );
        });
    }

    #[test]
    fn a_panic_in_blocking_work_is_an_error_and_the_pool_goes_on() {
        bounded(|| {
            let mut executor = Executor::new().unwrap();
            let (panicked, after) = executor
                .block_on(async {
                    let panicked = spawn_blocking(|| panic!("lookup exploded")).await;
                    let after = spawn_blocking(|| "still here").await;
                    (panicked, after)
                })
                .unwrap();
            assert_eq!(panicked, Err(JoinError::Panicked("lookup exploded".into())));
            assert_eq!(after, Ok("still here"));
        });
    }

    /// How many of the pool's threads wait for work.
    fn idle(pool: &BlockingPool) -> usize {
        pool.shared.lock().idle
    }

    /// Issue 22, bug 1: four jobs submitted in one poll while one warm thread is idle. Each
    /// waits for the other three (a rendezvous), so they can only finish if they run at once;
    /// the peak number of jobs running together is counted, not timed. The wait has a
    /// fail-safe (two seconds), so that a pool too small fails the test instead of hanging it.
    #[test]
    fn jobs_submitted_together_each_get_a_thread_when_none_is_idle() {
        bounded(|| {
            let mut executor = Executor::new().unwrap();
            // One warm thread, waiting for work.
            executor
                .block_on(async { spawn_blocking(|| ()).await })
                .unwrap()
                .unwrap();
            while idle(executor.pool()) == 0 {
                thread::yield_now();
            }
            let running = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));
            let arrived = Arc::new(AtomicUsize::new(0));
            let jobs = (0..MAX_THREADS).map(|_| {
                let (running, peak, arrived) = (running.clone(), peak.clone(), arrived.clone());
                spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let give_up = std::time::Instant::now() + Duration::from_secs(2);
                    let mut met = false;
                    while !met && std::time::Instant::now() < give_up {
                        met = arrived.load(Ordering::SeqCst) == MAX_THREADS;
                        thread::sleep(Duration::from_millis(1));
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    met
                })
            });
            let met = executor
                .block_on(async move { crate::stage5::join_all(jobs).await })
                .unwrap();
            let peak = peak.load(Ordering::SeqCst);
            println!("peak {peak} jobs at once, met: {met:?}");
            assert_eq!(
                peak, MAX_THREADS,
                "jobs submitted together ran {peak} at a time"
            );
            assert!(met.iter().all(|met| *met == Ok(true)), "{met:?}");
            assert_eq!(executor.pool().threads(), MAX_THREADS);
        });
    }

    #[test]
    fn the_pool_never_starts_more_than_max_threads() {
        bounded(|| {
            let mut executor = Executor::new().unwrap();
            let results = executor
                .block_on(async {
                    let work = (0..20).map(|n| {
                        spawn_blocking(move || {
                            thread::sleep(Duration::from_millis(5));
                            n * 2
                        })
                    });
                    crate::stage5::join_all(work).await
                })
                .unwrap();
            let results: Vec<u32> = results.into_iter().map(Result::unwrap).collect();
            assert_eq!(results, (0..20).map(|n| n * 2).collect::<Vec<_>>());
            let threads = executor.pool().threads();
            assert!((1..=MAX_THREADS).contains(&threads), "{threads} threads");
        });
    }
}
