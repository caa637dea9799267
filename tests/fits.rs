//! Limits said up front: a crawl whose fetches in flight cannot fit the process's file
//! descriptors is refused before it starts, with what it needs, the limit and the ways out;
//! so is an echo demo with more clients than fit. And the rest of what these limits brought:
//! stage 5's `--max-pages`, the echo demo's summary, the standalone site's addresses for the
//! room.

mod support;

#[allow(dead_code)] // the example's `main`
#[path = "../examples/stage5.rs"]
mod stage5_example;

#[allow(dead_code)] // the example's `main`
#[path = "../examples/site.rs"]
mod site_example;

#[allow(dead_code)] // the example's `main`, and what these tests do not use
#[path = "../examples/echo.rs"]
mod echo;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crawler::cli::{self, InFlight};
use crawler::limits::{self, LeftOut};
use support::parse;

/// More than this process may open, whatever its limit (a million where it is unknown).
fn too_many() -> usize {
    limits::open_files().map_or(1_000_000, |n| n as usize * 2)
}

#[test]
fn a_crawl_that_cannot_fit_is_refused_with_what_it_needs_and_the_ways_out() {
    if limits::open_files().is_none() {
        return; // not Linux: nothing is checked
    }
    let n = too_many();
    let message = cli::fits("stage1", InFlight::Every(n), true).unwrap_err();
    for says in [
        format!("stage1 starts all {n} fetches at once"),
        "its socket, and the built-in site's end of it".to_string(),
        format!("{} in all", 2 * n),
        "(ulimit -n)".to_string(),
        "crawl fewer URLs: ".to_string(),
        "`ulimit -n ".to_string(),
        "--base".to_string(),
        "use stage 5, whose --max-tasks caps the fetches in flight.".to_string(),
    ] {
        assert!(message.contains(&says), "{says:?} in:\n{message}");
    }
    // Against another server, one descriptor per fetch, and no site to move.
    let message = cli::fits("stage4", InFlight::Every(n), false).unwrap_err();
    assert!(message.contains(&format!("a file descriptor, its socket: {n} in all")));
    assert!(!message.contains("--base"), "{message}");
    // Stage 5 needs only --max-tasks to fit, and says so.
    let message = cli::fits("stage5", InFlight::MaxTasks(n), true).unwrap_err();
    assert!(message.contains("lower --max-tasks: "), "{message}");
    assert!(!message.contains("use stage 5"), "{message}");
}

#[test]
fn a_crawl_that_fits_is_not_refused() {
    assert_eq!(cli::fits("stage1", InFlight::Every(10), true), Ok(()));
    assert_eq!(cli::fits("stage5", InFlight::MaxTasks(10), true), Ok(()));
    // One at a time fits anywhere, however many URLs.
    assert_eq!(cli::fits("stage0", InFlight::One, true), Ok(()));
}

#[test]
fn an_echo_demo_that_cannot_fit_is_refused() {
    if limits::open_files().is_none() {
        return;
    }
    let n = too_many();
    let message = echo::clients_fit(n).unwrap_err();
    assert!(message.contains(&format!("--clients {n} needs {}", 2 * n)));
    assert!(message.contains("lower --clients: "), "{message}");
    assert_eq!(echo::clients_fit(10), Ok(()));
}

#[test]
fn the_echo_demo_summary_is_what_happened() {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let demo = echo::demo(SocketAddr::from(([127, 0, 0, 1], 0)), 40);
        let _ = done.send(demo.map(|demo| (demo.ok(), demo.summary())));
    });
    let (ok, summary) = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the demo hung")
        .expect("the demo failed");
    let bytes: usize = (0..40)
        .map(|i| format!("hello from client {i}\n").len())
        .sum();
    assert_eq!(ok, 40);
    assert_eq!(
        summary,
        format!(
            "40 of 40 clients got their line back; the server accepted 40 connections, held \
             40 at once and echoed {bytes} bytes, all on one thread\n"
        )
    );
}

#[test]
fn stage_5_takes_max_pages() {
    let args = parse(stage5_example::example(), &["--max-pages", "50"]).unwrap();
    assert_eq!(args.stage.max_pages, 50);
    let defaults = parse(stage5_example::example(), &[]).unwrap();
    assert_eq!(defaults.stage.max_pages, 1000);
    let message = parse(stage5_example::example(), &["--max-pages=0"]).unwrap_err();
    assert!(message.contains("'--max-pages <N>': expects a whole number of at least 1"));
}

#[test]
fn the_crawl_limits_admit_and_count() {
    let mut left_out = LeftOut {
        max_pages: 2,
        ..LeftOut::default()
    };
    assert!(left_out.admit("http://h/1", 1));
    assert!(!left_out.admit("http://h/2", 2));
    assert!(!left_out.admit(&format!("http://h/{}", "a".repeat(2000)), 0));
    assert_eq!((left_out.over_max_pages, left_out.too_long), (1, 1));
}

/// `/proc/net/fib_trie` as a machine with one network interface prints it.
const FIB_TRIE: &str = "\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     +-- 192.0.2.0/24 2 0 2
           |-- 192.0.2.2
              /32 host LOCAL
";

#[test]
fn the_site_on_every_interface_tells_the_room_where_it_is() {
    let found = site_example::addresses_in_fib_trie(FIB_TRIE);
    assert_eq!(
        found,
        [Ipv4Addr::new(192, 0, 2, 2)],
        "loopback left out, once"
    );
    let addr = SocketAddr::from(([0, 0, 0, 0], 8000));
    let text = site_example::for_the_room(addr, &found);
    assert!(text.contains("  http://192.0.2.2:8000/"), "{text}");
    assert!(text.contains("--base http://192.0.2.2:8000"), "{text}");
    // Where the addresses cannot be read, it still says what to do.
    let text = site_example::for_the_room(addr, &[]);
    assert_eq!(
        text,
        "listening on all interfaces; attendees use http://<this machine's address>:8000/\n"
    );
    // This machine's own table parses (whatever it holds), and never lists loopback.
    assert!(
        site_example::local_addresses()
            .iter()
            .all(|ip| !ip.is_loopback())
    );
}
