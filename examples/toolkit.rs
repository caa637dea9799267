//! The seeds' toolkit demos on the stage 5 runtime, one after another, against the built-in
//! site (`?delay_ms=N` gives a request its own delay):
//!
//! 1. a `Semaphore` capping how many fetches run at once — the site's peak shows the cap;
//! 2. `as_completed`: results in the order they finish, not the order they were asked for;
//! 3. `wait` with a timeout, then cancel what is still pending (seed 002's `asyncio.wait`);
//! 4. seed 004's spinner: a task that spins while a slow one works, cancelled when it ends.
//!
//! ```text
//! cargo run --example toolkit
//! ```

use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use crawler::fetch::{FetchError, Page};
use crawler::site::{Site, SiteConfig};
use crawler::stage5::get;
use runtime::stage5::{Executor, JoinError, Semaphore, as_completed, sleep, spawn, wait};

/// The demos take no options.
#[derive(clap::Parser)]
struct NoOptions {}

fn main() -> ExitCode {
    let about = "the seeds' demos on the stage 5 runtime, one after another";
    if let Err(code) = crawler::cli::Command::<NoOptions>::new("toolkit", about).parse_env() {
        return code;
    }
    crawler::cli::init_logging();
    let run = || -> Result<Report, String> {
        let site = Site::start(SiteConfig::default()).map_err(|e| e.to_string())?;
        let mut executor = Executor::new().map_err(|e| e.to_string())?;
        let report = executor
            .block_on(demos(&site, true))
            .map_err(|e| e.to_string())?;
        Ok(report)
    };
    match run() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("toolkit: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the demos saw, for the test to check.
#[derive(Debug, Default)]
pub struct Report {
    pub waited_done: usize,
    pub cancelled: usize,
    pub completion_order: Vec<String>,
    pub peak_with_semaphore: usize,
    pub spinner_frames: usize,
    pub answer: u32,
}

/// Runs the four demos; prints what happens when `print` is set.
pub async fn demos(site: &Site, print: bool) -> Report {
    let say = |line: String| {
        if print {
            println!("{line}");
        }
    };
    let mut report = Report::default();

    // 1. A Semaphore of 3 in front of ten fetches: never more than 3 connections at once.
    say("1. a Semaphore(3) in front of ten fetches".into());
    site.reset_counters();
    let semaphore = Rc::new(Semaphore::new(3));
    let handles: Vec<_> = site
        .urls(10)
        .into_iter()
        .map(|url| {
            let semaphore = semaphore.clone();
            spawn(async move {
                let _permit = semaphore.acquire().await;
                get(&url).await
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.await;
    }
    report.peak_with_semaphore = site.peak_connections();
    say(format!(
        "   the site saw {} requests, at most {} at once",
        site.requests(),
        report.peak_with_semaphore
    ));

    // 2. as_completed: asked for in the order /3, /1, /2; they finish by their delays.
    say("2. as_completed: results in the order they finish".into());
    let asked = [("/3", 300), ("/1", 100), ("/2", 200)];
    let mut fetches = as_completed(asked.map(|(path, ms)| {
        let url = site.url(&format!("{path}?delay_ms={ms}"));
        async move { (path, get(&url).await) }
    }));
    while let Some((path, page)) = fetches.next().await {
        say(format!("   {path}: {}", status(&page)));
        report.completion_order.push(path.to_string());
    }

    // 3. wait(…, timeout): two answer in time, one does not; the one left is cancelled. (The
    //    site keeps the cancelled request's connection until it tries to answer: this demo
    //    comes after the semaphore's, whose count of connections it would otherwise spoil.)
    say("3. wait with a timeout, then cancel what is pending".into());
    let delays = [100, 200, 3000];
    let handles = delays.map(|ms| spawn(get_owned(site.url(&format!("/1?delay_ms={ms}")))));
    let (done, pending) = wait(handles, Duration::from_millis(600)).await;
    report.waited_done = done.len();
    say(format!(
        "   after 600 ms: {} done, {} still pending: cancelling them",
        done.len(),
        pending.len()
    ));
    for handle in &pending {
        handle.abort();
    }
    for handle in pending {
        if let Err(JoinError::Cancelled) = handle.await {
            report.cancelled += 1;
        }
    }
    say(format!("   cancelled: {}", report.cancelled));

    // 4. Seed 004's spinner: it spins on the loop while the slow work waits, then is cancelled.
    say("4. a spinner while a slow task works".into());
    let frames = Rc::new(Cell::new(0));
    let spinner = spawn(spin(
        frames.clone(),
        print && std::io::stdout().is_terminal(),
    ));
    report.answer = slow_function(site).await;
    spinner.abort();
    let _ = spinner.await;
    report.spinner_frames = frames.get();
    say(format!(
        "   answer: {}; the spinner turned {} times and was cancelled",
        report.answer, report.spinner_frames
    ));
    report
}

/// `get`, owning its URL, so that the future can be spawned.
async fn get_owned(url: String) -> Result<Page, FetchError> {
    get(&url).await
}

fn status(page: &Result<Page, FetchError>) -> String {
    match page {
        Ok(page) => page.status.to_string(),
        Err(e) => e.to_string(),
    }
}

/// Turns a bar every 100 ms until it is cancelled (asyncio's `spin`); draws it only on a
/// terminal. Cancelling it drops it at its `sleep`: there is no `CancelledError` to catch.
async fn spin(frames: Rc<Cell<usize>>, draw: bool) {
    for bar in ['|', '/', '-', '\\'].into_iter().cycle() {
        if draw {
            print!("\r   {bar} thinking!");
            let _ = std::io::stdout().flush();
        }
        frames.set(frames.get() + 1);
        sleep(Duration::from_millis(100)).await;
    }
}

/// Pretends to wait a long time for I/O: a page that takes a second.
async fn slow_function(site: &Site) -> u32 {
    let _ = get(&site.url("/?delay_ms=1000")).await;
    if std::io::stdout().is_terminal() {
        print!("\r                \r");
    }
    42
}
