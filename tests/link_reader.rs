//! The link reader under hostile input: no panic, output within its caps, time linear in the
//! page (a ratio of two sizes, never a stopwatch bound), and stage 5 crawling a page made to
//! blow a naive reader up. Deterministic: a seeded generator, no clock in any verdict but the
//! ratio. More cases: `cargo test --test link_reader -- --ignored`.

mod support;

use std::time::{Duration, Instant};

use crawler::limits::MAX_URL_BYTES;
use crawler::links::{self, MAX_LINKS};
use crawler::stage5::{self, Options};
use crawler::url::Url;
use support::PageServer;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// Pieces of HTML, most of them broken on purpose, that a random page is made of.
const PIECES: &[&str] = &[
    "<a href=",
    "<a href=\"",
    "<a href='",
    "<A HREF=/x>",
    "<area href=/y>",
    "<base href=",
    "href=",
    "\"",
    "'",
    ">",
    "<",
    "</a>",
    "</",
    "<!--",
    "-->",
    "<!",
    "<?",
    "<script>",
    "</script>",
    "<style>",
    "</style>",
    "<title>",
    "</title>",
    "&amp;",
    "&#x26;",
    "&#",
    "&",
    "&lt",
    "/",
    "../",
    "?q=1",
    "#f",
    "http://h/",
    "https://o/",
    "mailto:x",
    " ",
    "\n",
    "x",
    "é",
    "\u{0}",
    "\u{fffd}",
    "<a href=/ok>",
    "=",
    "<a",
    "<base href=/b/>",
];

fn random_page(rng: &mut Rng, pieces: usize) -> Vec<u8> {
    let mut page = Vec::new();
    for _ in 0..pieces {
        if rng.below(20) == 0 {
            page.push(rng.next() as u8); // any byte, UTF-8 or not
        } else {
            page.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
        }
    }
    page
}

fn page_url() -> Url {
    Url::parse("http://h/dir/page.html").unwrap()
}

/// What a page's links may hold, whatever the page: no more than the caps, nothing longer
/// than a link may be (once resolved, a link is at most its base and itself).
fn check(page: &[u8]) {
    let found = links::links(&page_url(), page);
    assert!(found.urls.len() <= MAX_LINKS);
    assert_eq!(found.capped, found.urls.len() == MAX_LINKS && found.capped);
    let output: usize = found.urls.iter().map(|u| u.path.len() + u.host.len()).sum();
    // Percent-encoding makes a byte at most 9 (`\u{fffd}` for a bad byte, encoded), and the
    // base adds at most its own length to each link.
    assert!(
        output <= 9 * page.len() + found.urls.len() * (2 * MAX_URL_BYTES + 32),
        "{output} bytes of links from {} bytes of page",
        page.len()
    );
    for url in &found.urls {
        assert!(url.path.starts_with('/'), "{url:?}");
    }
}

fn random_pages(cases: usize, seed: u64) {
    let mut rng = Rng(seed);
    for _ in 0..cases {
        let pieces = 1 + rng.below(200);
        check(&random_page(&mut rng, pieces));
    }
}

#[test]
fn random_pages_never_panic_and_stay_within_the_caps() {
    random_pages(3000, 0x5eed);
}

#[test]
#[ignore = "more cases: run with --ignored"]
fn many_more_random_pages() {
    random_pages(300_000, 0xfeed);
}

/// Pages made to blow a reader up, each `n` bytes long (about).
fn hostile(shape: &str, n: usize) -> Vec<u8> {
    let unit: &[u8] = match shape {
        "href" => b"href=",
        "a href" => b"<a href=",
        "links" => b"<a href=/x>",
        "long value" => b"x",
        "comments" => b"<!--",
        "bases" => b"<base href=/b/>",
        "references" => b"&amp;",
        "attributes" => b" href=/x",
        _ => unreachable!(),
    };
    let mut page = match shape {
        "long value" => b"<a href=/".to_vec(),
        "references" => b"<a href=\"/?".to_vec(),
        "attributes" => b"<a".to_vec(),
        _ => Vec::new(),
    };
    while page.len() < n {
        page.extend_from_slice(unit);
    }
    page.extend_from_slice(b">");
    page
}

const SHAPES: &[&str] = &[
    "href",
    "a href",
    "links",
    "long value",
    "comments",
    "bases",
    "references",
    "attributes",
];

/// The least time of `runs` runs of reading `page`.
fn time(page: &[u8], runs: usize) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let found = links::links(&page_url(), page);
            let spent = start.elapsed();
            assert!(found.urls.len() <= MAX_LINKS);
            spent
        })
        .min()
        .unwrap()
}

#[test]
fn time_grows_with_the_page_not_with_its_square() {
    for shape in SHAPES {
        let small = hostile(shape, 1 << 10);
        let large = hostile(shape, 1 << 20);
        check(&small);
        check(&large);
        // 1024 times the bytes: linear is about 1024 times the time, quadratic a million.
        // Per byte, the large page may cost up to 10 times what the small one does (caches,
        // allocation, a busy machine); a quadratic reader costs a thousand times.
        let per_small = time(&small, 200).as_secs_f64() / small.len() as f64;
        let per_large = time(&large, 2).as_secs_f64() / large.len() as f64;
        let ratio = per_large / per_small.max(1e-12);
        assert!(
            ratio < 10.0,
            "{shape}: the large page costs {ratio:.1}x per byte"
        );
        eprintln!("{shape:>12}: 1 MiB costs {ratio:.2}x per byte what 1 KiB does");
    }
}

#[test]
fn what_hostile_pages_give() {
    let page = page_url();
    let mib = 1 << 20;
    let found = |shape| links::links(&page, &hostile(shape, mib));
    // Text, not tags: no link at all (the old reader made 42 MB of links from 20 KB of this).
    assert_eq!(found("href"), links::Links::default());
    // One tag: its first value is `<a`, the rest are repeats of its `href`.
    assert_eq!(found("a href").urls.len(), 1);
    // One tag whose value runs to the end: too long to follow.
    assert_eq!(found("long value").too_long, 1);
    let many = found("links");
    assert_eq!((many.urls.len(), many.capped), (MAX_LINKS, true));
    assert_eq!(found("comments").urls.len(), 0);
    // One tag with a hundred thousand `href`s: the first counts.
    assert_eq!(found("attributes").urls.len(), 1);
}

/// Stage 5 on a page of `href=` repeated to the response cap: it finishes, the page is read
/// and yields nothing to follow. (Memory: this test's process stays under 100 MB of peak
/// resident memory, as `/usr/bin/time -v` shows; the old reader needed gigabytes.)
#[test]
fn stage_5_finishes_on_a_page_of_href_repeated() {
    let head = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n";
    let body = "href=".repeat(((1 << 20) - head.len() - 100) / 5);
    let bomb = format!("{head}{body}");
    let links_page = format!("{head}{}", "<a href=/x>".repeat(90_000));
    let pages = [
        ("/", bomb.as_str()),
        ("/links", links_page.as_str()),
        ("/x", "x"),
    ];
    let server = PageServer::start(&pages);
    let roots = vec![server.url("/"), server.url("/links")];
    let crawled = support::within(Duration::from_secs(60), move || {
        stage5::crawl_with(
            &roots,
            Instant::now() + Duration::from_secs(30),
            &Options::default(),
        )
    });
    for outcome in &crawled.outcomes {
        assert!(outcome.is_ok(), "{}: {:?}", outcome.url, outcome.result);
    }
    let [bomb, links, x] = &crawled.found[..] else {
        panic!("{:?}", crawled.found);
    };
    assert_eq!((bomb.links, bomb.new, bomb.capped), (0, 0, false));
    // Read up to the cap, which the report will say; the ten thousand links are one URL.
    assert_eq!((links.links, links.new, links.capped), (1, 1, true));
    assert_eq!(x.links, 0);
    let report = crawler::report::render_found(&crawled);
    assert!(
        report.contains(&format!("more than {MAX_LINKS} links: the rest not read")),
        "{report}"
    );
    assert!(report.contains("1 page had more than"), "{report}");
}
