//! A raw TCP responder, for the answers no HTTP server library will send.
//!
//! [`MockServer`](crate::MockServer) speaks correct HTTP: it always frames its bodies honestly
//! and never drops a connection half way. Clients must also survive servers that do: a body that
//! never ends, a connection closed mid-body, a `Content-Length` that lies, headers sent one byte
//! at a time (slowloris), a reset. A [`RawServer`] binds `127.0.0.1` (or another local address,
//! [`RawServer::sequence_on`]) on a free port and plays a [`Script`] of byte-level steps on each
//! connection it accepts, counting connections and bytes.
//!
//! ```
//! use std::time::Duration;
//! use tokensource_testkit::raw::{RawServer, Script, http_response};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A Content-Length of 100, 10 bytes of body, then the connection is closed.
//! let lying = RawServer::start(
//!     Script::new()
//!         .read_request()
//!         .write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
//!         .write(r#"{"access_"#),
//! );
//! let client = reqwest::Client::new();
//! let response = client.post(lying.url("/token")).body("hello").send().await.unwrap();
//! assert!(response.bytes().await.is_err());
//! assert_eq!(lying.connections(), 1);
//! assert!(lying.requests()[0].starts_with(b"POST /token HTTP/1.1\r\n"));
//!
//! // A body that never ends, one byte every 50 ms.
//! let endless = RawServer::start(
//!     Script::new()
//!         .read_request()
//!         .write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
//!         .write_forever("1\r\nx\r\n", Duration::from_millis(50)),
//! );
//! let response = client.get(endless.url("/")).timeout(Duration::from_millis(300)).send().await.unwrap();
//! assert!(response.bytes().await.unwrap_err().is_timeout());
//!
//! // Two resets, then a proper answer: connection `i` plays script `i`, the last one repeats.
//! let flapping = RawServer::sequence([
//!     Script::new().reset(),
//!     Script::new().reset(),
//!     Script::respond(http_response(200, &[("content-type", "text/plain")], "ok")),
//! ]);
//! for _ in 0..2 {
//!     assert!(client.get(flapping.url("/")).send().await.is_err());
//! }
//! let ok = client.get(flapping.url("/")).send().await.unwrap();
//! assert_eq!(ok.text().await.unwrap(), "ok");
//! assert_eq!(flapping.connections(), 3);
//! # }
//! ```
//!
//! The server runs on plain threads (one per connection), so it works under any async runtime,
//! and with tokio's clock paused. Every blocking step wakes at least every 50 ms to notice that
//! the client left or that the server was dropped; a connection never outlives
//! [`MAX_CONNECTION_TIME`]. Dropping the server stops accepting at once.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a connection is served, whatever its script says, so that a forgotten
/// [`Script::write_forever`] cannot outlive a test run.
pub const MAX_CONNECTION_TIME: Duration = Duration::from_secs(60);

/// How often a blocked step wakes up to check whether it should stop.
const TICK: Duration = Duration::from_millis(50);

/// The largest request head [`Script::read_request`] reads; the rest is left unread.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// The largest request body [`Script::read_request`] reads.
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// How long [`Script::read_request`] waits for a request to arrive.
const REQUEST_WAIT: Duration = Duration::from_secs(5);

/// How many requests [`RawServer::requests`] keeps (the oldest are dropped).
const MAX_RECORDED: usize = 100;

/// What a [`RawServer`] does on a connection, step by step.
///
/// Build it with the methods below; each appends one step. When the steps are done, the
/// connection is closed gracefully (a FIN after whatever was written; unread request bytes are
/// drained first, so that the close is not turned into a reset). A script without steps closes
/// at once.
#[derive(Clone, Default)]
#[must_use = "a Script does nothing until a RawServer plays it"]
pub struct Script {
    steps: Vec<Step>,
}

#[derive(Clone)]
enum Step {
    ReadRequest,
    Write(Vec<u8>),
    Pause(Duration),
    Trickle { bytes: Vec<u8>, every: Duration },
    Forever { chunk: Vec<u8>, every: Duration },
    Hold,
    Reset,
}

impl Script {
    /// An empty script: the connection is accepted and closed.
    pub fn new() -> Self {
        Script::default()
    }

    /// Reads the request, then writes `response` exactly: the usual first step of a
    /// hand-written answer. With [`http_response`] it is an honest HTTP reply.
    pub fn respond(response: impl Into<Vec<u8>>) -> Self {
        Script::new().read_request().write(response)
    }

    /// Reads the request head (up to the blank line, at most 64 KiB) and a body of the
    /// `Content-Length` it announces (at most 1 MiB), and records them for
    /// [`RawServer::requests`]. Gives up after 5 s without a complete head.
    pub fn read_request(mut self) -> Self {
        self.steps.push(Step::ReadRequest);
        self
    }

    /// Writes `bytes` as they are.
    pub fn write(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.steps.push(Step::Write(bytes.into()));
        self
    }

    /// Waits, sending nothing.
    pub fn pause(mut self, duration: Duration) -> Self {
        self.steps.push(Step::Pause(duration));
        self
    }

    /// Writes `bytes` one byte at a time, pausing `every` between bytes: a slowloris server.
    pub fn trickle(mut self, bytes: impl Into<Vec<u8>>, every: Duration) -> Self {
        self.steps.push(Step::Trickle {
            bytes: bytes.into(),
            every,
        });
        self
    }

    /// Writes `chunk` again and again, pausing `every` between copies (`Duration::ZERO`: as fast
    /// as the client reads), until the client closes the connection, the server is dropped or
    /// [`MAX_CONNECTION_TIME`] passes: a body that never ends. Steps after it never run.
    pub fn write_forever(mut self, chunk: impl Into<Vec<u8>>, every: Duration) -> Self {
        self.steps.push(Step::Forever {
            chunk: chunk.into(),
            every,
        });
        self
    }

    /// Keeps the connection open, sending nothing, until the client closes it, the server is
    /// dropped or [`MAX_CONNECTION_TIME`] passes. Steps after it never run.
    pub fn hold(mut self) -> Self {
        self.steps.push(Step::Hold);
        self
    }

    /// Closes the connection abortively: waits for the request's first bytes, then closes the
    /// socket without reading them, which makes the operating system answer with a TCP reset
    /// (RST) instead of an orderly close. Use it before [`read_request`](Script::read_request)
    /// (once the request is read, nothing is left to trigger the reset). Steps after it never run.
    pub fn reset(mut self) -> Self {
        self.steps.push(Step::Reset);
        self
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for step in &self.steps {
            match step {
                Step::ReadRequest => list.entry(&format_args!("ReadRequest")),
                Step::Write(bytes) => list.entry(&format_args!("Write({} bytes)", bytes.len())),
                Step::Pause(d) => list.entry(&format_args!("Pause({d:?})")),
                Step::Trickle { bytes, every } => list.entry(&format_args!(
                    "Trickle({} bytes every {every:?})",
                    bytes.len()
                )),
                Step::Forever { chunk, every } => list.entry(&format_args!(
                    "Forever({} bytes every {every:?})",
                    chunk.len()
                )),
                Step::Hold => list.entry(&format_args!("Hold")),
                Step::Reset => list.entry(&format_args!("Reset")),
            };
        }
        list.finish()
    }
}

/// An honest HTTP/1.1 response: the status line, `headers`, a `Content-Length` that matches
/// `body`, and `Connection: close` (each [`RawServer`] connection serves one request).
///
/// ```
/// use tokensource_testkit::raw::http_response;
///
/// let bytes = http_response(200, &[("content-type", "application/json")], "{}");
/// assert_eq!(
///     bytes,
///     b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
/// );
/// ```
pub fn http_response(status: u16, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Vec<u8> {
    let body = body.as_ref();
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// A TCP server on `127.0.0.1` (or another local address) that plays a [`Script`] on each
/// connection; see the [module documentation](self).
///
/// It stops accepting when dropped; connections still being served end within 50 ms.
pub struct RawServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    scripts: Vec<Script>,
    stopping: AtomicBool,
    connections: AtomicUsize,
    bytes_written: AtomicU64,
    requests: Mutex<Vec<Vec<u8>>>,
}

impl RawServer {
    /// Starts a server that plays `script` on every connection.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start(script: Script) -> RawServer {
        RawServer::sequence([script])
    }

    /// Starts a server that plays the `i`-th script on the `i`-th connection, and the last one
    /// on every connection after that: `[reset, reset, ok]` is "reset twice, then answer".
    ///
    /// # Panics
    /// If `scripts` is empty, or no loopback port can be bound.
    pub fn sequence(scripts: impl IntoIterator<Item = Script>) -> RawServer {
        RawServer::sequence_on(IpAddr::V4(Ipv4Addr::LOCALHOST), scripts)
    }

    /// Like [`sequence`](RawServer::sequence), on a free port of another local address `ip`:
    /// another address of `127.0.0.0/8` (all local on Linux) or `::1`.
    ///
    /// Once such a server is dropped, connections to its address are refused for good, since
    /// servers on `127.0.0.1` (every other one in a test run) cannot take its port over: a
    /// dependable "endpoint down".
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use tokensource_testkit::raw::{RawServer, Script};
    ///
    /// let server = RawServer::sequence_on([127, 0, 0, 77].into(), [Script::new()]);
    /// let address = server.address();
    /// drop(server);
    /// assert!(std::net::TcpStream::connect(address).is_err());
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `scripts` is empty, or no port of `ip` can be bound.
    pub fn sequence_on(ip: IpAddr, scripts: impl IntoIterator<Item = Script>) -> RawServer {
        let scripts: Vec<Script> = scripts.into_iter().collect();
        assert!(!scripts.is_empty(), "a RawServer needs at least one script");
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))
            .unwrap_or_else(|e| panic!("the raw server could not bind a port of {ip}: {e}"));
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            scripts,
            stopping: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            bytes_written: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("tokensource-testkit-raw".into())
                .spawn(move || accept_loop(&listener, &shared))
                .expect("the raw server could not start its thread")
        };
        RawServer {
            address,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The socket address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL, for example `http://127.0.0.1:41234` (no trailing slash).
    pub fn uri(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The URL of `path` on this server; `path` should start with `/`. Every path is served alike.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.uri())
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many bytes were written to clients, over all connections.
    pub fn bytes_written(&self) -> u64 {
        self.shared.bytes_written.load(Ordering::SeqCst)
    }

    /// The requests read by [`Script::read_request`] (head and body, as received), oldest first;
    /// the last 100.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor, which is blocked in `accept`; it sees `stopping` and leaves.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl fmt::Debug for RawServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawServer")
            .field("address", &self.address)
            .field("scripts", &self.shared.scripts)
            .field("connections", &self.connections())
            .field("bytes_written", &self.bytes_written())
            .finish()
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let index = shared.connections.fetch_add(1, Ordering::SeqCst);
        let script = shared.scripts[index.min(shared.scripts.len() - 1)].clone();
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("tokensource-testkit-raw-conn".into())
            .spawn(move || {
                let mut connection = Connection {
                    stream,
                    shared: &shared,
                    deadline: Instant::now() + MAX_CONNECTION_TIME,
                };
                connection.play(&script);
            });
        // Out of threads: the stream was moved into the failed closure and is closed with it.
        drop(spawned);
    }
}

/// Why a script stopped early.
enum Stop {
    /// The client left, the server is stopping or the connection's time is up.
    Done,
    /// The connection must be dropped without the graceful close.
    Abort,
}

struct Connection<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    deadline: Instant,
}

impl Connection<'_> {
    fn play(&mut self, script: &Script) {
        // Short timeouts, so that every blocking call returns to check `should_stop`.
        let _ = self.stream.set_read_timeout(Some(TICK));
        let _ = self.stream.set_write_timeout(Some(TICK));
        let _ = self.stream.set_nodelay(true);
        for step in &script.steps {
            let result = match step {
                Step::ReadRequest => self.read_request(),
                Step::Write(bytes) => self.write(bytes),
                Step::Pause(duration) => self.sleep(*duration),
                Step::Trickle { bytes, every } => self.trickle(bytes, *every),
                Step::Forever { chunk, every } => self.forever(chunk, *every),
                Step::Hold => self.hold(),
                Step::Reset => self.reset(),
            };
            match result {
                Ok(()) => {}
                Err(Stop::Done) => break,
                Err(Stop::Abort) => return,
            }
        }
        self.close();
    }

    fn should_stop(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst) || Instant::now() >= self.deadline
    }

    fn read_request(&mut self) -> Result<(), Stop> {
        let give_up = Instant::now() + REQUEST_WAIT;
        let mut request = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            if let Some(end) = find(&request, b"\r\n\r\n") {
                break end + 4;
            }
            if request.len() >= MAX_REQUEST_HEAD || Instant::now() >= give_up {
                self.record(request);
                return Ok(());
            }
            match self.read_some(&mut buf)? {
                0 => {
                    self.record(request);
                    return Err(Stop::Done);
                }
                n => request.extend_from_slice(&buf[..n]),
            }
        };
        let wanted = content_length(&request[..head_end])
            .unwrap_or(0)
            .min(MAX_REQUEST_BODY);
        while request.len() < head_end + wanted && Instant::now() < give_up {
            match self.read_some(&mut buf)? {
                0 => break,
                n => request.extend_from_slice(&buf[..n]),
            }
        }
        self.record(request);
        Ok(())
    }

    /// One read: `Ok(0)` at end of stream, `Ok(n)` for data; a timeout is retried here.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, Stop> {
        loop {
            if self.should_stop() {
                return Err(Stop::Done);
            }
            match self.stream.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(Stop::Done),
            }
        }
    }

    fn record(&self, request: Vec<u8>) {
        let mut requests = self
            .shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if requests.len() == MAX_RECORDED {
            requests.remove(0);
        }
        requests.push(request);
    }

    fn write(&mut self, mut bytes: &[u8]) -> Result<(), Stop> {
        while !bytes.is_empty() {
            if self.should_stop() {
                return Err(Stop::Done);
            }
            match self.stream.write(bytes) {
                Ok(0) => return Err(Stop::Done),
                Ok(n) => {
                    self.shared
                        .bytes_written
                        .fetch_add(n as u64, Ordering::SeqCst);
                    bytes = &bytes[n..];
                }
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                // The client closed or reset the connection.
                Err(_) => return Err(Stop::Done),
            }
        }
        Ok(())
    }

    /// Sleeps in short slices, so that a stop is noticed.
    fn sleep(&self, duration: Duration) -> Result<(), Stop> {
        let until = Instant::now() + duration;
        loop {
            if self.should_stop() {
                return Err(Stop::Done);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(TICK));
        }
    }

    fn trickle(&mut self, bytes: &[u8], every: Duration) -> Result<(), Stop> {
        for (i, byte) in bytes.iter().enumerate() {
            if i > 0 {
                self.sleep(every)?;
            }
            self.write(std::slice::from_ref(byte))?;
        }
        Ok(())
    }

    fn forever(&mut self, chunk: &[u8], every: Duration) -> Result<(), Stop> {
        loop {
            self.write(chunk)?;
            if !every.is_zero() {
                self.sleep(every)?;
            }
        }
    }

    fn hold(&mut self) -> Result<(), Stop> {
        let mut buf = [0u8; 8192];
        // Reads (and discards) until the client closes or a stop is due.
        while self.read_some(&mut buf)? > 0 {}
        Err(Stop::Done)
    }

    fn reset(&mut self) -> Result<(), Stop> {
        let mut probe = [0u8; 1];
        let give_up = Instant::now() + REQUEST_WAIT;
        // Wait until the request has arrived, without consuming it: closing a socket with unread
        // data makes the kernel send RST rather than FIN.
        while Instant::now() < give_up && !self.should_stop() {
            match self.stream.peek(&mut probe) {
                Ok(_) => break,
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        Err(Stop::Abort)
    }

    /// An orderly close: FIN after what was written, then drain what the client still sends (so
    /// that unread bytes do not turn the close into a reset) until it closes too.
    fn close(&mut self) {
        let _ = self.stream.flush();
        let _ = self.stream.shutdown(Shutdown::Write);
        let mut buf = [0u8; 8192];
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until && !self.should_stop() {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `Content-Length` of a request head, if it has a readable one.
fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length() {
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n"),
            Some(12)
        );
        assert_eq!(content_length(b"GET / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\ncontent-length: x\r\n\r\n"),
            None
        );
    }

    #[test]
    fn serves_scripts_in_sequence_and_counts() {
        let server = RawServer::sequence([
            Script::respond(http_response(200, &[], "one")),
            Script::respond(http_response(503, &[], "two")),
        ]);
        let get = || {
            let mut stream = TcpStream::connect(server.address()).unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).unwrap();
            String::from_utf8(reply).unwrap()
        };
        assert!(get().ends_with("\r\n\r\none"));
        assert!(get().starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(get().ends_with("two"));
        assert_eq!(server.connections(), 3);
        assert_eq!(server.requests().len(), 3);
        assert!(server.bytes_written() > 0);
    }

    #[test]
    fn drop_stops_endless_writers() {
        let server = RawServer::start(Script::new().write_forever("x", Duration::ZERO));
        let _stream = TcpStream::connect(server.address()).unwrap();
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
