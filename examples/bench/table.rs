//! The table: a row per contender and workload, summarised over its runs, and the whole
//! table as Markdown.

use std::time::Duration;

use crate::measure::Run;

/// One table row: a contender on one workload, summarised over its runs.
pub struct Row {
    name: String,
    n: usize,
    delay: u64,
    runs: Vec<Run>,
}

impl Row {
    pub fn new(name: &str, n: usize, delay: u64, mut runs: Vec<Run>) -> Option<Row> {
        if runs.is_empty() {
            return None;
        }
        runs.sort_by_key(|r| r.wall);
        Some(Row {
            name: name.to_string(),
            n,
            delay,
            runs,
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
        format!(
            "| {} | {} ms | {} | {} ({}–{}) | {:.1} | {:.2} | {} | {ratio} |",
            self.n,
            self.delay,
            self.name,
            Row::ms(m.wall),
            Row::ms(self.runs[0].wall),
            Row::ms(self.runs[self.runs.len() - 1].wall),
            m.peak_rss_kib as f64 / 1024.0,
            self.kib_per_fetch(),
            m.in_flight,
        )
    }
}

pub fn markdown(rows: &[Row], runtime_rows: &[String]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Measured on {} ({} cores), {} runs per cell, {} build.\n\n",
        std::env::consts::OS,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        rows.first().map_or(0, |r| r.runs.len()),
        // A debug build measures the compiler's checks as much as the runtime.
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    ));
    out.push_str("| N | delay | stage | wall ms, median (min–max) | peak RSS MiB | KiB per fetch in flight | peak in flight | vs tokio |\n");
    out.push_str("|---:|---:|---|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let tokio = rows
            .iter()
            .find(|r| r.name == "tokio" && r.n == row.n && r.delay == row.delay);
        out.push_str(&row.line(tokio));
        out.push('\n');
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
