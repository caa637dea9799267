//! tokio's current-thread runtime, and the crawl a tokio user would write for it: a task per
//! URL, each connecting, sending the same request bytes as every stage, reading the whole
//! response into a `Vec` with `read_to_end`, and parsing it with the same parser.

use std::cell::Cell;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crawler::fetch::{FetchError, Outcome, Page, Timeline};
use crawler::http;
use crawler::url::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn crawl(urls: &[String], deadline: Instant) -> Vec<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let tasks: Vec<_> = urls
            .iter()
            .map(|url| {
                let timeline = Rc::new(Cell::new(Timeline::start()));
                let (url2, t2) = (url.clone(), timeline.clone());
                let task = tokio::task::spawn_local(async move {
                    let limit = tokio::time::Instant::from_std(deadline);
                    let result = match tokio::time::timeout_at(limit, fetch(&url2, &t2)).await {
                        Ok(result) => result,
                        Err(_) => Err(FetchError::timed_out(&t2.get())),
                    };
                    mark(&t2, Timeline::end);
                    result
                });
                (url.clone(), timeline, task)
            })
            .collect();
        let mut outcomes = Vec::with_capacity(tasks.len());
        for (url, timeline, task) in tasks {
            let result = task
                .await
                .unwrap_or_else(|e| Err(FetchError::Runtime(std::io::Error::other(e.to_string()))));
            outcomes.push(Outcome::new(&url, result, timeline.get()));
        }
        outcomes
    })
}

/// The fetch a tokio user would write: connect, send, read the whole response into a `Vec`
/// (HTTP/1.0: the server closes the connection after it), then parse it. The task holds the
/// `Vec`, which grows as bytes arrive, and no buffer of its own across an `.await`.
async fn fetch(url: &str, timeline: &Cell<Timeline>) -> Result<Page, FetchError> {
    let url = Url::parse(url)?;
    let addr = url.socket_addr()?;
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(FetchError::Connect)?;
    mark(timeline, Timeline::connected);
    stream
        .write_all(&http::request(&url))
        .await
        .map_err(FetchError::Send)?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(FetchError::Receive)?;
    http::ResponseReader::new().parse(&response)
}

/// The bytes one fetch keeps from one wait to the next: the future of `fetch`.
pub fn fetch_size() -> usize {
    std::mem::size_of_val(&fetch("http://127.0.0.1/", &Cell::new(Timeline::start())))
}

fn mark(timeline: &Cell<Timeline>, event: fn(&mut Timeline)) {
    let mut t = timeline.get();
    event(&mut t);
    timeline.set(t);
}

/// A tokio HTTP server answering like the site (same delay query, a page of the same
/// size), to show the site is not what limits the crawl.
pub fn serve() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        // The same listen backlog as the site (4096): with tokio's default of 1024, ten
        // thousand simultaneous connects overflow it and wait a second for SYN retries.
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
        let listener = socket.listen(4096).expect("listen");
        println!("PORT {}", listener.local_addr().unwrap().port());
        let _ = std::io::stdout().flush();
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        tokio::select! {
            _ = stdin_closed => {}
            _ = async {
                loop {
                    let Ok((conn, _)) = listener.accept().await else { continue };
                    tokio::spawn(answer(conn));
                }
            } => {}
        }
    });
    ExitCode::SUCCESS
}

async fn answer(mut conn: tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let delay = text
        .split_once("delay_ms=")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let body = format!(
        "<html><body>{}</body></html>",
        "<a href=\"/1\">a page</a> ".repeat(8)
    );
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes()).await;
}
