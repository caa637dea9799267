use super::*;

/// A program with one flag of every kind.
#[derive(clap::Parser, Clone, Debug, Default, PartialEq)]
struct Options {
    /// Say more
    #[arg(long)]
    verbose: bool,
    /// How many
    #[arg(long, value_name = "N", default_value = "10", value_parser = at_least_one)]
    count: usize,
    /// A port
    #[arg(long, value_name = "N", default_value = "8000", value_parser = port)]
    port: u16,
    /// A wait
    #[arg(long = "wait-ms", value_name = "MS", default_value = "1", value_parser = timeout)]
    wait: Duration,
    /// A delay
    #[arg(long = "delay-ms", value_name = "MS", default_value = "0", value_parser = delay)]
    delay: Duration,
    /// A name
    #[arg(long, value_name = "TEXT", default_value = "")]
    name: String,
    files: Vec<String>,
}

fn command() -> Command<Options> {
    Command::new("demo", "a program to test the parser").check(|o, _| match o.name.as_str() {
        "nobody" => Err("--name nobody is not allowed".to_string()),
        _ => Ok(()),
    })
}

fn parse(args: &[&str]) -> Result<Options, String> {
    command()
        .parse(args.iter().map(|a| a.to_string()))
        .map_err(|e| e.to_string())
}

fn ok(args: &[&str]) -> Options {
    match parse(args) {
        Ok(options) => options,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn error(args: &[&str]) -> String {
    match parse(args) {
        Err(message) => message,
        other => panic!("{args:?} should fail: {other:?}"),
    }
}

#[test]
fn defaults_come_from_the_declaration() {
    let o = ok(&[]);
    assert_eq!((o.count, o.port, o.verbose), (10, 8000, false));
}

#[test]
fn every_kind_of_flag_in_both_spellings() {
    let o = ok(&[
        "--verbose",
        "--count",
        "3",
        "--port=0",
        "--wait-ms",
        "5",
        "--delay-ms=3600000",
        "--name=a=b",
        "x",
        "-",
    ]);
    let expected = Options {
        verbose: true,
        count: 3,
        port: 0,
        wait: Duration::from_millis(5),
        delay: MAX_DELAY,
        name: "a=b".to_string(),
        files: vec!["x".to_string(), "-".to_string()],
    };
    assert_eq!(o, expected);
    assert_eq!(ok(&["--count=4"]).count, ok(&["--count", "4"]).count);
}

#[test]
fn bad_arguments_say_why() {
    for (args, says) in [
        (
            &["--count", "0"][..],
            "invalid value '0' for '--count <N>': expects a whole number of at least 1",
        ),
        (
            &["--count", "ten"][..],
            "expects a whole number of at least 1",
        ),
        (
            &["--port", "x"][..],
            "invalid value 'x' for '--port <N>': expects a whole number",
        ),
        (&["--count"][..], "a value is required for '--count <N>'"),
        (
            &["--count", "--verbose"][..],
            "a value is required for '--count <N>'",
        ),
        (
            &["--verbose=yes"][..],
            "unexpected value 'yes' for '--verbose'",
        ),
        (&["--bogus"][..], "unexpected argument '--bogus'"),
        (&["-v"][..], "unexpected argument '-v'"),
        (&["--name", "nobody"][..], "--name nobody is not allowed"),
    ] {
        let message = error(args);
        assert!(message.contains(says), "{args:?}: {message}");
        assert!(message.contains("try '--help'"), "{message}");
    }
}

#[test]
fn too_large_says_too_large() {
    for (args, says) in [
        (
            &["--port", "65536"][..],
            "65536 is too large (at most 65535)",
        ),
        (&["--count", "99999999999999999999999"][..], "is too large"),
        (&["--wait-ms=99999999999999999999999"][..], "is too large"),
        (
            &["--delay-ms", "3600001"][..],
            "3600001 is too large (at most 3600000)",
        ),
        (
            &["--delay-ms", "99999999999999999999"][..],
            "is too large (at most 3600000)",
        ),
    ] {
        let message = error(args);
        assert!(message.contains(says), "{args:?}: {message}");
        assert!(!message.contains("whole number"), "{args:?}: {message}");
    }
}

#[test]
fn a_typo_names_the_flag_meant() {
    let message = error(&["--cuont", "3"]);
    assert!(
        message.contains("a similar argument exists: '--count'"),
        "{message}"
    );
    let message = error(&["--delay=5"]);
    assert!(
        message.contains("a similar argument exists: '--delay-ms'"),
        "{message}"
    );
    assert!(!error(&["--zzz"]).contains("similar"));
}

#[test]
fn the_help_lists_every_flag_with_its_default() {
    let text = parse(&["--count", "3", "--help"]).unwrap_err();
    for line in [
        "a program to test the parser",
        "Usage: cargo run --example demo -- [OPTIONS] [FILES]...",
        "      --verbose",
        "Say more",
        "      --count <N>",
        "[default: 10]",
        "      --delay-ms <MS>",
        "  -h, --help",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert_eq!(command().switches(), ["--verbose"]);
}

#[test]
fn the_delay_rule() {
    assert_eq!(delay("0"), Ok(Duration::ZERO));
    assert_eq!(delay("3600000"), Ok(MAX_DELAY));
    assert_eq!(
        delay("3600001"),
        Err("3600001 is too large (at most 3600000)".to_string())
    );
    assert_eq!(delay("soon"), Err("expects a whole number".to_string()));
}

#[test]
fn a_timeout_is_capped_at_a_day() {
    assert_eq!(timeout("86400000"), Ok(MAX_TIMEOUT));
    assert_eq!(
        timeout("86400001"),
        Err("86400001 is too large (at most 86400000)".to_string())
    );
    assert!(
        timeout("99999999999999999999")
            .unwrap_err()
            .contains("at most 86400000")
    );
    assert!(timeout("0").unwrap_err().contains("at least 1"));
}
