//! The loop's state, rebuilt line by line from the trace: the sources the OS watches, the
//! ready queue, each task (or, in stage 1, each fetch) and where its waker is stored.
//!
//! [`Model::apply`] takes one trace line (read with the table of [`crate::patterns`]), changes
//! the state, and returns the [`Step`] the page shows: the line, and the rows of the page's
//! panels that changed, already worded. So the page's script only replays rows; what a line
//! means is decided here, once, where the tests can check it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::patterns::{Kind, classify};

mod rows;
#[cfg(test)]
mod tests;
mod toolkit;

pub use rows::{Op, Step, short};

/// Where a task or a fetch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Known, never run yet.
    New,
    /// In the ready queue.
    Queued,
    /// Running now (polled, stepped, or its callback runs).
    Running,
    /// Waiting for an event.
    Waiting,
    /// Done: its result is in.
    Done,
    /// Done with an error.
    Failed,
}

impl State {
    fn ended(self) -> bool {
        matches!(self, State::Done | State::Failed)
    }
}

/// A source the OS watches, by token.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// What it waits for (readable, writable).
    pub interest: String,
    /// The fetch it belongs to (index into [`Model::fetches`]).
    pub fetch: Option<usize>,
    /// Stages 2-3: the future waiting on its next event.
    pub future: Option<String>,
    /// Stages 4-5: the wakers stored here: (for what, which task).
    pub wakers: Vec<(String, String)>,
    /// What it fired with, in this tick.
    pub fired: Option<String>,
    /// Stages 4-5: the task whose waker the reactor took out and woke, in this tick.
    pub woke: Option<String>,
}

/// A task (stages 2-5), or in stage 1 a fetch's callbacks.
#[derive(Clone, Debug)]
pub struct Task {
    pub state: State,
    /// The fetch it does, if it does one.
    pub fetch: Option<usize>,
    /// What it waits on, worded.
    pub waits: String,
}

/// One URL of the crawl.
#[derive(Clone, Debug)]
pub struct Fetch {
    pub url: String,
    pub state: State,
    /// How far it got (`connected`, `read 562 bytes`, `200 (441 bytes)`…).
    pub note: String,
}

/// One entry of the ready queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The task (or callback) it runs; `?` for a callback the trace does not name.
    pub who: String,
    /// Who put it there.
    pub why: String,
}

/// The loop's state after the lines applied so far.
#[derive(Debug, Default)]
pub struct Model {
    /// 1 to 5: what the stage's trace can say.
    pub stage: u8,
    pub tick: u64,
    pub sources: BTreeMap<u64, Source>,
    pub queue: VecDeque<Entry>,
    pub tasks: BTreeMap<String, Task>,
    pub fetches: Vec<Fetch>,
    /// Stage 5: armed timers: (after, the task whose waker it holds).
    pub timers: BTreeMap<u64, (String, String)>,
    /// The task (stage 1: the fetch's key) running now.
    pub running: Option<String>,
    by_url: HashMap<String, usize>,
    /// Stages 2-3: which task waits on which future; which token a future waits on.
    waiter: HashMap<String, String>,
    future_token: HashMap<String, u64>,
    /// Who the next wake comes from, when the line before says it.
    why: Option<String>,
    fired: Vec<u64>,
    last: Option<Kind>,
    dirty_sources: BTreeSet<u64>,
    dirty_tasks: BTreeSet<String>,
    dirty_timers: BTreeSet<u64>,
    ops: Vec<Op>,
}

impl Model {
    pub fn new(stage: u8) -> Model {
        Model {
            stage,
            ..Model::default()
        }
    }

    /// The fetch of `url`, made on first sight; `key` is how stage 5 numbers it (`#3`).
    fn fetch(&mut self, url: &str) -> usize {
        if let Some(&i) = self.by_url.get(url) {
            return i;
        }
        self.fetches.push(Fetch {
            url: url.to_string(),
            state: State::New,
            note: String::new(),
        });
        let i = self.fetches.len() - 1;
        self.by_url.insert(url.to_string(), i);
        if self.stage == 1 {
            self.task(&i.to_string()).fetch = Some(i);
        }
        i
    }

    fn task(&mut self, name: &str) -> &mut Task {
        self.dirty_tasks.insert(name.to_string());
        self.tasks.entry(name.to_string()).or_insert(Task {
            state: State::New,
            fetch: None,
            waits: String::new(),
        })
    }

    /// Sets the state of task `name`, and of its fetch in stages 1-4 (a task is a fetch).
    fn set(&mut self, name: &str, state: State) {
        let task = self.task(name);
        task.state = state;
        if state != State::Waiting {
            task.waits.clear();
        }
        let fetch = task.fetch;
        if let (Some(f), true) = (fetch, self.stage < 5 || state.ended()) {
            if !self.fetches[f].state.ended() {
                self.fetches[f].state = state;
            }
        }
    }

    /// The task (or stage 1 fetch) a token's events go to.
    fn owner(&self, token: u64) -> Option<String> {
        let source = self.sources.get(&token)?;
        match self.stage {
            1 => source.fetch.map(|f| f.to_string()),
            2 | 3 => source.fetch.map(|f| self.fetches[f].url.clone()),
            _ => source.wakers.first().map(|(_, task)| task.clone()),
        }
    }

    /// Whether the task (stage 1: the fetch) `name` has ended.
    fn ended(&self, name: &str) -> bool {
        let task = self.tasks.get(name);
        let fetch = task.and_then(|t| t.fetch).map(|f| &self.fetches[f]);
        task.is_some_and(|t| t.state.ended()) || fetch.is_some_and(|f| f.state.ended())
    }

    fn task_fetch(&self, name: &str) -> Option<usize> {
        self.tasks.get(name).and_then(|t| t.fetch)
    }

    /// Applies one trace line; returns the page's step for it.
    pub fn apply(&mut self, message: &str) -> Step {
        let m = classify(message);
        let pattern = crate::patterns::PATTERNS
            .iter()
            .position(|(_, _, caption)| *caption == m.caption && !caption.is_empty());
        let token = m.num("token");
        let task = m.get("task").map(str::to_string);
        let mut mark = None;
        let why = self.why.take();
        // From stage 4 on, a token that fires wakes the waker stored there, however it is said.
        let kind = match m.kind {
            Kind::Fired if self.stage >= 4 => Kind::FiredWake,
            kind => kind,
        };
        match kind {
            Kind::Tick => {
                // `park` then `tick N: poll` (or the other way) is one tick, not two.
                if self.last != Some(Kind::Tick) {
                    self.tick += 1;
                }
                if let Some(n) = m.num("tick") {
                    self.tick = n;
                }
                for token in std::mem::take(&mut self.fired) {
                    if let Some(source) = self.sources.get_mut(&token) {
                        source.fired = None;
                        source.woke = None;
                        self.dirty_sources.insert(token);
                    }
                }
                if let Some(running) = self.running.take() {
                    if self.stage == 1 && !self.ended(&running) {
                        self.set(&running, State::Waiting);
                    }
                }
                if self.stage == 1 {
                    // Their sources may have changed interest: reword every waiting fetch.
                    let waiting = self.tasks.iter().filter(|(_, t)| t.state == State::Waiting);
                    let keys: Vec<String> = waiting.map(|(k, _)| k.clone()).collect();
                    self.dirty_tasks.extend(keys);
                }
            }
            Kind::RunReady => {
                self.tick = m.num("tick").unwrap_or(self.tick);
                // The first steps of stage 2-3's tasks were queued by `call_soon` unseen.
                for _ in self.queue.len()..m.num("n").unwrap_or(0) as usize {
                    let why = "call_soon: the task's first step".to_string();
                    self.push("?".to_string(), why);
                }
            }
            Kind::Register | Kind::Interest => {
                let token = token.unwrap_or_default();
                let fetch = self.running.as_deref().and_then(|t| self.task_fetch(t));
                let source = self.sources.entry(token).or_default();
                if let Some(interest) = m.get("interest") {
                    source.interest = interest.to_lowercase();
                }
                if self.stage >= 4 && m.kind == Kind::Register {
                    source.fetch = fetch;
                }
                self.dirty_sources.insert(token);
                let sign = if m.kind == Kind::Register { 'g' } else { 'r' };
                mark = fetch.map(|f| (f, sign));
            }
            Kind::StoreWaker => {
                let token = token.unwrap_or_default();
                let what = m.get("interest").unwrap_or("ready").to_string();
                if let Some(running) = self.running.clone() {
                    let fetch = self.task_fetch(&running);
                    let source = self.sources.entry(token).or_default();
                    source.interest = what.clone();
                    source.wakers.retain(|(w, _)| *w != what);
                    source.wakers.push((what, running));
                    source.fetch = source.fetch.or(fetch);
                }
                self.dirty_sources.insert(token);
            }
            Kind::Deregister => {
                let token = token.unwrap_or_default();
                self.sources.remove(&token);
                self.fired.retain(|t| *t != token);
                self.dirty_sources.insert(token);
            }
            Kind::TokenUrl => {
                let (token, url) = (token.unwrap_or_default(), m.get("url").unwrap_or("?"));
                let f = self.fetch(url);
                // The first line of a fetch registers it; the next ones are its code running.
                let sign = if self.fetches[f].state == State::New {
                    'g'
                } else {
                    'r'
                };
                let what = m.get("what").unwrap_or_default();
                self.fetches[f].note = what.split(" to ").next().unwrap_or(what).to_string();
                self.sources.entry(token).or_default().fetch = Some(f);
                self.dirty_sources.insert(token);
                if self.stage == 1 && self.fetches[f].state == State::New {
                    self.set(&f.to_string(), State::Waiting);
                    self.task(&f.to_string()).waits = format!("token {token}");
                }
                self.dirty_tasks.insert(self.key_of(f));
                mark = Some((f, sign));
            }
            Kind::Fired | Kind::FiredResolves | Kind::FiredWake => {
                let token = token.unwrap_or_default();
                let what = m.get("what").unwrap_or("ready").to_string();
                let owner = self.owner(token);
                if let Some(source) = self.sources.get_mut(&token) {
                    source.fired = Some(what.clone());
                    if kind == Kind::FiredWake {
                        // The reactor takes the waker out to wake it.
                        let (taken, kept) =
                            (source.wakers.drain(..)).partition(|(w, _)| what.contains(w.as_str()));
                        source.wakers = kept;
                        let taken: Vec<(String, String)> = taken;
                        source.woke = taken.into_iter().next().map(|(_, task)| task);
                    }
                    self.fired.push(token);
                    self.dirty_sources.insert(token);
                    mark = source.fetch.map(|f| (f, '!'));
                }
                if kind == Kind::FiredWake {
                    self.why = Some(format!("reactor: token {token} {what}"));
                } else if kind == Kind::Fired {
                    // Stage 1: the callback runs here, inside the loop's dispatch.
                    if let Some(prev) = self.running.replace(owner.clone().unwrap_or_default()) {
                        if !prev.is_empty() && !self.ended(&prev) {
                            self.set(&prev, State::Waiting);
                        }
                    }
                    if let Some(owner) = owner {
                        self.set(&owner, State::Running);
                        self.task(&owner).waits = format!("callback for token {token} {what}");
                    }
                }
            }
            Kind::FutureOnToken => {
                let (token, future) = (token.unwrap_or_default(), m.get("future").unwrap_or("?"));
                self.future_token.insert(future.to_string(), token);
                self.sources.entry(token).or_default().future = Some(future.to_string());
                self.dirty_sources.insert(token);
            }
            Kind::Resolved => {
                let future = m.get("future").unwrap_or("?");
                let callbacks = m.num("n").unwrap_or(0);
                if let Some(token) = self.future_token.remove(future) {
                    if let Some(source) = self.sources.get_mut(&token) {
                        source.future = None;
                        self.dirty_sources.insert(token);
                    }
                }
                let waiter = self.waiter.remove(future);
                for i in 0..callbacks {
                    let who = match (&waiter, i) {
                        (Some(task), 0) => task.clone(),
                        _ => "?".to_string(),
                    };
                    self.push(who, format!("call_soon: {future} resolved"));
                }
                mark = waiter.and_then(|w| self.task_fetch(&w)).map(|f| (f, 'q'));
            }
            Kind::Step | Kind::Poll => {
                let name = task.unwrap_or_default();
                if self.stage <= 3 {
                    let f = self.fetch(&name);
                    self.task(&name).fetch = Some(f);
                }
                self.take(&name);
                self.set(&name, State::Running);
                self.running = Some(name.clone());
                mark = self.task_fetch(&name).map(|f| (f, 'r'));
            }
            Kind::StepWaits | Kind::Pending => {
                let name = task.unwrap_or_default();
                let waits = match m.get("future") {
                    Some(future) => {
                        self.waiter.insert(future.to_string(), name.clone());
                        match self.future_token.get(future) {
                            Some(token) => format!("{future} (token {token})"),
                            None => future.to_string(),
                        }
                    }
                    None => self.wakers_of(&name),
                };
                // A task that woke itself while it ran is back in the queue already.
                let queued = self.queue.iter().any(|e| e.who == name);
                self.set(
                    &name,
                    if queued {
                        State::Queued
                    } else {
                        State::Waiting
                    },
                );
                self.task(&name).waits = waits;
                self.running = None;
            }
            Kind::Returned | Kind::Ended => {
                let name = task.unwrap_or_default();
                self.set(&name, State::Done);
                for source in self.sources.values_mut() {
                    source.wakers.retain(|(_, t)| *t != name);
                }
                self.running = None;
                mark = self.task_fetch(&name).map(|f| (f, 'd'));
            }
            Kind::Spawn => {
                self.task(&task.unwrap_or_default());
                self.why = Some("spawn".to_string());
            }
            Kind::Wake => {
                let name = task.unwrap_or_default();
                let why = why.unwrap_or_else(|| match &self.running {
                    Some(running) if *running == name => "the task itself (wake_by_ref)".into(),
                    Some(running) => format!("task {running}, while it was polled"),
                    None if name == "main" => "block_on: its first poll".to_string(),
                    None => "the executor, outside any poll".to_string(),
                });
                if self
                    .tasks
                    .get(&name)
                    .is_none_or(|t| t.state != State::Running)
                {
                    self.set(&name, State::Queued);
                }
                self.push(name.clone(), why);
                mark = self.task_fetch(&name).map(|f| (f, 'q'));
            }
            Kind::TaskUrl => {
                let f = self.fetch(m.get("url").unwrap_or("?"));
                let name = task.unwrap_or_default();
                let state = self.task(&name).state;
                self.task(&name).fetch = Some(f);
                self.fetches[f].state = state;
                mark = Some((f, if state == State::Queued { 'q' } else { 'g' }));
            }
            Kind::Queued
            | Kind::Takes
            | Kind::TimerArmed
            | Kind::TimerDropped
            | Kind::TimersDue
            | Kind::Abort
            | Kind::FromThread => mark = self.toolkit(kind, &m),
            Kind::Done => {
                let url = m.get("url").unwrap_or_default();
                // Only a URL of the crawl: `{url}: {result}` fits many other lines.
                if let Some(&f) = self.by_url.get(url) {
                    let result = m.get("result").unwrap_or_default();
                    let ok = result.starts_with(|c: char| c.is_ascii_digit());
                    self.fetches[f].state = if ok { State::Done } else { State::Failed };
                    self.fetches[f].note = result.to_string();
                    self.dirty_tasks.insert(self.key_of(f));
                    mark = Some((f, if ok { 'd' } else { 'x' }));
                }
            }
            Kind::Polled | Kind::Other => {}
        }
        self.last = Some(kind);
        Step {
            tick: self.tick,
            kind,
            pattern,
            mark,
            ops: self.rows(),
        }
    }
}
