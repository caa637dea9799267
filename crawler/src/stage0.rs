//! Stage 0: blocking — one URL after another, or one OS thread per URL.
//!
//! **New here:** nothing; this is the baseline every later stage is measured against. `fetch`
//! is the code we would all write first: connect, send, read until the response is complete.
//! Each call *blocks* the thread until the network answers.
//!
//! **Pain it shows:** one after another, the crawl costs the *sum* of the latencies — ten
//! URLs at 200 ms take two seconds, while the CPU sits idle. `crawl_threads` fixes the time
//! with one OS thread per URL (the seeds' ten-threads example), but a thread costs a stack
//! and a kernel task each, and a process can only have so many.
//!
//! **What comes next:** stage 1 waits for *all* sockets in one place, on one thread.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::fetch::{FetchError, Outcome, Page, Timeline};
use crate::http::{self, ResponseReader};
use crate::limits;
use crate::url::Url;

pub const IDEA: &str = "blocking, one URL after another";
pub const IDEA_THREADS: &str = "blocking, one OS thread per URL";

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

/// Fetches every URL at once, each on its own OS thread, and waits for them all.
pub fn crawl_threads(urls: &[String], deadline: Instant) -> Vec<Outcome> {
    // A process can start only so many threads, and past a point a new thread does not
    // fail, it *aborts* the process (it cannot map its stack). So start at most this many;
    // the URLs beyond get a clear error instead.
    let budget = limits::thread_budget().map_or(usize::MAX, |n| n as usize);
    crawl_on_threads(urls, deadline, budget)
}

fn crawl_on_threads(urls: &[String], deadline: Instant, budget: usize) -> Vec<Outcome> {
    let threads: Vec<_> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            if i >= budget {
                return Err(io::Error::other(format!(
                    "this process can start about {budget} threads (ulimit -v, ulimit -u, \
                     vm.max_map_count): fewer URLs, or an event-loop stage, which needs none"
                )));
            }
            let url = url.clone();
            thread::Builder::new()
                .name(format!("fetch {url}"))
                .spawn(move || {
                    let mut timeline = Timeline::start();
                    let result = fetch(&url, deadline, &mut timeline);
                    Outcome::new(&url, result, timeline)
                })
        })
        .collect();
    // A thread that could not be started is that URL's error, not a crash.
    threads
        .into_iter()
        .zip(urls)
        .map(|(thread, url)| {
            let failed = |why: String| {
                let error = FetchError::Runtime(io::Error::other(why));
                Outcome::new(url, Err(error), Timeline::start())
            };
            match thread {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| failed("the fetch thread panicked".into())),
                Err(e) => failed(format!("cannot start a thread: {e}")),
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::{Site, SiteConfig};

    #[test]
    fn urls_beyond_the_thread_budget_get_an_error_not_an_abort() {
        let site = Site::start(SiteConfig {
            delay: Duration::ZERO,
            ..SiteConfig::default()
        })
        .unwrap();
        let urls = site.urls(5);
        let outcomes = crawl_on_threads(&urls, Instant::now() + Duration::from_secs(10), 3);
        let ok = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(ok, 3);
        for outcome in &outcomes[3..] {
            let error = outcome.result.as_ref().unwrap_err().to_string();
            assert!(error.contains("can start about 3 threads"), "{error}");
        }
    }
}
