//! Stage 3: composition — connect, write_all, read and read_all are sub-coroutines that the
//! fetch delegates to (Python's `yield from`).
//!
//! ```text
//! cargo run --example stage3
//! RUST_LOG=trace cargo run --example stage3 -- --count 2
//! ```
use std::process::ExitCode;

use crawler::cli::{self, NoOptions};
use crawler::stage3;

fn main() -> ExitCode {
    // `NoOptions`: no options beyond the ones every stage shares.
    let example = cli::example::<NoOptions>(
        "stage3",
        "the fetch delegates to reusable sub-coroutines (yield from)",
    );
    cli::run(&example, cli::every_url, |_, urls, deadline| {
        stage3::crawl(urls, deadline)
    })
}
