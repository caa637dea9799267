//! The process's real limits, read where Linux states them (`/proc`), so that a crawl can say
//! up front what will not fit instead of failing halfway — or, for threads, aborting.
//!
//! Elsewhere (no `/proc`) every answer is `None`: nothing is checked, as before.

use std::fs;

/// The soft limit on open file descriptors (`ulimit -n`), if known.
pub fn open_files() -> Option<u64> {
    limit("Max open files")
}

/// How many file descriptors this process has open now, if known.
pub fn open_now() -> Option<u64> {
    Some(fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// About how many more threads this process can start before the OS refuses — or, worse,
/// before a new thread cannot map its stack and guard pages and the process *aborts* (Rust's
/// runtime cannot report that as an error). Each thread takes about four memory mappings
/// (stack, guard page, signal stack and its guard), and `vm.max_map_count` caps the mappings
/// of a process; `kernel.threads-max` and `ulimit -u` cap the threads. A quarter is kept back
/// for everything else the process maps.
pub fn thread_budget() -> Option<u64> {
    let maps = read_number("/proc/sys/vm/max_map_count")?;
    let in_use = fs::read_to_string("/proc/self/maps").ok()?.lines().count() as u64;
    let by_maps = maps.saturating_sub(in_use) * 3 / 4 / 4;
    let by_threads = read_number("/proc/sys/kernel/threads-max").map_or(u64::MAX, |n| n / 2);
    let by_processes = limit("Max processes").map_or(u64::MAX, |n| n / 2);
    Some(by_maps.min(by_threads).min(by_processes))
}

/// A soft limit from `/proc/self/limits` (`None` for "unlimited" or when unknown).
fn limit(name: &str) -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_read_where_linux_states_them() {
        if !std::path::Path::new("/proc/self/limits").exists() {
            return; // not Linux: nothing to read
        }
        let files = open_files().expect("Max open files");
        assert!(files > 0);
        assert!(open_now().unwrap() < files);
        let threads = thread_budget().unwrap();
        assert!(threads > 100, "{threads}");
    }
}
