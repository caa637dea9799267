//! `--view`: the recording of a known run keeps the loop's rules, every stage's example writes
//! its page, and the page, opened in a real (headless) browser, shows the state each step must.
//!
//! The rules are checked by counting and ordering the recorded lines, never by timing:
//! every token that fires was registered; a task is polled only after a wake, and sits in the
//! ready queue at most once; at the last step every fetch is done.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crawler::fetch::Outcome;
use crawler::site::{Site, SiteConfig};
use view::model::{Model, State};
use view::patterns::{Kind, classify};
use view::{Recorder, Recording};

/// One recorder per process (`log` has one logger); the tests take turns with it.
fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let quiet = crawler::cli::logger("").build();
        Recorder::install(Box::new(quiet)).expect("no other logger in this test")
    })
}

static TURN: Mutex<()> = Mutex::new(());

/// Crawls three pages of a fresh site with `crawl`; returns what was recorded.
fn record(crawl: fn(&[String], Instant) -> Vec<Outcome>) -> (Recording, Vec<Outcome>) {
    let recorder = recorder();
    let site = Site::start(SiteConfig {
        delay: Duration::from_millis(10),
        ..SiteConfig::default()
    })
    .unwrap();
    recorder.take();
    let outcomes = crawl(&site.urls(3), Instant::now() + Duration::from_secs(10));
    let recording = recorder.take();
    assert!(outcomes.iter().all(|o| o.is_ok()), "the crawl failed");
    assert_eq!(recording.left_out, 0);
    (recording, outcomes)
}

/// Replays `recording` in a model of `stage`, checking the rules line by line; returns the
/// model at the last step and how many lines of each kind there were.
fn replay(stage: u8, recording: &Recording) -> (Model, HashMap<Kind, usize>) {
    let mut model = Model::new(stage);
    let mut counts: HashMap<Kind, usize> = HashMap::new();
    let mut wakes: HashMap<String, usize> = HashMap::new();
    let mut polls: HashMap<String, usize> = HashMap::new();
    let mut ticked = false;
    for (i, line) in recording.lines.iter().enumerate() {
        let m = classify(&line.message);
        let at = format!("line {i}: {:?}", line.message);
        *counts.entry(m.kind).or_default() += 1;
        match m.kind {
            Kind::Fired | Kind::FiredResolves | Kind::FiredWake => {
                let token = m.num("token").unwrap();
                assert!(
                    model.sources.contains_key(&token),
                    "{at}: fired, not registered"
                );
                assert!(ticked, "{at}: an event before the loop ever polled");
            }
            Kind::Tick => ticked = true,
            Kind::Wake => *wakes.entry(m.get("task").unwrap().into()).or_default() += 1,
            Kind::Poll | Kind::Step => {
                let task = m.get("task").unwrap().to_string();
                let queued = model.queue.iter().any(|e| e.who == task || e.who == "?");
                assert!(queued, "{at}: polled, but not in the ready queue");
                let polled = polls.entry(task.clone()).or_default();
                *polled += 1;
                if stage >= 4 {
                    assert!(
                        *polled <= wakes[&task],
                        "{at}: polled more often than woken"
                    );
                }
            }
            _ => {}
        }
        model.apply(&line.message);
        let mut queued: Vec<&str> = model.queue.iter().map(|e| e.who.as_str()).collect();
        queued.retain(|who| *who != "?");
        let all = queued.len();
        queued.sort();
        queued.dedup();
        assert_eq!(
            queued.len(),
            all,
            "{at}: a task is in the ready queue twice"
        );
    }
    (model, counts)
}

fn all_done(model: &Model, urls: usize) {
    assert_eq!(model.fetches.len(), urls, "{:?}", model.fetches);
    for fetch in &model.fetches {
        assert_eq!(fetch.state, State::Done, "{fetch:?} at the last step");
    }
    assert!(
        model.sources.is_empty(),
        "{:?} still registered",
        model.sources
    );
    assert!(model.queue.is_empty(), "{:?} still queued", model.queue);
}

#[test]
fn stage_1_recording_keeps_the_rules() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (recording, _) = record(crawler::stage1::crawl);
    let (model, counts) = replay(1, &recording);
    all_done(&model, 3);
    // Each fetch registers once, fires at least twice (connected, then readable: its two
    // callbacks) and is deregistered once.
    assert_eq!(counts[&Kind::Register], 3);
    assert_eq!(counts[&Kind::Deregister], 3);
    assert!(counts[&Kind::Fired] >= 6, "{counts:?}");
    assert_eq!(counts.get(&Kind::Wake), None, "stage 1 has no wakers");
}

#[test]
fn stage_4_recording_keeps_the_rules_and_shows_the_round_trip() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (recording, _) = record(crawler::stage4::crawl);
    let (model, counts) = replay(4, &recording);
    all_done(&model, 3);
    for name in ["0", "1", "2"] {
        assert_eq!(model.tasks[name].state, State::Done, "task {name}");
    }
    let fires = counts.get(&Kind::FiredWake).or(counts.get(&Kind::Fired));
    assert!(fires >= Some(&3), "{counts:?}");
    // The waker's round trip, in order, for each fetch: the leaf future stores the waker at
    // the token, the reactor fires it, wake queues the task, the executor polls it. (Found
    // by the kinds of patterns.rs, so a change of wording is adapted there, once.)
    let lines: Vec<_> = recording
        .lines
        .iter()
        .map(|l| classify(&l.message))
        .collect();
    let find = |from: usize, kinds: &[Kind], hole: &str, value: u64| {
        let wanted = |m: &view::patterns::Matched<'_>| {
            kinds.contains(&m.kind) && m.get(hole).and_then(|v| v.parse().ok()) == Some(value)
        };
        let at = lines[from..].iter().position(wanted);
        at.map(|at| from + at)
            .unwrap_or_else(|| panic!("no {kinds:?} of {hole} {value} after line {from}"))
    };
    for task in 0..3 {
        let polled = find(0, &[Kind::Poll], "task", task);
        let token = (lines[polled..].iter())
            .find(|m| m.kind == Kind::StoreWaker)
            .and_then(|m| m.num("token"))
            .expect("the first poll stores a waker");
        let stored = find(polled, &[Kind::StoreWaker], "token", token);
        let fired = find(stored, &[Kind::FiredWake, Kind::Fired], "token", token);
        let woken = find(fired, &[Kind::Wake], "task", task);
        find(woken, &[Kind::Poll], "task", task);
    }
}

/// `target/<profile>`: this test runs from its `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Runs an example; its stdout. The examples are built first with this test's profile and
/// target directory: a no-op under plain `cargo test` (it built them), and no stale binary
/// under `cargo test --test view`.
fn example(name: &str, args: &[&str]) -> String {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile = profile_dir();
        let mut cargo = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        cargo.current_dir(env!("CARGO_MANIFEST_DIR"));
        cargo.args(["build", "--quiet", "--examples", "--target-dir"]);
        cargo.arg(profile.parent().unwrap());
        match profile.file_name().unwrap().to_str().unwrap() {
            "debug" => {}
            "release" => {
                cargo.arg("--release");
            }
            other => {
                cargo.args(["--profile", other]);
            }
        }
        assert!(
            cargo.status().unwrap().success(),
            "cargo build --examples failed"
        );
    });
    let binary = profile_dir().join("examples").join(name);
    let out = Command::new(&binary).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The page's path, from the `view: file://…` line the example prints.
fn page_of(stdout: &str) -> PathBuf {
    let line = stdout.lines().find(|l| l.starts_with("view: file://"));
    let line = line.unwrap_or_else(|| panic!("no view: line in\n{stdout}"));
    PathBuf::from(line.trim_start_matches("view: file://"))
}

#[test]
fn every_stage_example_writes_one_offline_page_into_target_loop() {
    for stage in 0..=5 {
        let name = format!("stage{stage}");
        let stdout = example(&name, &["--count", "3", "--delay-ms", "5", "--view"]);
        let page = page_of(&stdout);
        assert_eq!(page.parent().unwrap().file_name().unwrap(), "loop");
        assert_eq!(page.file_name().unwrap(), format!("{name}.html").as_str());
        let html = std::fs::read_to_string(&page).unwrap();
        // One file: nothing it needs comes from anywhere else.
        for outside in ["<script src", "<link", "@import", "url(http", "src=\"http"] {
            assert!(!html.contains(outside), "{name}: {outside} in the page");
        }
        if stage > 0 {
            assert!(html.contains("\"steps\":[["), "{name}: nothing recorded");
        }
    }
}

/// Chromium's `--dump-dom` of `page` at `#step=N`: the page after its script ran.
fn dom(chromium: &Path, page: &Path, step: &str) -> String {
    let url = format!("{}#step={step}", view::file_url(page));
    let out = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("<body"),
        "{url}: no DOM: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// The section `id` of the DOM, up to its end.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let end = dom[start..].find("</section>").unwrap();
    &dom[start..start + end]
}

#[test]
fn the_page_in_a_headless_browser_shows_each_steps_state() {
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED: no chromium on PATH, so the page was not opened in a browser \
             (.ci/run installs it: apt-get install chromium)"
        );
        return;
    };
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (recording, outcomes) = record(crawler::stage4::crawl);
    let outcomes: Vec<view::Outcome> = (outcomes.iter())
        .map(|o| view::Outcome {
            url: o.url.clone(),
            result: "200 OK".into(),
            ok: o.is_ok(),
            times: [Some(o.timeline.start), None, None, o.timeline.end],
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("looplab-view-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("stage4.html");
    let html = view::html("stage4", "stage4", &recording, &outcomes, Instant::now());
    std::fs::write(&page, html).unwrap();

    // Three steps, opened at once (a browser takes a while to start).
    let fired = (recording.lines.iter())
        .position(|l| matches!(classify(&l.message).kind, Kind::FiredWake | Kind::Fired))
        .unwrap();
    let fired = fired.to_string();
    let [first, last, middle] = std::thread::scope(|s| {
        ["0", "999999", fired.as_str()]
            .map(|step| s.spawn(|| dom(&chromium, &page, step)))
            .map(|opened| opened.join().unwrap())
    });

    // Step 0: the first line, `spawn task 0`; nothing registered, nothing queued yet.
    assert!(first.contains("data-step=\"0\""), "{first}");
    assert!(section(&first, "trace").contains("spawn task 0"), "{first}");
    assert!(
        first.contains("id=\"panel-src\" data-rows=\"0\""),
        "{first}"
    );
    assert!(first.contains("id=\"panel-q\" data-rows=\"0\""), "{first}");
    let tasks = section(&first, "panel-task");
    assert!(
        tasks.contains("class=\"new chg\" data-key=\"0\""),
        "{tasks}"
    );

    // The last step (a step past the end opens the last): every task done, no source, an
    // empty queue, the report's count.
    let n = recording.lines.len() - 1;
    assert!(last.contains(&format!("data-step=\"{n}\"")), "{last}");
    let tasks = section(&last, "panel-task");
    for key in ["0", "1", "2"] {
        // `chg` marks the row the last step changed: the task that ended last.
        let done =
            ["done", "done chg"].map(|class| format!("class=\"{class}\" data-key=\"{key}\""));
        assert!(
            done.iter().any(|row| tasks.contains(row)),
            "task {key} not done:\n{tasks}"
        );
    }
    assert!(last.contains("id=\"panel-src\" data-rows=\"0\""), "{last}");
    assert!(last.contains("id=\"panel-q\" data-rows=\"0\""), "{last}");
    assert!(last.contains("Report: 3 of 3 ok."), "{last}");

    // A step in the middle: the reactor fires a token; the page says so on its source.
    let sources = section(&middle, "panel-src");
    assert!(sources.contains("class=\"fired chg\""), "{sources}");
    assert!(sources.contains("taken: woke task"), "{sources}");
    let _ = std::fs::remove_dir_all(&dir);
}
