//! The fleet protocol's cost, measured: 100 caches (each with its own store and connections,
//! standing for 100 processes) on one Redis.
//!
//! 1. **Redis commands per refresh per process** while the lease holder's fetch takes 2 s, from
//!    `INFO commandstats` (commands run inside the store's scripts included).
//! 2. **Token endpoint requests per backoff step** during an outage (the endpoint answers 503
//!    after 200 ms, for 10 s, while every process asks every 100 ms).
//!
//! Each is measured twice in the same run: with the Redis store as it is (change announcements
//! and a shared failure record), and through a wrapper that hides both (waiters poll, and every
//! process keeps its own backoff), the baseline.
//!
//! ```sh
//! cargo run --release -p tokensource-redis --example fleet_protocol
//! ```
//!
//! It starts its own `redis-server` on a free loopback port (so that the counts are its own);
//! `redis-server` must be on `PATH`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokensource_core::store::{Lease, StoreError, TokenStore};
use tokensource_core::{CachedTokenSource, Error, RefreshPolicy, Token, TokenSource, from_fn};
use tokensource_redis::{RedisTokenStore, SecretString, credential_key};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const PROCESSES: usize = 100;
const SECRET: &str = "fleet-protocol-example-secret";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

/// The store without its notifications and shared failures: the trait's defaults.
#[derive(Debug)]
struct Baseline(RedisTokenStore);

#[async_trait::async_trait]
impl TokenStore for Baseline {
    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError> {
        self.0.get(key).await
    }
    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        self.0.put(key, token).await
    }
    async fn remove(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        self.0.remove(key, token).await
    }
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        self.0.try_lease(key, ttl).await
    }
    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        self.0.release(key, lease).await
    }
    async fn renew(&self, key: &str, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        self.0.renew(key, lease, ttl).await
    }
}

struct Redis {
    child: Child,
    url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            eprintln!("cannot start redis-server ({e}): install it (apt-get install redis-server)");
            std::process::exit(2)
        });
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..200 {
        if std::net::TcpStream::connect(address).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Redis {
        child,
        url: format!("redis://127.0.0.1:{port}"),
    }
}

async fn commands(url: &str) -> u64 {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let stats = line.strip_prefix("cmdstat_")?;
            stats
                .split(',')
                .next()?
                .split('=')
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn source(url: String) -> impl TokenSource + 'static {
    let client = reqwest::Client::new();
    from_fn("fleet-protocol", move || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let unavailable = |e: reqwest::Error| Error::unavailable("endpoint", e.to_string());
            let response = client.post(&url).send().await.map_err(unavailable)?;
            if !response.status().is_success() {
                return Err(Error::unavailable(
                    "endpoint",
                    format!("HTTP {}", response.status()),
                ));
            }
            Token::builder(format!("tok-{}", rand::random::<u32>()))
                .expires_in(Duration::from_secs(3600))
                .build()
                .map_err(Error::from)
        }
    })
}

fn store(url: &str, baseline: bool) -> Arc<dyn TokenStore> {
    let store = RedisTokenStore::new(url, &SecretString::from(SECRET)).expect("a store");
    if baseline {
        Arc::new(Baseline(store))
    } else {
        Arc::new(store)
    }
}

/// Redis commands per process for a cold refresh and a later one.
async fn commands_per_refresh(baseline: bool) -> (f64, f64) {
    let redis = start_redis();
    let endpoint = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&endpoint)
        .await;
    let key = credential_key("example", &endpoint.uri(), "fleet");
    let caches: Vec<_> = (0..PROCESSES)
        .map(|_| {
            CachedTokenSource::builder(source(format!("{}/token", endpoint.uri())))
                .store(store(&redis.url, baseline), key.clone())
                .build()
        })
        .collect();
    let mut per_refresh = Vec::new();
    for round in 0..2 {
        if round == 1 {
            let token = caches[0].token().await.expect("a token");
            for cache in &caches {
                cache.invalidate(&token).await;
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let before = commands(&redis.url).await;
        let calls: Vec<_> = caches
            .iter()
            .map(|cache| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.token().await })
            })
            .collect();
        for call in calls {
            call.await.expect("a task").expect("a token");
        }
        let used = commands(&redis.url).await - before - 1;
        per_refresh.push(used as f64 / PROCESSES as f64);
    }
    (per_refresh[0], per_refresh[1])
}

/// Endpoint requests, and the fleet's backoff steps, during a 10 s outage.
async fn outage(baseline: bool) -> (usize, u32) {
    let redis = start_redis();
    let endpoint = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_millis(200)))
        .mount(&endpoint)
        .await;
    let key = credential_key("example", &endpoint.uri(), "outage");
    let policy = RefreshPolicy::default()
        .with_max_attempts(1)
        .with_backoff(Duration::from_millis(400), Duration::from_secs(4));
    let tasks: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let cache = CachedTokenSource::builder(source(format!("{}/token", endpoint.uri())))
                .store(store(&redis.url, baseline), key.clone())
                .policy(policy.clone())
                .build();
            tokio::spawn(async move {
                for _ in 0..100 {
                    let _ = cache.token().await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a task");
    }
    let requests = endpoint.received_requests().await.map_or(0, |r| r.len());
    let reader = RedisTokenStore::new(&redis.url, &SecretString::from(SECRET)).unwrap();
    let steps = reader
        .failure(&key)
        .await
        .ok()
        .flatten()
        .map_or(0, |f| f.failures);
    (requests, steps)
}

async fn run() {
    let (cold, warm) = commands_per_refresh(false).await;
    let (base_cold, base_warm) = commands_per_refresh(true).await;
    let (requests, steps) = outage(false).await;
    let (base_requests, _) = outage(true).await;
    // The baseline shares no failure record; its steps are the shared run's (same policy).
    let steps = f64::from(steps.max(1));

    println!("{PROCESSES} caches with their own Redis connections, one loopback Redis.\n");
    println!(
        "| measure | fleet protocol | baseline (no notifications, no shared failures) | ratio |"
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| Redis commands per process, cold refresh (2 s fetch) | {cold:.1} | {base_cold:.1} | {:.1}x fewer |",
        base_cold / cold
    );
    println!(
        "| Redis commands per process, later refresh (2 s fetch) | {warm:.1} | {base_warm:.1} | {:.1}x fewer |",
        base_warm / warm
    );
    println!(
        "| endpoint requests in a 10 s outage | {requests} | {base_requests} | {:.1}x fewer |",
        base_requests as f64 / requests.max(1) as f64
    );
    println!(
        "| endpoint requests per backoff step | {:.2} | {:.2} | |",
        requests as f64 / steps,
        base_requests as f64 / steps
    );
}
