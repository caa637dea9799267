//! What the site says: which request gets which answer, the pages and their links, the bytes
//! of a response. Plain functions from a request head to a reply, no socket and no clock (the
//! loop in `server.rs` has those), so the tests walk the link graph without a network.

use std::fmt::Write as _;
use std::time::Duration;

use super::{MAX_DELAY, SiteConfig};

/// The largest request head the site reads; a longer one gets `400 Bad Request`.
pub(super) const MAX_HEAD_BYTES: usize = 8 * 1024;

const MAX_HEADERS: usize = 32;

/// The page paths `/`, `/1`, …, `/{count-1}`.
pub fn paths(count: usize) -> Vec<String> {
    (0..count as u64).map(page_path).collect()
}

/// The path of page `n`: the root, `/`, is page 0; page N is `/N`.
fn page_path(n: u64) -> String {
    if n > 0 { format!("/{n}") } else { "/".into() }
}

/// A response, decided but not yet sent.
#[derive(Default)]
pub(super) struct Reply {
    /// The request as the log shows it: `GET /3?delay_ms=50`.
    pub(super) request: String,
    pub(super) status: u16,
    /// What is wrong, for an error.
    detail: String,
    /// A page, whose HTML is made only when it is sent: a client that waits an hour for it
    /// costs the site a few bytes meanwhile, not megabytes.
    page: Option<(u64, usize)>,
    /// For `HEAD`: the head `GET` would get, its Content-Length included, without the body.
    head_only: bool,
    pub(super) delay: Duration,
}

impl Reply {
    /// A reply whose body says `detail`, unless a page is set.
    pub(super) fn new(request: String, status: u16, detail: &str, delay: Duration) -> Reply {
        Reply {
            request,
            status,
            detail: detail.to_string(),
            delay,
            ..Reply::default()
        }
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        let (status, reason) = (self.status, reason(self.status));
        let (kind, body) = match self.page {
            Some((page, pages)) => ("html", page_html(page, pages)),
            None => ("plain", format!("{status} {reason}: {}\n", self.detail)),
        };
        // A 405 must say which methods would have worked.
        let allow = (status == 405).then_some("Allow: GET, HEAD\r\n");
        let mut bytes = format!(
            "HTTP/1.0 {status} {reason}\r\nServer: looplab-site\r\n{}\
             Content-Type: text/{kind}; charset=utf-8\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            allow.unwrap_or_default(),
            body.len()
        )
        .into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(body.as_bytes());
        }
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        _ => "Unknown",
    }
}

/// Decides the answer to a request head, or `None` if the head is not complete yet.
pub(super) fn answer(head: &[u8], config: &SiteConfig) -> Option<Reply> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let bad = |detail: &str| Reply::new("bad request".into(), 400, detail, config.delay);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {
            let method = request.method.unwrap_or_default();
            let target = request.path.unwrap_or_default();
            let mut reply = route(method, target, config);
            reply.head_only = method == "HEAD";
            Some(reply)
        }
        Ok(httparse::Status::Partial) if head.len() <= MAX_HEAD_BYTES => None,
        Ok(httparse::Status::Partial) => Some(bad("request head too large")),
        Err(e) => Some(bad(&format!("malformed request head: {e}"))),
    }
}

/// Routes one request: `GET /` and `GET /N` are pages, anything else is an error; `HEAD` gets
/// what `GET` would. Every answer waits the site's delay, or the request's own `?delay_ms=N`.
fn route(method: &str, target: &str, config: &SiteConfig) -> Reply {
    let request = format!("{method} {target}");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut delay = config.delay;
    let delays = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("delay_ms="));
    for value in delays {
        match value.parse().map(Duration::from_millis) {
            Ok(ms) if ms <= MAX_DELAY => delay = ms,
            _ => {
                let most = MAX_DELAY.as_millis();
                let detail =
                    format!("delay_ms must be a whole number of milliseconds up to {most}");
                return Reply::new(request, 400, &detail, config.delay);
            }
        }
    }

    if method != "GET" && method != "HEAD" {
        return Reply::new(request, 405, "the site answers GET and HEAD only", delay);
    }
    let Some(page) = parse_page(path) else {
        return Reply::new(request, 404, &format!("no page at {path}"), delay);
    };
    Reply {
        page: Some((page, config.pages)),
        ..Reply::new(request, 200, "", delay)
    }
}

/// The page at `path`, if [`page_path`] writes it so: `/`, or `/N` for any whole number N > 0
/// written as it prints (no sign, no leading zeros).
pub(super) fn parse_page(path: &str) -> Option<u64> {
    let n = match path.strip_prefix('/')? {
        "" => 0,
        digits => digits.parse().ok()?,
    };
    (page_path(n) == path).then_some(n)
}

/// The links on `page` when the graph covers `pages` pages. `/` links to `/1` … `/{pages-1}`;
/// each of those links back to `/` and on to the next one (the last to `/1`). Any other page
/// links only to `/`. So a crawler starting at `/` finds exactly `paths(pages)`.
pub(super) fn links(page: u64, pages: usize) -> Vec<String> {
    let last = pages.saturating_sub(1) as u64; // the highest page number in the graph
    let to: Vec<u64> = match page {
        0 => (1..=last).collect(),
        n if n <= last => [0, n % last + 1].into_iter().filter(|&m| m != n).collect(),
        _ => vec![0],
    };
    to.into_iter().map(page_path).collect()
}

/// The HTML of `page`: a title and its links, as `href="/N"` absolute paths.
fn page_html(page: u64, pages: usize) -> String {
    let name = page_path(page);
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n<head><title>looplab {name}</title></head>\n<body>\n\
         <h1>looplab local site: {name}</h1>\n\
         <p>A slow page, served by the looplab local site.</p>\n<ul>\n"
    );
    for link in links(page, pages) {
        // Writing to a String cannot fail.
        let _ = writeln!(html, "<li><a href=\"{link}\">{link}</a></li>");
    }
    html.push_str("</ul>\n</body>\n</html>\n");
    html
}
