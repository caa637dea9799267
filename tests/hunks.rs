//! NOTES.md's curated diff hunks cannot drift from the code. Each stage chapter's diff section
//! shows the lesson of the diff from the stage before in one to three hunks, each marked
//!
//! ````text
//! <!-- hunk: crawler/src/stage1.rs#read_response crawler/src/stage2.rs#reading | caption: … -->
//! ```diff
//! -/// Callback: the socket is readable. Reads until `WouldBlock` (mio is edge-triggered:
//! +(State::Reading { response }, Some(stream), Some(token)) => {
//!      loop {
//! ...
//! ```
//! ````
//!
//! and each block must be exactly the diff this test makes of the two anchored regions:
//!
//! - each region is the lines between `// ANCHOR: name` and `// ANCHOR_END: name` of its
//!   file, other anchor lines left out, its common indentation removed (as `tests/notes.rs`
//!   reads an excerpt), so a callback method can be compared with a `match` arm;
//! - the diff is `similar`'s patience diff of the two, line by line, exact lines;
//! - every line is prefixed with ' ' (in both), '-' (old only) or '+' (new only), with no
//!   `@@` headers: a hunk is one region against another, whole. Where lines were replaced,
//!   the removed ones come first, then the added ones, as in `diff -u`;
//! - a run of unchanged lines that would hide four lines or more keeps its first three and
//!   its last three, and the rest become one line, `  ⋯ N unchanged lines`;
//! - trailing spaces are trimmed (an empty unchanged line is empty, not one space), so an
//!   editor that strips them cannot break the block;
//! - a hunk is 20 to 40 lines: one screen. A hunk that outgrows that is no longer a curated
//!   hunk; choose narrower anchors.
//!
//! The caption says in one line what to look at. The mark sits inside the stage chapter's
//! "The diff from …" section: the new side is that stage's code. The diffs page
//! (`cargo run --example diffs`) shows each hunk with its caption, in colour, side by side.
//!
//! After changing the code, `LOOPLAB_BLESS=1 cargo test --test hunks` rewrites every block
//! from the sources (a new mark may come with an empty block); read NOTES.md's diff before
//! committing it.

#[path = "../examples/diffs/diff.rs"]
mod diff;
#[path = "../examples/diffs/source.rs"]
#[allow(dead_code)]
mod source;

use diff::hunk;
use source::{HUNK_MARK, Hunk, hunks, read, root};

/// The shortest and the longest a hunk may be, in lines.
const LINES: std::ops::RangeInclusive<usize> = 20..=40;

/// `notes` with every hunk block replaced by the one made from the sources.
fn blessed(notes: &str) -> String {
    let lines: Vec<&str> = notes.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        out.push(lines[i].to_string());
        let made = lines[i]
            .trim()
            .strip_prefix(HUNK_MARK)
            .and_then(|rest| source::parse_mark(rest).ok())
            .and_then(|(old, new, _)| hunk(&old, &new).ok());
        let close = (i + 2..lines.len()).find(|&j| lines[j].starts_with("```"));
        if let (Some(made), Some(close), Some(&"```diff")) = (made, close, lines.get(i + 1)) {
            out.push(lines[i + 1].to_string());
            out.extend(made);
            i = close;
            continue;
        }
        i += 1;
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// What is wrong with `hunk` as NOTES.md has it.
fn problems(hunk: &Hunk) -> Vec<String> {
    let at = format!("NOTES.md:{}: {} {}", hunk.line, hunk.old, hunk.new);
    let made = match self::hunk(&hunk.old, &hunk.new) {
        Ok(made) => made,
        Err(e) => return vec![format!("{at}: {e}")],
    };
    let mut problems = Vec::new();
    if made != hunk.block {
        problems.push(format!(
            "{at}: the hunk differs from the sources (LOOPLAB_BLESS=1 cargo test --test \
             hunks rewrites it).\n--- made from the sources ---\n{}\n--- NOTES.md ---\n{}\n",
            made.join("\n"),
            hunk.block.join("\n")
        ));
    }
    if !LINES.contains(&made.len()) {
        problems.push(format!(
            "{at}: {} lines; a hunk is {LINES:?} lines",
            made.len()
        ));
    }
    problems
}

#[test]
fn notes_hunks_match_the_source() {
    let mut notes = read("NOTES.md").unwrap();
    if std::env::var_os("LOOPLAB_BLESS").is_some() {
        notes = blessed(&notes);
        std::fs::write(root().join("NOTES.md"), &notes).unwrap();
    }
    let hunks = hunks(&notes).unwrap();
    let problems: Vec<String> = hunks.iter().flat_map(problems).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_stage_chapter_shows_one_to_three_hunks_in_its_diff_section() {
    let notes = read("NOTES.md").unwrap();
    let hunks = hunks(&notes).unwrap();
    for stage in 1..=5 {
        let count = hunks.iter().filter(|h| h.stage == stage).count();
        assert!(
            (1..=3).contains(&count),
            "stage {stage}'s chapter has {count} hunks; one to three show the lesson"
        );
    }
    let lines: Vec<&str> = notes.lines().collect();
    for hunk in &hunks {
        let section = lines[..hunk.line]
            .iter()
            .rev()
            .find(|l| l.starts_with("### ") || l.starts_with("## "));
        assert!(
            section.is_some_and(|s| s.starts_with("### The diff from")),
            "NOTES.md:{}: a hunk belongs in its chapter's \"The diff from …\" section, not \
             under {section:?}",
            hunk.line
        );
        assert!(
            hunk.new.path.contains(&format!("stage{}", hunk.stage)),
            "NOTES.md:{}: a hunk in stage {}'s chapter shows stage {}'s code on its new side",
            hunk.line,
            hunk.stage,
            hunk.stage
        );
    }
}

#[test]
fn the_checker_itself_catches_drift() {
    let notes = "## Stage 1: x\n### The diff from the previous stage\n\
        <!-- hunk: crawler/src/stage0.rs#reading crawler/src/stage1.rs#reading | caption: c -->\n\
        ```diff\n-a\n+b\n```\n";
    let found = hunks(notes).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].caption, "c");
    assert_eq!(found[0].stage, 1);
    assert!(!problems(&found[0]).is_empty());
    // Blessing rewrites the block from the sources, and then it passes.
    let blessed = hunks(&blessed(notes)).unwrap();
    assert!(
        problems(&blessed[0]).is_empty(),
        "{:?}",
        problems(&blessed[0])
    );
    // A place that does not exist, or a mark without its caption, is an error.
    let missing = notes.replace("stage1.rs#reading", "stage1.rs#no_such_anchor");
    assert!(problems(&hunks(&missing).unwrap()[0])[0].contains("no such anchor"));
    assert!(hunks(&notes.replace(" | caption: c", "")).is_err());
}
