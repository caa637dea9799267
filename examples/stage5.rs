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
use std::time::Duration;

use crawler::cli::{self, Args, Command, InFlight, at_least_one, timeout};
use crawler::report;
use crawler::stage5::{self, Options};

fn main() -> ExitCode {
    let mut found = None;
    // The workers are the cap: however many URLs, `--max-tasks` fetches at once.
    let in_flight = |args: &Args<Flags>, _| InFlight::MaxTasks(args.stage.max_tasks);
    let code = cli::run(&example(), in_flight, |args, urls, deadline| {
        let crawled = stage5::crawl_with(roots(args, urls), deadline, &args.stage.options());
        found = Some(report::render_found(&crawled));
        crawled.outcomes
    });
    if let Some(found) = found {
        print!("{found}");
    }
    code
}

/// Stage 5's own flags: they fill its [`Options`], whose defaults they show.
#[derive(clap::Args, Clone, Debug)]
pub struct Flags {
    /// Workers fetching at once
    #[arg(long = "max-tasks", value_name = "N", default_value = "10", value_parser = at_least_one)]
    pub max_tasks: usize,
    /// Tries per request before its error is final
    #[arg(long = "max-tries", value_name = "N", default_value = "4", value_parser = at_least_one)]
    pub max_tries: usize,
    /// Redirects followed from one URL
    #[arg(long = "max-redirect", value_name = "N", default_value = "10", value_parser = at_least_one)]
    pub max_redirect: usize,
    /// Time limit of one request (at most a day)
    #[arg(long = "request-timeout-ms", value_name = "MS", default_value = "5000", value_parser = timeout)]
    pub request_timeout: Duration,
    /// URLs the crawl may hold; new links past that are counted, not crawled
    #[arg(long = "max-pages", value_name = "N", default_value = "1000", value_parser = at_least_one)]
    pub max_pages: usize,
    /// Fetch the roots only, do not follow their links
    #[arg(long = "no-follow")]
    pub no_follow: bool,
}

impl Flags {
    pub fn options(&self) -> Options {
        Options {
            max_tasks: self.max_tasks,
            max_tries: self.max_tries,
            max_redirect: self.max_redirect,
            request_timeout: self.request_timeout,
            follow_links: !self.no_follow,
            max_pages: self.max_pages,
        }
    }
}

/// The shared command line, and stage 5's own flags.
pub fn example() -> Command<Args<Flags>> {
    cli::example(
        "stage5",
        "the full crawler: from the roots, follow links with a queue and --max-tasks \
         workers (without URLs or --count, the root is / alone)",
    )
}

/// The URLs given are the roots. Without any, the shared command line makes `--count` paths
/// (ten by default) of the site or of `--base`: stage 5 takes them all only if `--count` was
/// given, and otherwise starts from the first one, `/`, and finds the rest by itself.
fn roots<'a>(args: &Args<Flags>, urls: &'a [String]) -> &'a [String] {
    if args.urls.is_empty() && !args.count_given {
        &urls[..urls.len().min(1)]
    } else {
        urls
    }
}
