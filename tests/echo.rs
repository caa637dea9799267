//! The echo server (`examples/echo.rs`, on the stage 5 runtime) at the process's limits: out
//! of file descriptors it goes on serving the clients it has and takes the waiting ones once
//! descriptors free up; killed, it restarts on the same port at once.
//!
//! Both run the server in a child process, so that its limits and its death are real: the
//! child is this test binary again, running only [`echo_server_child`] (the server's code is
//! compiled into this binary from the example), under `sh -c 'ulimit -n 64; exec …'` when it
//! needs a low descriptor limit. Nothing is timed: the tests count echoes and read what the
//! server says; every wait has a bound that only a hang reaches.
#![cfg(target_os = "linux")]

#[allow(dead_code)] // the example's `main`, and what these tests do not use
#[path = "../examples/echo.rs"]
mod echo;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

/// How long any one wait may take before the test calls it hung.
const HUNG: Duration = Duration::from_secs(30);

/// The child: an echo server on port `LOOPLAB_ECHO_CHILD` (0: any free one), which prints
/// `PORT n` once it listens, and serves until it is killed (or fails).
#[test]
#[ignore = "the server half of the echo tests; they start it"]
fn echo_server_child() {
    let Some(port) = std::env::var_os("LOOPLAB_ECHO_CHILD") else {
        return;
    };
    let port: u16 = port.to_str().unwrap().parse().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let ready = |addr: SocketAddr| println!("PORT {}", addr.port());
    if let Err(e) = echo::run(addr, None, ready, false) {
        println!("STOPPED {e}");
    }
}

/// An echo server in a child process, and the lines it prints (stdout and stderr).
struct Server {
    child: Child,
    port: u16,
    lines: Receiver<String>,
}

impl Server {
    /// Starts the child on `port`, with at most `files` descriptors if given, and waits
    /// until it listens.
    fn start(port: u16, files: Option<u32>) -> Server {
        let exe = std::env::current_exe().unwrap();
        let args = ["--exact", "echo_server_child", "--ignored", "--nocapture"];
        let mut command = match files {
            None => Command::new(exe),
            Some(n) => {
                let mut sh = Command::new("sh");
                let script = format!("ulimit -n {n} && exec \"$0\" \"$@\"");
                sh.arg("-c").arg(script).arg(exe);
                sh
            }
        };
        command
            .args(args)
            .env("LOOPLAB_ECHO_CHILD", port.to_string());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the echo server");
        let (send, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = BufReader::new(child.stderr.take().unwrap());
        for output in [
            Box::new(stdout) as Box<dyn BufRead + Send>,
            Box::new(stderr),
        ] {
            let send = send.clone();
            thread::spawn(move || {
                for line in output.lines().map_while(Result::ok) {
                    let _ = send.send(line);
                }
            });
        }
        let mut server = Server {
            child,
            port: 0,
            lines,
        };
        let line = server.wait_for("PORT ");
        server.port = line.trim_start_matches("PORT ").trim().parse().unwrap();
        server
    }

    /// The first line it prints from now on that contains `text`.
    fn wait_for(&mut self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(HUNG) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("the echo server never said {text:?} (it stopped, or hangs)"),
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the child (by its own handle) and waits until it is gone.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that has connected and sent `line`.
fn client(addr: SocketAddr, line: &str) -> TcpStream {
    let mut stream = TcpStream::connect_timeout(&addr, HUNG).expect("connect");
    stream.set_read_timeout(Some(HUNG)).unwrap();
    stream.write_all(line.as_bytes()).unwrap();
    stream
}

/// Reads `line` back from `stream`.
fn expect_echo(stream: &mut TcpStream, line: &str) {
    let mut reply = vec![0u8; line.len()];
    stream
        .read_exact(&mut reply)
        .unwrap_or_else(|e| panic!("no echo of {line:?}: {e}"));
    assert_eq!(String::from_utf8_lossy(&reply), line);
}

#[test]
fn out_of_descriptors_the_echo_server_serves_whom_it_can_then_everyone() {
    let mut server = Server::start(0, Some(64));
    // More clients than 64 descriptors hold. Each connects (the kernel's queue takes it
    // whether or not the server can accept it) and sends its line.
    let line = |i: usize| format!("client {i}\n");
    let mut clients: Vec<TcpStream> = (0..80).map(|i| client(server.addr(), &line(i))).collect();
    // The server runs out, says so, and says how many connections it holds.
    let said = server.wait_for("accept failed");
    let held: usize = said
        .split("serving the ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("how many does it hold? {said:?}"));
    assert!(held > 0 && held < clients.len(), "{said}");
    println!("the server said: {said}");
    // Those it holds (the first to come) get their echo, and are still served while it is
    // out of descriptors: a second line comes back too.
    for (i, stream) in clients.iter_mut().enumerate().take(held) {
        expect_echo(stream, &line(i));
        let again = format!("client {i} again\n");
        stream.write_all(again.as_bytes()).unwrap();
        expect_echo(stream, &again);
    }
    // They leave; the waiting ones are accepted as descriptors free up, each in turn, and
    // get their echo (each leaves once it has it, making room for the next).
    clients.drain(..held);
    for (i, mut stream) in clients.into_iter().enumerate() {
        expect_echo(&mut stream, &line(held + i));
    }
    println!("the server said: {}", server.wait_for("accepting again"));
    // And a client that comes now is served as if nothing had happened.
    let mut fresh = client(server.addr(), "a fresh client\n");
    expect_echo(&mut fresh, "a fresh client\n");
}

/// Sockets on `port` in `TIME_WAIT`, from `/proc/net/tcp` (state 06).
fn time_wait_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!(":{port:04X} ");
    table
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(3) == Some("06") && l.contains(&local))
        .count()
}

#[test]
fn the_echo_server_restarts_on_its_port_at_once() {
    let first = Server::start(0, None);
    let port = first.port;
    let mut stream = client(first.addr(), "before\n");
    expect_echo(&mut stream, "before\n");
    // Killed with a client connected, the server's end closes first, so once the client
    // closes too, the server's side of the connection waits out TIME_WAIT on its port.
    first.kill();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    drop(stream);
    let mut waited = 0;
    while time_wait_on(port) == 0 {
        waited += 1;
        assert!(
            waited < 3000,
            "no TIME_WAIT on port {port}: the test proves nothing"
        );
        thread::sleep(Duration::from_millis(1));
    }
    // A listener without SO_REUSEADDR cannot have the port now: what the test guards.
    let plain = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let refused = plain.bind(&addr.into()).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::AddrInUse);
    drop(plain);
    // The echo server can, at once.
    let second = Server::start(port, None);
    assert_eq!(second.port, port);
    let mut stream = client(second.addr(), "after\n");
    expect_echo(&mut stream, "after\n");
}
