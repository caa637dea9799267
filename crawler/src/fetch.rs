//! What one fetch produces, on every stage: a [`Page`] or a [`FetchError`], and a [`Timeline`]
//! of when it connected, when the first byte arrived and when it ended.

use std::io;
use std::time::{Duration, Instant};

/// A complete HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub status: u16,
    pub reason: String,
    /// Header names are lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Page {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a URL produced no page, in words an attendee can act on.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("bad URL: {0}")]
    BadUrl(String),
    #[error("cannot resolve host {host:?}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("connect failed: {}", describe(.0))]
    Connect(io::Error),
    #[error("sending the request failed: {}", describe(.0))]
    Send(io::Error),
    #[error("receiving the response failed: {}", describe(.0))]
    Receive(io::Error),
    #[error("connection closed by the server before any response")]
    ClosedEarly,
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error(
        "body shorter than its Content-Length: connection closed after {received} of {expected} bytes"
    )]
    ShortBody { expected: usize, received: usize },
    #[error("response too large: more than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("unsupported response: {0}")]
    Unsupported(String),
    #[error("timed out while {phase}")]
    TimedOut { phase: &'static str },
    /// Stage 5's `--max-redirect`; `next` is where the next redirect led.
    #[error("too many redirects: stopped after {limit}, before {next}")]
    TooManyRedirects { limit: usize, next: String },
    /// The machinery itself failed: the runtime could not create its poller or register a
    /// socket, or (stage 0) a thread could not be started.
    #[error("the runtime failed: {0}")]
    Runtime(io::Error),
}

impl FetchError {
    /// The error for a fetch cut off by its deadline, naming the phase it was in.
    pub fn timed_out(timeline: &Timeline) -> FetchError {
        FetchError::TimedOut {
            phase: timeline.phase(),
        }
    }

    /// The runtime itself failed (no poller, a failed `poll`): every fetch it held gets this
    /// error, each its own copy (`io::Error` is not `Clone`).
    pub fn runtime(e: &io::Error) -> FetchError {
        FetchError::Runtime(io::Error::new(e.kind(), e.to_string()))
    }
}

/// io errors in plain words, with the OS's error number to search for ("connection refused
/// (os error 111)"), and without repeating the OS's own wording of the same words.
fn describe(e: &io::Error) -> String {
    let plain = match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionReset => "connection reset by the server",
        io::ErrorKind::ConnectionAborted => "connection aborted",
        io::ErrorKind::BrokenPipe => "connection closed by the server (broken pipe)",
        io::ErrorKind::TimedOut => "timed out",
        _ => return e.to_string(),
    };
    match (e.raw_os_error(), e.get_ref()) {
        (Some(code), _) => format!("{plain} (os error {code})"),
        (None, Some(detail)) => format!("{plain} ({detail})"),
        (None, None) => plain.to_string(),
    }
}

/// When each phase of one fetch began. `connecting` runs from `start` to `connected`,
/// `waiting` from `connected` to `first_byte`, `receiving` from `first_byte` to `end`.
#[derive(Clone, Copy, Debug)]
pub struct Timeline {
    pub start: Instant,
    pub connected: Option<Instant>,
    pub first_byte: Option<Instant>,
    pub end: Option<Instant>,
}

impl Timeline {
    /// A timeline whose fetch starts now.
    pub fn start() -> Timeline {
        Timeline {
            start: Instant::now(),
            connected: None,
            first_byte: None,
            end: None,
        }
    }

    /// The TCP connection is up.
    pub fn connected(&mut self) {
        self.connected.get_or_insert_with(Instant::now);
    }

    /// Response bytes arrived; only the first call counts.
    pub fn first_byte(&mut self) {
        self.first_byte.get_or_insert_with(Instant::now);
    }

    /// The fetch is over, with a page or an error; only the first call counts.
    pub fn end(&mut self) {
        self.end.get_or_insert_with(Instant::now);
    }

    /// What the fetch is doing (or was doing when it ended).
    pub fn phase(&self) -> &'static str {
        match (self.connected, self.first_byte) {
            (None, _) => "connecting",
            (Some(_), None) => "waiting for the response",
            (Some(_), Some(_)) => "receiving the response",
        }
    }

    /// How long the fetch took (up to now if it has not ended).
    pub fn elapsed(&self) -> Duration {
        self.end.unwrap_or_else(Instant::now) - self.start
    }
}

/// How one URL ended: the URL as given, its page or error, and its timeline.
#[derive(Debug)]
pub struct Outcome {
    pub url: String,
    pub result: Result<Page, FetchError>,
    pub timeline: Timeline,
}

impl Outcome {
    /// Records the end of a fetch (closing its timeline if the stage has not).
    pub fn new(url: &str, result: Result<Page, FetchError>, mut timeline: Timeline) -> Outcome {
        timeline.end();
        Outcome {
            url: url.to_string(),
            result,
            timeline,
        }
    }

    /// Every URL fails with the same runtime error: the loop or executor could not even start.
    pub fn all_failed(urls: &[String], e: &io::Error) -> Vec<Outcome> {
        urls.iter()
            .map(|url| Outcome::new(url, Err(FetchError::runtime(e)), Timeline::start()))
            .collect()
    }

    /// A response arrived (an error page too: see [`Outcome::http_error`]).
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The response is an error page, 4xx or 5xx: it arrived, but it is not the page asked for.
    pub fn http_error(&self) -> bool {
        self.result.as_ref().is_ok_and(|page| page.status >= 400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_is_said_once_in_plain_words_with_its_number() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(describe(&refused), "connection refused");
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "by a test");
        assert_eq!(
            describe(&reset),
            "connection reset by the server (by a test)"
        );
        #[cfg(target_os = "linux")]
        assert_eq!(
            FetchError::Connect(io::Error::from_raw_os_error(111)).to_string(),
            "connect failed: connection refused (os error 111)"
        );
    }
}
