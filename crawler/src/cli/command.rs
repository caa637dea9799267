//! One command line for every program: each derives clap's `Parser` (parsing, help,
//! suggestions, exit code 2 on an error); [`Command`] adds the usage line `cargo run --example
//! NAME -- …` and a check of the options as a whole. Below, the value rules programs share.

use std::num::IntErrorKind;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};

use super::MAX_TIMEOUT;
use crate::site::MAX_DELAY;

/// A program's command line: clap's, for the options `T` it derives.
pub struct Command<T> {
    command: clap::Command,
    check: fn(&mut T, &ArgMatches) -> Result<(), String>,
}

impl<T: CommandFactory + FromArgMatches> Command<T> {
    /// The command line of `cargo run --example NAME`, which does what `about` says.
    pub fn new(name: &'static str, about: &'static str) -> Command<T> {
        let command = T::command()
            .name(name)
            .bin_name(format!("cargo run --example {name} --"))
            .about(about);
        Command {
            command,
            check: |_, _| Ok(()),
        }
    }

    /// Once every argument is in: what the matches say (was `--count` given?), and a check of
    /// the options as a whole (flags that exclude each other).
    pub fn check(mut self, check: fn(&mut T, &ArgMatches) -> Result<(), String>) -> Self {
        self.check = check;
        self
    }

    /// The program's name: `cargo run --example NAME`.
    pub fn name(&self) -> &str {
        self.command.get_name()
    }

    /// The flags of this program that take no value (`--threads`).
    pub fn switches(&self) -> Vec<String> {
        let switches = self.command.get_arguments().filter(|arg| {
            matches!(arg.get_action(), ArgAction::SetTrue) && arg.get_long() != Some("help")
        });
        switches
            .filter_map(|arg| Some(format!("--{}", arg.get_long()?)))
            .collect()
    }

    /// Parses the arguments after the program's name. `Err` is what clap prints instead of a
    /// run: what is wrong, the usage, where to read more; or, for `--help`, the help (exit 0).
    pub fn parse(&self, args: impl IntoIterator<Item = String>) -> Result<T, clap::Error> {
        let args = std::iter::once(self.name().to_string()).chain(args);
        let matches = self.command.clone().try_get_matches_from(args)?;
        let mut options = T::from_arg_matches(&matches)?;
        match (self.check)(&mut options, &matches) {
            Ok(()) => Ok(options),
            Err(why) => Err(self.command.clone().error(ErrorKind::ArgumentConflict, why)),
        }
    }

    /// Parses this program's own arguments. `Err` carries the exit code once the help is
    /// printed (0) or the error (2).
    pub fn parse_env(&self) -> Result<T, ExitCode> {
        self.parse(std::env::args().skip(1)).map_err(|e| {
            let _ = e.print();
            ExitCode::from(e.exit_code() as u8)
        })
    }
}

/// A count of at least 1 (`--count`, `--max-tasks`…).
pub fn at_least_one(text: &str) -> Result<usize, String> {
    whole(text, 1, usize::MAX as u64).map(|n| n as usize)
}

/// A port: 0 asks the system for a free one.
pub fn port(text: &str) -> Result<u16, String> {
    whole(text, 0, u16::MAX.into()).map(|n| n as u16)
}

/// A response delay, wherever one is given: whole milliseconds, at most [`MAX_DELAY`] (an
/// hour). The site's `?delay_ms=` follows the same rule (`tests/cli.rs` checks they agree).
pub fn delay(text: &str) -> Result<Duration, String> {
    whole(text, 0, MAX_DELAY.as_millis() as u64).map(Duration::from_millis)
}

/// A deadline or timeout in whole milliseconds: at least 1, at most [`MAX_TIMEOUT`] (a day).
/// `--timeout-ms` of every crawl and stage 5's `--request-timeout-ms` are read with it.
pub fn timeout(text: &str) -> Result<Duration, String> {
    whole(text, 1, MAX_TIMEOUT.as_millis() as u64).map(Duration::from_millis)
}

/// A whole number from `min` to `max`; a larger one is "too large", whatever its digits.
fn whole(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let too_large = || format!("{text} is too large (at most {max})");
    match text.parse::<u64>() {
        Ok(n) if n > max => Err(too_large()),
        Ok(n) if n >= min => Ok(n),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Err(too_large()),
        _ if min == 0 => Err("expects a whole number".to_string()),
        _ => Err(format!("expects a whole number of at least {min}")),
    }
}

#[cfg(test)]
mod tests;
