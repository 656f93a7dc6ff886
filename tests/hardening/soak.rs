//! Load and soak: many tasks, many calls, several token lifetimes, flat memory.
//!
//! - Through the cache: 1,000 tasks x 1,000 calls over a test-kit Younium provider whose tokens
//!   live 2 s, spread over about 7 s.
//! - Through the reqwest middleware: 1,000 tasks x 20 requests (CI's default) to a local
//!   protected API ([`LightApi`]) that accepts only live tokens the test kit's token endpoint
//!   issued. `TOKENSOURCE_SOAK_TASKS`, `TOKENSOURCE_SOAK_CALLS` and `TOKENSOURCE_SOAK_SECS` (the
//!   least duration) scale it, up to 1,000 x 1,000:
//!
//!   ```text
//!   TOKENSOURCE_SOAK_CALLS=1000 cargo test --release -p tokensource --all-features \
//!       --test hardening soak -- --nocapture
//!   ```
//!
//! Each asserts no error; one fetch per refresh period crossed (the lifetime less the refresh
//! margin), give or take one; and flat memory (Linux only): a bounded growth of the peak resident
//! size (`VmHWM`) over the run, and a small one of the resident size (`VmRSS`) over its second
//! half. Each prints its figures to standard error directly, past libtest's capture, so that they
//! show in CI logs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokensource::reqwest_middleware::ClientBuilder;
use tokensource::rules::AuthRules;
use tokensource::{CachedTokenSource, HttpOptions, RefreshPolicy, TokenSource};
use tokensource_testkit::MockServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Barrier;

use crate::providers::Provider;
use crate::report;

/// Peak and current resident memory, in KiB, from `/proc/self/status` (`None` elsewhere).
#[derive(Debug, Clone, Copy)]
struct Memory {
    peak_kib: u64,
    current_kib: u64,
}

fn memory() -> Option<Memory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        peak_kib: field("VmHWM:")?,
        current_kib: field("VmRSS:")?,
    })
}

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {value:?}")),
        Err(_) => default,
    }
}

/// How many fetches a run of `elapsed` should make, and the range accepted.
///
/// A token is refreshed once per refresh period (its lifetime less the refresh margin), counted
/// from the end of the previous fetch: `1 + elapsed / period` fetches, give or take one. The
/// lower end also allows each refresh 100 ms to land, so that long runs do not drift out of it.
fn expected_fetches(
    elapsed: Duration,
    lifetime: Duration,
    margin: Duration,
) -> (f64, std::ops::RangeInclusive<usize>) {
    let period = lifetime - margin;
    let periods = elapsed.as_secs_f64() / period.as_secs_f64();
    let at_least = (elapsed.as_secs_f64() / (period + Duration::from_millis(100)).as_secs_f64())
        .floor() as usize;
    let at_most = 2 + periods.floor() as usize;
    (periods, at_least.max(1)..=at_most)
}

/// Resident memory before a run, half way through it (by operations done) and after it.
struct MemoryWatch {
    before: Option<Memory>,
    half: tokio::task::JoinHandle<Option<Memory>>,
}

/// What a [`MemoryWatch`] saw.
struct MemoryFigures {
    before: Option<Memory>,
    half: Option<Memory>,
    after: Option<Memory>,
}

impl MemoryWatch {
    /// Starts watching a run of `total` operations, counted in `done`.
    fn start(done: Arc<AtomicU64>, total: u64) -> MemoryWatch {
        let before = memory();
        let half = tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < total / 2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            memory()
        });
        MemoryWatch { before, half }
    }

    async fn finish(self) -> MemoryFigures {
        MemoryFigures {
            before: self.before,
            half: self.half.await.expect("the memory watch panicked"),
            after: memory(),
        }
    }
}

impl MemoryFigures {
    fn line(&self) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        match (self.before, self.half, self.after) {
            (Some(b), Some(h), Some(a)) => format!(
                "peak RSS {:.1} -> {:.1} MiB (+{:.1}), RSS {:.1} -> {:.1} (half way) -> {:.1} MiB",
                mib(b.peak_kib),
                mib(a.peak_kib),
                mib(a.peak_kib.saturating_sub(b.peak_kib)),
                mib(b.current_kib),
                mib(h.current_kib),
                mib(a.current_kib),
            ),
            _ => "resident memory not available on this system".into(),
        }
    }

    /// Memory is flat: the peak grew by less than `peak_mib` over the run (connections, buffers,
    /// tasks), and the resident size by less than `second_half_mib` over its second half, where
    /// anything kept per call would keep growing it.
    fn assert_flat(&self, peak_mib: u64, second_half_mib: u64) {
        let (Some(before), Some(half), Some(after)) = (self.before, self.half, self.after) else {
            return;
        };
        let peak_growth = after.peak_kib.saturating_sub(before.peak_kib);
        assert!(
            peak_growth < peak_mib * 1024,
            "peak RSS grew by {peak_growth} KiB, over {peak_mib} MiB"
        );
        let late_growth = after.current_kib.saturating_sub(half.current_kib);
        assert!(
            late_growth < second_half_mib * 1024,
            "RSS grew by {late_growth} KiB in the second half of the run, over {second_half_mib} MiB"
        );
    }
}

/// A protected API that keeps nothing per request, for the middleware soak.
///
/// The test kit's own API cannot be soaked: wiremock, which serves it, keeps a copy of every
/// request a mock matched (about 4 KiB each) for as long as the server lives, so a million
/// requests would measure wiremock's memory, not the client's. This one speaks just enough
/// HTTP/1.1 (keep-alive `GET`s) and checks tokens as the test kit does: `200` for a token the
/// test kit's token endpoint issued, first seen less than a lifetime ago; `401` otherwise.
struct LightApi {
    address: SocketAddr,
    refused: Arc<AtomicU64>,
    accept_loop: tokio::task::JoinHandle<()>,
}

struct Tokens {
    issuer: Arc<MockServer>,
    lifetime: Duration,
    first_seen: Mutex<HashMap<String, Instant>>,
}

impl Tokens {
    fn accepts(&self, token: &str) -> bool {
        let mut first_seen = self
            .first_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let since = match first_seen.get(token) {
            Some(at) => *at,
            // A token is first used right after it is issued, when it is still the last one.
            None if self.issuer.last_token().as_deref() == Some(token) => {
                let now = Instant::now();
                first_seen.insert(token.to_owned(), now);
                now
            }
            None => return false,
        };
        since.elapsed() < self.lifetime
    }
}

impl LightApi {
    async fn start(issuer: Arc<MockServer>, lifetime: Duration) -> LightApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let refused = Arc::new(AtomicU64::new(0));
        let tokens = Arc::new(Tokens {
            issuer,
            lifetime,
            first_seen: Mutex::new(HashMap::new()),
        });
        let counter = Arc::clone(&refused);
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (tokens, refused) = (Arc::clone(&tokens), Arc::clone(&counter));
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let mut line = String::new();
                    loop {
                        // One request head: lines up to the blank one.
                        let mut authorized = false;
                        loop {
                            line.clear();
                            match stream.read_line(&mut line).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) => {}
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some((name, value)) = line.split_once(':')
                                && name.eq_ignore_ascii_case("authorization")
                            {
                                authorized = value
                                    .trim()
                                    .strip_prefix("Bearer ")
                                    .is_some_and(|token| tokens.accepts(token));
                            }
                        }
                        let reply: &[u8] = if authorized {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                        } else {
                            refused.fetch_add(1, Ordering::Relaxed);
                            b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer\r\ncontent-length: 0\r\n\r\n"
                        };
                        if stream.get_mut().write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        LightApi {
            address,
            refused,
            accept_loop,
        }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for LightApi {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_calls_through_the_cache() {
    let _alone = crate::EXCLUSIVE.write().await;
    const TASKS: u64 = 1000;
    const CALLS: u64 = 1000;
    const BATCHES: u64 = 20;
    const LIFETIME: Duration = Duration::from_secs(2);
    const MARGIN: Duration = Duration::from_millis(300);
    // 20 batches of 50 calls, 350 ms apart: about 7 s, three and a half lifetimes.
    const BATCH_GAP: Duration = Duration::from_millis(350);

    let provider = Provider::YouniumV1;
    let server = provider.mock(LIFETIME).await;
    let source = provider.source(&server.token_url(), HttpOptions::default());
    let cache = CachedTokenSource::builder(source)
        .policy(RefreshPolicy::default().with_margin(MARGIN))
        .build();
    let errors = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));

    let watch = MemoryWatch::start(Arc::clone(&calls), TASKS * CALLS);
    let barrier = Arc::new(Barrier::new(TASKS as usize));
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (cache, barrier) = (cache.clone(), Arc::clone(&barrier));
            let (errors, calls) = (Arc::clone(&errors), Arc::clone(&calls));
            tokio::spawn(async move {
                barrier.wait().await;
                // Spread the tasks over one gap, so that calls arrive all the time.
                tokio::time::sleep(BATCH_GAP * (task % 35) as u32 / 35).await;
                for batch in 0..BATCHES {
                    if batch > 0 {
                        tokio::time::sleep(BATCH_GAP).await;
                    }
                    for _ in 0..CALLS / BATCHES {
                        match cache.token().await {
                            Ok(token) => assert!(!token.expose_secret().is_empty()),
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a task panicked");
    }
    let elapsed = started.elapsed();
    let memory = watch.finish().await;

    let calls = calls.load(Ordering::SeqCst);
    let errors = errors.load(Ordering::SeqCst);
    let fetches = server.token_hits();
    let (periods, range) = expected_fetches(elapsed, LIFETIME, MARGIN);
    report(&format!(
        "soak (cache): {calls} calls from {TASKS} tasks, {errors} errors, {fetches} fetches, \
         {:.1} lifetimes of {LIFETIME:?} ({periods:.1} refresh periods), {:.1} s, {:.0} calls/s, {}",
        elapsed.as_secs_f64() / LIFETIME.as_secs_f64(),
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64(),
        memory.line(),
    ));
    assert_eq!(calls, TASKS * CALLS);
    assert_eq!(errors, 0);
    assert_eq!(server.tokens_issued(), fetches, "every fetch succeeded");
    assert!(
        range.contains(&fetches),
        "{fetches} fetches in {elapsed:?}, expected {range:?}"
    );
    memory.assert_flat(64, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_through_the_middleware() {
    let _alone = crate::EXCLUSIVE.write().await;
    let tasks = env_or("TOKENSOURCE_SOAK_TASKS", 1000);
    let calls_per_task = env_or("TOKENSOURCE_SOAK_CALLS", 20);
    let min_secs = env_or("TOKENSOURCE_SOAK_SECS", 6);
    const LIFETIME: Duration = Duration::from_secs(3);
    // A whole second of margin: requests in flight with the old token still reach the API
    // before it expires there, even with a thousand connections queued.
    const MARGIN: Duration = Duration::from_secs(1);

    let provider = Provider::Noyo;
    let server = Arc::new(provider.mock(LIFETIME).await);
    let source = provider.source(&server.token_url(), HttpOptions::default());
    let cache: Arc<dyn TokenSource> = Arc::new(
        CachedTokenSource::builder(source)
            .policy(RefreshPolicy::default().with_margin(MARGIN))
            .build(),
    );
    let light = LightApi::start(Arc::clone(&server), LIFETIME).await;
    let auth = AuthRules::builder(cache)
        .allow_origin(&light.origin())
        .expect("the API's origin")
        .build()
        .expect("the middleware")
        .middleware();
    let client = ClientBuilder::new(tokensource::reqwest::Client::new())
        .with(auth)
        .build();
    let api = format!("{}/api/ping", light.origin());
    let failures = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));

    let watch = MemoryWatch::start(Arc::clone(&done), tasks * calls_per_task);
    // Each task paces its calls to last at least `min_secs`, so that lifetimes are crossed.
    let interval = Duration::from_secs(min_secs) / calls_per_task.max(1) as u32;
    let barrier = Arc::new(Barrier::new(tasks as usize));
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let (client, api, barrier) = (client.clone(), api.clone(), Arc::clone(&barrier));
            let (failures, done) = (Arc::clone(&failures), Arc::clone(&done));
            tokio::spawn(async move {
                barrier.wait().await;
                let offset = interval * (task % 50) as u32 / 50;
                let start = tokio::time::Instant::now() + offset;
                for call in 0..calls_per_task {
                    tokio::time::sleep_until(start + interval * call as u32).await;
                    let ok = match client.get(&api).send().await {
                        Ok(response) => response.status().is_success(),
                        Err(_) => false,
                    };
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a task panicked");
    }
    let elapsed = started.elapsed();
    let memory = watch.finish().await;

    let calls = tasks * calls_per_task;
    let failures = failures.load(Ordering::SeqCst);
    let fetches = server.token_hits();
    let rejected = light.refused.load(Ordering::SeqCst);
    let (periods, range) = expected_fetches(elapsed, LIFETIME, MARGIN);
    report(&format!(
        "soak (middleware): {calls} requests from {tasks} tasks, {failures} failures, {rejected} retried after a 401, \
         {fetches} fetches, {:.1} lifetimes of {LIFETIME:?} ({periods:.1} refresh periods), {:.1} s, {:.0} requests/s, {}",
        elapsed.as_secs_f64() / LIFETIME.as_secs_f64(),
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64(),
        memory.line(),
    ));
    assert_eq!(failures, 0, "requests failed");
    // A token is handed out until shortly before it expires (0.3 s of a 3 s lifetime); on an
    // overloaded machine a request can reach the API after that, be refused and be replayed with
    // a fresh token (no failure above). A cache that handed out expired tokens would see a third
    // of the requests refused; a healthy one, none or a few.
    assert!(
        rejected * 20 <= calls,
        "the API refused {rejected} of {calls} tokens the cache handed out"
    );
    assert!(
        range.contains(&fetches),
        "{fetches} fetches in {elapsed:?}, expected {range:?}"
    );
    // A thousand keep-alive connections, with their buffers on both ends (the API is in-process).
    memory.assert_flat(256, 32);
}
