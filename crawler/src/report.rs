//! The crawl report every example prints: a line per URL with a timeline bar, and a summary.
//!
//! ```text
//!   /      |---.........................................#  | 203 ms  200 OK, 431 B
//!   /1     |---..........................................# | 204 ms  200 OK, 433 B
//! 10 ok, 0 HTTP errors, 0 failed in 206 ms; peak 10 in flight; one after another: at most 2031 ms (9.9x at most)
//! ```
//!
//! The bars share one time axis, the whole crawl, so concurrency shows at a glance: bars that
//! stack up run at the same time, bars that form a staircase run one after another.
//!
//! Stage 5 prints a section more: [`render_found`] (`report/found.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::fetch::{Outcome, Page};

mod found;

pub use found::{Crawled, Found, Record, render_found};

/// Above this many URLs the report draws no bars: it lists failures, grouped by error.
pub const MAX_BARS: usize = 50;

/// How wide a timeline bar is, in characters.
const BAR_WIDTH: usize = 48;

/// One finished crawl: its outcomes (in the order the URLs were given) and its wall time.
#[derive(Debug)]
pub struct Crawl {
    pub stage: String,
    pub started: Instant,
    pub wall: Duration,
    pub outcomes: Vec<Outcome>,
}

impl Crawl {
    /// The URLs that gave their page: a response that is not an error page.
    pub fn ok(&self) -> usize {
        self.responses() - self.http_errors()
    }

    /// The URLs answered with an error page (4xx, 5xx): not "ok", though the fetch worked.
    pub fn http_errors(&self) -> usize {
        self.outcomes.iter().filter(|o| o.http_error()).count()
    }

    /// The URLs that got no response at all: refused, timed out, malformed…
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.responses()
    }

    fn responses(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_ok()).count()
    }

    /// The most fetches that were under way at the same moment, from their timelines: started
    /// and not ended, whether waiting for the network or for a loop that was busy elsewhere.
    pub fn peak_in_flight(&self) -> usize {
        let mut edges: Vec<(Instant, i32)> = Vec::with_capacity(self.outcomes.len() * 2);
        for o in &self.outcomes {
            let end = o.timeline.end.unwrap_or_else(Instant::now);
            edges.push((o.timeline.start, 1));
            edges.push((end, -1));
        }
        // At the same instant, ends come before starts: a fetch that starts exactly when
        // another ends did not overlap it.
        edges.sort();
        let (mut now, mut peak) = (0i32, 0i32);
        for (_, delta) in edges {
            now += delta;
            peak = peak.max(now);
        }
        peak as usize
    }

    /// What the pages that came back would have cost one after another, *at most*: the sum
    /// of their fetches' times, which count waiting for a busy loop too (hence "at most").
    /// Failures are left out: a fetch cut off or refused says nothing about that cost.
    pub fn one_after_another(&self) -> Duration {
        let pages = self.outcomes.iter().filter(|o| o.is_ok());
        pages.map(|o| o.timeline.elapsed()).sum()
    }

    /// The summary line, as in the module doc. When some failed, the comparison names what it
    /// counts (`one after another, the 7 pages alone: …`); when none came back, there is none.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} ok, {}, {} failed in {} ms; peak {} in flight",
            self.ok(),
            plural(self.http_errors(), "HTTP error", "HTTP errors"),
            self.failed(),
            self.wall.as_millis(),
            self.peak_in_flight(),
        );
        let serial = self.one_after_another();
        let which = match (self.responses(), self.failed()) {
            (0, _) => return line,
            (_, 0) => String::new(),
            (ok, _) => format!(", the {} alone", plural(ok, "page", "pages")),
        };
        let ms = serial.as_millis();
        let _ = write!(line, "; one after another{which}: at most {ms} ms");
        // A speed-up only means something when there is more than one fetch to overlap.
        if self.responses() > 1 {
            let ratio = serial.as_secs_f64() / self.wall.as_secs_f64().max(1e-9);
            let _ = write!(line, " ({ratio:.1}x at most)");
        }
        line
    }
}

/// The whole report as text.
pub fn render(crawl: &Crawl) -> String {
    let mut out = String::new();
    let urls = plural(crawl.outcomes.len(), "URL", "URLs");
    let _ = writeln!(out, "{}: {urls}", crawl.stage);
    if crawl.outcomes.len() <= MAX_BARS {
        render_bars(crawl, &mut out);
    } else {
        render_grouped(crawl, &mut out);
    }
    let _ = writeln!(out, "{}", crawl.summary());
    out
}

/// How a report names its URLs: by path if all share one server (printed once, `on http://…`),
/// in a column as wide as the longest name, at most 40 characters (cut ones end in `~`).
struct Labels {
    origin: Option<String>,
    width: usize,
}

impl Labels {
    fn new(outcomes: &[Outcome]) -> Labels {
        // `http://host:port`, if every URL starts with the same one.
        let origin_of = |url: &str| {
            let after = url.find("://")? + 3;
            Some(url[..after + url[after..].find('/')?].to_string())
        };
        let first = outcomes.first().and_then(|o| origin_of(&o.url));
        let same = outcomes.iter().all(|o| origin_of(&o.url) == first);
        let mut labels = Labels {
            origin: first.filter(|_| same),
            width: 0,
        };
        let widest = outcomes.iter().map(|o| labels.name(&o.url).chars().count());
        labels.width = widest.max().unwrap_or(0).min(40);
        labels
    }

    /// The name of `url`: its path if it is on the common server, else the whole URL.
    fn name(&self, url: &str) -> String {
        match &self.origin {
            Some(origin) if url.starts_with(origin.as_str()) => url[origin.len()..].to_string(),
            _ => url.to_string(),
        }
    }

    /// The name of `url`, cut to the column's width.
    fn column(&self, url: &str) -> String {
        let name = self.name(url);
        match name.chars().count() > self.width {
            true => name.chars().take(self.width - 1).collect::<String>() + "~",
            false => name,
        }
    }
}

fn render_bars(crawl: &Crawl, out: &mut String) {
    let labels = Labels::new(&crawl.outcomes);
    let width = labels.width;
    if let Some(o) = &labels.origin {
        let _ = writeln!(out, "  on {o}");
    }
    let _ = writeln!(
        out,
        "  {:width$}  |{:^BAR_WIDTH$}|  - connecting  . waiting  # receiving  x failed",
        "",
        format!("0 .. {} ms", crawl.wall.as_millis()),
    );
    for o in &crawl.outcomes {
        let name = labels.column(&o.url);
        let result = match &o.result {
            Ok(page) if o.http_error() => {
                format!("HTTP ERROR {}, {} B", status(page), page.body.len())
            }
            Ok(page) => format!("{}, {} B", status(page), page.body.len()),
            Err(e) => format!("ERROR {e}"),
        };
        let (bar, ms) = (bar(crawl, o), o.timeline.elapsed().as_millis());
        let _ = writeln!(out, "  {name:width$}  |{bar}| {ms:>5} ms  {result}");
    }
}

/// `200 OK`, or `200` when the server sent no reason phrase.
pub(crate) fn status(page: &Page) -> String {
    match page.reason.as_str() {
        "" => page.status.to_string(),
        reason => format!("{} {reason}", page.status),
    }
}

/// `---......###` placed on the crawl's time axis. A failure that took no time (under a
/// millisecond, as its line says) is one `x` where it happened, whatever the scale.
fn bar(crawl: &Crawl, o: &Outcome) -> String {
    let wall = crawl.wall.as_secs_f64().max(1e-9);
    let col = |t: Instant| -> usize {
        let offset = t.saturating_duration_since(crawl.started).as_secs_f64();
        ((offset / wall) * BAR_WIDTH as f64).floor() as usize
    };
    let t = &o.timeline;
    let end = t.end.unwrap_or(crawl.started + crawl.wall);
    let start_col = col(t.start).min(BAR_WIDTH - 1);
    let end_col = if !o.is_ok() && t.elapsed() < Duration::from_millis(1) {
        start_col + 1
    } else {
        col(end).clamp(start_col + 1, BAR_WIDTH)
    };
    let mut cells = vec![' '; BAR_WIDTH];
    for (i, cell) in cells.iter_mut().enumerate().take(end_col).skip(start_col) {
        // A cell shows the phase in progress when it begins (or when the fetch began), so
        // even a connect shorter than a cell leaves its mark.
        let cell_start = crawl.started + crawl.wall.mul_f64(i as f64 / BAR_WIDTH as f64);
        let at = cell_start.max(t.start);
        *cell = match (t.connected, t.first_byte) {
            (Some(_), Some(fb)) if at >= fb => '#',
            (Some(c), _) if at >= c => '.',
            _ => '-',
        };
    }
    // The last cell of a fetch shows how it ended: received bytes or an error.
    cells[end_col - 1] = if o.is_ok() { '#' } else { 'x' };
    cells.into_iter().collect()
}

/// For large crawls: totals by status and failures grouped by message.
fn render_grouped(crawl: &Crawl, out: &mut String) {
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut errors: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for o in &crawl.outcomes {
        match &o.result {
            Ok(page) => *statuses.entry(page.status).or_default() += 1,
            Err(e) => errors.entry(e.to_string()).or_default().push(&o.url),
        }
    }
    let _ = writeln!(
        out,
        "  (more than {MAX_BARS} URLs: no bars; results grouped)"
    );
    for (status, n) in &statuses {
        let error = if *status >= 400 { " (HTTP error)" } else { "" };
        let _ = writeln!(out, "  {n:>7} x status {status}{error}");
    }
    let mut groups: Vec<_> = errors.into_iter().collect();
    groups.sort_by_key(|(_, urls)| std::cmp::Reverse(urls.len()));
    for (message, urls) in groups.iter().take(20) {
        let (n, examples) = (urls.len(), urls[..urls.len().min(3)].join(", "));
        let more = if n > 3 { ", …" } else { "" };
        let _ = writeln!(out, "  {n:>7} x ERROR {message}  (e.g. {examples}{more})");
    }
    if groups.len() > 20 {
        let _ = writeln!(out, "  … and {} other errors", groups.len() - 20);
    }
}

/// `1 link`, `2 links`: a count and its noun, singular or plural.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::{FetchError, Timeline};

    fn outcome(url: &str, start: Instant, ms: [u64; 3], ok: bool) -> Outcome {
        let at = |m: u64| start + Duration::from_millis(m);
        let timeline = Timeline {
            start: at(ms[0]),
            connected: Some(at(ms[0] + 1)),
            first_byte: Some(at(ms[1])),
            end: Some(at(ms[2])),
        };
        let result = if ok {
            Ok(Page {
                status: 200,
                reason: "OK".into(),
                headers: vec![],
                body: vec![b'x'; 10],
            })
        } else {
            Err(FetchError::ClosedEarly)
        };
        Outcome::new(url, result, timeline)
    }

    #[test]
    fn counts_peak_and_renders_bars() {
        let t0 = Instant::now();
        let crawl = Crawl {
            stage: "test".into(),
            started: t0,
            wall: Duration::from_millis(400),
            outcomes: vec![
                outcome("http://h:1/", t0, [0, 150, 200], true),
                outcome("http://h:1/1", t0, [0, 150, 200], true),
                outcome("http://h:1/2", t0, [200, 350, 400], false),
            ],
        };
        assert_eq!(crawl.peak_in_flight(), 2);
        // The pages only: the failure says nothing about fetching one after another.
        assert_eq!(crawl.one_after_another(), Duration::from_millis(400));
        let text = render(&crawl);
        assert!(
            text.contains(
                "2 ok, 0 HTTP errors, 1 failed in 400 ms; peak 2 in flight; one after another, \
                 the 2 pages alone: at most 400 ms (1.0x at most)"
            ),
            "{text}"
        );
        assert!(text.contains("on http://h:1"), "{text}");
        assert!(text.contains("ERROR connection closed"), "{text}");
        assert!(text.contains("-...") && text.contains("x|"), "{text}");
    }

    #[test]
    fn touching_intervals_do_not_overlap() {
        let t0 = Instant::now();
        let crawl = Crawl {
            stage: "test".into(),
            started: t0,
            wall: Duration::from_millis(20),
            outcomes: vec![
                outcome("a", t0, [0, 5, 10], true),
                outcome("b", t0, [10, 15, 20], true),
            ],
        };
        assert_eq!(crawl.peak_in_flight(), 1);
    }

    #[test]
    fn large_crawls_group_instead_of_drawing() {
        let t0 = Instant::now();
        let outcomes = (0..120)
            .map(|i| outcome(&format!("http://h/{i}"), t0, [0, 1, 2], i % 10 != 0))
            .collect();
        let crawl = Crawl {
            stage: "big".into(),
            started: t0,
            wall: Duration::from_millis(2),
            outcomes,
        };
        let text = render(&crawl);
        assert!(text.lines().count() < 10, "{text}");
        assert!(text.contains("108 x status 200"), "{text}");
        assert!(text.contains("12 x ERROR connection closed"), "{text}");
    }
}
