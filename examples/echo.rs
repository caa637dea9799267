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
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;

use crawler::cli::{self, Command, number};
use runtime::stage5::{Executor, Queue, TcpListener, TcpStream, join_all, spawn};

/// What the command line asked for.
#[derive(Clone, Debug)]
pub struct Options {
    pub port: u16,
    pub clients: Option<usize>,
}

/// The echo server's command line; `--help` prints it.
pub fn command() -> Command<Options> {
    let options = Options {
        port: 8007,
        clients: None,
    };
    let about = "the seeds' echo server on the stage 5 runtime: everything a client sends \
                 comes back";
    Command::new("echo", about, options)
        .value(
            "--port",
            "N",
            "port to listen on, on 127.0.0.1; 0 picks a free one",
            |o, v| number(v, 0).map(|port| o.port = port),
        )
        .default(|o| o.port.to_string())
        .value(
            "--clients",
            "N",
            "also run N clients on the same loop, print what happened, and exit",
            |o, v| number(v, 1).map(|n| o.clients = Some(n)),
        )
        .footer("Try it: nc 127.0.0.1 8007")
}

/// What the server saw: connections open now, the most at once, and totals.
#[derive(Debug, Default)]
pub struct Stats {
    pub open: Cell<usize>,
    pub peak: Cell<usize>,
    pub served: Cell<usize>,
    pub bytes: Cell<u64>,
}

impl Stats {
    fn opened(&self) {
        self.open.set(self.open.get() + 1);
        self.peak.set(self.peak.get().max(self.open.get()));
    }

    fn closed(&self, bytes: u64) {
        self.open.set(self.open.get() - 1);
        self.served.set(self.served.get() + 1);
        self.bytes.set(self.bytes.get() + bytes);
    }
}

/// Accepts connections and spawns a task for each: all of them on this thread's loop.
/// With `clients`, stops accepting after that many and returns once they have all left;
/// without, serves forever.
pub async fn serve(
    mut listener: TcpListener,
    clients: Option<usize>,
    stats: Rc<Stats>,
    verbose: bool,
) -> io::Result<()> {
    let mut connections = Vec::new();
    let mut accepted = 0;
    while clients.is_none_or(|n| accepted < n) {
        let (stream, peer) = listener.accept().await?;
        accepted += 1;
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
    };
    stats.closed(echoed);
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
/// and keeps its connection until every client has its echo, so the server holds all `n`
/// at once. Returns how many got back exactly what they sent.
pub async fn clients(addr: SocketAddr, n: usize) -> usize {
    // A queue as a barrier: n items put; each client marks one done; `join` waits for all.
    let everyone = Queue::new();
    for _ in 0..n {
        let _ = everyone.put_nowait(());
    }
    let tasks = (0..n).map(|i| {
        let everyone = everyone.clone();
        spawn(async move {
            let line = format!("hello from client {i}\n");
            let echoed = echo_once(addr, line.as_bytes()).await;
            everyone.task_done();
            everyone.join().await;
            // `echoed` holds the connection: it closes only now, when everyone is done.
            matches!(echoed, Ok((_, reply)) if reply == line.as_bytes())
        })
    });
    let results = join_all(tasks.collect::<Vec<_>>()).await;
    results.into_iter().filter(|ok| *ok == Ok(true)).count()
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

fn main() -> ExitCode {
    let Options { port, clients } = match command().parse_env() {
        Ok(options) => options,
        Err(code) => return code,
    };
    cli::init_logging();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let result = match clients {
        None => run(
            addr,
            None,
            |addr| {
                println!(
                    "echo server on {addr}; try: nc {} {}",
                    addr.ip(),
                    addr.port()
                )
            },
            true,
        )
        .map(|_| ()),
        Some(n) => demo_run(addr, n),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--clients N`: the server and N clients, on one loop, on this one thread.
fn demo_run(addr: SocketAddr, n: usize) -> io::Result<()> {
    let mut executor = Executor::new()?;
    let stats = Rc::new(Stats::default());
    let ok = executor.block_on({
        let stats = stats.clone();
        async move {
            let listener = TcpListener::bind(addr)?;
            let addr = listener.local_addr()?;
            println!("echo server on {addr}, with {n} clients on the same loop");
            let server = spawn(serve(listener, Some(n), stats, false));
            let ok = clients(addr, n).await;
            let _ = server.await;
            io::Result::Ok(ok)
        }
    })??;
    println!(
        "{ok} of {n} clients got their line back; the server held {} connections at once, \
         echoed {} bytes, all on one thread",
        stats.peak.get(),
        stats.bytes.get()
    );
    if ok == n {
        Ok(())
    } else {
        Err(io::Error::other("some clients did not get their echo"))
    }
}
