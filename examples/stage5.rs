//! Stage 5: the full crawler on the toolkit — a queue, `--max-tasks` workers, per-request
//! timeouts, retries, redirects, and host names resolved off the loop.
//!
//! ```text
//! cargo run --example stage5                       # from / on the built-in site: ten pages
//! cargo run --example stage5 -- --max-tasks 3      # the site sees at most 3 connections
//! cargo run --example stage5 -- http://localhost:8000/   # a name: resolved on the pool
//! RUST_LOG=crawler::stage5=debug,runtime::stage5::timers=trace \
//!     cargo run --example stage5 -- --max-tasks 2
//! ```
//!
//! Roots: the URLs given; else `--count N` paths of the site (or of `--base`); else just `/`.
//! The links found on the roots' hosts are followed in every case (unless `--no-follow`).
use std::process::ExitCode;

use crawler::cli::{self, Args, Command, InFlight, number, timeout};
use crawler::report;
use crawler::stage5::{self, Options};

fn main() -> ExitCode {
    let mut found = None;
    // The workers are the cap: however many URLs, `--max-tasks` fetches at once.
    let in_flight = |args: &Args<Options>, _| InFlight::MaxTasks(args.stage.max_tasks);
    let code = cli::run(&example(), in_flight, |args, urls, deadline| {
        let crawled = stage5::crawl_with(roots(args, urls), deadline, &args.stage);
        found = Some(report::render_found(&crawled));
        crawled.outcomes
    });
    if let Some(found) = found {
        print!("{found}");
    }
    code
}

/// The shared command line, and stage 5's own flags: they fill its [`Options`].
pub fn example() -> Command<Args<Options>> {
    cli::example(
        "stage5",
        "the full crawler: from the roots, follow links with a queue and --max-tasks \
         workers (without URLs or --count, the root is / alone)",
        Options::default(),
    )
    .value("--max-tasks", "N", "workers fetching at once", |args, v| {
        number(v, 1).map(|n| args.stage.max_tasks = n)
    })
    .default(|args| args.stage.max_tasks.to_string())
    .value(
        "--max-tries",
        "N",
        "tries per request before its error is final",
        |args, v| number(v, 1).map(|n| args.stage.max_tries = n),
    )
    .default(|args| args.stage.max_tries.to_string())
    .value(
        "--max-redirect",
        "N",
        "redirects followed from one URL",
        |args, v| number(v, 1).map(|n| args.stage.max_redirect = n),
    )
    .default(|args| args.stage.max_redirect.to_string())
    .value(
        "--request-timeout-ms",
        "MS",
        "time limit of one request (at most a day)",
        |args, v| timeout(v).map(|t| args.stage.request_timeout = t),
    )
    .default(|args| args.stage.request_timeout.as_millis().to_string())
    .value(
        "--max-pages",
        "N",
        "URLs the crawl may hold; new links past that are counted, not crawled",
        |args, v| number(v, 1).map(|n| args.stage.max_pages = n),
    )
    .default(|args| args.stage.max_pages.to_string())
    .switch(
        "--no-follow",
        "fetch the roots only, do not follow their links",
        |args| args.stage.follow_links = false,
    )
}

/// The URLs given are the roots. Without any, the shared command line makes `--count` paths
/// (ten by default) of the site or of `--base`: stage 5 takes them all only if `--count` was
/// given, and otherwise starts from the first one, `/`, and finds the rest by itself.
fn roots<'a>(args: &Args<Options>, urls: &'a [String]) -> &'a [String] {
    if args.urls.is_empty() && !args.count_given {
        &urls[..urls.len().min(1)]
    } else {
        urls
    }
}
