//! Stage 5's lines: the crawl's queue and its workers, timers, aborts, and wakes that come
//! from a timer or from another thread.

use super::{Model, State};
use crate::patterns::{Kind, Matched};

impl Model {
    /// Applies a stage 5 line; returns the timeline's mark, if the line is about a fetch.
    pub(super) fn toolkit(&mut self, kind: Kind, m: &Matched<'_>) -> Option<(usize, char)> {
        match kind {
            Kind::Queued => {
                let f = self.fetch(m.get("url").unwrap_or("?"));
                self.fetches[f].state = State::Queued;
                self.fetches[f].note = "in the crawl's queue".into();
                return Some((f, 'g'));
            }
            Kind::Takes => {
                let f = self.fetch(m.get("url").unwrap_or("?"));
                self.fetches[f].state = State::Running;
                if let Some(running) = self.running.clone() {
                    self.task(&running).fetch = Some(f);
                    self.fetches[f].note = format!("taken by {}", self.name(&running));
                }
                return Some((f, 'r'));
            }
            Kind::TimerArmed | Kind::TimerDropped => {
                let timer = m.num("timer").unwrap_or_default();
                if kind == Kind::TimerArmed {
                    let after = format!("in {}", rounded(m.get("after").unwrap_or("?")));
                    let task = self.running.clone().unwrap_or_else(|| "?".into());
                    self.timers.insert(timer, (after, task));
                } else {
                    self.timers.remove(&timer);
                }
                self.dirty_timers.insert(timer);
            }
            Kind::TimersDue => self.why = Some("a timer: its deadline passed".into()),
            Kind::Abort => self.why = Some("abort (from the JoinHandle)".into()),
            Kind::FromThread => {
                let thread = m.get("thread").unwrap_or("?");
                self.why = Some(format!("another thread ({thread})"));
            }
            _ => {}
        }
        None
    }
}

/// A `Duration`'s `Debug` (`4.999551844s`) to the millisecond (`5.000s`): a timer's deadline
/// fits its column.
fn rounded(duration: &str) -> String {
    let unit = duration.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let number = &duration[..duration.len() - unit.len()];
    match number.parse::<f64>() {
        Ok(n) if unit == "s" => format!("{n:.3} s"),
        Ok(n) => format!("{n:.0} {unit}"),
        Err(_) => duration.to_string(),
    }
}
