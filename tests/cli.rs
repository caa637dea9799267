//! The command lines of the programs themselves, as their `main`s declare them: every flag of
//! every program, the errors (exit code 2) and suggestions, the one rule for a delay (which
//! the site's `?delay_ms=` query follows too), and the help checked against the docs — every
//! command line that NOTES.md and README.md show is one its program accepts, and its flags
//! are in that program's `--help`.

mod support;

#[allow(dead_code)] // the example's `main`
#[path = "../examples/stage0.rs"]
mod stage0_example;

#[allow(dead_code)] // the example's `main`
#[path = "../examples/stage5.rs"]
mod stage5_example;

#[allow(dead_code)] // the example's `main`
#[path = "../examples/site.rs"]
mod site_example;

#[allow(dead_code)] // the example's `main` and the server this test does not use
#[path = "../examples/echo.rs"]
mod echo;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use crawler::cli::{self, Command, NoOptions};
use support::parse;

fn shared() -> Command<cli::Args<NoOptions>> {
    cli::example("stage1", "a stage without options of its own")
}

#[test]
fn the_shared_flags_of_every_stage() {
    let args = parse(
        shared(),
        &[
            "--count",
            "3",
            "--delay-ms=5",
            "--timeout-ms",
            "700",
            "--site-name",
            "localhost",
        ],
    )
    .unwrap();
    assert_eq!((args.count, args.count_given), (3, true));
    assert_eq!(args.delay, Duration::from_millis(5));
    assert_eq!(args.timeout, Duration::from_millis(700));
    assert_eq!(args.site_name.as_deref(), Some("localhost"));
    let args = parse(
        shared(),
        &["--base", "http://127.0.0.1:8000/", "/1", "/2?delay_ms=5"],
    )
    .unwrap();
    assert_eq!(args.base.as_deref(), Some("http://127.0.0.1:8000"));
    assert_eq!(args.urls, ["/1", "/2?delay_ms=5"]);
    let defaults = parse(shared(), &[]).unwrap();
    assert_eq!((defaults.count, defaults.count_given), (10, false));
    assert_eq!(defaults.delay, crawler::site::DEFAULT_DELAY);
    assert_eq!(defaults.timeout, Duration::from_secs(10));
    assert!(defaults.base.is_none() && defaults.site_name.is_none());
}

#[test]
fn stage_0_takes_threads() {
    assert!(
        parse(stage0_example::example(), &["--threads"])
            .unwrap()
            .stage
            .threads
    );
    assert!(!parse(stage0_example::example(), &[]).unwrap().stage.threads);
    let message = parse(stage0_example::example(), &["--threads=yes"]).unwrap_err();
    assert!(
        message.contains("unexpected value 'yes' for '--threads'"),
        "{message}"
    );
    assert_eq!(
        stage0_example::example().switches(),
        ["--threads", "--view"]
    );
    assert!(parse(stage0_example::example(), &["--view"]).unwrap().view);
}

#[test]
fn stage_5_flags_fill_its_options() {
    let args = parse(
        stage5_example::example(),
        &[
            "--max-tasks",
            "3",
            "--max-tries=2",
            "--max-redirect",
            "1",
            "--request-timeout-ms=250",
            "--max-pages",
            "7",
            "--no-follow",
        ],
    )
    .unwrap();
    let options = args.stage.options();
    assert_eq!(
        (
            options.max_tasks,
            options.max_tries,
            options.max_redirect,
            options.max_pages
        ),
        (3, 2, 1, 7)
    );
    assert_eq!(options.request_timeout, Duration::from_millis(250));
    assert!(!options.follow_links);

    // The help's defaults are the crawler's own.
    let defaults = parse(stage5_example::example(), &[])
        .unwrap()
        .stage
        .options();
    assert_eq!(
        format!("{defaults:?}"),
        format!("{:?}", crawler::stage5::Options::default())
    );
}

#[test]
fn stage_5_says_what_is_wrong() {
    for (args, says) in [
        (
            &["--max-task", "3"][..],
            "a similar argument exists: '--max-tasks'",
        ),
        (
            &["--max-tasks", "0"][..],
            "invalid value '0' for '--max-tasks <N>': expects a whole number of at least 1",
        ),
        (
            &["--max-tries", "99999999999999999999999"][..],
            "is too large",
        ),
        (
            &["--request-timeout-ms"][..],
            "a value is required for '--request-timeout-ms <MS>'",
        ),
        (
            &["--no-follow=yes"][..],
            "unexpected value 'yes' for '--no-follow'",
        ),
        (
            &["--count", "2", "http://x/"][..],
            "with URLs or paths, those are the crawl",
        ),
        (
            &["--site-name", "localhost", "--base", "http://x"][..],
            "with --base or URLs there is none",
        ),
    ] {
        let message = parse(stage5_example::example(), args).unwrap_err();
        assert!(message.contains(says), "{args:?}: {message}");
    }
}

#[test]
fn the_site_and_echo_command_lines() {
    let args = parse(
        site_example::command(),
        &[
            "--port=0",
            "--delay-ms",
            "5",
            "--pages",
            "3",
            "--host",
            "0.0.0.0",
        ],
    )
    .unwrap();
    let config = args.config();
    assert_eq!(config.port, 0);
    assert_eq!(config.delay, Duration::from_millis(5));
    assert_eq!(config.pages, 3);
    assert!(args.host.is_unspecified());
    let defaults = parse(site_example::command(), &[]).unwrap();
    assert_eq!((defaults.port, defaults.pages), (8000, 10));
    assert_eq!(defaults.delay, crawler::site::DEFAULT_DELAY);
    assert!(defaults.host.is_loopback());
    let message = parse(site_example::command(), &["--port", "65536"]).unwrap_err();
    assert!(
        message.contains("65536 is too large (at most 65535)"),
        "{message}"
    );
    let message = parse(site_example::command(), &["--host", "nowhere"]).unwrap_err();
    assert!(
        message.contains("invalid value 'nowhere' for '--host <IP>'"),
        "{message}"
    );

    let options = parse(echo::command(), &["--clients=4"]).unwrap();
    assert_eq!((options.port, options.clients), (8007, Some(4)));
    let options = parse(echo::command(), &["--port", "0"]).unwrap();
    assert_eq!((options.port, options.clients), (0, None));
    let message = parse(echo::command(), &["7"]).unwrap_err();
    assert!(message.contains("unexpected argument '7'"), "{message}");
}

/// The status line of the site's answer to `GET path`.
fn status(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_delay_follows_one_rule_on_every_command_line_and_in_the_site_query() {
    let site = support::site(0);
    // The values the site may accept are kept short: it waits them out before it answers.
    for value in [
        "0",
        "1",
        "3600001",
        "99999999999999999999",
        "soon",
        "-1",
        "",
        "1.5",
    ] {
        let flag = cli::delay(value);
        let stage = parse(stage5_example::example(), &[&format!("--delay-ms={value}")]);
        let standalone = parse(site_example::command(), &[&format!("--delay-ms={value}")]);
        assert_eq!(
            stage.is_ok(),
            flag.is_ok(),
            "--delay-ms {value:?} on a stage"
        );
        assert_eq!(
            standalone.is_ok(),
            flag.is_ok(),
            "--delay-ms {value:?} on the site"
        );
        let answer = status(site.addr(), &format!("/1?delay_ms={value}"));
        assert_eq!(
            answer.contains(" 400 "),
            flag.is_err(),
            "?delay_ms={value:?}: {answer}"
        );
    }
    assert_eq!(cli::delay("3600000"), Ok(crawler::site::MAX_DELAY));
    site.stop();
}

// ---------------------------------------------------------------------------------------------
// The programs as a user runs them, and what the docs show of them
// ---------------------------------------------------------------------------------------------

/// Every program, as `cargo run --example NAME` names it.
const PROGRAMS: &[&str] = &[
    "stage0", "stage1", "stage2", "stage3", "stage4", "stage5", "tour", "site", "echo", "bench",
    "toolkit", "diffs",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>/examples/NAME`, built with this test's profile and target directory (a
/// no-op under plain `cargo test`, which built them).
fn program(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    BUILT.call_once(|| {
        let mut cargo = Process::new(option_env!("CARGO").unwrap_or("cargo"));
        cargo
            .current_dir(root())
            .args(["build", "--quiet", "--examples", "--target-dir"])
            .arg(profile_dir.parent().unwrap());
        if profile_dir.ends_with("release") {
            cargo.arg("--release");
        }
        assert!(cargo.status().unwrap().success(), "cargo build --examples");
    });
    profile_dir.join("examples").join(name)
}

/// Runs `name` with `args`: exit code, stdout, stderr.
fn run(name: &str, args: &[&str]) -> (i32, String, String) {
    let output = Process::new(program(name))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (
        output.status.code().unwrap_or(-1),
        text(output.stdout),
        text(output.stderr),
    )
}

#[test]
fn every_program_has_a_help_and_refuses_what_it_does_not_know() {
    for name in PROGRAMS {
        let (code, help, _) = run(name, &["--help"]);
        assert_eq!(code, 0, "{name} --help");
        assert!(help.contains("Usage: cargo run "), "{name}:\n{help}");
        assert!(
            help.contains(&format!("--example {name}")),
            "{name}:\n{help}"
        );
        assert!(help.contains("-h, --help"), "{name}:\n{help}");
        let (code, short, _) = run(name, &["-h"]);
        assert_eq!(
            (code, short.lines().next()),
            (0, help.lines().next()),
            "{name} -h"
        );
        let (code, out, err) = run(name, &["--no-such-flag"]);
        assert_eq!(code, 2, "{name} --no-such-flag: {out}{err}");
        assert!(
            err.contains("unexpected argument '--no-such-flag'"),
            "{name}: {err}"
        );
        assert!(out.is_empty(), "{name}: {out}");
    }
}

#[test]
fn every_program_lists_its_flags() {
    let shared = [
        "--count <N>",
        "--delay-ms <MS>",
        "--timeout-ms <MS>",
        "--base <URL>",
        "--site-name <NAME>",
        "[URL|/PATH]...",
    ];
    let stage5 = [
        "--max-tasks <N>",
        "--max-tries <N>",
        "--max-redirect <N>",
        "--request-timeout-ms <MS>",
        "--max-pages <N>",
        "--no-follow",
    ];
    let site = [
        "--port <N>",
        "--delay-ms <MS>",
        "--pages <N>",
        "--host <IP>",
    ];
    let bench = [
        "--n <LIST>",
        "--delay-ms <LIST>",
        "--stages <LIST>",
        "--reps <N>",
        "--quick",
        "--no-syscalls",
        "--markdown <FILE>",
    ];
    for (name, flags) in [
        ("stage0", [&shared[..], &["--threads"]].concat()),
        ("stage1", shared.to_vec()),
        ("stage4", shared.to_vec()),
        ("tour", shared.to_vec()),
        ("stage5", [&shared[..], &stage5[..]].concat()),
        ("site", site.to_vec()),
        ("echo", vec!["--port <N>", "--clients <N>"]),
        ("bench", bench.to_vec()),
    ] {
        let (_, help, _) = run(name, &["--help"]);
        for flag in flags {
            assert!(help.contains(flag), "{flag} in {name}'s help:\n{help}");
        }
    }
}

#[test]
fn a_bad_value_exits_2_and_says_why() {
    for (name, args, says) in [
        (
            "stage1",
            &["--count", "0"][..],
            "expects a whole number of at least 1",
        ),
        (
            "stage5",
            &["--max-task", "3"][..],
            "a similar argument exists: '--max-tasks'",
        ),
        (
            "tour",
            &["--delay-ms", "5", "http://127.0.0.1:1/"][..],
            "no built-in site",
        ),
        (
            "site",
            &["--port", "65536"][..],
            "too large (at most 65535)",
        ),
        ("echo", &["--clients", "0"][..], "at least 1"),
        (
            "bench",
            &["--stages", "stage9"][..],
            "unknown stage \"stage9\"",
        ),
        (
            "bench",
            &["--n", "10,x"][..],
            "invalid value 'x' for '--n <LIST>'",
        ),
        ("toolkit", &["extra"][..], "unexpected argument 'extra'"),
        ("diffs", &["extra"][..], "unexpected argument 'extra'"),
    ] {
        let (code, _, err) = run(name, args);
        assert_eq!(code, 2, "{name} {args:?}: {err}");
        assert!(err.contains(says), "{name} {args:?}: {err}");
    }
}

/// The arguments of every `cargo run … --example NAME -- ARGS` in `text`, up to where the shell
/// takes over (`|`, `2>&1`, `#`), with `'…'` quotes removed.
fn command_lines(text: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    // A command that goes on over lines ending in ` \` is one line.
    let text = text.replace(" \\\n", " ");
    for line in text.lines() {
        for (at, _) in line.match_indices("--example ") {
            let rest = &line[at + "--example ".len()..];
            let rest = rest.split(['`', '|', '#', ')']).next().unwrap_or_default();
            let rest = rest.split(" 2>&1").next().unwrap_or_default();
            let rest = rest.split(" -->").next().unwrap_or_default();
            let mut words = rest.split_whitespace();
            let Some(name) = words.next() else { continue };
            let args: Vec<String> = words
                .skip_while(|word| *word != "--")
                .skip(1)
                .map(|word| word.trim_matches('\'').to_string())
                .collect();
            found.push((name.to_string(), args));
        }
    }
    found
}

#[test]
fn the_docs_show_only_command_lines_their_programs_accept() {
    let mut checked = BTreeSet::new();
    for doc in ["README.md", "NOTES.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for (name, args) in command_lines(&text) {
            if !PROGRAMS.contains(&name.as_str()) {
                continue; // `NAME` in a sentence about examples in general
            }
            let (_, help, _) = run(&name, &["--help"]);
            for flag in args.iter().filter(|arg| arg.starts_with("--")) {
                let flag = flag.split('=').next().unwrap();
                assert!(
                    help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                    "{doc}: `{name} {}`: {flag} is not in its help:\n{help}",
                    args.join(" ")
                );
            }
            let words: Vec<&str> = args.iter().map(String::as_str).collect();
            let parsed = match name.as_str() {
                "stage0" => parse(stage0_example::example(), &words).map(drop),
                "stage1" | "stage2" | "stage3" | "stage4" | "tour" => {
                    parse(shared(), &words).map(drop)
                }
                "stage5" => parse(stage5_example::example(), &words).map(drop),
                "site" => parse(site_example::command(), &words).map(drop),
                "echo" => parse(echo::command(), &words).map(drop),
                _ => Ok(()),
            };
            if let Err(message) = parsed {
                panic!("{doc}: `{name} {}` is refused:\n{message}", args.join(" "));
            }
            checked.insert(format!("{name} {}", args.join(" ")));
        }
    }
    // The docs do show command lines: this test is not checking nothing.
    assert!(checked.len() > 20, "{checked:#?}");
    // The stage 5 options the README names in prose.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (_, help, _) = run("stage5", &["--help"]);
    for flag in [
        "--max-tasks",
        "--max-tries",
        "--max-redirect",
        "--request-timeout-ms",
    ] {
        assert!(readme.contains(&format!("`{flag}`")), "README names {flag}");
        assert!(help.contains(flag), "{flag}");
    }
}
