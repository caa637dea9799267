//! One `RUST_LOG` recipe for every stage: `RUST_LOG=trace` shows the loop's ticks, the
//! tokens and which URL each belongs to, and on the waker stages each wake and each poll —
//! and leaves the built-in site's lines (target `site`) and mio's out.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crawler::site::{Site, SiteConfig};

/// A log target the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// What was logged since the last call.
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

fn crawl_two(crawl: fn(&[String], Instant) -> Vec<crawler::fetch::Outcome>) {
    let site = Site::start(SiteConfig {
        delay: Duration::from_millis(10),
        ..SiteConfig::default()
    })
    .unwrap();
    let outcomes = crawl(&site.urls(2), Instant::now() + Duration::from_secs(10));
    assert!(outcomes.iter().all(|o| o.is_ok()));
}

fn assert_shows(log: &str, stage: &str, wanted: &[&str]) {
    for line in wanted {
        assert!(
            log.contains(line),
            "{stage}: no {line:?} in the trace:\n{log}"
        );
    }
    for hidden in [" site]", " mio::"] {
        assert!(
            !log.contains(hidden),
            "{stage}: {hidden:?} in the trace:\n{log}"
        );
    }
}

#[test]
fn one_recipe_shows_the_loop_on_every_stage_and_leaves_the_site_out() {
    let captured = Captured::default();
    crawler::cli::logger("trace")
        .target(env_logger::Target::Pipe(Box::new(captured.clone())))
        .init();

    crawl_two(crawler::stage1::crawl);
    let log = captured.take();
    assert_shows(
        &log,
        "stage 1",
        &[
            "runtime::stage1::event_loop] tick 1: poll",
            "runtime::stage1::event_loop] token 0 fired",
            "crawler::stage1] token 0 is http://127.0.0.1:",
        ],
    );

    crawl_two(crawler::stage4::crawl);
    let log = captured.take();
    assert_shows(
        &log,
        "stage 4",
        &[
            "runtime::stage4::event_loop] park:",
            "runtime::stage4::reactor] token 0 readable: wake",
            "runtime::stage4::event_loop] wake task 0: queued",
            "runtime::stage4::event_loop] poll task 0",
            "crawler::stage4] task 0 is http://127.0.0.1:",
        ],
    );
}
