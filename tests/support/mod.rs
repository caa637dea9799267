//! Test support shared by the end-to-end tests: a server that misbehaves on purpose, and a
//! probe that finds client sockets a crawl left open.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// Parses `args` with `command` as a program would, clap's message as the error.
pub fn parse<T: clap::CommandFactory + clap::FromArgMatches>(
    command: crawler::cli::Command<T>,
    args: &[&str],
) -> Result<T, String> {
    command
        .parse(args.iter().map(|a| a.to_string()))
        .map_err(|e| e.to_string())
}

/// NOTES.md's run sheet: from its heading to the next chapter.
pub fn run_sheet_of(notes: &str) -> &str {
    let start = notes
        .find("## Run sheet")
        .expect("NOTES.md has a run sheet");
    let end = notes[start + 3..]
        .find("\n## ")
        .map_or(notes.len(), |at| start + 3 + at);
    &notes[start..end]
}

/// Runs a server on a thread of its own. `serve` is given a way to announce the address it
/// listens on; once it has, this returns that address, and the server's result arrives on the
/// channel when it ends.
pub fn server_thread<T: Send + 'static>(
    serve: impl FnOnce(Box<dyn FnOnce(SocketAddr) + Send>) -> T + Send + 'static,
) -> (SocketAddr, std::sync::mpsc::Receiver<T>) {
    let (ready, addr) = std::sync::mpsc::channel();
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let announce = Box::new(move |addr| {
            let _ = ready.send(addr);
        });
        let _ = done.send(serve(announce));
    });
    let addr = addr
        .recv_timeout(Duration::from_secs(30))
        .expect("the server started");
    (addr, finished)
}

/// The built-in site with `delay_ms` per response.
pub fn site(delay_ms: u64) -> crawler::site::Site {
    crawler::site::Site::start(crawler::site::SiteConfig {
        delay: Duration::from_millis(delay_ms),
        ..crawler::site::SiteConfig::default()
    })
    .expect("start the built-in site")
}

/// One way to misbehave, chosen by the request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `/reset`: read the request, then reset the connection (RST, not FIN).
    Reset,
    /// `/close`: read the request, then close without a byte.
    Close,
    /// `/garbage`: answer bytes that are not HTTP.
    Garbage,
    /// `/bad-status`: a malformed status line.
    BadStatus,
    /// `/short`: a body shorter than its Content-Length, then close.
    Short,
    /// `/huge`: a 2 MiB body (the cap is 1 MiB).
    Huge,
    /// `/hang`: read the request and never answer (until the client goes away).
    Hang,
    /// `/trickle`: a correct response, one byte at a time with pauses.
    Trickle,
    /// `/keep-open`: a complete response with Content-Length, connection left open.
    KeepOpen,
    /// `/chunked`: a correct response in chunked encoding.
    Chunked,
    /// `/flood`: a response with thousands of headers.
    HeaderFlood,
    /// `/slow`: a correct response after 300 ms.
    Slow,
    /// `/loop`: a redirect to itself, forever.
    RedirectLoop,
    /// `/no-reason`: `HTTP/1.0 200 ` — a status line with an empty reason phrase.
    NoReason,
    /// `/tree`, and every path under it: a page linking to two new pages below it, `…/a`
    /// and `…/b` — a site without end, in breadth.
    Tree,
    /// `/deeper`, and every path under it: a page linking to one page below it,
    /// `…/deeper` — a site without end, in depth, its URLs longer at every step.
    Deeper,
}

impl Fault {
    pub const ALL: [Fault; 16] = [
        Fault::Reset,
        Fault::Close,
        Fault::Garbage,
        Fault::BadStatus,
        Fault::Short,
        Fault::Huge,
        Fault::Hang,
        Fault::Trickle,
        Fault::KeepOpen,
        Fault::Chunked,
        Fault::HeaderFlood,
        Fault::Slow,
        Fault::RedirectLoop,
        Fault::NoReason,
        Fault::Tree,
        Fault::Deeper,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Fault::Reset => "/reset",
            Fault::Close => "/close",
            Fault::Garbage => "/garbage",
            Fault::BadStatus => "/bad-status",
            Fault::Short => "/short",
            Fault::Huge => "/huge",
            Fault::Hang => "/hang",
            Fault::Trickle => "/trickle",
            Fault::KeepOpen => "/keep-open",
            Fault::Chunked => "/chunked",
            Fault::HeaderFlood => "/flood",
            Fault::Slow => "/slow",
            Fault::RedirectLoop => "/loop",
            Fault::NoReason => "/no-reason",
            Fault::Tree => "/tree",
            Fault::Deeper => "/deeper",
        }
    }

    /// The fault a path asks for: its own path, or a path under `/tree` or `/deeper`.
    fn from_path(path: &str) -> Option<Fault> {
        let under =
            |f: Fault| matches!(f, Fault::Tree | Fault::Deeper) && path.starts_with(f.path());
        Fault::ALL
            .into_iter()
            .find(|&f| f.path() == path || under(f))
    }
}

/// A thread-per-connection server whose every path is one [`Fault`]. Stops on drop.
pub struct FaultServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FaultServer {
    pub fn start() -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault server");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let stopping = stopping.clone();
                thread::spawn(move || serve(conn, &stopping));
            }
        });
        FaultServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, fault: Fault) -> String {
        format!("http://{}{}", self.addr, fault.path())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut conn: TcpStream, stopping: &AtomicBool) {
    let Some(path) = read_request_path(&mut conn) else {
        return;
    };
    let Some(fault) = Fault::from_path(&path) else {
        let _ = conn.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let ok_head = |len: usize| format!("HTTP/1.0 200 OK\r\nContent-Length: {len}\r\n\r\n");
    match fault {
        Fault::Reset => {
            // SO_LINGER with a zero timeout turns close() into a reset.
            let socket = socket2::Socket::from(conn);
            let _ = socket.set_linger(Some(Duration::ZERO));
        }
        Fault::Close => {}
        Fault::Garbage => {
            let _ = conn.write_all(b"\x00\x01garbage, not HTTP at all\r\n\r\n");
        }
        Fault::BadStatus => {
            let _ = conn.write_all(b"HTTP/1.0 OK 200\r\n\r\nhello");
        }
        Fault::Short => {
            let _ = conn.write_all(format!("{}only half", ok_head(100)).as_bytes());
        }
        Fault::Huge => {
            let size = 2 << 20;
            let _ = conn.write_all(ok_head(size).as_bytes());
            let chunk = vec![b'x'; 64 << 10];
            for _ in 0..size / chunk.len() {
                if conn.write_all(&chunk).is_err() {
                    break; // the client gave up, as it should
                }
            }
        }
        Fault::Hang => hold_until_client_leaves(&mut conn, stopping),
        Fault::Trickle => {
            let response = format!("{}trickled", ok_head(8));
            for byte in response.bytes() {
                if conn.write_all(&[byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(2));
            }
        }
        Fault::KeepOpen => {
            let _ = conn.write_all(format!("{}kept open", ok_head(9)).as_bytes());
            hold_until_client_leaves(&mut conn, stopping);
        }
        Fault::Chunked => {
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  4\r\nchun\r\n3\r\nked\r\n0\r\n\r\n",
            );
        }
        Fault::HeaderFlood => {
            let mut head = b"HTTP/1.0 200 OK\r\n".to_vec();
            for i in 0..5000 {
                head.extend_from_slice(format!("X-Flood-{i}: yes\r\n").as_bytes());
            }
            let _ = conn.write_all(&head);
        }
        Fault::Slow => {
            thread::sleep(Duration::from_millis(300));
            let _ = conn.write_all(format!("{}slow", ok_head(4)).as_bytes());
        }
        Fault::RedirectLoop => {
            let _ = conn
                .write_all(b"HTTP/1.0 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
        }
        Fault::NoReason => {
            let _ = conn.write_all(b"HTTP/1.0 200 \r\nContent-Length: 9\r\n\r\nno reason");
        }
        Fault::Tree | Fault::Deeper => {
            let below: &[&str] = match fault {
                Fault::Tree => &["a", "b"],
                _ => &["deeper"],
            };
            let links: String = below
                .iter()
                .map(|name| format!("<a href=\"{path}/{name}\">{name}</a>\n"))
                .collect();
            // HTML, and saying so: stage 5 reads the links of HTML pages only.
            let head = ok_head(links.len()).replacen("\r\n", "\r\nContent-Type: text/html\r\n", 1);
            let _ = conn.write_all(format!("{head}{links}").as_bytes());
        }
    }
}

/// Reads the request head; returns its path.
fn read_request_path(conn: &mut TcpStream) -> Option<String> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 || head.len() > 16 << 10 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
    line.split_whitespace().nth(1).map(str::to_string)
}

/// Keeps the connection open, reading and discarding, until the client closes it (or the
/// server stops): that is how a test sees whether the client let go.
fn hold_until_client_leaves(conn: &mut TcpStream, stopping: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 1024];
    while !stopping.load(Ordering::SeqCst) {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// A port on 127.0.0.1 where nothing listens: bind one, then let it go.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/")
}

/// The client sockets of this process connected to one of `ports`, read from `/proc`.
/// After a crawl it must be zero: every socket the crawler opened is closed.
#[cfg(target_os = "linux")]
pub fn open_client_sockets(ports: &[u16]) -> usize {
    use std::collections::HashSet;
    // The inodes of this process's sockets...
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.to_string_lossy().to_string();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    // ...whose *remote* port is one of the servers' (a client's side of a connection).
    let mut count = 0;
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 {
                continue;
            }
            let remote_port = fields[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if remote_port.is_some_and(|p| ports.contains(&p)) && inodes.contains(fields[9]) {
                count += 1;
            }
        }
    }
    count
}

/// The number of open file descriptors of this process.
#[cfg(target_os = "linux")]
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs `f` on a thread of its own and returns what it returns; a run longer than `bound`
/// fails the test instead of freezing it.
pub fn within<T: Send + 'static>(bound: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(bound)
        .unwrap_or_else(|_| panic!("still running after {bound:?}: it hangs"))
}

/// A small static site: fixed pages, answered the way a file server answers, one connection
/// at a time. The request path is percent-decoded and its `.` and `..` segments resolved
/// before the lookup, so `/docs/sub/../a.html` and `/docs/%61.html` are `/docs/a.html` — a
/// crawler that does not normalise its URLs fetches the same page again and again. It counts
/// the requests for each page it resolved (path and query). Stops on drop.
pub struct PageServer {
    addr: SocketAddr,
    served: Arc<Mutex<BTreeMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl PageServer {
    /// `pages` are `(path, html)`; in the HTML, `{origin}` stands for `http://127.0.0.1:PORT`.
    /// HTML that starts with `HTTP/` is the whole response. A path not among them is
    /// `404 Not Found`.
    pub fn start(pages: &[(&str, &str)]) -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the page server");
        let addr = listener.local_addr().unwrap();
        let origin = format!("http://{addr}");
        let pages: HashMap<String, String> = pages
            .iter()
            .map(|(path, html)| (path.to_string(), html.replace("{origin}", &origin)))
            .collect();
        let served = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (counting, stopping) = (served.clone(), stop.clone());
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let Some(target) = read_request_path(&mut conn) else {
                    continue;
                };
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let path = resolve_file_path(&percent_decode(path));
                let page = if query.is_empty() {
                    path.clone()
                } else {
                    format!("{path}?{query}")
                };
                *counting.lock().unwrap().entry(page).or_insert(0) += 1;
                let response = match pages.get(&path) {
                    // A page given as a whole response is sent as it is: an error page, a
                    // page that is not HTML…
                    Some(raw) if raw.starts_with("HTTP/") => raw.clone(),
                    Some(html) => format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{html}",
                        html.len()
                    ),
                    None => "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
                };
                let _ = conn.write_all(response.as_bytes());
            }
        });
        PageServer {
            addr,
            served,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many times each page was served: `/docs/a.html`, `/docs/?page=2`, …
    pub fn served(&self) -> BTreeMap<String, usize> {
        self.served.lock().unwrap().clone()
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The loop is blocked in `accept`: one more connection lets it see the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `%XX` to the byte it stands for; the bytes read as UTF-8. A file server's first step.
fn percent_decode(text: &str) -> String {
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        let hex = tail.get(..2).and_then(|h| std::str::from_utf8(h).ok());
        match hex.filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit())) {
            Some(h) if first == b'%' => {
                bytes.push(u8::from_str_radix(h, 16).unwrap());
                rest = &tail[2..];
            }
            _ => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The file a request path names: `.` and empty segments dropped, `..` goes up (never above
/// the root), and a path that ends in a directory keeps its final `/`.
fn resolve_file_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            name => segments.push(name),
        }
    }
    let directory = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    let mut file = format!("/{}", segments.join("/"));
    if directory && !segments.is_empty() {
        file.push('/');
    }
    file
}
