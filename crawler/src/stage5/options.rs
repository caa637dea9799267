//! How stage 5 crawls: its options, with the 500 Lines crawler's defaults, and the two rules
//! they go with: which failures a retry may cure (`--max-tries`), and where a redirect leads
//! (`--max-redirect`).

use std::time::Duration;

use crate::fetch::{FetchError, Page};

/// How to crawl. The defaults are the 500 Lines crawler's; `max_pages` is a safety net it
/// does not have.
#[derive(Clone, Debug)]
pub struct Options {
    /// How many workers fetch at once: the cap on connections (`--max-tasks`).
    pub max_tasks: usize,
    /// How many times a request is tried before its error is final (`--max-tries`).
    pub max_tries: usize,
    /// How many redirects are followed from one URL (`--max-redirect`).
    pub max_redirect: usize,
    /// How long one request may take (`--request-timeout-ms`).
    pub request_timeout: Duration,
    /// Whether the links found on pages are crawled too.
    pub follow_links: bool,
    /// How many URLs the crawl may hold, roots included (`--max-pages`): the new links found
    /// past that are counted, not crawled, so a site that links on without end cannot keep a
    /// crawl going. The roots are all crawled, however many.
    pub max_pages: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_tasks: 10,
            max_tries: 4,
            max_redirect: 10,
            request_timeout: Duration::from_secs(5),
            follow_links: true,
            max_pages: 1000,
        }
    }
}

/// Where a redirect leads, if `page` is one: a 3xx status with a `Location`.
pub(super) fn redirect_location(page: &Page) -> Option<&str> {
    match page.status {
        301 | 302 | 303 | 307 | 308 => page.header("location"),
        _ => None,
    }
}

/// Whether trying again may help: the network and the server's mood, yes; a bad URL, a name
/// that does not resolve, or a response this client cannot read, no.
pub(super) fn may_pass(e: &FetchError) -> bool {
    matches!(
        e,
        FetchError::Connect(_)
            | FetchError::Send(_)
            | FetchError::Receive(_)
            | FetchError::ClosedEarly
            | FetchError::ShortBody { .. }
            | FetchError::TimedOut { .. }
    )
}
