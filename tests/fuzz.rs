//! The fuzz suite: deterministic, bounded property tests for the parsers that take bytes from
//! the network — the response reader and URLs. (The link reader's are in `tests/links.rs`.)
//!
//! - no input makes them panic;
//! - the response reader holds at most twice its cap, whatever it is fed;
//! - it gives the same answer however the bytes are split into reads: at every byte boundary,
//!   one byte per read, in random pieces, through `spare`/`filled`;
//! - a well-formed response, however it is framed, always parses to its body;
//! - time is linear in the input: 64 KiB against 64 × 1 KiB, as a ratio, and 1 MiB under
//!   `--ignored` (the response reader's is `a_trickled_response_takes_linear_time` in
//!   `tests/hostile.rs`);
//! - every URL that parses prints as a URL that parses back to itself, and a link resolved
//!   against any base does too.
//!
//! A seeded generator (xorshift) makes every run the same. Plain `cargo test` runs a few
//! hundred cases of each, in a second or two; `cargo test --test fuzz -- --ignored` runs 100
//! times more (`LOOPLAB_FUZZ_CASES=N` sets the count for both).

use std::mem::discriminant;
use std::time::{Duration, Instant};

use crawler::fetch::{FetchError, Page};
use crawler::http::ResponseReader;
use crawler::url::Url;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// How many cases: `default`, or `LOOPLAB_FUZZ_CASES`.
fn cases(default: usize) -> usize {
    std::env::var("LOOPLAB_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The plain run's cases, and the `--ignored` run's.
const FEW: usize = 300;
const MANY: usize = 30_000;

// ---------------------------------------------------------------------------------------------
// The response reader
// ---------------------------------------------------------------------------------------------

/// A well-formed response, framed one of the ways RFC 9112 allows, and the page it must give.
/// A response that frames itself may be followed by bytes that are not its own.
fn valid_response(rng: &mut Rng) -> (Vec<u8>, u16, Vec<u8>) {
    let status = [200u16, 301, 404, 500][rng.below(4)];
    let body: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
    let eol = |rng: &mut Rng| if rng.chance(4) { "\n" } else { "\r\n" };
    let mut text = String::new();
    if rng.chance(8) {
        text.push_str(eol(rng)); // an empty line before the status line is skipped
    }
    text.push_str(&format!(
        "HTTP/1.{} {status} Whatever{}",
        rng.below(2),
        eol(rng)
    ));
    for i in 0..rng.below(4) {
        text.push_str(&format!("X-Header-{i}: value {i}{}", eol(rng)));
    }
    let mut bytes;
    match rng.below(3) {
        0 => {
            text.push_str(&format!("Content-Length: {}{}", body.len(), eol(rng)));
            text.push_str(eol(rng));
            bytes = [text.as_bytes(), &body].concat();
        }
        1 => {
            if rng.chance(3) {
                text.push_str(&format!("Transfer-Encoding: identity{}", eol(rng)));
            }
            text.push_str(&format!("Transfer-Encoding: chunked{}", eol(rng)));
            text.push_str(eol(rng));
            bytes = text.into_bytes();
            let mut rest = &body[..];
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(1 + rng.below(rest.len()));
                let zeros = "0".repeat(rng.below(3));
                let ext = ["", ";x", ";x=1", " ;name=\"v\"", "\t"][rng.below(5)];
                let size = format!("{zeros}{:x}{ext}{}", chunk.len(), eol(rng));
                bytes.extend_from_slice(size.as_bytes());
                bytes.extend_from_slice(chunk);
                bytes.extend_from_slice(eol(rng).as_bytes());
                rest = tail;
            }
            bytes.extend_from_slice(format!("0{}", eol(rng)).as_bytes());
            for i in 0..rng.below(3) {
                bytes.extend_from_slice(format!("Trailer-{i}: t{}", eol(rng)).as_bytes());
            }
            bytes.extend_from_slice(eol(rng).as_bytes());
        }
        _ => {
            // No length: the body ends with the stream, so nothing may follow it.
            text.push_str(eol(rng));
            return ([text.as_bytes(), &body].concat(), status, body);
        }
    }
    if rng.chance(2) {
        let extra: Vec<u8> = (0..1 + rng.below(100)).map(|_| rng.next() as u8).collect();
        bytes.extend_from_slice(&extra);
    }
    (bytes, status, body)
}

/// Pieces responses are made of, good and bad, so random mixes reach deep into the reader.
const PIECES: &[&[u8]] = &[
    b"HTTP/1.0 ",
    b"HTTP/1.1 200 OK\r\n",
    b"200 OK",
    b"2x0",
    b"\r\n",
    b"\n",
    b"\r",
    b"Content-Length: ",
    b"Content-Length: 5\r\n",
    b"Content-Length: +5",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: identity\r\n",
    b"Transfer-Encoding: gzip",
    b"X: y\r\n",
    b"0\r\n",
    b"5\r\nhello\r\n",
    b"ff",
    b";ext",
    b" ",
    b"\x00\xff",
];

/// Some bytes: a valid response broken a little, or a random mix of pieces.
fn hostile_bytes(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = match rng.chance(2) {
        true => valid_response(rng).0,
        false => Vec::new(),
    };
    for _ in 0..rng.below(12) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 => drop(bytes.splice(at..at, rng.pick(PIECES).iter().copied())),
            1 if at < bytes.len() => bytes[at] = rng.next() as u8,
            2 if at < bytes.len() => drop(bytes.remove(at)),
            _ => bytes.insert(at, rng.next() as u8),
        }
    }
    bytes
}

/// How a test reads: where each read ends, and through which method.
#[derive(Clone, Copy)]
enum Reads<'a> {
    /// Reads that end at these offsets, then one to the end.
    At(&'a [usize]),
    /// At most this many bytes a read.
    Most(usize),
}

/// What the reader said, and the most it held meanwhile.
struct Outcome {
    said: Result<Page, FetchError>,
    held: usize,
}

/// Reads `bytes`, then the end of the stream, with a reader capped at `limit`.
fn read(bytes: &[u8], limit: usize, reads: Reads) -> Outcome {
    let mut reader = ResponseReader::with_limit(limit);
    let (mut held, mut at) = (0, 0);
    let mut ends = match reads {
        Reads::At(ends) => ends.to_vec(),
        Reads::Most(most) => (1..=bytes.len().div_ceil(most.max(1)))
            .map(|i| i.saturating_mul(most))
            .collect(),
    }
    .into_iter()
    .map(|end| end.min(bytes.len()))
    .chain([bytes.len()]);
    let mut end = 0;
    loop {
        while end <= at && at < bytes.len() {
            end = ends.next().unwrap_or(bytes.len());
        }
        let room = reader.spare();
        assert!(room.len() <= limit + 1, "lent {} past {limit}", room.len());
        let n = room.len().min(end - at);
        room[..n].copy_from_slice(&bytes[at..at + n]);
        at += n;
        let said = reader.filled(n);
        held = held.max(reader.held());
        match said {
            Ok(None) => {}
            Ok(Some(page)) => {
                return Outcome {
                    said: Ok(page),
                    held,
                };
            }
            Err(e) => return Outcome { said: Err(e), held },
        }
    }
}

/// Two outcomes agree: the same page, or errors of the same kind.
fn same(a: &Outcome, b: &Outcome) -> bool {
    match (&a.said, &b.said) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => discriminant(a) == discriminant(b),
        _ => false,
    }
}

/// The properties of the reader on one input, under one cap: no panic (the test would
/// fail), at most twice the cap held, and one answer whichever way the bytes arrive.
fn check_reader(case: usize, bytes: &[u8], limit: usize, every_split: bool) {
    let whole = read(bytes, limit, Reads::Most(usize::MAX));
    let mut others = vec![
        read(bytes, limit, Reads::Most(1)),
        read(bytes, limit, Reads::Most(7)),
    ];
    if every_split {
        for split in 1..bytes.len() {
            others.push(read(bytes, limit, Reads::At(&[split])));
        }
    }
    for (i, other) in others.iter().enumerate() {
        assert!(
            same(&whole, other),
            "case {case}, limit {limit}, read {i}: {:?} / {:?}\n{:?}",
            whole.said,
            other.said,
            String::from_utf8_lossy(bytes)
        );
    }
    for outcome in others.iter().chain([&whole]) {
        assert!(
            outcome.held <= (2 * (limit + 1)).max(8),
            "case {case}: held {} under a cap of {limit}",
            outcome.held
        );
    }
}

fn hostile_responses(cases: usize) {
    let mut rng = Rng(0x5EED_0023_0000_0001);
    for case in 0..cases {
        let bytes = hostile_bytes(&mut rng);
        check_reader(case, &bytes, 1 << 20, case % 4 == 0);
        // A cap the response may well cross: still one answer, and at most twice the cap.
        check_reader(case, &bytes, rng.below(bytes.len() + 8), false);
    }
}

#[test]
fn hostile_responses_give_one_answer_however_they_are_split() {
    hostile_responses(cases(FEW));
}

#[test]
#[ignore = "the long run of hostile_responses_give_one_answer_however_they_are_split"]
fn hostile_responses_at_length() {
    hostile_responses(cases(MANY));
}

fn valid_responses(cases: usize) {
    let mut rng = Rng(0x5EED_0023_0000_0002);
    for case in 0..cases {
        let (bytes, status, body) = valid_response(&mut rng);
        let show = || String::from_utf8_lossy(&bytes).to_string();
        for reads in [
            Reads::Most(usize::MAX),
            Reads::Most(1),
            Reads::Most(1 + rng.below(16)),
        ] {
            let page = read(&bytes, 1 << 20, reads)
                .said
                .unwrap_or_else(|e| panic!("case {case}: {e}: {:?}", show()));
            assert_eq!((page.status, &page.body), (status, &body), "case {case}");
        }
        check_reader(case, &bytes, 1 << 20, case % 8 == 0);
    }
}

#[test]
fn a_valid_response_always_parses_to_its_body() {
    valid_responses(cases(FEW));
}

#[test]
#[ignore = "the long run of a_valid_response_always_parses_to_its_body"]
fn valid_responses_at_length() {
    valid_responses(cases(MANY));
}

// ---------------------------------------------------------------------------------------------
// URLs, through what the crawler uses: `Url::parse`, `Url::join`, and printing
// ---------------------------------------------------------------------------------------------

/// Pieces URLs and links are made of.
const URL_PIECES: &[&str] = &[
    "http://",
    "HTTP://",
    "https://",
    "ftp://",
    "//",
    "127.0.0.1",
    "localhost",
    "[::1]",
    "[",
    "]",
    ":",
    ":8000",
    ":0",
    ":99999",
    "/",
    "/a/b",
    "?q=1",
    "#frag",
    "@",
    " ",
    "..",
    ".",
    "./",
    "../",
    "%2e",
    "%2E%2e",
    "%C3%a9",
    "%41",
    "%",
    "%zz",
    "?",
    ";x=1",
    "\\",
    "\t",
    "\n",
    "é",
    "日本",
    "\u{0}",
    "\u{7f}",
    "http:",
    "mailto:",
    "javascript:",
    "data:,x",
];

/// A random URL or link: pieces, and now and then any character at all.
fn random_url(rng: &mut Rng) -> String {
    let mut text = String::new();
    for _ in 0..rng.below(10) {
        if rng.chance(5) {
            text.push(char::from_u32(rng.below(0x3000) as u32).unwrap_or('x'));
        } else {
            text.push_str(rng.pick(URL_PIECES));
        }
    }
    text
}

fn urls(cases: usize) {
    let mut rng = Rng(0x5EED_0023_0000_0003);
    let bases: Vec<Url> = [
        "http://127.0.0.1:8000/a/b",
        "http://h/",
        "http://[::1]:1/x/?q",
    ]
    .iter()
    .map(|base| Url::parse(base).unwrap())
    .collect();
    for case in 0..cases {
        let text = random_url(&mut rng);
        if let Ok(url) = Url::parse(&text) {
            let printed = url.to_string();
            let again = Url::parse(&printed)
                .unwrap_or_else(|e| panic!("case {case}: {text:?} → {printed} → {e}"));
            assert_eq!(url, again, "case {case}: {text:?}");
            assert_eq!(again.to_string(), printed, "case {case}: {text:?}");
        }
        for base in &bases {
            let Some(link) = base.join(&text) else {
                continue;
            };
            let printed = link.to_string();
            let again = Url::parse(&printed)
                .unwrap_or_else(|e| panic!("case {case}: {text:?} → {printed} → {e}"));
            assert_eq!(link, again, "case {case}: {text:?} against {base}");
            // An absolute URL means the same against any base.
            for other in &bases {
                assert_eq!(other.join(&printed), Some(link.clone()), "case {case}");
            }
        }
    }
}

#[test]
fn every_url_prints_as_itself_and_every_link_resolves_to_one() {
    urls(cases(FEW * 10));
}

#[test]
#[ignore = "the long run of every_url_prints_as_itself_and_every_link_resolves_to_one"]
fn urls_at_length() {
    urls(cases(MANY * 10));
}

/// The most that parsing and resolving a long URL may cost against a 1 KiB one as many times:
/// about 1 if linear, as many times more as it is longer if quadratic.
const LINEAR: f64 = 8.0;

/// URLs of 1 KiB and of `large` bytes, of the shapes that make a resolver work: dot segments
/// to remove, percent-encodings to normalise, characters to encode.
fn url_time(large: usize) {
    let mut ratios = Vec::new();
    for segment in ["a/../", "./", "%2e%2E/x/", "%41%c3%A9 é/", "b/"] {
        let url = |size: usize| {
            let path = segment.repeat(size / segment.len());
            format!("http://example.com/{path}?{}", "q%7e".repeat(size / 64))
        };
        let (small, large) = (url(1024), url(large));
        let base = Url::parse("http://example.com/x/y").unwrap();
        let work = |text: &str| {
            let parsed = Url::parse(text).map(|url| url.to_string().len());
            let joined = base.join(&text[18..]).map(|url| url.to_string().len());
            (parsed.ok(), joined)
        };
        let time = |text: &str, reps: usize| {
            let start = Instant::now();
            for _ in 0..reps {
                std::hint::black_box(work(text));
            }
            start.elapsed()
        };
        let reps = large.len() / small.len();
        let time_small = (0..2).map(|_| time(&small, reps)).min().unwrap();
        let time_large = (0..2).map(|_| time(&large, 1)).min().unwrap();
        let ratio =
            time_large.as_secs_f64() / time_small.max(Duration::from_micros(1)).as_secs_f64();
        assert!(
            ratio < LINEAR,
            "{segment:?}: {} bytes took {ratio:.1}× the time of {reps} × 1 KiB",
            large.len()
        );
        ratios.push(format!("{segment:?}: {ratio:.2}"));
    }
    println!(
        "URLs, {large} bytes against 1 KiB as often: {}",
        ratios.join(", ")
    );
}

/// A URL of 64 KiB costs what 64 of 1 KiB cost (quadratic work would make it 64 times more).
#[test]
fn url_time_is_linear_in_the_length() {
    url_time(64 << 10);
}

#[test]
#[ignore = "the long run of url_time_is_linear_in_the_length"]
fn url_time_at_one_mebibyte() {
    url_time(1 << 20);
}
