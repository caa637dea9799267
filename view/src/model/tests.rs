//! The model on hand-written traces: the waker's round trip, and the wording a stage's trace
//! may change to (`token N fired` in stage 4, `deregistered`).

use super::*;

fn run(stage: u8, lines: &[&str]) -> (Model, Vec<Step>) {
    let mut model = Model::new(stage);
    let steps = lines.iter().map(|l| model.apply(l)).collect();
    (model, steps)
}

#[test]
fn the_wakers_round_trip_moves_task_0_from_token_0_to_the_queue_and_back() {
    let (model, steps) = run(
        4,
        &[
            "spawn task 0",
            "wake task 0: queued",
            "task 0 is http://127.0.0.1:1/",
            "poll task 0",
            "token 0: registered",
            "token 0: waits until readable",
            "task 0: pending",
            "park: 1 tasks, timeout Some(1s)",
            "poll: 1 events",
            "token 0 readable: wake",
            "wake task 0: queued",
        ],
    );
    assert_eq!(model.tick, 1);
    assert_eq!(model.tasks["0"].state, State::Queued);
    let entry = &model.queue[0];
    assert_eq!(
        (entry.who.as_str(), entry.why.as_str()),
        ("0", "reactor: token 0 readable")
    );
    assert!(
        model.sources[&0].wakers.is_empty(),
        "the reactor took the waker out"
    );
    assert_eq!(
        steps[5].ops.len(),
        1,
        "storing the waker changes token 0's row"
    );
    let (model, _) = run(
        4,
        &["poll task 0", "token 0: deregistered", "task 0 has ended"],
    );
    assert!(model.sources.is_empty());
}

#[test]
fn a_token_that_fires_in_stage_4_wakes_however_the_line_says_it() {
    let (model, _) = run(
        4,
        &[
            "spawn task 3",
            "poll task 3",
            "token 7: registered",
            "token 7: waits until readable",
            "task 3: pending",
            "tick 1: poll, 1 registered",
            "token 7 fired: readable",
            "wake task 3: queued",
        ],
    );
    assert_eq!(model.queue[0].why, "reactor: token 7 readable");
    assert_eq!(model.sources[&7].fired.as_deref(), Some("readable"));
}

#[test]
fn stage_1_runs_the_callback_where_the_token_fires() {
    let (model, _) = run(
        1,
        &[
            "register token 0 for WRITABLE",
            "token 0 is http://h/: connecting to 1.2.3.4:80",
            "tick 1: poll, 1 registered, timeout 1s",
            "token 0 fired: writable",
        ],
    );
    assert_eq!(model.running.as_deref(), Some("0"));
    assert_eq!(model.fetches[0].state, State::Running);
    assert!(model.queue.is_empty(), "stage 1 has no ready queue");
}

#[test]
fn any_line_in_any_order_on_any_stage_changes_state_without_a_panic() {
    // Every template of the table, its holes filled in, forwards and backwards, on every
    // stage: lines out of order (a fire for a token never registered, a poll of a task never
    // woken) are shown, never a crash.
    let fill = |task: &'static str| {
        crate::patterns::PATTERNS
            .iter()
            .map(move |(template, _, _)| {
                let mut line = String::new();
                for (i, part) in template.split(['{', '}']).enumerate() {
                    line.push_str(match (i % 2, part) {
                        (0, _) => part,
                        (_, "url") => "http://h/1",
                        (_, "task") => task,
                        _ => "0",
                    });
                }
                line
            })
    };
    let lines: Vec<String> = fill("http://h/1")
        .chain(fill("0"))
        .chain(fill("main"))
        .collect();
    for stage in 1..=5 {
        let mut model = Model::new(stage);
        for line in lines.iter().chain(lines.iter().rev()) {
            model.apply(line);
        }
        model.apply("");
        model.apply("{}: #: ");
    }
}
