//! URL parsing: just enough of RFC 3986 for `http://host[:port][/path][?query]`.
//!
//! Every stage parses its URLs with this one function, so a bad URL gets the same clear error
//! on every stage. Only plain `http` is supported: the workshop is about the event loop, not TLS.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::fetch::FetchError;

/// A parsed `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// The host as written: a name (`localhost`), an IPv4 address or a bracketed IPv6 address
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
        let text_trimmed = text.trim();
        let Some((scheme, rest)) = text_trimmed.split_once("://") else {
            return Err(bad("missing scheme (expected http://host/path)"));
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(FetchError::BadUrl(format!(
                "unsupported scheme {scheme:?} in {text:?} (only http:// is supported)"
            )));
        }
        // The authority ends at the first '/', '?' or '#'.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(bad("user info is not supported"));
        }
        let (host, port) = split_host_port(authority).map_err(bad)?;
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        // The fragment never goes to the server.
        let tail = tail.split('#').next().unwrap_or("");
        if tail.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("whitespace or control character in the path"));
        }
        let path = match tail {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        Ok(Url {
            host: host.to_ascii_lowercase(),
            port,
            path,
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
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Resolves `link` (an `href` found on this page) against this URL. Returns `None` for
    /// links that are not http (`mailto:`, `https:`…) or that do not parse.
    pub fn join(&self, link: &str) -> Option<Url> {
        let link = link.trim();
        if link.is_empty() || link.starts_with('#') {
            return None;
        }
        if link.contains("://") {
            return Url::parse(link).ok();
        }
        if let Some(rest) = link.strip_prefix("//") {
            return Url::parse(&format!("http://{rest}")).ok();
        }
        if link.contains(':') && !link.starts_with('/') && !link.starts_with('?') {
            return None; // mailto:, javascript:, …
        }
        let path = if link.starts_with('/') {
            link.to_string()
        } else if link.starts_with('?') {
            let base = self.path.split('?').next().unwrap_or("/");
            format!("{base}{link}")
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..=base.rfind('/').unwrap_or(0)];
            format!("{dir}{link}")
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        Some(Url {
            host: self.host.clone(),
            port: self.port,
            path,
        })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

fn split_host_port(authority: &str) -> Result<(&str, u16), &'static str> {
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
    if authority.starts_with('[') {
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address between '[' and ']'");
        }
    } else if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~%".contains(c))
    {
        return Err("invalid character in the host");
    }
    let port = match port {
        None | Some("") => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("invalid port (expected 1-65535)"),
            Ok(p) => p,
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
    }

    #[test]
    fn rejects_what_it_cannot_fetch() {
        for (text, says) in [
            ("ftp://example.com/", "unsupported scheme"),
            ("https://example.com/", "only http://"),
            ("example.com/", "missing scheme"),
            ("http:///x", "missing host"),
            ("http://h:99999/", "invalid port"),
            ("http://h:0/", "invalid port"),
            ("http://h:x/", "invalid port"),
            ("http://u@h/", "user info"),
            ("http://h/a b", "whitespace"),
            ("http://[::1/", "unclosed"),
            ("http://[nope]/", "invalid IPv6"),
            ("http://a[b]:1/", "invalid character in the host"),
            ("http://h%20[::1]x:/", "invalid character in the host"),
        ] {
            let err = Url::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn joins_links() {
        let base = Url::parse("http://h:1/a/b?q").unwrap();
        let join = |l: &str| base.join(l).map(|u| u.to_string());
        assert_eq!(join("/x").as_deref(), Some("http://h:1/x"));
        assert_eq!(join("c").as_deref(), Some("http://h:1/a/c"));
        assert_eq!(join("?z").as_deref(), Some("http://h:1/a/b?z"));
        assert_eq!(join("/y#top").as_deref(), Some("http://h:1/y"));
        assert_eq!(join("http://o/").as_deref(), Some("http://o/"));
        assert_eq!(join("//o:2/p").as_deref(), Some("http://o:2/p"));
        assert_eq!(join("mailto:a@b"), None);
        assert_eq!(join("https://o/"), None);
        assert_eq!(join("#frag"), None);
    }
}
