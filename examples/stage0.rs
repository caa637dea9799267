//! Stage 0: blocking fetches, one after another — or one OS thread per URL with `--threads`.
//!
//! ```text
//! cargo run --example stage0
//! cargo run --example stage0 -- --threads
//! ```
use std::process::ExitCode;

use crawler::cli::{self, InFlight};
use crawler::{limits, stage0};

/// Stage 0's own option.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Options {
    /// Fetch with one OS thread per URL
    #[arg(long)]
    pub threads: bool,
}

/// The shared command line, and stage 0's own flag.
pub fn example() -> cli::Command<cli::Args<Options>> {
    cli::example(
        "stage0",
        "blocking fetches: one after another, or one OS thread per URL",
    )
}

fn main() -> ExitCode {
    let example = example();
    // With threads, every URL is fetched at once, up to the threads the process can start.
    let in_flight = |args: &cli::Args<Options>, urls: usize| match args.stage.threads {
        false => InFlight::One,
        true => InFlight::Every(urls.min(limits::thread_budget().map_or(urls, |n| n as usize))),
    };
    cli::run(&example, in_flight, |args, urls, deadline| {
        if args.stage.threads {
            stage0::crawl_threads(urls, deadline)
        } else {
            stage0::crawl(urls, deadline)
        }
    })
}
