//! The promises of this stage, one test each.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mio::{Interest, Token};

use super::*;

fn pair() -> (mio::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    (mio::net::TcpStream::from_std(client), server)
}

#[test]
fn runs_the_callback_of_the_ready_source_and_stops_when_nothing_is_registered() {
    let mut el = EventLoop::new().unwrap();
    let (client, mut server) = pair();
    let client = Rc::new(RefCell::new(client));
    let got = Rc::new(RefCell::new(Vec::new()));
    let (c, g) = (client.clone(), got.clone());
    let token = el
        .register(
            &mut *client.borrow_mut(),
            Interest::READABLE,
            Box::new(move |el, ready| {
                let mut buf = [0u8; 16];
                // Drain until WouldBlock: mio is edge-triggered.
                loop {
                    let read = c.borrow_mut().read(&mut buf);
                    match read {
                        Ok(0) => {
                            el.unregister(ready.token, &mut *c.borrow_mut()).unwrap();
                            return;
                        }
                        Ok(n) => g.borrow_mut().extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) => panic!("{e}"),
                    }
                }
            }),
        )
        .unwrap();
    assert_eq!(token, Token(0));
    server.write_all(b"hello").unwrap();
    drop(server);
    let done = el
        .run_until(Instant::now() + Duration::from_secs(5))
        .unwrap();
    assert!(done);
    assert_eq!(&*got.borrow(), b"hello");
    assert_eq!(el.registered(), 0);
}

#[test]
fn returns_at_the_deadline_when_nothing_happens() {
    let mut el = EventLoop::new().unwrap();
    let (mut client, _server) = pair();
    el.register(&mut client, Interest::READABLE, Box::new(|_, _| {}))
        .unwrap();
    let done = el
        .run_until(Instant::now() + Duration::from_millis(20))
        .unwrap();
    assert!(!done);
    assert_eq!(el.registered(), 1);
}

#[test]
fn a_callback_can_replace_itself() {
    let mut el = EventLoop::new().unwrap();
    let (client, mut server) = pair();
    let client = Rc::new(RefCell::new(client));
    let calls = Rc::new(RefCell::new(Vec::new()));
    let (c, log) = (client.clone(), calls.clone());
    el.register(
        &mut *client.borrow_mut(),
        Interest::WRITABLE,
        Box::new(move |el, ready| {
            log.borrow_mut().push("first");
            let (c2, log2) = (c.clone(), log.clone());
            el.modify(
                ready.token,
                &mut *c.borrow_mut(),
                Interest::READABLE,
                Box::new(move |el, ready| {
                    log2.borrow_mut().push("second");
                    el.unregister(ready.token, &mut *c2.borrow_mut()).unwrap();
                }),
            )
            .unwrap();
        }),
    )
    .unwrap();
    server.write_all(b"x").unwrap();
    assert!(
        el.run_until(Instant::now() + Duration::from_secs(5))
            .unwrap()
    );
    assert_eq!(&*calls.borrow(), &["first", "second"]);
}
