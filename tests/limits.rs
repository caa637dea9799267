//! A crawl at the edges of what it was asked, and a report that says so plainly:
//!
//! - stage 5 against a site without end — in breadth (every page links to two new ones) and
//!   in depth (every link one step longer): the crawl stops at `--max-pages`, and does not
//!   follow a URL longer than 2000 bytes, and its report names the limit;
//! - a deadline of a thousand years: refused on the command line (a day at most), where it
//!   would otherwise overflow `Instant + Duration`;
//! - `--count` with URLs: an error that says why, like `--delay-ms` with URLs;
//! - the report: `1 URL`, a status line without a reason phrase (`200`, not `200 ,`), a
//!   failure that took no time drawn as one `x`, and a comparison with "one after another"
//!   that counts only the pages that came back.
//!
//! These tests use only what the crate offered before these limits existed, so that run
//! against the older code, each of them fails.

mod support;

#[allow(dead_code)] // the example's `main`
#[path = "../examples/stage5.rs"]
mod stage5_example;

use std::time::{Duration, Instant};

use crawler::cli::{self, NoOptions};
use crawler::fetch::{FetchError, Outcome, Page, Timeline};
use crawler::report::{self, Crawl};
use crawler::stage5::{self, Options};
use support::parse;
use support::{Fault, FaultServer};

/// A bound on how long a crawl here may take before the test calls it hung: the crawls end in
/// well under a second when they work.
const HUNG: Duration = Duration::from_secs(60);

/// Stage 5's whole crawl (links followed) from `root`, with the default options.
fn crawl_from(root: String) -> report::Crawled {
    support::within(HUNG, move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        stage5::crawl_with(&[root], deadline, &Options::default())
    })
}

#[test]
fn a_site_without_end_stops_at_max_pages() {
    let server = FaultServer::start();
    let crawled = crawl_from(server.url(Fault::Tree));
    assert_eq!(crawled.outcomes.len(), 1000, "the default --max-pages");
    assert!(crawled.outcomes.iter().all(|o| o.is_ok()));
    let found = report::render_found(&crawled);
    assert!(
        found.contains(
            "stopped at --max-pages 1000: 1001 new links found after that were not crawled"
        ),
        "the report names the limit:\n{found}"
    );
}

#[test]
fn a_link_longer_than_2000_bytes_is_not_followed() {
    let server = FaultServer::start();
    let crawled = crawl_from(server.url(Fault::Deeper));
    let longest = crawled.outcomes.iter().map(|o| o.url.len()).max().unwrap();
    assert!(longest <= 2000, "fetched a URL of {longest} bytes");
    assert!(
        crawled.outcomes.len() < 1000,
        "stopped by length, not by count"
    );
    assert!(crawled.outcomes.iter().all(|o| o.is_ok()));
    let found = report::render_found(&crawled);
    assert!(
        found.contains("1 link longer than 2000 bytes was not followed"),
        "{found}"
    );
}

#[test]
fn a_deadline_past_a_day_is_refused_before_it_can_overflow() {
    let huge = u64::MAX.to_string();
    for args in [
        &["--timeout-ms", huge.as_str()][..],
        &["--timeout-ms", "86400001"][..],
    ] {
        let message = parse(cli::example::<NoOptions>("stageN", "a test"), args).unwrap_err();
        assert!(
            message.contains("too large (at most 86400000)"),
            "{message}"
        );
    }
    let message = parse(stage5_example::example(), &["--request-timeout-ms", &huge]);
    assert!(message.unwrap_err().contains("at most 86400000"));
    // The longest accepted is a day, and a day from now is an instant like any other.
    let args = parse(
        cli::example::<NoOptions>("stageN", "a test"),
        &["--timeout-ms=86400000"],
    );
    let timeout = args.unwrap().timeout;
    assert!(Instant::now().checked_add(timeout).is_some());
}

#[test]
fn count_with_urls_is_an_error_that_says_why() {
    let message = parse(
        cli::example::<NoOptions>("stageN", "a test"),
        &["--count", "3", "http://127.0.0.1:8000/"],
    )
    .unwrap_err();
    assert!(
        message.contains("--count") && message.contains("with URLs or paths"),
        "{message}"
    );
    // With --base, --count chooses the paths: fine.
    let args = ["--base", "http://127.0.0.1:8000", "--count", "3"];
    assert_eq!(
        parse(cli::example::<NoOptions>("stageN", "a test"), &args)
            .unwrap()
            .count,
        3
    );
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

/// An outcome on the crawl's time axis: from `start` to `end` (microseconds after `t0`).
fn outcome(path: &str, t0: Instant, us: [u64; 2], result: Result<Page, FetchError>) -> Outcome {
    let at = |us: u64| t0 + Duration::from_micros(us);
    let timeline = Timeline {
        start: at(us[0]),
        connected: None,
        first_byte: None,
        end: Some(at(us[1])),
    };
    Outcome::new(&format!("http://127.0.0.1:1{path}"), result, timeline)
}

fn page(reason: &str) -> Result<Page, FetchError> {
    Ok(Page {
        status: 200,
        reason: reason.to_string(),
        headers: Vec::new(),
        body: b"no reason".to_vec(),
    })
}

fn refused() -> Result<Page, FetchError> {
    Err(FetchError::Connect(
        std::io::ErrorKind::ConnectionRefused.into(),
    ))
}

fn crawl(wall_us: u64, t0: Instant, outcomes: Vec<Outcome>) -> Crawl {
    Crawl {
        stage: "stageN".to_string(),
        started: t0,
        wall: Duration::from_micros(wall_us),
        outcomes,
    }
}

#[test]
fn one_url_is_one_url() {
    let t0 = Instant::now();
    let text = report::render(&crawl(
        1000,
        t0,
        vec![outcome("/", t0, [0, 900], page("OK"))],
    ));
    assert!(text.starts_with("stageN: 1 URL\n"), "{text}");
}

#[test]
fn a_status_without_a_reason_phrase_prints_alone() {
    let t0 = Instant::now();
    let text = report::render(&crawl(1000, t0, vec![outcome("/", t0, [0, 900], page(""))]));
    assert!(text.contains("ms  200, 9 B\n"), "{text}");
    assert!(!text.contains("200 ,"), "{text}");
}

#[test]
fn a_failure_that_took_no_time_is_one_x_where_it_happened() {
    // A crawl of one millisecond: a failure from 0.1 to 0.7 ms spans most of the axis, yet
    // its line says 0 ms. It is drawn as what it was: a failure, at its start.
    let t0 = Instant::now();
    let outcomes = vec![
        outcome("/", t0, [0, 1000], page("OK")),
        outcome("/1", t0, [100, 700], refused()),
    ];
    let text = report::render(&crawl(1000, t0, outcomes));
    let line = text.lines().find(|l| l.contains("/1 ")).unwrap();
    let bar = line.split('|').nth(1).unwrap();
    assert_eq!(bar.trim(), "x", "{text}");
    assert!(line.contains("|     0 ms  ERROR connect failed"), "{text}");
}

#[test]
fn one_after_another_counts_only_the_pages_that_came_back() {
    let t0 = Instant::now();
    let ms = |ms: u64| ms * 1000;
    // Two pages of 200 ms, and a fetch cut off by the 5 s deadline.
    let outcomes = vec![
        outcome("/", t0, [0, ms(200)], page("OK")),
        outcome("/1", t0, [0, ms(200)], page("OK")),
        outcome(
            "/2",
            t0,
            [0, ms(5000)],
            Err(FetchError::TimedOut {
                phase: "connecting",
            }),
        ),
    ];
    let summary = crawl(ms(5000), t0, outcomes).summary();
    assert!(
        summary.ends_with("; one after another, the 2 pages alone: at most 400 ms (0.1x at most)"),
        "{summary}"
    );
    // Nothing came back: nothing to compare.
    let failed = vec![outcome("/", t0, [0, ms(5000)], refused())];
    let summary = crawl(ms(5000), t0, failed).summary();
    assert_eq!(
        summary,
        "0 ok, 0 HTTP errors, 1 failed in 5000 ms; peak 1 in flight"
    );
}
