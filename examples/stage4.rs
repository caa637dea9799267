//! Stage 4: std `Future` + `Waker` — `async fn fetch` on a hand-built reactor and executor.
//!
//! ```text
//! cargo run --example stage4
//! RUST_LOG=trace cargo run --example stage4 -- --count 2
//! ```
use std::process::ExitCode;

use crawler::cli::{self, Example};
use crawler::stage4;

fn main() -> ExitCode {
    let example = Example {
        name: "stage4",
        about: "async fn on a hand-built reactor and executor (std Future + Waker)",
        extras: &[],
    };
    cli::run(&example, |_, urls, deadline| stage4::crawl(urls, deadline))
}
