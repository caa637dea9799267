//! The local site on its own, so a whole room can share one:
//!
//! ```text
//! cargo run --example site -- --port 8000 --delay-ms 300 --pages 10
//! ```
//!
//! Then point any stage at it, e.g. `http://127.0.0.1:8000/`. Every 5 seconds it prints a
//! status line if anything changed. `RUST_LOG=site=debug` logs each connection.
//!
//! With `--host 0.0.0.0` it listens on every interface, and prints the addresses the room can
//! use: this machine's IPv4 addresses other than loopback, as the kernel lists them in
//! `/proc/net/fib_trie` (Linux; elsewhere it says to use this machine's address).

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use crawler::cli::{Command, at_least_one, delay, port};
use crawler::site::{Site, SiteConfig};

/// What the command line asked for.
#[derive(clap::Parser, Clone, Debug)]
#[command(after_help = "A request can choose its own delay: /3?delay_ms=50.\n\
                  RUST_LOG=site=debug logs every connection, RUST_LOG=site=trace every loop tick.")]
pub struct Args {
    /// Port to listen on; 0 picks a free one
    #[arg(long, value_name = "N", default_value = "8000", value_parser = port)]
    pub port: u16,
    /// Delay before each response
    #[arg(long = "delay-ms", value_name = "MS", default_value = "200", value_parser = delay)]
    pub delay: Duration,
    /// Pages in the link graph: / and /1 ... /N-1
    #[arg(long, value_name = "N", default_value = "10", value_parser = at_least_one)]
    pub pages: usize,
    /// Address to listen on; 0.0.0.0 shares it with the room
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub host: IpAddr,
}

impl Args {
    /// The site these options ask for.
    pub fn config(&self) -> SiteConfig {
        SiteConfig {
            port: self.port,
            delay: self.delay,
            pages: self.pages,
            ..SiteConfig::default()
        }
    }
}

/// The site's command line; `--help` prints it.
pub fn command() -> Command<Args> {
    let about = "the looplab local site on its own, so a whole room can share one";
    Command::new("site", about)
}

/// What a site listening on every interface tells the room: where to point their crawlers.
pub fn for_the_room(addr: SocketAddr, addresses: &[Ipv4Addr]) -> String {
    let port = addr.port();
    if addresses.is_empty() {
        return format!(
            "listening on all interfaces; attendees use http://<this machine's address>:{port}/\n"
        );
    }
    let mut text = "listening on all interfaces; attendees use one of:\n".to_string();
    for ip in addresses {
        text += &format!("  http://{ip}:{port}/   (a stage: --base http://{ip}:{port})\n");
    }
    text
}

/// This machine's IPv4 addresses other than loopback (none when they cannot be read).
pub fn local_addresses() -> Vec<Ipv4Addr> {
    let table = fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    addresses_in_fib_trie(&table)
}

/// The host's own addresses in the kernel's routing table as `/proc/net/fib_trie` prints it:
/// each `|-- a.b.c.d` line followed by `/32 host LOCAL`. Loopback left out; each address once
/// (the table lists them twice, under `Main:` and `Local:`).
pub fn addresses_in_fib_trie(table: &str) -> Vec<Ipv4Addr> {
    let mut found = BTreeSet::new();
    let mut last = None;
    for line in table.lines().map(str::trim) {
        if let Some(ip) = line.strip_prefix("|-- ") {
            last = ip.parse::<Ipv4Addr>().ok();
        } else if line.starts_with("/32 host LOCAL") {
            found.extend(last.take().filter(|ip| !ip.is_loopback()));
        }
    }
    found.into_iter().collect()
}

fn main() -> ExitCode {
    env_logger::init();
    let args = match command().parse_env() {
        Ok(args) => args,
        Err(code) => return code,
    };

    let wanted = format!("{}:{}", args.host, args.port);
    let site = match Site::start_on(args.host, args.config()) {
        Ok(site) => site,
        Err(e) => {
            eprintln!("site: cannot listen on {wanted}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = site.config();
    let pages = match config.pages {
        0 | 1 => "page /".to_string(),
        2 => "pages / and /1".to_string(),
        n => format!("pages / … /{}", n - 1),
    };
    println!(
        "serving {} (delay {} ms, {pages}); Ctrl-C to stop",
        site.url("/"),
        config.delay.as_millis()
    );
    if site.addr().ip().is_unspecified() {
        print!("{}", for_the_room(site.addr(), &local_addresses()));
    }

    // Every 5 s, one status line, if the counters moved.
    let mut last = (0, 0, 0);
    loop {
        thread::sleep(Duration::from_secs(5));
        let now = (
            site.requests(),
            site.open_connections(),
            site.peak_connections(),
        );
        if now != last {
            println!(
                "requests so far {}, open now {}, peak {}",
                now.0, now.1, now.2
            );
            last = now;
        }
    }
}
