//! The command line every example shares, and the `main` they all run.
//!
//! ```text
//! cargo run --example stage1                          # built-in site, ten URLs
//! cargo run --example stage1 -- --count 100 --delay-ms 50
//! cargo run --example stage1 -- --base http://127.0.0.1:8000   # a room's shared site
//! cargo run --example stage1 -- http://127.0.0.1:8000/ http://127.0.0.1:8000/3
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::fetch::Outcome;
use crate::report::{self, Crawl};
use crate::site::{self, Site, SiteConfig};

/// The crawl deadline when `--timeout-ms` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A flag one example has beyond the shared ones (`--threads` for stage 0…).
#[derive(Clone, Copy, Debug)]
pub enum Extra {
    /// A flag without a value.
    Switch {
        name: &'static str,
        help: &'static str,
    },
    /// A flag with a whole-number value.
    Number {
        name: &'static str,
        default: u64,
        help: &'static str,
    },
}

/// What the command line asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// URLs given on the command line (crawl exactly these).
    pub urls: Vec<String>,
    /// How many site paths to crawl: `/`, `/1` … `/count-1`.
    pub count: usize,
    /// Whether `--count` was given (stage 5 starts from `/` alone when it was not).
    pub count_given: bool,
    /// The built-in site's delay per response.
    pub delay: Duration,
    /// The crawl deadline.
    pub timeout: Duration,
    /// Another server to crawl the same paths on, instead of the built-in site.
    pub base: Option<String>,
    switches: Vec<&'static str>,
    numbers: Vec<(&'static str, u64)>,
}

impl Args {
    /// Whether the switch `name` was given.
    pub fn switch(&self, name: &str) -> bool {
        self.switches.contains(&name)
    }

    /// The value of the number flag `name` (its default if not given).
    pub fn number(&self, name: &str) -> u64 {
        self.numbers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{name} is not a number flag of this example"))
    }
}

/// The result of parsing: run, or print the help.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Args),
    Help,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>, extras: &[Extra]) -> Result<Parsed, String> {
    let mut parsed = Args {
        urls: Vec::new(),
        count: 10,
        count_given: false,
        delay: site::DEFAULT_DELAY,
        timeout: DEFAULT_TIMEOUT,
        base: None,
        switches: Vec::new(),
        numbers: extras
            .iter()
            .filter_map(|e| match e {
                Extra::Number { name, default, .. } => Some((*name, *default)),
                Extra::Switch { .. } => None,
            })
            .collect(),
    };
    let mut delay_given = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = split_flag(&arg);
        let mut value = |flag: &str| flag_value(flag, inline, &mut args);
        match flag {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--count" => {
                parsed.count = number(flag, &value(flag)?, 1)? as usize;
                parsed.count_given = true;
            }
            "--delay-ms" => {
                parsed.delay = millis(flag, &value(flag)?, 0)?;
                delay_given = true;
            }
            "--timeout-ms" => parsed.timeout = millis(flag, &value(flag)?, 1)?,
            "--base" => {
                let base = value(flag)?;
                crate::url::Url::parse(&base).map_err(|e| format!("--base: {e}"))?;
                parsed.base = Some(base.trim_end_matches('/').to_string());
            }
            f if f.starts_with('-') => match extras.iter().find(|e| extra_name(e) == f) {
                Some(Extra::Switch { name, .. }) => {
                    if inline.is_some() {
                        return Err(format!("{name} takes no value"));
                    }
                    parsed.switches.push(name);
                }
                Some(Extra::Number { name, .. }) => {
                    let n = number(name, &value(name)?, 1)?;
                    for (n_name, v) in &mut parsed.numbers {
                        if n_name == name {
                            *v = n;
                        }
                    }
                }
                None => return Err(format!("unknown option {f}")),
            },
            _ => parsed.urls.push(arg.clone()),
        }
    }
    if parsed.base.is_some() && !parsed.urls.is_empty() {
        return Err("give either --base or URLs, not both".to_string());
    }
    if delay_given && (parsed.base.is_some() || !parsed.urls.is_empty()) {
        return Err(
            "--delay-ms sets the built-in site's delay; with --base or URLs there is no \
             built-in site (a page's own delay can be asked with ?delay_ms=N)"
                .to_string(),
        );
    }
    Ok(Parsed::Run(parsed))
}

/// Splits `--name=value` into the flag and its inline value; any other argument comes back
/// whole. With [`flag_value`], `--name value` and `--name=value` mean the same, in every
/// program of the workshop (the examples, the site, the echo server).
pub fn split_flag(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
        _ => (arg, None),
    }
}

/// The value of `flag`: `inline` if it was written `--flag=value`, else the next argument.
pub fn flag_value(
    flag: &str,
    inline: Option<&str>,
    rest: &mut impl Iterator<Item = String>,
) -> Result<String, String> {
    match inline {
        Some(value) => Ok(value.to_string()),
        None => rest.next().ok_or_else(|| format!("{flag} needs a value")),
    }
}

fn extra_name(extra: &Extra) -> &'static str {
    match extra {
        Extra::Switch { name, .. } | Extra::Number { name, .. } => name,
    }
}

fn number(flag: &str, text: &str, min: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!(
            "{flag} expects a whole number of at least {min}, not {text:?}"
        )),
    }
}

fn millis(flag: &str, text: &str, min: u64) -> Result<Duration, String> {
    number(flag, text, min).map(Duration::from_millis)
}

/// The help text of an example.
pub fn usage(name: &str, about: &str, extras: &[Extra]) -> String {
    let mut text = format!(
        "{name}: {about}\n\n\
         usage: cargo run --example {name} -- [OPTIONS] [URL ...]\n\n\
         With no URL and no --base, crawls /, /1 ... from a built-in site on 127.0.0.1.\n\n\
         options:\n  \
           --count N         crawl /, /1 ... /N-1 (default 10)\n  \
           --delay-ms MS     the built-in site's delay per response (default {})\n  \
           --timeout-ms MS   the crawl's deadline (default {})\n  \
           --base URL        crawl the same paths on another server, e.g. http://127.0.0.1:8000\n",
        site::DEFAULT_DELAY.as_millis(),
        DEFAULT_TIMEOUT.as_millis()
    );
    for extra in extras {
        let line = match extra {
            Extra::Switch { name, help } => format!("  {name:<17} {help}\n"),
            Extra::Number {
                name,
                default,
                help,
            } => format!("  {:<17} {help} (default {default})\n", format!("{name} N")),
        };
        text.push_str(&line);
    }
    text.push_str(
        "  -h, --help        this text\n\n\
         RUST_LOG=trace shows every tick of the loop; RUST_LOG=debug a line per event.\n",
    );
    text
}

/// One example: its name, what it teaches, and its extra flags.
pub struct Example {
    pub name: &'static str,
    pub about: &'static str,
    pub extras: &'static [Extra],
}

/// The `main` of every stage example: parse the arguments, start the built-in site unless
/// told otherwise, run `crawl` over the URLs with the deadline, print the report.
///
/// Exits 0 when every URL gave a page, 1 when some failed, 2 on a bad command line.
pub fn run(
    example: &Example,
    crawl: impl FnOnce(&Args, &[String], Instant) -> Vec<Outcome>,
) -> ExitCode {
    let args = match parse(std::env::args().skip(1), example.extras) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            print!("{}", usage(example.name, example.about, example.extras));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!(
                "error: {message}\n(see: cargo run --example {} -- --help)",
                example.name
            );
            return ExitCode::from(2);
        }
    };
    init_logging();
    let (urls, site) = match targets(&args) {
        Ok(targets) => targets,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let outcomes = crawl(&args, &urls, started + args.timeout);
    // The title names the switches given, e.g. `stage0 --threads`.
    let title = std::iter::once(example.name)
        .chain(args.switches.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let crawl = Crawl {
        stage: title,
        started,
        wall: started.elapsed(),
        outcomes,
    };
    print!("{}", report::render(&crawl));
    if let Some(site) = site {
        println!(
            "built-in site: {} requests, peak {} connections at once",
            site.requests(),
            site.peak_connections()
        );
        site.stop();
    }
    if crawl.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The URLs to crawl, and the built-in site if it was started for them.
pub fn targets(args: &Args) -> Result<(Vec<String>, Option<Site>), String> {
    if !args.urls.is_empty() {
        return Ok((args.urls.clone(), None));
    }
    if let Some(base) = &args.base {
        let urls = site::paths(args.count)
            .iter()
            .map(|p| format!("{base}{p}"))
            .collect();
        return Ok((urls, None));
    }
    let site = Site::start(SiteConfig {
        delay: args.delay,
        ..SiteConfig::default()
    })
    .map_err(|e| format!("cannot start the built-in site: {e}"))?;
    Ok((site.urls(args.count), Some(site)))
}

/// `RUST_LOG` as usual, warnings only by default, with microsecond timestamps so a trace
/// shows how the loop's ticks interleave.
///
/// One recipe serves every stage: `RUST_LOG=trace` shows the runtime's ticks, registrations,
/// wakes and polls and the crawler's token ↔ URL lines. It leaves out what is not the lesson —
/// the built-in site (target `site`) and `mio` itself — unless `RUST_LOG` names them
/// (`RUST_LOG=trace,site=debug`): a directive that names a module beats the default level.
pub fn init_logging() {
    let _ = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Warn)
        .filter_module("site", log::LevelFilter::Warn)
        .filter_module("mio", log::LevelFilter::Warn)
        .parse_env("RUST_LOG")
        .format_timestamp_micros()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTRAS: &[Extra] = &[
        Extra::Switch {
            name: "--threads",
            help: "one thread per URL",
        },
        Extra::Number {
            name: "--max-tasks",
            default: 10,
            help: "workers",
        },
    ];

    fn run_args(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(|s| s.to_string()), EXTRAS)
    }

    fn ok(args: &[&str]) -> Args {
        match run_args(args) {
            Ok(Parsed::Run(a)) => a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let a = ok(&[]);
        assert_eq!((a.count, a.count_given), (10, false));
        assert_eq!(a.delay, Duration::from_millis(200));
        assert_eq!(a.timeout, DEFAULT_TIMEOUT);
        assert!(!a.switch("--threads"));
        assert_eq!(a.number("--max-tasks"), 10);
    }

    #[test]
    fn flags_and_urls() {
        let a = ok(&[
            "--count",
            "3",
            "--delay-ms=5",
            "--threads",
            "--max-tasks",
            "2",
        ]);
        assert_eq!((a.count, a.delay), (3, Duration::from_millis(5)));
        assert!(a.count_given);
        assert!(a.switch("--threads"));
        assert_eq!(a.number("--max-tasks"), 2);
        let a = ok(&["http://x/", "http://y/1"]);
        assert_eq!(a.urls, ["http://x/", "http://y/1"]);
        let a = ok(&["--base", "http://127.0.0.1:8000/"]);
        assert_eq!(a.base.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(run_args(&["-h"]), Ok(Parsed::Help));
    }

    #[test]
    fn bad_arguments_say_why() {
        for (args, says) in [
            (&["--count", "0"][..], "at least 1"),
            (&["--count", "ten"][..], "whole number"),
            (&["--delay-ms"][..], "needs a value"),
            (&["--bogus"][..], "unknown option --bogus"),
            (&["--threads=1"][..], "takes no value"),
            (&["--base", "ftp://x"][..], "unsupported scheme"),
            (&["--base", "http://x", "http://y/"][..], "not both"),
            (&["--delay-ms", "5", "http://y/"][..], "no built-in site"),
        ] {
            let err = run_args(args).unwrap_err();
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn usage_lists_extras() {
        let text = usage("stage0", "blocking", EXTRAS);
        assert!(
            text.contains("--threads") && text.contains("--max-tasks N"),
            "{text}"
        );
    }
}
