//! The site's tests: each starts a real site on a free port and talks to it over TCP, the
//! way a crawler would, and the link graph is also walked without a network.

use super::pages::{MAX_HEAD_BYTES, links, parse_page};
use super::*;
use socket2::{Domain, Socket, Type};
use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream as StdStream};
use std::process::{Command, Stdio};
use std::sync::{Barrier, mpsc};
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

/// A site without delay whose clients must send their request head within `ms` milliseconds.
fn impatient_site(ms: u64) -> Site {
    let config = SiteConfig {
        delay: Duration::ZERO,
        head_timeout: Duration::from_millis(ms),
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

    // Every /N is a page (N > 0); outside the graph it links only back to the root.
    let far = get(site.addr(), "/9999");
    assert_eq!(far.status, 200);
    assert_eq!(far.body.matches("href=").count(), 1);
    assert_eq!(site.requests(), 3);
}

#[test]
fn the_link_graph_from_the_root_covers_exactly_the_pages() {
    for pages in [1, 2, 3, 10, 57] {
        let mut seen = BTreeSet::from(["/".to_string()]);
        let mut queue = VecDeque::from([0]);
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
        "/0",
        "/1x",
        "/-1",
        "/+1",
        "/01",
        "/1/2",
        "/99999999999999999999999",
    ] {
        let got = get(site.addr(), target);
        assert_eq!(got.status, 404, "{target}");
        assert_eq!(content_length(&got), got.body.len());
    }
    let garbage = send(site.addr(), b"\x01\x02 nonsense\r\n\r\n");
    assert_eq!(garbage.status, 400);
    let bad_delay = get(site.addr(), "/3?delay_ms=soon");
    assert_eq!(bad_delay.status, 400);
    assert!(bad_delay.body.contains("delay_ms"));
}

#[test]
fn head_gets_the_headers_of_get_and_no_body() {
    let site = site(0);
    for target in ["/", "/3", "/nope", "/3?delay_ms=soon"] {
        let got = get(site.addr(), target);
        // What `curl -I` sends.
        let raw = format!("HEAD {target} HTTP/1.1\r\nHost: test\r\nAccept: */*\r\n\r\n");
        let head = send(site.addr(), raw.as_bytes());
        assert_eq!(
            head.head, got.head,
            "HEAD {target}: the same status and headers"
        );
        assert_eq!(head.body, "", "HEAD {target}: no body");
        assert_eq!(content_length(&head), got.body.len(), "HEAD {target}");
    }
    assert_eq!(site.requests(), 8);
}

#[test]
fn other_methods_get_405_with_allow() {
    let site = site(0);
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
        let raw = format!("{method} / HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
        let got = send(site.addr(), raw.as_bytes());
        assert_eq!(got.status, 405, "{method}");
        assert!(
            got.head.contains("\r\nAllow: GET, HEAD\r\n"),
            "{method}: {}",
            got.head
        );
        assert_eq!(content_length(&got), got.body.len(), "{method}");
    }
}

#[test]
fn an_idle_client_gets_408_and_others_are_served_meanwhile() {
    let site = impatient_site(250);
    let addr = site.addr();
    let silent = connect(addr);
    let half = connect(addr);
    (&half).write_all(b"GET /1 HT").unwrap();
    wait_until("both are accepted", || site.open_connections() == 2);

    // While those two hold their connections, the site serves everyone else.
    assert_eq!(get(addr, "/2").status, 200);
    for stream in [silent, half] {
        let got = read_response(stream);
        assert_eq!(got.status, 408);
        assert_eq!(content_length(&got), got.body.len());
    }
    wait_until("every connection is closed", || {
        site.open_connections() == 0
    });
    assert_eq!(get(addr, "/3").status, 200);
    assert_eq!(
        site.requests(),
        2,
        "a request that never arrived is not counted"
    );
}

#[test]
fn a_client_trickling_its_head_is_cut_off() {
    let site = impatient_site(300);
    let stream = connect(site.addr());
    (&stream).write_all(b"GET / HTTP/1.0\r\n").unwrap();
    wait_until("the client is accepted", || site.open_connections() == 1);

    // A header line every 100 ms: each comes well within the limit, the head as a whole
    // never ends. (30 lines stay under the header count that would get a 400.)
    for n in 0..30 {
        if site.open_connections() == 0 {
            break;
        }
        let line = format!("X-Trickle-{n}: one more line\r\n");
        if (&stream).write_all(line.as_bytes()).is_err() {
            break; // the site is gone: the lines after its answer were reset
        }
        thread::sleep(Duration::from_millis(100));
    }
    wait_until("the site let the trickling client go", || {
        site.open_connections() == 0
    });
    // It says why, unless the reset caused by the lines sent after the answer wiped that out.
    let mut answer = Vec::new();
    let _ = (&stream).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.0 408 "),
        "{answer}"
    );
    assert_eq!(site.requests(), 0);
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
    let clients: Vec<_> = (paths(10).into_iter())
        .map(|path| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                get(addr, &path).status
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

    // Sends a request, then more than a request head's worth while the site waits to answer
    // (an hour): the site closes it without an answer.
    let chatty = connect(addr);
    (&chatty)
        .write_all(b"GET /2?delay_ms=3600000 HTTP/1.0\r\n\r\n")
        .unwrap();
    let _ = (&chatty).write_all(&[b'x'; 2 * MAX_HEAD_BYTES]);
    let mut said = Vec::new();
    let _ = (&chatty).read_to_end(&mut said); // the end of the stream, or a reset
    assert!(said.is_empty(), "{}", String::from_utf8_lossy(&said));

    // Sends a request and closes its writing half: still a fine HTTP/1.0 client. The site
    // cannot tell it from one that left, so it answers at once, without the delay.
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

/// The child half of `running_out_of_descriptors_is_logged_once_per_episode`: a site that logs
/// the way every example does (`cli::init_logging`: warnings and up), serving until the
/// parent closes our stdin (or 30 s have passed). The parent runs it under a low open-file
/// limit.
#[test]
#[ignore = "the site half of running_out_of_descriptors_is_logged_once_per_episode"]
fn out_of_descriptors_child() {
    if std::env::var_os("LOOPLAB_SITE_FD_CHILD").is_none() {
        return;
    }
    crate::cli::init_logging();
    let site = site(0);
    println!("\nPORT {}", site.addr().port());
    let (closed, stdin_closed) = mpsc::channel();
    thread::spawn(move || {
        let _ = io::stdin().read_to_end(&mut Vec::new());
        let _ = closed.send(());
    });
    let _ = stdin_closed.recv_timeout(Duration::from_secs(30));
    site.stop();
}

/// The site's log lines from a child process, as they come.
fn log_lines(stderr: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    lines
}

/// Collects lines until one contains `what`; returns them all, that one last.
fn lines_until(lines: &mpsc::Receiver<String>, what: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(what);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(_) => panic!(
                "no line with {what:?}; {} lines, the last ones: {:#?}",
                seen.len(),
                &seen[seen.len().saturating_sub(3)..]
            ),
        }
    }
}

/// A site out of file descriptors says so once, at the examples' default log level, keeps
/// retrying quietly, and says once when it accepts again. The site runs in a child process
/// under `ulimit -n 32`; this process connects 64 clients to it and then lets them go.
#[cfg(unix)]
#[test]
fn running_out_of_descriptors_is_logged_once_per_episode() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -n 32 && exec \"$0\" \"$@\""])
        .arg(exe)
        .args(["--exact", "site::tests::out_of_descriptors_child"])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .env("LOOPLAB_SITE_FD_CHILD", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the site's process");
    let lines = log_lines(child.stderr.take().unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = (&mut stdout)
        .map_while(Result::ok)
        .find_map(|line| line.split_once("PORT ")?.1.parse().ok())
        .expect("the child's port");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // The kernel completes every connect; the site accepts what its limit lets it.
    let clients: Vec<StdStream> = (0..64).map(|_| connect(addr)).collect();
    let mut seen = Vec::new();
    lines_until(&lines, "out of file descriptors", &mut seen);
    thread::sleep(Duration::from_millis(200)); // the site retries meanwhile, quietly
    drop(clients); // the site closes its side of them, and accepts again
    lines_until(&lines, "accepting again", &mut seen);

    drop(child.stdin.take()); // the child stops its site and exits
    stdout.for_each(drop); // what the test harness says, up to the end
    let status = child.wait().expect("the child exits");
    assert!(status.success(), "{status}");

    assert_eq!(
        seen.len(),
        2,
        "one line to start the episode, one to end it: {seen:#?}"
    );
    assert!(seen[0].contains("ulimit -n"), "{}", seen[0]);
    let tries: usize = seen[1]
        .split_once('(')
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count of tries in {:?}", seen[1]));
    assert!(tries > 1, "{}", seen[1]);
}
