//! Stage 0: blocking fetches, one after another — or one OS thread per URL with `--threads`.
//!
//! ```text
//! cargo run --example stage0
//! cargo run --example stage0 -- --threads
//! ```
use std::process::ExitCode;

use crawler::cli::{self, Example, Extra};
use crawler::stage0;

fn main() -> ExitCode {
    let example = Example {
        name: "stage0",
        about: "blocking fetches: one after another, or one OS thread per URL",
        extras: &[Extra::Switch {
            name: "--threads",
            help: "fetch with one OS thread per URL",
        }],
    };
    cli::run(&example, |args, urls, deadline| {
        if args.switch("--threads") {
            stage0::crawl_threads(urls, deadline)
        } else {
            stage0::crawl(urls, deadline)
        }
    })
}
