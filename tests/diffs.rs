//! The diffs pages (`cargo run --example diffs`): made here from the sources, as the example
//! makes them, and checked — every pair of every step is there, in reading order; each side
//! is exactly its file (or anchored regions), anchor lines left out, HTML-escaped; every
//! curated hunk of NOTES.md is on its step's page with its caption, shown on its own and
//! outlined in the whole diff; and a page needs nothing from outside itself.

#[path = "../examples/diffs/diff.rs"]
#[allow(dead_code)]
mod diff;
#[path = "../examples/diffs/page.rs"]
mod page;
#[path = "../examples/diffs/pairs.rs"]
mod pairs;
#[path = "../examples/diffs/source.rs"]
#[allow(dead_code)]
mod source;

use std::collections::BTreeSet;

use page::{escape, inline};
use pairs::{Page, Pair, Side};
use source::{Spot, code_lines, read};

/// Every page, with its HTML.
fn made() -> Vec<(Page, String)> {
    let pages = pairs::pages().unwrap();
    let html: Vec<String> = (0..pages.len())
        .map(|i| {
            let prev = i.checked_sub(1).map(|i| &pages[i]);
            page::page_html(&pages[i], prev, pages.get(i + 1)).unwrap()
        })
        .collect();
    pages.into_iter().zip(html).collect()
}

/// The HTML of each `<section class="pair">` of a page, in order.
fn pair_sections(html: &str) -> Vec<&str> {
    html.split("<section class=\"pair\"")
        .skip(1)
        .map(|s| &s[..s.find("</section>").unwrap()])
        .collect()
}

/// The texts of one side's cells (`a`: old, `b`: new) of a section, as the page has them:
/// escaped, with the changed-word marks taken out. Empty cells (no line) are skipped.
fn cells(section: &str, side: &str) -> Vec<String> {
    let open = format!("<code class=\"{side}\"");
    section
        .match_indices(&open)
        .map(|(at, _)| &section[at + open.len()..])
        .map(|rest| {
            let body = &rest[rest.find('>').unwrap() + 1..];
            body[..body.find("</code>").unwrap()]
                .replace("<em>", "")
                .replace("</em>", "")
        })
        .collect()
}

/// What a side must show: its lines, escaped.
fn expected(side: &Side) -> Vec<String> {
    side.lines.iter().map(|(_, line)| escape(line)).collect()
}

#[test]
fn every_step_and_contrast_has_its_page_and_every_file_its_pair() {
    let pages = pairs::pages().unwrap();
    let files: Vec<&str> = pages.iter().map(|p| p.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "stage0-1.html",
            "stage1-2.html",
            "stage2-3.html",
            "stage3-4.html",
            "stage4-5.html",
            "contrast0-4.html",
            "contrast2-4.html",
        ]
    );
    for (step, page) in pages.iter().take(5).enumerate() {
        let (old, new) = (step, step + 1);
        // The crawler: one pair, stage N's file beside stage N+1's.
        let crawler = &page.groups[0].pairs;
        assert_eq!(crawler.len(), 1);
        assert_eq!(crawler[0].old.label(), format!("crawler/src/stage{old}.rs"));
        assert_eq!(crawler[0].new.label(), format!("crawler/src/stage{new}.rs"));
        // The runtime: every file of either folder exactly once, twins side by side.
        let names = |dir: String| -> BTreeSet<String> {
            std::fs::read_dir(source::root().join(dir))
                .map(|d| {
                    d.map(|e| e.unwrap().file_name().into_string().unwrap())
                        .collect()
                })
                .unwrap_or_default()
        };
        let all: BTreeSet<String> = names(format!("runtime/src/stage{old}"))
            .union(&names(format!("runtime/src/stage{new}")))
            .cloned()
            .collect();
        let runtime = &page.groups[1].pairs;
        let name = |pair: &Pair| {
            let side = if pair.new.spots.is_empty() {
                &pair.old
            } else {
                &pair.new
            };
            side.label().rsplit('/').next().unwrap().to_string()
        };
        let shown: Vec<String> = runtime.iter().map(name).collect();
        assert_eq!(
            shown.iter().cloned().collect::<BTreeSet<_>>(),
            all,
            "{}",
            page.file
        );
        assert_eq!(shown.len(), all.len(), "{}: a file twice", page.file);
        assert_eq!(shown[0], "mod.rs", "{}: mod.rs first", page.file);
        assert_eq!(
            shown.last().unwrap(),
            "tests.rs",
            "{}: tests last",
            page.file
        );
        for pair in runtime {
            for (side, stage) in [(&pair.old, old), (&pair.new, new)] {
                if let Some(spot) = side.spots.first() {
                    assert!(spot.path.starts_with(&format!("runtime/src/stage{stage}/")));
                    assert!(spot.path.ends_with(&format!("/{}", name(pair))));
                }
            }
        }
    }
    // Stage 4's runtime is read in the order its doc gives: reactor, event loop, net; its
    // event loop (the executor) beside stage 3's.
    let pairs = &pages[3].groups[1].pairs;
    let order: Vec<String> = pairs.iter().map(|p| p.new.label()).collect();
    let at = |file: &str| order.iter().position(|l| l.ends_with(file)).unwrap();
    assert!(at("reactor.rs") < at("event_loop.rs") && at("event_loop.rs") < at("net.rs"));
    let loop_pair = &pairs[at("event_loop.rs")];
    assert_eq!(loop_pair.old.label(), "runtime/src/stage3/event_loop.rs");
}

#[test]
fn each_side_is_its_files_text_escaped_without_anchor_lines() {
    for (page, html) in made() {
        let pairs: Vec<&Pair> = page.groups.iter().flat_map(|g| &g.pairs).collect();
        let sections = pair_sections(&html);
        assert_eq!(sections.len(), pairs.len(), "{}", page.file);
        for (pair, section) in pairs.iter().zip(sections) {
            let label = format!("{}: {} → {}", page.file, pair.old.label(), pair.new.label());
            assert!(section.contains(&escape(&pair.old.label())), "{label}");
            assert!(section.contains(&escape(&pair.new.label())), "{label}");
            assert_eq!(
                cells(section, "a"),
                expected(&pair.old),
                "{label}: old side"
            );
            assert_eq!(
                cells(section, "b"),
                expected(&pair.new),
                "{label}: new side"
            );
            // And the sides are the files themselves, less their anchor lines.
            for side in [&pair.old, &pair.new] {
                if let [spot] = &side.spots[..]
                    && spot.anchor.is_empty()
                {
                    let text = read(&spot.path).unwrap();
                    let kept: Vec<&str> = text
                        .lines()
                        .filter(|l| !l.trim_start().starts_with("// ANCHOR"))
                        .collect();
                    let lines: Vec<&str> = side.lines.iter().map(|(_, l)| l.as_str()).collect();
                    assert_eq!(lines, kept, "{label}");
                    assert_eq!(side.lines, code_lines(&text), "{label}");
                }
            }
        }
        for section in pair_sections(&html) {
            let shown = [cells(section, "a"), cells(section, "b")].concat();
            assert!(
                !shown
                    .iter()
                    .any(|l| l.trim_start().starts_with("// ANCHOR")),
                "{}: an anchor line is shown",
                page.file
            );
        }
    }
}

#[test]
fn the_contrasts_set_stage_0_and_stage_2_beside_stage_4s_async_fn() {
    let pages = pairs::pages().unwrap();
    let contrast = |file: &str| &pages.iter().find(|p| p.file == file).unwrap().groups[0].pairs[0];
    let spots = |side: &Side| side.spots.iter().map(Spot::to_string).collect::<Vec<_>>();
    let async_fn = [
        "crawler/src/stage4.rs#fetch",
        "crawler/src/stage4.rs#read_all",
    ];
    let blocking = contrast("contrast0-4.html");
    assert_eq!(spots(&blocking.old), ["crawler/src/stage0.rs#fetch"]);
    assert_eq!(spots(&blocking.new), async_fn);
    let by_hand = contrast("contrast2-4.html");
    assert_eq!(
        spots(&by_hand.old),
        [
            "crawler/src/stage2.rs#fetch",
            "crawler/src/stage2.rs#resume"
        ]
    );
    assert_eq!(spots(&by_hand.new), async_fn);
}

#[test]
fn every_curated_hunk_is_on_its_page_with_its_caption() {
    let notes = read("NOTES.md").unwrap();
    let hunks = source::hunks(&notes).unwrap();
    assert!(hunks.len() >= 5);
    let made = made();
    for hunk in &hunks {
        let (page, html) = made
            .iter()
            .find(|(p, _)| p.file == format!("stage{}-{}.html", hunk.stage - 1, hunk.stage))
            .unwrap();
        let n = 1 + page.hunks.iter().position(|h| h.line == hunk.line).unwrap();
        let caption = inline(&hunk.caption);
        // On its own, near the top, with its caption…
        let own = format!(
            "<section class=\"hunk\" id=\"hunk-{n}\">\n<p class=\"caption\">{n}. {caption} "
        );
        assert!(
            html.contains(&own),
            "{}: hunk {n} ({}) missing",
            page.file,
            hunk.caption
        );
        // …and outlined in the whole diff of its files, captioned again: both regions whole,
        // the old one on the left, the new one on the right.
        let mark = format!(
            "<p class=\"caption\" id=\"mark-{n}\"><a href=\"#hunk-{n}\">NOTES hunk {n}</a> \
             {caption}</p>\n<div class=\"r "
        );
        let section = pair_sections(html)
            .into_iter()
            .find(|s| s.contains(&mark))
            .unwrap_or_else(|| panic!("{}: hunk {n} not marked in the diff", page.file));
        let outlined: String = section
            .split_inclusive("</div>\n")
            .filter(|row| row.contains("<div class=\"r ") && row.contains(" in\">"))
            .collect();
        for (side, spot) in [("a", &hunk.old), ("b", &hunk.new)] {
            let region: Vec<String> = spot.lines().unwrap().iter().map(|l| escape(&l.1)).collect();
            assert!(
                cells(&outlined, side)
                    .windows(region.len())
                    .any(|w| w == region),
                "{}: hunk {n}: {spot} is not whole among the outlined rows",
                page.file
            );
        }
    }
}

#[test]
fn a_page_says_what_its_step_teaches_and_where_notes_explains_it() {
    let notes = read("NOTES.md").unwrap();
    for (page, html) in made().iter().take(5) {
        let stage = page.file[7..8].parse::<usize>().unwrap();
        let chapter = source::chapter(&notes, stage).unwrap();
        assert!(html.contains(&format!(
            "<a href=\"../../NOTES.md\">{}</a>",
            inline(&chapter)
        )));
        let doc = read(&format!("crawler/src/stage{stage}.rs")).unwrap();
        let lesson = source::new_here(&doc).unwrap();
        assert!(html.contains(&format!("<b>New here:</b> {}</p>", inline(&lesson))));
    }
    // The first sentence, not the paragraph.
    let doc =
        "//! Title.\n//!\n//! **New here:** one idea. And more.\n//! Still more.\n//!\n//! x\n";
    assert_eq!(source::new_here(doc).unwrap(), "One idea.");
}

#[test]
fn the_pages_are_self_contained_and_written_where_asked() {
    let dir = std::env::temp_dir().join(format!("looplab-diffs-{}", std::process::id()));
    let pages = pairs::pages().unwrap();
    let written = page::write(&dir, &pages).unwrap();
    assert_eq!(written.len(), pages.len() + 1);
    for path in &written {
        let html = std::fs::read_to_string(path).unwrap();
        assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>\n"));
        // Nothing is fetched from elsewhere (the code shown may well contain "http://").
        let fetched = [
            "href=\"http",
            "src=\"http",
            "url(http",
            "<script",
            "<link",
            "<img",
            "@import",
        ];
        for outside in fetched {
            assert!(!html.contains(outside), "{}: {outside}", path.display());
        }
        // Links between pages point at pages that exist.
        for (at, _) in html.match_indices("href=\"") {
            let target = &html[at + 6..];
            let target = &target[..target.find('"').unwrap()];
            let file = target.split('#').next().unwrap();
            if !file.is_empty() && !file.starts_with("../") {
                assert!(dir.join(file).exists(), "{}: {target}", path.display());
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
