//! The trace lines the page understands: one table, in one place.
//!
//! Each row is a template of a line as the runtime and the crawler log it, the [`Kind`] of
//! step it is, and the caption the page shows for it. A template is literal text with holes:
//! `{token}`, `{task}`, `{url}`… A hole ends where the next literal text starts; a template
//! that ends with literal text matches a line that goes on after it. Holes named `token`,
//! `tick`, `n`, `fetch`, `worker` and `timer` must be whole numbers. The first row that
//! matches wins, so longer lines come before the shorter ones they start with. A line no row
//! matches is still a step of the page (its trace line is shown), it just changes nothing.
//!
//! When a stage's trace changes wording, this table is the one thing to adapt.

/// What a trace line means to the model ([`crate::model`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The loop is about to ask the OS for events (`tick N: poll`, or the executor's `park`).
    Tick,
    /// The OS answered (stage 4-5's reactor: `poll: N events`).
    Polled,
    /// Stage 5's reactor: timers whose deadline passed are woken.
    TimersDue,
    /// Stages 2-3: the loop runs the callbacks queued so far.
    RunReady,
    /// A source is registered with the OS (its interest, if the line says it).
    Register,
    /// A source's interest changes.
    Interest,
    /// Stages 4-5: a task's waker is stored at a source, waiting until it is readable/writable.
    StoreWaker,
    /// A source is deregistered.
    Deregister,
    /// The crawler says which URL a token belongs to, and how far its fetch got.
    TokenUrl,
    /// The OS said a source is ready; stage 1 runs its callback there and then.
    Fired,
    /// Stages 2-3: ready, and the future waiting on it resolves.
    FiredResolves,
    /// Stages 4-5: ready, and the reactor wakes the waker stored there.
    FiredWake,
    /// Stages 2-3: a future waits for the token's next event.
    FutureOnToken,
    /// Stages 2-3: a future resolved; its callbacks go to the ready queue (`call_soon`).
    Resolved,
    /// Stages 2-3: a task is stepped (its coroutine resumed with a value).
    Step,
    /// Stages 2-3: the step ended waiting on a future.
    StepWaits,
    /// Stages 2-3: the task's coroutine returned.
    Returned,
    /// Stages 4-5: a task is spawned.
    Spawn,
    /// Stages 4-5: a task is woken: pushed to the ready queue.
    Wake,
    /// Stages 4-5: the executor polls a task.
    Poll,
    /// Stages 4-5: the poll returned `Pending`.
    Pending,
    /// Stages 4-5: the poll returned `Ready`: the task ended.
    Ended,
    /// Stage 4: which URL a task fetches.
    TaskUrl,
    /// Stage 5: a URL joins the crawl's queue.
    Queued,
    /// Stage 5: a worker (the task being polled) takes a URL from the queue.
    Takes,
    /// Stage 5: a timer is armed with the polled task's waker.
    TimerArmed,
    /// Stage 5: a timer is dropped (its future ended or was dropped).
    TimerDropped,
    /// Stage 5: a task is aborted (woken so that it is dropped).
    Abort,
    /// Stage 5: a pool thread finished blocking work and wakes its task from another thread.
    FromThread,
    /// A fetch ended: its status, or its error.
    Done,
    /// Anything else: shown, changes nothing.
    Other,
}

/// The table: template, kind, caption.
#[rustfmt::skip]
pub const PATTERNS: &[(&str, Kind, &str)] = &[
    ("tick {tick}: poll", Kind::Tick, "the loop asks the OS which sources are ready, and sleeps until one is (or the timeout)"),
    ("park: {n} tasks, timeout {timeout}", Kind::Tick, "the ready queue is empty: the executor parks in the reactor's poll"),
    ("poll: {n} events", Kind::Polled, "the OS answered: these sources are ready"),
    ("poll: {n} timers due", Kind::TimersDue, "timers whose deadline passed wake their tasks"),
    ("tick {tick}: run {n} ready callback(s)", Kind::RunReady, "the loop runs the callbacks queued so far, in order"),
    ("register token {token} for {interest}", Kind::Register, "a socket is registered with the OS under a token"),
    ("token {token}: registered", Kind::Register, "a socket is registered with the OS under a token"),
    ("modify token {token} to {interest}", Kind::Interest, "the same token now waits for something else"),
    ("token {token}: waits until {interest}", Kind::StoreWaker, "the leaf future stores the task's waker at the token and returns Pending"),
    ("unregister token {token}", Kind::Deregister, "the socket is deregistered: the OS stops watching it"),
    ("token {token}: removed", Kind::Deregister, "the socket is deregistered: the OS stops watching it"),
    ("token {token}: deregistered", Kind::Deregister, "the socket is deregistered: the OS stops watching it"),
    ("token {token} is {url}: {what}", Kind::TokenUrl, "the fetch behind the token moves on"),
    ("token {token} fired: {what} -> resolves {future}", Kind::FiredResolves, "the token fired: the future waiting on it resolves"),
    ("token {token} fired but nothing is registered", Kind::Other, "an event for a token nobody waits on: ignored"),
    ("token {token} fired: {what}, nobody waits", Kind::Other, "an event for a token nobody waits on: ignored"),
    ("token {token} fired: {what}", Kind::Fired, "the token fired: its callback runs, now, inside the loop"),
    ("token {token} {what}: wake", Kind::FiredWake, "the token fired: the reactor takes the waker stored there and wakes it"),
    ("token {token}: {future} waits for its next event", Kind::FutureOnToken, "a future waits for the token's next event"),
    ("token {token}: {what}", Kind::Other, "the socket behind the token moves on"),
    ("{future} resolved, {n} callback(s) scheduled", Kind::Resolved, "the future resolved: its callbacks go to the ready queue (call_soon), not run inline"),
    ("{task}: step {n}, send({value})", Kind::Step, "the loop steps the task: its coroutine resumes with the value"),
    ("{task}: step {n} waits on {future}", Kind::StepWaits, "the step ends waiting on a future; the task adds a done-callback to it"),
    ("{task}: returned after {n} steps", Kind::Returned, "the task's coroutine returned: the task is done"),
    ("spawn task {task}", Kind::Spawn, "a task is spawned"),
    ("wake task {task}: queued", Kind::Wake, "wake: the task goes to the back of the ready queue"),
    ("poll task {task}", Kind::Poll, "the executor pops the task and polls it"),
    ("task {task}: pending", Kind::Pending, "the poll returned Pending: the task waits where its waker is stored"),
    ("task {task} has ended: its wake is ignored", Kind::Other, "a wake for a task that has ended: ignored"),
    ("task {task} has ended", Kind::Ended, "the poll returned Ready: the task has ended"),
    ("task {task} is {url}", Kind::TaskUrl, "the task fetches this URL"),
    ("queue #{fetch}: {url}", Kind::Queued, "a URL joins the crawl's queue"),
    ("worker {worker} takes #{fetch}: {url}", Kind::Takes, "a worker takes a URL from the queue"),
    ("timer {timer} armed for {after} from now", Kind::TimerArmed, "a timer is armed with the task's waker"),
    ("timer {timer} dropped", Kind::TimerDropped, "a timer is dropped"),
    ("abort task {task}", Kind::Abort, "abort: the task is woken so that the executor drops it"),
    ("blocking work done on {thread}: waking its task", Kind::FromThread, "another thread finished blocking work and wakes the task"),
    ("#{fetch} {url}: {result}", Kind::Done, "the fetch is done"),
    ("{url}: {result}", Kind::Done, "the fetch is done"),
];

/// A line matched against the table: its kind, its caption, and its holes' values.
#[derive(Debug, PartialEq, Eq)]
pub struct Matched<'a> {
    pub kind: Kind,
    pub caption: &'static str,
    holes: Vec<(&'static str, &'a str)>,
}

impl<'a> Matched<'a> {
    /// The text of hole `name`, if the template has it.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.holes.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Hole `name` as a number.
    pub fn num(&self, name: &str) -> Option<u64> {
        self.get(name).and_then(|v| v.parse().ok())
    }
}

/// The first row of [`PATTERNS`] that matches `line`, or [`Kind::Other`].
pub fn classify(line: &str) -> Matched<'_> {
    for (template, kind, caption) in PATTERNS {
        if let Some(holes) = matches(template, line) {
            return Matched {
                kind: *kind,
                caption,
                holes,
            };
        }
    }
    Matched {
        kind: Kind::Other,
        caption: "",
        holes: Vec::new(),
    }
}

/// Whether `line` fits `template`, and its holes' values.
fn matches<'a>(template: &'static str, line: &'a str) -> Option<Vec<(&'static str, &'a str)>> {
    let mut holes = Vec::new();
    let mut rest = line;
    let mut parts = template.split('{');
    // The text before the first hole.
    rest = rest.strip_prefix(parts.next()?)?;
    for part in parts {
        let (name, literal) = part.split_once('}')?;
        let value = if literal.is_empty() {
            std::mem::take(&mut rest)
        } else {
            let end = rest.find(literal)?;
            let value = &rest[..end];
            rest = &rest[end + literal.len()..];
            value
        };
        let numeric = matches!(name, "token" | "tick" | "n" | "fetch" | "worker" | "timer");
        if value.is_empty() || (numeric && value.parse::<u64>().is_err()) {
            return None;
        }
        holes.push((name, value));
    }
    Some(holes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_end_at_the_next_literal_and_numbers_must_be_numbers() {
        let m = classify("token 3 is http://127.0.0.1:8000/3: connecting to 127.0.0.1:8000");
        assert_eq!(m.kind, Kind::TokenUrl);
        assert_eq!(m.num("token"), Some(3));
        assert_eq!(m.get("url"), Some("http://127.0.0.1:8000/3"));
        let m = classify("tick 12: poll, 3 registered, timeout 9.9s");
        assert_eq!((m.kind, m.num("tick")), (Kind::Tick, Some(12)));
        assert_eq!(
            classify("tick 2: run 1 ready callback(s)").kind,
            Kind::RunReady
        );
        assert_eq!(classify("token 0 readable: wake").kind, Kind::FiredWake);
        assert_eq!(classify("token 0 fired: readable").kind, Kind::Fired);
        assert_eq!(classify("token x fired: readable").kind, Kind::Done);
        assert_eq!(classify("task main: pending").get("task"), Some("main"));
        assert_eq!(
            classify("task 2 has ended: its wake is ignored").kind,
            Kind::Other
        );
        let m = classify("http://h/1: step 2 waits on future #6");
        assert_eq!(
            (m.kind, m.get("task")),
            (Kind::StepWaits, Some("http://h/1"))
        );
        assert_eq!(classify("").kind, Kind::Other);
    }
}
