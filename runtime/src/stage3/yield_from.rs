//! Delegation: Python's `yield from`, so that a coroutine can be built from sub-coroutines.

use super::coroutine::{Coroutine, Step};
use super::event_loop::{EventLoop, Readiness};

// ANCHOR: yield_from
/// Python's `output = yield from sub`, for one `send` of the caller. It does the three things
/// `yield from` does:
///
/// - forwards the `value` sent to the caller into `sub`;
/// - if `sub` waits, hands back `Ok(Step::Wait(future))`: the caller returns it as its own
///   wait, so the Task waits on the very Future the innermost coroutine asked for, and its
///   next `send` comes back down the same way;
/// - if `sub` returns `Ok(output)`, hands back `Ok(Step::Return(output))`: the value of the
///   `yield from` expression; if `sub` returns `Err(error)`, hands back `Err(error)`, so that
///   the caller's `?` raises it further up, exactly like an exception leaving a generator.
///
/// The caller keeps `sub` in its state between sends, as a Python generator keeps the
/// sub-generator in its frame. The Task is not involved: to it, the whole chain is one
/// coroutine waiting on one Future.
pub fn yield_from<C, T, E>(
    sub: &mut C,
    event_loop: &mut EventLoop,
    value: Option<Readiness>,
) -> Result<Step<T>, E>
where
    C: Coroutine<Output = Result<T, E>>,
{
    match sub.send(event_loop, value) {
        Step::Wait(future) => Ok(Step::Wait(future)),
        Step::Return(Ok(output)) => Ok(Step::Return(output)),
        Step::Return(Err(error)) => Err(error),
    }
}

/// The way back up: a coroutine body written with `?` (returning `Result<Step<T>, E>`)
/// becomes the `Step` its `send` returns, with `.into()`. An `Err` ends the coroutine with
/// that error as its output.
impl<T, E> From<Result<Step<T>, E>> for Step<Result<T, E>> {
    fn from(body: Result<Step<T>, E>) -> Self {
        match body {
            Ok(Step::Wait(future)) => Step::Wait(future),
            Ok(Step::Return(output)) => Step::Return(Ok(output)),
            Err(error) => Step::Return(Err(error)),
        }
    }
}
// ANCHOR_END: yield_from

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use mio::Token;

    use super::super::{Coroutine, EventLoop, Readiness, Step, Task};
    use super::yield_from;

    type Log = Rc<RefCell<Vec<String>>>;

    /// The innermost coroutine: waits once (on a Future resolved from the ready queue), then
    /// returns `result`.
    struct Leaf {
        result: Option<Result<u32, String>>,
        waited: bool,
    }

    impl Coroutine for Leaf {
        type Output = Result<u32, String>;

        fn send(&mut self, event_loop: &mut EventLoop, _: Option<Readiness>) -> Step<Self::Output> {
            if !self.waited {
                self.waited = true;
                let future = event_loop.create_future();
                let resolve = future.clone();
                event_loop.call_soon(move |_| {
                    resolve.set_result(Readiness {
                        token: Token(0),
                        readable: true,
                        writable: false,
                        error: false,
                        read_closed: false,
                    })
                });
                return Step::Wait(future);
            }
            Step::Return(self.result.take().expect("resumed after it returned"))
        }
    }

    /// A caller: `output = yield from sub; log it; return output + 1`, written with `?`.
    struct Caller<C> {
        name: &'static str,
        sub: C,
        log: Log,
    }

    impl<C: Coroutine<Output = Result<u32, String>>> Coroutine for Caller<C> {
        type Output = Result<u32, String>;

        fn send(
            &mut self,
            event_loop: &mut EventLoop,
            value: Option<Readiness>,
        ) -> Step<Self::Output> {
            self.resume(event_loop, value).into()
        }
    }

    impl<C: Coroutine<Output = Result<u32, String>>> Caller<C> {
        fn resume(
            &mut self,
            event_loop: &mut EventLoop,
            value: Option<Readiness>,
        ) -> Result<Step<u32>, String> {
            let output = match yield_from(&mut self.sub, event_loop, value)? {
                Step::Wait(future) => return Ok(Step::Wait(future)),
                Step::Return(output) => output,
            };
            self.log
                .borrow_mut()
                .push(format!("{} got {output}", self.name));
            Ok(Step::Return(output + 1))
        }
    }

    /// A Task running `outer -> inner -> leaf(result)`; its output and the log.
    fn run_chain(result: Result<u32, String>) -> (Result<u32, String>, Vec<String>, u64) {
        let mut event_loop = EventLoop::new().unwrap();
        let log = Log::default();
        let leaf = Leaf {
            result: Some(result),
            waited: false,
        };
        let inner = Caller {
            name: "inner",
            sub: leaf,
            log: log.clone(),
        };
        let outer = Caller {
            name: "outer",
            sub: inner,
            log: log.clone(),
        };
        let task = Task::new(&mut event_loop, "chain", outer);
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(event_loop.run_until(deadline).unwrap());
        let output = task.future().take_result().expect("the task ended");
        let log = log.borrow().clone();
        (output, log, task.steps())
    }

    #[test]
    fn the_output_of_a_sub_coroutine_is_the_value_of_yield_from() {
        let (output, log, steps) = run_chain(Ok(40));
        assert_eq!(output, Ok(42));
        assert_eq!(log, ["inner got 40", "outer got 41"]);
        // The Task saw one coroutine that waited once: its wait came up the chain unchanged.
        assert_eq!(steps, 2);
    }

    #[test]
    fn an_error_inside_a_sub_coroutine_reaches_the_tasks_result() {
        let (output, log, steps) = run_chain(Err("connection refused".to_string()));
        assert_eq!(output, Err("connection refused".to_string()));
        assert!(
            log.is_empty(),
            "no caller ran past its failed delegation: {log:?}"
        );
        assert_eq!(steps, 2);
    }
}
