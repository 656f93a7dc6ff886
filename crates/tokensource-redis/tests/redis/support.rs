//! What the Redis tests share: where Redis is, a counting token endpoint, a token source that
//! POSTs to it, a `redis-server` child process, and child test processes.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokensource_core::{Error, Token, TokenSource, from_fn};
use tokensource_redis::{RedisTokenStore, SecretString, credential_key};
pub use tokensource_testkit::redis_server::{RedisServer, free_port, redis_url};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A credential key no other test (or earlier run) uses.
pub fn unique_key(test: &str) -> String {
    credential_key("test", test, &format!("{:016x}", rand::random::<u64>()))
}

pub fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

pub fn store(url: &str, client_secret: &str) -> RedisTokenStore {
    RedisTokenStore::new(url, &secret(client_secret)).expect("valid store configuration")
}

/// A plain connection, for looking at and tampering with what the store wrote.
pub async fn raw_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test Redis")
}

pub fn token(access_token: &str, lifetime: Duration) -> Token {
    Token::builder(access_token)
        .expires_in(lifetime)
        .build()
        .unwrap()
}

/// A loopback OAuth2-style token endpoint that counts its hits and answers `tok-1`, `tok-2`, ...
pub struct TokenEndpoint {
    pub server: MockServer,
}

struct CountingResponder {
    hits: AtomicUsize,
    delay: Duration,
    /// Whether the first request never gets an answer (a fetch that hangs).
    hang_first: bool,
}

impl Respond for CountingResponder {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.hits.fetch_add(1, Ordering::SeqCst) + 1;
        let body = serde_json::json!({
            "access_token": format!("tok-{n}"),
            "token_type": "Bearer",
            "expires_in": 3600,
        });
        let delay = if n == 1 && self.hang_first {
            Duration::from_secs(600)
        } else {
            self.delay
        };
        ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(delay)
    }
}

impl TokenEndpoint {
    /// An endpoint answering after `delay`.
    pub async fn start(delay: Duration) -> Self {
        TokenEndpoint::start_with(delay, false).await
    }

    /// An endpoint whose first request hangs; later ones are answered after `delay`.
    pub async fn start_hanging_first(delay: Duration) -> Self {
        TokenEndpoint::start_with(delay, true).await
    }

    async fn start_with(delay: Duration, hang_first: bool) -> Self {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(CountingResponder {
                hits: AtomicUsize::new(0),
                delay,
                hang_first,
            })
            .mount(&server)
            .await;
        TokenEndpoint { server }
    }

    pub fn url(&self) -> String {
        format!("{}/token", self.server.uri())
    }

    /// How many requests the endpoint has received.
    pub async fn hits(&self) -> usize {
        self.server
            .received_requests()
            .await
            .map_or(0, |requests| requests.len())
    }

    /// Waits until the endpoint has received `n` requests (at most `limit`).
    pub async fn wait_for_hits(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.hits().await < n {
            assert!(
                Instant::now() < deadline,
                "the token endpoint did not get {n} requests"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A token source that POSTs to the token endpoint at `url` and builds a one-hour token.
pub fn http_source(url: String) -> impl TokenSource + 'static {
    http_source_lasting(url, Duration::from_secs(3600))
}

/// A token source that POSTs to the token endpoint at `url` and builds a token living
/// `lifetime`.
pub fn http_source_lasting(url: String, lifetime: Duration) -> impl TokenSource + 'static {
    let client = reqwest::Client::new();
    let url = Arc::new(url);
    from_fn("test-endpoint", move || {
        let (client, url) = (client.clone(), Arc::clone(&url));
        async move { fetch(&client, &url, lifetime).await }
    })
}

async fn fetch(client: &reqwest::Client, url: &str, lifetime: Duration) -> Result<Token, Error> {
    let unavailable = |e: reqwest::Error| Error::unavailable("test-endpoint", e.to_string());
    let response = client
        .post(url)
        .body("grant_type=client_credentials")
        .send()
        .await
        .map_err(unavailable)?;
    let body = response.text().await.map_err(unavailable)?;
    let json: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| Error::invalid_response("test-endpoint", e.to_string()))?;
    let access_token = json["access_token"]
        .as_str()
        .ok_or_else(|| Error::invalid_response("test-endpoint", "no access_token"))?;
    Token::builder(access_token)
        .expires_in(lifetime)
        .build()
        .map_err(Error::from)
}

/// The environment variable that makes the hidden child test run, and carries its role.
pub const CHILD_VAR: &str = "TOKENSOURCE_TEST_CHILD";

/// Starts this test binary again, running only the hidden test `test` with `env`.
pub fn spawn_child(test: &str, role: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("start a child test process")
}

/// Waits for `child` (killing it after `limit`) and returns the value of its `CHILD-RESULT`
/// line.
pub fn child_result(mut child: Child, limit: Duration) -> String {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a child test process ran over {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().expect("read the child's output");
    assert!(status.success(), "child failed ({status}):\n{out}");
    out.lines()
        .find_map(|line| Some(&line[line.find("CHILD-RESULT ")? + "CHILD-RESULT ".len()..]))
        .unwrap_or_else(|| panic!("no result from the child:\n{out}"))
        .to_owned()
}
