//! The HTML: one page per step (and per contrast) and an index, each self-contained (its
//! style inline, no script, no font or image to fetch), readable from the file system.
//!
//! A side-by-side row is `<div class="r …">` holding, per side, a line number, a sign and
//! `<code class="a">` (old) or `<code class="b">` (new) with the line's text, HTML-escaped;
//! a side with no line has `<code class="a x"></code>`. Unchanged runs fold into a
//! `<details>` whose summary says how many lines it hides: the lines are still on the page,
//! one click away.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::diff::{Kind, Row, hidden_line, rows, shown, words};
use crate::pairs::{Page, Pair, Side};
use crate::source::{Hunk, Line, Spot, dedent};

const STYLE: &str = include_str!("style.css");

/// `text` with `&`, `<`, `>` and `"` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A line of Markdown as HTML: `code`, [`links`] as their text, **bold**, *italics*.
pub fn inline(markdown: &str) -> String {
    let text = escape(markdown).replace("[`", "`").replace("`]", "`");
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        match i % 2 {
            1 => write!(out, "<code>{part}</code>").unwrap(),
            _ => out.push_str(&toggle(&toggle(part, "**", "b"), "*", "i")),
        }
    }
    out
}

/// `text` with every other `mark` opening, then closing, a `tag`.
fn toggle(text: &str, mark: &str, tag: &str) -> String {
    if text.matches(mark).count() % 2 == 1 {
        return text.to_string(); // an unpaired mark is just a character
    }
    let mut out = String::new();
    for (i, part) in text.split(mark).enumerate() {
        match i {
            0 => {}
            i if i % 2 == 1 => write!(out, "<{tag}>").unwrap(),
            _ => write!(out, "</{tag}>").unwrap(),
        }
        out.push_str(part);
    }
    out
}

/// An id for a place on the page, from a path: letters and digits, the rest `-`.
pub fn id(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A curated hunk as it is marked in a diff: which lines it covers on each side.
struct Mark<'a> {
    hunk: &'a Hunk,
    number: usize,
    old: BTreeSet<usize>,
    new: BTreeSet<usize>,
}

/// The rows of `old` against `new`, folded, with each mark's rows outlined (never folded)
/// and captioned.
fn diff(out: &mut String, old: &[Line], new: &[Line], marks: &[&Mark]) {
    let old_text: Vec<&str> = old.iter().map(|(_, l)| l.as_str()).collect();
    let new_text: Vec<&str> = new.iter().map(|(_, l)| l.as_str()).collect();
    let rows = rows(&old_text, &new_text);
    let touches = |row: &Row, mark: &Mark| {
        row.old.is_some_and(|o| mark.old.contains(&old[o].0))
            || row.new.is_some_and(|n| mark.new.contains(&new[n].0))
    };
    let firsts: Vec<Option<usize>> = marks
        .iter()
        .map(|mark| rows.iter().position(|r| touches(r, mark)))
        .collect();
    let marked = |i: usize| marks.iter().any(|mark| touches(&rows[i], mark));
    let shown = shown(&rows, marked);
    out.push_str("<div class=\"diff\">\n");
    let mut i = 0;
    while i < rows.len() {
        if !shown[i] {
            let end = (i..rows.len()).find(|&j| shown[j]).unwrap_or(rows.len());
            let (a, b) = (&rows[i], &rows[end - 1]);
            let (o1, o2) = (old[a.old.unwrap()].0, old[b.old.unwrap()].0);
            let (n1, n2) = (new[a.new.unwrap()].0, new[b.new.unwrap()].0);
            let summary = hidden_line(end - i);
            writeln!(
                out,
                "<details class=\"fold\"><summary>{summary} \
                 <small>(old {o1}–{o2}, new {n1}–{n2}: click to show)</small></summary>"
            )
            .unwrap();
            for row in &rows[i..end] {
                row_html(out, row, old, new, false);
            }
            out.push_str("</details>\n");
            i = end;
            continue;
        }
        // A hunk's caption goes above its first row; its rows are outlined.
        for (mark, _) in marks.iter().zip(&firsts).filter(|(_, f)| **f == Some(i)) {
            let (n, caption) = (mark.number, inline(&mark.hunk.caption));
            writeln!(
                out,
                "<p class=\"caption\" id=\"mark-{n}\"><a href=\"#hunk-{n}\">NOTES hunk \
                 {n}</a> {caption}</p>"
            )
            .unwrap();
        }
        row_html(out, &rows[i], old, new, marked(i));
        i += 1;
    }
    out.push_str("</div>\n");
}

/// One row: line number, sign and text, old side then new side; `hunk`: outlined, as a
/// line of a curated hunk.
fn row_html(out: &mut String, row: &Row, old: &[Line], new: &[Line], hunk: bool) {
    let (kind, sign_old, sign_new) = match row.kind {
        Kind::Same => ("same", " ", " "),
        Kind::Removed => ("del", "-", ""),
        Kind::Added => ("add", "", "+"),
        Kind::Changed => ("chg", "!", "!"),
    };
    let (old_line, new_line) = (row.old.map(|o| &old[o]), row.new.map(|n| &new[n]));
    let emphasis = match (row.kind, old_line, new_line) {
        (Kind::Changed, Some((_, a)), Some((_, b))) => words(a, b),
        _ => None,
    };
    let hunk = if hunk { " in" } else { "" };
    write!(out, "<div class=\"r {kind}{hunk}\">").unwrap();
    for (side, line, sign, words) in [
        ("a", old_line, sign_old, emphasis.as_ref().map(|w| &w.0)),
        ("b", new_line, sign_new, emphasis.as_ref().map(|w| &w.1)),
    ] {
        let Some((number, text)) = line else {
            write!(
                out,
                "<span class=\"n x\"></span><span class=\"s x\"></span>"
            )
            .unwrap();
            write!(out, "<code class=\"{side} x\"></code>").unwrap();
            continue;
        };
        let raw = text;
        let text = match words {
            Some(words) => words
                .iter()
                .map(|&(changed, w)| match changed && !w.trim().is_empty() {
                    true => format!("<em>{}</em>", escape(w)),
                    false => escape(w),
                })
                .collect(),
            None => escape(text),
        };
        // A wrapped line goes on under its own indentation, four columns in.
        let indent = raw.len() - raw.trim_start().len() + 4;
        write!(
            out,
            "<span class=\"n\">{number}</span><span class=\"s\">{sign}</span>"
        )
        .unwrap();
        write!(
            out,
            "<code class=\"{side}\" style=\"--i:{indent}ch\">{text}</code>"
        )
        .unwrap();
    }
    out.push_str("</div>\n");
}

fn pair_html(out: &mut String, pair: &Pair, marks: &[&Mark]) {
    let (old, new) = (&pair.old, &pair.new);
    let note = match (old.spots.is_empty(), new.spots.is_empty()) {
        (true, _) => " <small>new file</small>",
        (_, true) => " <small>gone</small>",
        _ if old.lines == new.lines => " <small>identical</small>",
        _ => "",
    };
    let here = if new.spots.is_empty() { old } else { new };
    write!(
        out,
        "<section class=\"pair\" id=\"{}\">\n<h3 class=\"sides\"><span>{}</span>\
         <span class=\"new\">{}{note}</span></h3>\n",
        id(&here.label()),
        escape(&old.label()),
        escape(&new.label())
    )
    .unwrap();
    diff(out, &old.lines, &new.lines, marks);
    out.push_str("</section>\n");
}

/// The curated hunks of a page, each a small side-by-side diff of its two regions
/// (dedented, as NOTES.md shows them) under its caption.
fn hunks_html(out: &mut String, hunks: &[Hunk]) -> Result<(), String> {
    if hunks.is_empty() {
        return Ok(());
    }
    let count = hunks.len();
    write!(
        out,
        "<section class=\"hunks\">\n<h2>The lesson in {count} hunks</h2>\n"
    )
    .unwrap();
    out.push_str(
        "<p>NOTES.md shows these in its chapter's diff section; each is outlined below in the \
         whole diff too.</p>\n",
    );
    for (i, hunk) in hunks.iter().enumerate() {
        let n = i + 1;
        let dedented = |side: &Side| -> Vec<Line> {
            let lines = dedent(&side.lines);
            side.lines.iter().map(|l| l.0).zip(lines).collect()
        };
        let (old, new) = (
            Side::of(vec![hunk.old.clone()])?,
            Side::of(vec![hunk.new.clone()])?,
        );
        write!(
            out,
            "<section class=\"hunk\" id=\"hunk-{n}\">\n<p class=\"caption\">{n}. {} \
             <a href=\"#mark-{n}\">↓ in the whole diff</a></p>\n<h3 class=\"sides\">\
             <span>{}</span><span class=\"new\">{}</span></h3>\n",
            inline(&hunk.caption),
            escape(&hunk.old.to_string()),
            escape(&hunk.new.to_string())
        )
        .unwrap();
        diff(out, &dedented(&old), &dedented(&new), &[]);
        out.push_str("</section>\n");
    }
    out.push_str("</section>\n");
    Ok(())
}

fn head(out: &mut String, title: &str) {
    write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>looplab: {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        escape(title)
    )
    .unwrap();
}

const LEGEND: &str = "<p class=\"legend\">Old left, new right: \
    <span class=\"s del\">-</span> removed <span class=\"s add\">+</span> added \
    <span class=\"s chg\">!</span> changed (as in <code>diff -c</code>), its changed words \
    in <b>bold</b> · ⋯ unchanged lines folded: click to show · line numbers are the \
    files'; <code>// ANCHOR</code> lines left out</p>\n";

/// The HTML of `page`; `prev` and `next` are the neighbouring pages, for the links.
pub fn page_html(page: &Page, prev: Option<&Page>, next: Option<&Page>) -> Result<String, String> {
    let mut out = String::new();
    head(&mut out, &page.title);
    out.push_str("<nav><a href=\"index.html\">all diffs</a>");
    for (page, arrow) in [(prev, "←"), (next, "→")] {
        if let Some(p) = page {
            write!(
                out,
                " · <a href=\"{}\">{arrow} {}</a>",
                p.file,
                escape(&p.title)
            )
            .unwrap();
        }
    }
    write!(
        out,
        "</nav>\n<h1>{} <small>NOTES.md: <a href=\"../../NOTES.md\">{}</a></small></h1>\n",
        escape(&page.title),
        inline(&page.chapter)
    )
    .unwrap();
    out.push_str(LEGEND);
    hunks_html(&mut out, &page.hunks)?;
    let mut marks: Vec<Mark> = Vec::new();
    for (i, hunk) in page.hunks.iter().enumerate() {
        let numbers = |spot: &Spot| -> Result<BTreeSet<usize>, String> {
            Ok(Side::of(vec![spot.clone()])?
                .lines
                .iter()
                .map(|l| l.0)
                .collect())
        };
        marks.push(Mark {
            hunk,
            number: i + 1,
            old: numbers(&hunk.old)?,
            new: numbers(&hunk.new)?,
        });
    }
    for group in &page.groups {
        write!(
            out,
            "<section class=\"group\">\n<h2>{}</h2>\n<p class=\"lesson\"><b>New here:</b> {}</p>\n",
            escape(&group.title),
            inline(&group.lesson)
        )
        .unwrap();
        for pair in &group.pairs {
            let path = |side: &Side| side.spots.first().map(|s| s.path.clone());
            let (old, new) = (path(&pair.old), path(&pair.new));
            let mine: Vec<&Mark> = marks
                .iter()
                .filter(|m| old.as_ref() == Some(&m.hunk.old.path))
                .filter(|m| new.as_ref() == Some(&m.hunk.new.path))
                .collect();
            pair_html(&mut out, pair, &mine);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// The index: every page, what it teaches, and its curated hunks.
pub fn index_html(pages: &[Page]) -> String {
    let mut out = String::new();
    head(&mut out, "the diffs");
    out.push_str(
        "<h1>looplab: the diffs, stage by stage</h1>\n<p>Each page sets a stage beside the one \
         before it, file by file, old on the left and new on the right, made from the \
         sources by <code>cargo run --example diffs</code>. Read them with NOTES.md: each \
         page opens with the hunks its chapter shows.</p>\n<ol class=\"index\">\n",
    );
    for page in pages {
        write!(
            out,
            "<li><a href=\"{}\">{}</a> <small>— NOTES.md: {}</small>\n<ul>\n",
            page.file,
            escape(&page.title),
            inline(&page.chapter)
        )
        .unwrap();
        for group in &page.groups {
            let files = group.pairs.len();
            let files = if files == 1 {
                String::new()
            } else {
                format!(", {files} files")
            };
            writeln!(
                out,
                "<li>{}{files}: {}</li>",
                escape(&group.title),
                inline(&group.lesson)
            )
            .unwrap();
        }
        for (i, hunk) in page.hunks.iter().enumerate() {
            writeln!(
                out,
                "<li class=\"h\"><a href=\"{}#hunk-{}\">hunk {}</a>: {}</li>",
                page.file,
                i + 1,
                i + 1,
                inline(&hunk.caption)
            )
            .unwrap();
        }
        out.push_str("</ul></li>\n");
    }
    out.push_str("</ol>\n</body>\n</html>\n");
    out
}

/// Writes the index and every page under `dir`; returns the files written.
pub fn write(dir: &Path, pages: &[Page]) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    let mut put = |name: &str, html: String| {
        let path = dir.join(name);
        std::fs::write(&path, html).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
        Ok::<_, String>(())
    };
    put("index.html", index_html(pages))?;
    for (i, page) in pages.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|i| pages.get(i));
        put(&page.file, page_html(page, prev, pages.get(i + 1))?)?;
    }
    Ok(written)
}
