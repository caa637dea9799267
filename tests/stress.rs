//! Stress: 10,000 URLs through every event-loop stage, with no failure and no leak; and a
//! soak of the stage 5 echo server: 2,000 clients at once, 25 round trips each.
//!
//! Ignored by default (they open thousands of connections); run them with
//!
//! ```text
//! cargo test --release --test stress -- --ignored --nocapture
//! ```
//!
//! 10,000 client sockets and the site's 10,000 server sockets do not fit in one process
//! under a 20,000 file limit, so the site runs in a child process: this test binary runs
//! itself again with `LOOPLAB_STRESS_SITE=1`, and the child serves until its stdin closes.

mod support;

#[path = "../examples/echo.rs"]
#[allow(dead_code)] // the example's main is not used here
mod echo;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crawler::report::Crawl;
use crawler::site::{Site, SiteConfig};

/// The stress tests take turns: together they would need more files than a process may open.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

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
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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
        let deadline = started + Duration::from_secs(120);
        let outcomes = if stage.name == "stage5" {
            // Its tour crawl caps the workers at 10; the stress wants all 10,000 in flight.
            let options = crawler::stage5::Options {
                max_tasks: URLS,
                follow_links: false,
                ..crawler::stage5::Options::default()
            };
            crawler::stage5::crawl_with(&urls, deadline, &options).outcomes
        } else {
            (stage.crawl)(&urls, deadline)
        };
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

const ECHO_CLIENTS: usize = 2_000;
const ROUND_TRIPS: usize = 25;
const CLIENT_THREADS: usize = 8;

/// The stage 5 echo server holds 2,000 clients at once on one thread; each makes 25 round
/// trips; every byte comes back, and the server ends with no socket left.
#[test]
#[ignore = "opens 2,000 connections; run with --ignored"]
fn echo_server_soak() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (addr, finished) = support::server_thread(|ready| {
        echo::run(
            "127.0.0.1:0".parse().unwrap(),
            Some(ECHO_CLIENTS),
            ready,
            false,
        )
        .map_err(|e| e.to_string())
    });

    // A few threads, each with its share of the clients: connect them all (so the server
    // holds every one at once), then take turns with a line each, round after round.
    let started = Instant::now();
    // Nobody hangs up before everyone is done, so the server holds all of them at once.
    let everyone = Arc::new(Barrier::new(CLIENT_THREADS));
    let threads: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let everyone = everyone.clone();
            thread::spawn(move || -> Result<usize, String> {
                let mine = ECHO_CLIENTS / CLIENT_THREADS;
                let mut streams = Vec::with_capacity(mine);
                for _ in 0..mine {
                    let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
                    stream
                        .set_read_timeout(Some(Duration::from_secs(30)))
                        .unwrap();
                    streams.push(stream);
                }
                let mut echoed = 0;
                for round in 0..ROUND_TRIPS {
                    for (i, stream) in streams.iter_mut().enumerate() {
                        let line = format!("thread {t} client {i} round {round}\n");
                        stream
                            .write_all(line.as_bytes())
                            .map_err(|e| e.to_string())?;
                        let mut reply = vec![0u8; line.len()];
                        stream.read_exact(&mut reply).map_err(|e| e.to_string())?;
                        if reply != line.as_bytes() {
                            return Err(format!("{line:?} came back as {reply:?}"));
                        }
                        echoed += line.len();
                    }
                }
                everyone.wait();
                Ok(echoed)
            })
        })
        .collect();
    let mut echoed = 0;
    for thread in threads {
        echoed += thread.join().unwrap().expect("a client failed");
    }
    let (stats, sources_left) = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the server did not finish")
        .expect("the server failed");
    println!(
        "echo soak: {ECHO_CLIENTS} clients x {ROUND_TRIPS} round trips, {echoed} bytes, \
         peak {} connections, {} ms",
        stats.peak.get(),
        started.elapsed().as_millis()
    );
    assert_eq!(stats.peak.get(), ECHO_CLIENTS, "held every client at once");
    assert_eq!(stats.served.get(), ECHO_CLIENTS);
    assert_eq!(sources_left, 0, "the server closed every socket");
}
