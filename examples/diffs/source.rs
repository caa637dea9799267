//! Reading what the diffs are made of: the stage sources (without their `// ANCHOR` marker
//! lines), anchored regions of them, the `**New here:**` sentence of a stage's doc, NOTES.md's
//! chapters, and its curated hunk marks.

use std::fs;
use std::path::Path;

/// The project's root folder.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The text of a file of the project, by its path relative to the root.
pub fn read(path: &str) -> Result<String, String> {
    fs::read_to_string(root().join(path)).map_err(|e| format!("{path}: {e}"))
}

/// A line of a source: its number in the file (from 1) and its text.
pub type Line = (usize, String);

/// Whether `line` is an `// ANCHOR: name` or `// ANCHOR_END: name` marker. Markers delimit
/// what NOTES.md quotes; they are not code, and no diff shows them.
pub fn is_marker(line: &str) -> bool {
    line.trim_start().starts_with("// ANCHOR")
}

/// Every line of `text` but the anchor markers, numbered as in the file.
pub fn code_lines(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !is_marker(line))
        .map(|(i, line)| (i + 1, line.to_string()))
        .collect()
}

/// The lines between `// ANCHOR: anchor` and `// ANCHOR_END: anchor` in `text`, other
/// markers left out, numbered as in the file; `None` if there is no such anchor.
pub fn region(text: &str, anchor: &str) -> Option<Vec<Line>> {
    let name = |line: &str, marker: &str| {
        line.trim()
            .strip_prefix(marker)
            .is_some_and(|rest| rest.trim() == anchor)
    };
    let mut lines = text.lines().enumerate();
    lines.find(|(_, line)| name(line, "// ANCHOR:"))?;
    Some(
        lines
            .take_while(|(_, line)| !name(line, "// ANCHOR_END:"))
            .filter(|(_, line)| !is_marker(line))
            .map(|(i, line)| (i + 1, line.to_string()))
            .collect(),
    )
}

/// A place in the sources: `path#anchor`, or a whole file when `anchor` is empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spot {
    pub path: String,
    pub anchor: String,
}

impl Spot {
    pub fn parse(spot: &str) -> Spot {
        let (path, anchor) = spot.split_once('#').unwrap_or((spot, ""));
        Spot {
            path: path.to_string(),
            anchor: anchor.to_string(),
        }
    }

    /// Its lines: the anchored region, or the whole file, markers left out.
    pub fn lines(&self) -> Result<Vec<Line>, String> {
        let text = read(&self.path)?;
        if self.anchor.is_empty() {
            return Ok(code_lines(&text));
        }
        region(&text, &self.anchor).ok_or_else(|| format!("{self} has no such anchor"))
    }
}

impl std::fmt::Display for Spot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.anchor.as_str() {
            "" => write!(f, "{}", self.path),
            anchor => write!(f, "{}#{anchor}", self.path),
        }
    }
}

/// `lines` with their common indentation removed (blank lines do not count).
pub fn dedent(lines: &[Line]) -> Vec<String> {
    let indent = lines
        .iter()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(_, l)| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|(_, l)| l.get(indent..).unwrap_or("").trim_end().to_string())
        .collect()
}

/// The first sentence of the `**New here:**` paragraph of a stage file's doc comment.
pub fn new_here(text: &str) -> Option<String> {
    let doc: Vec<&str> = text
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let start = doc.iter().position(|l| l.starts_with("**New here:**"))?;
    let paragraph = doc[start..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let paragraph = paragraph["**New here:**".len()..].trim();
    let end = paragraph
        .match_indices(". ")
        .map(|(at, _)| at + 1)
        .next()
        .unwrap_or(paragraph.len());
    let sentence = paragraph[..end].trim_end_matches(':');
    let mut chars = sentence.chars();
    let first = chars.next()?.to_uppercase();
    Some(first.chain(chars).collect())
}

/// The `## Stage N…` chapter heading of NOTES.md, without the `## `.
pub fn chapter(notes: &str, stage: usize) -> Option<String> {
    let prefix = format!("## Stage {stage}:");
    notes
        .lines()
        .find_map(|l| l.starts_with(&prefix).then(|| l[3..].trim().to_string()))
}

/// The mark that precedes a curated hunk in NOTES.md.
pub const HUNK_MARK: &str = "<!-- hunk: ";

/// One curated hunk of NOTES.md: `<!-- hunk: OLD#A NEW#B | caption: … -->`, then a
/// ```` ```diff ```` block.
#[derive(Clone, Debug)]
pub struct Hunk {
    pub old: Spot,
    pub new: Spot,
    pub caption: String,
    /// The stage whose chapter holds it: the hunk is part of the diff into that stage.
    pub stage: usize,
    /// The line of its mark in NOTES.md (from 1).
    pub line: usize,
    /// The block's lines, as NOTES.md has them.
    pub block: Vec<String>,
}

/// What a hunk mark says, or why it cannot be read: `(old, new, caption)`.
pub fn parse_mark(rest: &str) -> Result<(Spot, Spot, String), String> {
    let rest = rest.trim().strip_suffix("-->").ok_or("no closing -->")?;
    let (spots, caption) = rest
        .split_once("| caption:")
        .ok_or("no `| caption:` in the mark")?;
    let spots: Vec<&str> = spots.split_whitespace().collect();
    let [old, new] = spots[..] else {
        return Err("expected two places, `OLD#ANCHOR NEW#ANCHOR`".to_string());
    };
    let caption = caption.trim();
    if caption.is_empty() {
        return Err("an empty caption".to_string());
    }
    Ok((Spot::parse(old), Spot::parse(new), caption.to_string()))
}

/// Every curated hunk of `notes`, in order.
pub fn hunks(notes: &str) -> Result<Vec<Hunk>, String> {
    let lines: Vec<&str> = notes.lines().collect();
    let mut found = Vec::new();
    let mut stage = 0;
    let mut i = 0;
    while i < lines.len() {
        if let Some(rest) = lines[i].strip_prefix("## Stage ") {
            let number = rest.split(|c: char| !c.is_ascii_digit()).next();
            stage = number.and_then(|n| n.parse().ok()).unwrap_or(stage);
        } else if lines[i].starts_with("## ") {
            stage = 0;
        }
        if let Some(rest) = lines[i].trim().strip_prefix(HUNK_MARK) {
            let at = i + 1;
            let (old, new, caption) =
                parse_mark(rest).map_err(|e| format!("NOTES.md:{at}: {e}"))?;
            if lines.get(i + 1) != Some(&"```diff") {
                return Err(format!(
                    "NOTES.md:{at}: a hunk mark must precede a ```diff block"
                ));
            }
            let close = (i + 2..lines.len())
                .find(|&j| lines[j].starts_with("```"))
                .ok_or_else(|| format!("NOTES.md:{at}: unclosed block"))?;
            let block = lines[i + 2..close].iter().map(|l| l.to_string()).collect();
            found.push(Hunk {
                old,
                new,
                caption,
                stage,
                line: at,
                block,
            });
            i = close;
        }
        i += 1;
    }
    Ok(found)
}
