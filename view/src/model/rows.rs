//! What the page replays: each step's changed rows, worded from the [`Model`]'s state.

use super::{Entry, Model, State};
use crate::patterns::Kind;

/// A change the page replays: set or delete a row of a panel, push or remove a queue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Set {
        panel: &'static str,
        key: String,
        class: &'static str,
        cells: Vec<String>,
    },
    Delete {
        panel: &'static str,
        key: String,
    },
    Push {
        key: String,
        cells: Vec<String>,
    },
    Remove {
        key: String,
    },
}

/// One step of the page: one trace line and what it changed.
#[derive(Clone, Debug)]
pub struct Step {
    /// The tick it happened in.
    pub tick: u64,
    pub kind: Kind,
    /// The row of [`crate::patterns::PATTERNS`] that matched, if one did.
    pub pattern: Option<usize>,
    /// The fetch it is about (the timeline's row), and the sign it leaves there.
    pub mark: Option<(usize, char)>,
    pub ops: Vec<Op>,
}

impl State {
    /// The page's words for it: a sign first, so that greyscale keeps the meaning.
    pub(super) fn label(self) -> (&'static str, &'static str) {
        match self {
            State::New => ("new", "○ new"),
            State::Queued => ("queued", "◇ queued"),
            State::Running => ("running", "▶ running"),
            State::Waiting => ("waiting", "… waiting"),
            State::Done => ("done", "✓ done"),
            State::Failed => ("failed", "✗ failed"),
        }
    }
}

impl Model {
    /// Pushes an entry to the ready queue.
    pub(super) fn push(&mut self, who: String, why: String) {
        let cells = vec![self.name(&who), why.clone()];
        self.ops.push(Op::Push {
            key: who.clone(),
            cells,
        });
        self.queue.push_back(Entry { who, why });
    }

    /// Takes task `name`'s entry out of the queue (or else an unnamed callback's).
    pub(super) fn take(&mut self, name: &str) {
        let at = (self.queue.iter().position(|e| e.who == name))
            .or_else(|| self.queue.iter().position(|e| e.who == "?"));
        if let Some(entry) = at.and_then(|at| self.queue.remove(at)) {
            self.ops.push(Op::Remove { key: entry.who });
        }
    }

    /// The tasks panel's key for fetch `f` (stage 1 shows fetches, others tasks).
    pub(super) fn key_of(&self, f: usize) -> String {
        if self.stage == 1 {
            return f.to_string();
        }
        let task = self.tasks.iter().find(|(_, t)| t.fetch == Some(f));
        task.map_or_else(|| self.fetches[f].url.clone(), |(k, _)| k.clone())
    }

    /// Where task `name`'s waker is stored, worded.
    pub(super) fn wakers_of(&self, name: &str) -> String {
        let mut places: Vec<String> = Vec::new();
        for (token, source) in &self.sources {
            for (what, _) in source.wakers.iter().filter(|(_, t)| t == name) {
                places.push(format!("token {token} ({what})"));
            }
        }
        for (timer, _) in self.timers.iter().filter(|(_, (_, t))| t == name) {
            places.push(format!("timer {timer}"));
        }
        if places.is_empty() {
            return "its waker is held by what it awaits".into();
        }
        format!("waker at {}", places.join(", "))
    }

    /// How the page names a task: `task 3`, `main`, or the URL's path.
    pub(super) fn name(&self, who: &str) -> String {
        match who.parse::<usize>() {
            Ok(f) if self.stage == 1 => format!("fetch {f}"),
            Ok(n) => format!("task {n}"),
            Err(_) if who.contains("://") => short(who),
            Err(_) if who == "?" => "a callback".into(),
            Err(_) => who.to_string(),
        }
    }

    /// The rows that changed since the last step, worded for the page.
    pub(super) fn rows(&mut self) -> Vec<Op> {
        let mut ops = std::mem::take(&mut self.ops);
        for token in std::mem::take(&mut self.dirty_sources) {
            let Some(source) = self.sources.get(&token) else {
                ops.push(Op::Delete {
                    panel: "src",
                    key: token.to_string(),
                });
                continue;
            };
            let url = source.fetch.map(|f| short(&self.fetches[f].url));
            let mut held = match self.stage {
                1 => url.as_ref().map(|_| "callback".to_string()),
                2 | 3 => source.future.clone(),
                _ => Some(
                    (source.wakers.iter())
                        .map(|(what, task)| format!("{} ({what})", self.name(task)))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            };
            if let Some(task) = &source.woke {
                held = Some(format!("taken: woke {}", self.name(task)));
            }
            let interest = match (&source.fired, source.interest.is_empty()) {
                (Some(what), _) => format!("⚡ {what}"),
                (None, true) => "—".to_string(),
                (None, false) => source.interest.clone(),
            };
            ops.push(Op::Set {
                panel: "src",
                key: token.to_string(),
                class: if source.fired.is_some() { "fired" } else { "" },
                cells: vec![
                    token.to_string(),
                    interest,
                    url.unwrap_or_default(),
                    held.unwrap_or_default(),
                ],
            });
        }
        for name in std::mem::take(&mut self.dirty_tasks) {
            let Some(task) = self.tasks.get(&name) else {
                continue;
            };
            let fetch = task.fetch.map(|f| &self.fetches[f]);
            let state = match (self.stage, fetch) {
                (1..=3, Some(fetch)) if fetch.state.ended() => fetch.state,
                _ => task.state,
            };
            let (class, label) = state.label();
            let mut waits = task.waits.clone();
            if self.stage == 1 && state == State::Waiting {
                // Stage 1: a fetch waits on its token, for what its callback is registered for.
                let mut mine = self.sources.iter().filter(|(_, s)| s.fetch == task.fetch);
                if let Some((token, source)) = mine.next() {
                    waits = format!("token {token} ({})", source.interest);
                }
            }
            let note = state.ended() || (waits.is_empty() && self.stage < 5);
            if let (Some(fetch), true) = (fetch, note) {
                waits = fetch.note.clone();
            }
            let url = fetch.map(|f| short(&f.url)).unwrap_or_default();
            ops.push(Op::Set {
                panel: "task",
                key: name.clone(),
                class,
                cells: vec![self.name(&name), url, label.to_string(), waits],
            });
        }
        for timer in std::mem::take(&mut self.dirty_timers) {
            let Some((after, task)) = self.timers.get(&timer) else {
                ops.push(Op::Delete {
                    panel: "timer",
                    key: timer.to_string(),
                });
                continue;
            };
            ops.push(Op::Set {
                panel: "timer",
                key: timer.to_string(),
                class: "",
                cells: vec![format!("timer {timer}"), after.clone(), self.name(task)],
            });
        }
        ops
    }
}

/// A URL as the page shows it: its path (and query) alone; the page names the origin once.
pub fn short(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(at) => rest[at..].to_string(),
            None => "/".to_string(),
        },
        None => url.to_string(),
    }
}
