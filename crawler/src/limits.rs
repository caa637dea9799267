//! The process's real limits, read where Linux states them (`/proc`): a crawl says up front
//! what will not fit, instead of failing halfway (or, for threads, aborting). Without `/proc`
//! every answer is `None` and nothing is checked. And the limits stage 5 sets itself, so a
//! site without end cannot keep a crawl going ([`LeftOut`]).

use std::fs;

/// Descriptors kept back, beyond those open now, for what a program opens besides its
/// sockets: a poller and its waker, a log file, a DNS lookup, a pipe to a child…
pub const SPARE_FILES: u64 = 32;

/// The soft limit on open file descriptors (`ulimit -n`), if known.
pub fn open_files() -> Option<u64> {
    limit("Max open files", 0)
}

/// Whether `need` more descriptors fit: the soft limit, less those open now and
/// [`SPARE_FILES`]. `Err` says how many do fit and how to raise the limit.
pub fn files_fit(need: u64) -> Result<(), Shortfall> {
    let (Some(soft), Ok(open)) = (open_files(), fs::read_dir("/proc/self/fd")) else {
        return Ok(());
    };
    let left = soft.saturating_sub(open.count() as u64 + SPARE_FILES);
    shortfall(need, left, soft, limit("Max open files", 1)).map_or(Ok(()), Err)
}

/// Too few descriptors: how many fit, and what the soft limit would have to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// How many more this process may open (soft limit − open now − spare).
    pub left: u64,
    /// `ulimit -n` now.
    pub soft: u64,
    /// A soft limit that would fit, rounded up to a round number.
    pub wanted: u64,
    pub hard: Option<u64>,
}

fn shortfall(need: u64, left: u64, soft: u64, hard: Option<u64>) -> Option<Shortfall> {
    if need <= left {
        return None;
    }
    // What is open now stays open: the new limit adds the shortfall to the old one, rounded
    // up to a number a person would type.
    let wanted = soft + (need - left);
    let round = if wanted < 10_000 { 100 } else { 1000 };
    let wanted = wanted.div_ceil(round) * round;
    Some(Shortfall {
        left,
        soft,
        wanted,
        hard,
    })
}

impl Shortfall {
    /// `this process may open 20000 (ulimit -n), room for 19968 more`.
    pub fn limit(&self) -> String {
        format!(
            "this process may open {} (ulimit -n), room for {} more",
            self.soft, self.left
        )
    }

    /// How to raise it: `ulimit -n 41000` in the shell first, and whether the hard limit allows.
    pub fn raise(&self) -> String {
        let wanted = self.wanted;
        match self.hard {
            Some(hard) if hard < wanted => format!(
                "`ulimit -n {wanted}` in the shell first — above this machine's hard limit \
                 ({hard}), which only root can raise (/etc/security/limits.conf)"
            ),
            _ => format!("`ulimit -n {wanted}` in the shell first"),
        }
    }
}

/// About how many more threads this process can start before the OS refuses or, worse, a new
/// thread cannot map its stack and guard pages and the process *aborts* (Rust's runtime cannot
/// report that as an error). `vm.max_map_count` caps a process's mappings, about four a thread
/// (stack, guard page, signal stack and its guard); `kernel.threads-max` and `ulimit -u` cap
/// threads; `ulimit -v` caps address space, `THREAD_RESERVE` a thread. A quarter is kept
/// back for everything else the process maps.
pub fn thread_budget() -> Option<u64> {
    let maps = read_number("/proc/sys/vm/max_map_count")?;
    let in_use = fs::read_to_string("/proc/self/maps").ok()?.lines().count() as u64;
    let by_maps = maps.saturating_sub(in_use) * 3 / 4 / 4;
    let by_threads = read_number("/proc/sys/kernel/threads-max").map_or(u64::MAX, |n| n / 2);
    let by_processes = limit("Max processes", 0).map_or(u64::MAX, |n| n / 2);
    let by_address_space = limit("Max address space", 0).map_or(u64::MAX, |bytes| {
        let used = number_after("/proc/self/status", "VmSize:", 0).unwrap_or(0) * 1024;
        bytes.saturating_sub(used) * 3 / 4 / THREAD_RESERVE
    });
    let budgets = [by_maps, by_threads, by_processes, by_address_space];
    budgets.into_iter().min()
}

/// The address space a thread reserves: std's 2 MiB stack, a signal stack and its guard.
const THREAD_RESERVE: u64 = (2 << 20) + (128 << 10);

/// The longest link stage 5 follows, in bytes. A page can link to longer and longer URLs
/// without end (`/a/`, `/a/a/`, …); a browser gives up around here too.
pub const MAX_URL_BYTES: usize = 2000;

/// What stage 5's limits kept out of a crawl, each link counted once: the new links found
/// once the crawl held `--max-pages` URLs, and links longer than [`MAX_URL_BYTES`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    pub max_pages: usize,
    pub over_max_pages: usize,
    pub too_long: usize,
}

impl LeftOut {
    /// Whether a link seen for the first time may join a crawl that holds `known` URLs; if
    /// not, it is counted.
    pub fn admit(&mut self, link: &str, known: usize) -> bool {
        if link.len() > MAX_URL_BYTES {
            self.too_long += 1;
        } else if known >= self.max_pages {
            self.over_max_pages += 1;
        } else {
            return true;
        }
        false
    }
}

/// A limit from `/proc/self/limits`: column 0 soft, 1 hard; `None` if "unlimited" or unknown.
fn limit(name: &str, column: usize) -> Option<u64> {
    number_after("/proc/self/limits", name, column)
}

/// The `nth` word after `name` on the line of file `path` that starts with it, as a number.
fn number_after(path: &str, name: &str, nth: usize) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().nth(nth)?.parse().ok()
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
        assert!(limit("Max open files", 1).is_none_or(|hard| hard >= files));
        assert_eq!(files_fit(0), Ok(()));
        let too_many = files_fit(files * 3).unwrap_err();
        assert_eq!(too_many.soft, files);
        assert!(too_many.wanted > files * 2, "{too_many:?}");
        let threads = thread_budget().unwrap();
        assert!(threads > 100, "{threads}");
    }

    #[test]
    fn a_shortfall_says_what_would_fit() {
        assert_eq!(shortfall(100, 100, 1024, None), None);
        let short = shortfall(2000, 1000, 1024, Some(4096)).unwrap();
        assert_eq!((short.left, short.wanted), (1000, 2100));
        assert_eq!(
            short.limit(),
            "this process may open 1024 (ulimit -n), room for 1000 more"
        );
        assert_eq!(short.raise(), "`ulimit -n 2100` in the shell first");
        let short = shortfall(40_000, 19_968, 20_000, Some(20_000)).unwrap();
        assert_eq!(short.wanted, 41_000);
        assert!(
            short
                .raise()
                .contains("above this machine's hard limit (20000)")
        );
    }
}
