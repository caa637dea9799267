//! System calls per fetch, counted by `strace -f -c` around one more child of each row (a
//! traced run is several times slower, so it is never one of the timed runs).
//!
//! What is counted is the child's whole life, so the same child is traced again with one URL
//! and that is taken away: what is left is what N − 1 more fetches cost. Without `strace` on
//! the PATH (or where `ptrace` is not allowed) the column says so, and the bench goes on.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

/// The calls the table shows one by one; the rest are summed as "other".
pub const SHOWN: [&str; 7] = [
    "socket",
    "connect",
    "epoll_ctl",
    "epoll_wait",
    "sendto",
    "recvfrom",
    "close",
];

/// What strace said about one row: calls per fetch, by name.
#[derive(Clone, Debug)]
pub enum Syscalls {
    PerFetch(BTreeMap<String, f64>),
    NotMeasured(String),
}

impl Syscalls {
    /// All calls per fetch, or why there is no number.
    pub fn total(&self) -> Result<f64, &str> {
        match self {
            Syscalls::PerFetch(calls) => Ok(calls.values().sum()),
            Syscalls::NotMeasured(why) => Err(why),
        }
    }

    /// The calls per fetch of `name` (`other`: of every call not in [`SHOWN`]).
    pub fn of(&self, name: &str) -> Option<f64> {
        let Syscalls::PerFetch(calls) = self else {
            return None;
        };
        if name == "other" {
            let other = calls.iter().filter(|(n, _)| !SHOWN.contains(&n.as_str()));
            return Some(other.map(|(_, c)| c).sum());
        }
        Some(calls.get(name).copied().unwrap_or(0.0))
    }
}

/// Whether `strace` can be run here at all.
pub fn strace_works() -> Result<(), String> {
    match Command::new("strace").arg("-V").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(_) => Err("strace -V failed".into()),
        Err(_) => Err("strace is not on PATH".into()),
    }
}

/// Counts the system calls of `stage`'s crawl of `n` URLs, per fetch.
pub fn per_fetch(stage: &str, n: usize, delay: u64, port: u16) -> Syscalls {
    if let Err(why) = strace_works() {
        return Syscalls::NotMeasured(why);
    }
    let traced = |n: usize| traced_child(stage, n, delay, port);
    let (all, one) = match (traced(n), traced(1)) {
        (Ok(all), Ok(one)) => (all, one),
        (Err(why), _) | (_, Err(why)) => return Syscalls::NotMeasured(why),
    };
    // With one URL only, nothing is taken away: the child's own calls are in the number.
    let (fetches, base) = if n > 1 {
        ((n - 1) as f64, one)
    } else {
        (1.0, BTreeMap::new())
    };
    let per = all
        .iter()
        .map(|(name, &calls)| {
            let extra = calls.saturating_sub(base.get(name).copied().unwrap_or(0));
            (name.clone(), extra as f64 / fetches)
        })
        .filter(|(_, per)| *per > 0.0)
        .collect();
    Syscalls::PerFetch(per)
}

/// Runs one child under `strace -f -c` and reads the calls of its summary, by name.
fn traced_child(
    stage: &str,
    n: usize,
    delay: u64,
    port: u16,
) -> Result<BTreeMap<String, u64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let summary = std::env::temp_dir().join(format!(
        "looplab-bench-strace-{}-{stage}-{n}",
        std::process::id()
    ));
    let status = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&summary)
        .arg(exe)
        .args([
            "--child",
            stage,
            &n.to_string(),
            &delay.to_string(),
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run strace: {e}"))?;
    let text = std::fs::read_to_string(&summary).unwrap_or_default();
    let _ = std::fs::remove_file(&summary);
    if !status.success() {
        return Err(format!("strace failed ({status})"));
    }
    let calls = parse_summary(&text);
    if calls.is_empty() {
        return Err("strace gave no summary".into());
    }
    Ok(calls)
}

/// The `calls` column of `strace -c`'s table, by syscall name:
/// `% time  seconds  usecs/call  calls  [errors]  syscall`, then a `total` line.
fn parse_summary(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (name, calls) = (fields.last()?, fields.get(3)?);
            fields.first()?.parse::<f64>().ok()?;
            if *name == "total" {
                return None;
            }
            Some((name.to_string(), calls.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_calls_column_with_and_without_errors() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
             25.93    0.012492          12      1000      1000 connect\n\
             17.32    0.008342           4      2000           epoll_ctl\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.048000                  3000      1000 total\n";
        let calls = parse_summary(text);
        assert_eq!(calls.get("connect"), Some(&1000));
        assert_eq!(calls.get("epoll_ctl"), Some(&2000));
        assert_eq!(calls.len(), 2);
    }
}
