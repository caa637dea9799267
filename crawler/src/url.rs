//! URLs: RFC 3986, for `http://host[:port][/path][?query]` and the links found on pages.
//!
//! Every stage parses its URLs with [`Url::parse`], so a bad URL gets the same clear error on
//! every stage, and stage 5 resolves the links it finds with [`Url::join`]. Both give a URL in
//! one normal form (RFC 3986 §6.2.2: lower-case scheme and host, no default port, no `.` or
//! `..`, percent-encoding as `normalize` says, no fragment), so that the same page reached two
//! ways is one URL, crawled once. Only plain `http`: the workshop is about the loop, not TLS.

use std::fmt;
use std::fmt::Write as _;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};

use crate::fetch::FetchError;

/// A parsed `http://` URL, in normal form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// The host, in lower case: a name (`localhost`), an IPv4 address or an IPv6 address
    /// without its brackets.
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses `text`; anything that is not a well-formed `http://` URL is a
    /// [`FetchError::BadUrl`] that says what is wrong.
    pub fn parse(text: &str) -> Result<Url, FetchError> {
        let bad = |why: &str| FetchError::BadUrl(format!("{why} in {text:?}"));
        let parts = Parts::split(text.trim());
        // A whole URL, `http://`: `http:g` is a link relative to a page, not a URL.
        let scheme = match parts.scheme {
            Some(scheme) if text.contains("://") => scheme,
            _ => return Err(bad("missing scheme (expected http://host/path)")),
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(FetchError::BadUrl(format!(
                "unsupported scheme {scheme:?} in {text:?} (only http:// is supported)"
            )));
        }
        let authority = parts.authority.ok_or_else(|| bad("missing host"))?;
        Url::from_parts(authority, parts.path, parts.query).map_err(bad)
    }

    /// The URL of `authority`, `path` and `query`, as they stand in a URL or a link.
    fn from_parts(authority: &str, path: &str, query: Option<&str>) -> Result<Url, &'static str> {
        if authority.contains('@') {
            return Err("user info is not supported");
        }
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err("missing host");
        }
        let path = remove_dot_segments(&normalize(path, PATH));
        Ok(Url {
            host,
            port,
            path: with_query(path, query),
        })
    }

    /// Resolves the host to a socket address.
    ///
    /// An IP address (and `localhost`) needs no lookup. Any other name goes through the
    /// system resolver, which *blocks*: stages 1–4 pay that cost on the event loop thread, and
    /// stage 5 moves it to its blocking pool.
    pub fn socket_addr(&self) -> Result<SocketAddr, FetchError> {
        if let Ok(ip) = self.host.parse::<std::net::IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        if self.host == "localhost" {
            return Ok(SocketAddr::from(([127, 0, 0, 1], self.port)));
        }
        let resolve_error = |source: io::Error| FetchError::Resolve {
            host: self.host.clone(),
            source,
        };
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(resolve_error)?
            .next()
            .ok_or_else(|| resolve_error(io::Error::other("no address found")))
    }

    /// The value of the `Host` header: the port is left out when it is the default.
    pub fn host_header(&self) -> String {
        let host = match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        };
        match self.port {
            80 => host,
            port => format!("{host}:{port}"),
        }
    }

    /// Resolves `link` (an `href` found on this page, or a redirect's `Location`) against this
    /// URL, as RFC 3986 §5.2.2 says, into the normal form. Returns `None` for links that are
    /// not http (`mailto:`, `https:`, `javascript:`…) or that do not parse.
    pub fn join(&self, link: &str) -> Option<Url> {
        let link = Parts::split(link.trim());
        // `http:g`, without `//`, is taken as `g`: the reading §5.2.2 allows for backward
        // compatibility, and the one browsers make.
        if link
            .scheme
            .is_some_and(|scheme| !scheme.eq_ignore_ascii_case("http"))
        {
            return None;
        }
        if let Some(authority) = link.authority {
            return Url::from_parts(authority, link.path, link.query).ok();
        }
        let (base_path, base_query) = match self.path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (self.path.as_str(), None),
        };
        let (path, query) = if link.path.is_empty() {
            (base_path.to_string(), link.query.or(base_query))
        } else if link.path.starts_with('/') {
            (normalize(link.path, PATH), link.query)
        } else {
            // Merge (§5.2.3): the base's path up to its last `/`, then the link's.
            let directory = base_path.rfind('/').map_or("/", |end| &base_path[..=end]);
            (
                directory.to_string() + &normalize(link.path, PATH),
                link.query,
            )
        };
        Some(Url {
            host: self.host.clone(),
            port: self.port,
            path: with_query(remove_dot_segments(&path), query),
        })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

/// A URL or a link, split into its components as RFC 3986 Appendix B does, the fragment left
/// out. `authority` is `None` when there is no `//`; `path` may be empty.
struct Parts<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

impl Parts<'_> {
    fn split(text: &str) -> Parts<'_> {
        let text = text.split_once('#').map_or(text, |(before, _)| before);
        let (text, query) = match text.split_once('?') {
            Some((text, query)) => (text, Some(query)),
            None => (text, None),
        };
        // A scheme is a letter, then letters, digits, `+`, `-` or `.` (§3.1). What looks like
        // one but is not (`1a:b`, `a b:c`) is the start of a relative path.
        let is_scheme = |scheme: &str| {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        };
        let (scheme, rest) = match text.split_once(':') {
            Some((scheme, rest)) if is_scheme(scheme) => (Some(scheme), rest),
            _ => (None, text),
        };
        let (authority, path) = match rest.strip_prefix("//") {
            Some(rest) => {
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                (Some(authority), path)
            }
            None => (None, rest),
        };
        Parts {
            scheme,
            authority,
            path,
            query,
        }
    }
}

/// What a path may hold besides unreserved characters and `%XX`: sub-delims, `:`, `@` and `/`
/// (RFC 3986 §3.3). A query may also hold `?` (§3.4).
const PATH: &str = "!$&'()*+,;=:@/";
const QUERY: &str = "!$&'()*+,;=:@/?";

/// Percent-encoding in normal form (§6.2.2.1, §6.2.2.2): a `%XX` of an unreserved character
/// (`A-Z a-z 0-9 - . _ ~`) is decoded, any other `%XX` gets upper-case hex digits, and every
/// byte that may not stand as it is — a space, a control character, the UTF-8 bytes of a
/// non-ASCII character, a `%` that starts no `%XX` — is encoded. Bytes in `allowed` stay.
fn normalize(text: &str, allowed: &str) -> String {
    let unreserved = |byte: u8| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        let hex = |at: usize| tail.get(at).and_then(|d| (*d as char).to_digit(16));
        let (byte, encoded) = match (first, hex(0), hex(1)) {
            (b'%', Some(high), Some(low)) => ((high * 16 + low) as u8, true),
            _ => (first, false),
        };
        rest = if encoded { &tail[2..] } else { tail };
        if unreserved(byte) || (!encoded && allowed.as_bytes().contains(&byte)) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `remove_dot_segments`, RFC 3986 §5.2.4, step by step: what `.` and `..` mean in a path.
fn remove_dot_segments(path: &str) -> String {
    // Drops the last segment of `output`, and its `/`.
    fn up(output: &mut String) {
        output.truncate(output.rfind('/').unwrap_or(0));
    }
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../").or(input.strip_prefix("./")) {
            input = rest; // A
        } else if input.starts_with("/./") {
            input = &input[2..]; // B
        } else if input == "/." {
            input = "/"; // B
        } else if input.starts_with("/../") {
            input = &input[3..]; // C
            up(&mut output);
        } else if input == "/.." {
            input = "/"; // C
            up(&mut output);
        } else if input == "." || input == ".." {
            input = ""; // D
        } else {
            // E: the first segment, with its leading `/` if it has one, moves to the output.
            let from = usize::from(input.starts_with('/'));
            let end = input[from..].find('/').map_or(input.len(), |at| from + at);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

/// A normal path (an empty one is `/`) and its query, normalised, after a `?`.
fn with_query(path: String, query: Option<&str>) -> String {
    let mut out = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    if let Some(query) = query {
        out.push('?');
        out.push_str(&normalize(query, QUERY));
    }
    out
}

/// The host in normal form, and the port (80 when none is given).
fn split_host_port(authority: &str) -> Result<(String, u16), &'static str> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        let close = rest.find(']').ok_or("unclosed '[' in the host")?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err("unexpected text after ']'"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("whitespace or control character in the host");
    }
    let host = if authority.starts_with('[') {
        // One spelling of each address: `[0:0::01]` is `[::1]`.
        let ip = host.parse::<Ipv6Addr>();
        ip.map_err(|_| "invalid IPv6 address between '[' and ']'")?
            .to_string()
    } else if host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~%".contains(c))
    {
        // Lower case, but for the hex digits of a `%XX`, which §6.2.2.1 wants in upper case:
        // decode, lower, then normalise again.
        normalize(&normalize(host, "").to_ascii_lowercase(), "")
    } else {
        return Err("invalid character in the host");
    };
    let port = match port {
        None | Some("") => 80,
        // Digits only: `parse` would take `+80` too.
        Some(digits) => match digits.parse::<u16>() {
            Ok(port) if port > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => return Err("invalid port (expected 1-65535)"),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_and_path() {
        let url = Url::parse("http://127.0.0.1:8000/3").unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 8000);
        assert_eq!(url.path, "/3");
        assert_eq!(url.to_string(), "http://127.0.0.1:8000/3");
    }

    #[test]
    fn defaults_port_and_path() {
        let url = Url::parse("HTTP://Example.com").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("example.com", 80, "/")
        );
        assert_eq!(url.host_header(), "example.com");
        let url = Url::parse("http://h:81?x=1#frag").unwrap();
        assert_eq!(url.path, "/?x=1");
    }

    #[test]
    fn ipv6_literal() {
        let url = Url::parse("http://[::1]:8080/a").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.host_header(), "[::1]:8080");
        assert_eq!(url.socket_addr().unwrap().port(), 8080);
        let url = Url::parse("http://[0:0::0:01]/").unwrap();
        assert_eq!(url.to_string(), "http://[::1]/");
    }

    #[test]
    fn rejects_what_it_cannot_fetch() {
        for (text, says) in [
            ("ftp://example.com/", "unsupported scheme"),
            ("https://example.com/", "only http://"),
            ("example.com/", "missing scheme"),
            ("mailto:a@b", "missing scheme"),
            ("/x?next=http://h/", "missing scheme"),
            ("http:///x", "missing host"),
            ("http:/x?next=http://h/", "missing host"),
            ("http://h:99999/", "invalid port"),
            ("http://h:0/", "invalid port"),
            ("http://h:x/", "invalid port"),
            ("http://h:+80/", "invalid port"),
            ("http://u@h/", "user info"),
            ("http://h b/", "whitespace"),
            ("http://[::1/", "unclosed"),
            ("http://[nope]/", "invalid IPv6"),
            ("http://a[b]:1/", "invalid character in the host"),
            ("http://h%20[::1]x:/", "invalid character in the host"),
            ("http://bücher.example/", "invalid character in the host"),
        ] {
            let err = Url::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn one_normal_form() {
        for (text, normal) in [
            ("HTTP://Example.COM:80", "http://example.com/"),
            ("http://h:/a", "http://h/a"),
            ("http://h:0080/a", "http://h/a"),
            ("http://h/a/./b/../c/.", "http://h/a/c/"),
            ("http://h/../../a/..", "http://h/"),
            ("http://h/%2e%2E/a/%2E", "http://h/a/"),
            ("http://h/%7e%41%2f%c3%a9", "http://h/~A%2F%C3%A9"),
            ("http://h/a b?c d", "http://h/a%20b?c%20d"),
            ("http://h/café?é", "http://h/caf%C3%A9?%C3%A9"),
            (
                "http://h/a\"<>\\^`{|}[]",
                "http://h/a%22%3C%3E%5C%5E%60%7B%7C%7D%5B%5D",
            ),
            ("http://h/%zz%4", "http://h/%25zz%254"),
            ("http://h/;a=1,2:@!$&'()*+", "http://h/;a=1,2:@!$&'()*+"),
            ("http://h/?a/./b/../c?d", "http://h/?a/./b/../c?d"),
            ("http://h/?", "http://h/?"),
            ("http://%48%2d%6a.%2fx/", "http://h-j.%2Fx/"),
            ("  http://h/a#x#y  ", "http://h/a"),
        ] {
            let url = Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(url.to_string(), normal, "{text}");
            assert_eq!(Url::parse(normal).unwrap(), url, "{normal}");
        }
    }

    #[test]
    fn removes_dot_segments_as_the_rfc_shows() {
        // The two walk-throughs of RFC 3986 §5.2.4.
        assert_eq!(remove_dot_segments("/a/b/c/./../../g"), "/a/g");
        assert_eq!(remove_dot_segments("mid/content=5/../6"), "mid/6");
        // Step A: a relative path's leading `../` and `./` go; a URL's path never has them.
        assert_eq!(remove_dot_segments("../.././g/./h"), "g/h");
    }

    #[test]
    fn joins_links() {
        let base = Url::parse("http://h:1/a/b?q").unwrap();
        let join = |l: &str| base.join(l).map(|u| u.to_string());
        assert_eq!(join("/x").as_deref(), Some("http://h:1/x"));
        assert_eq!(join("c").as_deref(), Some("http://h:1/a/c"));
        assert_eq!(join("../c/./d").as_deref(), Some("http://h:1/c/d"));
        assert_eq!(join("?z").as_deref(), Some("http://h:1/a/b?z"));
        assert_eq!(join("/y#top").as_deref(), Some("http://h:1/y"));
        assert_eq!(join("#frag").as_deref(), Some("http://h:1/a/b?q"));
        assert_eq!(join(" é ").as_deref(), Some("http://h:1/a/%C3%A9"));
        assert_eq!(join("http://o/").as_deref(), Some("http://o/"));
        assert_eq!(join("HTTP://O:80/./p").as_deref(), Some("http://o/p"));
        assert_eq!(join("//o:2/p").as_deref(), Some("http://o:2/p"));
        assert_eq!(join("1a:b").as_deref(), Some("http://h:1/a/1a:b"));
        assert_eq!(join("mailto:a@b"), None);
        assert_eq!(join("https://o/"), None);
        assert_eq!(join("javascript:void(0)"), None);
        assert_eq!(join("http://u@o/"), None);
        assert_eq!(join("//o:x/"), None);
    }

    #[test]
    fn joins_against_any_base() {
        // The fields are public: a base built by hand, not normal, still joins without panic.
        let base = Url {
            host: "h".to_string(),
            port: 80,
            path: String::new(),
        };
        assert_eq!(base.join("a").unwrap().to_string(), "http://h/a");
        assert_eq!(base.join("").unwrap().to_string(), "http://h/");
    }
}
