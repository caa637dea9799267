//! The diff itself, one way for the page and for NOTES.md's hunks: `similar`'s patience
//! algorithm (it aligns on lines that occur once on each side — a `fn` line, a comment — so a
//! moved or rewritten body does not get matched against stray `}` lines), line by line,
//! exact lines (a re-indented line counts as changed: it is).

use similar::{Algorithm, DiffOp, capture_diff_slices};

use crate::source::{Spot, dedent};

/// Unchanged lines kept on each side of a collapsed run.
pub const CONTEXT: usize = 3;
/// A run of unchanged lines is collapsed when it would hide at least this many.
pub const MIN_HIDDEN: usize = 4;

/// What a row of a side-by-side diff shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The same line on both sides.
    Same,
    /// A line only on the old side.
    Removed,
    /// A line only on the new side.
    Added,
    /// An old line and the new line that took its place.
    Changed,
}

/// One row: what it is, and the index of its line on each side that has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub kind: Kind,
    pub old: Option<usize>,
    pub new: Option<usize>,
}

fn ops(old: &[&str], new: &[&str]) -> Vec<DiffOp> {
    capture_diff_slices(Algorithm::Patience, old, new)
}

/// The rows of a side-by-side diff of `old` and `new`. In a replaced block, a line is set
/// beside the line that replaced it when the two look alike (see [`pair_up`]); the others
/// are removed or added lines.
pub fn rows(old: &[&str], new: &[&str]) -> Vec<Row> {
    let mut rows = Vec::new();
    let row = |kind, old, new| Row { kind, old, new };
    for op in ops(old, new) {
        let (o, n) = (op.old_range(), op.new_range());
        match op {
            DiffOp::Equal { .. } => {
                rows.extend(o.zip(n).map(|(o, n)| row(Kind::Same, Some(o), Some(n))))
            }
            DiffOp::Delete { .. } => rows.extend(o.map(|o| row(Kind::Removed, Some(o), None))),
            DiffOp::Insert { .. } => rows.extend(n.map(|n| row(Kind::Added, None, Some(n)))),
            DiffOp::Replace { .. } => {
                for (a, b) in pair_up(&old[o.clone()], &new[n.clone()]) {
                    let (a, b) = (a.map(|a| o.start + a), b.map(|b| n.start + b));
                    rows.push(match (a, b) {
                        (Some(_), Some(_)) => row(Kind::Changed, a, b),
                        (Some(_), None) => row(Kind::Removed, a, None),
                        _ => row(Kind::Added, None, b),
                    });
                }
            }
        }
    }
    rows
}

/// The lines of a replaced block, in order, as pairs: `(Some, Some)` for an old line and
/// the new line most like it, `(Some, None)` removed, `(None, Some)` added. The pairing
/// keeps both orders and makes the most of the likeness of the lines it pairs (a small
/// dynamic programme over the block); two lines are alike when half their words are
/// shared. A block too big for that (hardly ever a lesson) pairs lines by position.
fn pair_up(old: &[&str], new: &[&str]) -> Vec<(Option<usize>, Option<usize>)> {
    let (a, b) = (old.len(), new.len());
    if a * b > 40_000 {
        return (0..a.max(b))
            .map(|i| ((i < a).then_some(i), (i < b).then_some(i)))
            .collect();
    }
    let (bags_a, bags_b): (Vec<_>, Vec<_>) = (
        old.iter().map(|l| bag(l)).collect(),
        new.iter().map(|l| bag(l)).collect(),
    );
    // score[i][j]: the best total likeness pairing old[i..] with new[j..].
    let mut score = vec![vec![0.0f32; b + 1]; a + 1];
    for i in (0..a).rev() {
        for j in (0..b).rev() {
            let skip = score[i + 1][j].max(score[i][j + 1]);
            let alike = likeness(&bags_a[i], &bags_b[j]);
            score[i][j] = match alike >= 0.5 {
                true => skip.max(score[i + 1][j + 1] + alike),
                false => skip,
            };
        }
    }
    let (mut out, mut i, mut j) = (Vec::new(), 0, 0);
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    while i < a || j < b {
        let alike = (i < a && j < b).then(|| likeness(&bags_a[i], &bags_b[j]));
        if alike.is_some_and(|l| l >= 0.5 && score[i][j] == score[i + 1][j + 1] + l) {
            out.append(&mut removed);
            out.append(&mut added);
            out.push((Some(i), Some(j)));
            (i, j) = (i + 1, j + 1);
        } else if j == b || (i < a && score[i][j] == score[i + 1][j]) {
            removed.push((Some(i), None));
            i += 1;
        } else {
            added.push((None, Some(j)));
            j += 1;
        }
    }
    out.append(&mut removed);
    out.append(&mut added);
    out
}

/// A line's words (letters, digits, `_`: no spaces, no punctuation), sorted, for
/// [`likeness`].
fn bag(line: &str) -> Vec<&str> {
    let mut words: Vec<&str> = tokens(line)
        .into_iter()
        .filter(|t| t.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        .collect();
    words.sort_unstable();
    words
}

/// How alike two lines are, from their sorted words: twice the shared words over all.
fn likeness(a: &[&str], b: &[&str]) -> f32 {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => (shared, i, j) = (shared + 1, i + 1, j + 1),
        }
    }
    match a.len() + b.len() {
        // Two lines of punctuation only (`}`, `});`): alike enough to pair, if nothing better.
        0 => 0.5,
        all => 2.0 * shared as f32 / all as f32,
    }
}

/// Which rows a reader sees: `None` for a row hidden in a collapsed run. Each run of more
/// than `2 * CONTEXT + MIN_HIDDEN - 1` unchanged rows keeps its first and last `CONTEXT`
/// rows; `keep(i)` keeps row `i` whatever it is (a curated hunk is never collapsed).
pub fn shown(rows: &[Row], keep: impl Fn(usize) -> bool) -> Vec<bool> {
    let mut shown = vec![true; rows.len()];
    let mut i = 0;
    while i < rows.len() {
        if rows[i].kind != Kind::Same || keep(i) {
            i += 1;
            continue;
        }
        let end = (i..rows.len())
            .find(|&j| rows[j].kind != Kind::Same || keep(j))
            .unwrap_or(rows.len());
        if end - i >= 2 * CONTEXT + MIN_HIDDEN {
            shown[i + CONTEXT..end - CONTEXT].fill(false);
        }
        i = end;
    }
    shown
}

/// The collapsed-run line, the same on the page and in NOTES.md.
pub fn hidden_line(n: usize) -> String {
    format!("⋯ {n} unchanged lines")
}

/// A unified diff of `old` and `new`, every line prefixed with ' ', '-' or '+', no `@@`
/// headers, a replaced block as its removed lines then its added ones, long unchanged runs
/// collapsed (see [`shown`]) to one line `  ⋯ N unchanged lines`, trailing spaces trimmed.
pub fn unified(old: &[&str], new: &[&str]) -> Vec<String> {
    let rows = rows(old, new);
    let shown = shown(&rows, |_| false);
    let mut out = Vec::new();
    let mut hidden = 0;
    let mut added = Vec::new();
    for (row, shown) in rows.iter().zip(shown) {
        if row.kind == Kind::Same {
            out.append(&mut added);
        }
        if !shown {
            hidden += 1;
            continue;
        }
        if hidden > 0 {
            out.push(format!("  {}", hidden_line(hidden)));
            hidden = 0;
        }
        match (row.kind, row.old, row.new) {
            (Kind::Same, Some(o), _) => out.push(format!(" {}", old[o])),
            (Kind::Removed, Some(o), _) => out.push(format!("-{}", old[o])),
            (Kind::Added, _, Some(n)) => added.push(format!("+{}", new[n])),
            (Kind::Changed, Some(o), Some(n)) => {
                out.push(format!("-{}", old[o]));
                added.push(format!("+{}", new[n]));
            }
            _ => unreachable!("a row has the lines its kind says"),
        }
    }
    out.append(&mut added);
    out.into_iter().map(|l| l.trim_end().to_string()).collect()
}

/// A curated hunk as NOTES.md must show it: [`unified`] of the two anchored regions, each
/// dedented (see `tests/hunks.rs`).
pub fn hunk(old: &Spot, new: &Spot) -> Result<Vec<String>, String> {
    let (old, new) = (dedent(&old.lines()?), dedent(&new.lines()?));
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    let new: Vec<&str> = new.iter().map(String::as_str).collect();
    Ok(unified(&old, &new))
}

/// The words of a changed line, each marked if the other line lacks it: `(changed, text)`
/// for the old line and for the new one. `None` when the two lines share too little for a
/// word diff to help (then the whole line is the change).
pub type Words<'a> = Vec<(bool, &'a str)>;

pub fn words<'a>(old: &'a str, new: &'a str) -> Option<(Words<'a>, Words<'a>)> {
    let (a, b) = (tokens(old), tokens(new));
    let mut same = 0;
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for op in capture_diff_slices(Algorithm::Myers, &a, &b) {
        let equal = matches!(op, DiffOp::Equal { .. });
        if equal {
            same += op.old_range().map(|i| a[i].trim().len()).sum::<usize>();
        }
        left.extend(op.old_range().map(|i| (!equal, a[i])));
        right.extend(op.new_range().map(|i| (!equal, b[i])));
    }
    let solid = |line: &str| line.chars().filter(|c| !c.is_whitespace()).count();
    let size = solid(old).max(solid(new)).max(1);
    (same * 2 >= size).then_some((left, right))
}

/// A line cut into words (letters, digits and `_`), runs of spaces, and single other chars.
fn tokens(line: &str) -> Vec<&str> {
    let class = |c: char| match c {
        c if c.is_alphanumeric() || c == '_' => 0,
        c if c.is_whitespace() => 1,
        _ => 2,
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, d)| d);
        if class(c) == 2 || next.is_none_or(|d| class(d) != class(c)) {
            let end = i + c.len_utf8();
            out.push(&line[start..end]);
            start = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unified_diff_puts_removed_lines_before_added_ones_and_collapses_long_runs() {
        let old: Vec<String> = (0..12).map(|i| format!("line {i}")).collect();
        let mut new = old.clone();
        new[0] = "first".into();
        new.push("last".into());
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let diff = unified(&old, &new);
        assert_eq!(diff[..2], ["-line 0", "+first"]);
        assert_eq!(diff[2..5], [" line 1", " line 2", " line 3"]);
        assert_eq!(diff[5], "  ⋯ 5 unchanged lines");
        assert_eq!(diff[6..], [" line 9", " line 10", " line 11", "+last"]);
    }

    #[test]
    fn words_mark_only_what_changed() {
        let (old, new) = words("let n = read(buf)?;", "let n = read(buf).await?;").unwrap();
        let marked = |w: &Words| {
            w.iter()
                .filter(|(c, _)| *c)
                .map(|(_, t)| *t)
                .collect::<String>()
        };
        assert_eq!(marked(&old), "");
        assert_eq!(marked(&new), ".await");
        assert!(words("fn a() {}", "struct Other;").is_none());
    }
}
