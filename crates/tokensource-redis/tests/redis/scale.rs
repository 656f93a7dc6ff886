//! The fleet protocol at scale on a real Redis of its own, counted with `INFO commandstats`:
//! 50 caches, each with its own store and connections, stand for 50 processes.

use std::sync::Arc;
use std::time::Duration;

use tokensource_core::{CachedTokenSource, RefreshPolicy, TokenSource};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{RedisServer, TokenEndpoint, http_source, raw_connection, store, unique_key};

const CLIENT_SECRET: &str = "scale-client-secret";
const CACHES: usize = 50;

/// Every command the server has run so far (the sum of `INFO commandstats` calls).
async fn commands(url: &str) -> u64 {
    let mut conn = raw_connection(url).await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let stats = line.strip_prefix("cmdstat_")?;
            let calls = stats.split(',').next()?.split('=').nth(1)?;
            calls.parse::<u64>().ok()
        })
        .sum()
}

fn caches(
    url: &str,
    endpoint: &str,
    key: &str,
    policy: &RefreshPolicy,
) -> Vec<CachedTokenSource<impl TokenSource + 'static>> {
    (0..CACHES)
        .map(|_| {
            CachedTokenSource::builder(http_source(endpoint.to_owned()))
                .store(Arc::new(store(url, CLIENT_SECRET)), key.to_owned())
                .policy(policy.clone())
                .build()
        })
        .collect()
}

/// Runs one refresh: every cache asks at once; returns the tokens and the commands it cost.
async fn refresh_all(
    url: &str,
    caches: &[CachedTokenSource<impl TokenSource + 'static>],
) -> (Vec<tokensource_core::Token>, u64) {
    let before = commands(url).await;
    let calls: Vec<_> = caches
        .iter()
        .map(|cache| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.unwrap().expect("a token"));
    }
    // Less the INFO that took the first count.
    let used = commands(url).await - before - 1;
    assert!(tokens.iter().all(|t| t.same_secret(&tokens[0])));
    (tokens, used)
}

/// 50 processes ask at once while the lease holder's fetch takes 2 s: one fetch, and the
/// waiters are woken by the announcement rather than polling: at most about 10 commands each
/// (commands run inside the store's scripts included), from a cold start and again for a later
/// refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_processes_cost_a_few_commands_per_refresh() {
    let server = RedisServer::started("waiting_processes_cost_a_few_commands_per_refresh");
    let url = server.url();
    let endpoint = TokenEndpoint::start(Duration::from_secs(2)).await;
    let key = unique_key("scale_commands");
    let caches = caches(&url, &endpoint.url(), &key, &RefreshPolicy::default());

    // Cold: connecting, subscribing and loading the scripts are part of the cost.
    let (tokens, cold) = refresh_all(&url, &caches).await;
    assert_eq!(endpoint.hits().await, 1, "one fetch for the fleet");

    // The API refuses the token everywhere; after the minimum interval, the fleet refreshes.
    for cache in &caches {
        cache.invalidate(&tokens[0]).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, warm) = refresh_all(&url, &caches).await;
    assert_eq!(endpoint.hits().await, 2, "one fetch for the fleet");

    let per = |n: u64| n as f64 / CACHES as f64;
    eprintln!(
        "Redis commands for one refresh by {CACHES} processes: {cold} from a cold start ({:.1} \
         each), {warm} later ({:.1} each)",
        per(cold),
        per(warm)
    );
    assert!(per(cold) <= 12.0, "{cold} commands from a cold start");
    assert!(per(warm) <= 10.0, "{warm} commands for a later refresh");
}

/// During an outage the fleet sends the endpoint one request per backoff step, not one per
/// process: the failure and the time of the next attempt are shared through Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_costs_the_fleet_one_request_per_backoff_step() {
    let server = RedisServer::started("an_outage_costs_the_fleet_one_request_per_backoff_step");
    let url = server.url();
    let endpoint = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_millis(200)))
        .mount(&endpoint)
        .await;
    let key = unique_key("scale_outage");
    let policy = RefreshPolicy::default()
        .with_max_attempts(1)
        .with_backoff(Duration::from_millis(400), Duration::from_secs(2));
    let caches = caches(&url, &format!("{}/token", endpoint.uri()), &key, &policy);
    // Every process asks every 100 ms for 6 s.
    let tasks: Vec<_> = caches
        .iter()
        .map(|cache| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let mut errors = 0;
                for _ in 0..60 {
                    if cache.token().await.is_err() {
                        errors += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                errors
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap() > 0, "every process saw the outage");
    }
    let requests = endpoint.received_requests().await.unwrap().len();
    // Steps of 0.2-0.4, 0.4-0.8, 0.8-1.6, then 1-2 s, each after a 0.2 s request: at most
    // about 8 in 6 s. Without sharing it would be at least one per process.
    eprintln!("{requests} token requests from {CACHES} processes in a 6 s outage");
    assert!(
        (2..=12).contains(&requests),
        "{requests} token requests from {CACHES} processes in a 6 s outage"
    );
}
