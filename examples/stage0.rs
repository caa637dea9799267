//! Stage 0: blocking fetches, one after another — or one OS thread per URL with `--threads`.
//!
//! ```text
//! cargo run --example stage0
//! cargo run --example stage0 -- --threads
//! ```
use std::process::ExitCode;

use crawler::cli;
use crawler::stage0;

/// Stage 0's own option.
#[derive(Clone, Debug, Default)]
struct Options {
    /// `--threads`: one OS thread per URL.
    threads: bool,
}

fn main() -> ExitCode {
    let example = cli::example(
        "stage0",
        "blocking fetches: one after another, or one OS thread per URL",
        Options::default(),
    )
    .switch("--threads", "fetch with one OS thread per URL", |args| {
        args.stage.threads = true
    });
    cli::run(&example, |args, urls, deadline| {
        if args.stage.threads {
            stage0::crawl_threads(urls, deadline)
        } else {
            stage0::crawl(urls, deadline)
        }
    })
}
