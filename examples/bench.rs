//! bench: how good is each stage? Wall time and peak memory on loopback, side by side with a
//! thread per fetch and (with `--features tokio`) with tokio's current-thread runtime running
//! the same raw-TCP fetch.
//!
//! ```text
//! cargo run --release --example bench                                # the full table
//! cargo run --release --example bench --features tokio               # ... with tokio beside it
//! cargo run --release --example bench -- --n 1000 --delay-ms 0 --stages stage1,stage4 --reps 5
//! cargo run --release --example bench -- --quick                     # a tiny run (CI)
//! cargo run --release --example bench -- --markdown bench.md         # also write the table
//! ```
//!
//! Every measurement runs in a fresh child process (this program again, with `--child`), so
//! its peak RSS is its own; the site runs in a child process of its own too, because 10,000
//! client sockets plus 10,000 server sockets do not fit under a 20,000 file limit. Each
//! response's delay is asked for per request (`?delay_ms=`), so one site serves every row.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crawler::fetch::Outcome;
use crawler::report::{self, Crawl};
use crawler::site::{self, Site, SiteConfig};

type CrawlFn = fn(&[String], Instant) -> Vec<Outcome>;

/// Every way to crawl the bench knows: the stages, and tokio when compiled in.
fn contenders() -> Vec<(String, &'static str, CrawlFn)> {
    let stages = crawler::stages().into_iter().map(|s| {
        // Stage 5 caps its workers at 10 by default; here it gets one per URL, so that every
        // row does the same work: all N fetches in flight at once.
        let crawl = if s.name == "stage5" {
            stage5_one_worker_per_url
        } else {
            s.crawl
        };
        (s.name.replace(" --", "-"), s.idea, crawl)
    });
    #[cfg(feature = "tokio")]
    let stages = stages.chain([(
        "tokio".to_string(),
        "tokio current-thread",
        with_tokio::crawl as CrawlFn,
    )]);
    stages.collect()
}

fn stage5_one_worker_per_url(urls: &[String], deadline: Instant) -> Vec<Outcome> {
    let options = crawler::stage5::Options {
        max_tasks: urls.len().max(1),
        follow_links: false,
        ..crawler::stage5::Options::default()
    };
    crawler::stage5::crawl_with(urls, deadline, &options).outcomes
}

struct Options {
    ns: Vec<usize>,
    delays: Vec<u64>,
    stages: Option<Vec<String>>,
    reps: usize,
    markdown: Option<String>,
}

const USAGE: &str = "\
bench: wall time and peak memory of every stage on loopback

usage: cargo run --release --example bench [--features tokio] -- [OPTIONS]

options:
  --n LIST          URL counts, e.g. 10,1000,10000 (default)
  --delay-ms LIST   per-response delays, e.g. 0,200 (default)
  --stages LIST     which to run, e.g. stage1,stage4,tokio (default: all)
  --reps N          runs per cell; the table shows the median and min-max (default 3)
  --quick           a tiny run: --n 10 --delay-ms 0 --reps 1
  --markdown FILE   also write the table as Markdown
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child") => child(&args[1..]),
        Some("--serve-site") => serve(false),
        Some("--serve-tokio") => serve(true),
        Some("--runtime-child") => runtime_child(&args[1..]),
        _ => match parse(&args) {
            Ok(Some(options)) => parent(&options),
            Ok(None) => {
                print!("{USAGE}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("error: {message}\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
    }
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        ns: vec![10, 1000, 10_000],
        delays: vec![0, 200],
        stages: None,
        reps: 3,
        markdown: None,
    };
    let list = |v: &str| -> Result<Vec<u64>, String> {
        v.split(',')
            .map(|x| {
                x.trim()
                    .parse()
                    .map_err(|_| format!("not a number list: {v:?}"))
            })
            .collect()
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--n" => options.ns = list(value()?)?.into_iter().map(|n| n as usize).collect(),
            "--delay-ms" => options.delays = list(value()?)?,
            "--stages" => options.stages = Some(value()?.split(',').map(str::to_string).collect()),
            "--reps" => {
                options.reps = list(value()?)?.first().copied().unwrap_or(1).max(1) as usize
            }
            "--markdown" => options.markdown = Some(value()?.clone()),
            "--quick" => {
                options.ns = vec![10];
                options.delays = vec![0];
                options.reps = 1;
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.ns.contains(&0) {
        return Err("--n must be at least 1".into());
    }
    let known: Vec<String> = contenders().into_iter().map(|c| c.0).collect();
    for stage in options.stages.iter().flatten() {
        if !known.contains(stage) {
            return Err(format!(
                "unknown stage {stage:?}; known: {}",
                known.join(", ")
            ));
        }
    }
    Ok(Some(options))
}

/// One measured run, as a child reports it.
#[derive(Clone, Copy, Debug)]
struct Run {
    wall: Duration,
    peak_rss_kib: u64,
    baseline_kib: u64,
    in_flight: usize,
}

fn parent(options: &Options) -> ExitCode {
    let site = match ServerProcess::start("--serve-site") {
        Ok(site) => site,
        Err(e) => {
            eprintln!("error: cannot start the site process: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("site: process {} on port {}", site.child.id(), site.port);
    let wanted = |name: &str| {
        options
            .stages
            .as_ref()
            .is_none_or(|s| s.iter().any(|w| w == name))
    };

    let mut rows: Vec<Row> = Vec::new();
    for &delay in &options.delays {
        for &n in &options.ns {
            for (name, _, _) in contenders() {
                // One after another, N URLs at 200 ms is N/5 seconds: only the ten.
                if !wanted(&name) || (name == "stage0" && n > 10) {
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
    let runtime_rows = runtime_only(options);
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
fn child(args: &[String]) -> ExitCode {
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

/// One table row: a contender on one workload, summarised over its runs.
struct Row {
    name: String,
    n: usize,
    delay: u64,
    runs: Vec<Run>,
}

impl Row {
    fn new(name: &str, n: usize, delay: u64, mut runs: Vec<Run>) -> Option<Row> {
        if runs.is_empty() {
            return None;
        }
        runs.sort_by_key(|r| r.wall);
        Some(Row {
            name: name.to_string(),
            n,
            delay,
            runs,
        })
    }
    fn median(&self) -> Run {
        self.runs[self.runs.len() / 2]
    }
    fn ms(d: Duration) -> String {
        format!("{:.1}", d.as_secs_f64() * 1e3)
    }
    /// Memory per fetch in flight: RSS above the child's baseline, divided by N.
    fn kib_per_fetch(&self) -> f64 {
        let m = self.median();
        m.peak_rss_kib.saturating_sub(m.baseline_kib) as f64 / m.in_flight.max(1) as f64
    }
    fn line(&self, tokio: Option<&Row>) -> String {
        let m = self.median();
        let ratio = tokio
            .map(|t| {
                format!(
                    "{:.2}x",
                    m.wall.as_secs_f64() / t.median().wall.as_secs_f64()
                )
            })
            .unwrap_or_else(|| "-".into());
        format!(
            "| {} | {} ms | {} | {} ({}–{}) | {:.1} | {:.2} | {} | {ratio} |",
            self.n,
            self.delay,
            self.name,
            Row::ms(m.wall),
            Row::ms(self.runs[0].wall),
            Row::ms(self.runs[self.runs.len() - 1].wall),
            m.peak_rss_kib as f64 / 1024.0,
            self.kib_per_fetch(),
            m.in_flight,
        )
    }
}

fn markdown(rows: &[Row], runtime_rows: &[String]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Measured on {} ({} cores), {} runs per cell, release build.\n\n",
        std::env::consts::OS,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        rows.first().map_or(0, |r| r.runs.len()),
    ));
    out.push_str("| N | delay | stage | wall ms, median (min–max) | peak RSS MiB | KiB per fetch in flight | peak in flight | vs tokio |\n");
    out.push_str("|---:|---:|---|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let tokio = rows
            .iter()
            .find(|r| r.name == "tokio" && r.n == row.n && r.delay == row.delay);
        out.push_str(&row.line(tokio));
        out.push('\n');
    }
    if !runtime_rows.is_empty() {
        out.push_str("\n| runtime alone | polls per second, median (min–max) |\n|---|---:|\n");
        for row in runtime_rows {
            out.push_str(row);
            out.push('\n');
        }
    }
    out
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
fn serve(tokio: bool) -> ExitCode {
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
    with_tokio::serve()
}

#[cfg(not(feature = "tokio"))]
fn serve_tokio() -> ExitCode {
    eprintln!("--serve-tokio needs --features tokio");
    ExitCode::from(2)
}

// ---------------------------------------------------------------------------------------------
// The runtime alone: no network, just tasks that wake themselves. What does one poll cost?
// ---------------------------------------------------------------------------------------------

/// How many tasks, and how many times each wakes itself, in the runtime-alone benchmark.
const SELF_WAKING_TASKS: usize = 1_000;
const WAKES_PER_TASK: usize = 1_000;

/// A future that wakes its own task once and returns `Pending`, then `Ready`: the cheapest
/// possible trip through a runtime's wake → queue → poll cycle (tokio calls it `yield_now`).
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

async fn wake_myself(times: usize) {
    for _ in 0..times {
        YieldNow(false).await;
    }
}

/// Runtimes with an executor, by name: each runs the self-waking tasks and returns the time.
fn self_waking(runtime: &str) -> Option<Duration> {
    let (tasks, wakes) = (SELF_WAKING_TASKS, WAKES_PER_TASK);
    match runtime {
        "stage4" => {
            let mut executor = runtime::stage4::Executor::new().ok()?;
            let handles: Vec<_> = (0..tasks)
                .map(|_| executor.spawn(wake_myself(wakes)))
                .collect();
            let started = Instant::now();
            executor
                .block_on(async {
                    for handle in handles {
                        let _ = handle.await;
                    }
                })
                .ok()?;
            Some(started.elapsed())
        }
        "stage5" => {
            let mut executor = runtime::stage5::Executor::new().ok()?;
            let handles: Vec<_> = (0..tasks)
                .map(|_| executor.spawn(wake_myself(wakes)))
                .collect();
            let started = Instant::now();
            executor.block_on(runtime::stage5::join_all(handles)).ok()?;
            Some(started.elapsed())
        }
        #[cfg(feature = "tokio")]
        "tokio" => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let started = Instant::now();
            runtime.block_on(async {
                let handles: Vec<_> = (0..tasks)
                    .map(|_| tokio::spawn(wake_myself(wakes)))
                    .collect();
                for handle in handles {
                    let _ = handle.await;
                }
            });
            Some(started.elapsed())
        }
        _ => None,
    }
}

/// The runtime-alone rows: polls per second, median of the runs, each run in a fresh child.
fn runtime_only(options: &Options) -> Vec<String> {
    let wanted = |name: &str| {
        options
            .stages
            .as_ref()
            .is_none_or(|s| s.iter().any(|w| w == name))
    };
    let mut rows = Vec::new();
    for runtime in ["stage4", "stage5", "tokio"] {
        if !wanted(runtime) {
            continue;
        }
        let mut times = Vec::new();
        for _ in 0..options.reps {
            let Ok(exe) = std::env::current_exe() else {
                break;
            };
            let Ok(output) = Command::new(exe)
                .args(["--runtime-child", runtime])
                .output()
            else {
                break;
            };
            let text = String::from_utf8_lossy(&output.stdout);
            if let Some(us) = text
                .lines()
                .find_map(|l| l.strip_prefix("RESULT "))
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                times.push(Duration::from_micros(us));
            }
        }
        if times.is_empty() {
            continue;
        }
        times.sort();
        let polls = (SELF_WAKING_TASKS * (WAKES_PER_TASK + 1)) as f64;
        let per_second = |d: Duration| polls / d.as_secs_f64() / 1e6;
        let row = format!(
            "| {runtime}: {SELF_WAKING_TASKS} tasks x {WAKES_PER_TASK} self-wakes | {:.1} M/s ({:.1}–{:.1}) |",
            per_second(times[times.len() / 2]),
            per_second(times[times.len() - 1]),
            per_second(times[0]),
        );
        println!("{row}");
        rows.push(row);
    }
    rows
}

fn runtime_child(args: &[String]) -> ExitCode {
    match args.first().and_then(|runtime| self_waking(runtime)) {
        Some(time) => {
            println!("RESULT {}", time.as_micros());
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("--runtime-child: unknown runtime {args:?}");
            ExitCode::from(2)
        }
    }
}

/// tokio's current-thread runtime with a raw-TCP fetch that sends the same request and parses
/// with the same reader as every stage, so only the runtime differs.
#[cfg(feature = "tokio")]
mod with_tokio {
    use super::*;
    use crawler::fetch::{FetchError, Page, Timeline};
    use crawler::http::{self, ResponseReader};
    use crawler::url::Url;
    use std::cell::Cell;
    use std::rc::Rc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub fn crawl(urls: &[String], deadline: Instant) -> Vec<Outcome> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async {
            let tasks: Vec<_> = urls
                .iter()
                .map(|url| {
                    let timeline = Rc::new(Cell::new(Timeline::start()));
                    let (url2, t2) = (url.clone(), timeline.clone());
                    let task = tokio::task::spawn_local(async move {
                        let limit = tokio::time::Instant::from_std(deadline);
                        match tokio::time::timeout_at(limit, fetch(&url2, &t2)).await {
                            Ok(result) => result,
                            Err(_) => Err(FetchError::timed_out(&t2.get())),
                        }
                    });
                    (url.clone(), timeline, task)
                })
                .collect();
            let mut outcomes = Vec::with_capacity(tasks.len());
            for (url, timeline, task) in tasks {
                let result = task.await.unwrap_or_else(|e| {
                    Err(FetchError::Runtime(std::io::Error::other(e.to_string())))
                });
                outcomes.push(Outcome::new(&url, result, timeline.get()));
            }
            outcomes
        })
    }

    async fn fetch(url: &str, timeline: &Cell<Timeline>) -> Result<Page, FetchError> {
        let url = Url::parse(url)?;
        let addr = url.socket_addr()?;
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(FetchError::Connect)?;
        mark(timeline, Timeline::connected);
        stream
            .write_all(&http::request(&url))
            .await
            .map_err(FetchError::Send)?;
        let mut response = ResponseReader::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.map_err(FetchError::Receive)?;
            if n > 0 {
                mark(timeline, Timeline::first_byte);
            }
            if let Some(page) = response.feed(&buf[..n])? {
                return Ok(page);
            }
        }
    }

    fn mark(timeline: &Cell<Timeline>, event: fn(&mut Timeline)) {
        let mut t = timeline.get();
        event(&mut t);
        timeline.set(t);
    }

    /// A tokio HTTP server answering like the site (same delay query, a page of the same
    /// size), to show the site is not what limits the crawl.
    pub fn serve() -> ExitCode {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async {
            // The same listen backlog as the site (4096): with tokio's default of 1024, ten
            // thousand simultaneous connects overflow it and wait a second for SYN retries.
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
            socket.set_reuseaddr(true).expect("SO_REUSEADDR");
            socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
            let listener = socket.listen(4096).expect("listen");
            println!("PORT {}", listener.local_addr().unwrap().port());
            let _ = std::io::stdout().flush();
            let stdin_closed = tokio::task::spawn_blocking(|| {
                let _ = std::io::stdin().read_to_end(&mut Vec::new());
            });
            tokio::select! {
                _ = stdin_closed => {}
                _ = async {
                    loop {
                        let Ok((conn, _)) = listener.accept().await else { continue };
                        tokio::spawn(answer(conn));
                    }
                } => {}
            }
        });
        ExitCode::SUCCESS
    }

    async fn answer(mut conn: tokio::net::TcpStream) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head);
        let delay = text
            .split_once("delay_ms=")
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let body = format!(
            "<html><body>{}</body></html>",
            "<a href=\"/1\">a page</a> ".repeat(8)
        );
        let response = format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.write_all(response.as_bytes()).await;
    }
}
