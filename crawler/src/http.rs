//! HTTP/1.0, client side: the request bytes and an incremental response reader.
//!
//! Every stage gives the bytes it receives to a [`ResponseReader`], however it received
//! them (blocking read, callback, coroutine, `async fn`): stages 1–3 `feed` it the chunk
//! they read onto their stack, stages 0, 4 and 5 read straight into its buffer (`spare`, then
//! `filled`), so that no buffer of theirs lives across a wait. The reader says when the response is
//! complete — at the end of the stream, or as soon as the body reaches its `Content-Length`
//! (or its last chunk, for a chunked body) even if the server keeps the connection open — and
//! turns every way a response can be wrong into a [`FetchError`].

use crate::fetch::{FetchError, Page};
use crate::url::Url;

/// The largest response (head and body) a fetch accepts: 1 MiB.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The most headers a response may carry.
const MAX_HEADERS: usize = 64;

/// How much room [`ResponseReader::spare`] lends before anything has arrived: all that a
/// fetch holds for its response while it waits for the server.
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

/// Parses a whole response, as a client that read to the end of the stream has it (the
/// bench's tokio crawler, which reads with `read_to_end`).
pub fn parse(response: &[u8]) -> Result<Page, FetchError> {
    let mut reader = ResponseReader::new();
    match reader.feed(response)? {
        Some(page) => Ok(page),
        None => reader.end_of_stream(),
    }
}

/// The parsed status line and headers, kept while the body arrives.
#[derive(Debug)]
struct Head {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    /// Where the body starts in the buffer.
    body_start: usize,
    content_length: Option<usize>,
    /// `Transfer-Encoding: chunked`: an HTTP/1.0 request should never get one, but a correct
    /// client copes when a server sends it anyway.
    chunked: bool,
}

/// Collects response bytes until they make a complete [`Page`].
#[derive(Debug)]
pub struct ResponseReader {
    buf: Vec<u8>,
    head: Option<Head>,
    limit: usize,
    /// While [`spare`](ResponseReader::spare)'s room is lent: how many bytes `buf` held
    /// before it (the room is `buf[lent..]`).
    lent: Option<usize>,
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
            head: None,
            limit,
            lent: None,
        }
    }

    /// Room to read the next bytes into: the free end of the reader's own buffer, so that they
    /// land where they stay and the caller keeps no buffer of its own across a wait. Say how
    /// many bytes arrived with [`filled`](ResponseReader::filled). Before anything has
    /// arrived the room is small — `FIRST_READ` bytes, all that a fetch waiting for its
    /// server holds — then as large again as what has arrived; once the head has said how
    /// long the body is, exactly the rest. Never more than one byte past the limit: a
    /// response over it is caught.
    pub fn spare(&mut self) -> &mut [u8] {
        let len = self.lent.take().unwrap_or(self.buf.len());
        self.buf.truncate(len);
        let room = match &self.head {
            // At least one byte, so that a read can still see the end of the stream.
            Some(Head {
                body_start,
                content_length: Some(length),
                ..
            }) => (body_start + length).saturating_sub(len).max(1),
            _ => len.max(FIRST_READ),
        };
        let room = room.min(self.limit + 1 - len.min(self.limit));
        self.buf.resize(len + room, 0);
        self.lent = Some(len);
        &mut self.buf[len..]
    }

    /// `n` bytes were read into [`spare`](ResponseReader::spare)'s room; 0 means the end of
    /// the stream. Answers like [`feed`](ResponseReader::feed).
    pub fn filled(&mut self, n: usize) -> Result<Option<Page>, FetchError> {
        let len = self.lent.take().unwrap_or(self.buf.len());
        self.buf.truncate(len + n);
        if n == 0 {
            return self.end_of_stream().map(Some);
        }
        if self.buf.len() > self.limit {
            return Err(FetchError::TooLarge { limit: self.limit });
        }
        self.parse_more()
    }

    /// Feeds the next `chunk` of the stream; an **empty chunk means the end of the stream**
    /// (a read that returned 0). Returns `Ok(Some(page))` once the response is complete,
    /// `Ok(None)` while more bytes are needed, and an error as soon as the response cannot be
    /// right. At the end of the stream it never returns `Ok(None)`.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Option<Page>, FetchError> {
        if let Some(len) = self.lent.take() {
            self.buf.truncate(len); // room lent and never filled
        }
        if chunk.is_empty() {
            return self.end_of_stream().map(Some);
        }
        if self.buf.len() + chunk.len() > self.limit {
            return Err(FetchError::TooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(chunk);
        self.parse_more()
    }

    /// The bytes in the buffer have grown: is the head there yet, and the whole body?
    fn parse_more(&mut self) -> Result<Option<Page>, FetchError> {
        if self.head.is_none() {
            self.head = self.parse_head()?;
        }
        match &self.head {
            // A chunked body can only be complete when the buffer ends a line.
            Some(head) if head.chunked && self.buf.ends_with(b"\n") => {
                match decode_chunked(&self.buf[head.body_start..])? {
                    Some(body) => Ok(Some(self.take_page(Some(body)))),
                    None => Ok(None),
                }
            }
            Some(head) if head.chunked => Ok(None),
            Some(head) => match head.content_length {
                Some(length) if self.buf.len() - head.body_start >= length => {
                    Ok(Some(self.take_page(None)))
                }
                _ => Ok(None),
            },
            None => Ok(None),
        }
    }

    fn end_of_stream(&mut self) -> Result<Page, FetchError> {
        if self.buf.is_empty() {
            return Err(FetchError::ClosedEarly);
        }
        let Some(head) = &self.head else {
            return Err(FetchError::Malformed(format!(
                "connection closed in the middle of the headers after {} bytes",
                self.buf.len()
            )));
        };
        if head.chunked {
            return Err(FetchError::Malformed(
                "connection closed in the middle of a chunked body".to_string(),
            ));
        }
        let received = self.buf.len() - head.body_start;
        match head.content_length {
            Some(expected) if received < expected => {
                Err(FetchError::ShortBody { expected, received })
            }
            _ => Ok(self.take_page(None)),
        }
    }

    /// Parses the status line and headers once they are all in the buffer.
    fn parse_head(&self) -> Result<Option<Head>, FetchError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let body_start = match response.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(FetchError::Malformed(format!(
                    "more than {MAX_HEADERS} headers"
                )));
            }
            Err(e) => {
                let start = String::from_utf8_lossy(&self.buf[..self.buf.len().min(24)]);
                return Err(FetchError::Malformed(format!(
                    "not an HTTP response ({e}); it starts with {start:?}"
                )));
            }
        };
        let status = response.code.unwrap_or_default();
        let reason = response.reason.unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).trim().to_string();
                (h.name.to_ascii_lowercase(), value)
            })
            .collect();
        let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let chunked = match find("transfer-encoding") {
            None => false,
            Some(encoding) if encoding.eq_ignore_ascii_case("chunked") => true,
            Some(encoding) if encoding.eq_ignore_ascii_case("identity") => false,
            Some(encoding) => {
                return Err(FetchError::Unsupported(format!(
                    "Transfer-Encoding: {encoding} (this client reads plain and chunked bodies)"
                )));
            }
        };
        let content_length = content_length(&headers)?;
        if let Some(length) = content_length {
            if body_start.saturating_add(length) > self.limit {
                return Err(FetchError::TooLarge { limit: self.limit });
            }
        }
        Ok(Some(Head {
            status,
            reason,
            headers,
            body_start,
            // With chunked encoding the chunks say where the body ends, not Content-Length.
            content_length: content_length.filter(|_| !chunked),
            chunked,
        }))
    }

    /// The page, with `decoded` as its body if the body was chunked.
    fn take_page(&mut self, decoded: Option<Vec<u8>>) -> Page {
        let head = self
            .head
            .take()
            .expect("take_page is called only after the head");
        // The buffer the response was read into becomes the body: nothing is copied to a
        // new one, and the reader keeps nothing once its page is out.
        let buf = std::mem::take(&mut self.buf);
        let mut body = match decoded {
            Some(body) => body,
            None => {
                let mut body = buf;
                body.drain(..head.body_start);
                body
            }
        };
        if let Some(length) = head.content_length {
            // Anything after the declared body is not ours (HTTP/1.0 has no pipelining).
            body.truncate(length);
        }
        body.shrink_to_fit();
        Page {
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            body,
        }
    }
}

/// Decodes a chunked body: `Ok(None)` while it is incomplete.
fn decode_chunked(data: &[u8]) -> Result<Option<Vec<u8>>, FetchError> {
    let malformed = |why: &str| FetchError::Malformed(format!("chunked body: {why}"));
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let (used, size) = match httparse::parse_chunk_size(&data[pos..]) {
            Ok(httparse::Status::Complete(parsed)) => parsed,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(malformed("invalid chunk size line")),
        };
        pos += used;
        if size == 0 {
            // The last chunk; then trailer lines until an empty one.
            loop {
                let Some(eol) = data[pos..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                if eol == 0 {
                    return Ok(Some(body));
                }
                pos += eol + 2;
            }
        }
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| pos.checked_add(size))
            .filter(|end| end.checked_add(2).is_some())
            .ok_or_else(|| malformed("chunk too large"))?;
        if data.len() < end + 2 {
            return Ok(None);
        }
        if &data[end..end + 2] != b"\r\n" {
            return Err(malformed("a chunk is not followed by CRLF"));
        }
        body.extend_from_slice(&data[pos..end]);
        pos = end + 2;
    }
}

/// The body's length, if a `Content-Length` says it. Several headers, or a list in one, are
/// fine only if they all agree: RFC 9112 §6.3 says a response whose lengths differ cannot be
/// framed, and must be rejected (a client that picked one could be fooled into reading
/// another response's bytes as this one's body).
fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, FetchError> {
    let mut length = None;
    let values = headers.iter().filter(|(name, _)| name == "content-length");
    for text in values.flat_map(|(_, value)| value.split(',')) {
        let text = text.trim();
        let Ok(n) = text.parse::<usize>() else {
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

    fn feed_all(reader: &mut ResponseReader, parts: &[&[u8]]) -> Result<Option<Page>, FetchError> {
        let mut last = Ok(None);
        for part in parts {
            last = reader.feed(part);
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
        let page = r.feed(head).unwrap().unwrap();
        assert_eq!(page.body, b"ok");
    }

    #[test]
    fn without_content_length_the_body_ends_with_the_stream() {
        let mut r = ResponseReader::new();
        assert!(
            r.feed(b"HTTP/1.0 404 Not Found\r\n\r\nno")
                .unwrap()
                .is_none()
        );
        assert!(r.feed(b"pe").unwrap().is_none());
        let page = r.feed(b"").unwrap().unwrap();
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
        check(
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
                b"",
            ],
            "middle of a chunked body",
        );
        let flood = "HTTP/1.0 200 OK\r\n".to_string() + &"X: y\r\n".repeat(70) + "\r\n";
        let mut r = ResponseReader::new();
        let err = r.feed(flood.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("more than 64 headers"), "{err}");
    }

    #[test]
    fn decodes_a_chunked_body_fed_in_pieces() {
        let response: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: y\r\n\r\n";
        for split in 1..response.len() {
            let mut r = ResponseReader::new();
            let (a, b) = response.split_at(split);
            let page = match r.feed(a).unwrap() {
                Some(page) => page,
                None => r.feed(b).unwrap().expect("complete after the last byte"),
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
            let expected = match fed.feed(response).unwrap() {
                Some(page) => page,
                None => fed.feed(b"").unwrap().unwrap(),
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
            parse(b"").unwrap_err().to_string(),
            FetchError::ClosedEarly.to_string()
        );
        assert_eq!(parse(&response[..30]).unwrap().body.len(), 11);
    }
}
