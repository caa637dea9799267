//! The checks of NOTES.md's build exercises, one `#[ignore]`d test each: plain `cargo test`
//! skips them, and each fails until its exercise is done.
//!
//! ```text
//! cargo test --test exercises stage2_ex3 -- --ignored
//! ```
//!
//! A check tests what the exercise asks for — requests a server saw, pages that came back,
//! tasks the runtime spawned — never the text of a solution, so any correct solution passes.
//! `exercises/README.md` lists every exercise, and `exercises/solutions/` has one solution
//! of each; `.ci/exercises` proves that each check fails before its solution and passes after.
//! The one test here that is not ignored checks that list against NOTES.md.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
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

    // A server that never answers: the deadline cuts the fetch of `/1` off, and the Task
    // closes what it runs. Every socket registered must be unregistered then, the one of the
    // `/1` fetch included: closing passes on to whichever fetch is under way.
    let server = Recorder::start_silent();
    let url = vec![server.url("/3")];
    let (outcomes, log) =
        within(move || logged::record(|| crawl(&url, Instant::now() + Duration::from_millis(300))));
    match &outcomes[0].result {
        Err(e) if e.to_string().contains("timed out") => {}
        other => panic!("a server that never answers: the fetch must time out, not {other:?}"),
    }
    let count = |what: &str| log.iter().filter(|line| line.starts_with(what)).count();
    let (registered, unregistered) = (count("register token"), count("unregister token"));
    assert!(
        registered > 0 && registered == unregistered,
        "a fetch cut off at the deadline must be closed: {registered} socket(s) registered, \
         {unregistered} unregistered (does `close` reach the fetch under way?)"
    );
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
        Recorder::listen(false)
    }

    fn listen(silent: bool) -> Recorder {
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
                thread::spawn(move || answer(conn, &recording, silent));
            }
        });
        Recorder {
            addr,
            requests,
            stop,
        }
    }

    /// A recorder that records each request and never answers it: it holds the connection
    /// until the client closes it.
    fn start_silent() -> Recorder {
        Recorder::listen(true)
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

/// Reads one request head, records its path, answers, closes; or, `silent`, waits until the
/// client closes.
fn answer(mut conn: TcpStream, requests: &Mutex<Vec<String>>, silent: bool) {
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
    if silent {
        while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
        return;
    }
    let body = Recorder::body(path);
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes());
}

// ---------------------------------------------------------------------------------------------
// Stage 4, exercise 5: yield_now
// ---------------------------------------------------------------------------------------------

/// The attendee's file: `tests/exercises/yield_now.rs`.
#[path = "exercises/yield_now.rs"]
mod yield_now;

#[test]
#[ignore = "an exercise's check: cargo test --test exercises stage4_ex5 -- --ignored"]
fn stage4_ex5() {
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::pin;
    use std::rc::Rc;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Wake, Waker};

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Wakes(AtomicUsize);
    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    // By hand: two polls, counting the wakes after each.
    let wakes = Arc::new(Wakes::default());
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(yield_now::yield_now());
    let woken = || wakes.0.load(Ordering::SeqCst);
    assert!(
        future.as_mut().poll(&mut cx).is_pending(),
        "the first poll returned Ready: it must return Pending, or no other task gets a turn"
    );
    assert_eq!(
        woken(),
        1,
        "the first poll returned Pending and woke its waker {} times: once, or no socket and \
         no timer will ever poll this task again (0), or it is queued for nothing (2 or more)",
        woken()
    );
    assert!(
        future.as_mut().poll(&mut cx).is_ready(),
        "the second poll returned Pending: it has yielded once, it must now be Ready, or its \
         task never goes on"
    );
    assert_eq!(
        woken(),
        1,
        "the second poll, which returned Ready, woke its waker again: a wake with nothing to \
         wait for costs the task a wasted poll"
    );

    // On stage 4's executor: two tasks that yield take turns.
    let mut executor = runtime::stage4::Executor::new().unwrap();
    let turns = Rc::new(RefCell::new(Vec::new()));
    for name in ["a", "b"] {
        let turns = turns.clone();
        executor.spawn(async move {
            for _ in 0..3 {
                turns.borrow_mut().push(name);
                yield_now::yield_now().await;
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    assert!(
        executor.run_until(deadline).unwrap(),
        "the two tasks had not ended after 5 s"
    );
    assert_eq!(
        *turns.borrow(),
        ["a", "b", "a", "b", "a", "b"],
        "the two tasks should take turns"
    );
}

// ---------------------------------------------------------------------------------------------
// Stage 5, exercise 1: a semaphore instead of workers
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
    let (crawled, log) = within(move || {
        logged::record(|| crawler::stage5::crawl_with(&root, Instant::now() + DEADLINE, &options))
    });
    let count = |what: &str| log.iter().filter(|line| line.starts_with(what)).count();
    let (spawned, permits) = (count("spawn task"), count("semaphore: permit taken"));
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
    assert!(
        permits >= 10,
        "the cap is a Semaphore's: each of the ten URLs' tasks waits for a permit, but the \
         crawl took {permits} permits (`Semaphore::acquire`)"
    );
}

/// What the runtime logs on this thread while a crawl runs: `register token 3`, `spawn task 4`,
/// `semaphore: permit taken, 2 left`… (`RUST_LOG=trace` shows the same lines). The checks count
/// them: the sockets registered and unregistered, the tasks spawned, the permits taken.
mod logged {
    use std::cell::RefCell;
    use std::sync::Once;

    use log::{LevelFilter, Log, Metadata, Record};

    thread_local! {
        static LINES: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }

    struct Recorder;

    impl Log for Recorder {
        fn enabled(&self, metadata: &Metadata) -> bool {
            metadata.target().starts_with("runtime::")
        }

        fn log(&self, record: &Record) {
            if self.enabled(record.metadata()) {
                LINES.with(|lines| {
                    if let Some(lines) = lines.borrow_mut().as_mut() {
                        lines.push(record.args().to_string());
                    }
                });
            }
        }

        fn flush(&self) {}
    }

    /// Runs `f` and returns what the runtime logged meanwhile on this thread.
    pub fn record<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            log::set_logger(&Recorder).expect("no other logger in this test binary");
            log::set_max_level(LevelFilter::Trace);
        });
        LINES.with(|lines| *lines.borrow_mut() = Some(Vec::new()));
        let result = f();
        let lines = LINES
            .with(|lines| lines.borrow_mut().take())
            .unwrap_or_default();
        (result, lines)
    }
}

// ---------------------------------------------------------------------------------------------
// The list of exercises
// ---------------------------------------------------------------------------------------------

/// `exercises/checks` is what `.ci/exercises` proves; NOTES.md and `exercises/README.md` are
/// what an attendee reads. They list the same exercises with the same kinds and checks (and
/// README and the run sheet the same difficulty and minutes as NOTES), and every build
/// exercise has its test here, its solution, its note and two wrong attempts at least.
#[test]
fn the_exercise_list_matches_notes_and_the_solutions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let notes = read("NOTES.md");
    let readme = read("exercises/README.md");
    let this = read("tests/exercises.rs");
    let listed = parse_checks(&read("exercises/checks"));
    let (in_notes, mut problems) = notes_exercises(&notes);
    let ids = |ids: Vec<&String>| ids.into_iter().cloned().collect::<BTreeSet<String>>();
    let (notes_ids, listed_ids) = (
        ids(in_notes.iter().map(|e| &e.id).collect()),
        ids(listed.iter().map(|e| &e.id).collect()),
    );
    if notes_ids != listed_ids {
        problems.push(format!(
            "NOTES.md's exercises {notes_ids:?} are not exercises/checks' {listed_ids:?}"
        ));
    }
    for exercise in &in_notes {
        let id = &exercise.id;
        if let Some(entry) = listed.iter().find(|l| &l.id == id) {
            if entry.kind != exercise.kind || entry.check != exercise.check {
                problems.push(format!(
                    "{id}: NOTES.md says {} `{}`, exercises/checks {} `{}`",
                    exercise.kind, exercise.check, entry.kind, entry.check
                ));
            }
        }
        // The README's row: | id | chapter | number | kind | difficulty | minutes | check | …
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| {id} |")))
            .map(|l| l.replace("\\|", "|"));
        match row {
            None => problems.push(format!("exercises/README.md has no row for {id}")),
            Some(row) => {
                for cell in [
                    format!("| {} |", exercise.kind),
                    format!("| {} |", exercise.stars),
                    format!("| {} |", exercise.minutes),
                    format!("| `{}` |", exercise.check),
                ] {
                    if !row.contains(&cell) {
                        problems.push(format!("exercises/README.md: {id}'s row lacks {cell}"));
                    }
                }
            }
        }
        let mut files = Vec::new();
        match exercise.kind.as_str() {
            "build" => {
                files.push(format!("exercises/solutions/{id}.patch"));
                files.push(format!("exercises/solutions/{id}.md"));
                if !this.contains(&format!("fn {id}()")) {
                    problems.push(format!("{id}: tests/exercises.rs has no test {id}"));
                }
                // Wrong attempts its check must fail (`.ci/exercises` proves it): two at least.
                let prefix = format!("{id}__");
                let wrong = std::fs::read_dir(root.join("exercises/wrong"))
                    .map(|dir| {
                        dir.flatten()
                            .filter(|f| {
                                let name = f.file_name().to_string_lossy().into_owned();
                                name.starts_with(&prefix) && name.ends_with(".patch")
                            })
                            .count()
                    })
                    .unwrap_or(0);
                if wrong < 2 {
                    problems.push(format!(
                        "{id}: {wrong} wrong attempt(s) in exercises/wrong/{id}__*.patch, not 2"
                    ));
                }
            }
            "break" if listed.iter().any(|l| &l.id == id && l.patch) => {
                files.push(format!("exercises/breaks/{id}.patch"));
            }
            _ => {}
        }
        for file in files {
            if !root.join(&file).is_file() {
                problems.push(format!("{id}: {file} is missing"));
            }
        }
    }
    // The run sheet's exercise column: "Stage 1, exercise 2 (10 min)".
    for (stage, number, minutes) in run_sheet(&notes) {
        let id = format!("stage{stage}_ex{number}");
        match in_notes.iter().find(|e| e.id == id) {
            Some(e) if e.minutes == minutes => {}
            Some(e) => problems.push(format!(
                "the run sheet gives {id} {minutes} min, its exercise {} min",
                e.minutes
            )),
            None => problems.push(format!("the run sheet names {id}, which NOTES.md lacks")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One exercise of a stage chapter of NOTES.md, from its line
/// `*Build · ★★☆ · 15 min · check: `…`*`.
struct InNotes {
    id: String,
    kind: String,
    stars: String,
    minutes: u32,
    check: String,
}

/// The exercises of every `## Stage N` chapter (not those of other chapters), and what is
/// wrong with their lines.
fn notes_exercises(notes: &str) -> (Vec<InNotes>, Vec<String>) {
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    let (mut stage, mut in_exercises, mut item) = (None, false, None);
    let mut with_line = BTreeSet::new();
    for (n, line) in notes.lines().enumerate() {
        if let Some(chapter) = line.strip_prefix("## ") {
            stage = chapter
                .strip_prefix("Stage ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|number| number.parse::<u32>().ok());
            in_exercises = false;
            continue;
        }
        if line.starts_with("### ") {
            in_exercises = stage.is_some() && line == "### Exercises";
            item = None;
            continue;
        }
        let Some(stage) = stage.filter(|_| in_exercises) else {
            continue;
        };
        if let Some((number, rest)) = line.split_once(". **") {
            if let Ok(number) = number.parse::<u32>() {
                let id = format!("stage{stage}_ex{number}");
                if !rest.ends_with("**") {
                    problems.push(format!(
                        "NOTES.md:{}: {id}'s title has a line of its own",
                        n + 1
                    ));
                }
                item = Some(id);
                continue;
            }
        }
        let Some(meta) = line.trim_start().strip_prefix('*') else {
            continue;
        };
        let Some(id) = item.clone() else { continue };
        let parsed = meta
            .strip_suffix("`*\\")
            .and_then(|meta| meta.split_once(" · check: `"))
            .and_then(|(head, check)| {
                let mut head = head.split(" · ");
                let kind = head.next()?.to_lowercase();
                let stars = head.next()?.to_string();
                let minutes = head.next()?.strip_suffix(" min")?.parse().ok()?;
                Some((kind, stars, minutes, check.to_string()))
            });
        match parsed {
            Some((kind, stars, minutes, check)) if with_line.insert(id.clone()) => {
                found.push(InNotes {
                    id,
                    kind,
                    stars,
                    minutes,
                    check,
                })
            }
            Some(_) => problems.push(format!("NOTES.md:{}: {id} has two exercise lines", n + 1)),
            None => {}
        }
    }
    (found, problems)
}

/// `(stage, number, minutes)` of every "Stage S, exercise N (M min)" of the run sheet.
fn run_sheet(notes: &str) -> Vec<(u32, u32, u32)> {
    let mut found = Vec::new();
    for cell in support::run_sheet_of(notes).split('|') {
        let Some(rest) = cell.trim().strip_prefix("Stage ") else {
            continue;
        };
        let parse = || {
            let (stage, rest) = rest.split_once(", exercise ")?;
            let (number, rest) = rest.split_once(" (")?;
            let minutes = rest.strip_suffix(" min)")?;
            Some((
                stage.parse().ok()?,
                number.parse().ok()?,
                minutes.parse().ok()?,
            ))
        };
        if let Some(entry) = parse() {
            found.push(entry);
        }
    }
    found
}

/// One exercise of `exercises/checks`.
struct Listed {
    id: String,
    kind: String,
    check: String,
    /// A break exercise's break is a patch in `exercises/breaks/`.
    patch: bool,
}

/// The `[id]` sections of `exercises/checks`, with their `kind`, `check` and `patch` keys.
fn parse_checks(text: &str) -> Vec<Listed> {
    let mut listed: Vec<Listed> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(id) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            listed.push(Listed {
                id: id.to_string(),
                kind: String::new(),
                check: String::new(),
                patch: false,
            });
        } else if let (Some((key, value)), Some(last)) = (line.split_once(" = "), listed.last_mut())
        {
            match key {
                "kind" => last.kind = value.to_string(),
                "check" => last.check = value.to_string(),
                "patch" => last.patch = value == "yes",
                _ => {}
            }
        }
    }
    listed
}
