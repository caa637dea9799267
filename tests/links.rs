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
