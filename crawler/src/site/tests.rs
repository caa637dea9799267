//! The site's tests: each starts a real site on a free port and talks to it over TCP, the
//! way a crawler would, and the link graph is also walked without a network.

use super::pages::{MAX_HEAD_BYTES, Page, links, parse_page};
use super::*;
use socket2::{Domain, Socket, Type};
use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream as StdStream};
use std::sync::Barrier;
use std::time::Instant;

/// A response as a test sees it.
struct Got {
    status: u16,
    head: String,
    body: String,
}

fn site(delay_ms: u64) -> Site {
    let config = SiteConfig {
        delay: Duration::from_millis(delay_ms),
        ..SiteConfig::default()
    };
    Site::start(config).expect("the site starts")
}

fn connect(addr: SocketAddr) -> StdStream {
    let stream = StdStream::connect(addr).expect("connect");
    // Bounds every test: a site that never answers fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads a whole response (the site closes after it) and splits it.
fn read_response(mut stream: StdStream) -> Got {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read the response");
    let text = String::from_utf8(bytes).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    Got {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn send(addr: SocketAddr, raw: &[u8]) -> Got {
    let mut stream = connect(addr);
    stream.write_all(raw).unwrap();
    read_response(stream)
}

fn get(addr: SocketAddr, target: &str) -> Got {
    send(
        addr,
        format!("GET {target} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// Waits (at most 5 s) until `condition` holds; for counters that change just after a
/// client saw its answer.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn content_length(got: &Got) -> usize {
    got.head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .expect("a Content-Length header")
}

#[test]
fn paths_and_urls_list_the_pages() {
    assert_eq!(paths(0), Vec::<String>::new());
    assert_eq!(paths(3), ["/", "/1", "/2"]);
    let site = site(0);
    let port = site.addr().port();
    assert_eq!(site.url("/7"), format!("http://127.0.0.1:{port}/7"));
    assert_eq!(
        site.urls(2),
        [
            format!("http://127.0.0.1:{port}/"),
            format!("http://127.0.0.1:{port}/1")
        ]
    );
    assert_eq!(site.config().port, port);
}

#[test]
fn serves_the_root_and_a_page_with_their_links() {
    let site = site(10);
    let root = get(site.addr(), "/");
    assert_eq!(root.status, 200);
    assert!(
        root.head.starts_with("HTTP/1.0 200 OK\r\n"),
        "{}",
        root.head
    );
    assert!(root.head.contains("Content-Type: text/html"));
    assert!(root.head.contains("Connection: close"));
    assert_eq!(content_length(&root), root.body.len());
    for n in 1..10 {
        assert!(
            root.body.contains(&format!("href=\"/{n}\"")),
            "{}",
            root.body
        );
    }
    assert!(!root.body.contains("href=\"/10\""));

    let three = get(site.addr(), "/3");
    assert_eq!(three.status, 200);
    assert_eq!(content_length(&three), three.body.len());
    assert!(three.body.contains("href=\"/\""));
    assert!(three.body.contains("href=\"/4\""));

    // Any number is a page; outside the graph it links only back to the root.
    let far = get(site.addr(), "/9999");
    assert_eq!(far.status, 200);
    assert_eq!(far.body.matches("href=").count(), 1);
    assert_eq!(site.requests(), 3);
}

#[test]
fn the_link_graph_from_the_root_covers_exactly_the_pages() {
    for pages in [1, 2, 3, 10, 57] {
        let mut seen = BTreeSet::from(["/".to_string()]);
        let mut queue = VecDeque::from([Page::Root]);
        while let Some(page) = queue.pop_front() {
            for link in links(page, pages) {
                if seen.insert(link.clone()) {
                    queue.push_back(parse_page(&link).expect("a link to a page"));
                }
            }
        }
        let expected: BTreeSet<String> = paths(pages).into_iter().collect();
        assert_eq!(seen, expected, "pages = {pages}");
    }
    // The same over the network, on a small site.
    let site = Site::start(SiteConfig {
        delay: Duration::ZERO,
        pages: 4,
        ..SiteConfig::default()
    })
    .unwrap();
    let two = get(site.addr(), "/2");
    assert!(two.body.contains("href=\"/3\""));
    let three = get(site.addr(), "/3");
    assert!(
        three.body.contains("href=\"/1\""),
        "the last page links to /1"
    );
}

#[test]
fn anything_else_is_an_error() {
    let site = site(0);
    for target in [
        "/nope",
        "/1x",
        "/-1",
        "/01",
        "/1/2",
        "/99999999999999999999999",
    ] {
        let got = get(site.addr(), target);
        assert_eq!(got.status, 404, "{target}");
        assert_eq!(content_length(&got), got.body.len());
    }
    let post = send(site.addr(), b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.status, 405);
    let garbage = send(site.addr(), b"\x01\x02 nonsense\r\n\r\n");
    assert_eq!(garbage.status, 400);
    let bad_delay = get(site.addr(), "/3?delay_ms=soon");
    assert_eq!(bad_delay.status, 400);
    assert!(bad_delay.body.contains("delay_ms"));
}

#[test]
fn a_request_head_over_the_limit_gets_400() {
    let site = site(0);
    let mut raw = b"GET / HTTP/1.0\r\nX-Filler: ".to_vec();
    raw.resize(MAX_HEAD_BYTES + 100, b'a');
    let got = send(site.addr(), &raw);
    assert_eq!(got.status, 400);
    assert!(got.body.contains("too large"));
}

#[test]
fn delay_ms_overrides_the_delay_per_request() {
    let site = site(200);
    let got = get(site.addr(), "/3?delay_ms=0");
    assert_eq!(got.status, 200);
    assert!(got.body.contains("href=\"/4\""));
    let got = get(site.addr(), "/?x=1&delay_ms=20");
    assert_eq!(got.status, 200);
}

#[test]
fn ten_concurrent_clients_make_a_peak_of_ten() {
    let site = site(200);
    let addr = site.addr();
    let start = Arc::new(Barrier::new(10));
    let clients: Vec<_> = (0..10)
        .map(|n| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                get(addr, &format!("/{n}")).status
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), 200);
    }
    assert_eq!(site.peak_connections(), 10);
    assert_eq!(site.requests(), 10);
    assert_eq!(site.open_connections(), 0);
}

#[test]
fn sequential_clients_make_a_peak_of_one() {
    let site = site(10);
    for target in paths(5) {
        assert_eq!(get(site.addr(), &target).status, 200);
    }
    assert_eq!(site.peak_connections(), 1);
    assert_eq!(site.requests(), 5);
    assert_eq!(site.open_connections(), 0);

    site.reset_counters();
    assert_eq!(site.requests(), 0);
    assert_eq!(site.peak_connections(), 0);
}

#[test]
fn misbehaving_clients_do_not_stop_the_site() {
    let site = site(50);
    let addr = site.addr();

    // Connects and leaves without a word.
    drop(connect(addr));

    // Sends half a request, then resets the connection.
    let half = connect(addr);
    (&half).write_all(b"GET /1 HT").unwrap();
    socket2::SockRef::from(&half)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(half);

    // Sends a whole request, then resets while the site waits to answer.
    let impatient = connect(addr);
    (&impatient).write_all(b"GET /2 HTTP/1.0\r\n\r\n").unwrap();
    socket2::SockRef::from(&impatient)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(impatient);

    // Sends a request and closes its writing half: still a fine HTTP/1.0 client.
    let half_closed = connect(addr);
    (&half_closed)
        .write_all(b"GET /3 HTTP/1.0\r\n\r\n")
        .unwrap();
    half_closed.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_response(half_closed).status, 200);

    // The next client is served as usual, and nothing is left open.
    assert_eq!(get(addr, "/4").status, 200);
    wait_until("every connection is closed", || {
        site.open_connections() == 0
    });
}

#[test]
fn a_large_page_survives_short_writes() {
    // The root of a 100,000-page site is a few megabytes, and this client's receive buffer
    // is tiny: the site's writes come up short and it must wait for "writable".
    let site = Site::start(SiteConfig {
        delay: Duration::ZERO,
        pages: 100_000,
        ..SiteConfig::default()
    })
    .unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&site.addr().into()).unwrap();
    let stream = StdStream::from(socket);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (&stream).write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let root = read_response(stream);
    assert_eq!(root.status, 200);
    assert!(root.body.len() > 2_000_000);
    assert_eq!(content_length(&root), root.body.len());
    assert!(root.body.contains("href=\"/99999\""));
}

/// How many connections this test process can afford (each costs a descriptor on both the
/// client and the site side), up to `wanted`. On Linux, read the soft limit; elsewhere
/// assume there is room.
fn connection_budget(wanted: usize) -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        });
    match limit {
        Some(limit) if limit.saturating_sub(200) / 2 < wanted => {
            let budget = limit.saturating_sub(200) / 2;
            eprintln!("open-file limit {limit}: testing {budget} connections, not {wanted}");
            budget
        }
        _ => wanted,
    }
}

#[test]
fn holds_two_thousand_slow_connections() {
    let count = connection_budget(2000);
    let site = site(300);
    let addr = site.addr();

    // Every client sends half a request head: the site must hold them all at once.
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        let stream = connect(addr);
        (&stream).write_all(b"GET /5 HTTP/1.0\r\n").unwrap();
        clients.push(stream);
    }
    wait_until("every connection is accepted", || {
        site.open_connections() == count
    });
    assert_eq!(site.peak_connections(), count);

    // Now the rest of each request; every answer comes after the delay.
    for stream in &clients {
        let mut stream = stream;
        stream.write_all(b"Host: test\r\n\r\n").unwrap();
    }
    for stream in clients {
        assert_eq!(read_response(stream).status, 200);
    }
    assert_eq!(site.requests(), count);
    wait_until("every connection is closed", || {
        site.open_connections() == 0
    });
}

#[test]
fn stop_closes_everything_and_the_port_refuses() {
    let site = site(10_000);
    let addr = site.addr();
    // One connection waiting for its answer, one still sending its request.
    let waiting = connect(addr);
    (&waiting).write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let reading = connect(addr);
    (&reading).write_all(b"GET / HT").unwrap();
    wait_until("the request is received", || site.requests() == 1);
    assert_eq!(site.open_connections(), 2);

    site.stop();
    for mut stream in [waiting, reading] {
        // The site closed them: end of stream (or a reset), not a timeout.
        match stream.read(&mut [0; 16]) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "still open"),
        }
    }
    assert!(StdStream::connect(addr).is_err(), "the port still accepts");
}

#[test]
fn dropping_the_site_stops_it() {
    let addr = {
        let site = site(0);
        assert_eq!(get(site.addr(), "/").status, 200);
        site.addr()
    };
    assert!(StdStream::connect(addr).is_err(), "the port still accepts");
}
