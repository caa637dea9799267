//! The checks of NOTES.md's build exercises, one `#[ignore]`d test each: plain `cargo test`
//! skips them, and each fails until its exercise is done.
//!
//! ```text
//! cargo test --test exercises stage2_ex3 -- --ignored
//! ```
//!
//! A check tests what the exercise asks for — requests a server saw, pages that came back,
//! tasks the runtime spawned — never the text of a solution, so any correct solution passes.
//! `exercises/solutions/` has one solution of each.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crawler::fetch::Outcome;
use crawler::site::{Site, SiteConfig};

/// A crawl of one stage: outcomes in the order of the URLs.
type Crawl = fn(&[String], Instant) -> Vec<Outcome>;

/// The deadline of each crawl. Every server here answers at once, so a crawl that works ends
/// in milliseconds, with its last fetch; one that reaches its deadline was kept waiting by
/// something left behind, a socket still registered, a task that never ends.
const DEADLINE: Duration = Duration::from_secs(10);

/// A crawl that takes longer than this hangs.
const HUNG: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Stage 2, exercise 3, and stage 3, exercise 2: fetch twice
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "an exercise's check: cargo test --test exercises stage2_ex3 -- --ignored"]
fn stage2_ex3() {
    fetches_1_first(crawler::stage2::crawl);
}

#[test]
#[ignore = "an exercise's check: cargo test --test exercises stage3_ex2 -- --ignored"]
fn stage3_ex2() {
    fetches_1_first(crawler::stage3::crawl);
}

/// Each fetch asks for `/1` first, then for its own URL, on a second connection, and returns
/// the second page: its own.
fn fetches_1_first(crawl: Crawl) {
    let server = Recorder::start();
    let outcomes = crawl_within(crawl, vec![server.url("/3")]);
    assert_own_pages(&outcomes);
    assert_eq!(
        server.requests(),
        ["/1", "/3"],
        "the server should see GET /1, then GET /3 (one request per connection)"
    );

    // Several URLs at once: each asks for /1 once, and each gets its own page back.
    let server = Recorder::start();
    let urls = vec![server.url("/5"), server.url("/7"), server.url("/9")];
    let outcomes = crawl_within(crawl, urls);
    assert_own_pages(&outcomes);
    let mut seen = server.requests();
    seen.sort();
    assert_eq!(seen, ["/1", "/1", "/1", "/5", "/7", "/9"], "requests seen");
}

/// Every outcome is a page, and the page of its own URL, not the one of `/1`.
fn assert_own_pages(outcomes: &[Outcome]) {
    for outcome in outcomes {
        let page = match &outcome.result {
            Ok(page) => page,
            Err(e) => panic!("{} failed: {e}", outcome.url),
        };
        let path = &outcome.url[outcome.url.rfind('/').unwrap()..];
        let body = String::from_utf8_lossy(&page.body);
        assert_eq!(
            body,
            Recorder::body(path),
            "{}: the fetch must return the page of its own URL",
            outcome.url
        );
    }
}

/// Runs `crawl`, which must end with its last fetch, long before its deadline.
fn crawl_within(crawl: Crawl, urls: Vec<String>) -> Vec<Outcome> {
    let started = Instant::now();
    let outcomes = within(move || crawl(&urls, Instant::now() + DEADLINE));
    assert!(
        started.elapsed() < DEADLINE / 2,
        "the crawl ran until its deadline ({DEADLINE:?}) instead of ending with its fetches: \
         a socket still registered, a fetch that never ends?"
    );
    outcomes
}

/// Runs `f` on a thread of its own: a crawl that hangs fails the check instead of freezing it.
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(HUNG)
        .unwrap_or_else(|_| panic!("the crawl was still running after {HUNG:?}: it hangs"))
}

/// A server that records the path of every request, in the order they arrive, and answers
/// each at once with a small page that names its path, one request per connection
/// (HTTP/1.0). Stops when dropped.
struct Recorder {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recorder");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (recording, stopping) = (requests.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let recording = recording.clone();
                thread::spawn(move || answer(conn, &recording));
            }
        });
        Recorder {
            addr,
            requests,
            stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The paths requested so far, in the order the requests arrived.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The page the recorder answers for `path`.
    fn body(path: &str) -> String {
        format!("<html><title>page {path}</title><body><a href=\"/\">/</a></body></html>")
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loop is blocked: one more connection lets it see the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads one request head, records its path, answers, closes.
fn answer(mut conn: TcpStream, requests: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let Some(path) = head.split_whitespace().nth(1) else {
        return;
    };
    requests.lock().unwrap().push(path.to_string());
    let body = Recorder::body(path);
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes());
}

// ---------------------------------------------------------------------------------------------
// Stage 5, exercise 1: a semaphore instead of a queue
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "an exercise's check: cargo test --test exercises stage5_ex1 -- --ignored"]
fn stage5_ex1() {
    let site = Site::start(SiteConfig {
        delay: Duration::from_millis(50),
        ..SiteConfig::default()
    })
    .expect("start the built-in site");
    let options = crawler::stage5::Options {
        max_tasks: 3,
        ..crawler::stage5::Options::default()
    };
    let root = vec![site.url("/")];
    let started = Instant::now();
    let (crawled, spawned) = within(move || {
        spawns::count(|| crawler::stage5::crawl_with(&root, Instant::now() + DEADLINE, &options))
    });
    assert!(
        started.elapsed() < DEADLINE / 2,
        "the crawl ran until its deadline ({DEADLINE:?}): it must end when every URL is done"
    );
    let ok: BTreeSet<&str> = crawled
        .outcomes
        .iter()
        .filter(|outcome| outcome.is_ok())
        .map(|outcome| outcome.url.as_str())
        .collect();
    assert_eq!(
        ok.len(),
        10,
        "from / the crawl must find and fetch the ten pages; it fetched {ok:?}"
    );
    assert!(
        site.peak_connections() <= 3,
        "--max-tasks 3 must still cap the connections: the site saw {} at once",
        site.peak_connections()
    );
    assert!(
        spawned >= 10,
        "one task per URL: ten URLs, but the crawl spawned {spawned} tasks"
    );
}

/// Counts the tasks the stage 5 executor spawns on this thread, from its trace: the runtime
/// says `spawn task N` for each (`RUST_LOG=trace` shows it).
mod spawns {
    use std::cell::Cell;
    use std::sync::Once;

    use log::{LevelFilter, Log, Metadata, Record};

    thread_local! {
        static SPAWNED: Cell<Option<usize>> = const { Cell::new(None) };
    }

    struct Counter;

    impl Log for Counter {
        fn enabled(&self, metadata: &Metadata) -> bool {
            metadata.target() == "runtime::stage5::executor"
        }

        fn log(&self, record: &Record) {
            if self.enabled(record.metadata())
                && record.args().to_string().starts_with("spawn task")
            {
                SPAWNED.with(|n| n.set(n.get().map(|n| n + 1)));
            }
        }

        fn flush(&self) {}
    }

    /// Runs `f` and counts the tasks spawned meanwhile on this thread.
    pub fn count<T>(f: impl FnOnce() -> T) -> (T, usize) {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            log::set_logger(&Counter).expect("no other logger in this test binary");
            log::set_max_level(LevelFilter::Trace);
        });
        SPAWNED.with(|n| n.set(Some(0)));
        let result = f();
        let spawned = SPAWNED.with(|n| n.replace(None)).unwrap_or(0);
        (result, spawned)
    }
}
