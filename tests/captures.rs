//! Every captured output in NOTES.md is checked: a block of program output is marked with the
//! command that produced it,
//!
//! ````text
//! <!-- capture: RUST_LOG=trace cargo run -q --example stage1 -- --count 2 -->
//! ```text
//! $ RUST_LOG=trace cargo run -q --example stage1 -- --count 2
//! [2026-12-02T09:07:45.319403Z DEBUG runtime::stage1::event_loop] register token 0 for WRITABLE
//! …
//! built-in site: 2 requests, peak 2 connections at once
//! ```
//! ````
//!
//! and this test runs that command again and compares.
//!
//! **The command.** Only `[VAR=value ...] cargo run -q --example NAME [-- ARGS]`: environment
//! variables, an example, its arguments (quoted with `'…'` where a shell needs it). No pipes,
//! no redirections, nothing in a second terminal. The block's first line is `$ ` and the same
//! command; a long one may go on over several lines ending in ` \`. The test runs the example's
//! binary directly — `target/<profile>/examples/NAME`, found from this test's own path, so
//! `CARGO_TARGET_DIR` is honoured — after a `cargo build --examples` that is a no-op under
//! plain `cargo test` and keeps `cargo test --test captures` from running stale binaries.
//! `RUST_LOG` and `RUST_BACKTRACE` are removed from the environment unless the command sets
//! them, and each run is killed after [`TIMEOUT`].
//!
//! **What a block shows.** What a terminal shows: stdout and stderr go to one file, in the order
//! the program wrote them, as with `2>&1` (the report is printed whole, so a trace on stderr
//! comes before the report it ends with).
//!
//! **What is compared.** Each line of the block and of the run, after [`normalise`] has replaced
//! what varies from run to run: timestamps (`[2026-…Z`), ports (`127.0.0.1:40229`), times and
//! durations (`201 ms`, `9.999299205s`, `Some(0ns)`), ratios (`(9.9x)`), the number of an
//! `os error` (Linux's 111 is macOS's 61), runs of spaces (a number's width shifts the
//! columns), and the timeline's bars. A bar compares only by its *shape*, the phases it goes
//! through (`|   -.....#   |` is `-.#`), because where a phase starts and ends depends on
//! timing: staircase against stack is not compared, the peak numbers of the summary say that,
//! and they are compared. Counts, sizes, tokens, task and future numbers are compared as they
//! are: on one thread they do not vary.
//!
//! **Eliding.** A line that starts with `…` matches any number of lines (none included); the
//! rest of that line is a note for the reader (`… the same for /1`). Use it to shorten a long
//! output, and wherever the order of lines varies from run to run (two threads logging, events
//! that may come in one `poll` or in two): elide to what is stable. A block is compared against
//! at most two runs; it passes if either matches.
//!
//! **Blessing.** `LOOPLAB_BLESS=1 cargo test --test captures` runs every command and rewrites
//! each block that does not match from the fresh run, all its lines (a block shows one run:
//! one port, one clock); blocks that match are left alone. Elisions stay where they still cover
//! only lines that were left out before; where a changed line sits inside an elided stretch,
//! the block is written out in full there and the test fails, naming the block to elide again
//! by hand. Read the diff of NOTES.md before you commit, and the prose around a rewritten block:
//! it may quote its numbers.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MARK: &str = "<!-- capture: ";

/// A line of a block that starts with this matches any number of lines of the run.
const ELISION: char = '…';

/// How long one run of a command may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a command runs before its block is declared different.
const ATTEMPTS: usize = 2;

// ---------------------------------------------------------------------------------------------
// Finding the marked blocks
// ---------------------------------------------------------------------------------------------

/// One marked block of NOTES.md.
#[derive(Debug)]
struct Capture {
    /// The 1-based line of the marker.
    line: usize,
    /// The command, as the marker gives it.
    command: String,
    /// The fence's indentation (a block inside a list item is indented), removed from its lines.
    indent: String,
    /// The index of the opening fence line.
    fence: usize,
    /// The index of the closing fence line.
    close: usize,
    /// The block's `$` line, and the lines its command goes on over (` \`), as written.
    head: Vec<String>,
    /// The command as the block's `$` lines give it.
    dollar: String,
    /// The lines after the command, indentation removed.
    shown: Vec<String>,
}

/// Every marked block of `notes`, or what is wrong with the marks.
fn captures(notes: &str) -> Result<Vec<Capture>, String> {
    let lines: Vec<&str> = notes.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(rest) = lines[i].trim().strip_prefix(MARK) else {
            i += 1;
            continue;
        };
        let line = i + 1;
        let command = rest
            .strip_suffix("-->")
            .ok_or(format!("NOTES.md:{line}: a capture mark ends with -->"))?
            .trim()
            .to_string();
        let fence = i + 1;
        let opening = lines.get(fence).map(|l| l.trim_start()).unwrap_or("");
        if opening != "```text" {
            return Err(format!(
                "NOTES.md:{line}: a capture mark must be followed by a ```text block"
            ));
        }
        let indent = lines[fence][..lines[fence].len() - opening.len()].to_string();
        let close = (fence + 1..lines.len())
            .find(|&j| lines[j].trim_start().starts_with("```"))
            .ok_or(format!("NOTES.md:{line}: unclosed block"))?;
        let body: Vec<String> = lines[fence + 1..close]
            .iter()
            .map(|l| l.strip_prefix(indent.as_str()).unwrap_or(l.trim_start()))
            .map(str::to_string)
            .collect();
        let first = body
            .first()
            .and_then(|l| l.strip_prefix("$ "))
            .ok_or(format!(
                "NOTES.md:{line}: a captured block starts with `$ ` and its command"
            ))?;
        let mut dollar = first.to_string();
        let mut dollar_lines = 1;
        while let Some(head) = dollar.strip_suffix('\\') {
            let next = body.get(dollar_lines).ok_or(format!(
                "NOTES.md:{line}: the command goes on with \\ but the block ends"
            ))?;
            dollar = format!("{} {}", head.trim_end(), next.trim());
            dollar_lines += 1;
        }
        found.push(Capture {
            line,
            command,
            indent,
            fence,
            close,
            head: body[..dollar_lines].to_vec(),
            dollar,
            shown: body[dollar_lines..].to_vec(),
        });
        i = close + 1;
    }
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

/// What a capture's command runs.
#[derive(Debug, PartialEq)]
struct Invocation {
    env: Vec<(String, String)>,
    example: String,
    args: Vec<String>,
}

/// Splits a command line as a shell would, for the little the marks use: spaces, and
/// `'…'` or `"…"` quotes.
fn words(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '|' | '>' | '<' | ';' | '&' | '$' | '`' | '\\') => {
                return Err(format!(
                    "`{c}`: a capture runs one command, without pipes or redirections"
                ));
            }
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err("an unclosed quote".into());
    }
    words.extend(word);
    Ok(words)
}

/// Reads `[VAR=value ...] cargo run [-q] --example NAME [-- ARGS]`.
fn invocation(command: &str) -> Result<Invocation, String> {
    let words = words(command)?;
    let mut rest = words.iter().map(String::as_str).peekable();
    let mut env = Vec::new();
    while let Some((name, value)) = rest.peek().and_then(|w| w.split_once('=')) {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            break;
        }
        env.push((name.to_string(), value.to_string()));
        rest.next();
    }
    let usage = "expected `[VAR=value ...] cargo run -q --example NAME [-- ARGS]`";
    if (rest.next(), rest.next()) != (Some("cargo"), Some("run")) {
        return Err(usage.into());
    }
    let mut example = None;
    while let Some(word) = rest.next() {
        match word {
            "-q" | "--quiet" => {}
            "--example" => example = rest.next().map(str::to_string),
            "--" => break,
            _ => return Err(format!("{usage}, not `{word}`")),
        }
    }
    Ok(Invocation {
        env,
        example: example.ok_or(usage)?,
        args: rest.map(str::to_string).collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// Running it
// ---------------------------------------------------------------------------------------------

/// `target/<profile>`: this test runs as `target/<profile>/deps/captures-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps")
        .to_path_buf()
}

/// Builds the examples with the profile and target directory this test was built with: a
/// no-op under plain `cargo test` (it built them), a real build under `--test captures`.
fn build_examples() {
    let dir = profile_dir();
    let profile = dir.file_name().unwrap().to_str().unwrap().to_string();
    let target_dir = dir.parent().unwrap();
    let mut cargo = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--examples", "--target-dir"])
        .arg(target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cargo.arg("--release");
        }
        other => {
            cargo.args(["--profile", other]);
        }
    }
    let status = cargo
        .status()
        .expect("cannot run cargo to build the examples");
    assert!(status.success(), "cargo build --examples failed");
}

/// Runs `it` with stdout and stderr into one file, as a terminal shows them; kills it after
/// [`TIMEOUT`].
fn run(it: &Invocation, attempt: usize) -> Result<String, String> {
    let binary = profile_dir().join("examples").join(format!(
        "{}{}",
        it.example,
        std::env::consts::EXE_SUFFIX
    ));
    let out = std::env::temp_dir().join(format!(
        "looplab-capture-{}-{}-{attempt}.txt",
        std::process::id(),
        it.example
    ));
    let file = File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut command = Command::new(&binary);
    command
        .args(&it.args)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .envs(it.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let started = Instant::now();
    let timed_out = loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break false;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break true;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()));
    let _ = fs::remove_file(&out);
    if timed_out {
        return Err(format!("still running after {TIMEOUT:?}: killed"));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------

/// `line` with what varies from run to run replaced; see the module's doc.
fn normalise(line: &str) -> String {
    let line = bar_shape(line);
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let after_word = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if let Some(n) = timestamp(&chars[i..]) {
            out.push_str("<time>");
            i += n;
        } else if let Some((host, n)) = port(&chars[i..]) {
            out.extend(&chars[i..i + host]);
            out.push_str("<port>");
            i += n;
        } else if let Some(n) = os_error(&chars[i..]) {
            out.push_str("os error <n>");
            i += n;
        } else if let (false, Some((n, ratio))) = (after_word, quantity(&chars[i..])) {
            out.push_str(if ratio { "<n>x" } else { "<t>" });
            i += n;
        } else if chars[i] == ' ' {
            out.push(' ');
            while chars.get(i) == Some(&' ') {
                i += 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.trim_end().to_string()
}

/// The length of a timestamp `2026-12-02T09:07:45.319403Z` at the start of `s`.
fn timestamp(s: &[char]) -> Option<usize> {
    let shape = "dddd-dd-ddTdd:dd:dd";
    let fits = |c: char, p: char| if p == 'd' { c.is_ascii_digit() } else { c == p };
    if s.len() < shape.len() || !s.iter().zip(shape.chars()).all(|(&c, p)| fits(c, p)) {
        return None;
    }
    let mut n = shape.len();
    if s.get(n) == Some(&'.') {
        n += 1;
        while s.get(n).is_some_and(char::is_ascii_digit) {
            n += 1;
        }
    }
    (s.get(n) == Some(&'Z')).then_some(n + 1)
}

/// At the start of `s`, `127.0.0.1:PORT` (or `localhost:`, `0.0.0.0:`): the length of the
/// host with its colon, and of the whole.
fn port(s: &[char]) -> Option<(usize, usize)> {
    for host in ["127.0.0.1:", "localhost:", "0.0.0.0:"] {
        let h: Vec<char> = host.chars().collect();
        if s.starts_with(&h) {
            let digits = s[h.len()..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            return (digits > 0).then_some((h.len(), h.len() + digits));
        }
    }
    None
}

/// The length of `os error 111` at the start of `s`: its number depends on the OS.
fn os_error(s: &[char]) -> Option<usize> {
    let prefix: Vec<char> = "os error ".chars().collect();
    if !s.starts_with(&prefix) {
        return None;
    }
    let digits = s[prefix.len()..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    (digits > 0).then_some(prefix.len() + digits)
}

/// The length of a time (`201 ms`, `9.9s`, `12µs`) or a ratio (`9.9x`) at the start of `s`,
/// and whether it is a ratio.
fn quantity(s: &[char]) -> Option<(usize, bool)> {
    let mut n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut decimal = false;
    if s.get(n) == Some(&'.') && s.get(n + 1).is_some_and(char::is_ascii_digit) {
        decimal = true;
        n += 1;
        n += s[n..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    let ends = |k: usize| !s.get(k).is_some_and(|c| c.is_alphanumeric() || *c == '_');
    if decimal && s.get(n) == Some(&'x') && ends(n + 1) {
        return Some((n + 1, true));
    }
    let unit_at = if s.get(n) == Some(&' ') { n + 1 } else { n };
    for unit in ["ns", "µs", "us", "ms", "s"] {
        let u: Vec<char> = unit.chars().collect();
        if s[unit_at..].starts_with(&u) && ends(unit_at + u.len()) {
            return Some((unit_at + u.len(), false));
        }
    }
    None
}

/// `line` with a timeline bar (`|  -....#   |`) reduced to its shape (`|-.#|`): the phases it
/// goes through, each once, in order.
fn bar_shape(line: &str) -> String {
    let Some(open) = line.find('|') else {
        return line.to_string();
    };
    let Some(len) = line[open + 1..].find('|') else {
        return line.to_string();
    };
    let inside = &line[open + 1..open + 1 + len];
    let is_bar = inside.chars().count() >= 8
        && inside.chars().all(|c| " -.#x".contains(c))
        && inside.chars().any(|c| c != ' ');
    if !is_bar {
        return line.to_string();
    }
    let mut shape = String::new();
    for c in inside.chars().filter(|&c| c != ' ') {
        if !shape.ends_with(c) {
            shape.push(c);
        }
    }
    format!("{}|{shape}|{}", &line[..open], &line[open + 1 + len + 1..])
}

/// A line of a block: text to match, or an elision.
#[derive(Clone, Debug)]
enum Shown {
    Line(String),
    Elision,
}

fn pattern(shown: &[String]) -> Vec<Shown> {
    shown
        .iter()
        .map(|l| {
            if l.trim_start().starts_with(ELISION) {
                Shown::Elision
            } else {
                Shown::Line(normalise(l))
            }
        })
        .collect()
}

/// The run's output as lines, without trailing empty ones.
fn output_lines(output: &str) -> Vec<String> {
    let mut lines: Vec<String> = output.lines().map(str::to_string).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

fn normalised(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| normalise(l)).collect()
}

/// Whether `pattern` matches all of `run` (already normalised); if not, `Err(i)` with `i` the
/// first item of the pattern that could not be matched in order (the pattern's length when
/// all of it was, and the run goes on).
fn compare(pattern: &[Shown], run: &[String]) -> Result<(), usize> {
    // reach[i][j]: the first i items of the pattern match the first j lines of the run.
    let (p, r) = (pattern.len(), run.len());
    let mut reach = vec![vec![false; r + 1]; p + 1];
    reach[0][0] = true;
    for i in 0..p {
        for j in 0..=r {
            if !reach[i][j] {
                continue;
            }
            match &pattern[i] {
                Shown::Elision => (j..=r).for_each(|k| reach[i + 1][k] = true),
                Shown::Line(l) if j < r && *l == run[j] => reach[i + 1][j + 1] = true,
                Shown::Line(_) => {}
            }
        }
    }
    if reach[p][r] {
        return Ok(());
    }
    Err((0..=p)
        .rev()
        .find(|&i| reach[i].iter().any(|&b| b))
        .unwrap())
}

// ---------------------------------------------------------------------------------------------
// Blessing
// ---------------------------------------------------------------------------------------------

/// The lines of a block rewritten from a fresh run (`fresh`, raw), and whether a part of it
/// needs eliding again by hand. Every line shown is the run's, so that a block shows one run
/// (one port, one clock); what is kept from the block is where its elisions go.
///
/// The lines the block and the run share (their longest common subsequence, normalised) are
/// the fixed points. Between two of them, where the block shows no elision, the run's lines
/// replace the block's. Where it shows one elision, the block's lines before it are
/// replaced by as many of the run's first lines, those after it by as many of its last, and the
/// elision keeps covering the rest. Anything else (two elisions around a changed line, fewer
/// lines than the block showed) is written out in full and flagged.
fn reblessed(shown: &[String], fresh: &[String]) -> (Vec<String>, bool) {
    let elided = |l: &String| l.trim_start().starts_with(ELISION);
    let old: Vec<(usize, String)> = shown
        .iter()
        .enumerate()
        .filter(|(_, l)| !elided(l))
        .map(|(k, l)| (k, normalise(l)))
        .collect();
    let new = normalised(fresh);
    let (a, b) = (old.len(), new.len());
    let mut lcs = vec![vec![0usize; b + 1]; a + 1];
    for i in (0..a).rev() {
        for j in (0..b).rev() {
            lcs[i][j] = if old[i].1 == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // (index in `shown`, index in `fresh`) of each shared line, then both ends.
    let mut shared = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a && j < b {
        if old[i].1 == new[j] {
            shared.push((old[i].0, j));
            (i, j) = (i + 1, j + 1);
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    shared.push((shown.len(), fresh.len()));

    let mut out = Vec::new();
    let mut flagged = false;
    let (mut s, mut f) = (0, 0);
    for (shown_at, fresh_at) in shared {
        let (gap, run) = (&shown[s..shown_at], &fresh[f..fresh_at]);
        let elisions: Vec<usize> = (0..gap.len()).filter(|&k| elided(&gap[k])).collect();
        match elisions[..] {
            [] => out.extend_from_slice(run),
            [first, ..] if elisions.len() == gap.len() => out.push(gap[first].clone()),
            [at] if run.len() >= gap.len() - 1 => {
                let after = gap.len() - at - 1;
                out.extend_from_slice(&run[..at]);
                out.push(gap[at].clone());
                out.extend_from_slice(&run[run.len() - after..]);
            }
            _ => {
                flagged = true;
                out.extend_from_slice(run);
            }
        }
        out.extend(fresh.get(fresh_at).cloned());
        (s, f) = (shown_at + 1, fresh_at + 1);
    }
    (out, flagged)
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn every_capture_matches_a_fresh_run() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("NOTES.md");
    let notes = fs::read_to_string(&path).expect("NOTES.md");
    let found = captures(&notes).unwrap_or_else(|e| panic!("{e}"));
    assert!(!found.is_empty(), "NOTES.md has no checked captures");
    let bless = std::env::var_os("LOOPLAB_BLESS").is_some();
    build_examples();

    let started = Instant::now();
    let mut problems = Vec::new();
    let mut rewrites: Vec<(usize, usize, Vec<String>)> = Vec::new();
    for capture in &found {
        let line = capture.line;
        let it = match invocation(&capture.command) {
            Ok(it) => it,
            Err(e) => {
                problems.push(format!("NOTES.md:{line}: {e}"));
                continue;
            }
        };
        let same_command = words(&capture.dollar).ok() == words(&capture.command).ok();
        if !same_command && !bless {
            problems.push(format!(
                "NOTES.md:{line}: the block's `$` line is not the marked command\n  \
                 mark:  {}\n  block: {}",
                capture.command, capture.dollar
            ));
        }
        let expected = pattern(&capture.shown);
        let mut last = Err(String::new());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                eprintln!("NOTES.md:{line}: differed from a first run; running it again");
            }
            last = run(&it, attempt);
            match &last {
                Ok(output) if compare(&expected, &normalised(&output_lines(output))).is_ok() => {
                    break;
                }
                Err(_) => break,
                Ok(_) => {}
            }
        }
        let output = match last {
            Ok(output) => output_lines(&output),
            Err(e) => {
                problems.push(format!("NOTES.md:{line}: `{}`: {e}", capture.command));
                continue;
            }
        };
        let matched = compare(&expected, &normalised(&output));
        if bless && (matched.is_err() || !same_command) {
            let (shown, spelled_out) = match matched {
                Ok(()) => (capture.shown.clone(), false),
                Err(_) => reblessed(&capture.shown, &output),
            };
            if spelled_out {
                problems.push(format!(
                    "NOTES.md:{line}: rewritten from a fresh run, but a changed line was inside \
                     an elided stretch: that stretch is written out in full; elide it again"
                ));
            }
            let mut block = if same_command {
                capture.head.clone()
            } else {
                vec![format!("$ {}", capture.command)]
            };
            block.extend(shown);
            rewrites.push((capture.fence + 1, capture.close, block));
        } else if let Err(at) = matched {
            let want = match capture.shown.get(at) {
                Some(shown) => format!("the first line of the block not found in order: {shown}"),
                None => "the run goes on after the block's last line".to_string(),
            };
            problems.push(format!(
                "NOTES.md:{line}: `{}` printed something else ({ATTEMPTS} runs); {want}\n\
                 --- NOTES.md ---\n{}\n--- the run ---\n{}\n",
                capture.command,
                capture.shown.join("\n"),
                output.join("\n")
            ));
        }
    }

    if bless && !rewrites.is_empty() {
        let lines: Vec<&str> = notes.lines().collect();
        let mut out: Vec<String> = Vec::new();
        let mut next = 0;
        for (from, to, block) in &rewrites {
            out.extend(lines[next..*from].iter().map(|l| l.to_string()));
            let capture = found.iter().find(|c| c.fence + 1 == *from).unwrap();
            out.extend(block.iter().map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{}{l}", capture.indent)
                }
            }));
            next = *to;
        }
        out.extend(lines[next..].iter().map(|l| l.to_string()));
        let mut text = out.join("\n");
        text.push('\n');
        fs::write(&path, text).expect("NOTES.md");
        eprintln!("rewrote {} captured block(s) of NOTES.md", rewrites.len());
    }
    eprintln!(
        "{} captures checked in {:.1?}",
        found.len(),
        started.elapsed()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_normaliser_keeps_what_is_stable() {
    let trace = "[2026-12-02T09:07:45.319923Z TRACE runtime::stage1::event_loop] tick 2: poll, \
                 2 registered, timeout 9.99928944s";
    assert_eq!(
        normalise(trace),
        "[<time> TRACE runtime::stage1::event_loop] tick 2: poll, 2 registered, timeout <t>"
    );
    assert_eq!(
        normalise("  /1  |    -...#       |   201 ms  200 OK, 238 B"),
        " /1 |-.#| <t> 200 OK, 238 B"
    );
    assert_eq!(
        normalise("  /1  |-.............................................# |   201 ms  200 OK"),
        normalise("  /1  |         --....#                               |  1999 ms  200 OK")
    );
    assert_ne!(
        normalise("  /1  |-.....# |   201 ms  200 OK"),
        normalise("  /1  |-.....x |   201 ms  200 OK")
    );
    assert_eq!(
        normalise(
            "10 ok, 0 HTTP errors, 0 failed in 202 ms; peak 10 in flight; one after another: 2017 ms (9.9x)"
        ),
        "10 ok, 0 HTTP errors, 0 failed in <t>; peak 10 in flight; one after another: <t> (<n>x)"
    );
    assert_eq!(
        normalise("token 0 is http://127.0.0.1:40229/1: connecting to 127.0.0.1:40229"),
        "token 0 is http://127.0.0.1:<port>/1: connecting to 127.0.0.1:<port>"
    );
    assert_eq!(
        normalise("park: 1 tasks, timeout Some(0ns), 12µs, stage0 s"),
        "park: 1 tasks, timeout Some(<t>), <t>, stage0 s"
    );
    assert_eq!(
        normalise("connection refused (os error 111)"),
        normalise("connection refused (os error 61)")
    );
    // Counts, sizes and ids are compared as they are.
    assert_ne!(normalise("read 562 bytes"), normalise("read 561 bytes"));
    assert_ne!(
        normalise("peak 10 in flight"),
        normalise("peak 9 in flight")
    );
}

#[test]
fn elisions_match_any_number_of_lines() {
    let run: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    let shown = |lines: &[&str]| pattern(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>());
    assert!(compare(&shown(&["a", "b", "c", "d"]), &run).is_ok());
    assert!(compare(&shown(&["a", "…", "d"]), &run).is_ok());
    assert!(compare(&shown(&["…", "b", "… the rest"]), &run).is_ok());
    assert!(compare(&shown(&["a", "…", "b", "c", "…", "d"]), &run).is_ok());
    assert_eq!(compare(&shown(&["a", "c", "…"]), &run), Err(1));
    assert_eq!(compare(&shown(&["…", "c", "b", "…"]), &run), Err(2));
    assert!(compare(&shown(&["a", "b", "c"]), &run).is_err());
}

#[test]
fn blessing_keeps_elisions_that_still_hold() {
    let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let bless = |shown: &[&str], fresh: &[&str]| reblessed(&lines(shown), &lines(fresh));
    // The lines are the run's; the elisions stay where they still cover what they covered.
    assert_eq!(
        bless(
            &["a 3 ms", "… b and c", "d", "e"],
            &["a 1 ms", "b", "c", "d2", "e"]
        ),
        (lines(&["a 1 ms", "… b and c", "d2", "e"]), false)
    );
    let fresh = ["a", "b", "c", "d2", "e"];
    assert_eq!(
        bless(&["a", "…", "c", "dX", "…"], &fresh),
        (lines(&["a", "…", "c", "d2", "…"]), false)
    );
    assert_eq!(
        bless(&["a", "b", "c", "d"], &fresh),
        (lines(&["a", "b", "c", "d2", "e"]), false)
    );
    // Ambiguous: written out in full, and flagged.
    assert_eq!(
        bless(&["a", "…", "bX", "…", "e"], &fresh),
        (lines(&fresh), true)
    );
    assert_eq!(
        bless(&["a", "x", "…", "y", "z", "e"], &["a", "b", "e"]),
        (lines(&["a", "b", "e"]), true)
    );
    // Whatever it writes matches the run it was written from.
    for shown in [&["…"][..], &["a", "…"], &["…", "q", "…"], &["q", "…", "e"]] {
        let (out, _) = bless(shown, &fresh);
        let run = normalised(&lines(&fresh));
        assert!(
            compare(&pattern(&out), &run).is_ok(),
            "{shown:?} -> {out:?}"
        );
    }
}

#[test]
fn commands_are_read_like_a_shell_reads_them() {
    assert_eq!(
        invocation("RUST_LOG=trace cargo run -q --example stage1 -- --count 2 'http://a/?x=1'"),
        Ok(Invocation {
            env: vec![("RUST_LOG".into(), "trace".into())],
            example: "stage1".into(),
            args: vec!["--count".into(), "2".into(), "http://a/?x=1".into()],
        })
    );
    assert!(invocation("cargo run -q --example stage1 2>&1 | head").is_err());
    assert!(invocation("cargo run --example site -- --port 8000 &").is_err());
    assert!(invocation("cargo test").is_err());
    let notes = "x\n<!-- capture: cargo run -q --example stage0 -- --count 2 \\\n";
    assert!(captures(notes).is_err());
    let notes = "<!-- capture: cargo run -q --example s -- --a 1 -->\n  ```text\n  $ cargo \
                 run -q --example s \\\n      -- --a 1\n  out\n  ```\n";
    let found = captures(notes).unwrap();
    assert_eq!(found[0].dollar, "cargo run -q --example s -- --a 1");
    assert_eq!(found[0].shown, ["out"]);
    assert_eq!(found[0].indent, "  ");
}
