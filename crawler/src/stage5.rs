//! Stage 5: the toolkit — the full crawler, the final design of the "500 Lines or Less" one.
//!
//! **New here:** the crawl is no longer "fetch this list". It starts from the root URLs, finds
//! the links on each page, keeps those on the roots' hosts that it has not seen, and fetches
//! them too, until nothing new turns up. The work goes through a [`Queue`]: `--max-tasks`
//! workers each take a URL, fetch it, put the new links back, and call `task_done`; the crawl
//! is over when the queue's `join` returns, and the idle workers are then aborted. Each
//! request has its own [`timeout_at`]; a failure that may pass is retried after a pause
//! ([`sleep_until`]); redirects are followed up to a limit; host names are resolved on the
//! blocking pool ([`spawn_blocking`]), off the loop.
//!
//! **Pain removed:** a URL that hangs times out alone, and its worker goes on with the next
//! one; the fan-out is capped — ten thousand URLs never mean ten thousand sockets; a slow DNS
//! lookup no longer freezes every other fetch.
//!
//! **Pain left:** one thread still does all the work; see "Where next" in NOTES.md.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{debug, warn};
use runtime::stage5::{
    Executor, JoinError, JoinHandle, Queue, TcpStream, Timeout, sleep_until, spawn, spawn_blocking,
    timeout_at,
};

use crate::fetch::{FetchError, Outcome, Page, Timeline};
use crate::http::{self, ResponseReader};
use crate::limits::LeftOut;
use crate::links;
use crate::report::{Crawled, Found, Record};
use crate::url::Url;

mod options;

pub use options::Options;
use options::{may_pass, redirect_location};

pub const IDEA: &str = "the toolkit: queue + workers, timeouts";

/// After this long past the deadline, the crawl stops waiting for its workers (every request
/// ends by the deadline, so this only guards against a bug).
const GRACE: Duration = Duration::from_secs(1);

/// The pause before a retry, times the number of tries so far.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The tour's and the stage tests' crawl: exactly `urls`, outcomes in their order, with
/// the default options — ten workers, retries, redirects, per-request timeouts — but without
/// following links, so that every stage does the same work.
pub fn crawl(urls: &[String], deadline: Instant) -> Vec<Outcome> {
    let options = Options {
        follow_links: false,
        ..Options::default()
    };
    crawl_with(urls, deadline, &options).outcomes
}

/// Crawls from `roots` until no new URL turns up, or until `deadline`.
pub fn crawl_with(roots: &[String], deadline: Instant, options: &Options) -> Crawled {
    let mut executor = match Executor::new() {
        Ok(executor) => executor,
        Err(e) => return Crawled::all_failed(roots, &e),
    };
    let crawler = Rc::new(Crawler::new(roots, deadline, options));
    if let Err(e) = executor.block_on(crawler.clone().run()) {
        return Crawled::all_failed(roots, &e);
    }
    // Dropping the executor drops whatever task is left: every socket is closed by now.
    drop(executor);
    let mut crawled = Crawled::from(crawler.records.take());
    crawled.left_out = crawler.left_out.take();
    crawled
}

/// What the workers share. One thread, so `RefCell`s, and `Rc` to share it.
struct Crawler {
    options: Options,
    deadline: Instant,
    /// The hosts (and ports) of the roots: the crawl does not leave them.
    hosts: HashSet<(String, u16)>,
    /// Every URL ever queued, so that each is fetched once: kept only if links are followed.
    seen: RefCell<HashSet<String>>,
    /// The URLs waiting for a worker, as indexes into `records`.
    queue: Queue<usize>,
    /// One record per URL queued, in that order; filled in when its fetch ends.
    records: RefCell<Vec<Record>>,
    /// The links kept out by `--max-pages` and the cap on a URL's length, counted.
    left_out: RefCell<LeftOut>,
}

impl Crawler {
    fn new(roots: &[String], deadline: Instant, options: &Options) -> Crawler {
        let crawler = Crawler {
            options: options.clone(),
            deadline,
            hosts: roots
                .iter()
                .filter_map(|root| Url::parse(root).ok())
                .map(|url| (url.host, url.port))
                .collect(),
            seen: RefCell::new(HashSet::new()),
            queue: Queue::new(),
            records: RefCell::new(Vec::new()),
            left_out: RefCell::new(LeftOut {
                max_pages: options.max_pages,
                ..LeftOut::default()
            }),
        };
        // Every root is queued, even twice: each URL given gets its outcome.
        for root in roots {
            if options.follow_links {
                let key = Url::parse(root).map_or_else(|_| root.clone(), |url| url.to_string());
                crawler.seen.borrow_mut().insert(key);
            }
            crawler.add(root.clone());
        }
        crawler
    }

    /// Queues `url` and makes room for its record.
    fn add(&self, url: String) {
        let mut records = self.records.borrow_mut();
        let index = records.len();
        debug!("queue #{index}: {url}");
        records.push(Record { url, ended: None });
        // An unbounded queue: `put_nowait` cannot fail.
        let _ = self.queue.put_nowait(index);
    }

    // ANCHOR: run
    /// Starts the workers, waits until every URL queued has been dealt with, then cancels
    /// the workers — all idle by then, waiting in `get`.
    async fn run(self: Rc<Self>) {
        let workers: Vec<JoinHandle<()>> = (0..self.options.max_tasks)
            .map(|n| spawn(self.clone().work(n)))
            .collect();
        // Not "until the queue is empty": it is, for a moment, whenever every worker is busy.
        // Done means every URL taken has been marked `task_done`, so none can add more.
        if timeout_at(self.deadline + GRACE, self.queue.join())
            .await
            .is_err()
        {
            warn!("the workers did not finish by the deadline");
        }
        for worker in &workers {
            worker.abort();
        }
        // Wait until they are gone: a cancelled worker drops its socket, if it still had one.
        for worker in workers {
            if let Err(JoinError::Panicked(why)) = worker.await {
                warn!("a worker panicked: {why}");
            }
        }
        // Only if the workers were cut off: what they never took ends here.
        while let Some(index) = self.queue.get_nowait() {
            let timeline = Timeline::start();
            let error = FetchError::TimedOut {
                phase: "waiting in the queue",
            };
            self.record(index, Err(error), timeline, Found::default());
            self.queue.task_done();
        }
    }
    // ANCHOR_END: run

    /// A worker: take a URL, fetch it, record how it ended, mark it done, and again — until
    /// it is cancelled. A fetch that fails is an error recorded for its URL, never the end
    /// of the worker.
    async fn work(self: Rc<Self>, worker: usize) {
        loop {
            let index = self.queue.get().await;
            debug!(
                "worker {worker} takes #{index}: {}",
                self.records.borrow()[index].url
            );
            // Boxed: a worker idle in `get` need not keep the state of a URL.
            Box::pin(self.visit(index)).await;
        }
    }

    /// One URL: fetch it (retries and redirects included), then queue its new links.
    async fn visit(&self, index: usize) {
        // Whatever happens from here — an error, or this worker cancelled in the middle
        // of the fetch — the URL gets an outcome and the queue hears `task_done`.
        let mut claim = Claim {
            crawler: self,
            index,
            timeline: RefCell::new(Timeline::start()),
            found: Found::default(),
            ended: false,
        };
        if Instant::now() >= self.deadline {
            let error = FetchError::TimedOut {
                phase: "waiting in the queue",
            };
            return claim.end(Err(error));
        }
        // Lent: an `async fn` keeps a value given apart from its local copy (rustc #62958).
        let fetched = self.fetch_url(&mut claim).await;
        let result = fetched.map(|(final_url, page)| {
            if self.options.follow_links {
                self.queue_links(&final_url, &page, &mut claim.found);
            }
            page
        });
        claim.end(result);
    }

    /// One URL, start to end: its requests, and the redirects followed, up to `max_redirect`.
    /// Returns the page and the URL it came from in the end.
    async fn fetch_url(&self, claim: &mut Claim<'_>) -> Result<(Url, Page), FetchError> {
        let mut url = Url::parse(&self.records.borrow()[claim.index].url)?;
        loop {
            let page = self.fetch_with_retries(&url, claim).await?;
            let Some(location) = redirect_location(&page) else {
                return Ok((url, page));
            };
            let next = url.join(location).ok_or_else(|| {
                FetchError::BadUrl(format!("cannot follow the redirect to {location:?}"))
            })?;
            if claim.found.redirects.len() >= self.options.max_redirect {
                let limit = self.options.max_redirect;
                let next = next.to_string();
                return Err(FetchError::TooManyRedirects { limit, next });
            }
            debug!("{url}: {} redirects to {next}", page.status);
            claim.found.redirects.push(next.to_string());
            url = next;
        }
    }

    /// Requests `url`, and again after a pause, up to `max_tries` in all, while the error is
    /// one that may pass and the crawl's deadline allows.
    async fn fetch_with_retries(
        &self,
        url: &Url,
        claim: &mut Claim<'_>,
    ) -> Result<Page, FetchError> {
        let mut tries = 0;
        loop {
            tries += 1;
            claim.found.tries += 1;
            // A new request: the bar keeps its start (it covers every try), not the old phases.
            claim.timeline.replace_with(|old| Timeline {
                start: old.start,
                ..Timeline::start()
            });
            // Out of the `match`, whose scrutinee (a whole result) would live through the pause.
            let error = match self.request(url, &claim.timeline).await {
                Err(e) if tries < self.options.max_tries && may_pass(&e) => e,
                result => return result,
            };
            let pause = (Instant::now() + RETRY_PAUSE * tries as u32).min(self.deadline);
            debug!("{url}: try {tries} failed ({error}); retrying");
            sleep_until(pause).await;
            if Instant::now() >= self.deadline {
                return Err(error);
            }
        }
    }

    /// One request under its own timeout (or less, if the crawl's deadline comes first): at
    /// the timeout `fetch` is dropped, its socket closed; the timeline says what it was doing.
    async fn request(&self, url: &Url, timeline: &RefCell<Timeline>) -> Result<Page, FetchError> {
        let limit = (Instant::now() + self.options.request_timeout).min(self.deadline);
        // Pinned here, in the URL's box: `timeout_at` would box it apart, once more per URL.
        match Timeout::pinned(limit, pin!(fetch(url, timeline))).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::timed_out(&timeline.borrow())),
        }
    }

    // ANCHOR: queue_links
    /// Queues the links of `page` that stay on the roots' hosts and were never seen, while the
    /// crawl's limits admit them; `found` counts them (each once) and the new ones. Only an
    /// HTML page is read, and only when it arrived: an error page's links lead nowhere new.
    fn queue_links(&self, base: &Url, page: &Page, found: &mut Found) {
        if page.status != 200 || !links::is_html(page) {
            return;
        }
        let links = links::links(base, &page.body);
        (found.capped, found.too_long) = (links.capped, links.too_long);
        let mut on_page = HashSet::new();
        for link in links.urls {
            if !self.hosts.contains(&(link.host.clone(), link.port)) {
                continue;
            }
            let link = link.to_string();
            if !on_page.insert(link.clone()) {
                continue;
            }
            let known = self.records.borrow().len();
            if self.seen.borrow_mut().insert(link.clone())
                && self.left_out.borrow_mut().admit(&link, known)
            {
                found.new += 1;
                self.add(link);
            }
        }
        found.links = on_page.len();
    }
    // ANCHOR_END: queue_links

    fn record(
        &self,
        index: usize,
        result: Result<Page, FetchError>,
        timeline: Timeline,
        found: Found,
    ) {
        let mut records = self.records.borrow_mut();
        let record = &mut records[index];
        let url = &record.url;
        match &result {
            Ok(page) => debug!(
                "#{index} {url}: {} ({} bytes)",
                page.status,
                page.body.len()
            ),
            Err(e) => debug!("#{index} {url}: {e}"),
        }
        let outcome = Outcome::new(url, result, timeline);
        record.ended.get_or_insert(Box::new((outcome, found)));
    }
}

/// A URL a worker has taken from the queue. Ending it records the outcome and tells the
/// queue `task_done`. If it is dropped without an end — its worker was cancelled or panicked
/// in the middle of the fetch — `Drop` does both, so the URL is never lost and `join` never
/// waits for it forever: cancellation-safety by destructor.
struct Claim<'a> {
    crawler: &'a Crawler,
    index: usize,
    timeline: RefCell<Timeline>,
    found: Found,
    ended: bool,
}

impl Claim<'_> {
    fn end(&mut self, result: Result<Page, FetchError>) {
        let found = std::mem::take(&mut self.found);
        self.crawler
            .record(self.index, result, *self.timeline.borrow(), found);
        self.crawler.queue.task_done();
        self.ended = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.ended {
            let phase = self.timeline.borrow().phase();
            let why = format!("the fetch was cut off while {phase}: its worker stopped");
            self.end(Err(FetchError::Runtime(io::Error::other(why))));
        }
    }
}

// ANCHOR: fetch
/// Connects, sends the request and reads until the response is complete: stage 4's `fetch`,
/// with the address resolved off the loop.
pub async fn fetch(url: &Url, timeline: &RefCell<Timeline>) -> Result<Page, FetchError> {
    let addrs = resolve(url).await?;

    let mut stream = connect(addrs).await.map_err(FetchError::Connect)?;
    timeline.borrow_mut().connected();

    stream
        .write_all(&http::request(url))
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

/// The addresses of the URL's host. An IP address needs no lookup. A name goes to the
/// system resolver, which *blocks* — for as long as the DNS server takes — so it runs on the
/// blocking pool, and the loop serves every other fetch meanwhile.
async fn resolve(url: &Url) -> Result<Vec<SocketAddr>, FetchError> {
    if let Ok(ip) = url.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, url.port)]);
    }
    let (host, port) = (url.host.clone(), url.port);
    let lookup = spawn_blocking(move || {
        (host.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect::<Vec<_>>)
    });
    let failed = |source| FetchError::Resolve {
        host: url.host.clone(),
        source,
    };
    match lookup.await {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(failed(io::Error::other("no address found"))),
        Ok(Err(e)) => Err(failed(e)),
        Err(e) => Err(FetchError::Runtime(io::Error::other(e.to_string()))),
    }
}

/// Connects to the first address that accepts: `localhost` may resolve to `::1` and
/// `127.0.0.1`, and a server may listen on only one of them. Taken: none outlives the connect.
async fn connect(addrs: Vec<SocketAddr>) -> io::Result<TcpStream> {
    let mut last_error = io::Error::other("no address to connect to");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// One request on the stage 5 runtime, outside any crawl: what `examples/toolkit.rs` awaits to
/// show the tools one at a time. Must run inside `Executor::block_on`.
pub async fn get(url: &str) -> Result<Page, FetchError> {
    let timeline = RefCell::new(Timeline::start());
    fetch(&Url::parse(url)?, &timeline).await
}
