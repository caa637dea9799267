//! Stage 0: blocking — one URL after another, or one OS thread per URL.
//!
//! **New here:** nothing; this is the baseline every later stage is measured against. `fetch`
//! is the code we would all write first: connect, send, read until the response is complete.
//! Each call *blocks* the thread until the network answers.
//!
//! **Pain it shows:** one after another, the crawl costs the *sum* of the latencies — ten
//! URLs at 200 ms take two seconds, while the CPU sits idle. [`crawl_threads`], in
//! `stage0/threads.rs`, fixes the time with one OS thread per URL (the seeds' ten-threads
//! example), but a thread costs a stack and a kernel task each, and a process can only have
//! so many.
//!
//! **What comes next:** stage 1 waits for *all* sockets in one place, on one thread.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::fetch::{FetchError, Outcome, Page, Timeline};
use crate::http::{self, ResponseReader};
use crate::url::Url;

mod threads;

pub use threads::{IDEA_THREADS, crawl_threads};

pub const IDEA: &str = "blocking, one URL after another";

/// Fetches each URL in turn; the next one starts when the previous one has ended.
pub fn crawl(urls: &[String], deadline: Instant) -> Vec<Outcome> {
    urls.iter()
        .map(|url| {
            let mut timeline = Timeline::start();
            let result = fetch(url, deadline, &mut timeline);
            Outcome::new(url, result, timeline)
        })
        .collect()
}

// ANCHOR: fetch
/// Connects, sends the request and reads until the response is complete. Every call blocks;
/// the socket's timeouts are set from the crawl's deadline so nothing waits forever.
fn fetch(url: &str, deadline: Instant, timeline: &mut Timeline) -> Result<Page, FetchError> {
    let url = Url::parse(url)?;
    let addr = url.socket_addr()?;

    let time_left = remaining(deadline, timeline)?;
    let mut stream = TcpStream::connect_timeout(&addr, time_left)
        .map_err(|e| failed(e, timeline, FetchError::Connect))?;
    timeline.connected();

    stream
        .set_write_timeout(Some(remaining(deadline, timeline)?))
        .map_err(FetchError::Send)?;
    stream
        .write_all(&http::request(&url))
        .map_err(|e| failed(e, timeline, FetchError::Send))?;

    // ANCHOR: reading
    let mut response = ResponseReader::new();
    loop {
        stream
            .set_read_timeout(Some(remaining(deadline, timeline)?))
            .map_err(FetchError::Receive)?;
        let n = match stream.read(response.spare()) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(e, timeline, FetchError::Receive)),
        };
        if n > 0 {
            timeline.first_byte();
        }
        // An empty read is the end of the stream: the reader then says page or error.
        if let Some(page) = response.filled(n)? {
            return Ok(page);
        }
    }
    // ANCHOR_END: reading
}
// ANCHOR_END: fetch

/// The time left before `deadline`, or the timeout error if there is none.
fn remaining(deadline: Instant, timeline: &Timeline) -> Result<Duration, FetchError> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(FetchError::timed_out(timeline)),
    }
}

/// A blocking call's error: its own timeout is the crawl's deadline passing.
fn failed(e: io::Error, timeline: &Timeline, wrap: fn(io::Error) -> FetchError) -> FetchError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => FetchError::timed_out(timeline),
        _ => wrap(e),
    }
}
