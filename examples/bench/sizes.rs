//! What one fetch keeps from one wait to the next, stage by stage: the bench's "bytes a fetch
//! keeps" column, and what `tests/sizes.rs` bounds. Measured here, outside the stage files, so
//! that a lesson holds no instrumentation; each stage makes public only what is measured.
//!
//! Stages 1–3 keep their `Fetcher` (stage 1's fields, stages 2–3's state machine) in the loop
//! between callbacks; stages 4 and 5 keep the future of `fetch`, which holds every local alive
//! at an `.await`. Each keeps a `ResponseReader` in it, but for stage 3, whose `read_all`
//! shares its reader with `read` through an `Rc`: its row adds the reader and the `Rc`'s two
//! counts, so that every row counts the same things. The bytes the reader has received, on
//! the heap, are counted on no row.

use std::cell::RefCell;

use crawler::fetch::Timeline;
use crawler::http::ResponseReader;
use crawler::url::Url;

/// How to measure what one fetch of `stage` keeps between waits; `None` for a stage whose
/// fetch never waits on a loop (stage 0).
pub fn of(stage: &str) -> Option<fn() -> usize> {
    match stage {
        "stage1" => Some(size_of::<crawler::stage1::Fetcher>),
        "stage2" => Some(size_of::<crawler::stage2::Fetcher>),
        "stage3" => Some(stage3),
        "stage4" => Some(stage4),
        "stage5" => Some(stage5),
        _ => None,
    }
}

/// Stage 3's `Fetcher`, and the reader it keeps behind an `Rc` while reading.
fn stage3() -> usize {
    size_of::<crawler::stage3::Fetcher>()
        + 2 * size_of::<usize>()
        + size_of::<RefCell<ResponseReader>>()
}

/// The future of stage 4's `fetch`, made and dropped without a poll.
fn stage4() -> usize {
    let timeline = RefCell::new(Timeline::start());
    size_of_val(&crawler::stage4::fetch("http://127.0.0.1/", &timeline))
}

/// The future of stage 5's `fetch`, made and dropped without a poll.
fn stage5() -> usize {
    let timeline = RefCell::new(Timeline::start());
    let url = Url::parse("http://127.0.0.1/").expect("a valid URL");
    size_of_val(&crawler::stage5::fetch(&url, &timeline))
}
