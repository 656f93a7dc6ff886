//! What the Redis tests share: where Redis is, a counting token endpoint, a token source that
//! POSTs to it, a `redis-server` child process, and child test processes.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokensource_core::{CachedTokenSource, Error, RefreshPolicy, Token, TokenSource, from_fn};
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

/// `count` caches, each with its own store (`count` processes), ask at once: returns the
/// tokens' secrets.
pub async fn ask_at_once(
    count: usize,
    stores: impl Fn() -> RedisTokenStore,
    endpoint: &TokenEndpoint,
    key: &str,
) -> Vec<String> {
    let caches: Vec<_> = (0..count)
        .map(|_| {
            CachedTokenSource::builder(http_source(endpoint.url()))
                .store(Arc::new(stores()), key.to_owned())
                .build()
        })
        .collect();
    let calls: Vec<_> = caches
        .iter()
        .map(|cache| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    let mut secrets = Vec::new();
    for call in calls {
        let token = call
            .await
            .unwrap()
            .expect("a token, with or without the store");
        secrets.push(token.expose_secret().to_owned());
    }
    secrets
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

/// What the callers of a fleet saw.
#[derive(Debug, Default)]
pub struct Calls {
    pub ok: AtomicUsize,
    pub errors: AtomicUsize,
    /// Tokens handed out after their expiry (never expected).
    pub expired: AtomicUsize,
}

/// `processes` caches, each with its own store (a process), and two callers each asking for a
/// token every 20 ms until stopped.
pub struct Fleet {
    calls: Arc<Calls>,
    stopped: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    pub fn start(
        processes: usize,
        store: impl Fn() -> RedisTokenStore,
        endpoint: &TokenEndpoint,
        key: &str,
        lifetime: Duration,
        lease_ttl: Duration,
    ) -> Fleet {
        let calls = Arc::new(Calls::default());
        let stopped = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..processes {
            let cache = CachedTokenSource::builder(http_source_lasting(endpoint.url(), lifetime))
                .store(Arc::new(store()), key.to_owned())
                .policy(RefreshPolicy::default().with_lease_ttl(lease_ttl))
                .build();
            for _ in 0..2 {
                let (cache, calls, stopped) =
                    (cache.clone(), Arc::clone(&calls), Arc::clone(&stopped));
                tasks.push(tokio::spawn(async move {
                    while !stopped.load(Ordering::SeqCst) {
                        match cache.token().await {
                            Ok(token) => {
                                calls.ok.fetch_add(1, Ordering::SeqCst);
                                if token.expires_at().is_some_and(|at| at <= SystemTime::now()) {
                                    calls.expired.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            Err(error) => {
                                calls.errors.fetch_add(1, Ordering::SeqCst);
                                eprintln!("token() failed: {error}");
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }));
            }
        }
        Fleet {
            calls,
            stopped,
            tasks,
        }
    }

    pub async fn stop(self) -> Arc<Calls> {
        self.stopped.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("a caller panicked");
        }
        self.calls
    }
}

/// A fleet's run through a failover.
pub struct FailoverOutcome {
    pub calls: Arc<Calls>,
    /// Token endpoint hits: in all, before the failover, once it was over.
    pub hits: usize,
    pub hits_before: usize,
    pub after_failover: usize,
    pub elapsed: Duration,
    /// How long the failover took.
    pub outage: Duration,
}

impl std::fmt::Display for FailoverOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} token endpoint hits in {:?} ({} before the failover, {} once it was over); \
             failover {:?}; {} calls, {} errors",
            self.hits,
            self.elapsed,
            self.hits_before,
            self.after_failover,
            self.outage,
            self.calls.ok.load(Ordering::SeqCst),
            self.calls.errors.load(Ordering::SeqCst),
        )
    }
}

impl FailoverOutcome {
    /// No caller error or expired token, and the single flight kept: at most one extra flight
    /// per lease period of the failover, and sharing again after it.
    pub fn check(&self, processes: usize, lifetime: Duration, lease_ttl: Duration) {
        let calls = &self.calls;
        let (ok, errors, expired) = (
            calls.ok.load(Ordering::SeqCst),
            calls.errors.load(Ordering::SeqCst),
            calls.expired.load(Ordering::SeqCst),
        );
        assert_eq!(
            errors, 0,
            "no caller error while a cached token is valid: {self}"
        );
        assert_eq!(expired, 0, "no expired token handed out: {self}");
        assert!(ok > processes * 2 * 100, "the callers kept calling: {self}");
        // Without a failover the fleet refreshes about every half lifetime (counted as every
        // third, generously, plus the first fetch); a failover may add one flight per lease
        // period it lasts, and one more.
        let normal =
            (self.elapsed.as_secs_f64() / (lifetime.as_secs_f64() / 3.0)).ceil() as usize + 1;
        let extra = (self.outage.as_secs_f64() / lease_ttl.as_secs_f64()).ceil() as usize + 1;
        assert!(
            self.hits <= normal + extra,
            "more than {normal} normal flights and {extra} for the failover: {self}"
        );
        // After the failover, the fleet shares again: at most one flight per third of a
        // lifetime in the last two lifetimes.
        assert!(self.hits - self.after_failover <= 7, "{self}");
    }
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
