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

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use log::debug;
use runtime::stage4::{Executor, TcpStream};

use crate::fetch::{FetchError, Outcome, Page, Timeline};
use crate::http::{self, ResponseReader};
use crate::url::Url;

pub const IDEA: &str = "std Future + Waker: async fn";

/// Where a task leaves its fetch's result, for the crawl to take once the executor stops.
type Fetched = Rc<Cell<Option<Result<Page, FetchError>>>>;

/// Spawns a task per URL, then runs the executor until they have all ended or the deadline passes.
pub fn crawl(urls: &[String], deadline: Instant) -> Vec<Outcome> {
    let mut executor = match Executor::new() {
        Ok(executor) => executor,
        Err(e) => return Outcome::all_failed(urls, &e),
    };
    let tasks: Vec<(Fetched, Rc<RefCell<Timeline>>)> = urls
        .iter()
        .map(|url| {
            let fetched = Fetched::default();
            let timeline = Rc::new(RefCell::new(Timeline::start()));
            let task = executor.spawn(fetch_into(url.clone(), fetched.clone(), timeline.clone()));
            debug!("task {task} is {url}");
            (fetched, timeline)
        })
        .collect();
    let stopped = executor.run_until(deadline);
    // Whatever has not ended by now ends here: at the deadline with a timeout, or with the
    // loop's own error. Dropping the executor drops its tasks: their sockets close.
    drop(executor);
    tasks
        .iter()
        .zip(urls)
        .map(|((fetched, timeline), url)| {
            let result = fetched.take().unwrap_or_else(|| {
                Err(match &stopped {
                    Ok(_) => FetchError::timed_out(&timeline.borrow()),
                    Err(e) => FetchError::runtime(e),
                })
            });
            Outcome::new(url, result, *timeline.borrow())
        })
        .collect()
}

/// A task: fetches `url`, then leaves the result in `fetched`. The crawl shares the timeline:
/// a task dropped at the deadline leaves it saying what it was doing.
async fn fetch_into(url: String, fetched: Fetched, timeline: Rc<RefCell<Timeline>>) {
    let result = fetch(&url, &timeline).await;
    timeline.borrow_mut().end();
    fetched.set(Some(result));
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
