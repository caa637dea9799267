//! The executor's promises, checked by counting polls, wakes and drops (the style of the
//! `async-task` crate's tests), and the `TcpStream`'s, against real sockets on 127.0.0.1.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// A future that counts how often it is polled and dropped, keeps the latest waker where a
/// test can wake it, and never ends.
#[derive(Clone, Default)]
struct Probe {
    polls: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
    waker: Arc<Mutex<Option<Waker>>>,
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
}

impl Future for ProbeFuture {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.polls.fetch_add(1, Ordering::SeqCst);
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
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

/// Runs the executor a little: long enough to poll whatever is queued, and to find nothing
/// more to do. Returns whether every task has ended.
fn run_briefly(executor: &mut Executor) -> bool {
    executor
        .run_until(Instant::now() + Duration::from_millis(100))
        .unwrap()
}

#[test]
fn a_task_is_not_polled_without_a_wake() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    executor.spawn(probe.future());
    executor.spawn(yield_rounds(5));
    assert!(!run_briefly(&mut executor));
    assert_eq!(
        probe.polls(),
        1,
        "polled once to start, then never without a wake"
    );
    probe.wake();
    assert!(!run_briefly(&mut executor));
    assert_eq!(probe.polls(), 2);
}

#[test]
fn a_task_woken_twice_before_it_runs_is_polled_once() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    executor.spawn(probe.future());
    run_briefly(&mut executor);
    assert_eq!(probe.polls(), 1);
    probe.wake();
    probe.wake();
    run_briefly(&mut executor);
    assert_eq!(probe.polls(), 2, "two wakes, one poll");
}

#[test]
fn a_task_that_wakes_itself_runs_again_without_an_event() {
    let mut executor = Executor::new().unwrap();
    executor.spawn(yield_rounds(3));
    // Nothing but the task's own wakes can end a park here: no socket, no other thread. Had
    // the executor parked with the task queued, it would sleep to the deadline and stop there.
    let deadline = Instant::now() + Duration::from_secs(5);
    assert!(
        executor.run_until(deadline).unwrap(),
        "stopped at the deadline"
    );
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
fn tasks_still_queued_at_the_deadline_are_polled_by_the_next_run() {
    let mut executor = Executor::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    executor.spawn(async move { flag.set(true) });
    // A deadline already passed: the task stays queued, unpolled.
    assert!(!executor.run_until(Instant::now()).unwrap());
    assert_eq!((ran.get(), executor.tasks()), (false, 1));
    // Had it left the queue still marked as queued, no wake could queue it again.
    assert!(run_briefly(&mut executor));
    assert_eq!((ran.get(), executor.tasks()), (true, 0));
}

#[test]
fn a_task_leaves_its_result_where_its_code_puts_it() {
    let mut executor = Executor::new().unwrap();
    let answer = Rc::new(Cell::new(None));
    let slot = answer.clone();
    let id = executor.spawn(async move { slot.set(Some(6 * 7)) });
    assert_eq!(id, 0, "ids start at 0, as the trace shows them");
    assert!(run_briefly(&mut executor));
    assert_eq!(answer.get(), Some(42));
    assert_eq!(executor.spawn(async {}), 1, "an id is never reused");
}

#[test]
fn at_the_deadline_unfinished_tasks_stay_until_the_executor_is_dropped() {
    let mut executor = Executor::new().unwrap();
    let probe = Probe::default();
    executor.spawn(probe.future());
    assert!(!run_briefly(&mut executor), "the probe never ends");
    assert_eq!((probe.polls(), probe.drops(), executor.tasks()), (1, 0, 1));
    drop(executor);
    assert_eq!(probe.drops(), 1);
}

#[test]
fn dropping_a_pending_read_deregisters_its_source() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut executor = Executor::new().unwrap();
    let reactor: Rc<RefCell<Option<Rc<Reactor>>>> = Rc::default();
    let reading = reactor.clone();
    executor.spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        *reading.borrow_mut() = Some(Reactor::current().unwrap());
        let mut buf = [0u8; 16];
        let _ = stream.read(&mut buf).await; // the server never writes: this stays pending
    });
    // The task connects when it is first polled; the kernel completes the handshake even
    // before the server accepts.
    let until = Instant::now() + Duration::from_secs(10);
    while reactor.borrow().is_none() && Instant::now() < until {
        run_briefly(&mut executor);
    }
    let reactor = reactor.take().expect("the task never got to its read");
    let (mut server, _) = listener.accept().unwrap();
    assert_eq!((executor.tasks(), reactor.sources()), (1, 1));

    // Dropping the executor drops the task, and with it the stream and its read.
    drop(executor);
    assert_eq!(reactor.sources(), 0, "the source is deregistered");
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
    let reply = Rc::new(RefCell::new(Vec::new()));
    let into = reply.clone();
    executor.spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut buf = [0u8; 4];
        loop {
            match stream.read(&mut buf).await.unwrap() {
                0 => return,
                n => into.borrow_mut().extend_from_slice(&buf[..n]),
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    assert!(executor.run_until(deadline).unwrap());
    assert_eq!(*reply.borrow(), b"thanks");
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
    let error = Rc::new(Cell::new(None));
    let slot = error.clone();
    executor.spawn(async move { slot.set(TcpStream::connect(addr).await.err()) });
    assert!(
        executor
            .run_until(Instant::now() + Duration::from_secs(10))
            .unwrap()
    );
    let err = error.take().expect("nothing listens there");
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
