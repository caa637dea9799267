//! The executor's promises, checked by counting polls, wakes and drops (the style of the
//! `async-task` crate's tests), and the `TcpStream`'s, against real sockets on 127.0.0.1.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// A future that counts how often it is polled and dropped, keeps the latest waker where a
/// test (or another thread) can wake it, and ends once `finish` was called.
#[derive(Clone, Default)]
struct Probe {
    polls: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
    waker: Arc<Mutex<Option<Waker>>>,
    done: Arc<AtomicBool>,
}

struct ProbeFuture(Probe);

impl Probe {
    fn future(&self) -> ProbeFuture {
        ProbeFuture(self.clone())
    }

    fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }

    fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    fn wake(&self) {
        let waker = self.waker.lock().unwrap().clone();
        waker.expect("the probe was polled").wake();
    }

    fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        self.wake();
    }
}

impl Future for ProbeFuture {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.polls.fetch_add(1, Ordering::SeqCst);
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.done.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for ProbeFuture {
    fn drop(&mut self) {
        self.0.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Gives the executor `rounds` rounds: each time, wakes itself and returns `Pending` once.
async fn yield_rounds(rounds: usize) {
    for _ in 0..rounds {
        let mut yielded = false;
        poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
    }
}

#[test]
fn a_task_is_not_polled_without_a_wake() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    let _task = executor.spawn(probe.future());
    executor.block_on(yield_rounds(5)).unwrap();
    assert_eq!(
        probe.polls(),
        1,
        "polled once to start, then never without a wake"
    );
    probe.wake();
    executor.block_on(yield_rounds(5)).unwrap();
    assert_eq!(probe.polls(), 2);
}

#[test]
fn a_task_woken_twice_before_it_runs_is_polled_once() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    let _task = executor.spawn(probe.future());
    executor.block_on(yield_rounds(1)).unwrap();
    assert_eq!(probe.polls(), 1);
    probe.wake();
    probe.wake();
    executor.block_on(yield_rounds(5)).unwrap();
    assert_eq!(probe.polls(), 2, "two wakes, one poll");
}

#[test]
fn a_task_that_wakes_itself_runs_again_without_an_event() {
    let mut executor = Executor::new().unwrap();
    // Nothing but the task's own wakes can end a park here: no socket, no other thread. Had
    // the executor parked with the task queued, it would sleep to the deadline and fail.
    let deadline = Instant::now() + Duration::from_secs(10);
    assert!(executor.block_on_until(deadline, yield_rounds(3)).is_ok());
}

#[test]
fn the_reactor_wakes_the_waker_stored_last() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    let mut client = mio::net::TcpStream::from_std(client);
    let reactor = Reactor::new().unwrap();
    let token = reactor.register(&mut client).unwrap();
    let (first, last) = (Probe::default(), Probe::default());
    for probe in [&first, &last] {
        // What a future polled by two tasks in turn does: each poll stores its own waker.
        let waker = Waker::from(Arc::new(CountWakes(probe.polls.clone())));
        reactor.wait_for(token, mio::Interest::READABLE, &waker);
    }
    server.write_all(b"x").unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while last.polls() == 0 && Instant::now() < until {
        reactor.poll(Some(Duration::from_millis(100))).unwrap();
    }
    assert_eq!((first.polls(), last.polls()), (0, 1));
}

/// A waker that counts its wakes.
struct CountWakes(Arc<AtomicUsize>);

impl std::task::Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn tasks_still_queued_when_block_on_returns_are_polled_by_the_next_run() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    let waiting = executor.spawn(probe.future());
    let main_waker: Rc<std::cell::RefCell<Option<Waker>>> = Default::default();
    let (main, other) = (main_waker.clone(), probe.clone());
    // One task wakes `block_on`'s future and then `waiting`: both land in the same round, and
    // the round ends with `main`, before `waiting` is polled.
    let _waker = executor.spawn(async move {
        yield_rounds(1).await;
        main.borrow().clone().unwrap().wake();
        other.wake();
    });
    let mut polled = false;
    executor
        .block_on(poll_fn(|cx| {
            if polled {
                return Poll::Ready(());
            }
            polled = true;
            *main_waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }))
        .unwrap();
    probe.finish();
    // Had `waiting` been dropped from the queue still marked as queued, no wake could queue
    // it again: it would sit until the deadline and be cancelled there.
    let deadline = Instant::now() + Duration::from_secs(10);
    assert_eq!(executor.block_on_until(deadline, waiting).unwrap(), Ok(()));
}

#[test]
fn a_wake_from_another_thread_while_parked_is_not_lost() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    let task = executor.spawn(probe.future());
    let other = probe.clone();
    let waker_thread = thread::spawn(move || {
        // Wait until the task has been polled (and so has stored its waker), then give the
        // executor time to fall asleep in `poll`.
        while other.polls() == 0 {
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(100));
        other.finish();
    });
    let started = Instant::now();
    // Nothing else can end the sleep: no socket, and a deadline far away.
    let joined = executor.block_on_until(started + Duration::from_secs(20), task);
    waker_thread.join().unwrap();
    // Had the wake been lost, the executor would have slept to the deadline and dropped the
    // task there, and its handle would say `Cancelled`: `Ok` proves `poll` was interrupted.
    assert_eq!(joined.unwrap(), Ok(()), "the wake did not interrupt poll");
    assert_eq!(probe.polls(), 2);
}

#[test]
fn a_join_handle_yields_the_output() {
    let mut executor = Executor::new().unwrap();
    let answer = executor.spawn(async { 6 * 7 });
    assert_eq!(executor.block_on(answer).unwrap(), Ok(42));
    // From inside: the free `spawn` finds the running executor.
    let nested = executor.block_on(async { spawn(async { "inner" }).await });
    assert_eq!(nested.unwrap(), Ok("inner"));
    assert_eq!(executor.tasks(), 0);
}

#[test]
fn a_panicking_task_is_reported_through_its_handle() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    let bystander = executor.spawn(probe.future());
    let panicking = executor.spawn(async {
        panic!("boom");
    });
    let joined = executor.block_on(panicking).unwrap();
    assert_eq!(joined, Err(JoinError::Panicked("boom".to_string())));
    // The other task is unharmed and still runs.
    probe.finish();
    assert_eq!(executor.block_on(bystander).unwrap(), Ok(()));
}

#[test]
fn at_the_deadline_unfinished_tasks_are_dropped_and_their_handles_say_cancelled() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    let task = executor.spawn(probe.future());
    let deadline = Instant::now() + Duration::from_millis(30);
    assert_eq!(
        executor.block_on_until(deadline, task).unwrap(),
        Err(JoinError::Cancelled)
    );
    assert_eq!((probe.polls(), probe.drops()), (1, 1));
    assert_eq!(executor.tasks(), 0);
}

#[test]
fn a_block_on_future_still_pending_at_its_deadline_is_an_error() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    let deadline = Instant::now() + Duration::from_millis(10);
    let err = executor
        .block_on_until(deadline, probe.future())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn dropping_an_executor_drops_its_tasks() {
    let probe = Probe::default();
    let mut executor = Executor::new().unwrap();
    let task = executor.spawn(probe.future());
    executor.block_on(yield_rounds(1)).unwrap();
    drop(executor);
    assert_eq!(probe.drops(), 1);
    assert!(task.is_finished());
}

#[test]
fn dropping_a_pending_read_deregisters_its_source() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut executor = Executor::new().unwrap();
    let reading = Rc::new(Cell::new(false));
    let started = reading.clone();
    let task = executor.spawn(async move {
        let mut stream = TcpStream::connect(addr).await?;
        started.set(true);
        let mut buf = [0u8; 16];
        stream.read(&mut buf).await // the server never writes: this read stays pending
    });
    // The task connects when it is first polled; the kernel completes the handshake even
    // before the server accepts.
    let until = Instant::now() + Duration::from_secs(10);
    while !reading.get() && Instant::now() < until {
        executor.block_on(yield_rounds(1)).unwrap();
    }
    assert!(reading.get(), "the task never got to its read");
    let (mut server, _) = listener.accept().unwrap();
    assert_eq!((executor.tasks(), executor.reactor().sources()), (1, 1));

    // A deadline that has passed drops the task, and with it the stream and its read.
    let joined = executor.block_on_until(Instant::now(), task).unwrap();
    assert_eq!(joined.unwrap_err(), JoinError::Cancelled);
    assert_eq!(
        executor.reactor().sources(),
        0,
        "the source is deregistered"
    );
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        server.read(&mut [0u8; 16]).unwrap(),
        0,
        "the client socket is closed"
    );
}

#[test]
fn a_stream_connects_writes_everything_and_reads_to_the_end() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Far more than a socket buffer holds: the writes are short and must wait.
    let request = vec![b'x'; 8 << 20];
    let expected = request.len();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut received = vec![0u8; expected];
        conn.read_exact(&mut received).unwrap();
        conn.write_all(b"thanks").unwrap();
        received.len()
    });
    let mut executor = Executor::new().unwrap();
    let reply = executor
        .block_on(async {
            let mut stream = TcpStream::connect(addr).await?;
            stream.write_all(&request).await?;
            let mut reply = Vec::new();
            let mut buf = [0u8; 4];
            loop {
                match stream.read(&mut buf).await? {
                    0 => return Ok::<_, std::io::Error>(reply),
                    n => reply.extend_from_slice(&buf[..n]),
                }
            }
        })
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"thanks");
    assert_eq!(server.join().unwrap(), expected);
    assert_eq!(executor.reactor().sources(), 0);
}

#[test]
fn a_refused_connect_is_an_error_and_leaves_no_source() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut executor = Executor::new().unwrap();
    let result = executor.block_on(TcpStream::connect(addr)).unwrap();
    let err = result.err().expect("nothing listens there");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(executor.reactor().sources(), 0);
}

#[test]
fn connect_outside_an_executor_is_an_error_not_a_panic() {
    let addr = "127.0.0.1:9".parse().unwrap();
    let mut connect = std::pin::pin!(TcpStream::connect(addr));
    let mut cx = Context::from_waker(Waker::noop());
    match connect.as_mut().poll(&mut cx) {
        Poll::Ready(Err(e)) => assert!(e.to_string().contains("no executor"), "{e}"),
        _ => panic!("expected an error"),
    }
}

// Stage 5: cancellation by `abort`, and `select` with real sockets and timers.

/// Runs the executor until `done` holds (or gives up after many rounds).
fn run_until(executor: &mut Executor, done: impl Fn(&Executor) -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done(executor) && Instant::now() < until {
        executor.block_on(yield_rounds(1)).unwrap();
    }
    assert!(done(executor), "the condition never held");
}

#[test]
fn an_aborted_task_ends_at_its_next_suspension_point_and_releases_everything() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut executor = Executor::new().unwrap();
    let task = executor.spawn(async move {
        let mut stream = TcpStream::connect(addr).await?;
        let mut buf = [0u8; 16];
        // Waits on a socket and a timer at once; neither will ever fire.
        match select(stream.read(&mut buf), sleep(Duration::from_secs(3600))).await {
            Either::Left(read) => read,
            Either::Right(()) => Ok(0),
        }
    });
    run_until(&mut executor, |e| {
        e.reactor().sources() == 1 && e.reactor().timers() == 1
    });
    let (_server, _) = listener.accept().unwrap();

    let joined = executor
        .block_on(async {
            task.abort();
            task.await
        })
        .unwrap();
    assert_eq!(joined.unwrap_err(), JoinError::Cancelled);
    assert_eq!(executor.tasks(), 0);
    assert_eq!(
        executor.reactor().sources(),
        0,
        "the socket is deregistered"
    );
    assert_eq!(executor.reactor().timers(), 0, "the timer is removed");
}

#[test]
fn abort_after_the_end_changes_nothing_and_a_task_may_abort_itself() {
    let mut executor = Executor::new().unwrap();
    let done = executor.spawn(async { 7 });
    executor.block_on(yield_rounds(2)).unwrap();
    done.abort();
    assert_eq!(executor.block_on(done).unwrap(), Ok(7));

    // A task that aborts itself runs on to its next `.await`, and no further.
    let handle = Rc::new(Cell::new(None::<JoinHandle<()>>));
    let reached = Rc::new(Cell::new(0));
    let (me, counter) = (handle.clone(), reached.clone());
    let selfish = executor.spawn(async move {
        if let Some(me) = me.take() {
            me.abort();
        }
        counter.set(1);
        yield_rounds(1).await;
        counter.set(2);
    });
    handle.set(Some(selfish));
    executor.block_on(yield_rounds(3)).unwrap();
    assert_eq!(reached.get(), 1);
    assert_eq!(executor.tasks(), 0);
}

// Panics in a task's `Drop`, and a nested `block_on` (issue 22, bugs 2 and 5).

/// Panics when dropped: a future whose cancellation goes wrong.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("boom in drop");
    }
}

/// A task that holds a `PanicOnDrop` across an `.await` that never ends.
async fn panics_when_cancelled() {
    let _guard = PanicOnDrop;
    std::future::pending::<()>().await
}

fn panicked_in_drop(joined: Result<(), JoinError>) -> bool {
    matches!(joined, Err(JoinError::Panicked(message)) if message == "boom in drop")
}

#[test]
fn a_panic_in_drop_when_aborted_is_the_tasks_panic_and_the_executor_goes_on() {
    let mut executor = Executor::new().unwrap();
    let (joined, seven) = executor
        .block_on(async {
            let cancelled = spawn(panics_when_cancelled());
            yield_rounds(1).await;
            cancelled.abort();
            let seven = spawn(async { 7 });
            (cancelled.await, seven.await)
        })
        .unwrap();
    assert!(panicked_in_drop(joined));
    assert_eq!(seven, Ok(7), "the other task still ran");
    assert_eq!(executor.tasks(), 0, "no task left behind");
}

#[test]
fn a_panic_in_drop_at_the_deadline_is_the_tasks_panic_and_no_task_is_forgotten() {
    let mut executor = Executor::new().unwrap();
    let cancelled = executor.spawn(panics_when_cancelled());
    let probe = Probe::default();
    let other = executor.spawn(probe.future());
    let deadline = Instant::now() + Duration::from_millis(20);
    let joined = executor.block_on_until(deadline, cancelled).unwrap();
    assert!(panicked_in_drop(joined));
    assert_eq!(probe.drops(), 1, "the other task was dropped too");
    assert_eq!(executor.tasks(), 0);
    assert_eq!(executor.block_on(other).unwrap(), Err(JoinError::Cancelled));
}

#[test]
fn a_panic_in_drop_with_the_executor_is_the_tasks_panic() {
    let mut executor = Executor::new().unwrap();
    let cancelled = executor.spawn(panics_when_cancelled());
    let probe = Probe::default();
    let _other = executor.spawn(probe.future());
    executor.block_on(yield_rounds(1)).unwrap();
    drop(executor);
    assert_eq!(probe.drops(), 1, "every task was dropped");
    let joined = Executor::new().unwrap().block_on(cancelled).unwrap();
    assert!(panicked_in_drop(joined));
}

#[test]
fn a_nested_block_on_panics_at_once_and_says_why() {
    let mut executor = Executor::new().unwrap();
    let nested = executor.spawn(async {
        let _ = Executor::new().unwrap().block_on(async { 1 });
    });
    match executor.block_on(nested).unwrap() {
        Err(JoinError::Panicked(message)) => {
            assert!(message.contains("inside a task"), "{message}")
        }
        other => panic!("the nested block_on did not panic: {other:?}"),
    }
}
