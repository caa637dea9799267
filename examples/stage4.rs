//! Stage 4: std `Future` + `Waker` — `async fn fetch` on a hand-built reactor and executor.
//!
//! ```text
//! cargo run --example stage4
//! RUST_LOG=trace cargo run --example stage4 -- --count 2
//! ```
use std::process::ExitCode;

use crawler::cli::{self, NoOptions};
use crawler::stage4;

fn main() -> ExitCode {
    // `NoOptions`: no options beyond the ones every stage shares.
    let example = cli::example::<NoOptions>(
        "stage4",
        "async fn on a hand-built reactor and executor (std Future + Waker)",
    );
    cli::run(&example, cli::every_url, |_, urls, deadline| {
        stage4::crawl(urls, deadline)
    })
}
