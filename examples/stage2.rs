//! Stage 2: a hand-rolled Future, a coroutine trait and a Task that steps it; each fetch is
//! one hand-written state machine.
//!
//! ```text
//! cargo run --example stage2
//! RUST_LOG=trace cargo run --example stage2 -- --count 2
//! ```
use std::process::ExitCode;

use crawler::cli::{self, NoOptions};
use crawler::stage2;

fn main() -> ExitCode {
    // `NoOptions`: no options beyond the ones every stage shares.
    let example = cli::example::<NoOptions>(
        "stage2",
        "Future + Task: each fetch is one hand-written state machine",
    );
    cli::run(&example, cli::every_url, |_, urls, deadline| {
        stage2::crawl(urls, deadline)
    })
}
