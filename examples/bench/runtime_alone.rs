//! The runtime alone: no network, just tasks that wake themselves. What does one poll cost?

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::Options;

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
            for _ in 0..tasks {
                executor.spawn(wake_myself(wakes));
            }
            let started = Instant::now();
            let deadline = started + Duration::from_secs(600);
            executor
                .run_until(deadline)
                .ok()?
                .then(|| started.elapsed())
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

/// The runtime-alone rows: polls per second, median of the runs, each run in a fresh child,
/// the runtimes taking turns (one run each per round), all from one bench run.
pub fn runtime_only(options: &Options) -> Vec<String> {
    let runtimes: Vec<&str> = ["stage4", "stage5", "tokio"]
        .into_iter()
        .filter(|runtime| options.wanted(runtime))
        .collect();
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); runtimes.len()];
    for _ in 0..options.reps {
        for (runtime, times) in runtimes.iter().zip(&mut times) {
            times.extend(run_child(runtime));
        }
    }
    let mut rows = Vec::new();
    for (runtime, mut times) in runtimes.into_iter().zip(times) {
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

/// One runtime-alone run in a fresh child: its time, if it ran.
fn run_child(runtime: &str) -> Option<Duration> {
    let exe = std::env::current_exe().ok()?;
    let output = Command::new(exe)
        .args(["--runtime-child", runtime])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_micros)
}

pub fn runtime_child(args: &[String]) -> ExitCode {
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
