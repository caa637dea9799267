//! Stage 0 with `--threads`: one OS thread per URL, each running stage 0's blocking `fetch`.
//! The seeds' ten-threads example: the crawl takes about one latency, as the event loops do,
//! but each fetch holds a thread — a stack and a kernel task — and a process can start only so
//! many.

use std::io;
use std::thread;
use std::time::Instant;

use super::fetch;
use crate::fetch::{FetchError, Outcome, Timeline};
use crate::limits;

pub const IDEA_THREADS: &str = "blocking, one OS thread per URL";

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
