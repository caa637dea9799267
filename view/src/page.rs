//! The page: `page.html` (style, script, layout) with the run's data in it as JSON.
//!
//! The JSON is written by hand: a few arrays of strings and numbers. Each step is
//! `[tick, micros, level, target, line, pattern, row, sign, ops]`; each op is
//! `["s", panel, key, class, cells…]` (set a row), `["d", panel, key]` (delete it),
//! `["p", key, cells…]` (push to the ready queue) or `["r", key]` (take out of it).

use std::fmt::Write as _;
use std::time::Instant;

use crate::model::{Model, Op, short};
use crate::patterns::PATTERNS;
use crate::{CAP, Outcome, Recording};

/// The page's template; `/*DATA*/` is replaced by the run's JSON.
const TEMPLATE: &str = include_str!("../page.html");

/// The panels of a stage: id, title, column heads, what an empty panel says.
fn panels(stage: u8) -> Vec<(&'static str, &'static str, Vec<&'static str>, &'static str)> {
    let held = match stage {
        1 => "callback",
        2 | 3 => "future waiting",
        _ => "waker stored",
    };
    let src = (
        "src",
        "Sources the OS watches",
        vec!["token", "interest", "URL", held],
        "none registered",
    );
    let queue = match stage {
        1 => (
            "q",
            "Ready queue",
            vec!["callback", "why"],
            "stage 1 has none: each event's callback runs as poll returns it",
        ),
        2 | 3 => (
            "q",
            "Ready queue (front first)",
            vec!["steps", "queued by"],
            "empty",
        ),
        _ => (
            "q",
            "Ready queue (front first)",
            vec!["task", "woken by"],
            "empty",
        ),
    };
    let tasks = match stage {
        1 => (
            "task",
            "Fetches",
            vec!["fetch", "URL", "state", "waits on"],
            "",
        ),
        _ => (
            "task",
            "Tasks",
            vec!["task", "URL", "state", "waits on"],
            "",
        ),
    };
    let mut panels = vec![src, queue, tasks];
    if stage == 5 {
        panels.push((
            "timer",
            "Timers",
            vec!["timer", "deadline", "waker of"],
            "none armed",
        ));
    }
    panels
}

/// The stage a program name says (`stage4` → 4); 0 when it has no loop to step.
fn stage_of(name: &str) -> u8 {
    let digit = name.trim_start_matches("stage").chars().next();
    digit.and_then(|d| d.to_digit(10)).map_or(4, |d| d as u8)
}

/// The whole page: the recording replayed into rows, as JSON inside `page.html`.
pub fn html(
    name: &str,
    title: &str,
    recording: &Recording,
    outcomes: &[Outcome],
    started: Instant,
) -> String {
    let stage = stage_of(name);
    let mut model = Model::new(stage.max(1));
    let mut j = String::with_capacity(200 * recording.lines.len() + 4096);
    j.push('{');
    field(&mut j, "title", title);
    field(&mut j, "name", name);
    let origin = outcomes.first().map_or(String::new(), |o| {
        o.url
            .strip_suffix(&short(&o.url))
            .unwrap_or_default()
            .to_string()
    });
    field(&mut j, "origin", &origin);
    let _ = write!(
        j,
        "\"stage\":{stage},\"cap\":{CAP},\"left_out\":{},",
        recording.left_out
    );
    j.push_str("\"captions\":[");
    list(&mut j, PATTERNS.iter().map(|(_, _, caption)| *caption));
    j.push_str("],\"panels\":[");
    for (i, (id, title, cols, empty)) in panels(stage).into_iter().enumerate() {
        comma(&mut j, i);
        j.push('[');
        list(&mut j, [id, title, empty]);
        j.push_str(",[");
        list(&mut j, cols);
        j.push_str("]]");
    }
    j.push_str("],\"steps\":[");
    if stage > 0 {
        for (i, line) in recording.lines.iter().enumerate() {
            let step = model.apply(&line.message);
            comma(&mut j, i);
            let level = &line.level.as_str()[..1];
            let _ = write!(j, "[{},{},", step.tick, line.micros);
            list(&mut j, [level, target(&line.target), &line.message]);
            let pattern = step.pattern.map_or(-1, |p| p as i64);
            let (row, sign) = step
                .mark
                .map_or((-1, ' '), |(row, sign)| (row as i64, sign));
            let _ = write!(j, ",{pattern},{row},\"{sign}\",[");
            for (k, op) in step.ops.iter().enumerate() {
                comma(&mut j, k);
                write_op(&mut j, op);
            }
            j.push_str("]]");
        }
    }
    j.push_str("],\"fetches\":[");
    list(&mut j, model.fetches.iter().map(|f| short(&f.url)));
    j.push_str("],\"outcomes\":[");
    for (i, o) in outcomes.iter().enumerate() {
        comma(&mut j, i);
        j.push('[');
        list(&mut j, [short(&o.url), o.result.clone()]);
        let _ = write!(j, ",{}", o.ok);
        for time in o.times {
            match time {
                Some(t) => write!(j, ",{}", t.saturating_duration_since(started).as_micros()),
                None => write!(j, ",null"),
            }
            .unwrap_or_default();
        }
        j.push(']');
    }
    j.push_str("]}");
    TEMPLATE.replacen("/*DATA*/", &j, 1)
}

/// `runtime::stage4::event_loop` → `event_loop`; the crawler's lines → `crawler`.
fn target(target: &str) -> &str {
    if target.starts_with("crawler") {
        return "crawler";
    }
    target.rsplit("::").next().unwrap_or(target)
}

fn write_op(j: &mut String, op: &Op) {
    j.push('[');
    match op {
        Op::Set {
            panel,
            key,
            class,
            cells,
        } => {
            list(j, ["s", panel, key.as_str(), class]);
            cells.iter().for_each(|c| {
                j.push(',');
                string(j, c);
            });
        }
        Op::Delete { panel, key } => list(j, ["d", panel, key.as_str()]),
        Op::Push { key, cells } => {
            list(j, ["p", key.as_str()]);
            cells.iter().for_each(|c| {
                j.push(',');
                string(j, c);
            });
        }
        Op::Remove { key } => list(j, ["r", key.as_str()]),
    }
    j.push(']');
}

fn comma(j: &mut String, i: usize) {
    if i > 0 {
        j.push(',');
    }
}

fn field(j: &mut String, name: &str, value: &str) {
    string(j, name);
    j.push(':');
    string(j, value);
    j.push(',');
}

fn list<S: AsRef<str>>(j: &mut String, items: impl IntoIterator<Item = S>) {
    for (i, item) in items.into_iter().enumerate() {
        comma(j, i);
        string(j, item.as_ref());
    }
}

/// A JSON string. `<` is escaped too, so no `</script>` in the data can end the script.
fn string(j: &mut String, s: &str) {
    j.push('"');
    for c in s.chars() {
        match c {
            '"' => j.push_str("\\\""),
            '\\' => j.push_str("\\\\"),
            '\n' => j.push_str("\\n"),
            '<' => j.push_str("\\u003c"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(j, "\\u{:04x}", c as u32);
            }
            c => j.push(c),
        }
    }
    j.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_json_and_cannot_end_the_script() {
        let mut j = String::new();
        string(&mut j, "a\"b\\c\n</script>\u{1}");
        assert_eq!(j, r#""a\"b\\c\n\u003c/script>\u0001""#);
    }

    #[test]
    fn stage_of_names() {
        assert_eq!(stage_of("stage0"), 0);
        assert_eq!(stage_of("stage4"), 4);
        assert_eq!(target("runtime::stage4::event_loop"), "event_loop");
        assert_eq!(target("crawler::stage1"), "crawler");
    }
}
