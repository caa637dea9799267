//! The command line every crawl shares ([`Args`], with the stage's own flags flattened in),
//! and [`run`], the `main` of every stage example.
//!
//! ```text
//! cargo run --example stage1                          # built-in site, ten URLs
//! cargo run --example stage1 -- --count 100 --delay-ms 50
//! cargo run --example stage1 -- --base http://127.0.0.1:8000   # a room's shared site
//! cargo run --example stage1 -- http://127.0.0.1:8000/ http://127.0.0.1:8000/3
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::parser::ValueSource;

use crate::fetch::Outcome;
use crate::limits;
use crate::report::{self, Crawl, plural};
use crate::site::{self, Site, SiteConfig};
use crate::url::Url;

mod command;

pub use command::{Command, at_least_one, delay, port, timeout};

/// The longest deadline or timeout a command line accepts: a day (`Instant + Duration` panics
/// on overflow).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// What a crawl's command line asked for: the flags every stage shares, and the stage's own
/// options `E` (stage 5's `Options`; [`NoOptions`] for a stage without any).
#[derive(clap::Parser, Clone, Debug)]
#[command(
    after_help = "With no URL and no --base, crawls /, /1 ... from a built-in site on 127.0.0.1.\n\
                  A /PATH is a page of the built-in site (or of --base): /3?delay_ms=900 waits \
                  900 ms.\nRUST_LOG=trace shows every tick of the loop; RUST_LOG=debug a line \
                  per event."
)]
pub struct Args<E: clap::Args> {
    /// URLs to crawl, or paths of the built-in site (or of --base)
    #[arg(value_name = "URL|/PATH")]
    pub urls: Vec<String>,
    /// Crawl /, /1 ... /N-1
    #[arg(long, value_name = "N", default_value = "10", value_parser = at_least_one)]
    pub count: usize,
    /// Whether `--count` was given (stage 5 starts from `/` alone when it was not).
    #[arg(skip)]
    pub count_given: bool,
    /// The built-in site's delay per response
    #[arg(long = "delay-ms", value_name = "MS", default_value = "200", value_parser = delay)]
    pub delay: Duration,
    /// The crawl's deadline (at most a day)
    #[arg(long = "timeout-ms", value_name = "MS", default_value = "10000", value_parser = timeout)]
    pub timeout: Duration,
    /// Crawl the same paths on another server, e.g. http://127.0.0.1:8000
    #[arg(long, value_name = "URL", value_parser = base)]
    pub base: Option<String>,
    /// Call the built-in site by this name, e.g. localhost (then each fetch resolves it)
    #[arg(long = "site-name", value_name = "NAME", value_parser = host)]
    pub site_name: Option<String>,
    /// The stage's own options, filled by its own flags.
    #[command(flatten)]
    pub stage: E,
    /// Record the run; after the report, write target/loop/NAME.html, a page that steps
    /// through the loop
    #[arg(long)]
    pub view: bool,
}

/// The options of a stage that has none of its own.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct NoOptions {}

/// `--base`: an `http://` URL, without its last `/`.
fn base(text: &str) -> Result<String, String> {
    Url::parse(text).map_err(|e| format!("expects an http:// URL: {e}"))?;
    Ok(text.trim_end_matches('/').to_string())
}

/// `--site-name`: a host name.
fn host(text: &str) -> Result<String, String> {
    Url::parse(&format!("http://{text}/")).map_err(|e| format!("expects a host: {e}"))?;
    Ok(text.to_string())
}

/// The command line of the crawl example `name`: [`Args`], with the stage's own options `E`.
pub fn example<E: clap::Args>(name: &'static str, about: &'static str) -> Command<Args<E>> {
    Command::new(name, about).check(check)
}

/// Which of the shared flags were given at all, and those that exclude each other.
fn check<E: clap::Args>(args: &mut Args<E>, matches: &clap::ArgMatches) -> Result<(), String> {
    let given = |id| matches.value_source(id) == Some(ValueSource::CommandLine);
    args.count_given = given("count");
    let paths = args.urls.iter().any(|url| is_path(url));
    if args.base.is_some() && args.urls.iter().any(|url| !is_path(url)) {
        return Err("give either --base or URLs, not both (paths go with --base)".into());
    }
    if args.count_given && !args.urls.is_empty() {
        return Err(
            "--count N crawls the first N paths of a site; with URLs or paths, those are the \
             crawl (for N paths of another server: --base URL --count N)"
                .to_string(),
        );
    }
    let no_site = args.base.is_some() || (!args.urls.is_empty() && !paths);
    if args.site_name.is_some() && no_site {
        return Err(
            "--site-name names the built-in site; with --base or URLs there is none".into(),
        );
    }
    if given("delay") && no_site {
        return Err(
            "--delay-ms sets the built-in site's delay; with --base or URLs there is no \
             built-in site (a page's own delay can be asked with ?delay_ms=N)"
                .to_string(),
        );
    }
    Ok(())
}

/// How many fetches a crawl has in flight at once: what its file descriptors are counted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InFlight {
    /// One at a time (stage 0).
    One,
    /// Every URL at once (stages 1–4, and stage 0 `--threads` up to its thread budget).
    Every(usize),
    /// At most `--max-tasks` (stage 5).
    MaxTasks(usize),
}

/// The stages that start every URL at once (1–4) say so to [`run`] with this.
pub fn every_url<E: clap::Args>(_: &Args<E>, urls: usize) -> InFlight {
    InFlight::Every(urls)
}

/// The `main` of every stage example: parse the arguments, start the built-in site unless
/// told otherwise, check that the stage's fetches in flight fit the file descriptors, crawl,
/// print the report. Exits 0 when every URL gave its page, 1 when some did not, 2 on a bad
/// command line or a crawl that cannot fit.
pub fn run<E: clap::Args + Clone>(
    example: &Command<Args<E>>,
    in_flight: fn(&Args<E>, usize) -> InFlight,
    crawl: impl FnOnce(&Args<E>, &[String], Instant) -> Vec<Outcome>,
) -> ExitCode {
    let args = match example.parse_env() {
        Ok(args) => args,
        Err(code) => return code,
    };
    // `--view` puts a recorder in front of the usual logger.
    let recorder = match args.view {
        true => view::Recorder::install(Box::new(log_from_env().build())).ok(),
        false => {
            init_logging();
            None
        }
    };
    let targets = targets(&args).and_then(|(urls, site)| {
        fits(example.name(), in_flight(&args, urls.len()), site.is_some())?;
        Ok((urls, site))
    });
    let (urls, site) = match targets {
        Ok(targets) => targets,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let outcomes = crawl(&args, &urls, started + args.timeout);
    // The title names the stage's switches given, e.g. `stage0 --threads`.
    let given: Vec<String> = std::env::args().collect();
    let switches = example.switches().into_iter();
    let title = std::iter::once(example.name().to_string())
        .chain(switches.filter(|switch| given.contains(switch) && switch != "--view"))
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
            "built-in site: {}, peak {} at once",
            plural(site.requests(), "request", "requests"),
            plural(site.peak_connections(), "connection", "connections")
        );
        site.stop();
    }
    if let Some(recorder) = recorder {
        write_view(example.name(), &crawl, &recorder.take());
    }
    if crawl.ok() == crawl.outcomes.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Whether `in_flight` fetches fit the file descriptors this process may still open: one per
/// fetch, two when the built-in site runs in this process. A crawl that cannot fit is refused
/// before it starts, with what it needs and the ways out, not half failed with `EMFILE`.
pub fn fits(program: &str, in_flight: InFlight, built_in_site: bool) -> Result<(), String> {
    let per_fetch = if built_in_site { 2 } else { 1 };
    let (n, what, fewer) = match in_flight {
        InFlight::One => (1, format!("{program} fetches one URL at a time"), None),
        InFlight::Every(n) => (
            n,
            format!("{program} starts all {n} fetches at once"),
            Some("crawl fewer URLs"),
        ),
        InFlight::MaxTasks(n) => (
            n,
            format!("{program} runs {n} fetches at once (--max-tasks)"),
            Some("lower --max-tasks"),
        ),
    };
    let Err(short) = limits::files_fit(n as u64 * per_fetch) else {
        return Ok(());
    };
    let each = if built_in_site {
        "two file descriptors: its socket, and the built-in site's end of it (the site runs \
         in this process)"
    } else {
        "a file descriptor, its socket"
    };
    let fixes = [
        fewer.map(|fix| format!("{fix}: {} fit", short.left / per_fetch)),
        Some(format!("raise the limit: {}", short.raise())),
        built_in_site.then(|| {
            "run the site in another process (`cargo run --example site`, then --base \
             http://127.0.0.1:8000): one descriptor per fetch"
                .to_string()
        }),
        matches!(in_flight, InFlight::Every(_))
            .then(|| "use stage 5, whose --max-tasks caps the fetches in flight".to_string()),
    ];
    let fixes: Vec<String> = fixes.into_iter().flatten().collect();
    Err(format!(
        "{what}, and each takes {each}: {} in all, but {}. Either\n  - {}.",
        n as u64 * per_fetch,
        short.limit(),
        fixes.join(";\n  - or ")
    ))
}

/// A `/PATH` operand: a page of the built-in site (or of `--base`), not a whole URL. So a
/// demo that needs pages with their own delays (`/3?delay_ms=900`) runs in one terminal.
fn is_path(operand: &str) -> bool {
    operand.starts_with('/')
}

/// The URLs to crawl, and the built-in site if it was started for them.
pub fn targets<E: clap::Args>(args: &Args<E>) -> Result<(Vec<String>, Option<Site>), String> {
    if !args.urls.is_empty() && !args.urls.iter().any(|url| is_path(url)) {
        return Ok((args.urls.clone(), None));
    }
    let (origin, site) = match &args.base {
        Some(base) => (base.clone(), None),
        None => {
            let site = Site::start(SiteConfig {
                delay: args.delay,
                ..SiteConfig::default()
            })
            .map_err(|e| format!("cannot start the built-in site: {e}"))?;
            let origin = match &args.site_name {
                Some(name) => format!("http://{name}:{}", site.addr().port()),
                None => site.url(""),
            };
            (origin, Some(site))
        }
    };
    let operands = match args.urls.is_empty() {
        true => site::paths(args.count),
        false => args.urls.clone(),
    };
    let on_origin = |url: String| match is_path(&url) {
        true => format!("{origin}{url}"),
        false => url,
    };
    Ok((operands.into_iter().map(on_origin).collect(), site))
}

/// `RUST_LOG` as usual (warnings by default), with microsecond timestamps: a trace shows how
/// the loop's ticks interleave. The site and `mio` stay quiet unless named (`site=debug`).
pub fn init_logging() {
    let _ = log_from_env().try_init();
}

fn log_from_env() -> env_logger::Builder {
    logger(&std::env::var("RUST_LOG").unwrap_or_default())
}

/// `--view`'s page, written after the report; prints its address.
fn write_view(name: &str, crawl: &Crawl, recording: &view::Recording) {
    let outcomes: Vec<view::Outcome> = (crawl.outcomes.iter())
        .map(|o| view::Outcome {
            url: o.url.clone(),
            result: match &o.result {
                Ok(page) => format!("{} {}", page.status, page.reason),
                Err(e) => e.to_string(),
            },
            ok: o.is_ok() && !o.http_error(), // an error page is not ok
            times: {
                let t = &o.timeline;
                [Some(t.start), t.connected, t.first_byte, t.end]
            },
        })
        .collect();
    match view::write(name, &crawl.stage, recording, &outcomes, crawl.started) {
        Ok(path) => println!("view: {}", view::file_url(&path)),
        Err(e) => eprintln!("error: cannot write the --view page: {e}"),
    }
}

/// The logger [`init_logging`] installs, for `filters` in `RUST_LOG`'s syntax (the tests
/// install it with a buffer as its target, to check the recipe).
pub fn logger(filters: &str) -> env_logger::Builder {
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(log::LevelFilter::Warn)
        .filter_module("site", log::LevelFilter::Warn)
        .filter_module("mio", log::LevelFilter::Warn)
        .parse_filters(filters)
        .format_timestamp_micros();
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stage's own options, as stage 0 and stage 5 have them.
    #[derive(clap::Args, Clone, Debug, Default)]
    struct Own {
        /// One thread per URL
        #[arg(long)]
        threads: bool,
        /// Workers
        #[arg(long = "max-tasks", value_name = "N", default_value = "10", value_parser = at_least_one)]
        max_tasks: usize,
    }

    fn command() -> Command<Args<Own>> {
        example("stageN", "a test stage")
    }

    fn parse(args: &[&str]) -> Result<Args<Own>, String> {
        command()
            .parse(args.iter().map(|s| s.to_string()))
            .map_err(|e| e.to_string())
    }

    fn ok(args: &[&str]) -> Args<Own> {
        match parse(args) {
            Ok(a) => a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn paths_are_pages_of_the_built_in_site_or_of_base() {
        let on_base = ok(&["--base", "http://127.0.0.1:8000", "/3?delay_ms=900", "/"]);
        let (urls, site) = targets(&on_base).unwrap();
        assert!(site.is_none());
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:8000/3?delay_ms=900",
                "http://127.0.0.1:8000/"
            ]
        );
        let built_in = ok(&["--delay-ms", "5", "/1", "http://127.0.0.1:1/"]);
        let (urls, site) = targets(&built_in).unwrap();
        let site = site.expect("a path needs the built-in site");
        assert_eq!(urls, [site.url("/1"), "http://127.0.0.1:1/".to_string()]);
        assert!(matches!(parse(&["/1", "--count", "3"]), Err(e) if e.contains("--count")));
    }

    #[test]
    fn defaults() {
        let a = ok(&[]);
        assert_eq!((a.count, a.count_given), (10, false));
        assert_eq!(a.delay, Duration::from_millis(200));
        assert_eq!(a.timeout, Duration::from_secs(10));
        assert!(!a.stage.threads);
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
        assert!(a.stage.threads);
        assert_eq!(a.stage.max_tasks, 2);
        let a = ok(&["http://x/", "http://y/1"]);
        assert_eq!(a.urls, ["http://x/", "http://y/1"]);
        let a = ok(&["--base", "http://127.0.0.1:8000/"]);
        assert_eq!(a.base.as_deref(), Some("http://127.0.0.1:8000"));
        assert!(parse(&["-h"]).is_err_and(|help| help.starts_with("a test stage")));
    }

    #[test]
    fn bad_arguments_say_why() {
        for (args, says) in [
            (&["--count", "0"][..], "at least 1"),
            (&["--count", "ten"][..], "whole number"),
            (&["--count", "99999999999999999999"][..], "too large"),
            (
                &["--delay-ms"][..],
                "a value is required for '--delay-ms <MS>'",
            ),
            (
                &["--delay-ms", "3600001"][..],
                "too large (at most 3600000)",
            ),
            (&["--bogus"][..], "unexpected argument '--bogus'"),
            (
                &["--max-task", "2"][..],
                "a similar argument exists: '--max-tasks'",
            ),
            (&["--threads=1"][..], "unexpected value '1' for '--threads'"),
            (&["--base", "ftp://x"][..], "unsupported scheme"),
            (&["--base", "http://x", "http://y/"][..], "not both"),
            (&["--delay-ms", "5", "http://y/"][..], "no built-in site"),
        ] {
            let err = match parse(args) {
                Err(err) => err,
                other => panic!("{args:?} should fail: {other:?}"),
            };
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_help_lists_shared_and_own_flags() {
        let text = parse(&["--help"]).unwrap_err();
        for flag in [
            "--count <N>",
            "--delay-ms <MS>",
            "--timeout-ms <MS>",
            "--base <URL>",
            "--threads",
            "--max-tasks <N>",
            "-h, --help",
            "[default: 200]",
            "Usage: cargo run --example stageN -- [OPTIONS] [URL|/PATH]...",
        ] {
            assert!(text.contains(flag), "{flag} in\n{text}");
        }
        assert_eq!(command().switches(), ["--threads", "--view"]);
    }
}
