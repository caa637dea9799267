//! NOTES.md cannot drift from the code: every code block in it that is marked
//!
//! ````text
//! <!-- excerpt: crawler/src/stage1.rs#connected -->
//! ```rust
//! ...
//! ```
//! ````
//!
//! must be exactly the lines between `// ANCHOR: connected` and `// ANCHOR_END: connected`
//! in that file (other anchor lines left out, common indentation removed).
//!
//! After changing the code, `LOOPLAB_BLESS=1 cargo test --test notes` rewrites every marked
//! block from the source; read the diff of NOTES.md before you commit it.

use std::collections::BTreeSet;
use std::path::Path;

const MARK: &str = "<!-- excerpt: ";

/// The lines of `path` between the markers of `anchor`, dedented.
fn anchored(path: &str, anchor: &str) -> Result<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(path)).map_err(|e| format!("{path}: {e}"))?;
    let start = format!("ANCHOR: {anchor}");
    let end = format!("ANCHOR_END: {anchor}");
    let mut lines = Vec::new();
    let mut inside = false;
    let mut found = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.ends_with(&start) && trimmed.starts_with("//") {
            inside = true;
            found = true;
            continue;
        }
        if trimmed.ends_with(&end) && trimmed.starts_with("//") {
            inside = false;
            continue;
        }
        if inside && !(trimmed.starts_with("// ANCHOR")) {
            lines.push(line);
        }
    }
    if !found {
        return Err(format!("{path} has no anchor {anchor:?}"));
    }
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    Ok(lines
        .iter()
        .map(|l| if l.len() >= indent { &l[indent..] } else { "" })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Every `(source, anchor, block text, line number)` marked in NOTES.md.
fn excerpts(notes: &str) -> Vec<(String, String, String, usize)> {
    let lines: Vec<&str> = notes.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(rest) = line.strip_prefix(MARK) {
            let target = rest.trim_end_matches("-->").trim();
            let (path, anchor) = target
                .split_once('#')
                .unwrap_or_else(|| panic!("NOTES.md:{}: expected path#anchor", i + 1));
            let fence = lines
                .get(i + 1)
                .filter(|l| l.starts_with("```"))
                .unwrap_or_else(|| {
                    panic!(
                        "NOTES.md:{}: an excerpt mark must precede a ``` block",
                        i + 1
                    )
                });
            let close = (i + 2..lines.len())
                .find(|&j| lines[j].starts_with("```"))
                .unwrap_or_else(|| panic!("NOTES.md:{}: unclosed block", i + 2));
            let _ = fence;
            let block = lines[i + 2..close].join("\n");
            found.push((path.to_string(), anchor.to_string(), block, i + 1));
            i = close;
        }
        i += 1;
    }
    found
}

/// `notes` with every marked block replaced by its source.
fn blessed(notes: &str) -> String {
    let lines: Vec<&str> = notes.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        out.push(lines[i].to_string());
        if let Some(rest) = lines[i].trim().strip_prefix(MARK) {
            let (path, anchor) = rest.trim_end_matches("-->").trim().split_once('#').unwrap();
            let close = (i + 2..lines.len())
                .find(|&j| lines[j].starts_with("```"))
                .unwrap();
            out.push(lines[i + 1].to_string());
            match anchored(path, anchor) {
                Ok(source) => out.push(source),
                Err(_) => out.extend(lines[i + 2..close].iter().map(|l| l.to_string())),
            }
            i = close;
            continue;
        }
        i += 1;
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[test]
fn notes_excerpts_match_the_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut notes = std::fs::read_to_string(root.join("NOTES.md")).expect("NOTES.md");
    if std::env::var_os("LOOPLAB_BLESS").is_some() {
        notes = blessed(&notes);
        std::fs::write(root.join("NOTES.md"), &notes).expect("NOTES.md");
    }
    let found = excerpts(&notes);
    assert!(!found.is_empty(), "NOTES.md has no checked excerpts");
    let mut problems = Vec::new();
    for (path, anchor, block, line) in &found {
        match anchored(path, anchor) {
            Ok(source) if source.trim_end() == block.trim_end() => {}
            Ok(source) => problems.push(format!(
                "NOTES.md:{line}: the excerpt of {path}#{anchor} differs from the source.\n\
                 --- source ---\n{source}\n--- NOTES.md ---\n{block}\n"
            )),
            Err(e) => problems.push(format!("NOTES.md:{line}: {e}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_stage_has_a_chapter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let notes = std::fs::read_to_string(root.join("NOTES.md")).expect("NOTES.md");
    let chapters: BTreeSet<&str> = notes.lines().filter(|l| l.starts_with("## ")).collect();
    for stage in crawler::stages() {
        let number = stage
            .name
            .split_whitespace()
            .next()
            .unwrap()
            .trim_start_matches("stage");
        assert!(
            chapters
                .iter()
                .any(|c| c.starts_with(&format!("## Stage {number}"))),
            "NOTES.md has no chapter \"## Stage {number}…\" (chapters: {chapters:?})"
        );
    }
}

#[test]
fn the_checker_itself_catches_drift() {
    let notes = "x\n<!-- excerpt: crawler/src/stage0.rs#fetch -->\n```rust\nfn nope() {}\n```\n";
    let found = excerpts(notes);
    assert_eq!(found.len(), 1);
    let (path, anchor, block, _) = &found[0];
    let source = anchored(path, anchor).unwrap();
    assert_ne!(source.trim_end(), block.trim_end());
    assert!(anchored("crawler/src/stage0.rs", "no-such-anchor").is_err());
}
