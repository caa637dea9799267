//! `cargo run --example toolkit`: each of the seeds' toolkit demos does what it says, checked
//! by counting (the site's peak, the order of completion, cancellations, spinner turns).

use std::time::Duration;

use crawler::site::{Site, SiteConfig};
use runtime::stage5::Executor;

#[allow(dead_code)] // its `main`
#[path = "../examples/toolkit.rs"]
mod toolkit;

#[test]
fn the_toolkit_demos_show_what_they_claim() {
    let site = Site::start(SiteConfig {
        delay: Duration::from_millis(50),
        ..SiteConfig::default()
    })
    .unwrap();
    let mut executor = Executor::new().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let report = executor
        .block_on_until(deadline, toolkit::demos(&site, false))
        .unwrap();
    assert_eq!(
        report.peak_with_semaphore, 3,
        "Semaphore(3): the site's peak"
    );
    assert_eq!(report.completion_order, ["/1", "/2", "/3"], "as_completed");
    assert_eq!(
        (report.waited_done, report.cancelled),
        (2, 1),
        "wait, then cancel"
    );
    // A 1 s wait at one turn per 100 ms: about ten turns, however loaded the machine.
    assert!(report.spinner_frames >= 3, "{report:?}");
    assert_eq!(report.answer, 42);
    assert_eq!(executor.tasks(), 0, "the spinner was cancelled");
}
