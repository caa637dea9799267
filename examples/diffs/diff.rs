//! The diff itself, one way for the page and for NOTES.md's hunks: `similar`'s patience
//! algorithm (it aligns on lines that occur once on each side — a `fn` line, a comment — so a
//! moved or rewritten body does not get matched against stray `}` lines), line by line,
//! exact lines (a re-indented line counts as changed: it is).

use similar::{Algorithm, DiffOp, capture_diff_slices};

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

/// The rows of a side-by-side diff of `old` and `new`: a replaced block pairs its lines in
/// order, and the longer side's rest are removed or added lines.
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
                let pairs = o.len().min(n.len());
                for i in 0..o.len().max(n.len()) {
                    rows.push(match (i < pairs, i < o.len()) {
                        (true, _) => row(Kind::Changed, Some(o.start + i), Some(n.start + i)),
                        (false, true) => row(Kind::Removed, Some(o.start + i), None),
                        (false, false) => row(Kind::Added, None, Some(n.start + i)),
                    });
                }
            }
        }
    }
    rows
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
    let size = old.trim().len().max(new.trim().len()).max(1);
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
