//! One parser for the command line of every program of the workshop: the stage examples, the
//! tour, the site, the echo server and the bench.
//!
//! A program declares its flags once — name, value, help, and how the value sets a field of
//! the program's own options struct — and the parser does the rest the same way for all of
//! them: `--flag value` and `--flag=value`, `-h`/`--help` (the help lists every flag, with the
//! default read from the options themselves), an unknown flag (the nearest known one is
//! suggested), a missing value, a value that is not a number or is too large. The options come
//! out typed: a program reads `options.max_tasks`, never a flag's name.

use std::fmt::Display;
use std::num::{IntErrorKind, ParseIntError};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use super::MAX_TIMEOUT;
use crate::site::MAX_DELAY;

/// One flag of a program: it sets a field of the program's options `T`.
struct Flag<T> {
    name: &'static str,
    /// What the value is called in the help (`N`, `MS`, `URL`); `None` for a switch.
    value: Option<&'static str>,
    help: &'static str,
    /// The default, read from the options before any flag is applied.
    default: Option<fn(&T) -> String>,
    set: Set<T>,
}

enum Set<T> {
    Switch(fn(&mut T)),
    Value(SetValue<T>),
}

/// How a flag's value goes into the options; `Err` says what is wrong with it.
type SetValue<T> = fn(&mut T, &str) -> Result<(), String>;

/// How an operand goes into the options; `Err` says what is wrong with it.
type AddOperand<T> = fn(&mut T, String) -> Result<(), String>;

impl<T> Flag<T> {
    /// The flag as the help writes it: `--count N`.
    fn synopsis(&self) -> String {
        match self.value {
            Some(value) => format!("{} {value}", self.name),
            None => self.name.to_string(),
        }
    }
}

/// A program's command line: its flags, and the options they fill, holding their defaults.
pub struct Command<T> {
    name: &'static str,
    about: &'static str,
    usage: Option<&'static str>,
    options: T,
    flags: Vec<Flag<T>>,
    operands: Option<(&'static str, AddOperand<T>)>,
    check: fn(&T) -> Result<(), String>,
    footer: &'static str,
}

/// What the command line asked for: run with these options, or print this help.
#[derive(Debug)]
pub enum Parsed<T> {
    Run(T),
    Help(String),
}

impl<T> Command<T> {
    /// The command line of `cargo run --example NAME`, which does what `about` says, with
    /// `options` holding every default. It takes no flag until [`Command::switch`] and
    /// [`Command::value`] add them.
    pub fn new(name: &'static str, about: &'static str, options: T) -> Command<T> {
        Command {
            name,
            about,
            usage: None,
            options,
            flags: Vec::new(),
            operands: None,
            check: |_| Ok(()),
            footer: "",
        }
    }

    /// Adds a flag without a value, e.g. `--threads`. The help lists the flags in the order
    /// they are added.
    pub fn switch(mut self, name: &'static str, help: &'static str, set: fn(&mut T)) -> Self {
        self.flags.push(Flag {
            name,
            value: None,
            help,
            default: None,
            set: Set::Switch(set),
        });
        self
    }

    /// Adds a flag with a value, e.g. `--count N`. `set` parses the value into the options,
    /// or says what is wrong with it; the parser puts the flag's name in front of that.
    pub fn value(
        mut self,
        name: &'static str,
        value: &'static str,
        help: &'static str,
        set: SetValue<T>,
    ) -> Self {
        self.flags.push(Flag {
            name,
            value: Some(value),
            help,
            default: None,
            set: Set::Value(set),
        });
        self
    }

    /// The help shows the flag added last with `(default …)`, as `show` reads it from the
    /// options.
    pub fn default(mut self, show: fn(&T) -> String) -> Self {
        if let Some(flag) = self.flags.last_mut() {
            flag.default = Some(show);
        }
        self
    }

    /// Arguments that are not flags are operands (`URL ...`), each handed to `add`. Without
    /// this, such an argument is an error.
    pub fn operands(mut self, name: &'static str, add: AddOperand<T>) -> Command<T> {
        self.operands = Some((name, add));
        self
    }

    /// A check of the options as a whole, once every argument is in: flags that exclude each
    /// other, names that must exist…
    pub fn check(mut self, check: fn(&T) -> Result<(), String>) -> Command<T> {
        self.check = check;
        self
    }

    /// The usage line, when `cargo run --example NAME -- [OPTIONS]` is not the whole story.
    pub fn usage(mut self, usage: &'static str) -> Command<T> {
        self.usage = Some(usage);
        self
    }

    /// Lines the help prints after the options.
    pub fn footer(mut self, footer: &'static str) -> Command<T> {
        self.footer = footer;
        self
    }

    /// The program's name: `cargo run --example NAME`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The names of the switches this program takes.
    pub fn switches(&self) -> Vec<&'static str> {
        let switches = self.flags.iter().filter(|f| f.value.is_none());
        switches.map(|f| f.name).collect()
    }

    /// The help: what the program does, how to call it, every flag with its default.
    pub fn help(&self) -> String {
        let usage = match (self.usage, self.operands) {
            (Some(usage), _) => usage.to_string(),
            (None, Some((operand, _))) => format!("{} [{operand} ...]", self.run("[OPTIONS]")),
            (None, None) => self.run("[OPTIONS]"),
        };
        let width = self.flags.iter().map(|f| f.synopsis().len()).max();
        let width = width.unwrap_or(0).max("-h, --help".len());
        let mut text = format!(
            "{}: {}\n\nusage: {usage}\n\noptions:\n",
            self.name, self.about
        );
        for flag in &self.flags {
            let default = flag
                .default
                .map(|show| format!(" (default {})", show(&self.options)));
            let (synopsis, help) = (flag.synopsis(), flag.help);
            text += &format!(
                "  {synopsis:width$}  {help}{}\n",
                default.unwrap_or_default()
            );
        }
        text += &format!("  {:width$}  this text\n", "-h, --help");
        if !self.footer.is_empty() {
            text += &format!("\n{}\n", self.footer);
        }
        text
    }

    /// `cargo run --example NAME -- ARGS`.
    fn run(&self, args: &str) -> String {
        format!("cargo run --example {} -- {args}", self.name)
    }
}

impl<T: Clone> Command<T> {
    /// Parses the arguments after the program's name.
    pub fn parse(&self, args: impl IntoIterator<Item = String>) -> Result<Parsed<T>, String> {
        let mut options = self.options.clone();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Ok(Parsed::Help(self.help()));
            }
            if !arg.starts_with('-') || arg == "-" {
                let Some((_, add)) = self.operands else {
                    return Err(format!("unexpected argument {arg:?}"));
                };
                add(&mut options, arg)?;
                continue;
            }
            // `--name=value` is `--name value`.
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name, Some(value)),
                _ => (arg.as_str(), None),
            };
            let Some(flag) = self.flags.iter().find(|f| f.name == name) else {
                return Err(unknown(name, &self.flags));
            };
            match (&flag.set, inline) {
                (Set::Switch(_), Some(_)) => return Err(format!("{name} takes no value")),
                (Set::Switch(set), None) => set(&mut options),
                (Set::Value(set), _) => {
                    // The next argument is the value, unless it is the next flag.
                    let value = match inline {
                        Some(value) => value.to_string(),
                        None => args
                            .next_if(|next| !next.starts_with("--"))
                            .ok_or_else(|| format!("{} needs a value", flag.synopsis()))?,
                    };
                    set(&mut options, &value).map_err(|why| format!("{name} {why}"))?;
                }
            }
        }
        (self.check)(&options)?;
        Ok(Parsed::Run(options))
    }

    /// Parses this program's own arguments. `Err` carries the exit code once the help is
    /// printed (0) or the error (2), with where to read the help.
    pub fn parse_env(&self) -> Result<T, ExitCode> {
        match self.parse(std::env::args().skip(1)) {
            Ok(Parsed::Run(options)) => Ok(options),
            Ok(Parsed::Help(text)) => {
                print!("{text}");
                Err(ExitCode::SUCCESS)
            }
            Err(message) => {
                eprintln!("error: {message}\n(see: {})", self.run("--help"));
                Err(ExitCode::from(2))
            }
        }
    }
}

/// `unknown option --max-task (did you mean --max-tasks?)`.
fn unknown<T>(name: &str, flags: &[Flag<T>]) -> String {
    // A known flag the typed one begins (`--delay` for `--delay-ms`), else the nearest one
    // within two edits.
    let begun = flags
        .iter()
        .find(|f| f.name.starts_with(name) && name.len() > 2);
    let nearest = flags
        .iter()
        .map(|f| (edits(name, f.name), f))
        .filter(|(n, _)| *n <= 2)
        .min_by_key(|(n, _)| *n)
        .map(|(_, f)| f);
    match begun.or(nearest) {
        Some(flag) => format!("unknown option {name} (did you mean {}?)", flag.name),
        None => format!("unknown option {name}"),
    }
}

/// How many single-character edits turn `a` into `b` (Levenshtein).
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let replaced = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = replaced.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The whole-number types a flag's value can be.
pub trait Whole: FromStr<Err = ParseIntError> + Copy + Default + PartialOrd + Display {
    const MAX: Self;
}

impl Whole for u16 {
    const MAX: u16 = u16::MAX;
}

impl Whole for u64 {
    const MAX: u64 = u64::MAX;
}

impl Whole for usize {
    const MAX: usize = usize::MAX;
}

/// A whole number of at least `min` that fits its type; a larger one is "too large".
pub fn number<T: Whole>(text: &str, min: T) -> Result<T, String> {
    number_up_to(text, min, T::MAX)
}

/// A duration in whole milliseconds, at least `min`.
pub fn millis(text: &str, min: u64) -> Result<Duration, String> {
    number(text, min).map(Duration::from_millis)
}

/// The one rule for a response delay, wherever one is given: whole milliseconds, at most
/// [`MAX_DELAY`] (an hour). `--delay-ms` of every program is read with it, and the site's
/// `?delay_ms=` query follows the same rule (`tests/cli.rs` checks that they agree).
pub fn delay(text: &str) -> Result<Duration, String> {
    let max = u64::try_from(MAX_DELAY.as_millis()).unwrap_or(u64::MAX);
    number_up_to(text, 0, max).map(Duration::from_millis)
}

/// A deadline or timeout in whole milliseconds: at least 1, at most [`MAX_TIMEOUT`] (a day).
/// `--timeout-ms` of every crawl and stage 5's `--request-timeout-ms` are read with it.
pub fn timeout(text: &str) -> Result<Duration, String> {
    let max = u64::try_from(MAX_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
    number_up_to(text, 1, max).map(Duration::from_millis)
}

fn number_up_to<T: Whole>(text: &str, min: T, max: T) -> Result<T, String> {
    let too_large = || format!("{text} is too large (at most {max})");
    match text.parse::<T>() {
        Ok(n) if n > max => Err(too_large()),
        Ok(n) if n >= min => Ok(n),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Err(too_large()),
        _ if min == T::default() => Err(format!("expects a whole number, not {text:?}")),
        _ => Err(format!(
            "expects a whole number of at least {min}, not {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program with one flag of every kind.
    #[derive(Clone, Debug, Default, PartialEq)]
    struct Options {
        verbose: bool,
        count: usize,
        port: u16,
        wait: Duration,
        delay: Duration,
        name: String,
        files: Vec<String>,
    }

    fn command() -> Command<Options> {
        let options = Options {
            count: 10,
            port: 8000,
            ..Options::default()
        };
        Command::new("demo", "a program to test the parser", options)
            .switch("--verbose", "say more", |o| o.verbose = true)
            .value("--count", "N", "how many", |o, v| {
                number(v, 1).map(|n| o.count = n)
            })
            .default(|o| o.count.to_string())
            .value("--port", "N", "a port", |o, v| {
                number(v, 0).map(|n| o.port = n)
            })
            .value("--wait-ms", "MS", "a wait", |o, v| {
                millis(v, 1).map(|d| o.wait = d)
            })
            .value("--delay-ms", "MS", "a delay", |o, v| {
                delay(v).map(|d| o.delay = d)
            })
            .value("--name", "TEXT", "a name", |o, v| {
                o.name = v.to_string();
                Ok(())
            })
            .operands("FILE", |o, file| {
                o.files.push(file);
                Ok(())
            })
            .check(|o| match o.name.as_str() {
                "nobody" => Err("--name nobody is not allowed".to_string()),
                _ => Ok(()),
            })
    }

    fn parse(args: &[&str]) -> Result<Parsed<Options>, String> {
        command().parse(args.iter().map(|a| a.to_string()))
    }

    fn ok(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Parsed::Run(options)) => options,
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
    fn defaults_come_from_the_options() {
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
                "--count expects a whole number of at least 1, not \"0\"",
            ),
            (
                &["--count", "ten"][..],
                "--count expects a whole number of at least 1",
            ),
            (&["--count", "-1"][..], "not \"-1\""),
            (
                &["--port", "x"][..],
                "--port expects a whole number, not \"x\"",
            ),
            (&["--count"][..], "--count N needs a value"),
            (&["--count", "--verbose"][..], "--count N needs a value"),
            (&["--verbose=yes"][..], "--verbose takes no value"),
            (&["--bogus"][..], "unknown option --bogus"),
            (&["-v"][..], "unknown option -v"),
            (&["--name", "nobody"][..], "--name nobody is not allowed"),
        ] {
            let message = error(args);
            assert!(message.contains(says), "{args:?}: {message}");
        }
    }

    #[test]
    fn too_large_says_too_large() {
        for (args, says) in [
            (
                &["--port", "65536"][..],
                "--port 65536 is too large (at most 65535)",
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
        assert_eq!(
            error(&["--cuont", "3"]),
            "unknown option --cuont (did you mean --count?)"
        );
        assert_eq!(
            error(&["--delay=5"]),
            "unknown option --delay (did you mean --delay-ms?)"
        );
        assert_eq!(error(&["--colour"]), "unknown option --colour");
    }

    #[test]
    fn no_operands_unless_declared() {
        let command = Command::new("bare", "no operands", ());
        let message = command.parse(["x".to_string()]).unwrap_err();
        assert_eq!(message, "unexpected argument \"x\"");
    }

    #[test]
    fn the_help_lists_every_flag_with_its_default() {
        let Ok(Parsed::Help(text)) = parse(&["--count", "3", "--help"]) else {
            panic!("no help");
        };
        for line in [
            "demo: a program to test the parser",
            "usage: cargo run --example demo -- [OPTIONS] [FILE ...]",
            "  --verbose      say more\n",
            "  --count N      how many (default 10)\n",
            "  --port N       a port\n",
            "  --wait-ms MS   a wait\n",
            "  --delay-ms MS  a delay\n",
            "  --name TEXT    a name\n",
            "  -h, --help     this text\n",
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
        assert_eq!(
            delay("soon"),
            Err("expects a whole number, not \"soon\"".to_string())
        );
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

    #[test]
    fn edit_distance() {
        assert_eq!(edits("--max-task", "--max-tasks"), 1);
        assert_eq!(edits("--cuont", "--count"), 2);
        assert_eq!(edits("", "abc"), 3);
        assert_eq!(edits("same", "same"), 0);
    }
}
