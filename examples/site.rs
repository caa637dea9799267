//! The local site on its own, so a whole room can share one:
//!
//! ```text
//! cargo run --example site -- --port 8000 --delay-ms 300 --pages 10
//! ```
//!
//! Then point any stage at it, e.g. `http://127.0.0.1:8000/`. Every 5 seconds it prints a
//! status line if anything changed. `RUST_LOG=site=debug` logs each connection.

use std::net::IpAddr;
use std::process::exit;
use std::thread;
use std::time::Duration;

use crawler::cli;
use crawler::site::{MAX_DELAY, Site, SiteConfig};

const USAGE: &str = "\
usage: cargo run --example site -- [--port N] [--delay-ms N] [--pages N] [--host IP]

Runs the looplab local site on its own, so a whole room can share one.

  --port N       port to listen on (default 8000; 0 picks a free one)
  --delay-ms N   delay before each response, in milliseconds (default 200)
  --pages N      pages in the link graph: / and /1 ... /N-1 (default 10)
  --host IP      address to listen on (default 127.0.0.1; 0.0.0.0 shares it with the room)
  -h, --help     print this help

A request can choose its own delay: /3?delay_ms=50.
RUST_LOG=site=debug logs every connection, RUST_LOG=site=trace every loop tick.";

/// What the command line asked for.
struct Args {
    host: IpAddr,
    config: SiteConfig,
}

fn main() {
    env_logger::init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(message) => {
            eprintln!("site: {message}\n\n{USAGE}");
            exit(2);
        }
    };

    let wanted = format!("{}:{}", args.host, args.config.port);
    let site = match Site::start_on(args.host, args.config) {
        Ok(site) => site,
        Err(e) => {
            eprintln!("site: cannot listen on {wanted}: {e}");
            exit(1);
        }
    };
    let config = site.config();
    let pages = match config.pages {
        0 | 1 => "page /".to_string(),
        2 => "pages / and /1".to_string(),
        n => format!("pages / … /{}", n - 1),
    };
    let listening = if site.addr().ip().is_unspecified() {
        format!(", on every interface at port {}", site.addr().port())
    } else {
        String::new()
    };
    println!(
        "serving {} (delay {} ms, {pages}{listening}); Ctrl-C to stop",
        site.url("/"),
        config.delay.as_millis()
    );

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

/// Parses the arguments by hand; `Ok(None)` means "print the help".
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        host: IpAddr::from([127, 0, 0, 1]),
        config: SiteConfig {
            port: 8000,
            ..SiteConfig::default()
        },
    };
    while let Some(arg) = args.next() {
        // Both `--port 8000` and `--port=8000`.
        let (name, inline) = cli::split_flag(&arg);
        if name == "-h" || name == "--help" {
            return Ok(None);
        }
        if !matches!(name, "--port" | "--delay-ms" | "--pages" | "--host") {
            return Err(format!("unknown argument {arg:?}"));
        }
        let value = cli::flag_value(name, inline, &mut args)?;
        let bad = |what: &str| format!("{name} expects {what}, got {value:?}");
        match name {
            "--port" => {
                parsed.config.port = value.parse().map_err(|_| bad("a port, 0 to 65535"))?;
            }
            "--delay-ms" => {
                let max = MAX_DELAY.as_millis();
                let ms: u64 = value
                    .parse()
                    .ok()
                    .filter(|&ms| u128::from(ms) <= max)
                    .ok_or_else(|| bad(&format!("milliseconds, 0 to {max}")))?;
                parsed.config.delay = Duration::from_millis(ms);
            }
            "--pages" => {
                parsed.config.pages = value
                    .parse()
                    .ok()
                    .filter(|&pages| pages >= 1)
                    .ok_or_else(|| bad("a number of pages, at least 1"))?;
            }
            _ => {
                parsed.host = value.parse().map_err(|_| bad("an IP address"))?;
            }
        }
    }
    Ok(Some(parsed))
}
