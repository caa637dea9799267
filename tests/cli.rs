//! The command lines of the programs themselves — stage 5, the site, the echo server — as
//! their `main`s declare them, and the one rule for a delay, which the site's `?delay_ms=`
//! query follows too.

mod support;

#[allow(dead_code)] // the example's `main`
#[path = "../examples/stage5.rs"]
mod stage5_example;

#[allow(dead_code)] // the example's `main`
#[path = "../examples/site.rs"]
mod site_example;

#[allow(dead_code)] // the example's `main` and the server this test does not use
#[path = "../examples/echo.rs"]
mod echo;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crawler::cli::{self, Command, Parsed};

fn parse<T: Clone + std::fmt::Debug>(command: Command<T>, args: &[&str]) -> Result<T, String> {
    match command.parse(args.iter().map(|a| a.to_string()))? {
        Parsed::Run(options) => Ok(options),
        Parsed::Help(text) => panic!("{args:?} asked for the help:\n{text}"),
    }
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
            "--no-follow",
        ],
    )
    .unwrap();
    let options = &args.stage;
    assert_eq!(
        (options.max_tasks, options.max_tries, options.max_redirect),
        (3, 2, 1)
    );
    assert_eq!(options.request_timeout, Duration::from_millis(250));
    assert!(!options.follow_links);

    let defaults = parse(stage5_example::example(), &[]).unwrap().stage;
    assert_eq!(
        defaults.max_tasks,
        crawler::stage5::Options::default().max_tasks
    );
    assert!(defaults.follow_links);
}

#[test]
fn stage_5_says_what_is_wrong() {
    for (args, says) in [
        (
            &["--max-task", "3"][..],
            "unknown option --max-task (did you mean --max-tasks?)",
        ),
        (
            &["--max-tasks", "0"][..],
            "--max-tasks expects a whole number of at least 1",
        ),
        (
            &["--max-tries", "99999999999999999999999"][..],
            "is too large",
        ),
        (
            &["--request-timeout-ms"][..],
            "--request-timeout-ms MS needs a value",
        ),
        (&["--no-follow=yes"][..], "--no-follow takes no value"),
    ] {
        let message = parse(stage5_example::example(), args).unwrap_err();
        assert!(message.contains(says), "{args:?}: {message}");
    }
}

#[test]
fn every_program_lists_its_flags() {
    for (help, flags) in [
        (
            stage5_example::example().help(),
            &[
                "--count N",
                "--delay-ms MS",
                "--max-tasks N",
                "--request-timeout-ms MS",
                "--no-follow",
            ][..],
        ),
        (
            site_example::command().help(),
            &["--port N", "--delay-ms MS", "--pages N", "--host IP"][..],
        ),
        (echo::command().help(), &["--port N", "--clients N"][..]),
    ] {
        for flag in flags {
            assert!(help.contains(flag), "{flag} in\n{help}");
        }
        assert!(help.contains("-h, --help"), "{help}");
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
    assert_eq!(args.config.port, 0);
    assert_eq!(args.config.delay, Duration::from_millis(5));
    assert_eq!(args.config.pages, 3);
    assert!(args.host.is_unspecified());
    let message = parse(site_example::command(), &["--port", "65536"]).unwrap_err();
    assert_eq!(message, "--port 65536 is too large (at most 65535)");

    let options = parse(echo::command(), &["--clients=4"]).unwrap();
    assert_eq!((options.port, options.clients), (8007, Some(4)));
    let message = parse(echo::command(), &["7"]).unwrap_err();
    assert_eq!(message, "unexpected argument \"7\"");
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
        let stage = parse(stage5_example::example(), &["--delay-ms", value]);
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
