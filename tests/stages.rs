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
use crawler::site::{Site, SiteConfig};
use support::{Fault, FaultServer};

type CrawlFn = fn(&[String], Instant) -> Vec<Outcome>;

/// A bound on how long any crawl in these tests may take before the test calls it hung. Not a
/// performance assertion: a crawl that works finishes in well under a second.
const HUNG: Duration = Duration::from_secs(30);

fn site(delay_ms: u64) -> Site {
    Site::start(SiteConfig {
        delay: Duration::from_millis(delay_ms),
        ..SiteConfig::default()
    })
    .expect("start the built-in site")
}

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
enum Expect {
    /// An error whose message contains this text.
    Error(&'static str),
    /// A page whose body is this.
    Page(&'static str),
}

/// One faulty URL among good ones: the faulty one gets `expect`, every good one its page,
/// and no client socket stays open. `last` puts the faulty URL at the end (for stage 0,
/// where a hang would eat the deadline of every URL after it).
fn one_fault(
    crawl: CrawlFn,
    faulty: impl FnOnce(&FaultServer) -> String,
    expect: Expect,
    last: bool,
) {
    let site = site(10);
    let faults = FaultServer::start();
    let bad = faulty(&faults);
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
            (Expect::Error(text), Ok(page)) => {
                panic!("{bad}: got {} instead of {text:?}", page.status)
            }
            (Expect::Page(_), Err(e)) => panic!("{bad}: {e}"),
        }
    }
    #[cfg(target_os = "linux")]
    assert_eq!(
        support::open_client_sockets(&[site.addr().port(), faults.port()]),
        0,
        "a client socket was left open"
    );
}

/// The same tests for every stage. `peak` is the site's expected peak for ten URLs;
/// `sequential` stages get their hanging URL last.
macro_rules! stage_tests {
    ($name:ident, $crawl:path, peak: $peak:expr, sequential: $sequential:expr) => {
        mod $name {
            use super::*;

            const CRAWL: CrawlFn = $crawl;

            fn fault(fault: Fault, expect: Expect) {
                let last = $sequential && fault == Fault::Hang;
                one_fault(CRAWL, |s| s.url(fault), expect, last);
            }

            #[test]
            fn fetches_ten_urls() {
                fetches_ten(CRAWL, $peak);
            }

            #[test]
            fn refused_port() {
                let expect = Expect::Error("connect failed: connection refused");
                one_fault(CRAWL, |_| support::refused_url(), expect, false);
            }

            #[test]
            fn non_http_url() {
                let expect = Expect::Error("unsupported scheme \"ftp\"");
                one_fault(CRAWL, |_| "ftp://127.0.0.1/".into(), expect, false);
            }

            #[test]
            fn malformed_url() {
                let expect = Expect::Error("invalid port");
                one_fault(CRAWL, |_| "http://127.0.0.1:http/".into(), expect, false);
            }

            #[test]
            fn reset_connection() {
                fault(Fault::Reset, Expect::Error("reset"));
            }

            #[test]
            fn closed_without_answer() {
                fault(
                    Fault::Close,
                    Expect::Error("closed by the server before any response"),
                );
            }

            #[test]
            fn garbage_response() {
                fault(Fault::Garbage, Expect::Error("not an HTTP response"));
            }

            #[test]
            fn malformed_status_line() {
                fault(Fault::BadStatus, Expect::Error("not an HTTP response"));
            }

            #[test]
            fn body_shorter_than_content_length() {
                fault(
                    Fault::Short,
                    Expect::Error("body shorter than its Content-Length"),
                );
            }

            #[test]
            fn oversized_body() {
                fault(Fault::Huge, Expect::Error("response too large"));
            }

            #[test]
            fn server_never_answers() {
                fault(
                    Fault::Hang,
                    Expect::Error("timed out while waiting for the response"),
                );
            }

            #[test]
            fn response_one_byte_at_a_time() {
                fault(Fault::Trickle, Expect::Page("trickled"));
            }

            #[test]
            fn complete_response_on_a_connection_left_open() {
                fault(Fault::KeepOpen, Expect::Page("kept open"));
            }

            #[test]
            fn chunked_response() {
                fault(Fault::Chunked, Expect::Page("chunked"));
            }

            #[test]
            fn header_flood() {
                fault(Fault::HeaderFlood, Expect::Error("more than 64 headers"));
            }

            #[test]
            fn slow_response_within_the_deadline() {
                fault(Fault::Slow, Expect::Page("slow"));
            }
        }
    };
}

stage_tests!(stage0, crawler::stage0::crawl, peak: 1, sequential: true);
stage_tests!(stage0_threads, crawler::stage0::crawl_threads, peak: 10, sequential: false);
stage_tests!(stage1, crawler::stage1::crawl, peak: 10, sequential: false);
stage_tests!(stage2, crawler::stage2::crawl, peak: 10, sequential: false);
stage_tests!(stage3, crawler::stage3::crawl, peak: 10, sequential: false);
stage_tests!(stage4, crawler::stage4::crawl, peak: 10, sequential: false);

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
