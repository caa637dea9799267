//! Property tests for the two parsers every stage trusts with bytes from the network: no input
//! makes them panic, and the way bytes are split into reads never changes the answer. URLs
//! also resolve as every example of RFC 3986 §5.4 says, and every spelling of one URL comes
//! out in one normal form, which normalising again does not change.
//!
//! A small seeded generator (xorshift) keeps the cases reproducible without a dependency.
//! `LOOPLAB_PROPTEST_CASES=1000000 cargo test --release --test parsers` runs a longer hunt;
//! the default is bounded to a second or two in CI.

use std::mem::discriminant;

use crawler::fetch::{FetchError, Page};
use crawler::http::ResponseReader;
use crawler::url::Url;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

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

/// Reads `bytes` through `spare`/`filled`, in random pieces (each no larger than the room
/// lent), then the end of the stream.
fn feed_in_pieces(rng: &mut Rng, bytes: &[u8], limit: usize) -> Result<Page, FetchError> {
    let mut reader = ResponseReader::with_limit(limit);
    let mut rest = bytes;
    loop {
        let room = reader.spare();
        let n = room
            .len()
            .min(1 + rng.below(rest.len().max(1)))
            .min(rest.len());
        room[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        if let Some(page) = reader.filled(n)? {
            return Ok(page);
        }
    }
}

#[test]
fn the_response_parser_never_panics_and_ignores_how_reads_split() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for case in 0..cases() {
        let bytes = random_bytes(&mut rng);
        // A limit large enough that "too large" cannot decide the case differently.
        let whole = ResponseReader::with_limit(1 << 20).parse(&bytes);
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
    b"./",
    b"../",
    b"%2e",
    b"%2E%2e",
    b"%C3%a9",
    b"%41",
    b"%",
    b"%zz",
    b"?",
    b";x=1",
    b"\\",
    b"\t",
    b"//",
    b"http:",
    b"mailto:",
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
            // What we print, we can parse back to the same thing: normalising twice changes
            // nothing.
            let again = Url::parse(&url.to_string())
                .unwrap_or_else(|e| panic!("case {case}: {text:?} → {url} → {e}"));
            assert_eq!(url, again, "case {case}: {text:?}");
        }
        // Links found on pages are just as arbitrary; what they resolve to is normal too.
        if let Some(link) = base.join(&text) {
            let again = Url::parse(&link.to_string())
                .unwrap_or_else(|e| panic!("case {case}: {text:?} → {link} → {e}"));
            assert_eq!(link, again, "case {case}: {text:?}");
            assert_eq!(
                base.join(&link.to_string()),
                Some(link),
                "case {case}: {text:?}"
            );
        }
    }
}

/// The base of every example in RFC 3986 §5.4.
const RFC_BASE: &str = "http://a/b/c/d;p?q";

/// RFC 3986 §5.4.1, "Normal Examples": each reference and what it resolves to.
const RFC_NORMAL: &[(&str, &str)] = &[
    ("g:h", "g:h"),
    ("g", "http://a/b/c/g"),
    ("./g", "http://a/b/c/g"),
    ("g/", "http://a/b/c/g/"),
    ("/g", "http://a/g"),
    ("//g", "http://g"),
    ("?y", "http://a/b/c/d;p?y"),
    ("g?y", "http://a/b/c/g?y"),
    ("#s", "http://a/b/c/d;p?q#s"),
    ("g#s", "http://a/b/c/g#s"),
    ("g?y#s", "http://a/b/c/g?y#s"),
    (";x", "http://a/b/c/;x"),
    ("g;x", "http://a/b/c/g;x"),
    ("g;x?y#s", "http://a/b/c/g;x?y#s"),
    ("", "http://a/b/c/d;p?q"),
    (".", "http://a/b/c/"),
    ("./", "http://a/b/c/"),
    ("..", "http://a/b/"),
    ("../", "http://a/b/"),
    ("../g", "http://a/b/g"),
    ("../..", "http://a/"),
    ("../../", "http://a/"),
    ("../../g", "http://a/g"),
];

/// RFC 3986 §5.4.2, "Abnormal Examples". For `http:g` the RFC gives two answers: `http:g`
/// for a strict parser, `http://a/b/c/g` for backward compatibility. This one is the second,
/// as browsers are.
const RFC_ABNORMAL: &[(&str, &str)] = &[
    ("../../../g", "http://a/g"),
    ("../../../../g", "http://a/g"),
    ("/./g", "http://a/g"),
    ("/../g", "http://a/g"),
    ("g.", "http://a/b/c/g."),
    (".g", "http://a/b/c/.g"),
    ("g..", "http://a/b/c/g.."),
    ("..g", "http://a/b/c/..g"),
    ("./../g", "http://a/b/g"),
    ("./g/.", "http://a/b/c/g/"),
    ("g/./h", "http://a/b/c/g/h"),
    ("g/../h", "http://a/b/c/h"),
    ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
    ("g;x=1/../y", "http://a/b/c/y"),
    ("g?y/./x", "http://a/b/c/g?y/./x"),
    ("g?y/../x", "http://a/b/c/g?y/../x"),
    ("g#s/./x", "http://a/b/c/g#s/./x"),
    ("g#s/../x", "http://a/b/c/g#s/../x"),
    ("http:g", "http://a/b/c/g"),
];

/// Resolves each reference against the RFC's base. What a crawler keeps differs from the
/// RFC's answer in two ways only: the fragment is dropped (it never goes to the server), and
/// a URL of another scheme (`g:h`) is no `Url` at all: `join` gives `None`. An empty path is
/// `/` (`http://g` is `http://g/`).
fn check_rfc_examples(examples: &[(&str, &str)]) {
    let base = Url::parse(RFC_BASE).unwrap();
    for (reference, resolved) in examples {
        let expected = match resolved.split('#').next().unwrap() {
            "http://g" => Some("http://g/".to_string()),
            url if url.starts_with("http://") => Some(url.to_string()),
            _ => None,
        };
        let got = base.join(reference).map(|url| url.to_string());
        assert_eq!(got, expected, "{reference:?} against {RFC_BASE}");
    }
}

#[test]
fn resolution_agrees_with_the_normal_examples_of_rfc_3986() {
    check_rfc_examples(RFC_NORMAL);
}

#[test]
fn resolution_agrees_with_the_abnormal_examples_of_rfc_3986() {
    check_rfc_examples(RFC_ABNORMAL);
}

/// Characters that stand for themselves in a path: unreserved, sub-delims, `:` and `@`.
const PATH_LITERALS: &str = "-._~!$&'()*+,;=:@";

/// The characters the spellings are made of: letters, digits and `PATH_LITERALS`, and others a
/// URI must percent-encode (space, quotes, brackets, `%`, non-ASCII).
const CHARS: &[char] = &[
    'a', 'Z', '0', '9', '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=',
    ':', '@', ' ', '"', '<', '>', '\\', '^', '`', '{', '|', '}', '[', ']', '%', 'é', '日',
];

/// `c` as a URL holds it in normal form: as it is, or its UTF-8 bytes as `%XX`, upper case.
fn normal(c: char, literals: &str) -> String {
    if c.is_ascii_alphanumeric() || literals.contains(c) {
        c.to_string()
    } else {
        encoded(c, false)
    }
}

fn encoded(c: char, lower: bool) -> String {
    let mut bytes = [0; 4];
    c.encode_utf8(&mut bytes)
        .bytes()
        .map(|b| match lower {
            true => format!("%{b:02x}"),
            false => format!("%{b:02X}"),
        })
        .collect()
}

/// `c`, spelled one of the ways that mean the same: as it is when a URI may hold it (or when
/// it may not, but a parser encodes it: `é`, `"`); `%XX` in either case when that means the
/// same (always, but for the sub-delims, `:` and `@`, whose encoding is another character).
fn spell(rng: &mut Rng, c: char, literals: &str) -> String {
    let unreserved = c.is_ascii_alphanumeric() || "-._~".contains(c);
    let literal = c.is_ascii_alphanumeric() || literals.contains(c);
    match rng.below(4) {
        1 if unreserved || !literal => encoded(c, false),
        2 if unreserved || !literal => encoded(c, true),
        // Not `\`: as it is, a browser reads it as `/`.
        3 if !literal && c != '%' && c != ' ' && c != '\\' => c.to_string(),
        _ => normal(c, literals),
    }
}

/// A segment (never `.` or `..`) or a query, as characters.
fn random_chars(rng: &mut Rng, extra: &[char]) -> Vec<char> {
    let pick = |rng: &mut Rng| match rng.below(CHARS.len() + extra.len()) {
        i if i < CHARS.len() => CHARS[i],
        i => extra[i - CHARS.len()],
    };
    let mut chars: Vec<char> = (0..1 + rng.below(4)).map(|_| pick(rng)).collect();
    if chars.iter().all(|c| *c == '.') {
        chars.push('a');
    }
    chars
}

fn spell_all(rng: &mut Rng, chars: &[char], literals: &str) -> String {
    chars.iter().map(|c| spell(rng, *c, literals)).collect()
}

/// A path that means the same as `/` and `segments`: each segment spelled its own way, with
/// `./` or `junk/../` (the dots spelled in any case of `%2E`) before some of them.
fn spell_path(rng: &mut Rng, segments: &[Vec<char>], directory: bool) -> String {
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        match rng.below(4) {
            0 => path.push_str("./"),
            1 => {
                let junk = random_chars(rng, &[]);
                let dots = ["..", "%2E%2E", "%2e.", ".%2E"][rng.below(4)];
                path.push_str(&format!("{}/{dots}/", spell_all(rng, &junk, PATH_LITERALS)));
            }
            _ => {}
        }
        path.push_str(&spell_all(rng, segment, PATH_LITERALS));
    }
    if directory || segments.is_empty() {
        path.push('/');
    }
    path
}

#[test]
fn the_same_page_spelled_many_ways_is_one_url() {
    let mut rng = Rng(0x5EED_1234_ABCD_0004);
    // Not `'`: a browser sends it as `%27` in a query (WHATWG's special-query set).
    let query_literals = &format!("{}/?", PATH_LITERALS.replace('\'', ""));
    for case in 0..cases() / 4 {
        // The page, as characters, and its URL in normal form.
        let port = [80, 8000][rng.below(2)];
        let segments: Vec<Vec<char>> = (0..rng.below(4))
            .map(|_| random_chars(&mut rng, &[]))
            .collect();
        let directory = rng.below(2) == 0;
        let query = (rng.below(2) == 0).then(|| random_chars(&mut rng, &['/', '?', '.']));
        let mut expected = String::from("http://example.com");
        if port != 80 {
            expected.push_str(&format!(":{port}"));
        }
        for segment in &segments {
            expected.push('/');
            expected.extend(segment.iter().map(|c| normal(*c, PATH_LITERALS)));
        }
        if directory || segments.is_empty() {
            expected.push('/');
        }
        if let Some(query) = &query {
            expected.push('?');
            expected.extend(query.iter().map(|c| normal(*c, query_literals)));
        }

        // One of its spellings, as a link on another page of the same host.
        let mut tail = spell_path(&mut rng, &segments, directory);
        if let Some(query) = &query {
            tail.push('?');
            tail.push_str(&spell_all(&mut rng, query, query_literals));
        }
        if rng.below(2) == 0 {
            tail.push('#');
            let fragment = random_chars(&mut rng, &['#', '?', '/']);
            tail.push_str(&spell_all(&mut rng, &fragment, ""));
        }
        let host = [
            "example.com",
            "EXAMPLE.com",
            "Example.Com",
            "%45xample.c%6fm",
        ][rng.below(4)];
        let port_text = match port {
            80 => ["", ":", ":80", ":080"][rng.below(4)].to_string(),
            _ => [format!(":{port}"), format!(":0{port}")][rng.below(2)].clone(),
        };
        let scheme = ["http:", "HTTP:", "Http:"][rng.below(3)];
        let link = match rng.below(4) {
            0 => format!("{scheme}//{host}{port_text}{tail}"),
            1 => format!("//{host}{port_text}{tail}"),
            2 => tail,
            // From `/x/y/z`, two `..` or more climb to the root.
            _ => "../".repeat(2 + rng.below(3)) + &tail[1..],
        };

        let base = Url::parse(&format!("http://example.com:{port}/x/y/z?base")).unwrap();
        let joined = base.join(&link).map(|url| url.to_string());
        assert_eq!(
            joined.as_deref(),
            Some(expected.as_str()),
            "case {case}: {link:?}"
        );
        if link.starts_with("http") {
            let parsed = Url::parse(&link).map(|url| url.to_string()).ok();
            assert_eq!(
                parsed.as_deref(),
                Some(expected.as_str()),
                "case {case}: {link:?}"
            );
        }
    }
}
