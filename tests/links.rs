//! Links, end to end: stage 5 crawls a small static site whose pages link to each other every
//! way HTML allows — `../`, `./`, bare names, absolute paths and URLs, fragments, queries,
//! percent-encoding in either case, a non-ASCII name, other hosts and other schemes — and
//! fetches each page exactly once.
//!
//! The server resolves `.` and `..` and decodes `%XX` the way a file server does, so a
//! crawler that keeps dot segments in its URLs (`/docs/sub/../sub/b.html`) is served the same
//! page again under a new name, whose links make yet another name: a crawl without end. Each
//! page's requests are counted on the server; nothing is timed.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crawler::stage5::{self, Options};
use support::PageServer;

/// Beyond this, the test calls the crawl hung. Not a performance bound: it takes well under a
/// second.
const HUNG: Duration = Duration::from_secs(30);

/// The crawl's own deadline. A crawl that ends only there has failed: every URL it had not
/// fetched yet times out, and the test sees those errors.
const DEADLINE: Duration = Duration::from_secs(10);

/// A documentation tree: `/`, `/docs/`, `/docs/a.html`, `/docs/café.html`, `/docs/sub/` and
/// `/docs/sub/b.html`.
const PAGES: &[(&str, &str)] = &[
    (
        "/",
        r##"<h1>home</h1>
        <a href="docs/">a directory, by a bare name</a>
        <a href="./docs/a.html#intro">a page, with ./ and a fragment</a>
        <a href="/docs/sub/b.html">an absolute path</a>
        <a href="{origin}/docs/./a.html#top">an absolute URL on this host</a>
        <a href="#top">this page</a>
        <a href="http://example.invalid/">another host (never fetched)</a>
        <a href="mailto:someone@example.invalid">mail</a>"##,
    ),
    (
        "/docs/",
        r##"<h1>docs</h1>
        <a href="a.html">a</a> <a href="./a.html">a again</a>
        <a href=sub/b.html>b, unquoted</a>
        <a href="..">up</a> <a href="../">up again</a> <a href=".">here</a>
        <a href="?page=2">the second page of this listing</a>
        <a href="café.html">a non-ASCII name</a>
        <a href="javascript:void(0)">a script</a>"##,
    ),
    (
        "/docs/a.html",
        r##"<h1>a</h1>
        <a href="sub/b.html">b</a> <a href="../docs/./sub/b.html">b, the long way</a>
        <a href="%61.html">this page, percent-encoded</a>
        <a href="/docs/caf%c3%a9.html">café, encoded in lower case</a>
        <a href="{origin}/docs/sub/../a.html">this page again</a>
        <a href="https://example.invalid/">https (not fetched)</a>"##,
    ),
    (
        "/docs/sub/",
        r##"<h1>sub</h1>
        <a href="b.html">b</a> <a href="../sub/">this directory, via its parent</a>"##,
    ),
    (
        "/docs/sub/b.html",
        r##"<h1>b</h1>
        <a href="../sub/b.html">this page, via its parent</a>
        <a href="../a.html">a</a> <a href="%2E%2E/a.html">a, the dots encoded</a>
        <a href="../../">home</a> <a href="../../../../docs/">more .. than there are levels</a>
        <a href="./">this directory</a>
        <a href='b.html?v=1'>this page with a query</a>"##,
    ),
    (
        "/docs/café.html",
        r##"<h1>café</h1>
        <a href="./caf%C3%A9.html">this page, encoded</a> <a href="café.html#top">and raw</a>
        <a href="../docs/a%2ehtml">a, an encoded dot</a>
        <a href="sub/b.html?v=1">b with a query</a>"##,
    ),
];

/// Every page the crawl must fetch, once: its name on the server (decoded) and the URL the
/// crawler gives it (the normal form: percent-encoded UTF-8, upper-case hex).
const FETCHED: &[(&str, &str)] = &[
    ("/", "/"),
    ("/docs/", "/docs/"),
    ("/docs/?page=2", "/docs/?page=2"),
    ("/docs/a.html", "/docs/a.html"),
    ("/docs/café.html", "/docs/caf%C3%A9.html"),
    ("/docs/sub/", "/docs/sub/"),
    ("/docs/sub/b.html", "/docs/sub/b.html"),
    ("/docs/sub/b.html?v=1", "/docs/sub/b.html?v=1"),
];

#[test]
fn each_page_of_a_small_tree_is_fetched_exactly_once() {
    let server = PageServer::start(PAGES);
    let roots = vec![server.url("/")];
    let crawled = support::within(HUNG, move || {
        stage5::crawl_with(&roots, Instant::now() + DEADLINE, &Options::default())
    });

    // Counted by the server, under the name of the page it served.
    let served = server.served();
    let repeated: BTreeMap<_, _> = served.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "pages fetched more than once: {repeated:?}"
    );
    let expected: BTreeMap<String, usize> = FETCHED
        .iter()
        .map(|(page, _)| (page.to_string(), 1))
        .collect();
    assert_eq!(served, expected);

    // The crawl ended by itself, long before its deadline: every URL it queued got a page.
    // (At the deadline, the URLs still queued or in flight would have timed out.)
    for outcome in &crawled.outcomes {
        assert!(outcome.is_ok(), "{}: {:?}", outcome.url, outcome.result);
    }
    let origin = server.url("");
    let urls: Vec<&str> = crawled
        .outcomes
        .iter()
        .map(|o| o.url.strip_prefix(&origin).unwrap_or(&o.url))
        .collect();
    let expected_urls: BTreeSet<&str> = FETCHED.iter().map(|(_, url)| *url).collect();
    assert_eq!(urls.len(), expected_urls.len(), "no URL twice: {urls:?}");
    assert_eq!(
        BTreeSet::from_iter(urls),
        expected_urls,
        "one normal form per page"
    );
}

/// A site whose pages link the way real pages do, and as the report that started this test
/// found a crawler going wrong: a `<base href>`, a link in a comment, `&amp;` in a query,
/// every quoting, upper case, attributes over several lines, schemes that are not http, a
/// link off the host, a query alone — and links where a browser sees none (in a script, a
/// style, a title, a `<link>`, an `<img>`, a `data:` URL, a text/plain page).
const BROWSER_PAGES: &[(&str, &str)] = &[
    (
        "/",
        r##"<!DOCTYPE html><html><head><title>home <a href="/titled.html"></title>
        <base href="/docs/">
        <link rel=stylesheet href="/style.css"><link rel=next href="/next.html">
        <style>a[href="/styled.html"] { color: red }</style>
        <script>var s = '<a href="/scripted.html">';</script>
        </head><body>
        <!-- <a href="/commented.html">an old link</a> -->
        <a href="intro.html">intro, against the base</a>
        <a href="/search.html?a=1&amp;b=2">search</a>
        <a href='/search.html?a=1&b=2'>the same search, single-quoted</a>
        <A HREF=/upper.html>upper case, unquoted</A>
        <a
          class="multi"
          href="/multi.html"
        >over several lines</a>
        <a href="mailto:x@example.invalid">mail</a> <a href="javascript:void(0)">script</a>
        <a href="tel:+100">phone</a> <a href="data:text/html,<a href=/data.html>">data</a>
        <a href="//example.invalid/off">another host, protocol-relative</a>
        <a href="?page=2">a query alone, against the base</a>
        <img src="/img.png"><map><area shape=rect coords="0,0,1,1" href="/area.html"></map>
        <a href="&#47;ref&period;html">character references</a>
        <a href=/plain.txt>a text file</a> <a href="/upper.html#top">upper again</a>
        </body></html>"##,
    ),
    ("/docs/", "<a href=intro.html>intro</a>"),
    (
        "/docs/intro.html",
        "<a href='../'>home</a> <a href=./?page=2>the listing, page 2</a>",
    ),
    ("/search.html", "<a href=/>home</a>"),
    ("/upper.html", "<a href=/multi.html>multi</a>"),
    ("/multi.html", "<textarea><a href=/typed.html></textarea>"),
    ("/area.html", "<noscript><a href=/noscript.html></noscript>"),
    ("/ref.html", "<a href=/>home</a>"),
    (
        "/plain.txt",
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n<a href=/from-text.html>",
    ),
];

#[test]
fn stage_5_fetches_the_pages_a_browser_reaches_each_once() {
    let server = PageServer::start(BROWSER_PAGES);
    let roots = vec![server.url("/")];
    let crawled = support::within(HUNG, move || {
        stage5::crawl_with(&roots, Instant::now() + DEADLINE, &Options::default())
    });
    let reached: BTreeMap<String, usize> = [
        "/",
        "/docs/intro.html",
        "/docs/?page=2",
        "/search.html?a=1&b=2",
        "/upper.html",
        "/multi.html",
        "/area.html",
        "/ref.html",
        "/plain.txt",
    ]
    .iter()
    .map(|page| (page.to_string(), 1))
    .collect();
    // Not `/docs/` (the base's own href), nor any link a browser does not see.
    assert_eq!(server.served(), reached);
    for outcome in &crawled.outcomes {
        let page = outcome
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", outcome.url));
        assert_eq!(page.status, 200, "{}", outcome.url);
        assert!(!outcome.url.contains("&amp;"), "{}", outcome.url);
    }
    assert_eq!(crawled.outcomes.len(), reached.len());
}

/// Pages that answer 404 and 500: they arrived, but they are not "ok".
const ERROR_PAGES: &[(&str, &str)] = &[
    (
        "/",
        "<a href=/a>a</a> <a href=/missing>gone</a> <a href=/broken>broken</a>",
    ),
    ("/a", "<a href=/>home</a>"),
    (
        "/broken",
        "HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/html\r\n\r\n<a href=/never>",
    ),
];

#[test]
fn error_pages_are_counted_apart_from_pages_and_failures() {
    let server = PageServer::start(ERROR_PAGES);
    let roots = vec![server.url("/"), support::refused_url()];
    let started = Instant::now();
    let crawled = support::within(HUNG, move || {
        stage5::crawl_with(&roots, started + DEADLINE, &Options::default())
    });
    let report = crawler::report::render_found(&crawled);
    let crawl = crawler::report::Crawl {
        stage: "stage5".into(),
        started,
        wall: started.elapsed(),
        outcomes: crawled.outcomes,
    };
    assert_eq!((crawl.ok(), crawl.http_errors(), crawl.failed()), (2, 2, 1));
    let text = crawler::report::render(&crawl);
    assert!(text.contains("2 ok, 2 HTTP errors, 1 failed in "), "{text}");
    assert!(text.contains("HTTP ERROR 404 Not Found, 0 B"), "{text}");
    assert!(
        text.contains("HTTP ERROR 500 Internal Server Error"),
        "{text}"
    );
    assert!(text.contains("ERROR connect failed"), "{text}");
    // An error page's links are not followed: `/never` is never asked for.
    assert!(
        !server.served().contains_key("/never"),
        "{:?}",
        server.served()
    );
    assert!(
        report.contains("/missing  HTTP ERROR 404 Not Found\n"),
        "{report}"
    );
}
