//! diffs: every stage beside the one before it, side by side, as HTML pages a teacher can
//! project and an attendee can open offline.
//!
//! ```text
//! cargo run --example diffs        # writes target/diffs/index.html and one page per step
//! ```
//!
//! Each step — crawler stage 0 → 1 … 4 → 5 and `runtime/src/stageN/` → `stageN+1/`, file
//! by file, twins paired by name — gets a page, and so do the workshop's two contrasts (stage
//! 0's blocking `fetch` beside stage 4's `async fn`; stage 2's hand-written state machine
//! beside it). A page opens with the curated hunks of NOTES.md's chapter, captioned, and
//! outlines them in the whole diff below. The pages are made from the sources each time and
//! never committed.
//!
//! | file | what |
//! |---|---|
//! | `main.rs` | where the pages go, and writing them |
//! | `pairs.rs` | what is compared with what, in reading order |
//! | `diff.rs` | the diff (`similar`), the folding of unchanged runs, NOTES.md's hunk text |
//! | `page.rs` + `style.css` | the HTML |
//! | `source.rs` | reading sources, anchors, doc comments and NOTES.md's marks |
//!
//! `tests/diffs.rs` makes the pages and checks them; `tests/hunks.rs` checks NOTES.md's hunks.

mod diff;
mod page;
mod pairs;
mod source;

use std::path::PathBuf;
use std::process::ExitCode;

/// Where the pages go: `target/diffs/` (or under `$CARGO_TARGET_DIR`).
fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| source::root().join("target"));
    target.join("diffs")
}

/// Makes every page and writes them under `dir`; returns the files written.
fn write(dir: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    let pages = pairs::pages()?;
    // The pages show NOTES.md's hunks as the code is now; say if NOTES.md lags behind.
    for hunk in pages.iter().flat_map(|page| &page.hunks) {
        if diff::hunk(&hunk.old, &hunk.new)? != hunk.block {
            eprintln!(
                "NOTES.md:{}: this hunk no longer matches the code; \
                 LOOPLAB_BLESS=1 cargo test --test hunks rewrites it",
                hunk.line
            );
        }
    }
    page::write(dir, &pages)
}

/// The diffs take no options: `--help` says what they write.
#[derive(clap::Parser)]
#[command(
    after_help = "Writes the side-by-side pages under target/diffs/ (or $CARGO_TARGET_DIR/diffs/)."
)]
struct NoOptions {}

fn main() -> ExitCode {
    let about = "the diffs between consecutive stages, as offline HTML pages";
    if let Err(code) = crawler::cli::Command::<NoOptions>::new("diffs", about).parse_env() {
        return code;
    }
    let dir = out_dir();
    match write(&dir) {
        Ok(written) => {
            println!("wrote {} pages to {}/", written.len(), dir.display());
            println!("open file://{}", dir.join("index.html").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("diffs: {e}");
            ExitCode::FAILURE
        }
    }
}
