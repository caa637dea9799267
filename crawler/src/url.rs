//! URLs: `http://host[:port][/path][?query]`, and the links found on pages.
//!
//! Every stage parses with [`Url::parse`]: a bad URL gets the same clear error everywhere. Stage 5
//! resolves links with [`Url::join`]. Both read a URL as browsers do, by the WHATWG URL standard
//! (servo's `url` crate: `\` is `/`, `%2e%2e` is `..`), then give it one normal form, so a page
//! reached two ways is crawled once: percent-encoding per RFC 3986 §6.2.2 (`%7e` is `~`, upper-case
//! hex) and no fragment, which never goes to the server. Only plain `http`: the workshop is about
//! the loop, not TLS. Host names are ASCII (`idna_adapter` 1.0: see the workspace Cargo.toml).

use std::fmt;
use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

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
    /// Parses `text`; anything but a well-formed `http://` URL is a [`FetchError::BadUrl`].
    pub fn parse(text: &str) -> Result<Url, FetchError> {
        let bad = |why: &str| FetchError::BadUrl(format!("{why} in {text:?}"));
        // A whole URL, `http://`: `localhost:8000/` would be a URL of the scheme `localhost`,
        // and `http:g` is a link relative to a page.
        let missing_scheme = "missing scheme (expected http://host/path)";
        if !text.contains("://") {
            return Err(bad(missing_scheme));
        }
        let url = url::Url::parse(text).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => bad(missing_scheme),
            e => bad(&e.to_string()),
        })?;
        Url::from_whatwg(&url).map_err(|why| bad(&why))
    }

    /// Our URL of a WHATWG one: `http` only, with a host and no user info.
    fn from_whatwg(url: &url::Url) -> Result<Url, String> {
        let scheme = url.scheme();
        if scheme != "http" {
            return Err(format!(
                "unsupported scheme {scheme:?} (only http:// is supported)"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("user info is not supported".into());
        }
        let host = url.host_str().ok_or("missing host")?;
        let host = host.trim_matches(['[', ']']).to_string(); // an IPv6 address, unbracketed
        let port = match url.port_or_known_default() {
            Some(0) | None => return Err("invalid port (expected 1-65535)".into()),
            Some(port) => port,
        };
        // What a path may hold besides unreserved characters and `%XX` (RFC 3986 §3.3); a
        // query may also hold `?` (§3.4).
        let mut path = normalize(url.path(), "!$&'()*+,;=:@/");
        if let Some(query) = url.query() {
            path = path + "?" + &normalize(query, "!$&'()*+,;=:@/?");
        }
        Ok(Url { host, port, path })
    }

    /// Resolves the host to a socket address. An IP address or `localhost` needs no lookup;
    /// any other name goes through the system resolver, which *blocks*: stages 1–4 pay that
    /// on the event loop thread, stage 5 in its blocking pool.
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

    /// Resolves `link` (an `href` here, or a redirect's `Location`) as a browser does, in normal
    /// form; `None` if it is not http (`https:`, `mailto:`, `javascript:`…) or does not parse.
    pub fn join(&self, link: &str) -> Option<Url> {
        let base = url::Url::parse(&self.to_string()).ok()?;
        Url::from_whatwg(&base.join(link).ok()?).ok()
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

/// Percent-encoding in normal form (RFC 3986 §6.2.2.1, §6.2.2.2): a `%XX` of an unreserved
/// character is decoded, any other gets upper-case hex digits. Other bytes not in `allowed`
/// are encoded: a `%` that starts no `%XX`, a `^` or `|` the WHATWG parser leaves.
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
            ("http://%2fx/", "invalid international domain name"),
            ("http://h:99999/", "invalid port"),
            ("http://h:0/", "invalid port"),
            ("http://h:x/", "invalid port"),
            ("http://h:+80/", "invalid port"),
            ("http://u@h/", "user info"),
            ("http://h b/", "invalid international domain name"),
            ("http://[::1/", "invalid IPv6 address"),
            ("http://[nope]/", "invalid IPv6 address"),
            ("http://a[b]:1/", "invalid international domain name"),
            ("http://h%20[::1]x:/", "invalid"),
            // Only ASCII names: idna_adapter 1.0 has no Unicode data.
            (
                "http://bücher.example/",
                "invalid international domain name",
            ),
            ("http://Bü.example/", "invalid international domain name"),
            ("http://b.%C3%BC/", "invalid international domain name"),
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
                // `\` is `/`, as in a browser.
                "http://h/a%22%3C%3E/%5E%60%7B%7C%7D%5B%5D",
            ),
            ("http://h/%zz%4", "http://h/%25zz%254"),
            ("http://h/;a=1,2:@!$&'()*+", "http://h/;a=1,2:@!$&'()*+"),
            ("http://h/?a/./b/../c?d", "http://h/?a/./b/../c?d"),
            ("http://h/?", "http://h/?"),
            ("http://%48%2d%6a.example/", "http://h-j.example/"),
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
        let root = Url::parse("http://h/").unwrap();
        assert_eq!(root.join("/a/b/c/./../../g").unwrap().path, "/a/g");
        assert_eq!(root.join("mid/content=5/../6").unwrap().path, "/mid/6");
        // A relative path's leading `../` and `./` go.
        assert_eq!(root.join("../.././g/./h").unwrap().path, "/g/h");
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
