use super::*;

/// The links of `html` on the page `http://h/dir/page.html`, as path (or whole URL when on
/// another host).
fn read(html: &str) -> Vec<String> {
    let page = Url::parse("http://h/dir/page.html").unwrap();
    links(&page, html.as_bytes())
        .urls
        .iter()
        .map(|url| match url.host.as_str() {
            "h" if url.port == 80 => url.path.clone(),
            _ => url.to_string(),
        })
        .collect()
}

#[test]
fn every_quoting_and_any_case() {
    let html = "<a href=\"/1\">1</a> <A HREF='/2'>2</A> <a href=/3>3</a> <a name=x>no</a>\n\
                <a\n  class=\"x\"\n  href\n =\n \"/4\"\n>4</a> <aRea HrEf=/5> <a href=/6/>";
    assert_eq!(read(html), ["/1", "/2", "/3", "/4", "/5", "/6/"]);
}

#[test]
fn character_references_are_decoded() {
    let html = "<a href=\"/search.html?a=1&amp;b=2\">x</a> <a href=/s?a=1&#38;b=2&#x26;c=3> \
                <a href='caf&eacute;.html'> <a href=\"/q?x=1&copy=2\">";
    assert_eq!(
        read(html),
        [
            "/search.html?a=1&b=2",
            "/s?a=1&b=2&c=3",
            "/dir/caf%C3%A9.html",
            // A legacy reference followed by `=` stays as written in an attribute, as the
            // standard says (so that old query strings keep working).
            "/q?x=1&copy=2",
        ]
    );
}

#[test]
fn comments_scripts_and_styles_hold_no_links() {
    let html = "<!-- <a href=/commented>x</a> --> <a href=/1>1</a>\
                <script>document.write('<a href=/scripted>')</script>\
                <style>a[href=\"/styled\"] {}</style><title><a href=/titled></title>\
                <textarea><a href=/typed></textarea><a href=/2>2</a>";
    assert_eq!(read(html), ["/1", "/2"]);
}

#[test]
fn base_href_sets_the_base_and_is_no_link() {
    let html = "<a href=intro.html>before the base</a><base href=\"/docs/\">\
                <a href=intro.html>after</a> <base href=/other/> <a href=?q>query</a>";
    // The first `<base href>` counts, for every link, wherever it stands.
    assert_eq!(
        read(html),
        ["/docs/intro.html", "/docs/intro.html", "/docs/?q"]
    );
    // A base without href is no base; a relative base resolves against the page.
    assert_eq!(read("<base target=_top><a href=a>"), ["/dir/a"]);
    assert_eq!(read("<base href=sub/><a href=a>"), ["/dir/sub/a"]);
    // A base that is not http leaves only absolute http links to follow.
    assert_eq!(
        read("<base href=https://o/><a href=a><a href=http://o/b>"),
        ["http://o/b"]
    );
}

#[test]
fn only_a_and_area_are_followed() {
    let html = "<link href=/style.css rel=stylesheet><img src=/i.png><script src=/s.js></script>\
                <iframe src=/frame></iframe><form action=/post></form><a href=/page>p</a>\
                <map><area href=/region></map><abbr href=/no><link rel=next href=/next>";
    assert_eq!(read(html), ["/page", "/region"]);
}

#[test]
fn schemes_other_than_http_are_left_out() {
    let html = "<a href=mailto:a@b><a href=javascript:void(0)><a href=tel:+1><a href=data:,x>\
                <a href=https://o/><a href=//o/p><a href=?q=1><a href=#top><a href=http://o:81/>";
    assert_eq!(
        read(html),
        [
            "http://o/p",
            "/dir/page.html?q=1",
            "/dir/page.html",
            "http://o:81/"
        ]
    );
}

#[test]
fn the_first_of_repeated_attributes_counts() {
    assert_eq!(read("<a href=/first href=/second>"), ["/first"]);
    assert_eq!(read("<a href=\"\" href=/second>"), Vec::<String>::new());
    // Attributes on an end tag are no link.
    assert_eq!(read("<a>x</a href=/end>"), Vec::<String>::new());
}

#[test]
fn malformed_html_is_read_as_a_browser_reads_it() {
    // An unclosed tag: the next `<` is part of its attribute value, not a new tag.
    assert_eq!(read("<a href=/1 <a href=/2>"), ["/1"]);
    // `<` and `>` inside a quoted value.
    assert_eq!(read("<a title='a<b>c' href=\"/x<y\">"), ["/x%3Cy"]);
    // An unterminated comment swallows the rest of the page.
    assert_eq!(read("<a href=/1><!-- <a href=/2>"), ["/1"]);
    // A tag cut off by the end of the page is no tag.
    assert_eq!(read("<a href=/1><a href=/2"), ["/1"]);
    assert_eq!(read("<a href=\"/1"), Vec::<String>::new());
    // A stray `</ `, `<!` or `<?` opens a bogus comment, which runs to the next `>`.
    assert_eq!(read("</ <a href=/1> <a href=/2>"), ["/2"]);
    assert_eq!(read("<? <a href=/1> <! x> <a href=/2>"), ["/2"]);
    // Bytes that are not UTF-8.
    let bytes = b"\xff\xfe <a href=/\xe9>x</a> <a href=/ok>";
    let page = Url::parse("http://h/").unwrap();
    let urls: Vec<String> = links(&page, bytes)
        .urls
        .iter()
        .map(|u| u.path.clone())
        .collect();
    assert_eq!(urls, ["/%EF%BF%BD", "/ok"]);
    // Nothing at all, and no tags.
    assert_eq!(read(""), Vec::<String>::new());
    assert_eq!(read("href=/x href=\"/y\""), Vec::<String>::new());
}

#[test]
fn caps_links_per_page_and_bytes_per_link() {
    let page = Url::parse("http://h/").unwrap();
    let many = "<a href=/x>".repeat(MAX_LINKS + 5);
    let found = links(&page, many.as_bytes());
    assert_eq!(found.urls.len(), MAX_LINKS);
    assert!(found.capped);
    let long = format!("<a href=/{}><a href=/ok>", "x".repeat(MAX_URL_BYTES));
    let found = links(&page, long.as_bytes());
    assert_eq!(
        (found.urls.len(), found.too_long, found.capped),
        (1, 1, false)
    );
    let just = format!("<a href=/{}>", "x".repeat(MAX_URL_BYTES - 1));
    assert_eq!(links(&page, just.as_bytes()).urls.len(), 1);
}

#[test]
fn only_html_is_read() {
    let page = |content_type: Option<&str>| Page {
        status: 200,
        reason: "OK".into(),
        headers: content_type
            .map(|value| ("content-type".to_string(), value.to_string()))
            .into_iter()
            .collect(),
        body: Vec::new(),
    };
    for (content_type, html) in [
        (Some("text/html"), true),
        (Some("text/html; charset=utf-8"), true),
        (Some("  TEXT/HTML ;charset=x"), true),
        (Some("application/xhtml+xml"), true),
        (Some("text/plain"), false),
        (Some("text/htmlx"), false),
        (Some("application/json; note=text/html"), false),
        (None, false),
    ] {
        assert_eq!(is_html(&page(content_type)), html, "{content_type:?}");
    }
}
