//! Rules of the workshop's layout that no compiler checks:
//!
//! - stage 3's runtime *is* stage 2's, plus `yield_from.rs`: that sameness is stage 3's
//!   lesson ("the Task is unchanged; only delegation is added"), so every file stage 3
//!   inherits stays byte for byte stage 2's;
//! - every `// ANCHOR: name` region of the sources is quoted by an excerpt of NOTES.md: an
//!   anchor nobody quotes is noise in the code a learner reads. A stage file's anchor also
//!   counts as quoted when NOTES quotes the same anchor of the same file in another stage
//!   (`runtime/src/stage4/net.rs#read` makes `runtime/src/stage5/net.rs#read` used): twins
//!   keep the same marker lines, or every consecutive diff would show them come and go.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files stage 3 takes from stage 2 unchanged (everything but the module's own doc).
const INHERITED: &[&str] = &[
    "coroutine.rs",
    "event_loop.rs",
    "future.rs",
    "task.rs",
    "tests.rs",
];

/// The names of the files of `dir` that differ from their twin in `twin` (or have none).
fn differing(dir: &Path, twin: &Path, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|name| fs::read(dir.join(name)).ok() != fs::read(twin.join(name)).ok())
        .map(|name| name.to_string())
        .collect()
}

#[test]
fn stage_3_inherits_stage_2s_runtime_byte_for_byte() {
    let (stage2, stage3) = (
        root().join("runtime/src/stage2"),
        root().join("runtime/src/stage3"),
    );
    let differ = differing(&stage2, &stage3, INHERITED);
    assert!(
        differ.is_empty(),
        "stage 3's runtime must keep stage 2's files unchanged (its lesson is that only \
         yield_from.rs is new), but these differ: {differ:?}. Change both, or neither."
    );
    // And stage 3 adds exactly one file of its own, besides its doc.
    let own: BTreeSet<String> = fs::read_dir(&stage3)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| !INHERITED.contains(&name.as_str()) && name != "mod.rs")
        .collect();
    assert_eq!(own, BTreeSet::from(["yield_from.rs".to_string()]));
}

#[test]
fn the_inheritance_check_sees_a_changed_file() {
    let dir = std::env::temp_dir().join(format!("looplab-guard-{}", std::process::id()));
    let (a, b) = (dir.join("a"), dir.join("b"));
    for d in [&a, &b] {
        fs::create_dir_all(d).unwrap();
        fs::write(d.join("same.rs"), "fn x() {}\n").unwrap();
    }
    fs::write(a.join("other.rs"), "fn y() {}\n").unwrap();
    fs::write(b.join("other.rs"), "fn y() { }\n").unwrap();
    let differ = differing(&a, &b, &["same.rs", "other.rs"]);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(differ, ["other.rs"]);
}

/// Every Rust source under the project's code folders.
fn sources() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs: Vec<PathBuf> = ["runtime/src", "crawler/src", "examples", "tests"]
        .iter()
        .map(|d| root().join(d))
        .collect();
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// `path#name` of every `// ANCHOR: name` in `text`, `path` relative to the project.
fn anchors(path: &str, text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("// ANCHOR: "))
        .map(|name| format!("{path}#{}", name.trim()))
        .collect()
}

/// `path#name` of every excerpt mark in NOTES.md, and of both sides of every hunk mark
/// (`<!-- hunk: OLD#A NEW#B | caption: … -->`, checked by `tests/hunks.rs`), each with its
/// stage number replaced by `N` (see [`stageless`]).
fn quoted(notes: &str) -> BTreeSet<String> {
    let excerpts = notes
        .lines()
        .filter_map(|line| line.trim().strip_prefix("<!-- excerpt: "))
        .map(|rest| rest.trim_end_matches("-->").trim());
    let hunks = notes
        .lines()
        .filter_map(|line| line.trim().strip_prefix("<!-- hunk: "))
        .filter_map(|rest| rest.split_once('|'))
        .flat_map(|(places, _caption)| places.split_whitespace());
    excerpts.chain(hunks).map(stageless).collect()
}

/// `runtime/src/stage4/net.rs#read` and `crawler/src/stage2.rs#crawl` become
/// `runtime/src/stageN/net.rs#read` and `crawler/src/stageN.rs#crawl`: the same place in
/// every stage's snapshot.
fn stageless(anchor: &str) -> String {
    let mut out = String::new();
    let mut rest = anchor;
    while let Some(at) = rest.find("/stage") {
        let (before, after) = rest.split_at(at + "/stage".len());
        out.push_str(before);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push('N');
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The anchors of `files` that no excerpt of `notes` quotes.
fn unused(files: &[(String, String)], notes: &str) -> Vec<String> {
    let quoted = quoted(notes);
    files
        .iter()
        .flat_map(|(path, text)| anchors(path, text))
        .filter(|anchor| !quoted.contains(&stageless(anchor)))
        .collect()
}

#[test]
fn every_anchor_is_quoted_by_notes() {
    let notes = fs::read_to_string(root().join("NOTES.md")).unwrap();
    let files: Vec<(String, String)> = sources()
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(root()).unwrap();
            let relative = relative.to_string_lossy().replace('\\', "/");
            (relative, fs::read_to_string(&path).unwrap())
        })
        .collect();
    let unused = unused(&files, &notes);
    assert!(
        unused.is_empty(),
        "{} ANCHOR regions are quoted by no excerpt of NOTES.md; quote them or delete the \
         two marker lines:\n{}",
        unused.len(),
        unused.join("\n")
    );
}

#[test]
fn the_anchor_check_sees_an_unused_anchor() {
    let files = [(
        "a.rs".to_string(),
        "// ANCHOR: used\nfn a() {}\n// ANCHOR_END: used\n// ANCHOR: spare\n// ANCHOR_END: spare\n"
            .to_string(),
    )];
    let notes = "<!-- excerpt: a.rs#used -->\n```rust\nfn a() {}\n```\n";
    assert_eq!(unused(&files, notes), ["a.rs#spare"]);
    // A twin in another stage counts; a different file does not.
    let twins = [
        (
            "runtime/src/stage5/net.rs".to_string(),
            "// ANCHOR: read\n".to_string(),
        ),
        (
            "runtime/src/stage5/reactor.rs".to_string(),
            "// ANCHOR: read\n".to_string(),
        ),
    ];
    let notes = "<!-- excerpt: runtime/src/stage4/net.rs#read -->\n";
    assert_eq!(
        unused(&twins, notes),
        ["runtime/src/stage5/reactor.rs#read"]
    );
    // Either side of a curated hunk counts as quoted too.
    let notes = "<!-- hunk: a.rs#spare b.rs#x | caption: c -->\n```diff\n```\n\
                 <!-- excerpt: a.rs#used -->\n";
    assert!(unused(&files, notes).is_empty());
}
