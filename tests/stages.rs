//! End-to-end: every stage's crawler against the built-in site and the fault server.
//!
//! Concurrency is proved by counting (the site's peak of simultaneous connections), never
//! with a stopwatch. Each test has its own site and fault server, so tests run in parallel
//! without seeing each other's sockets.

mod support;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crawler::fetch::Outcome;
use support::{Fault, FaultServer, site};

type CrawlFn = fn(&[String], Instant) -> Vec<Outcome>;

/// A bound on how long any crawl in these tests may take before the test calls it hung. Not a
/// performance assertion: a crawl that works finishes in well under a second.
const HUNG: Duration = Duration::from_secs(30);

/// Runs `crawl` on its own thread so that a hang fails the test instead of freezing it.
fn run(crawl: CrawlFn, urls: Vec<String>, deadline: Duration) -> Vec<Outcome> {
    let (done, outcomes) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(crawl(&urls, Instant::now() + deadline));
    });
    outcomes
        .recv_timeout(HUNG)
        .expect("the crawl neither finished nor stopped at its deadline")
}

fn assert_page(outcome: &Outcome) {
    match &outcome.result {
        Ok(page) => {
            assert_eq!(page.status, 200, "{}", outcome.url);
            assert!(
                String::from_utf8_lossy(&page.body).contains("<a href="),
                "{}: not a site page",
                outcome.url
            );
        }
        Err(e) => panic!("{} failed: {e}", outcome.url),
    }
}

/// The ten URLs come back OK, in order, and the site saw `peak` connections at once.
fn fetches_ten(crawl: CrawlFn, peak: usize) {
    let site = site(200);
    let urls = site.urls(10);
    let outcomes = run(crawl, urls.clone(), Duration::from_secs(20));
    assert_eq!(outcomes.len(), 10);
    for (outcome, url) in outcomes.iter().zip(&urls) {
        assert_eq!(
            &outcome.url, url,
            "outcomes come back in the order of the URLs"
        );
        assert_page(outcome);
    }
    assert_eq!(site.requests(), 10);
    assert_eq!(
        site.peak_connections(),
        peak,
        "peak of simultaneous connections"
    );
    #[cfg(target_os = "linux")]
    assert_eq!(support::open_client_sockets(&[site.addr().port()]), 0);
}

/// What the faulty URL of a crawl should get.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// An error whose message contains this text.
    Error(&'static str),
    /// A page whose body is this.
    Page(&'static str),
    /// A page with this status (any body).
    Status(u16),
}

/// Where a fault comes from: the fault server, or a URL that needs no server.
#[derive(Clone, Copy, Debug)]
enum Source {
    Server(Fault),
    /// A port where nothing listens.
    Refused,
    /// A URL given as it is.
    Url(&'static str),
}

/// The failure table: every fault, what the server does, and what every stage reports.
/// NOTES.md's appendix shows this table; `the_notes_failure_table_matches_the_tests` checks
/// that it says the same. (Stage 5 follows redirects: its `redirect to itself` row is in
/// the `stage_tests!` line for stage 5.)
const FAILURES: &[(&str, Source, Expect)] = &[
    (
        "refused port",
        Source::Refused,
        Expect::Error("connect failed: connection refused"),
    ),
    (
        "not http://",
        Source::Url("ftp://127.0.0.1/"),
        Expect::Error("unsupported scheme \"ftp\""),
    ),
    (
        "unknown host",
        // `.invalid` never resolves (RFC 2606); stage 5 asks on its blocking pool.
        Source::Url("http://no-such-host.invalid/"),
        Expect::Error("cannot resolve host"),
    ),
    (
        "malformed URL",
        Source::Url("http://127.0.0.1:http/"),
        Expect::Error("invalid port"),
    ),
    (
        "reset after the request",
        Source::Server(Fault::Reset),
        Expect::Error("reset"),
    ),
    (
        "closed without a byte",
        Source::Server(Fault::Close),
        Expect::Error("closed by the server before any response"),
    ),
    (
        "non-HTTP bytes",
        Source::Server(Fault::Garbage),
        Expect::Error("not an HTTP response"),
    ),
    (
        "malformed status line",
        Source::Server(Fault::BadStatus),
        Expect::Error("not an HTTP response"),
    ),
    (
        "body shorter than Content-Length",
        Source::Server(Fault::Short),
        Expect::Error("body shorter than its Content-Length"),
    ),
    (
        "2 MiB body",
        Source::Server(Fault::Huge),
        Expect::Error("response too large"),
    ),
    (
        "5,000 headers",
        Source::Server(Fault::HeaderFlood),
        Expect::Error("more than 64 headers"),
    ),
    (
        "never answers",
        Source::Server(Fault::Hang),
        Expect::Error("timed out while waiting for the response"),
    ),
    (
        "one byte at a time",
        Source::Server(Fault::Trickle),
        Expect::Page("trickled"),
    ),
    (
        "slow answer",
        Source::Server(Fault::Slow),
        Expect::Page("slow"),
    ),
    (
        "left open after a complete response",
        Source::Server(Fault::KeepOpen),
        Expect::Page("kept open"),
    ),
    (
        "chunked encoding",
        Source::Server(Fault::Chunked),
        Expect::Page("chunked"),
    ),
    (
        "redirect to itself",
        Source::Server(Fault::RedirectLoop),
        Expect::Status(302),
    ),
    (
        "empty reason phrase",
        Source::Server(Fault::NoReason),
        Expect::Page("no reason"),
    ),
];

fn failure(name: &str) -> (Source, Expect) {
    FAILURES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, source, expect)| (*source, *expect))
        .unwrap_or_else(|| panic!("no failure {name:?} in the table"))
}

/// One faulty URL among good ones: the faulty one gets `expect`, every good one its page,
/// and no client socket stays open. `last` puts the faulty URL at the end (for stage 0,
/// where a hang would eat the deadline of every URL after it).
fn one_fault(crawl: CrawlFn, source: Source, expect: Expect, last: bool) {
    let site = site(10);
    let faults = FaultServer::start();
    let bad = match source {
        Source::Server(fault) => faults.url(fault),
        Source::Refused => support::refused_url(),
        Source::Url(url) => url.to_string(),
    };
    let mut urls = site.urls(3);
    urls.insert(if last { 3 } else { 1 }, bad.clone());
    let deadline = match expect {
        Expect::Error(text) if text.starts_with("timed out") => Duration::from_millis(1500),
        _ => Duration::from_secs(20),
    };
    let outcomes = run(crawl, urls, deadline);
    assert_eq!(outcomes.len(), 4);
    for outcome in &outcomes {
        if outcome.url != bad {
            assert_page(outcome);
            continue;
        }
        match (&expect, &outcome.result) {
            (Expect::Error(text), Err(e)) => {
                let message = e.to_string();
                assert!(
                    message.contains(text),
                    "{bad}: {message:?} should say {text:?}"
                );
            }
            (Expect::Page(body), Ok(page)) => assert_eq!(page.body, body.as_bytes(), "{bad}"),
            (Expect::Status(status), Ok(page)) => assert_eq!(page.status, *status, "{bad}"),
            (Expect::Error(text), Ok(page)) => {
                panic!("{bad}: got {} instead of {text:?}", page.status)
            }
            (_, Err(e)) => panic!("{bad}: {e}"),
        }
    }
    #[cfg(target_os = "linux")]
    assert_eq!(
        support::open_client_sockets(&[site.addr().port(), faults.port()]),
        0,
        "a client socket was left open"
    );
}

/// The same tests for every stage, one per row of the failure table. `peak` is the site's
/// expected peak for ten URLs; `sequential` stages get their hanging URL last; `redirect` is
/// what a redirect to itself gives (a 302 page, unless the stage follows redirects).
macro_rules! stage_tests {
    ($name:ident, $crawl:path, peak: $peak:expr, sequential: $sequential:expr) => {
        stage_tests!($name, $crawl, peak: $peak, sequential: $sequential,
            redirect: Expect::Status(302));
    };
    ($name:ident, $crawl:path, peak: $peak:expr, sequential: $sequential:expr,
        redirect: $redirect:expr) => {
        mod $name {
            use super::*;

            const CRAWL: CrawlFn = $crawl;

            fn case(name: &str) {
                let (source, expect) = failure(name);
                let hang = matches!(source, Source::Server(Fault::Hang));
                one_fault(CRAWL, source, expect, $sequential && hang);
            }

            #[test]
            fn fetches_ten_urls() {
                fetches_ten(CRAWL, $peak);
            }

            #[test]
            fn refused_port() {
                case("refused port");
            }

            #[test]
            fn non_http_url() {
                case("not http://");
            }

            #[test]
            fn malformed_url() {
                case("malformed URL");
            }

            #[test]
            fn unknown_host() {
                case("unknown host");
            }

            #[test]
            fn reset_connection() {
                case("reset after the request");
            }

            #[test]
            fn closed_without_answer() {
                case("closed without a byte");
            }

            #[test]
            fn garbage_response() {
                case("non-HTTP bytes");
            }

            #[test]
            fn malformed_status_line() {
                case("malformed status line");
            }

            #[test]
            fn body_shorter_than_content_length() {
                case("body shorter than Content-Length");
            }

            #[test]
            fn oversized_body() {
                case("2 MiB body");
            }

            #[test]
            fn header_flood() {
                case("5,000 headers");
            }

            #[test]
            fn server_never_answers() {
                case("never answers");
            }

            #[test]
            fn response_one_byte_at_a_time() {
                case("one byte at a time");
            }

            #[test]
            fn slow_response_within_the_deadline() {
                case("slow answer");
            }

            #[test]
            fn complete_response_on_a_connection_left_open() {
                case("left open after a complete response");
            }

            #[test]
            fn chunked_response() {
                case("chunked encoding");
            }

            #[test]
            fn empty_reason_phrase() {
                case("empty reason phrase");
            }

            #[test]
            fn redirect_to_itself() {
                let (source, _) = failure("redirect to itself");
                one_fault(CRAWL, source, $redirect, false);
            }
        }
    };
}

/// NOTES.md's appendix shows the failure table; it must say what the tests assert.
#[test]
fn the_notes_failure_table_matches_the_tests() {
    let notes = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/NOTES.md"))
        .expect("NOTES.md");
    let appendix = notes
        .split("\n## Appendix: the failure table")
        .nth(1)
        .expect("NOTES.md has no \"## Appendix: the failure table\"");
    for (name, _, expect) in FAILURES {
        let row = appendix
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("the failure table has no row \"| {name} |\""));
        let says = match expect {
            Expect::Error(text) => format!("error: `{text}`"),
            Expect::Page(body) => format!("page: `{body}`"),
            Expect::Status(status) => format!("page with status {status}"),
        };
        assert!(row.contains(&says), "row {row:?} should contain {says:?}");
    }
}

stage_tests!(stage0, crawler::stage0::crawl, peak: 1, sequential: true);
stage_tests!(stage0_threads, crawler::stage0::crawl_threads, peak: 10, sequential: false);
stage_tests!(stage1, crawler::stage1::crawl, peak: 10, sequential: false);
stage_tests!(stage2, crawler::stage2::crawl, peak: 10, sequential: false);
stage_tests!(stage3, crawler::stage3::crawl, peak: 10, sequential: false);
stage_tests!(stage4, crawler::stage4::crawl, peak: 10, sequential: false);
stage_tests!(stage5, crawler::stage5::crawl, peak: 10, sequential: false,
    redirect: Expect::Error("too many redirects: stopped after 10"));

/// The leak probe would see a socket left open (so its zeros above mean something).
#[cfg(target_os = "linux")]
#[test]
fn the_leak_probe_sees_an_open_client_socket() {
    let site = site(0);
    let port = site.addr().port();
    assert_eq!(support::open_client_sockets(&[port]), 0);
    let open = std::net::TcpStream::connect(site.addr()).unwrap();
    assert_eq!(support::open_client_sockets(&[port]), 1);
    drop(open);
    assert_eq!(support::open_client_sockets(&[port]), 0);
}
