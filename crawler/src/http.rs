//! HTTP/1.0, client side: the request bytes and an incremental response reader.
//!
//! Every stage (blocking read, callback, coroutine, `async fn`) reads straight into a
//! [`ResponseReader`]'s buffer, `spare` then `filled`: it holds no buffer of its own across a
//! wait. The response is complete at the end of the stream, or once the body reaches its
//! `Content-Length` or last chunk, even if the server keeps the connection open. Every way a
//! response can be wrong is a [`FetchError`].
//!
//! A server may be hostile. The reader looks at each byte once, however reads split them: a
//! response trickled one byte per read costs time linear in its size. It follows RFC 9112
//! where a lenient reader could be fooled about where a response ends, and ignores what comes
//! after the end (HTTP/1.0 has no pipelining).

use crate::fetch::{FetchError, Page};
use crate::url::Url;

mod chunked;
use chunked::Chunked;

/// The largest response (head and body) a fetch accepts: 1 MiB.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

const MAX_HEADERS: usize = 64;

/// The room [`ResponseReader::spare`] lends before any byte arrives: all a waiting fetch holds.
const FIRST_READ: usize = 64;

/// The request every stage sends: HTTP/1.0, so the server closes the connection after the
/// response, exactly as in the Python original.
pub fn request(url: &Url) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: looplab\r\nAccept: text/html\r\n\r\n",
        url.path,
        url.host_header()
    )
    .into_bytes()
}

/// The parsed status line and headers, kept while the body arrives.
#[derive(Debug)]
struct Head {
    /// The page so far: its status and headers, its body still empty.
    page: Page,
    body_start: usize,
    framing: Framing,
}

/// Where the body ends (RFC 9112 §6.3).
#[derive(Debug)]
enum Framing {
    /// After `Content-Length` bytes.
    Length(usize),
    /// At its last chunk (`Transfer-Encoding: chunked`): wrong for HTTP/1.0, but servers send it.
    Chunked(Chunked),
    /// At the end of the stream.
    ToTheEnd,
}

/// Collects response bytes until they make a complete [`Page`].
#[derive(Debug)]
pub struct ResponseReader {
    /// The head, then the body so far (a chunked one decoded in place), then room that
    /// [`spare`](ResponseReader::spare) lends: only `buf[..len]` holds the response.
    buf: Vec<u8>,
    len: usize,
    /// The response's bytes received so far, framing included: what `limit` caps.
    received: usize,
    limit: usize,
    /// Until `head` is parsed, where the line being scanned for its end starts, and how many
    /// lines it has so far that are not empty (the status line, then the headers).
    line_start: usize,
    lines: usize,
    head: Option<Head>,
    /// How much room [`spare`](ResponseReader::spare) lent last.
    lent: usize,
}

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader::new()
    }
}

impl ResponseReader {
    pub fn new() -> ResponseReader {
        ResponseReader::with_limit(MAX_RESPONSE_BYTES)
    }

    /// A reader that rejects responses larger than `limit` bytes.
    pub fn with_limit(limit: usize) -> ResponseReader {
        ResponseReader {
            buf: Vec::new(),
            len: 0,
            received: 0,
            limit,
            line_start: 0,
            lines: 0,
            head: None,
            lent: 0,
        }
    }

    /// Room for the next read at the free end of the buffer, where the bytes stay; say how
    /// many came with [`filled`](ResponseReader::filled). `FIRST_READ` bytes, then as many as
    /// have arrived; once the head gives the body's length, exactly the rest; never more than
    /// one byte past the limit.
    pub fn spare(&mut self) -> &mut [u8] {
        let room = match &self.head {
            // At least one byte, so that a read can still see the end of the stream.
            Some(Head {
                body_start,
                framing: Framing::Length(length),
                ..
            }) => (body_start + length).saturating_sub(self.len).max(1),
            _ => self.len.max(FIRST_READ),
        };
        self.lent = room.min(self.limit + 1 - self.received.min(self.limit));
        let end = self.len + self.lent;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        &mut self.buf[self.len..end]
    }

    /// `n` bytes were read into [`spare`](ResponseReader::spare); 0 is the end of the stream.
    /// `Ok(Some(page))` once the response is complete, `Ok(None)` while it is not (never at
    /// the end of the stream), an error as soon as it cannot be right.
    pub fn filled(&mut self, n: usize) -> Result<Option<Page>, FetchError> {
        match n.min(std::mem::take(&mut self.lent)) {
            0 => self.end_of_stream().map(Some),
            n => self.advance(n),
        }
    }

    /// Parses a whole response, read to the end of the stream (the bench's tokio crawler uses
    /// `read_to_end`), through `spare` and `filled` as the stages read.
    pub fn parse(mut self, mut response: &[u8]) -> Result<Page, FetchError> {
        loop {
            let room = self.spare();
            let n = room.len().min(response.len());
            room[..n].copy_from_slice(&response[..n]);
            response = &response[n..];
            if let Some(page) = self.filled(n)? {
                return Ok(page);
            }
        }
    }

    /// The bytes this reader holds now: never more than twice its limit.
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// `n` new bytes are in the buffer at `len`: take them as far as the response goes.
    fn advance(&mut self, n: usize) -> Result<Option<Page>, FetchError> {
        let (start, end) = (self.len, self.len + n);
        let mut from = start;
        if self.head.is_none() {
            match self.scan_head(start, end)? {
                Some(head_end) => {
                    let head = parse_head(&self.buf[..head_end], self.limit)?;
                    (from, self.len) = (head.body_start, head.body_start);
                    self.head = Some(head);
                }
                None => self.len = end,
            }
        }
        let done = match self.head.as_mut() {
            None => None,
            Some(head) => match &mut head.framing {
                Framing::Length(length) => {
                    let body_end = head.body_start + *length;
                    self.len = end.min(body_end);
                    (self.len == body_end).then_some(self.len)
                }
                Framing::Chunked(chunks) => {
                    chunks.decode(&mut self.buf, &mut self.len, from, end)?
                }
                Framing::ToTheEnd => {
                    self.len = end;
                    None
                }
            },
        };
        // What follows the end of the response is not counted: it is not the response.
        self.received += done.unwrap_or(end) - start;
        if self.received > self.limit {
            return Err(FetchError::TooLarge { limit: self.limit });
        }
        Ok(done.map(|_| self.take_page()))
    }

    fn end_of_stream(&mut self) -> Result<Page, FetchError> {
        if self.received == 0 {
            return Err(FetchError::ClosedEarly);
        }
        let Some(head) = &self.head else {
            check_start(&self.buf[..self.len])?;
            return Err(FetchError::Malformed(format!(
                "connection closed in the middle of the headers after {} bytes",
                self.len
            )));
        };
        match head.framing {
            Framing::Chunked(_) => Err(FetchError::Malformed(
                "connection closed in the middle of a chunked body".to_string(),
            )),
            Framing::Length(expected) => Err(FetchError::ShortBody {
                expected,
                received: self.len - head.body_start,
            }),
            Framing::ToTheEnd => Ok(self.take_page()),
        }
    }

    /// Scans the new bytes, `buf[from..end]`, each once, for the empty line that ends the
    /// head, and says where it ends (httparse then parses it). First bytes or a first line
    /// that are not HTTP, or too many headers, are an error as soon as they show.
    fn scan_head(&mut self, from: usize, end: usize) -> Result<Option<usize>, FetchError> {
        let buf = &self.buf[..end];
        for at in from..end {
            if buf[at] != b'\n' {
                continue;
            }
            let line = &buf[self.line_start..at];
            self.line_start = at + 1;
            match (line, self.lines) {
                // Empty lines before the status line are skipped, as httparse does: they are
                // not lines of the head, or two of them would end it.
                (b"" | b"\r", 0) => continue,
                (b"" | b"\r", _) => return Ok(Some(at + 1)),
                // The status line, or one header too many: httparse says what is wrong.
                (_, lines) if lines == 0 || lines > MAX_HEADERS => check_start(&buf[..=at])?,
                _ => {}
            }
            self.lines += 1;
        }
        // Bytes that cannot start a response are said at once (a server of another protocol
        // may send a greeting and wait), looking at the first few only, however they come.
        if self.lines == 0 && from < FIRST_READ {
            check_start(&buf[..buf.len().min(FIRST_READ)])?;
        }
        Ok(None)
    }

    /// The page, out of the buffer the response was read into. The reader starts over.
    fn take_page(&mut self) -> Page {
        let head = self.head.take().expect("a page comes after its head");
        // The buffer becomes the body: nothing is copied to a new one, and the reader keeps
        // nothing once its page is out.
        let mut body = std::mem::take(&mut self.buf);
        body.truncate(self.len);
        body.drain(..head.body_start);
        body.shrink_to_fit();
        *self = ResponseReader::with_limit(self.limit);
        Page { body, ..head.page }
    }
}

/// Whether the head so far (`head`) can still become an HTTP response.
fn check_start(head: &[u8]) -> Result<(), FetchError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parsed = httparse::Response::new(&mut headers).parse(head);
    parsed.map(drop).map_err(|e| not_http(e, head))
}

fn not_http(e: httparse::Error, head: &[u8]) -> FetchError {
    if e == httparse::Error::TooManyHeaders {
        return FetchError::Malformed(format!("more than {MAX_HEADERS} headers"));
    }
    let start = String::from_utf8_lossy(&head[..head.len().min(24)]);
    FetchError::Malformed(format!(
        "not an HTTP response ({e}); it starts with {start:?}"
    ))
}

/// Parses the status line and headers, all in `head`.
fn parse_head(head: &[u8], limit: usize) -> Result<Head, FetchError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let body_start = match response.parse(head).map_err(|e| not_http(e, head))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => head.len(), // not reached: the scan saw its end
    };
    let header = |h: &httparse::Header| {
        let value = String::from_utf8_lossy(h.value).trim().to_string();
        (h.name.to_ascii_lowercase(), value)
    };
    let page = Page {
        status: response.code.unwrap_or_default(),
        reason: response.reason.unwrap_or_default().to_string(),
        headers: response.headers.iter().map(header).collect(),
        body: Vec::new(),
    };
    let framing = match page.status {
        // No body, whatever the headers say (RFC 9112 §6.3): the response ends with its head.
        204 | 304 => Framing::Length(0),
        _ => framing(&page.headers)?,
    };
    if let Framing::Length(length) = framing {
        if body_start.saturating_add(length) > limit {
            return Err(FetchError::TooLarge { limit });
        }
    }
    Ok(Head {
        page,
        body_start,
        framing,
    })
}

/// How the body is framed. Transfer codings are one list however many lines carry it (RFC
/// 9112 §6.1): `chunked` last means chunks, whatever `Content-Length` says (§6.3); `identity`
/// means nothing; anything else this client cannot decode.
fn framing(headers: &[(String, String)]) -> Result<Framing, FetchError> {
    let length = content_length(headers)?;
    let codings: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name == "transfer-encoding")
        .flat_map(|(_, value)| value.split(','))
        .map(|coding| coding.trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty() && coding != "identity")
        .collect();
    match (codings.as_slice(), length) {
        ([], Some(length)) => Ok(Framing::Length(length)),
        ([], None) => Ok(Framing::ToTheEnd),
        ([chunked], _) if chunked == "chunked" => Ok(Framing::Chunked(Chunked::START)),
        _ => Err(FetchError::Unsupported(format!(
            "Transfer-Encoding: {} (this client reads plain and chunked bodies)",
            codings.join(", ")
        ))),
    }
}

/// The body's length, if a `Content-Length` says it. Several, in headers or a list, must all
/// agree: RFC 9112 §6.3 rejects a response whose lengths differ, as unframeable (a client
/// that picked one could read another response's bytes as this one's body).
fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, FetchError> {
    let mut length = None;
    let values = headers.iter().filter(|(name, _)| name == "content-length");
    for text in values.flat_map(|(_, value)| value.split(',')) {
        let text = text.trim();
        // 1*DIGIT (RFC 9110 §8.6): `parse` would also take a sign.
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let Some(n) = text.parse::<usize>().ok().filter(|_| digits) else {
            return Err(FetchError::Malformed(format!(
                "invalid Content-Length {text:?}"
            )));
        };
        if length.is_some_and(|first| first != n) {
            return Err(FetchError::Malformed(
                "conflicting Content-Length headers".to_string(),
            ));
        }
        length = Some(n);
    }
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives the reader `chunk` as reads into `spare` would (an empty one is the end of the
    /// stream), and says what it said last.
    fn feed(reader: &mut ResponseReader, mut chunk: &[u8]) -> Result<Option<Page>, FetchError> {
        loop {
            let room = reader.spare();
            let n = room.len().min(chunk.len());
            room[..n].copy_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            match reader.filled(n)? {
                None if !chunk.is_empty() => {}
                said => return Ok(said),
            }
        }
    }

    fn feed_all(reader: &mut ResponseReader, parts: &[&[u8]]) -> Result<Option<Page>, FetchError> {
        let mut last = Ok(None);
        for part in parts {
            last = feed(reader, part);
            if !matches!(last, Ok(None)) {
                break;
            }
        }
        last
    }

    #[test]
    fn request_is_http_1_0_with_host() {
        let url = Url::parse("http://127.0.0.1:8000/3").unwrap();
        let req = String::from_utf8(request(&url)).unwrap();
        assert!(req.starts_with("GET /3 HTTP/1.0\r\nHost: 127.0.0.1:8000\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn complete_at_content_length_even_if_the_connection_stays_open() {
        let mut r = ResponseReader::new();
        let page = feed_all(
            &mut r,
            &[
                b"HTTP/1.0 200 OK\r\nContent-Le",
                b"ngth: 5\r\n\r\nhel",
                b"lo",
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(page.status, 200);
        assert_eq!(page.reason, "OK");
        assert_eq!(page.body, b"hello");
        assert_eq!(page.header("Content-Length"), Some("5"));
    }

    #[test]
    fn repeated_content_lengths_that_agree_are_one() {
        let mut r = ResponseReader::new();
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok";
        let page = feed(&mut r, head).unwrap().unwrap();
        assert_eq!(page.body, b"ok");
    }

    #[test]
    fn no_content_and_not_modified_end_with_their_head() {
        for status in ["204 No Content", "304 Not Modified"] {
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: 9\r\n\r\n");
            let page = feed(&mut ResponseReader::new(), head.as_bytes())
                .unwrap()
                .unwrap();
            assert_eq!(page.body, b"");
        }
    }

    #[test]
    fn without_content_length_the_body_ends_with_the_stream() {
        let mut r = ResponseReader::new();
        assert!(
            feed(&mut r, b"HTTP/1.0 404 Not Found\r\n\r\nno")
                .unwrap()
                .is_none()
        );
        assert!(feed(&mut r, b"pe").unwrap().is_none());
        let page = feed(&mut r, b"").unwrap().unwrap();
        assert_eq!((page.status, page.body.as_slice()), (404, &b"nope"[..]));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let check = |parts: &[&[u8]], says: &str| {
            let mut r = ResponseReader::with_limit(100);
            let err = feed_all(&mut r, parts).unwrap_err().to_string();
            assert!(err.contains(says), "{err:?} should contain {says:?}");
        };
        check(&[b""], "before any response");
        check(&[b"SSH-2.0-OpenSSH\r\n\r\n"], "not an HTTP response");
        check(&[b"HTTP/1.0 2x0 OK\r\n\r\n"], "not an HTTP response");
        check(
            &[b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc", b""],
            "3 of 10 bytes",
        );
        check(
            &[b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n"],
            "too large",
        );
        check(&[b"HTTP/1.0 200 OK\r\n\r\n", &[b'x'; 200]], "too large");
        check(
            &[b"HTTP/1.0 200 OK\r\nContent-Length: x\r\n\r\n"],
            "invalid Content-Length",
        );
        check(&[b"HTTP/1.0 200 OK\r\nConte", b""], "middle of the headers");
        check(
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"],
            "conflicting Content-Length",
        );
        check(
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd"],
            "conflicting Content-Length",
        );
        check(
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"],
            "gzip",
        );
        check(
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
            "invalid chunk size",
        );
        check(
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n"],
            "not followed by CRLF",
        );
        let chunked =
            |body: &str| format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        for (body, says) in [
            ("10000000000000000\r\n", "chunk size too large"),
            ("5 x\r\n", "invalid chunk size line"),
            ("5\rx", "invalid chunk size line"),
            ("\r\n", "empty chunk size line"),
            ("1\r\na\rx", "not followed by CRLF"),
        ] {
            check(&[chunked(body).as_bytes()], says);
        }
        check(
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
                b"",
            ],
            "middle of a chunked body",
        );
        let flood = "HTTP/1.0 200 OK\r\n".to_string() + &"X: y\r\n".repeat(70) + "\r\n";
        let mut r = ResponseReader::new();
        let err = feed(&mut r, flood.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("more than 64 headers"), "{err}");
    }

    #[test]
    fn empty_lines_before_the_status_line_are_no_head() {
        let page = ResponseReader::new()
            .parse(b"\r\n\n\r\nHTTP/1.0 200 OK\r\n\r\nbody")
            .unwrap();
        assert_eq!((page.status, page.body.as_slice()), (200, &b"body"[..]));
        for (response, says) in [
            (&b"\n\nxyz"[..], "not an HTTP response"),
            (b"\r\n\r\n", "middle of the headers"),
        ] {
            let err = ResponseReader::new()
                .parse(response)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn decodes_a_chunked_body_fed_in_pieces() {
        let response: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: y\r\n\r\n";
        for split in 1..response.len() {
            let mut r = ResponseReader::new();
            let (a, b) = response.split_at(split);
            let page = match feed(&mut r, a).unwrap() {
                Some(page) => page,
                None => feed(&mut r, b)
                    .unwrap()
                    .expect("complete after the last byte"),
            };
            assert_eq!(page.body, b"hello, world", "split at {split}");
        }
    }

    /// Reads `response` through `spare` and `filled`, at most `most` bytes a read, the end of
    /// the stream after it. Returns what the reader said and the room it lent each time.
    fn read_in(
        reader: &mut ResponseReader,
        mut response: &[u8],
        most: usize,
    ) -> (Result<Option<Page>, FetchError>, Vec<usize>) {
        let mut lent = Vec::new();
        loop {
            let room = reader.spare();
            lent.push(room.len());
            let n = room.len().min(most).min(response.len());
            room[..n].copy_from_slice(&response[..n]);
            response = &response[n..];
            match reader.filled(n) {
                Ok(None) => {}
                said => return (said, lent),
            }
        }
    }

    #[test]
    fn spare_lends_little_before_the_response_then_exactly_the_rest_it_announces() {
        let body = "x".repeat(300);
        let response = format!("HTTP/1.0 200 OK\r\nContent-Length: 300\r\n\r\n{body}");
        let (page, lent) = read_in(&mut ResponseReader::new(), response.as_bytes(), usize::MAX);
        assert_eq!(page.unwrap().unwrap().body, body.as_bytes());
        assert_eq!(lent, [FIRST_READ, response.len() - FIRST_READ]);
        // Without a length the room doubles, and the end of the stream ends the body.
        let response = format!("HTTP/1.0 200 OK\r\n\r\n{body}");
        let (page, lent) = read_in(&mut ResponseReader::new(), response.as_bytes(), usize::MAX);
        assert_eq!(page.unwrap().unwrap().body, body.as_bytes());
        assert_eq!(lent, [64, 64, 128, 256, response.len()]);
    }

    #[test]
    fn spare_and_filled_read_any_response_feed_reads() {
        let responses: [&[u8]; 3] = [
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more",
            b"HTTP/1.0 404 Not Found\r\n\r\nnope",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ];
        for response in responses {
            let mut fed = ResponseReader::new();
            let expected = match feed(&mut fed, response).unwrap() {
                Some(page) => page,
                None => feed(&mut fed, b"").unwrap().unwrap(),
            };
            for most in [1, 2, 7, 64, usize::MAX] {
                let (page, _) = read_in(&mut ResponseReader::new(), response, most);
                let page = page.unwrap().unwrap();
                assert_eq!((page.status, &page.body), (expected.status, &expected.body));
            }
        }
    }

    #[test]
    fn spare_never_lends_past_the_limit() {
        let response = [b"HTTP/1.0 200 OK\r\n\r\n".as_slice(), &[b'x'; 200]].concat();
        let mut r = ResponseReader::with_limit(100);
        let (said, lent) = read_in(&mut r, &response, usize::MAX);
        assert!(said.unwrap_err().to_string().contains("too large"));
        assert_eq!(lent, [64, 37]);
        assert_eq!(
            ResponseReader::new().parse(b"").unwrap_err().to_string(),
            FetchError::ClosedEarly.to_string()
        );
        assert_eq!(
            ResponseReader::new()
                .parse(&response[..30])
                .unwrap()
                .body
                .len(),
            11
        );
    }
}
