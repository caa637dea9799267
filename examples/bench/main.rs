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
//!
//! | file | what |
//! |---|---|
//! | `main.rs` | the command line, the contenders, and which process does what |
//! | `measure.rs` | the parent's loop over the table, one child per measurement, the servers |
//! | `table.rs` | a row per contender and workload, and the Markdown table |
//! | `runtime_alone.rs` | what one poll costs: tasks that wake themselves, no network |
//! | `with_tokio.rs` | (`--features tokio`) the same fetch on tokio, and a tokio server |

mod measure;
mod runtime_alone;
mod syscalls;
mod table;
#[cfg(feature = "tokio")]
mod with_tokio;

use std::process::ExitCode;
use std::time::Instant;

use crawler::cli::{Command, delay, number};
use crawler::fetch::Outcome;

pub type CrawlFn = fn(&[String], Instant) -> Vec<Outcome>;

/// A way to crawl the bench knows: a stage, or tokio when compiled in.
pub struct Contender {
    pub name: String,
    pub crawl: CrawlFn,
    /// The bytes one fetch keeps from one wait to the next (its future, or its state).
    pub fetch_size: Option<fn() -> usize>,
}

/// Every way to crawl the bench knows: the stages, and tokio when compiled in.
pub fn contenders() -> Vec<Contender> {
    let stages = crawler::stages().into_iter().map(|s| {
        // Stage 5 caps its workers at 10 by default; here it gets one per URL, so that every
        // row does the same work: all N fetches in flight at once.
        let crawl = if s.name == "stage5" {
            stage5_one_worker_per_url
        } else {
            s.crawl
        };
        let fetch_size: Option<fn() -> usize> = match s.name {
            "stage1" => Some(crawler::stage1::fetch_size),
            "stage2" => Some(crawler::stage2::fetch_size),
            "stage3" => Some(crawler::stage3::fetch_size),
            "stage4" => Some(crawler::stage4::fetch_size),
            "stage5" => Some(crawler::stage5::fetch_size),
            _ => None,
        };
        Contender {
            name: s.name.replace(" --", "-"),
            crawl,
            fetch_size,
        }
    });
    #[cfg(feature = "tokio")]
    let stages = stages.chain([Contender {
        name: "tokio".to_string(),
        crawl: with_tokio::crawl,
        fetch_size: Some(with_tokio::fetch_size),
    }]);
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

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    pub ns: Vec<usize>,
    pub delays: Vec<u64>,
    pub stages: Option<Vec<String>>,
    pub reps: usize,
    pub markdown: Option<String>,
    /// Count the system calls per fetch with `strace`, if it is there.
    pub count_syscalls: bool,
}

impl Options {
    /// Whether the contender `name` is to be measured.
    pub fn wanted(&self, name: &str) -> bool {
        self.stages
            .as_ref()
            .is_none_or(|s| s.iter().any(|w| w == name))
    }
}

/// The bench's command line; `--help` prints it.
fn command() -> Command<Options> {
    let options = Options {
        ns: vec![10, 1000, 10_000],
        delays: vec![0, 200],
        stages: None,
        reps: 3,
        markdown: None,
        count_syscalls: true,
    };
    let about = "wall time and peak memory of every stage on loopback";
    Command::new("bench", about, options)
        .usage("cargo run --release --example bench [--features tokio] -- [OPTIONS]")
        .value("--n", "LIST", "URL counts, comma-separated", |o, v| {
            list(v, |n| number(n, 1)).map(|ns| o.ns = ns)
        })
        .default(|o| joined(&o.ns))
        .value(
            "--delay-ms",
            "LIST",
            "per-response delays, comma-separated",
            |o, v| {
                let ms = |text: &str| delay(text).map(|d| d.as_millis() as u64);
                list(v, ms).map(|delays| o.delays = delays)
            },
        )
        .default(|o| joined(&o.delays))
        .value(
            "--stages",
            "LIST",
            "which to run, e.g. stage1,stage4,tokio (default: all)",
            |o, v| list(v, |name| Ok(name.to_string())).map(|s| o.stages = Some(s)),
        )
        .value(
            "--reps",
            "N",
            "runs per cell; the table shows the median and min-max",
            |o, v| number(v, 1).map(|reps| o.reps = reps),
        )
        .default(|o| o.reps.to_string())
        .switch("--quick", "a tiny run: --n 10 --delay-ms 0 --reps 1", |o| {
            o.ns = vec![10];
            o.delays = vec![0];
            o.reps = 1;
        })
        .switch(
            "--no-syscalls",
            "do not count system calls per fetch (strace runs one more child per row)",
            |o| o.count_syscalls = false,
        )
        .value(
            "--markdown",
            "FILE",
            "also write the table as Markdown",
            |o, v| {
                o.markdown = Some(v.to_string());
                Ok(())
            },
        )
        .check(|o| {
            let known: Vec<String> = contenders().into_iter().map(|c| c.name).collect();
            match o.stages.iter().flatten().find(|s| !known.contains(s)) {
                Some(stage) => Err(format!(
                    "unknown stage {stage:?}; known: {}",
                    known.join(", ")
                )),
                None => Ok(()),
            }
        })
}

/// `10,1000,10000`: each item read by `one`.
fn list<T>(text: &str, one: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    text.split(',').map(|item| one(item.trim())).collect()
}

fn joined(items: &[impl ToString]) -> String {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    items.join(",")
}

/// The user runs the parent; the parent runs this program again for every other role.
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child") => measure::child(&args[1..]),
        Some("--serve-site") => measure::serve(false),
        Some("--serve-tokio") => measure::serve(true),
        Some("--runtime-child") => runtime_alone::runtime_child(&args[1..]),
        _ => match command().parse_env() {
            Ok(options) => measure::parent(&options),
            Err(code) => code,
        },
    }
}
