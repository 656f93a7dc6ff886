//! Redis going away and coming back, with a `redis-server` this test starts and kills.

use std::sync::Arc;
use std::time::Duration;

use tokensource_core::{CachedTokenSource, RefreshPolicy, Token, TokenSource};

use crate::support::{RedisServer, TokenEndpoint, free_port, http_source, store, unique_key};

const CLIENT_SECRET: &str = "outage-client-secret";

/// Two caches with their own store connections stand for two processes.
fn cache(url: &str, endpoint: &str, key: &str) -> CachedTokenSource<impl TokenSource + 'static> {
    CachedTokenSource::builder(http_source(endpoint.to_owned()))
        .store(Arc::new(store(url, CLIENT_SECRET)), key.to_owned())
        // Refetch at once after an invalidation: this test forces refreshes that way.
        .policy(RefreshPolicy::default().with_min_interval(Duration::ZERO))
        .build()
}

/// Drops `token` and gets the next one, as after an HTTP 401.
async fn refresh(cache: &CachedTokenSource<impl TokenSource + 'static>, token: &Token) -> Token {
    cache.invalidate(token).await;
    cache.token().await.expect("a token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_to_local_fetches_and_sharing_resumes() {
    RedisServer::require("redis_outage_falls_back_to_local_fetches_and_sharing_resumes");
    let endpoint = TokenEndpoint::start(Duration::ZERO).await;
    let mut server = RedisServer::stopped(free_port());
    let key = unique_key("outage");

    // Redis is down when the processes start: building works, and so does token().
    let a = cache(&server.url(), &endpoint.url(), &key);
    let b = cache(&server.url(), &endpoint.url(), &key);
    let t1 = a.token().await.expect("a token while Redis is down");
    assert_eq!(endpoint.hits().await, 1);

    // Redis comes up: one fetch, shared.
    server.start();
    let t2 = refresh(&a, &t1).await;
    let from_b = b.token().await.unwrap();
    assert!(from_b.same_secret(&t2), "b reads a's token");
    assert_eq!(endpoint.hits().await, 2);

    // Redis goes away mid-run: each process fetches for itself, and all its callers get tokens.
    server.kill();
    a.invalidate(&t2).await;
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let a = a.clone();
            tokio::spawn(async move { a.token().await })
        })
        .collect();
    let mut t3 = None;
    for call in calls {
        let token = call.await.unwrap().expect("a token while Redis is down");
        assert!(t3.get_or_insert_with(|| token.clone()).same_secret(&token));
    }
    let t3 = t3.unwrap();
    let t4 = refresh(&b, &t2).await;
    assert!(
        !t3.same_secret(&t4),
        "without Redis, each process fetched its own"
    );
    assert_eq!(endpoint.hits().await, 4);

    // Redis is back (empty): sharing resumes with the next refresh.
    server.start();
    let t5 = refresh(&a, &t3).await;
    assert_eq!(endpoint.hits().await, 5);
    let t6 = refresh(&b, &t4).await;
    assert!(t6.same_secret(&t5), "b reads a's token again");
    assert_eq!(endpoint.hits().await, 5);
}
