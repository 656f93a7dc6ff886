//! The shared stores: the file store and the Redis store, their `Debug`, their errors (a Redis
//! URL holding a password, a folder that cannot be created) and the cache's `tracing` events when
//! the store is unavailable.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokensource::file_store::FileStore;
use tokensource::redis::RedisTokenStore;
use tokensource::store::TokenStore;
use tokensource::{CachedTokenSource, RefreshPolicy, Token, TokenSource, from_fn};

use crate::sentinel::{REDIS_PASSWORD, REFRESH, SECRET, Seen, TOKEN};

fn source() -> Arc<dyn TokenSource> {
    Arc::new(from_fn("api", || async {
        Ok(Token::builder(TOKEN)
            .refresh_token(REFRESH)
            .expires_in(Duration::from_secs(3600))
            .build()
            .unwrap())
    }))
}

#[tokio::test]
async fn file_store() {
    let mut seen = Seen::new("file store");
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path().join("cache")).unwrap());
    let cache = CachedTokenSource::builder(source())
        .store(store.clone(), "credential")
        .build();
    let token = cache.token().await.unwrap();
    seen.debug("token", &token);
    seen.debug("file store", &store);
    seen.debug("cache", &cache);
    seen.debug("read back", &store.get("credential").await);

    // A folder that cannot be made: a file is in the way.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let error = FileStore::new(blocker.join("cache")).unwrap_err();
    seen.error("file store error", &error);
    seen.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store() {
    let mut seen = Seen::new("redis store");
    let secret = SecretString::from(SECRET.to_owned());
    // Nothing listens on port 1: every operation fails, and the cache fetches locally.
    let url = format!("redis://user:{REDIS_PASSWORD}@127.0.0.1:1/0");
    let builder = RedisTokenStore::builder(&url, &secret).op_timeout(Duration::from_millis(200));
    seen.debug("redis builder", &builder);
    let store = builder.build().unwrap();
    seen.debug("redis store", &store);
    let store = Arc::new(store);
    seen.debug("get", &store.get("credential").await);
    let token = Token::builder(TOKEN).build().unwrap();
    if let Err(error) = store.put("credential", &token).await {
        seen.error("put", &error);
    }
    let cache = CachedTokenSource::builder(source())
        .store(store.clone(), "credential")
        .policy(RefreshPolicy::default().with_lease_ttl(Duration::from_millis(500)))
        .build();
    let token = cache.token().await.unwrap();
    seen.debug("token", &token);
    seen.debug("cache", &cache);

    for bad in [
        format!("redis://:{REDIS_PASSWORD}@[bad"),
        format!("http://user:{REDIS_PASSWORD}@127.0.0.1:1"),
        REDIS_PASSWORD.to_owned(),
    ] {
        match RedisTokenStore::builder(&bad, &secret).build() {
            Ok(store) => seen.debug("odd redis store", &store),
            Err(error) => seen.token_error("redis url", &error),
        }
    }
    let error = RedisTokenStore::new("redis://127.0.0.1:1", &SecretString::from(String::new()))
        .unwrap_err();
    seen.token_error("empty secret", &error);
    seen.check();
}
