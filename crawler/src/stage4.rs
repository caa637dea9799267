//! Stage 4: std `Future` + `Waker` — the fetch is an `async fn`.
//!
//! **New here:** `fetch` reads like stage 0's blocking one — connect, send, read until the
//! response is complete, `?` for every error — and the compiler turns it into the state
//! machine stage 2 wrote by hand; each `.await` is stage 3's `yield from`. The runtime
//! ([`runtime::stage4`]) drives it.
//!
//! **Pain removed:** the code that waits looks like the code that blocks.
//!
//! **Pain left:** no timeouts: a URL that hangs holds the crawl until its deadline. No cap on
//! the fan-out, and a blocking call in a task (`Url::socket_addr` resolving a host name)
//! freezes every other task. Stage 5 brings timeouts, a cap and `spawn_blocking`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use log::debug;
use runtime::stage4::{Executor, JoinError, JoinHandle, TcpStream};

use crate::fetch::{FetchError, Outcome, Page, Timeline};
use crate::http::{self, ResponseReader};
use crate::url::Url;

pub const IDEA: &str = "std Future + Waker: async fn";

/// Spawns a task per URL, then joins them until they have all ended or the deadline passes.
pub fn crawl(urls: &[String], deadline: Instant) -> Vec<Outcome> {
    let mut executor = match Executor::new() {
        Ok(executor) => executor,
        Err(e) => return Outcome::all_failed(urls, &e),
    };
    // Each timeline is shared with its task: a task still running at the deadline is
    // dropped, and its timeline must still say what it was doing.
    let mut tasks: Vec<(JoinHandle<_>, Rc<RefCell<Timeline>>)> = urls
        .iter()
        .map(|url| {
            let timeline = Rc::new(RefCell::new(Timeline::start()));
            let task = executor.spawn({
                let (url, timeline) = (url.clone(), timeline.clone());
                async move {
                    let result = fetch(&url, &timeline).await;
                    timeline.borrow_mut().end();
                    result
                }
            });
            debug!("task {} is {url}", task.id());
            (task, timeline)
        })
        .collect();
    // Awaiting the handles one by one does not make the fetches run one by one: they all run
    // while we wait for the first. At the deadline the executor drops every task still
    // running (its socket is deregistered and closed) and its handle says `Cancelled`.
    let joined = executor.block_on_until(deadline, async {
        let mut results = Vec::new();
        for (task, _) in &mut tasks {
            results.push(task.await);
        }
        results
    });
    let results = match joined {
        Ok(results) => results,
        Err(e) => return Outcome::all_failed(urls, &e),
    };
    results
        .into_iter()
        .zip(urls.iter().zip(&tasks))
        .map(|(joined, (url, (_, timeline)))| {
            let timeline = *timeline.borrow();
            let result = match joined {
                Ok(result) => result,
                Err(JoinError::Cancelled) => Err(FetchError::timed_out(&timeline)),
            };
            Outcome::new(url, result, timeline)
        })
        .collect()
}

// ANCHOR: fetch
/// Connects, sends the request and reads until the response is complete: stage 0's `fetch`,
/// with `.await` wherever stage 0 blocked.
pub async fn fetch(url: &str, timeline: &RefCell<Timeline>) -> Result<Page, FetchError> {
    let url = Url::parse(url)?;
    let addr = url.socket_addr()?;

    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(FetchError::Connect)?;
    timeline.borrow_mut().connected();

    stream
        .write_all(&http::request(&url))
        .await
        .map_err(FetchError::Send)?;

    read_all(&mut stream, timeline).await
}
// ANCHOR_END: fetch

// ANCHOR: read_all
/// Reads until the response is complete, into the reader's own buffer (no array across `.await`).
async fn read_all(
    stream: &mut TcpStream,
    timeline: &RefCell<Timeline>,
) -> Result<Page, FetchError> {
    let mut response = ResponseReader::new();
    loop {
        let room = response.spare();
        let n = stream.read(room).await.map_err(FetchError::Receive)?;
        if n > 0 {
            timeline.borrow_mut().first_byte();
        }
        // An empty read is the end of the stream: the reader then says page or error.
        if let Some(page) = response.filled(n)? {
            return Ok(page);
        }
    }
}
// ANCHOR_END: read_all
