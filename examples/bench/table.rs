//! The table: a row per contender and workload, summarised over its runs, and the whole
//! table as Markdown.

use std::time::Duration;

use crate::measure::Run;
use crate::syscalls::{SHOWN, Syscalls};

/// One table row: a contender on one workload, summarised over its runs.
pub struct Row {
    name: String,
    n: usize,
    delay: u64,
    runs: Vec<Run>,
    /// The bytes one fetch keeps from one wait to the next, where the stage can say.
    fetch_size: Option<usize>,
    syscalls: Syscalls,
}

impl Row {
    pub fn new(
        name: &str,
        n: usize,
        delay: u64,
        mut runs: Vec<Run>,
        fetch_size: Option<usize>,
        syscalls: Syscalls,
    ) -> Option<Row> {
        if runs.is_empty() {
            return None;
        }
        runs.sort_by_key(|r| r.wall);
        Some(Row {
            name: name.to_string(),
            n,
            delay,
            runs,
            fetch_size,
            syscalls,
        })
    }
    fn median(&self) -> Run {
        self.runs[self.runs.len() / 2]
    }
    pub fn ms(d: Duration) -> String {
        format!("{:.1}", d.as_secs_f64() * 1e3)
    }
    /// Memory per fetch in flight: RSS above the child's baseline, divided by N.
    fn kib_per_fetch(&self) -> f64 {
        let m = self.median();
        m.peak_rss_kib.saturating_sub(m.baseline_kib) as f64 / m.in_flight.max(1) as f64
    }
    /// CPU time of the run with the median CPU time: `total (user + system)`, in ms.
    fn cpu(&self) -> String {
        let mut cpu: Vec<[Duration; 2]> = self.runs.iter().map(|r| r.cpu).collect();
        cpu.sort_by_key(|[user, system]| *user + *system);
        let [user, system] = cpu[cpu.len() / 2];
        let ms = |d: Duration| d.as_millis();
        format!("{} ({} + {})", ms(user + system), ms(user), ms(system))
    }

    pub fn line(&self, tokio: Option<&Row>) -> String {
        let m = self.median();
        let ratio = tokio
            .map(|t| {
                format!(
                    "{:.2}x",
                    m.wall.as_secs_f64() / t.median().wall.as_secs_f64()
                )
            })
            .unwrap_or_else(|| "-".into());
        let size = self.fetch_size.map_or("-".into(), |b| b.to_string());
        let syscalls = match self.syscalls.total() {
            Ok(calls) => format!("{calls:.1}"),
            Err(_) => "-".into(),
        };
        format!(
            "| {} | {} ms | {} | {} ({}–{}) | {} | {:.1} | {:.2} | {} | {size} | {syscalls} | {ratio} |",
            self.n,
            self.delay,
            self.name,
            Row::ms(m.wall),
            Row::ms(self.runs[0].wall),
            Row::ms(self.runs[self.runs.len() - 1].wall),
            self.cpu(),
            m.peak_rss_kib as f64 / 1024.0,
            self.kib_per_fetch(),
            m.in_flight,
        )
    }

    /// The row of the syscalls table: calls per fetch, one column per call in [`SHOWN`].
    fn syscalls_line(&self) -> Option<String> {
        let total = self.syscalls.total().ok()?;
        let mut line = format!("| {} | {} ms | {} |", self.n, self.delay, self.name);
        for name in SHOWN.iter().chain(&["other"]) {
            line.push_str(&format!(" {:.2} |", self.syscalls.of(name)?));
        }
        line.push_str(&format!(" {total:.2} |"));
        Some(line)
    }
}

pub fn markdown(rows: &[Row], runtime_rows: &[String], load: &[String; 2]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Measured on {}; {} build; runs per cell: {}; load average {} before, {} after.\n\n",
        machine(),
        // A debug build measures the compiler's checks as much as the runtime.
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        rows.first().map_or(0, |r| r.runs.len()),
        load[0],
        load[1],
    ));
    out.push_str("| N | delay | stage | wall ms, median (min–max) | CPU ms (user + system) | peak RSS MiB | KiB per fetch in flight | peak in flight | bytes a fetch keeps | syscalls per fetch | vs tokio |\n");
    out.push_str("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let tokio = rows
            .iter()
            .find(|r| r.name == "tokio" && r.n == row.n && r.delay == row.delay);
        out.push_str(&row.line(tokio));
        out.push('\n');
    }
    let counted: Vec<String> = rows.iter().filter_map(Row::syscalls_line).collect();
    match rows.iter().find_map(|r| r.syscalls.total().err()) {
        Some(why) if counted.is_empty() => {
            out.push_str(&format!("\nSyscalls per fetch not measured: {why}.\n"));
        }
        _ => {
            out.push_str("\nSystem calls per fetch (`strace -f -c`, a run of N less a run of 1, over N − 1):\n\n| N | delay | stage |");
            for name in SHOWN.iter().chain(&["other", "all"]) {
                out.push_str(&format!(" {name} |"));
            }
            out.push_str("\n|---:|---:|---|");
            out.push_str(&"---:|".repeat(SHOWN.len() + 2));
            out.push('\n');
            for line in counted {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    if !runtime_rows.is_empty() {
        out.push_str("\n| runtime alone | polls per second, median (min–max) |\n|---|---:|\n");
        for row in runtime_rows {
            out.push_str(row);
            out.push('\n');
        }
    }
    out
}

/// The machine, from /proc where there is one: CPU, cores, memory, kernel, compiler.
pub fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = field(&cpuinfo, "model name").unwrap_or_else(|| std::env::consts::ARCH.into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = field(&read("/proc/meminfo"), "MemTotal")
        .and_then(|kib| kib.trim_end_matches(" kB").parse::<f64>().ok())
        .map_or(String::new(), |kib| {
            format!(", {:.1} GiB", kib / 1024.0 / 1024.0)
        });
    let kernel = read("/proc/sys/kernel/osrelease");
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .map(|o| format!("; {}", String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores{memory}, {} {}{rustc}",
        std::env::consts::OS,
        kernel.trim()
    )
}

/// The 1-, 5- and 15-minute load averages: how busy the machine was around the run.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    if fields.is_empty() {
        "unknown".into()
    } else {
        fields.join(" ")
    }
}
