//! The local site on its own, so a whole room can share one:
//!
//! ```text
//! cargo run --example site -- --port 8000 --delay-ms 300 --pages 10
//! ```
//!
//! Then point any stage at it, e.g. `http://127.0.0.1:8000/`. Every 5 seconds it prints a
//! status line if anything changed. `RUST_LOG=site=debug` logs each connection.

use std::net::IpAddr;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use crawler::cli::{Command, delay, number};
use crawler::site::{Site, SiteConfig};

/// What the command line asked for.
#[derive(Clone, Debug)]
pub struct Args {
    pub host: IpAddr,
    pub config: SiteConfig,
}

/// The site's command line; `--help` prints it.
pub fn command() -> Command<Args> {
    let args = Args {
        host: IpAddr::from([127, 0, 0, 1]),
        config: SiteConfig {
            port: 8000,
            ..SiteConfig::default()
        },
    };
    let about = "the looplab local site on its own, so a whole room can share one";
    Command::new("site", about, args)
        .value(
            "--port",
            "N",
            "port to listen on; 0 picks a free one",
            |a, v| number(v, 0).map(|port| a.config.port = port),
        )
        .default(|a| a.config.port.to_string())
        .value("--delay-ms", "MS", "delay before each response", |a, v| {
            delay(v).map(|delay| a.config.delay = delay)
        })
        .default(|a| a.config.delay.as_millis().to_string())
        .value(
            "--pages",
            "N",
            "pages in the link graph: / and /1 ... /N-1",
            |a, v| number(v, 1).map(|pages| a.config.pages = pages),
        )
        .default(|a| a.config.pages.to_string())
        .value(
            "--host",
            "IP",
            "address to listen on; 0.0.0.0 shares it with the room",
            |a, v| {
                let ip = v.parse();
                ip.map(|ip| a.host = ip)
                    .map_err(|_| format!("expects an IP address, not {v:?}"))
            },
        )
        .default(|a| a.host.to_string())
        .footer(
            "A request can choose its own delay: /3?delay_ms=50.\n\
             RUST_LOG=site=debug logs every connection, RUST_LOG=site=trace every loop tick.",
        )
}

fn main() -> ExitCode {
    env_logger::init();
    let args = match command().parse_env() {
        Ok(args) => args,
        Err(code) => return code,
    };

    let wanted = format!("{}:{}", args.host, args.config.port);
    let site = match Site::start_on(args.host, args.config) {
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
