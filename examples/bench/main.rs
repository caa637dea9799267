//! bench: how good is each stage? Wall time, CPU time, peak memory, the bytes one fetch
//! keeps and the system calls it makes, on loopback, side by side with a thread per fetch and
//! (with `--features tokio`) with tokio's current-thread runtime running the crawl a tokio
//! user would write: connect, `write_all`, `read_to_end`, parse.
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
//! The runs of a workload are interleaved — a round runs every contender once — so a burst of
//! load from elsewhere on the machine falls on all of them alike, not on one.
//!
//! The columns: *wall ms*, the median (min–max) of `--reps` runs; *CPU ms*, the child's own
//! user and system time (`/proc/self/stat`, 10 ms ticks), which a busy machine disturbs less
//! than the wall time; *peak RSS* (`VmHWM`) and the RSS above the child's baseline per fetch
//! in flight; *bytes a fetch keeps*, `size_of` what one fetch holds from one wait to the next
//! (`sizes.rs`: stages 1–3's `Fetcher`, the future of `fetch` for stages 4, 5 and tokio —
//! stage 5's worker keeps its own future besides); *syscalls per fetch*, counted by
//! `strace -f -c` around one more child (`syscalls.rs`), broken down by call in a second
//! table. The table's first line names the machine — CPU, cores, memory, kernel, compiler —
//! and the load average before and after the run: a number from a busy machine says so.
//!
//! | file | what |
//! |---|---|
//! | `main.rs` | the command line, the contenders, and which process does what |
//! | `measure.rs` | the parent's loop over the table, one child per measurement, the servers |
//! | `table.rs` | a row per contender and workload, the Markdown tables, the machine |
//! | `sizes.rs` | the bytes one fetch of each stage keeps between waits |
//! | `syscalls.rs` | system calls per fetch, from `strace -f -c` |
//! | `runtime_alone.rs` | what one poll costs: tasks that wake themselves, no network |
//! | `with_tokio.rs` | (`--features tokio`) the same crawl on tokio, and a tokio server |
//!
//! # Profiling one child
//!
//! The table says *how much*; a profile of one child says *where*. Start a site, then run the
//! child under the tool (`PORT` is the number the site prints):
//!
//! ```text
//! target/release/examples/bench --serve-site &                   # prints PORT 12345
//! perf stat -e task-clock,context-switches target/release/examples/bench --child stage2 10000 0 $PORT
//! perf record -g -e cpu-clock target/release/examples/bench --child stage5 10000 0 $PORT
//! heaptrack target/release/examples/bench --child stage5 10000 0 $PORT   # who holds the peak
//! strace -f -c target/release/examples/bench --child stage1 1000 0 $PORT  # which calls, how many
//! perf record -e cpu-clock:u target/release/examples/bench --runtime-child stage4
//! ```
//!
//! # What profiles found (the log NOTES.md's "Performance" chapter rests on)
//!
//! - **A buffer in every task.** `heaptrack` put stage 4's peak heap at `spawn`: 8.9 KB per
//!   task, because `read_all`'s `[0u8; 4096]` lived across an `.await` (4,424 bytes of
//!   `fetch`'s future), and the runtime's `join::task` holds the future it is given twice —
//!   the captured value, and the future it awaits (rustc issue 62958). Reading into the
//!   `ResponseReader`'s buffer made `fetch`'s future 344 bytes; boxing the future before it is
//!   moved in fixed the doubling (stage 5 at 10,000: 35.3 → 28.4 MiB).
//! - **Where a crawl's time goes.** `perf record -g -e cpu-clock` of one child, 10,000 URLs at
//!   0 ms: 87–92% of the samples in the kernel on every stage and on tokio — `connect` 35–40%
//!   (the loopback handshake runs inside it), `close` 16–20%, `sendto` 12–14%, `socket` 5–7%,
//!   `epoll_ctl` 4.5–6%, `recvfrom` 2–5%, `fcntl` under 1%. User time: 30–40 ms for stage 1,
//!   60–90 ms for stages 2–5 and tokio.
//! - **Why stages 1–3 trail stage 4.** Not their third `epoll_ctl` (1%, above). The timeline
//!   of one child (when each URL connected, got its first byte, ended) showed stage 1
//!   starting every connect before its loop ran — 278 ms for 10,000 — and sending nothing until
//!   the writable events came round, while stage 4 found each socket already connected in
//!   its first poll and sent at once, so the site worked while the crawler connected. Stage 1
//!   with the connect checked at once (tried, not kept: waiting is its lesson): 825 → 646 ms at 200 ms, 694 → 492
//!   at 0 ms, medians of five runs taking turns.
//! - **A wake that interrupted nobody.** `strace -c` of stage 4 at 200 ms showed one `write`
//!   per fetch: the reactor woke tasks from inside `poll` while the executor's `parked` flag
//!   was still set, so each wake wrote to the `mio::Waker`'s eventfd (0.4–0.6% of the CPU).
//!   A wake on the executor's own thread no longer interrupts it.
//! - **Stage 5 behind at 0 ms** (an earlier version, 1.11x tokio). The same system calls as
//!   stage 4, but twice its user time. Two causes: a request future boxed twice (`timeout_at`
//!   was an `async fn` calling `select`: a worker future of 9,656 bytes), and the queue's
//!   `WaitList` finding a ticket by a linear scan, O(n²) when ten thousand idle workers are
//!   cancelled at the end. `Timeout` became a struct that boxes once, the line a map.
//! - **Stage 5's memory at 10,000 in flight** (1.38x tokio: 25.8 against 18.7 MiB). Not
//!   threads (one at the peak: the hosts are IP addresses, no lookup) nor malloc arenas (one).
//!   `heaptrack` said 1.10x, but it slows the child until fewer fetches overlap. Read at the
//!   peak with `gdb -p PID -batch -ex 'call (void)malloc_stats()'` (and `malloc_info(0,
//!   stderr)`): 19.8 MB in use against tokio's 14.6, and 2.1 MB of free 112- and 128-byte
//!   chunks against 0.9. Causes: an `async fn` keeps its arguments apart from their local
//!   copies (rustc issue 62958) — `visit(url, claim)` was 368 bytes, two 160-byte claims;
//!   `fetch_with_retries` kept its `match` scrutinee through the retry pause (280 → 200); an
//!   idle worker kept room for a claim (440 bytes); a URL in flight was two boxes, and each
//!   outcome (240 bytes) carved out of the freed 352-byte `fetch` box left a hole; and at the
//!   end `join_all` boxed the workers' handles (`VmHWM` 19.6 MiB before it, 20.1–20.3 after).
//!   Claims lent, `fetch` pinned in the URL's box (`Timeout::pinned`), workers of 72 bytes,
//!   `seen` only when following links, handles awaited one by one: 19.5 and 19.6 MiB (0 and
//!   200 ms, 5 runs), tokio 18.6 and 18.8: 1.04–1.05x.
//! - **The executor's poll** (an earlier version, 14 M polls/s against tokio's 24 M).
//!   `perf record -e cpu-clock:u` of the runtime-alone child: 43% in the task table (a
//!   `HashMap` hashed with SipHash, each task removed and inserted back per poll), 21% in
//!   `wake_by_ref` (a lock, and `thread::current()`). Tasks in a `Slab`, left in place while
//!   polled, and wakers that are the queue's entries closed it.

mod measure;
mod runtime_alone;
mod sizes;
mod syscalls;
mod table;
#[cfg(feature = "tokio")]
mod with_tokio;

use std::process::ExitCode;
use std::time::Instant;

use clap::parser::ValueSource;
use crawler::cli::{Command, at_least_one, delay};
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
        Contender {
            name: s.name.replace(" --", "-"),
            crawl,
            fetch_size: sizes::of(s.name),
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
#[derive(clap::Parser, Clone, Debug)]
#[command(
    override_usage = "cargo run --release --example bench [--features tokio] -- [OPTIONS]",
    after_help = "Each run is a fresh child process; the contenders take turns, so a busy moment\n\
                  falls on all of them alike. Syscalls per fetch come from `strace -f -c` when it\n\
                  is on PATH (the table says why not otherwise). How each column is measured, how\n\
                  to profile one child, and what profiles found: examples/bench/main.rs."
)]
pub struct Options {
    /// URL counts, comma-separated
    #[arg(long = "n", value_name = "LIST", value_delimiter = ',', default_value = "10,1000,10000", value_parser = at_least_one)]
    pub ns: Vec<usize>,
    /// Per-response delays, comma-separated
    #[arg(long = "delay-ms", value_name = "LIST", value_delimiter = ',', default_value = "0,200", value_parser = delay_ms)]
    pub delays: Vec<u64>,
    /// Which to run, e.g. stage1,stage4,tokio [default: all]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub stages: Option<Vec<String>>,
    /// Runs per cell; the table shows the median and min-max
    #[arg(long, value_name = "N", default_value = "3", value_parser = at_least_one)]
    pub reps: usize,
    /// A tiny run: --n 10 --delay-ms 0 --reps 1 (unless given)
    #[arg(long)]
    pub quick: bool,
    /// Do not count system calls per fetch (strace runs one more child per row)
    #[arg(long = "no-syscalls", action = clap::ArgAction::SetFalse)]
    pub count_syscalls: bool,
    /// Also write the table as Markdown
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<String>,
}

/// A delay in milliseconds, by the one rule for delays.
fn delay_ms(text: &str) -> Result<u64, String> {
    delay(text.trim()).map(|d| d.as_millis() as u64)
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
    let about = "wall and CPU time, peak memory, bytes and system calls per fetch of every \
                 stage, on loopback";
    Command::<Options>::new("bench", about).check(|o, matches| {
        // `--quick` sets what was not given: `--quick --n 100` runs 100 URLs.
        let given = |id| matches.value_source(id) == Some(ValueSource::CommandLine);
        if o.quick {
            if !given("ns") {
                o.ns = vec![10];
            }
            if !given("delays") {
                o.delays = vec![0];
            }
            if !given("reps") {
                o.reps = 1;
            }
        }
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
