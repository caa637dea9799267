//! Stage 5: the full crawler on the toolkit — a queue, `--max-tasks` workers, per-request
//! timeouts, retries, redirects, and host names resolved off the loop.
//!
//! ```text
//! cargo run --example stage5                       # from / on the built-in site: ten pages
//! cargo run --example stage5 -- --max-tasks 3      # the site sees at most 3 connections
//! cargo run --example stage5 -- http://localhost:8000/   # a name: resolved on the pool
//! RUST_LOG=stage5=debug,stage5::timers=trace cargo run --example stage5 -- --max-tasks 2
//! ```
//!
//! Roots: the URLs given; else `--count N` paths of the site (or of `--base`); else just `/`.
//! The links found on the roots' hosts are followed in every case (unless `--no-follow`).
use std::process::ExitCode;
use std::time::Duration;

use crawler::cli::{self, Args, Example, Extra};
use crawler::report;
use crawler::stage5::{self, Options};

fn main() -> ExitCode {
    let example = Example {
        name: "stage5",
        about: "the full crawler: from the roots, follow links with a queue and --max-tasks \
                workers (without URLs or --count, the root is / alone)",
        extras: &[
            Extra::Number {
                name: "--max-tasks",
                default: 10,
                help: "workers fetching at once",
            },
            Extra::Number {
                name: "--max-tries",
                default: 4,
                help: "tries per request before its error is final",
            },
            Extra::Number {
                name: "--max-redirect",
                default: 10,
                help: "redirects followed from one URL",
            },
            Extra::Number {
                name: "--request-timeout-ms",
                default: 5000,
                help: "time limit of one request",
            },
            Extra::Switch {
                name: "--no-follow",
                help: "fetch the roots only, do not follow their links",
            },
        ],
    };
    let mut found = None;
    let code = cli::run(&example, |args, urls, deadline| {
        let crawled = stage5::crawl_with(roots(args, urls), deadline, &options(args));
        found = Some(report::render_found(&crawled));
        crawled.outcomes
    });
    if let Some(found) = found {
        print!("{found}");
    }
    code
}

fn options(args: &Args) -> Options {
    Options {
        max_tasks: args.number("--max-tasks") as usize,
        max_tries: args.number("--max-tries") as usize,
        max_redirect: args.number("--max-redirect") as usize,
        request_timeout: Duration::from_millis(args.number("--request-timeout-ms")),
        follow_links: !args.switch("--no-follow"),
    }
}

/// The URLs given are the roots. Without any, the shared command line makes `--count` paths
/// (ten by default) of the site or of `--base`: stage 5 takes them all only if `--count` was
/// given, and otherwise starts from the first one, `/`, and finds the rest by itself.
fn roots<'a>(args: &Args, urls: &'a [String]) -> &'a [String] {
    if args.urls.is_empty() && !args.count_given {
        &urls[..urls.len().min(1)]
    } else {
        urls
    }
}
