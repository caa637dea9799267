//! Stage 2: a hand-rolled Future, a coroutine trait and a Task that steps it; each fetch is
//! one hand-written state machine.
//!
//! ```text
//! cargo run --example stage2
//! RUST_LOG=trace cargo run --example stage2 -- --count 2
//! ```
use std::process::ExitCode;

use crawler::cli::{self, Example};
use crawler::stage2;

fn main() -> ExitCode {
    let example = Example {
        name: "stage2",
        about: "Future + Task: each fetch is one hand-written state machine",
        extras: &[],
    };
    cli::run(&example, |_, urls, deadline| stage2::crawl(urls, deadline))
}
