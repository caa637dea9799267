//! The promises of this stage, one test each.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mio::{Interest, Token};

use super::*;

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn pair() -> (mio::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    (mio::net::TcpStream::from_std(client), server)
}

fn readable(token: Token) -> Readiness {
    Readiness {
        token,
        readable: true,
        writable: false,
        error: false,
        read_closed: false,
    }
}

#[test]
fn a_callback_added_after_set_result_still_runs() {
    let mut event_loop = EventLoop::new().unwrap();
    let future = event_loop.create_future::<u32>();
    future.set_result(7);
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    future.add_done_callback(move |_, future| g.set(future.result()));
    assert_eq!(got.get(), None, "the callback must not run inline");
    assert!(event_loop.run_until(soon()).unwrap());
    assert_eq!(got.get(), Some(7));
}

#[test]
fn resolving_inside_a_callback_does_not_recurse() {
    // A chain of Futures, each resolved by the callback of the one before. If `set_result`
    // ran callbacks inline, the chain would be one deep recursion (and overflow the stack).
    const CHAIN: usize = 20_000;
    let mut event_loop = EventLoop::new().unwrap();
    let futures: Vec<Future<usize>> = (0..CHAIN).map(|_| event_loop.create_future()).collect();
    let depth = Rc::new(Cell::new(0));
    let deepest = Rc::new(Cell::new(0));
    let ran = Rc::new(Cell::new(0));
    for i in 0..CHAIN {
        let next = futures.get(i + 1).cloned();
        let (depth, deepest, ran) = (depth.clone(), deepest.clone(), ran.clone());
        futures[i].add_done_callback(move |_, future| {
            depth.set(depth.get() + 1);
            deepest.set(deepest.get().max(depth.get()));
            ran.set(ran.get() + 1);
            if let Some(next) = next {
                next.set_result(future.result().unwrap() + 1);
            }
            depth.set(depth.get() - 1);
        });
    }
    futures[0].set_result(0);
    assert!(event_loop.run_until(soon()).unwrap());
    assert_eq!(ran.get(), CHAIN);
    assert_eq!(deepest.get(), 1, "a callback ran inside another one");
    assert_eq!(futures[CHAIN - 1].result(), Some(CHAIN - 1));
}

#[test]
fn readiness_resolves_the_future_of_its_token() {
    let mut event_loop = EventLoop::new().unwrap();
    let (mut client, mut server) = pair();
    let token = event_loop
        .register(&mut client, Interest::READABLE)
        .unwrap();
    let future = event_loop.when_ready(token);
    server.write_all(b"hello").unwrap();
    let unregistered = Rc::new(Cell::new(false));
    let u = unregistered.clone();
    let client = Rc::new(RefCell::new(client));
    let c = client.clone();
    future.add_done_callback(move |event_loop, _| {
        event_loop.unregister(token, &mut *c.borrow_mut()).unwrap();
        u.set(true);
    });
    // Stops by itself once nothing is registered and nothing is ready.
    assert!(event_loop.run_until(soon()).unwrap());
    assert!(unregistered.get());
    let ready = future.result().unwrap();
    assert_eq!((ready.token, ready.readable), (token, true));
    assert_eq!(event_loop.registered(), 0);
}

#[test]
fn returns_at_the_deadline_when_nothing_happens() {
    let mut event_loop = EventLoop::new().unwrap();
    let (mut client, _server) = pair();
    let token = event_loop
        .register(&mut client, Interest::READABLE)
        .unwrap();
    let future = event_loop.when_ready(token);
    let done = event_loop
        .run_until(Instant::now() + Duration::from_millis(20))
        .unwrap();
    assert!(!done);
    assert!(!future.done());
    assert_eq!(event_loop.registered(), 1);
}

#[test]
fn the_loop_does_not_sleep_while_callbacks_are_ready() {
    // A source that never fires is registered; a callback schedules another one, which
    // unregisters it. If the loop slept in `poll` before running the second callback, that
    // callback would run only once `poll` gave up, at the deadline.
    let mut event_loop = EventLoop::new().unwrap();
    let (client, _server) = pair();
    let client = Rc::new(RefCell::new(client));
    let token = event_loop
        .register(&mut *client.borrow_mut(), Interest::READABLE)
        .unwrap();
    let ran_at = Rc::new(Cell::new(None));
    let r = ran_at.clone();
    event_loop.call_soon(move |event_loop| {
        event_loop.call_soon(move |event_loop| {
            r.set(Some(Instant::now()));
            event_loop
                .unregister(token, &mut *client.borrow_mut())
                .unwrap();
        });
    });
    let deadline = soon();
    assert!(event_loop.run_until(deadline).unwrap());
    assert!(
        ran_at.get().unwrap() < deadline,
        "the loop slept with work ready"
    );
}

/// Waits once on a Future resolved from the ready queue, then returns `output`.
struct WaitOnce {
    output: u32,
    waited: bool,
}

impl Coroutine for WaitOnce {
    type Output = u32;

    fn send(&mut self, event_loop: &mut EventLoop, _value: Option<Readiness>) -> Step<u32> {
        if self.waited {
            return Step::Return(self.output);
        }
        self.waited = true;
        let future = event_loop.create_future();
        let resolve = future.clone();
        event_loop.call_soon(move |_| resolve.set_result(readable(Token(0))));
        Step::Wait(future)
    }
}

#[test]
fn a_tasks_output_can_be_waited_on() {
    let mut event_loop = EventLoop::new().unwrap();
    let coroutine = WaitOnce {
        output: 42,
        waited: false,
    };
    let task = Task::new(&mut event_loop, "answer", coroutine);
    assert_eq!(task.steps(), 0, "creating a Task runs nothing");
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    task.future()
        .add_done_callback(move |_, output| g.set(output.result()));
    assert!(event_loop.run_until(soon()).unwrap());
    assert_eq!(got.get(), Some(42));
    assert_eq!(task.steps(), 2);
    assert_eq!(task.future().take_result(), Some(42));
}

/// A fetch reduced to its states, like the crawler's stage 2 `Fetch`: wait until connected,
/// send a request, read until the end of the stream.
struct MiniFetch {
    stream: mio::net::TcpStream,
    token: Option<Token>,
    state: MiniState,
    received: Vec<u8>,
}

enum MiniState {
    Start,
    Connecting,
    Reading,
}

impl Coroutine for MiniFetch {
    type Output = io::Result<Vec<u8>>;

    fn send(
        &mut self,
        event_loop: &mut EventLoop,
        _value: Option<Readiness>,
    ) -> Step<Self::Output> {
        match self.resume(event_loop) {
            Ok(Some(future)) => Step::Wait(future),
            Ok(None) => Step::Return(Ok(std::mem::take(&mut self.received))),
            Err(e) => Step::Return(Err(e)),
        }
    }
}

impl MiniFetch {
    /// `Ok(Some(future))` to wait, `Ok(None)` at the end of the stream.
    fn resume(&mut self, event_loop: &mut EventLoop) -> io::Result<Option<Future<Readiness>>> {
        match self.state {
            MiniState::Start => {
                let token = event_loop.register(&mut self.stream, Interest::WRITABLE)?;
                self.token = Some(token);
                self.state = MiniState::Connecting;
                Ok(Some(event_loop.when_ready(token)))
            }
            MiniState::Connecting => {
                let token = self.token.unwrap();
                self.stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?; // small: one write
                event_loop.modify(token, &mut self.stream, Interest::READABLE)?;
                self.state = MiniState::Reading;
                Ok(Some(event_loop.when_ready(token)))
            }
            MiniState::Reading => {
                let token = self.token.unwrap();
                let mut buf = [0u8; 4096];
                loop {
                    match self.stream.read(&mut buf) {
                        Ok(0) => {
                            event_loop.unregister(token, &mut self.stream)?;
                            return Ok(None);
                        }
                        Ok(n) => self.received.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            return Ok(Some(event_loop.when_ready(token)));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

#[test]
fn a_fetch_takes_the_steps_its_state_machine_predicts() {
    // The server has answered and closed its side before the fetch runs, so every wait is
    // for exactly one event: step 1 registers and waits to be connected; step 2 sends and
    // waits to be readable; step 3 reads the whole response and the end of the stream.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = mio::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    server.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello").unwrap();
    server.shutdown(std::net::Shutdown::Write).unwrap();

    let mut event_loop = EventLoop::new().unwrap();
    let fetch = MiniFetch {
        stream,
        token: None,
        state: MiniState::Start,
        received: Vec::new(),
    };
    let task = Task::new(&mut event_loop, "mini fetch", fetch);
    assert!(event_loop.run_until(soon()).unwrap());
    let response = task.future().take_result().unwrap().unwrap();
    assert_eq!(response, b"HTTP/1.0 200 OK\r\n\r\nhello");
    assert_eq!(task.steps(), 3);

    let mut request = [0u8; 18];
    server.read_exact(&mut request).unwrap();
    assert_eq!(&request, b"GET / HTTP/1.0\r\n\r\n");
}

/// Registers a source and waits on it forever; `close` unregisters it.
struct WaitForever {
    client: mio::net::TcpStream,
    token: Option<Token>,
    closed: Rc<Cell<bool>>,
}

impl Coroutine for WaitForever {
    type Output = ();

    fn send(&mut self, event_loop: &mut EventLoop, _value: Option<Readiness>) -> Step<()> {
        let token = match self.token {
            Some(token) => token,
            None => event_loop
                .register(&mut self.client, Interest::READABLE)
                .unwrap(),
        };
        self.token = Some(token);
        Step::Wait(event_loop.when_ready(token))
    }

    fn close(&mut self, event_loop: &mut EventLoop) {
        if let Some(token) = self.token.take() {
            event_loop.unregister(token, &mut self.client).unwrap();
        }
        self.closed.set(true);
    }
}

#[test]
fn closing_a_task_lets_its_coroutine_release_what_it_holds() {
    let mut event_loop = EventLoop::new().unwrap();
    let (client, _server) = pair();
    let closed = Rc::new(Cell::new(false));
    let coroutine = WaitForever {
        client,
        token: None,
        closed: closed.clone(),
    };
    let task = Task::new(&mut event_loop, "forever", coroutine);
    let deadline = Instant::now() + Duration::from_millis(20);
    assert!(!event_loop.run_until(deadline).unwrap());
    assert_eq!((task.steps(), event_loop.registered()), (1, 1));
    task.close(&mut event_loop);
    assert!(closed.get());
    assert_eq!(event_loop.registered(), 0);
    assert!(!task.future().done());
}
