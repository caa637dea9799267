//! Stage 1: one thread, non-blocking sockets, an event loop over `mio::Poll`, and callbacks.
//!
//! ```text
//! cargo run --example stage1
//! RUST_LOG=trace cargo run --example stage1 -- --count 3
//! ```
use std::process::ExitCode;

use crawler::cli::{self, NoOptions};
use crawler::stage1;

fn main() -> ExitCode {
    // `NoOptions`: no options beyond the ones every stage shares.
    let example = cli::example::<NoOptions>("stage1", "readiness + callbacks on a mio event loop");
    cli::run(&example, cli::every_url, |_, urls, deadline| {
        stage1::crawl(urls, deadline)
    })
}
