//! The seeds' echo server, on the stage 5 runtime: one thread, one loop, many clients.
//!
//! ```text
//! cargo run --example echo                    # serves 127.0.0.1:8007 until Ctrl-C
//! cargo run --example echo -- --port 9000
//! cargo run --example echo -- --clients 200   # plus 200 clients on the same loop, then exits
//! RUST_LOG=runtime::stage5=debug cargo run --example echo
//! ```
//!
//! Try it with `nc 127.0.0.1 8007`: every line you type comes back. Open a few at once: one
//! thread serves them all, each connection a task that awaits its socket. Python's version
//! (seed 001) registers an `accept` callback and a `read` callback with a selector; here the
//! accept loop and each connection are plain `async` code on the same loop as the crawler.
//!
//! Out of file descriptors (`ulimit -n`), `accept` fails; the server says so once, goes on
//! serving the clients it has, and tries again every few milliseconds, so that it serves the
//! waiting ones as soon as descriptors free up — as the built-in site does.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crawler::cli::{self, Command, at_least_one, port};
use crawler::limits;
use crawler::report::plural;
use runtime::stage5::{
    Either, Executor, Queue, Semaphore, TcpListener, TcpStream, join_all, select, sleep, spawn,
    timeout,
};

/// After a failed `accept` (most likely: out of file descriptors), try again this much later.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// How long a `--clients` client waits for its echo before it gives up.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many `--clients` clients may be between their connect and their echo at once. All of
/// them connecting in one round of the loop, before the server's accept runs again, would
/// overflow the kernel's queue of waiting connections, and a dropped handshake is retried
/// only a second later (then three, then seven).
const EXCHANGING: usize = 1000;

/// What the command line asked for.
#[derive(clap::Parser, Clone, Debug)]
#[command(after_help = "Try it: nc 127.0.0.1 8007")]
pub struct Options {
    /// Port to listen on, on 127.0.0.1; 0 picks a free one
    #[arg(long, value_name = "N", default_value = "8007", value_parser = port)]
    pub port: u16,
    /// Also run N clients on the same loop, print what happened, and exit
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub clients: Option<usize>,
}

/// The echo server's command line; `--help` prints it.
pub fn command() -> Command<Options> {
    let about = "the seeds' echo server on the stage 5 runtime: everything a client sends \
                 comes back";
    Command::new("echo", about)
}

/// What the server saw: connections accepted, open now, the most at once, closed, and the
/// bytes echoed (counted as they go back, not when the connection ends).
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: Cell<usize>,
    pub open: Cell<usize>,
    pub peak: Cell<usize>,
    pub served: Cell<usize>,
    pub bytes: Cell<u64>,
}

impl Stats {
    fn opened(&self) {
        self.accepted.set(self.accepted.get() + 1);
        self.open.set(self.open.get() + 1);
        self.peak.set(self.peak.get().max(self.open.get()));
    }

    fn closed(&self) {
        self.open.set(self.open.get() - 1);
        self.served.set(self.served.get() + 1);
    }
}

/// Accepts connections and spawns a task for each: all of them on this thread's loop.
/// With `clients`, stops accepting after that many and returns once they have all left;
/// without, serves forever.
///
/// A failed `accept` does not end the server: out of file descriptors, the connections
/// already accepted go on being served, and `accept` is tried again after [`ACCEPT_RETRY`]
/// — on a timer, because the clients waiting in the kernel's queue will not make the
/// listener "readable" again. The failure is said once, when it starts, and the recovery
/// when it ends.
pub async fn serve(
    mut listener: TcpListener,
    clients: Option<usize>,
    stats: Rc<Stats>,
    verbose: bool,
) -> io::Result<()> {
    let mut connections = Vec::new();
    let mut failing = false;
    while clients.is_none_or(|n| stats.accepted.get() < n) {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                if !failing {
                    eprintln!(
                        "echo: accept failed: {e}; serving the {} open, retrying every {} ms",
                        plural(stats.open.get(), "connection", "connections"),
                        ACCEPT_RETRY.as_millis()
                    );
                    failing = true;
                }
                sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        if failing {
            eprintln!("echo: accepting again ({} open)", stats.open.get());
            failing = false;
        }
        stats.opened();
        if verbose {
            println!("{peer} connected ({} open)", stats.open.get());
        }
        let connection = spawn(echo(stream, peer, stats.clone(), verbose));
        // Serving forever, nobody waits for a connection: its handle is dropped, and the
        // task runs on, detached.
        if clients.is_some() {
            connections.push(connection);
        }
    }
    join_all(connections).await;
    Ok(())
}

/// One connection: whatever arrives goes back, until the client closes its side.
async fn echo(mut stream: TcpStream, peer: SocketAddr, stats: Rc<Stats>, verbose: bool) {
    let mut buf = [0u8; 4096];
    let mut echoed = 0;
    let ended = loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        if let Err(e) = stream.write_all(&buf[..n]).await {
            break Err(e);
        }
        echoed += n as u64;
        stats.bytes.set(stats.bytes.get() + n as u64);
    };
    stats.closed();
    if verbose {
        match ended {
            Ok(()) => println!(
                "{peer} left after {echoed} bytes ({} open)",
                stats.open.get()
            ),
            Err(e) => println!("{peer}: {e} ({} open)", stats.open.get()),
        }
    }
}

/// `n` clients as tasks on the same loop as the server: each sends a line, reads it back,
/// and keeps its connection until every client is done, so the server holds all `n` at once.
/// Returns how many got back exactly what they sent.
pub async fn clients(addr: SocketAddr, n: usize) -> usize {
    let results = each_client(addr, n).await;
    results.iter().filter(|result| result.is_ok()).count()
}

/// [`clients`], with each client's result: `Ok` if it got back exactly what it sent, else
/// what went wrong.
pub async fn each_client(addr: SocketAddr, n: usize) -> Vec<Result<(), String>> {
    // A queue as a barrier: n items put; each client marks one done; `join` waits for all.
    let everyone = Queue::new();
    for _ in 0..n {
        let _ = everyone.put_nowait(());
    }
    let exchanging = Semaphore::new(EXCHANGING);
    let tasks = (0..n).map(|i| {
        let (everyone, exchanging) = (everyone.clone(), exchanging.clone());
        spawn(async move {
            let line = format!("hello from client {i}\n");
            let permit = exchanging.acquire().await;
            let exchange = timeout(CLIENT_TIMEOUT, echo_once(addr, line.as_bytes()));
            let result = match exchange.await {
                Ok(Ok((stream, reply))) if reply == line.as_bytes() => Ok(stream),
                Ok(Ok((_, reply))) => Err(format!(
                    "the connection closed after {} of {} bytes came back",
                    reply.len(),
                    line.len()
                )),
                Ok(Err(e)) => Err(e.to_string()),
                Err(elapsed) => Err(format!("no echo: {elapsed}")),
            };
            drop(permit);
            everyone.task_done();
            everyone.join().await;
            // The stream in `result` holds the connection: it closes only now, when everyone
            // is done.
            result.map(drop)
        })
    });
    let results = join_all(tasks.collect::<Vec<_>>()).await;
    let failed = |e: runtime::stage5::JoinError| Err(format!("the client task failed: {e}"));
    results
        .into_iter()
        .map(|joined| joined.unwrap_or_else(failed))
        .collect()
}

/// Every second, until it is dropped: what the server has done so far.
async fn progress(n: usize, stats: &Stats) {
    let started = Instant::now();
    loop {
        sleep(Duration::from_secs(1)).await;
        println!(
            "  after {} s: the server has accepted {} of {n} clients, holds {} and echoed {} \
             bytes",
            started.elapsed().as_secs(),
            stats.accepted.get(),
            stats.open.get(),
            stats.bytes.get(),
        );
    }
}

/// Connects, sends `line`, and reads until as many bytes came back; keeps the connection.
async fn echo_once(addr: SocketAddr, line: &[u8]) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(line).await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    while reply.len() < line.len() {
        match stream.read(&mut buf).await? {
            0 => break,
            n => reply.extend_from_slice(&buf[..n]),
        }
    }
    Ok((stream, reply))
}

/// Runs a server on `addr` on a new executor; `ready` hears the address it listens on.
/// With `clients`, returns once that many have come and gone, with what it saw and how many
/// sources its reactor still holds (0: every socket was closed).
pub fn run(
    addr: SocketAddr,
    clients: Option<usize>,
    ready: impl FnOnce(SocketAddr),
    verbose: bool,
) -> io::Result<(Stats, usize)> {
    let mut executor = Executor::new()?;
    let stats = Rc::new(Stats::default());
    let served = executor.block_on({
        let stats = stats.clone();
        async move {
            let listener = TcpListener::bind(addr)?;
            ready(listener.local_addr()?);
            serve(listener, clients, stats, verbose).await
        }
    })?;
    served?;
    let left = executor.reactor().sources();
    drop(executor);
    let stats = Rc::try_unwrap(stats).unwrap_or_default();
    Ok((stats, left))
}

/// What `--clients N` saw: each client's result, and the server's side of it.
pub struct Demo {
    pub results: Vec<Result<(), String>>,
    pub stats: Stats,
}

impl Demo {
    pub fn ok(&self) -> usize {
        self.results.iter().filter(|r| r.is_ok()).count()
    }

    /// `10 of 10 clients got their line back; …`, then the failures, grouped by what went
    /// wrong.
    pub fn summary(&self) -> String {
        let (n, stats) = (self.results.len(), &self.stats);
        let mut text = format!(
            "{} of {} got their line back; the server accepted {}, held {} at once and \
             echoed {} bytes, all on one thread\n",
            self.ok(),
            plural(n, "client", "clients"),
            plural(stats.accepted.get(), "connection", "connections"),
            stats.peak.get(),
            stats.bytes.get(),
        );
        let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
        for e in self.results.iter().filter_map(|r| r.as_ref().err()) {
            *failures.entry(e).or_default() += 1;
        }
        for (e, count) in failures {
            text += &format!("  {count:>7} x {e}\n");
        }
        text
    }
}

/// Whether `n` clients and the server's end of each fit this process's file descriptors.
pub fn clients_fit(n: usize) -> Result<(), String> {
    limits::files_fit(2 * n as u64).map_err(|short| {
        format!(
            "--clients {n} needs {} file descriptors in this one process: each client's \
             socket and the server's end of it; but {}. Either\n  - lower --clients: {} \
             fit;\n  - or raise the limit: {}.",
            2 * n,
            short.limit(),
            short.left / 2,
            short.raise()
        )
    })
}

/// `--clients N`: the server and N clients, on one loop, on this one thread.
pub fn demo(addr: SocketAddr, n: usize) -> io::Result<Demo> {
    let mut executor = Executor::new()?;
    let stats = Rc::new(Stats::default());
    let results = executor.block_on({
        let stats = stats.clone();
        async move {
            let listener = TcpListener::bind(addr)?;
            let addr = listener.local_addr()?;
            println!("echo server on {addr}, with {n} clients on the same loop");
            // The server serves until the clients are done: then `select` drops it.
            let server = serve(listener, None, stats.clone(), false);
            let watched = select(each_client(addr, n), progress(n, &stats));
            match select(server, watched).await {
                Either::Left(served) => served.map(|()| Vec::new()),
                Either::Right(Either::Left(results)) => Ok(results),
                Either::Right(Either::Right(())) => unreachable!("the progress never ends"),
            }
        }
    })??;
    drop(executor);
    let stats = Rc::try_unwrap(stats).unwrap_or_default();
    Ok(Demo { results, stats })
}

fn main() -> ExitCode {
    let Options { port, clients } = match command().parse_env() {
        Ok(options) => options,
        Err(code) => return code,
    };
    cli::init_logging();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Some(n) = clients else {
        let ready = |addr: SocketAddr| {
            println!(
                "echo server on {addr}; try: nc {} {}",
                addr.ip(),
                addr.port()
            )
        };
        return match run(addr, None, ready, true) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("echo: cannot serve on {addr}: {e}");
                ExitCode::from(1)
            }
        };
    };
    if let Err(message) = clients_fit(n) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    match demo(addr, n) {
        Ok(demo) => {
            print!("{}", demo.summary());
            if demo.ok() == n {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::from(1)
        }
    }
}
