//! Values the store did not write for this credential and key are ignored, refetched and
//! overwritten: tampered ciphertext, another client's value, a value copied from another key,
//! garbage bytes, other Redis types, oversized values.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokensource_core::store::TokenStore;
use tokensource_core::{CachedTokenSource, TokenSource};
use tokensource_redis::RedisTokenStore;

use crate::support::{
    TokenEndpoint, http_source, raw_connection, redis_url, store, token, unique_key,
};

const CLIENT_SECRET: &str = "tamper-client-secret";

async fn raw_get(raw: &mut MultiplexedConnection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query_async(raw).await.unwrap()
}

async fn raw_set(raw: &mut MultiplexedConnection, key: &str, value: &[u8]) {
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(raw)
        .await
        .unwrap();
}

/// A fresh cache (a process starting) over `store` must ignore what is in Redis, fetch, and
/// overwrite it; returns the token it got.
async fn fetch_through_fresh_cache(
    endpoint: &TokenEndpoint,
    store: &RedisTokenStore,
    key: &str,
) -> String {
    let before = endpoint.hits().await;
    let cache = CachedTokenSource::builder(http_source(endpoint.url()))
        .store(Arc::new(store.clone()), key.to_owned())
        .build();
    let got = cache.token().await.expect("a token");
    assert_eq!(
        endpoint.hits().await,
        before + 1,
        "the stored value was not trusted"
    );
    let stored = store
        .get(key)
        .await
        .unwrap()
        .expect("the fetched token was stored");
    assert!(
        stored.same_secret(&got),
        "the fetched token replaced the bad value"
    );
    got.expose_secret().to_owned()
}

#[tokio::test]
async fn untrusted_values_are_ignored_refetched_and_overwritten() {
    let url = redis_url("untrusted_values_are_ignored_refetched_and_overwritten");
    let endpoint = TokenEndpoint::start(Duration::ZERO).await;
    let ours = store(&url, CLIENT_SECRET);
    let key = unique_key("tamper");
    let token_key = ours.token_key(&key);
    let mut raw = raw_connection(&url).await;

    // Garbage bytes.
    raw_set(&mut raw, &token_key, b"\xff\x00garbage\x80").await;
    assert!(ours.get(&key).await.unwrap().is_none());
    assert_eq!(
        fetch_through_fresh_cache(&endpoint, &ours, &key).await,
        "tok-1"
    );

    // One flipped bit in the ciphertext.
    let mut value = raw_get(&mut raw, &token_key).await;
    let last = value.len() - 1;
    value[last - 20] ^= 0x40;
    raw_set(&mut raw, &token_key, &value).await;
    assert!(ours.get(&key).await.unwrap().is_none());
    assert_eq!(
        fetch_through_fresh_cache(&endpoint, &ours, &key).await,
        "tok-2"
    );

    // An edited clear expiry (it is authenticated too).
    let value = raw_get(&mut raw, &token_key).await;
    let text = String::from_utf8_lossy(&value[..24]).into_owned();
    let expiry: String = text["ts2:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let later = (expiry.parse::<u64>().unwrap() + 3_600_000).to_string();
    let mut edited = format!("ts2:{later}").into_bytes();
    edited.extend_from_slice(&value["ts2:".len() + expiry.len()..]);
    raw_set(&mut raw, &token_key, &edited).await;
    assert!(ours.get(&key).await.unwrap().is_none());
    assert_eq!(
        fetch_through_fresh_cache(&endpoint, &ours, &key).await,
        "tok-3"
    );

    // A value written with another client's secret, expiring later than ours will: it is
    // still overwritten, since nothing vouches for it.
    let theirs = store(&url, "another-client-secret");
    theirs
        .put(&key, &token("their-token", Duration::from_secs(7200)))
        .await
        .unwrap();
    assert!(ours.get(&key).await.unwrap().is_none());
    assert_eq!(
        theirs.get(&key).await.unwrap().unwrap().expose_secret(),
        "their-token"
    );
    assert_eq!(
        fetch_through_fresh_cache(&endpoint, &ours, &key).await,
        "tok-4"
    );
    assert!(
        theirs.get(&key).await.unwrap().is_none(),
        "and they cannot read ours"
    );

    // Our own valid value, copied under another credential's key.
    let other_key = unique_key("tamper-other");
    let value = raw_get(&mut raw, &token_key).await;
    raw_set(&mut raw, &ours.token_key(&other_key), &value).await;
    assert!(ours.get(&other_key).await.unwrap().is_none());
    assert_eq!(
        fetch_through_fresh_cache(&endpoint, &ours, &other_key).await,
        "tok-5"
    );

    // Another Redis type under the token key.
    let _: i64 = redis::cmd("DEL")
        .arg(&token_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg(&token_key)
        .arg("x")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(ours.get(&key).await.unwrap().is_none());
    assert_eq!(
        fetch_through_fresh_cache(&endpoint, &ours, &key).await,
        "tok-6"
    );

    // A value far too large to be a token.
    raw_set(&mut raw, &token_key, &vec![b'x'; 2 << 20]).await;
    assert!(ours.get(&key).await.unwrap().is_none());
    assert_eq!(
        fetch_through_fresh_cache(&endpoint, &ours, &key).await,
        "tok-7"
    );

    // Nothing stored reveals a token.
    let value = raw_get(&mut raw, &token_key).await;
    assert!(!String::from_utf8_lossy(&value).contains("tok-7"));
}
