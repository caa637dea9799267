//! Stage 5 end to end: the full crawler against the built-in site, the fault server and a
//! small scripted server (redirects, a server that fails then recovers), and the echo server.
//!
//! As everywhere: concurrency is proved by counting (the site's peak of connections), never
//! with a stopwatch, and every crawl runs on its own thread under a bound, so a hang fails.

mod support;

#[allow(dead_code)] // the example's `main` and helpers this test does not use
#[path = "../examples/echo.rs"]
mod echo;

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crawler::report::{self, Crawled};
use crawler::stage5::{self, Options};
use support::{Fault, FaultServer, site};

/// Beyond this, a test calls the crawl hung. Not a performance bound: these crawls take well
/// under a second.
const HUNG: Duration = Duration::from_secs(30);

/// Crawls on its own thread, so that a hang fails the test instead of freezing it.
fn crawl(roots: Vec<String>, deadline: Duration, options: Options) -> Crawled {
    let (done, crawled) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(stage5::crawl_with(
            &roots,
            Instant::now() + deadline,
            &options,
        ));
    });
    crawled
        .recv_timeout(HUNG)
        .expect("the crawl neither finished nor stopped at its deadline")
}

fn options() -> Options {
    Options::default()
}

fn paths(crawled: &Crawled, origin: &str) -> Vec<String> {
    crawled
        .outcomes
        .iter()
        .map(|o| o.url.strip_prefix(origin).unwrap_or(&o.url).to_string())
        .collect()
}

#[cfg(target_os = "linux")]
fn assert_no_socket_left(ports: &[u16]) {
    assert_eq!(
        support::open_client_sockets(ports),
        0,
        "a client socket was left open"
    );
}

#[cfg(not(target_os = "linux"))]
fn assert_no_socket_left(_: &[u16]) {}

#[test]
fn from_the_root_it_discovers_and_fetches_exactly_the_ten_pages() {
    let site = site(20);
    let crawled = crawl(vec![site.url("/")], Duration::from_secs(20), options());
    let found: BTreeSet<String> = paths(&crawled, &site.url("")).into_iter().collect();
    let expected: BTreeSet<String> = crawler::site::paths(10).into_iter().collect();
    assert_eq!(found, expected);
    assert!(crawled.outcomes.iter().all(|o| o.is_ok()));
    assert_eq!(site.requests(), 10, "each page fetched once");
    // The root's nine links were all new; the other pages only link back.
    assert_eq!((crawled.found[0].links, crawled.found[0].new), (9, 9));
    assert_eq!(crawled.found.iter().map(|f| f.new).sum::<usize>(), 9);
    assert_no_socket_left(&[site.addr().port()]);
}

#[test]
fn max_tasks_caps_the_connections_at_once() {
    for max_tasks in [1, 3] {
        let site = site(100);
        let options = Options {
            max_tasks,
            ..options()
        };
        let crawled = crawl(vec![site.url("/")], Duration::from_secs(20), options);
        assert_eq!(crawled.outcomes.len(), 10);
        assert_eq!(site.peak_connections(), max_tasks, "max_tasks {max_tasks}");
    }
}

#[test]
fn the_tour_crawl_fetches_exactly_the_urls_given() {
    let site = site(0);
    let outcomes = stage5::crawl(&[site.url("/")], Instant::now() + Duration::from_secs(20));
    assert_eq!(outcomes.len(), 1, "links are not followed");
    assert_eq!(site.requests(), 1);
}

#[test]
fn links_stay_on_the_roots_hosts() {
    let other = site(0);
    let server = Scripted::start({
        let elsewhere = other.url("/");
        move |path, _| match path {
            "/" => Reply::page(&format!(
                r#"<a href="/a">a</a> <a href="{elsewhere}">elsewhere</a> <a href="mailto:x@y">m</a>"#
            )),
            "/a" => Reply::page(r#"<a href="/">home</a> <a href="/a">self</a>"#),
            _ => Reply::status(404),
        }
    });
    let crawled = crawl(vec![server.url("/")], Duration::from_secs(20), options());
    assert_eq!(paths(&crawled, &server.url("")), ["/", "/a"]);
    assert_eq!((crawled.found[0].links, crawled.found[0].new), (1, 1));
    assert_eq!((crawled.found[1].links, crawled.found[1].new), (2, 0));
    assert_eq!(other.requests(), 0, "the other host was never visited");
}

#[test]
fn a_redirect_chain_is_followed() {
    let server = Scripted::start(|path, _| match path.strip_prefix("/r/") {
        Some("0") => Reply::page("the end of the chain"),
        Some(n) => match n.parse::<u32>() {
            Ok(n) => Reply::redirect(&format!("/r/{}", n - 1)),
            Err(_) => Reply::status(404),
        },
        None => Reply::status(404),
    });
    let crawled = crawl(vec![server.url("/r/3")], Duration::from_secs(20), options());
    assert_eq!(crawled.outcomes.len(), 1);
    let page = crawled.outcomes[0].result.as_ref().expect("a page");
    assert_eq!(page.body, b"the end of the chain");
    let redirects = &crawled.found[0].redirects;
    assert_eq!(
        redirects,
        &[server.url("/r/2"), server.url("/r/1"), server.url("/r/0")]
    );
    assert_eq!(server.requests("/r/0"), 1);
    assert_no_socket_left(&[server.port()]);
}

#[test]
fn a_redirect_loop_stops_at_the_cap() {
    let server = Scripted::start(|path, _| match path {
        "/ping" => Reply::redirect("/pong"),
        "/pong" => Reply::redirect("/ping"),
        _ => Reply::status(404),
    });
    let options = Options {
        max_redirect: 5,
        ..options()
    };
    let crawled = crawl(vec![server.url("/ping")], Duration::from_secs(20), options);
    let error = crawled.outcomes[0].result.as_ref().unwrap_err().to_string();
    assert!(
        error.contains("too many redirects: stopped after 5"),
        "{error}"
    );
    // The first request and five redirects, then it stops.
    assert_eq!(server.requests("/ping") + server.requests("/pong"), 6);
    assert_no_socket_left(&[server.port()]);
}

#[test]
fn a_server_that_fails_then_succeeds_is_retried() {
    // The first two requests to /flaky are closed without a word; the third is answered.
    let server = Scripted::start(|path, n| match path {
        "/flaky" if n < 3 => Reply::Close,
        "/flaky" => Reply::page("third time lucky"),
        _ => Reply::status(404),
    });
    let crawled = crawl(
        vec![server.url("/flaky")],
        Duration::from_secs(20),
        options(),
    );
    let page = crawled.outcomes[0].result.as_ref().expect("a page");
    assert_eq!(page.body, b"third time lucky");
    assert_eq!(crawled.found[0].tries, 3);

    // With fewer tries than it takes, the last error is the URL's.
    let server = Scripted::start(|_, n| {
        if n < 3 {
            Reply::Close
        } else {
            Reply::page("late")
        }
    });
    let options = Options {
        max_tries: 2,
        ..options()
    };
    let crawled = crawl(vec![server.url("/")], Duration::from_secs(20), options);
    let error = crawled.outcomes[0].result.as_ref().unwrap_err().to_string();
    assert!(error.contains("closed by the server"), "{error}");
    assert_eq!(server.requests("/"), 2);
    assert_no_socket_left(&[server.port()]);
}

#[test]
fn errors_that_cannot_pass_are_not_retried() {
    let server = Scripted::start(|_, _| Reply::Raw(b"SSH-2.0-OpenSSH\r\n\r\n".to_vec()));
    let crawled = crawl(vec![server.url("/")], Duration::from_secs(20), options());
    assert!(crawled.outcomes[0].result.is_err());
    assert_eq!(server.requests("/"), 1);
}

#[test]
fn a_hanging_url_times_out_alone_while_the_others_succeed() {
    let site = site(10);
    let faults = FaultServer::start();
    let hang = faults.url(Fault::Hang);
    let mut roots = site.urls(3);
    roots.insert(1, hang.clone());
    let options = Options {
        request_timeout: Duration::from_millis(200),
        max_tries: 2,
        follow_links: false,
        ..options()
    };
    // The crawl's own deadline is far: only the per-request timeout can end the hang before
    // HUNG. (Not a stopwatch: the bound only tells "timed out alone" from "never".)
    let crawled = crawl(roots.clone(), Duration::from_secs(3600), options);
    assert_eq!(
        crawled.outcomes.iter().map(|o| &o.url).collect::<Vec<_>>(),
        roots.iter().collect::<Vec<_>>()
    );
    for (outcome, found) in crawled.outcomes.iter().zip(&crawled.found) {
        if outcome.url == hang {
            let error = outcome.result.as_ref().unwrap_err().to_string();
            assert_eq!(error, "timed out while waiting for the response");
            assert_eq!(found.tries, 2, "a timeout may pass: it is retried");
        } else {
            assert!(outcome.is_ok(), "{}", outcome.url);
        }
    }
    assert_no_socket_left(&[site.addr().port(), faults.port()]);
}

#[test]
fn at_the_crawl_deadline_what_is_left_times_out_and_nothing_leaks() {
    let site = site(10_000);
    let options = Options {
        max_tasks: 2,
        ..options()
    };
    // Two in flight, eight waiting in the queue, and a deadline that passes first.
    let crawled = crawl(site.urls(10), Duration::from_millis(300), options);
    assert_eq!(crawled.outcomes.len(), 10);
    for outcome in &crawled.outcomes {
        let error = outcome.result.as_ref().unwrap_err().to_string();
        assert!(error.starts_with("timed out while"), "{error}");
    }
    let queued = crawled
        .outcomes
        .iter()
        .filter(|o| matches!(&o.result, Err(e) if e.to_string().contains("in the queue")))
        .count();
    assert_eq!(queued, 8);
    assert_no_socket_left(&[site.addr().port()]);
}

#[test]
fn host_names_resolve_on_the_blocking_pool() {
    let site = site(0);
    let url = format!("http://localhost:{}/", site.addr().port());
    let crawled = crawl(vec![url], Duration::from_secs(20), options());
    assert_eq!(
        crawled.outcomes.len(),
        10,
        "the links of localhost stay on localhost"
    );
    assert!(crawled.outcomes.iter().all(|o| o.is_ok()));
    assert!(crawled.outcomes[3].url.starts_with("http://localhost:"));
}

#[test]
fn a_name_that_does_not_resolve_is_a_clear_error() {
    // `.invalid` is reserved: it never resolves (RFC 2606). A slow resolver may still take
    // seconds to say so: the request gets time enough.
    let options = Options {
        request_timeout: Duration::from_secs(25),
        ..options()
    };
    let roots = vec!["http://no-such-host.invalid/".to_string()];
    let crawled = crawl(roots, Duration::from_secs(25), options);
    let error = crawled.outcomes[0].result.as_ref().unwrap_err().to_string();
    assert!(error.contains("cannot resolve host"), "{error}");
    assert_eq!(crawled.found[0].tries, 1, "not retried");
}

#[test]
fn the_report_counts_links_redirects_and_outcomes() {
    let site = site(0);
    let crawled = crawl(
        vec![site.url("/"), support::refused_url()],
        Duration::from_secs(20),
        Options {
            max_tries: 1,
            ..options()
        },
    );
    let text = report::render_found(&crawled);
    assert!(text.contains("200 OK, 9 links, 9 new"), "{text}");
    assert!(text.lines().any(|l| l.ends_with("  ERROR")), "{text}");
    assert!(text.contains("11 URLs; links found 27, new 9"), "{text}");

    let server = Scripted::start(|path, n| match path {
        "/old" => Reply::redirect("/new"),
        "/flaky" if n == 1 => Reply::Close,
        _ => Reply::page("no links here"),
    });
    let roots = vec![server.url("/old"), server.url("/flaky")];
    let crawled = crawl(roots, Duration::from_secs(20), options());
    let text = report::render_found(&crawled);
    assert!(
        text.contains("/old    200 X, 0 links, 0 new, via 1 redirect to /new"),
        "{text}"
    );
    assert!(
        text.contains("/flaky  200 X, 0 links, 0 new, 1 retry"),
        "{text}"
    );
    assert!(
        text.contains("redirects followed 1; requests made 4"),
        "{text}"
    );
}

#[test]
fn the_echo_server_serves_many_concurrent_clients() {
    const CLIENTS: usize = 64;
    let (addr, finished) = support::server_thread(|ready| {
        echo::run("127.0.0.1:0".parse().unwrap(), Some(CLIENTS), ready, false)
            .map_err(|e| e.to_string())
    });
    // Every client holds its connection until all have their echo: the server, one thread,
    // must hold all of them at once.
    let everyone = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let everyone = everyone.clone();
            thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream.set_read_timeout(Some(HUNG)).unwrap();
                let line = format!("line {i}\n");
                stream.write_all(line.as_bytes()).unwrap();
                let mut reply = vec![0u8; line.len()];
                stream.read_exact(&mut reply).unwrap();
                everyone.wait();
                reply == line.as_bytes()
            })
        })
        .collect();
    for client in clients {
        assert!(client.join().unwrap(), "a client got back something else");
    }
    let (stats, sources_left) = finished
        .recv_timeout(HUNG)
        .expect("the server did not finish")
        .expect("the server failed");
    assert_eq!(stats.peak.get(), CLIENTS);
    assert_eq!(stats.served.get(), CLIENTS);
    assert_eq!(sources_left, 0, "the server closed every socket");
}

#[test]
fn the_echo_demo_runs_server_and_clients_on_one_loop() {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let mut executor = runtime::stage5::Executor::new().unwrap();
        let ok = executor.block_on(async {
            let listener = runtime::stage5::TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
            let addr = listener.local_addr()?;
            let stats = std::rc::Rc::new(echo::Stats::default());
            let server =
                runtime::stage5::spawn(echo::serve(listener, Some(50), stats.clone(), false));
            let ok = echo::clients(addr, 50).await;
            let _ = server.await;
            std::io::Result::Ok((ok, stats.peak.get()))
        });
        let _ = done.send(ok.unwrap().unwrap());
    });
    let (ok, peak) = finished.recv_timeout(HUNG).expect("the demo hung");
    assert_eq!((ok, peak), (50, 50));
}

// ---------------------------------------------------------------------------------------------
// A scripted server: thread per connection, each path answered by a closure that also gets
// how many times that path was asked (1 for the first request).
// ---------------------------------------------------------------------------------------------

enum Reply {
    /// A status, headers and a body.
    Http(u16, Vec<(String, String)>, String),
    /// Close without a byte.
    Close,
    /// These bytes, then close.
    Raw(Vec<u8>),
}

impl Reply {
    fn page(body: &str) -> Reply {
        let html = ("content-type".to_string(), "text/html".to_string());
        Reply::Http(200, vec![html], body.to_string())
    }

    fn status(status: u16) -> Reply {
        Reply::Http(status, vec![], String::new())
    }

    fn redirect(to: &str) -> Reply {
        Reply::Http(
            302,
            vec![("location".to_string(), to.to_string())],
            String::new(),
        )
    }
}

type Script = dyn Fn(&str, usize) -> Reply + Send + Sync;

struct Scripted {
    addr: SocketAddr,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Scripted {
    fn start(script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (counting, stopping) = (counts.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (script, counts) = (script.clone(), counting.clone());
                thread::spawn(move || answer(conn, &*script, &counts));
            }
        });
        Scripted { addr, counts, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn requests(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn answer(mut conn: TcpStream, script: &Script, counts: &Mutex<HashMap<String, usize>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let Some(path) = text.split_whitespace().nth(1).map(str::to_string) else {
        return;
    };
    let n = {
        let mut counts = counts.lock().unwrap();
        let n = counts.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let bytes = match script(&path, n) {
        Reply::Close => return,
        Reply::Raw(bytes) => bytes,
        Reply::Http(status, headers, body) => {
            let mut response = format!("HTTP/1.0 {status} X\r\nContent-Length: {}\r\n", body.len());
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&body);
            response.into_bytes()
        }
    };
    let _ = conn.write_all(&bytes);
}
