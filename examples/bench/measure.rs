//! The measurements: the parent runs every cell of the table, each in a fresh child process
//! of this program, against the site in a server process of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crawler::report::{self, Crawl};
use crawler::site::{self, Site, SiteConfig};

use crate::table::{Row, markdown};
use crate::{Options, contenders, runtime_alone};

/// One measured run, as a child reports it.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    pub baseline_kib: u64,
    pub in_flight: usize,
}

pub fn parent(options: &Options) -> ExitCode {
    let site = match ServerProcess::start("--serve-site") {
        Ok(site) => site,
        Err(e) => {
            eprintln!("error: cannot start the site process: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("site: process {} on port {}", site.child.id(), site.port);
    let mut rows: Vec<Row> = Vec::new();
    for &delay in &options.delays {
        for &n in &options.ns {
            for (name, _, _) in contenders() {
                // One after another, N URLs at 200 ms is N/5 seconds: only the ten.
                if !options.wanted(&name) || (name == "stage0" && n > 10) {
                    continue;
                }
                let mut runs = Vec::new();
                for _ in 0..options.reps {
                    match measure(&name, n, delay, site.port) {
                        Ok(run) => runs.push(run),
                        Err(e) => {
                            eprintln!("{name} n={n} delay={delay}: {e}");
                            break;
                        }
                    }
                }
                if let Some(row) = Row::new(&name, n, delay, runs) {
                    println!("{}", row.line(None));
                    rows.push(row);
                }
            }
        }
    }
    let runtime_rows = runtime_alone::runtime_only(options);
    let mut table = markdown(&rows, &runtime_rows);
    table.push_str(&site_check(options, site.port));
    println!("\n{table}");
    if let Some(path) = &options.markdown {
        if let Err(e) = std::fs::write(path, &table) {
            eprintln!("error: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        println!("(written to {path})");
    }
    site.stop();
    ExitCode::SUCCESS
}

/// Is the site the bottleneck? The same crawl (tokio's, or stage 1's without tokio) against
/// the looplab site and against a tokio server: if the times match, the site is not what
/// limits the crawl.
fn site_check(options: &Options, site_port: u16) -> String {
    let (Some(&n), Some(&delay)) = (options.ns.iter().max(), options.delays.first()) else {
        return String::new();
    };
    let tokio_server = match ServerProcess::start("--serve-tokio") {
        Ok(server) => server,
        Err(_) => return "\n(site check skipped: build with --features tokio)\n".to_string(),
    };
    let crawler = if cfg!(feature = "tokio") {
        "tokio"
    } else {
        "stage1"
    };
    let median = |port: u16| -> Option<Duration> {
        let mut walls: Vec<Duration> = (0..options.reps)
            .filter_map(|_| measure(crawler, n, delay, port).ok().map(|r| r.wall))
            .collect();
        walls.sort();
        walls.get(walls.len() / 2).copied()
    };
    let (ours, theirs) = (median(site_port), median(tokio_server.port));
    tokio_server.stop();
    match (ours, theirs) {
        (Some(ours), Some(theirs)) => {
            let line = format!(
                "\nSite check ({crawler} crawler, N = {n}, delay {delay} ms): against the looplab site \
                 {} ms, against a tokio server {} ms ({:.2}x).\n",
                Row::ms(ours),
                Row::ms(theirs),
                ours.as_secs_f64() / theirs.as_secs_f64()
            );
            println!("{}", line.trim());
            line
        }
        _ => "\n(site check failed: a crawl did not complete)\n".to_string(),
    }
}

/// Runs one crawl in a fresh child process and reads its result line.
fn measure(stage: &str, n: usize, delay: u64, port: u16) -> Result<Run, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args([
            "--child",
            stage,
            &n.to_string(),
            &delay.to_string(),
            &port.to_string(),
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the child: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("the child reported nothing: {text}"))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if f.len() != 6 {
        return Err(format!("bad result line {line:?}"));
    }
    if f[3] != n as u64 {
        return Err(format!("{} of {n} URLs failed: {text}", n as u64 - f[3]));
    }
    Ok(Run {
        wall: Duration::from_micros(f[0]),
        peak_rss_kib: f[1],
        baseline_kib: f[2],
        in_flight: f[5] as usize,
    })
}

/// The child: crawl `n` URLs with `stage` and print `RESULT wall_us peak_kib base_kib ok failed peak_in_flight`.
pub fn child(args: &[String]) -> ExitCode {
    let [stage, n, delay, port] = args else {
        eprintln!("--child STAGE N DELAY_MS PORT");
        return ExitCode::from(2);
    };
    let Some((_, _, crawl)) = contenders().into_iter().find(|c| &c.0 == stage) else {
        eprintln!("unknown stage {stage}");
        return ExitCode::from(2);
    };
    let n: usize = n.parse().unwrap_or(10);
    let urls: Vec<String> = site::paths(n)
        .iter()
        .map(|p| format!("http://127.0.0.1:{port}{p}?delay_ms={delay}"))
        .collect();
    let baseline = rss_kib("VmRSS");
    let started = Instant::now();
    let outcomes = crawl(&urls, started + Duration::from_secs(120));
    let crawl = Crawl {
        stage: stage.clone(),
        started,
        wall: started.elapsed(),
        outcomes,
    };
    for o in crawl.outcomes.iter().filter(|o| !o.is_ok()).take(3) {
        eprintln!(
            "{stage}: {}: {:?}",
            o.url,
            o.result.as_ref().err().map(|e| e.to_string())
        );
    }
    println!(
        "RESULT {} {} {} {} {} {}",
        crawl.wall.as_micros(),
        rss_kib("VmHWM"),
        baseline,
        crawl.ok(),
        crawl.failed(),
        report::peak_in_flight(&crawl.outcomes)
    );
    ExitCode::SUCCESS
}

/// A field of /proc/self/status in KiB (0 where there is no /proc).
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A server in a child process: the looplab site, or (with `--features tokio`) a tokio one.
struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    fn start(mode: &str) -> std::io::Result<ServerProcess> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let port = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("PORT ").and_then(|p| p.trim().parse().ok()))
            .ok_or_else(|| std::io::Error::other("the server did not say its port"))?;
        Ok(ServerProcess { child, port })
    }

    fn stop(mut self) {
        drop(self.child.stdin.take()); // the server stops when its stdin closes
        let _ = self.child.wait();
    }
}

/// The server child: serve until stdin closes.
pub fn serve(tokio: bool) -> ExitCode {
    if tokio {
        return serve_tokio();
    }
    let site = match Site::start(SiteConfig {
        delay: Duration::ZERO,
        ..SiteConfig::default()
    }) {
        Ok(site) => site,
        Err(e) => {
            eprintln!("cannot start the site: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("PORT {}", site.addr().port());
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    site.stop();
    ExitCode::SUCCESS
}

#[cfg(feature = "tokio")]
fn serve_tokio() -> ExitCode {
    crate::with_tokio::serve()
}

#[cfg(not(feature = "tokio"))]
fn serve_tokio() -> ExitCode {
    eprintln!("--serve-tokio needs --features tokio");
    ExitCode::from(2)
}
