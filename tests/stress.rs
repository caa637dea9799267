//! Stress: 10,000 URLs through every event-loop stage, with no failure and no leak.
//!
//! Ignored by default (it opens 10,000 connections); run it with
//!
//! ```text
//! cargo test --release --test stress -- --ignored --nocapture
//! ```
//!
//! 10,000 client sockets and the site's 10,000 server sockets do not fit in one process
//! under a 20,000 file limit, so the site runs in a child process: this test binary runs
//! itself again with `LOOPLAB_STRESS_SITE=1`, and the child serves until its stdin closes.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crawler::report::Crawl;
use crawler::site::{Site, SiteConfig};

const URLS: usize = 10_000;
const DELAY: Duration = Duration::from_millis(100);

/// The child: serve the site until the parent closes our stdin.
#[test]
#[ignore = "the site half of the stress test; the stress test starts it"]
fn stress_site_child() {
    if std::env::var_os("LOOPLAB_STRESS_SITE").is_none() {
        return;
    }
    let site = Site::start(SiteConfig {
        delay: DELAY,
        ..SiteConfig::default()
    })
    .expect("start the site");
    println!("PORT {}", site.addr().port());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    site.stop();
}

#[test]
#[ignore = "opens 10,000 connections; run with --ignored"]
fn ten_thousand_urls_through_every_event_loop_stage() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "stress_site_child", "--ignored", "--nocapture"])
        .env("LOOPLAB_STRESS_SITE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the site process");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines
            .next()
            .expect("the site process said nothing")
            .unwrap();
        if let Some(port) = line.strip_prefix("PORT ") {
            break port.trim().parse().unwrap();
        }
    };
    let urls: Vec<String> = crawler::site::paths(URLS)
        .iter()
        .map(|p| format!("http://127.0.0.1:{port}{p}"))
        .collect();

    let mut failures = Vec::new();
    for stage in crawler::stages() {
        if stage.name.starts_with("stage0") {
            continue; // blocking: one thread or one wait per URL is not the point here
        }
        let fds_before = fds();
        let started = Instant::now();
        let outcomes = (stage.crawl)(&urls, started + Duration::from_secs(120));
        let crawl = Crawl {
            stage: stage.name.to_string(),
            started,
            wall: started.elapsed(),
            outcomes,
        };
        println!("{:<8} {}", stage.name, crawl.summary());
        if crawl.ok() != URLS {
            failures.push(format!("{}: {} failed", stage.name, crawl.failed()));
            for o in crawl.outcomes.iter().filter(|o| !o.is_ok()).take(3) {
                println!(
                    "  {} {:?}",
                    o.url,
                    o.result.as_ref().err().map(|e| e.to_string())
                );
            }
        }
        #[cfg(target_os = "linux")]
        {
            let open = support::open_client_sockets(&[port]);
            if open != 0 || fds() > fds_before {
                failures.push(format!(
                    "{}: {open} client sockets open, fds {} -> {}",
                    stage.name,
                    fds_before,
                    fds()
                ));
            }
        }
    }
    drop(child.stdin.take()); // the child stops when its stdin closes
    let _ = child.wait();
    assert!(failures.is_empty(), "{failures:#?}");
}

fn fds() -> usize {
    #[cfg(target_os = "linux")]
    return support::open_fds();
    #[cfg(not(target_os = "linux"))]
    return 0;
}
