//! Property tests for the two parsers every stage trusts with bytes from the network: no input
//! makes them panic, and the way bytes are split into reads never changes the answer.
//!
//! A small seeded generator (xorshift) keeps the cases reproducible without a dependency.
//! `LOOPLAB_PROPTEST_CASES=1000000 cargo test --release --test parsers` runs a longer hunt;
//! the default is bounded to a second or two in CI.

use std::mem::discriminant;

use crawler::fetch::{FetchError, Page};
use crawler::http::ResponseReader;
use crawler::url::Url;

/// xorshift64*: tiny, fast, good enough to explore inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

fn cases() -> u64 {
    std::env::var("LOOPLAB_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

/// Pieces responses are made of, good and bad, so random mixes reach deep into the parser.
const PIECES: &[&[u8]] = &[
    b"HTTP/1.0 ",
    b"HTTP/1.1 ",
    b"HTTP/2 ",
    b"200 OK",
    b"404 Not Found",
    b"999 ",
    b"2x0",
    b"\r\n",
    b"\n",
    b"\r",
    b"Content-Length: ",
    b"Content-Length: 5",
    b"Content-Length: -1",
    b"Content-Length: 99999999999999999999",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip",
    b"X: y",
    b": ",
    b"0",
    b"5",
    b"ff",
    b"hello",
    b"\x00\xff",
    b" ",
    b";ext",
];

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..rng.below(24) {
        if rng.below(4) == 0 {
            bytes.push(rng.next() as u8);
        } else {
            bytes.extend_from_slice(rng.pick(PIECES));
        }
    }
    bytes
}

/// Feeds `bytes` in random pieces, then the end of the stream.
fn feed_in_pieces(rng: &mut Rng, bytes: &[u8], limit: usize) -> Result<Page, FetchError> {
    let mut reader = ResponseReader::with_limit(limit);
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len());
        let (piece, tail) = rest.split_at(n);
        if let Some(page) = reader.feed(piece)? {
            return Ok(page);
        }
        rest = tail;
    }
    Ok(reader
        .feed(b"")?
        .expect("the end of the stream always decides"))
}

fn feed_whole(bytes: &[u8], limit: usize) -> Result<Page, FetchError> {
    let mut reader = ResponseReader::with_limit(limit);
    if !bytes.is_empty() {
        if let Some(page) = reader.feed(bytes)? {
            return Ok(page);
        }
    }
    Ok(reader
        .feed(b"")?
        .expect("the end of the stream always decides"))
}

#[test]
fn the_response_parser_never_panics_and_ignores_how_reads_split() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for case in 0..cases() {
        let bytes = random_bytes(&mut rng);
        // A limit large enough that "too large" cannot decide the case differently.
        let whole = feed_whole(&bytes, 1 << 20);
        let pieces = feed_in_pieces(&mut rng, &bytes, 1 << 20);
        match (&whole, &pieces) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "case {case}: {bytes:?}"),
            (Err(a), Err(b)) => assert_eq!(
                discriminant(a),
                discriminant(b),
                "case {case}: {bytes:?}: {a} / {b}"
            ),
            _ => panic!("case {case}: {bytes:?}: {whole:?} vs {pieces:?}"),
        }
        // A tiny limit must give an error, never a panic.
        let tiny = rng.below(64);
        let _ = feed_in_pieces(&mut rng, &bytes, tiny);
    }
}

/// A well-formed response, randomly framed, and the page it must parse to.
fn random_response(rng: &mut Rng) -> (Vec<u8>, u16, Vec<u8>) {
    let status = [200u16, 301, 404, 500][rng.below(4)];
    let body: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
    let mut bytes = format!("HTTP/1.{} {status} Whatever\r\n", rng.below(2)).into_bytes();
    for i in 0..rng.below(5) {
        bytes.extend_from_slice(format!("X-Header-{i}: value {i}\r\n").as_bytes());
    }
    match rng.below(3) {
        0 => {
            bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            bytes.extend_from_slice(&body);
        }
        1 => {
            bytes.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = &body[..];
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(1 + rng.below(rest.len()));
                bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                bytes.extend_from_slice(chunk);
                bytes.extend_from_slice(b"\r\n");
                rest = tail;
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        }
        _ => {
            // No length: the body ends with the stream.
            bytes.extend_from_slice(b"\r\n");
            bytes.extend_from_slice(&body);
        }
    }
    (bytes, status, body)
}

#[test]
fn well_formed_responses_parse_back_however_they_are_split() {
    let mut rng = Rng(0x5EED_1234_ABCD_0002);
    for case in 0..cases() / 4 {
        let (bytes, status, body) = random_response(&mut rng);
        let page = feed_in_pieces(&mut rng, &bytes, 1 << 20)
            .unwrap_or_else(|e| panic!("case {case}: {e}: {:?}", String::from_utf8_lossy(&bytes)));
        assert_eq!((page.status, &page.body), (status, &body), "case {case}");
    }
}

/// Pieces URLs are made of.
const URL_PIECES: &[&[u8]] = &[
    b"http://",
    b"HTTP://",
    b"https://",
    b"ftp://",
    b"://",
    b"127.0.0.1",
    b"localhost",
    b"[::1]",
    b"[",
    b"]",
    b":",
    b":8000",
    b":0",
    b":99999",
    b"/",
    b"/a/b",
    b"?q=1",
    b"#frag",
    b"@",
    b" ",
    b"..",
    b"%20",
    b"\xc3\xa9",
];

#[test]
fn the_url_parser_never_panics_and_round_trips() {
    let mut rng = Rng(0x5EED_1234_ABCD_0003);
    let base = Url::parse("http://127.0.0.1:8000/a/b").unwrap();
    for case in 0..cases() {
        let mut bytes = Vec::new();
        for _ in 0..rng.below(8) {
            bytes.extend_from_slice(rng.pick(URL_PIECES));
        }
        let text = String::from_utf8_lossy(&bytes).to_string();
        if let Ok(url) = Url::parse(&text) {
            // What we print, we can parse back to the same thing.
            let again = Url::parse(&url.to_string())
                .unwrap_or_else(|e| panic!("case {case}: {text:?} → {url} → {e}"));
            assert_eq!(url, again, "case {case}: {text:?}");
        }
        // Links found on pages are just as arbitrary.
        let _ = base.join(&text);
    }
}
