//! The local site every stage crawls by default: HTTP/1.0, small HTML pages `/`, `/1`, `/2`, …
//! linked together (`pages.rs`), each answered after a delay (200 ms, or the request's own
//! `?delay_ms=N`, so a demo can make answers arrive out of order), like a slow server far away.
//! It counts open connections and keeps the peak, so tests prove concurrency by counting, not
//! timing (a blocking crawler makes the peak 1, ten concurrent fetches 10). It must never be the
//! bottleneck: ONE thread holds thousands of slow connections, a `mio` loop with timers
//! (`server.rs`). Its log target, `site`, stays out of `RUST_LOG=trace` (see
//! [`init_logging`](crate::cli::init_logging)); its warnings still show.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use log::{error, info, warn};
use mio::Waker;

mod pages;
mod server;

pub use pages::paths;
use server::Server;

pub const DEFAULT_DELAY: Duration = Duration::from_millis(200);

/// The longest delay the site accepts, from its configuration or from `?delay_ms=`; also the
/// longest [`SiteConfig::head_timeout`] and [`SiteConfig::send_timeout`].
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// The port to listen on; 0 picks any free port.
    pub port: u16,
    /// The delay before each response (capped at [`MAX_DELAY`]).
    pub delay: Duration,
    /// How many pages the link graph covers: `/` and `/1` … `/{pages-1}`.
    pub pages: usize,
    /// How long a client may take, from its accept, to send its whole request head. One still
    /// sending then (idle, or trickling a header line at a time) gets `408 Request Timeout`.
    pub head_timeout: Duration,
    /// How long a client may take, from the moment its answer is due, to take all of it. One
    /// that stops reading is closed then, and its answer freed.
    pub send_timeout: Duration,
}

impl Default for SiteConfig {
    fn default() -> SiteConfig {
        SiteConfig {
            port: 0,
            delay: DEFAULT_DELAY,
            pages: 10,
            head_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// A running site. Dropping it stops it, like [`Site::stop`].
pub struct Site {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Interrupts the loop's `poll` to stop it.
    waker: Waker,
    /// `None` once stopped.
    thread: Option<JoinHandle<()>>,
}

/// What the site's thread and the [`Site`] handle share: the configuration and the counters.
#[derive(Default)]
struct Shared {
    config: SiteConfig,
    requests: AtomicUsize,
    open: AtomicUsize,
    peak: AtomicUsize,
}

impl Site {
    /// Starts the site on 127.0.0.1 in a background thread; returns once it is listening.
    pub fn start(config: SiteConfig) -> io::Result<Site> {
        Site::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), config)
    }

    /// Like [`Site::start`], on the address `ip`: `0.0.0.0` lets a whole room share one site.
    pub fn start_on(ip: IpAddr, mut config: SiteConfig) -> io::Result<Site> {
        config.delay = config.delay.min(MAX_DELAY);
        config.head_timeout = config.head_timeout.min(MAX_DELAY);
        config.send_timeout = config.send_timeout.min(MAX_DELAY);
        let (server, waker) = Server::new(SocketAddr::new(ip, config.port), config)?;
        let shared = Arc::clone(&server.shared);
        let addr = SocketAddr::new(ip, shared.config.port);
        let thread = thread::Builder::new()
            .name("looplab-site".into())
            .spawn(move || {
                if let Err(e) = server.run() {
                    error!(target: "site", "the site stopped: {e}");
                }
            })?;
        info!(target: "site", "listening on http://{addr}/ (delay {:?}, {} pages)",
            shared.config.delay, shared.config.pages);
        Ok(Site {
            addr,
            shared,
            waker,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration the site runs with (`port` is the real port, even if 0 was asked).
    pub fn config(&self) -> &SiteConfig {
        &self.shared.config
    }

    /// The full URL of `path` on this site: `"http://127.0.0.1:PORT"` + `path`.
    pub fn url(&self, path: &str) -> String {
        // A site listening on every interface (0.0.0.0) is reached locally through 127.0.0.1.
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        format!("http://{addr}{path}")
    }

    /// The first `count` page URLs: `/`, `/1`, …, `/{count-1}`, as full URLs.
    pub fn urls(&self, count: usize) -> Vec<String> {
        paths(count).iter().map(|path| self.url(path)).collect()
    }

    /// How many requests the site has received so far (each gets an answer after its delay).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    pub fn peak_connections(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Sets the request count back to 0 and the peak to the number open right now.
    pub fn reset_counters(&self) {
        self.shared.requests.store(0, Ordering::SeqCst);
        let open = self.open_connections();
        self.shared.peak.store(open, Ordering::SeqCst);
    }

    /// Stops the site, as dropping it does: closes every connection and joins the thread.
    pub fn stop(self) {}
}

impl Drop for Site {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        if let Err(e) = self.waker.wake() {
            warn!(target: "site", "could not wake the site's loop to stop it: {e}");
        }
        if thread.join().is_err() {
            error!(target: "site", "the site's thread panicked");
        }
    }
}

#[cfg(test)]
mod tests;
