//! What the pages compare: every consecutive pair of stages, crawler and runtime, and the
//! workshop's two contrasts; each file beside its twin, in reading order.

use std::collections::BTreeSet;
use std::fs;

use crate::source::{self, Hunk, Line, Spot, chapter, new_here, read, root};

/// One side of a comparison: the places it shows (none: the file is new, or gone), and
/// their lines, numbered as in their file.
#[derive(Clone, Debug, Default)]
pub struct Side {
    pub spots: Vec<Spot>,
    pub lines: Vec<Line>,
}

impl Side {
    pub fn of(spots: Vec<Spot>) -> Result<Side, String> {
        let mut lines = Vec::new();
        for spot in &spots {
            lines.extend(spot.lines()?);
        }
        Ok(Side { spots, lines })
    }

    /// How the side is named in a header: `runtime/src/stage4/net.rs`, or
    /// `crawler/src/stage4.rs#fetch #read_all`, or `(none)`.
    pub fn label(&self) -> String {
        let Some(first) = self.spots.first() else {
            return "(none)".to_string();
        };
        let anchors: Vec<String> = self
            .spots
            .iter()
            .filter(|s| !s.anchor.is_empty())
            .map(|s| format!("#{}", s.anchor))
            .collect();
        format!("{}{}", first.path, anchors.join(" "))
    }
}

/// A file and its twin, side by side.
#[derive(Clone, Debug)]
pub struct Pair {
    pub old: Side,
    pub new: Side,
}

/// The pairs of one part of a page (the crawler, or the runtime), and what they teach.
#[derive(Clone, Debug)]
pub struct Group {
    pub title: String,
    /// The first sentence of the new stage's `**New here:**`, in Markdown.
    pub lesson: String,
    pub pairs: Vec<Pair>,
}

/// One HTML page: a step from one stage to the next, or a contrast.
#[derive(Clone, Debug)]
pub struct Page {
    /// Its file name under the output folder.
    pub file: String,
    pub title: String,
    /// The NOTES.md chapter it belongs to (its heading).
    pub chapter: String,
    pub groups: Vec<Group>,
    /// NOTES.md's curated hunks for this step.
    pub hunks: Vec<Hunk>,
}

/// Every page, in workshop order: stage 0 → 1 … 4 → 5, then the contrasts.
pub fn pages() -> Result<Vec<Page>, String> {
    let notes = read("NOTES.md")?;
    let hunks = source::hunks(&notes)?;
    let heading = |stage| chapter(&notes, stage).ok_or(format!("NOTES.md: no stage {stage}"));
    let mut pages = Vec::new();
    for new in 1..=5 {
        let old = new - 1;
        pages.push(Page {
            file: format!("stage{old}-{new}.html"),
            title: format!("stage {old} → stage {new}"),
            chapter: heading(new)?,
            groups: vec![crawler_step(old, new)?, runtime_step(old, new)?],
            hunks: hunks.iter().filter(|h| h.stage == new).cloned().collect(),
        });
    }
    let fetch4 = || spots("crawler/src/stage4.rs", &["fetch", "read_all"]);
    let lesson4 = lesson("crawler/src/stage4.rs")?;
    pages.push(Page {
        file: "contrast0-4.html".into(),
        title: "stage 0's blocking fetch ↔ stage 4's async fn fetch".into(),
        chapter: heading(4)?,
        groups: vec![Group {
            title: "crawler: blocking against async".into(),
            lesson: lesson4.clone(),
            pairs: vec![Pair {
                old: Side::of(spots("crawler/src/stage0.rs", &["fetch"]))?,
                new: Side::of(fetch4())?,
            }],
        }],
        hunks: Vec::new(),
    });
    pages.push(Page {
        file: "contrast2-4.html".into(),
        title: "stage 2's hand-written state machine ↔ stage 4's async fn".into(),
        chapter: heading(4)?,
        groups: vec![Group {
            title: "crawler: the state machine by hand, then by the compiler".into(),
            lesson: lesson4,
            pairs: vec![Pair {
                old: Side::of(spots("crawler/src/stage2.rs", &["fetch", "resume"]))?,
                new: Side::of(fetch4())?,
            }],
        }],
        hunks: Vec::new(),
    });
    Ok(pages)
}

fn spots(path: &str, anchors: &[&str]) -> Vec<Spot> {
    let spot = |anchor: &&str| Spot::parse(&format!("{path}#{anchor}"));
    anchors.iter().map(spot).collect()
}

/// The first sentence of the `**New here:**` of the file at `path`.
fn lesson(path: &str) -> Result<String, String> {
    new_here(&read(path)?).ok_or(format!("{path}: no **New here:** in its doc"))
}

fn whole(path: &str) -> Result<Side, String> {
    match root().join(path).exists() {
        true => Side::of(vec![Spot::parse(path)]),
        false => Ok(Side::default()),
    }
}

fn crawler_step(old: usize, new: usize) -> Result<Group, String> {
    let (old, new) = (
        format!("crawler/src/stage{old}.rs"),
        format!("crawler/src/stage{new}.rs"),
    );
    Ok(Group {
        title: format!("crawler: {old} → {new}"),
        lesson: lesson(&new)?,
        pairs: vec![Pair {
            old: whole(&old)?,
            new: whole(&new)?,
        }],
    })
}

fn runtime_step(old: usize, new: usize) -> Result<Group, String> {
    let (old_dir, new_dir) = (
        format!("runtime/src/stage{old}"),
        format!("runtime/src/stage{new}"),
    );
    let (mut old_files, new_files) = (files(&old_dir), files(&new_dir));
    // A file that takes over from one of another name: the new stage's doc says so.
    let twins = renamed(&old_dir, &new_dir);
    for (old, _) in &twins {
        old_files.remove(old);
    }
    let twin = |name: &String| match twins.iter().find(|(_, new)| new == name) {
        Some((old, _)) => old.clone(),
        None => name.clone(),
    };
    let mut names = reading_order(&new_dir, &new_files)?;
    let gone: Vec<String> = old_files.difference(&new_files).cloned().collect();
    if !gone.is_empty() {
        names.extend(reading_order(&old_dir, &gone.iter().cloned().collect())?);
    }
    // The tests come last, whichever side has them.
    names.sort_by_key(|name| name.starts_with("test"));
    let pairs = names
        .iter()
        .map(|name| {
            Ok(Pair {
                old: whole(&format!("{old_dir}/{}", twin(name)))?,
                new: whole(&format!("{new_dir}/{name}"))?,
            })
        })
        .collect::<Result<_, String>>()?;
    let old_label = match old_files.is_empty() {
        true => "(no runtime)".to_string(),
        false => format!("{old_dir}/"),
    };
    Ok(Group {
        title: format!("runtime: {old_label} → {new_dir}/"),
        lesson: lesson(&format!("{new_dir}/mod.rs"))?,
        pairs,
    })
}

/// The files of `old_dir` that a file of another name in `new_dir` takes over, as the new
/// stage's doc names them: `` `diff -u OLD_DIR/a.rs NEW_DIR/b.rs` `` pairs `a.rs` with `b.rs`.
fn renamed(old_dir: &str, new_dir: &str) -> Vec<(String, String)> {
    let text = read(&format!("{new_dir}/mod.rs")).unwrap_or_default();
    let (old, new) = (format!("{old_dir}/"), format!("{new_dir}/"));
    text.split("`diff -u ")
        .skip(1)
        .filter_map(|rest| {
            let mut words = rest.split(['`', ' ']);
            let a = words.next()?.strip_prefix(old.as_str())?;
            let b = words.next()?.strip_prefix(new.as_str())?;
            (a != b).then(|| (a.to_string(), b.to_string()))
        })
        .collect()
}

/// The `.rs` files of a folder of the project (none if there is no such folder).
fn files(dir: &str) -> BTreeSet<String> {
    let Ok(entries) = fs::read_dir(root().join(dir)) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".rs"))
        .collect()
}

/// `names` (files of `dir`) in reading order: `mod.rs` first, then in the order the stage's
/// doc (`dir/mod.rs`, from its `**New here:**` on) first names each — as a module
/// (`` [`reactor`] ``, `reactor.rs`) or, for a module it never names, by an item the module
/// exports (`` [`Coroutine`] ``) — then the files it does not name, by name.
fn reading_order(dir: &str, names: &BTreeSet<String>) -> Result<Vec<String>, String> {
    let text = read(&format!("{dir}/mod.rs")).unwrap_or_default();
    let doc: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .skip_while(|l| !l.contains("**New here:**"))
        .collect::<Vec<_>>()
        .join("\n");
    let first = |words: &[String]| words.iter().filter_map(|w| doc.find(w.as_str())).min();
    let rank = |name: &String| {
        let stem = name.trim_end_matches(".rs");
        if stem == "mod" {
            return (0, 0, name.clone());
        }
        let module = [format!("`{stem}`"), format!("{stem}.rs")];
        let items = exports(&text, stem);
        match first(&module).or_else(|| first(&items)) {
            Some(at) => (1, at, name.clone()),
            None => (2, 0, name.clone()),
        }
    };
    let mut ranked: Vec<_> = names.iter().map(rank).collect();
    ranked.sort();
    Ok(ranked.into_iter().map(|(_, _, name)| name).collect())
}

/// `` `Item` `` for each item that `mod.rs` re-exports from module `stem`.
fn exports(mod_rs: &str, stem: &str) -> Vec<String> {
    let prefix = format!("pub use {stem}::");
    mod_rs
        .lines()
        .filter_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .flat_map(|items| items.trim_matches(|c| "{};".contains(c)).split(','))
        .map(|item| format!("`{}`", item.trim()))
        .collect()
}
