//! Test-only helpers: a tiny executor that runs futures step by step, so a test can stop
//! between steps and look at the state, and wakers that record whether they were woken.
//! No reactor, no timers: what wakes these tasks is the code under test (or the test itself).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// A waker that remembers it was woken.
#[derive(Default)]
pub struct Flag {
    woken: AtomicBool,
}

impl Flag {
    pub fn get(&self) -> bool {
        self.woken.load(Ordering::SeqCst)
    }

    fn take(&self) -> bool {
        self.woken.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
    }
}

/// A waker and the flag it sets.
pub fn flag_waker() -> (Waker, Arc<Flag>) {
    let flag = Arc::new(Flag::default());
    (Waker::from(Arc::clone(&flag)), flag)
}

/// Polls `future` once with a waker nobody listens to.
pub fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// A future that is ready once `condition` holds. It does not arrange to be woken: the test
/// that flips the condition calls [`Pool::wake_all`].
pub async fn until(condition: impl Fn() -> bool) {
    std::future::poll_fn(|_| {
        if condition() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// A future that wakes itself and returns `Pending` once, then is ready: one trip through
/// the ready queue, whatever the executor.
pub async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// The tasks of a test, each with the flag its waker sets. `run_until_stalled` polls the
/// woken ones until none is woken any more.
#[derive(Default)]
pub struct Pool {
    tasks: Vec<Option<(Task, Arc<Flag>)>>,
}

/// Which task of a [`Pool`].
#[derive(Clone, Copy, Debug)]
pub struct TaskId(usize);

impl Pool {
    pub fn new() -> Pool {
        Pool::default()
    }

    /// Adds a task, woken so that the next run polls it.
    pub fn spawn(&mut self, future: impl Future<Output = ()> + 'static) -> TaskId {
        let flag = Arc::new(Flag::default());
        flag.woken.store(true, Ordering::SeqCst);
        self.tasks.push(Some((Box::pin(future), flag)));
        TaskId(self.tasks.len() - 1)
    }

    /// Polls woken tasks until none is woken.
    pub fn run_until_stalled(&mut self) {
        for _ in 0..10_000 {
            let mut polled = false;
            for slot in &mut self.tasks {
                let Some((task, flag)) = slot else { continue };
                if !flag.take() {
                    continue;
                }
                polled = true;
                let waker = Waker::from(Arc::clone(flag));
                if task
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_ready()
                {
                    *slot = None;
                }
            }
            if !polled {
                return;
            }
        }
        panic!("the tasks keep waking each other up");
    }

    /// Wakes every task (for conditions that do not wake by themselves).
    pub fn wake_all(&mut self) {
        for (_, flag) in self.tasks.iter().flatten() {
            flag.wake_by_ref();
        }
    }

    /// Cancels a task the way an executor does: by dropping its future.
    pub fn cancel(&mut self, task: TaskId) {
        self.tasks[task.0] = None;
    }

    /// How many tasks have not finished.
    pub fn unfinished(&self) -> usize {
        self.tasks.iter().flatten().count()
    }
}
