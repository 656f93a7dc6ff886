//! A real `redis-server` for tests: [`redis_url`] gives every test of a process one server
//! (the one `TOKENSOURCE_TEST_REDIS_URL` names, or one started on a free loopback port), and
//! [`RedisServer`] runs one a test can start, kill and restart. Without `redis-server` on `PATH`
//! they panic and say what to install: a test that needs Redis never passes by skipping.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming a running Redis server for the tests.
pub const REDIS_URL_VAR: &str = "TOKENSOURCE_TEST_REDIS_URL";

/// The Redis URL to test against: `TOKENSOURCE_TEST_REDIS_URL` if set, else a `redis-server`
/// this test process starts once (on a free loopback port, gone when the process exits).
///
/// # Panics
/// When the variable is not set and `redis-server` cannot be run: these tests never pass by
/// skipping.
pub fn redis_url(test: &str) -> String {
    static OWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match std::env::var(REDIS_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => OWN
            .get_or_init(|| {
                RedisServer::require(test);
                let port = free_port();
                let mut server = RedisServer::stopped(port);
                server.start_for_process_lifetime();
                server.url()
            })
            .clone(),
    }
}

/// A free loopback TCP port (free when asked; good enough for a test).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `redis-server` this test runs, without persistence.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Panics, saying what to install, unless `redis-server` can be run.
    pub fn require(test: &str) {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "{test} needs a Redis server: install redis-server (Debian/Ubuntu: `apt-get install \
             redis-server`; macOS: `brew install redis`) so the tests can start one, or set \
             {REDIS_URL_VAR}=redis://127.0.0.1:6379 to use a running one"
        );
    }

    /// A running server on a free port, for a test that needs one of its own.
    pub fn started(test: &str) -> Self {
        RedisServer::require(test);
        let mut server = RedisServer::stopped(free_port());
        server.start();
        server
    }

    /// Starts a server that lives as long as this process: a shell watches the process and
    /// stops the server when it is gone (statics are never dropped).
    fn start_for_process_lifetime(&mut self) {
        let script = format!(
            "redis-server --port {} --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 & \
             server=$!; while kill -0 {} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done; \
             kill $server 2>/dev/null",
            self.port,
            std::process::id()
        );
        let mut watcher = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        // Reaped if it ends while this process still runs (the server failed to start).
        std::thread::spawn(move || watcher.wait());
        self.wait_until_up();
    }

    /// A server that is not running yet, for port `port`.
    pub fn stopped(port: u16) -> Self {
        RedisServer { port, child: None }
    }

    /// The server's `redis://` URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        self.wait_until_up();
    }

    fn wait_until_up(&self) {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (no shutdown, no save) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
