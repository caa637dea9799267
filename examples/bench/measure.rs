//! The measurements: the parent runs every cell of the table, each in a fresh child process
//! of this program, against the site in a server process of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crawler::report::Crawl;
use crawler::site::{self, Site, SiteConfig};

use crate::syscalls::{self, Syscalls};
use crate::table::{self, Row, markdown};
use crate::{Options, contenders, runtime_alone};

/// One measured run, as a child reports it.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    pub baseline_kib: u64,
    pub in_flight: usize,
    /// CPU time, user and system, of the whole child (10 ms resolution).
    pub cpu: [Duration; 2],
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
    let strace = if options.count_syscalls {
        syscalls::strace_works()
    } else {
        Err("not counted (--no-syscalls)".to_string())
    };
    if let Err(why) = &strace {
        println!("syscalls per fetch: {why}");
    }
    let load_before = table::load_average();
    let mut rows: Vec<Row> = Vec::new();
    for &delay in &options.delays {
        for &n in &options.ns {
            rows.extend(workload(options, n, delay, site.port, &strace));
        }
    }
    let runtime_rows = runtime_alone::runtime_only(options);
    let load = [load_before, table::load_average()];
    let mut table = markdown(&rows, &runtime_rows, &load);
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

/// One workload — N URLs, one delay — for every contender wanted: `reps` rounds of one run
/// each, so that a burst of load from elsewhere on the machine falls on every contender
/// alike, not on one; then the system calls and the size of a fetch.
fn workload(
    options: &Options,
    n: usize,
    delay: u64,
    port: u16,
    strace: &Result<(), String>,
) -> Vec<Row> {
    // One after another, N URLs at 200 ms is N/5 seconds: only the ten.
    let wanted = |name: &str| options.wanted(name) && !(name == "stage0" && n > 10);
    let contenders: Vec<_> = contenders()
        .into_iter()
        .filter(|c| wanted(&c.name))
        .collect();
    let mut runs: Vec<Option<Vec<Run>>> = vec![Some(Vec::new()); contenders.len()];
    for _ in 0..options.reps {
        for (contender, runs) in contenders.iter().zip(&mut runs) {
            let Some(done) = runs else { continue };
            match measure(&contender.name, n, delay, port) {
                Ok(run) => done.push(run),
                Err(e) => {
                    eprintln!("{} n={n} delay={delay}: {e}", contender.name);
                    *runs = None; // a contender that fails once is not run again
                }
            }
        }
    }
    let mut rows = Vec::new();
    for (contender, runs) in contenders.iter().zip(runs) {
        let Some(runs) = runs.filter(|r| !r.is_empty()) else {
            continue;
        };
        let syscalls = match strace {
            Ok(()) => syscalls::per_fetch(&contender.name, n, delay, port),
            Err(why) => Syscalls::NotMeasured(why.clone()),
        };
        let size = contender.fetch_size.map(|size| size());
        if let Some(row) = Row::new(&contender.name, n, delay, runs, size, syscalls) {
            println!("{}", row.line(None));
            rows.push(row);
        }
    }
    rows
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
    if f.len() != 8 {
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
        cpu: [Duration::from_millis(f[6]), Duration::from_millis(f[7])],
    })
}

/// The child: crawl `n` URLs with `stage` and print
/// `RESULT wall_us peak_kib base_kib ok failed peak_in_flight user_ms system_ms`.
pub fn child(args: &[String]) -> ExitCode {
    let [stage, n, delay, port] = args else {
        eprintln!("--child STAGE N DELAY_MS PORT");
        return ExitCode::from(2);
    };
    let Some(crawl) = contenders()
        .into_iter()
        .find(|c| &c.name == stage)
        .map(|c| c.crawl)
    else {
        eprintln!("unknown stage {stage}");
        return ExitCode::from(2);
    };
    let n: usize = n.parse().unwrap_or(10);
    let urls: Vec<String> = site::paths(n)
        .iter()
        .map(|p| format!("http://127.0.0.1:{port}{p}?delay_ms={delay}"))
        .collect();
    let baseline = rss_kib("VmRSS");
    let cpu_before = cpu_ms();
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
    let [user, system] = cpu_ms();
    let [user, system] = [
        user.saturating_sub(cpu_before[0]),
        system.saturating_sub(cpu_before[1]),
    ];
    println!(
        "RESULT {} {} {} {} {} {} {user} {system}",
        crawl.wall.as_micros(),
        rss_kib("VmHWM"),
        baseline,
        crawl.ok(),
        crawl.failed(),
        crawl.peak_in_flight()
    );
    ExitCode::SUCCESS
}

/// This process's CPU time so far, user and system, in ms: /proc/self/stat's `utime` and
/// `stime`, in clock ticks of 10 ms (0 where there is no /proc).
fn cpu_ms() -> [u64; 2] {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name, in parentheses, may hold spaces: count the fields after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let field = |i: usize| after.split_whitespace().nth(i)?.parse::<u64>().ok();
    match (field(11), field(12)) {
        (Some(user), Some(system)) => [user * 10, system * 10],
        _ => [0, 0],
    }
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
