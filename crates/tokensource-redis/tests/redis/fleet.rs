//! Several OS processes (this test binary, started again) sharing one token through Redis.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokensource_core::store::TokenStore;
use tokensource_core::{CachedTokenSource, RefreshPolicy, TokenSource};

use crate::support::{
    CHILD_VAR, TokenEndpoint, child_result, http_source, raw_connection, redis_url, secret,
    spawn_child, store, unique_key,
};

const CHILD_TEST: &str = "fleet::child_worker";
const CLIENT_SECRET: &str = "fleet-client-secret";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a child process is told.
struct ChildConfig<'a> {
    endpoint: &'a str,
    redis: &'a str,
    key: &'a str,
    tasks: usize,
    lease_ttl: Duration,
    /// Wall-clock time (Unix ms) at which the tasks start, so that processes race; 0: at once.
    start_at_ms: u64,
}

impl ChildConfig<'_> {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TS_ENDPOINT", self.endpoint.to_owned()),
            ("TS_REDIS", self.redis.to_owned()),
            ("TS_KEY", self.key.to_owned()),
            ("TS_SECRET", CLIENT_SECRET.to_owned()),
            ("TS_TASKS", self.tasks.to_string()),
            ("TS_LEASE_MS", self.lease_ttl.as_millis().to_string()),
            ("TS_START_AT_MS", self.start_at_ms.to_string()),
        ]
    }
}

/// The body of a child process: `TS_TASKS` tasks call `token()` on one cache backed by Redis,
/// then the process prints `CHILD-RESULT ok=<n> err=<n> tokens=<distinct tokens>`.
#[test]
#[ignore = "runs only as a child process of the fleet tests"]
fn child_worker() {
    if std::env::var_os(CHILD_VAR).is_none() {
        eprintln!("child_worker runs only as a child process of the fleet tests");
        return;
    }
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let (endpoint, redis, key) = (var("TS_ENDPOINT"), var("TS_REDIS"), var("TS_KEY"));
    let tasks: usize = var("TS_TASKS").parse().unwrap();
    let lease_ttl = Duration::from_millis(var("TS_LEASE_MS").parse().unwrap());
    let start_at_ms: u64 = var("TS_START_AT_MS").parse().unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = tokensource_redis::RedisTokenStore::new(&redis, &secret(CLIENT_SECRET))
            .expect("valid store configuration");
        let cache = CachedTokenSource::builder(http_source(endpoint))
            .store(Arc::new(store), key)
            .policy(RefreshPolicy::default().with_lease_ttl(lease_ttl))
            .build();
        let wait = start_at_ms.saturating_sub(unix_ms());
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.token().await })
            })
            .collect();
        let (mut ok, mut err, mut tokens) = (0, 0, BTreeSet::new());
        for handle in handles {
            match handle.await.expect("task panicked") {
                Ok(token) => {
                    ok += 1;
                    tokens.insert(token.expose_secret().to_owned());
                }
                Err(error) => {
                    err += 1;
                    eprintln!("token() failed: {error}");
                }
            }
        }
        let tokens: Vec<_> = tokens.into_iter().collect();
        println!("CHILD-RESULT ok={ok} err={err} tokens={}", tokens.join(","));
    });
}

/// Four processes with 100 tasks each start together on a cold cache: one fetch in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_share_one_fetch() {
    let redis = redis_url("four_processes_share_one_fetch");
    // A slow endpoint keeps the race open: every process asks while the first fetch runs.
    let endpoint = TokenEndpoint::start(Duration::from_millis(300)).await;
    let key = unique_key("four_processes_share_one_fetch");
    let config = ChildConfig {
        endpoint: &endpoint.url(),
        redis: &redis,
        key: &key,
        tasks: 100,
        lease_ttl: Duration::from_secs(30),
        start_at_ms: unix_ms() + 1500,
    };
    let env = config.env();
    let children: Vec<_> = (0..4)
        .map(|i| spawn_child(CHILD_TEST, &format!("worker-{i}"), &env))
        .collect();
    let results = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|child| child_result(child, Duration::from_secs(30)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();

    for result in &results {
        assert_eq!(result, "ok=100 err=0 tokens=tok-1", "{results:?}");
    }
    assert_eq!(endpoint.hits().await, 1, "token endpoint hits");
}

/// The lease holder hangs in its fetch and is killed: another process takes over once the
/// lease expires, and stores its token for everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_lease_holder_is_replaced_after_the_lease_ttl() {
    let redis = redis_url("killed_lease_holder_is_replaced_after_the_lease_ttl");
    let endpoint = TokenEndpoint::start_hanging_first(Duration::from_millis(10)).await;
    let key = unique_key("killed_lease_holder");
    let url = endpoint.url();
    let config = |tasks| ChildConfig {
        endpoint: &url,
        redis: &redis,
        key: &key,
        tasks,
        lease_ttl: Duration::from_secs(2),
        start_at_ms: 0,
    };

    let mut holder = spawn_child(CHILD_TEST, "holder", &config(10).env());
    endpoint.wait_for_hits(1, Duration::from_secs(20)).await;
    holder.kill().unwrap();
    holder.wait().unwrap();

    // The dead holder's lease is still there: the successor must wait it out.
    let checker = store(&redis, CLIENT_SECRET);
    let mut raw = raw_connection(&redis).await;
    let lease_held: bool = redis::cmd("EXISTS")
        .arg(checker.lease_key(&key))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(lease_held, "the killed holder's lease should still be held");

    let successor = spawn_child(CHILD_TEST, "successor", &config(100).env());
    let result =
        tokio::task::spawn_blocking(move || child_result(successor, Duration::from_secs(30)))
            .await
            .unwrap();
    assert_eq!(result, "ok=100 err=0 tokens=tok-2");
    assert_eq!(endpoint.hits().await, 2, "token endpoint hits");
    // It fetched under the lease and stored the token (the give-up path would not store it).
    let stored = checker.get(&key).await.unwrap().expect("a stored token");
    assert_eq!(stored.expose_secret(), "tok-2");
    // And a later process reads it instead of fetching.
    let reader = CachedTokenSource::builder(http_source(url.clone()))
        .store(Arc::new(checker), key.clone())
        .build();
    assert_eq!(reader.token().await.unwrap().expose_secret(), "tok-2");
    assert_eq!(endpoint.hits().await, 2, "token endpoint hits");
}
