//! Stage 5's section of the report, after what every stage prints: for each URL the links on
//! its page, its redirects and retries ([`Found`]), and what the crawl's limits left out.

use std::fmt::Write as _;
use std::io;

use super::{Labels, MAX_BARS, plural, status};
use crate::fetch::{FetchError, Outcome, Timeline};
use crate::limits::{LeftOut, MAX_URL_BYTES};
use crate::links::MAX_LINKS;

/// What the crawl learned about one URL, beyond its outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The links on its page that stay on the roots' hosts, each counted once.
    pub links: usize,
    /// Of those, the ones seen for the first time: they were queued.
    pub new: usize,
    /// Where its redirects led, in order.
    pub redirects: Vec<String>,
    /// How many requests it took, retries and redirects included.
    pub tries: usize,
    /// Its page had more links than [`MAX_LINKS`]: the rest were not read.
    pub capped: bool,
    /// Links on its page longer than [`MAX_URL_BYTES`], skipped.
    pub too_long: usize,
}

/// A whole crawl: for each URL, in the order they were queued (the roots first), its outcome
/// and what was found there; and what the crawl's limits left out.
#[derive(Debug)]
pub struct Crawled {
    pub outcomes: Vec<Outcome>,
    pub found: Vec<Found>,
    pub left_out: LeftOut,
}

/// One URL of a stage 5 crawl, from the moment it is queued: how it ended, once it has.
#[derive(Debug)]
pub struct Record {
    pub url: String,
    /// Boxed: a record waits at 32 bytes while its URL is queued or in flight, not at the
    /// size of an outcome (ten thousand URLs queued at once would hold 2.5 MB for nothing).
    pub ended: Option<Box<(Outcome, Found)>>,
}

impl Crawled {
    /// Every URL fails with one runtime error: no executor could be made, or its reactor failed.
    pub fn all_failed(urls: &[String], e: &io::Error) -> Crawled {
        Crawled {
            outcomes: Outcome::all_failed(urls, e),
            found: vec![Found::default(); urls.len()],
            left_out: LeftOut::default(),
        }
    }
}

/// The records, in their order; a URL that never ended gets an error that says so.
impl From<Vec<Record>> for Crawled {
    fn from(records: Vec<Record>) -> Crawled {
        let (outcomes, found) = records
            .into_iter()
            .map(|record| {
                record.ended.map(|ended| *ended).unwrap_or_else(|| {
                    let error = FetchError::Runtime(io::Error::other("the URL was never fetched"));
                    (
                        Outcome::new(&record.url, Err(error), Timeline::start()),
                        Found::default(),
                    )
                })
            })
            .unzip();
        Crawled {
            outcomes,
            found,
            left_out: LeftOut::default(),
        }
    }
}

/// A line per URL, then the totals and what was left out (how URLs ended, the report says).
pub fn render_found(crawled: &Crawled) -> String {
    let mut out = String::new();
    // Named as in the report above: paths only when every URL is on the same server.
    let labels = Labels::new(&crawled.outcomes);
    let _ = writeln!(out, "what the crawl found:");
    if crawled.outcomes.len() <= MAX_BARS {
        for (outcome, found) in crawled.outcomes.iter().zip(&crawled.found) {
            let mut line = match &outcome.result {
                Ok(page) if outcome.http_error() => format!("HTTP ERROR {}", status(page)),
                Ok(page) => status(page),
                Err(_) => "ERROR".to_string(),
            };
            if outcome.is_ok() && !outcome.http_error() {
                let links = plural(found.links, "link", "links");
                let _ = write!(line, ", {links}, {} new", found.new);
            }
            if let Some(last) = found.redirects.last() {
                let redirects = plural(found.redirects.len(), "redirect", "redirects");
                let _ = write!(line, ", via {redirects} to {}", labels.name(last));
            }
            if found.capped {
                let _ = write!(line, ", more than {MAX_LINKS} links: the rest not read");
            }
            let retries = found.tries.saturating_sub(found.redirects.len() + 1);
            if retries > 0 {
                let _ = write!(line, ", {}", plural(retries, "retry", "retries"));
            }
            let name = labels.column(&outcome.url);
            let _ = writeln!(out, "  {name:width$}  {line}", width = labels.width);
        }
    }
    let found = &crawled.found;
    let total = |f: fn(&Found) -> usize| found.iter().map(f).sum::<usize>();
    let _ = writeln!(
        out,
        "  {}; links found {}, new {}; redirects followed {}; requests made {}",
        plural(crawled.outcomes.len(), "URL", "URLs"),
        total(|f| f.links),
        total(|f| f.new),
        total(|f| f.redirects.len()),
        total(|f| f.tries),
    );
    let left = &crawled.left_out;
    let were = |n: usize| if n == 1 { "was" } else { "were" };
    if left.over_max_pages > 0 {
        let (n, max) = (left.over_max_pages, left.max_pages);
        let links = plural(n, "new link", "new links");
        let _ = writeln!(
            out,
            "  stopped at --max-pages {max}: {links} found after that {} not crawled",
            were(n)
        );
    }
    let capped = found.iter().filter(|f| f.capped).count();
    if capped > 0 {
        let pages = plural(capped, "page", "pages");
        let _ = writeln!(
            out,
            "  {pages} had more than {MAX_LINKS} links: the rest were not read"
        );
    }
    // As written on the page, or once resolved against it: one limit.
    let too_long = left.too_long + total(|f| f.too_long);
    if too_long > 0 {
        let links = plural(too_long, "link", "links");
        let were = were(too_long);
        let _ = writeln!(
            out,
            "  {links} longer than {MAX_URL_BYTES} bytes {were} not followed"
        );
    }
    out
}
