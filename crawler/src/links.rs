//! The links of a page, read the way a browser reads them: stage 5 finds its next URLs here.
//!
//! html5gum tokenizes the page by the WHATWG HTML standard, which browsers implement. So character
//! references in an attribute are decoded (`&amp;` is `&`), comments and the contents of `script`,
//! `style` and their kind are not markup, tag and attribute names have no case, a value takes any
//! quotes or none, a tag may span lines, and `<base href>` sets what relative links resolve
//! against. A tokenizer is enough: a full parser's tree changes no `href`.
//!
//! Followed: `a` and `area`, the hyperlinks a reader can follow, not what a page loads for itself
//! (`link`, `img`, `script`, `iframe`…): a crawler of pages is no page saver. `base` is no link.
//!
//! Caps, so one page cannot make a crawl hold or queue without bound: [`MAX_LINKS`] links per page,
//! [`MAX_URL_BYTES`] per link as written, after decoding. [`Links`] says what was left out.

use html5gum::{DefaultEmitter, Token, Tokenizer};

use crate::fetch::Page;
use crate::limits::MAX_URL_BYTES;
use crate::url::Url;

/// The most links read from one page; reading stops there.
pub const MAX_LINKS: usize = 10_000;

/// The links of a page, and what the caps left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// The `http://` links of `a` and `area` elements, resolved, in page order, repeats kept.
    pub urls: Vec<Url>,
    /// Reading stopped at [`MAX_LINKS`]: the page has more.
    pub capped: bool,
    /// Links skipped for being longer than [`MAX_URL_BYTES`].
    pub too_long: usize,
}

/// Whether `page`'s `Content-Type` says HTML (`text/html; charset=utf-8`): only then are its
/// links read. A browser would guess when it does not say; a crawler would only be guessing.
pub fn is_html(page: &Page) -> bool {
    page.header("content-type").is_some_and(|value| {
        let media_type = value.split(';').next().unwrap_or_default().trim();
        ["text/html", "application/xhtml+xml"]
            .iter()
            .any(|html| media_type.eq_ignore_ascii_case(html))
    })
}

/// The links of `html`, a page from `page_url`, resolved against its first `<base href>`, else
/// `page_url`. Links that are not `http://` (`mailto:`, `https:`, `javascript:`…) are left out.
pub fn links(page_url: &Url, html: &[u8]) -> Links {
    let mut found = Links::default();
    let (mut hrefs, mut base) = (Vec::new(), None);
    // After `<script>`, `<style>`, `<title>`, `<textarea>`… read their contents as text, as a
    // browser does: a link there is no link.
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    // A start tag comes whole: one cut off by the end of the page is no tag, and of a repeated
    // attribute the first counts. An end tag's attributes (`</a href=x>`) count for nothing.
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        let Token::StartTag(tag) = token else {
            continue;
        };
        let href = match tag.attributes.get(b"href".as_slice()) {
            Some(href) if !href.is_empty() => href.to_vec(),
            _ => continue,
        };
        match tag.name.as_slice() {
            b"a" | b"area" | b"base" if href.len() > MAX_URL_BYTES => found.too_long += 1,
            // The first `<base href>` of the document counts, wherever it stands.
            b"base" if base.is_none() => base = Some(href),
            b"a" | b"area" if hrefs.len() == MAX_LINKS => {
                found.capped = true;
                break;
            }
            b"a" | b"area" => hrefs.push(href),
            _ => {}
        }
    }
    // A base that is not http (`https://…/`) makes every relative link not http either.
    let base = match base {
        Some(base) => page_url.join(&String::from_utf8_lossy(&base)),
        None => Some(page_url.clone()),
    };
    for href in hrefs {
        let href = String::from_utf8_lossy(&href);
        let url = match &base {
            Some(base) => base.join(&href),
            None => Url::parse(&href).ok(),
        };
        found.urls.extend(url);
    }
    found
}

#[cfg(test)]
mod tests;
