//! Each store operation against a real Redis: put-if-newer, compare-and-delete, the lease, and
//! failing fast (never panicking) when Redis is down, slow or holds something unexpected.

use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime};

use redis::aio::MultiplexedConnection;
use tokensource_core::store::{Lease, TokenStore};
use tokensource_core::{ErrorKind, Token};
use tokensource_redis::RedisTokenStore;

use crate::support::{raw_connection, redis_url, secret, store, token, unique_key};

const CLIENT_SECRET: &str = "store-ops-client-secret";

async fn pttl(raw: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(raw).await.unwrap()
}

fn secret_of(token: Option<Token>) -> Option<String> {
    token.map(|t| t.expose_secret().to_owned())
}

#[tokio::test]
async fn put_keeps_the_token_that_expires_later_and_sets_its_ttl() {
    let url = redis_url("put_keeps_the_token_that_expires_later_and_sets_its_ttl");
    let s = store(&url, CLIENT_SECRET);
    let key = unique_key("put_if_newer");
    let mut raw = raw_connection(&url).await;
    let hour = Duration::from_secs(3600);

    assert!(s.get(&key).await.unwrap().is_none());
    s.put(&key, &token("one-hour", hour)).await.unwrap();
    assert_eq!(
        secret_of(s.get(&key).await.unwrap()).as_deref(),
        Some("one-hour")
    );
    let ttl = pttl(&mut raw, &s.token_key(&key)).await;
    assert!(ttl > 3_500_000 && ttl <= 3_600_000, "ttl {ttl}");

    // Shorter-lived: ignored, even from another store instance (another process).
    let other = store(&url, CLIENT_SECRET);
    other
        .put(&key, &token("ten-minutes", Duration::from_secs(600)))
        .await
        .unwrap();
    assert_eq!(
        secret_of(s.get(&key).await.unwrap()).as_deref(),
        Some("one-hour")
    );

    // Longer-lived: replaces it, with a longer Redis TTL.
    other
        .put(&key, &token("two-hours", 2 * hour))
        .await
        .unwrap();
    assert_eq!(
        secret_of(s.get(&key).await.unwrap()).as_deref(),
        Some("two-hours")
    );
    let ttl = pttl(&mut raw, &s.token_key(&key)).await;
    assert!(ttl > 7_100_000 && ttl <= 7_200_000, "ttl {ttl}");

    // An already expired token is not shared.
    let fresh = unique_key("put_expired");
    let past = SystemTime::now() - 2 * hour;
    let expired = Token::builder("expired")
        .issued_at(past)
        .expires_in(hour)
        .build()
        .unwrap();
    s.put(&fresh, &expired).await.unwrap();
    assert!(s.get(&fresh).await.unwrap().is_none());

    // A token of unknown lifetime lives the assumed lifetime in Redis.
    let assumed = RedisTokenStore::builder(&url, &secret(CLIENT_SECRET))
        .default_lifetime(Duration::from_secs(120))
        .build()
        .unwrap();
    assumed
        .put(&fresh, &Token::bearer("unknown").unwrap())
        .await
        .unwrap();
    let ttl = pttl(&mut raw, &s.token_key(&fresh)).await;
    assert!(ttl > 100_000 && ttl <= 120_000, "ttl {ttl}");

    // Concurrent puts from many stores: the latest expiry wins.
    let key = unique_key("put_concurrent");
    let puts: Vec<_> = (1..=20u64)
        .map(|i| {
            let s = store(&url, CLIENT_SECRET);
            let key = key.clone();
            tokio::spawn(async move {
                let t = token(&format!("t{i}"), Duration::from_secs(60 * i));
                s.put(&key, &t).await
            })
        })
        .collect();
    for put in puts {
        put.await.unwrap().unwrap();
    }
    assert_eq!(
        secret_of(s.get(&key).await.unwrap()).as_deref(),
        Some("t20")
    );
}

#[tokio::test]
async fn remove_deletes_only_the_given_token() {
    let url = redis_url("remove_deletes_only_the_given_token");
    let s = store(&url, CLIENT_SECRET);
    let key = unique_key("remove");
    let stored = token("stored", Duration::from_secs(3600));

    s.remove(&key, &stored).await.unwrap(); // nothing there: fine
    s.put(&key, &stored).await.unwrap();
    s.remove(&key, &token("another", Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(
        secret_of(s.get(&key).await.unwrap()).as_deref(),
        Some("stored")
    );
    // An equal token (same secret, another handle) from another process removes it.
    store(&url, CLIENT_SECRET)
        .remove(&key, &token("stored", Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(s.get(&key).await.unwrap().is_none());

    // Another client's value is not ours to remove, whatever token it holds.
    let theirs = store(&url, "another-client-secret");
    theirs.put(&key, &stored).await.unwrap();
    s.remove(&key, &stored).await.unwrap();
    assert!(theirs.get(&key).await.unwrap().is_some());
}

#[tokio::test]
async fn the_lease_is_exclusive_until_released_or_expired() {
    let url = redis_url("the_lease_is_exclusive_until_released_or_expired");
    let (a, b) = (store(&url, CLIENT_SECRET), store(&url, CLIENT_SECRET));
    let key = unique_key("lease");
    let mut raw = raw_connection(&url).await;
    let ttl = Duration::from_secs(10);

    let first = a.try_lease(&key, ttl).await.unwrap().expect("a free lease");
    assert!(a.try_lease(&key, ttl).await.unwrap().is_none());
    assert!(b.try_lease(&key, ttl).await.unwrap().is_none());
    let left = pttl(&mut raw, &a.lease_key(&key)).await;
    assert!(left > 0 && left <= 10_000, "lease ttl {left}");

    // Releasing someone else's lease does nothing.
    b.release(&key, &Lease::random()).await.unwrap();
    assert!(b.try_lease(&key, ttl).await.unwrap().is_none());

    a.release(&key, &first).await.unwrap();
    let second = b.try_lease(&key, ttl).await.unwrap().expect("released");
    assert_ne!(second, first);
    // The first holder releasing late (after losing the lease) does not free the second's.
    a.release(&key, &first).await.unwrap();
    assert!(a.try_lease(&key, ttl).await.unwrap().is_none());
    b.release(&key, &second).await.unwrap();

    // Many processes at once: exactly one holder.
    let attempts: Vec<_> = (0..32)
        .map(|_| {
            let s = store(&url, CLIENT_SECRET);
            let key = key.clone();
            tokio::spawn(async move { s.try_lease(&key, ttl).await })
        })
        .collect();
    let mut holders = 0;
    for attempt in attempts {
        holders += usize::from(attempt.await.unwrap().unwrap().is_some());
    }
    assert_eq!(holders, 1);

    // A holder that never releases (it died) is replaced once its lease expires.
    let short = unique_key("lease_short");
    let _dead = a
        .try_lease(&short, Duration::from_millis(200))
        .await
        .unwrap()
        .expect("a free lease");
    assert!(b.try_lease(&short, ttl).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(b.try_lease(&short, ttl).await.unwrap().is_some());

    // A zero ttl still takes (and expires) the lease rather than erroring.
    let zero = unique_key("lease_zero");
    assert!(a.try_lease(&zero, Duration::ZERO).await.unwrap().is_some());
}

#[tokio::test]
async fn unexpected_redis_content_never_breaks_the_store() {
    let url = redis_url("unexpected_redis_content_never_breaks_the_store");
    let s = store(&url, CLIENT_SECRET);
    let key = unique_key("hostile");
    let mut raw = raw_connection(&url).await;
    let hash_value = |k: &str| {
        redis::cmd("HSET")
            .arg(k.to_owned())
            .arg("field")
            .arg("value")
            .to_owned()
    };
    let _: i64 = hash_value(&s.token_key(&key))
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: i64 = hash_value(&s.lease_key(&key))
        .query_async(&mut raw)
        .await
        .unwrap();
    let t = token("fine", Duration::from_secs(3600));
    assert!(s.get(&key).await.unwrap().is_none());
    s.remove(&key, &t).await.unwrap();
    // A lease key of another type cannot be taken (the cache then fetches after a while) and
    // releasing does not fail.
    assert!(
        s.try_lease(&key, Duration::from_secs(1))
            .await
            .unwrap()
            .is_none()
    );
    s.release(&key, &Lease::random()).await.unwrap();
    s.put(&key, &t).await.unwrap();
    assert_eq!(
        secret_of(s.get(&key).await.unwrap()).as_deref(),
        Some("fine")
    );
    let _: i64 = redis::cmd("DEL")
        .arg(s.lease_key(&key))
        .query_async(&mut raw)
        .await
        .unwrap();
}

#[tokio::test]
async fn redis_down_or_slow_fails_fast_with_a_store_error() {
    // Down: nothing listens on the port.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down = RedisTokenStore::builder(&format!("redis://127.0.0.1:{closed}"), &secret("s"))
        .op_timeout(Duration::from_millis(300))
        .build()
        .expect("building never connects");
    let t = token("t", Duration::from_secs(60));
    assert!(down.get("k").await.is_err());
    assert!(down.put("k", &t).await.is_err());
    assert!(down.remove("k", &t).await.is_err());
    assert!(down.try_lease("k", Duration::from_secs(1)).await.is_err());
    assert!(down.release("k", &Lease::random()).await.is_err());
    let mut cursor = down.change_cursor("k");
    down.wait_for_change("k", &mut cursor, Duration::from_millis(10))
        .await
        .unwrap();

    // Slow: a server that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let slow = RedisTokenStore::builder(&format!("redis://127.0.0.1:{port}"), &secret("s"))
        .op_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = slow.get("k").await.expect_err("a silent server times out");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert!(slow.try_lease("k", Duration::from_secs(1)).await.is_err());
    // Generous bound: only checks that the timeout applies at all.
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(silent);
}

#[test]
fn building_needs_no_runtime_and_no_server() {
    // Outside any runtime, with nothing listening: building still succeeds at once.
    let store = RedisTokenStore::new("redis://127.0.0.1:1", &secret("s")).unwrap();
    let clone = store.clone();
    drop((store, clone));
}

#[test]
fn configuration_errors_name_the_setting_and_hide_secrets() {
    let error = RedisTokenStore::new("redis://:hunter2@host:notaport", &secret("s")).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert_eq!(error.field(), Some("redis_url"));
    assert!(!format!("{error} {error:?}").contains("hunter2"));

    let error = RedisTokenStore::new("redis://127.0.0.1", &secret("")).unwrap_err();
    assert_eq!(error.field(), Some("credential_secret"));
    let error = RedisTokenStore::builder("redis://127.0.0.1", &secret("s"))
        .op_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), Some("op_timeout"));
    let error = RedisTokenStore::builder("redis://127.0.0.1", &secret("s"))
        .key_prefix("")
        .build()
        .unwrap_err();
    assert_eq!(error.field(), Some("key_prefix"));
}

#[test]
fn debug_shows_no_secrets() {
    let builder = RedisTokenStore::builder(
        "redis://user:hunter2@127.0.0.1:6399/3",
        &secret("s3cr3t-xyz"),
    )
    .key_prefix("myapp:tokens");
    let builder_debug = format!("{builder:?}");
    let store = builder.build().unwrap();
    let debug = format!("{store:?} {builder_debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
    assert!(debug.contains("127.0.0.1:6399/3"), "{debug}");
    assert!(debug.contains("myapp:tokens"), "{debug}");
    assert_eq!(store.token_key("k"), "myapp:tokens:k:token");
    assert_eq!(store.lease_key("k"), "myapp:tokens:k:lease");
}
