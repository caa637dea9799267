//! `--view`: a crawl's run, recorded from its own trace and stepped tick by tick in one
//! offline page.
//!
//! The stages already name every step of their loops in their `log` lines (`RUST_LOG=trace`).
//! [`Recorder`] is a `log` logger that keeps those lines while a crawl runs, and hands every
//! record on to the usual `env_logger` as well, so `RUST_LOG` works as it always does. After
//! the report, [`write()`] reads the lines back with one table of patterns ([`patterns`]),
//! rebuilds the loop's state line by line ([`model`]) and writes `target/loop/NAME.html`:
//! one file, its script and style inside, nothing fetched from the network.
//!
//! A big crawl logs many lines: the recorder keeps the first [`CAP`] (or `LOOPLAB_VIEW_CAP`)
//! and only counts the rest, so the crawl stays fast and the page small, and the page says
//! what was left out. (Measured at 10,000 URLs on stage 4, release: the whole run is 127,000
//! lines; kept whole, the page is 16 MB and takes seconds of CPU to write.)

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use log::{LevelFilter, Log, Metadata, Record};

pub mod model;
mod page;
pub mod patterns;

/// How many trace lines a recording keeps; the rest are counted, not kept.
pub const CAP: usize = 20_000;

/// One kept trace line.
#[derive(Clone, Debug)]
pub struct Line {
    /// Microseconds since the recorder was installed.
    pub micros: u64,
    pub level: log::Level,
    /// The `log` target, e.g. `runtime::stage4::event_loop`.
    pub target: String,
    pub message: String,
}

/// What a recorder kept.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub lines: Vec<Line>,
    /// Lines after the first [`CAP`], counted and dropped.
    pub left_out: u64,
}

/// A `log` logger that keeps the runtime's and the crawler's lines, and forwards every record
/// to the logger it wraps (`env_logger`, as `RUST_LOG` sets it).
pub struct Recorder {
    forward: Box<dyn Log>,
    start: Instant,
    cap: usize,
    kept: Mutex<Recording>,
    /// Set once `cap` lines are kept: from then on a line costs a count, no lock.
    full: AtomicBool,
    left_out: AtomicU64,
}

impl Recorder {
    /// Installs a recorder as the process's logger, in front of `forward`, keeping [`CAP`]
    /// lines or `$LOOPLAB_VIEW_CAP`. Every level is then produced (the recorder needs the
    /// trace); `forward` still filters what it prints.
    pub fn install(forward: Box<dyn Log>) -> Result<&'static Recorder, log::SetLoggerError> {
        let cap = std::env::var("LOOPLAB_VIEW_CAP")
            .ok()
            .and_then(|v| v.parse().ok());
        Recorder::install_with_cap(forward, cap.unwrap_or(CAP))
    }

    /// [`Recorder::install`] keeping at most `cap` lines.
    pub fn install_with_cap(
        forward: Box<dyn Log>,
        cap: usize,
    ) -> Result<&'static Recorder, log::SetLoggerError> {
        // One logger per process, for the rest of it: `log` wants a `'static` one.
        let recorder: &'static Recorder = Box::leak(Box::new(Recorder {
            forward,
            start: Instant::now(),
            cap,
            kept: Mutex::new(Recording::default()),
            full: AtomicBool::new(false),
            left_out: AtomicU64::new(0),
        }));
        log::set_logger(recorder)?;
        log::set_max_level(LevelFilter::Trace);
        Ok(recorder)
    }

    /// What was kept since the last call (and how much was left out), emptied.
    pub fn take(&self) -> Recording {
        let mut kept = std::mem::take(&mut *self.lock());
        kept.left_out += self.left_out.swap(0, Ordering::Relaxed);
        self.full.store(false, Ordering::Relaxed);
        kept
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recording> {
        // A panic elsewhere while holding the lock leaves the lines as they were: keep them.
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The lines the page is made of: the runtime's and the crawler's (not the built-in site's,
/// whose target is `site`, nor mio's).
fn is_kept(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    target.starts_with("runtime::") || target.starts_with("crawler::")
}

impl Log for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_kept(metadata) || self.forward.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if is_kept(record.metadata()) && self.full.load(Ordering::Relaxed) {
            self.left_out.fetch_add(1, Ordering::Relaxed);
        } else if is_kept(record.metadata()) {
            let micros = self.start.elapsed().as_micros() as u64;
            let mut kept = self.lock();
            if kept.lines.len() < self.cap {
                // Formatted only while kept: past the cap a line costs a count.
                let mut message = String::new();
                let _ = write!(message, "{}", record.args());
                kept.lines.push(Line {
                    micros,
                    level: record.level(),
                    target: record.target().to_string(),
                    message,
                });
            } else {
                kept.left_out += 1;
                self.full.store(true, Ordering::Relaxed);
            }
        }
        if self.forward.enabled(record.metadata()) {
            self.forward.log(record);
        }
    }

    fn flush(&self) {
        self.forward.flush();
    }
}

/// One URL's result, as the report has it: the page shows it at the end of the run, and for
/// stage 0 (which has no loop to step) its timeline.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub url: String,
    /// `200 OK`, or the error.
    pub result: String,
    pub ok: bool,
    /// Started, connected, first byte, ended.
    pub times: [Option<Instant>; 4],
}

/// Writes the page of program `name` (e.g. `stage4`) into [`out_dir`] as `NAME.html`;
/// returns its path. `title` heads the page; `started` is when the crawl started.
pub fn write(
    name: &str,
    title: &str,
    recording: &Recording,
    outcomes: &[Outcome],
    started: Instant,
) -> io::Result<PathBuf> {
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.html"));
    std::fs::write(&path, page::html(name, title, recording, outcomes, started))?;
    path.canonicalize()
}

/// The page's HTML without writing it (for tests).
pub use page::html;

/// Where the pages go: `target/loop/`, in the target directory the program was built in.
pub fn out_dir() -> PathBuf {
    target_dir().join("loop")
}

/// The target directory: the one this program runs from (an example runs from
/// `TARGET/PROFILE/examples/`, wherever `CARGO_TARGET_DIR` put it), else `$CARGO_TARGET_DIR`,
/// else `./target`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let from_exe = exe.as_deref().and_then(|exe| {
        let examples = exe.parent()?;
        let profile = examples.parent()?;
        (examples.file_name()? == "examples").then(|| profile.parent().map(Path::to_path_buf))?
    });
    from_exe
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// `path` as a `file://` address a browser opens (spaces and the like escaped).
pub fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(byte as char)
            }
            _ => {
                let _ = write!(url, "%{byte:02X}");
            }
        }
    }
    url
}
