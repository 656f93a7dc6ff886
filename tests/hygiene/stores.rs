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

/// Cluster and Sentinel stores whose URLs hold the password, and TLS settings whose files hold
/// a secret key: `Debug`, every operation's error when nothing answers, and every building
/// error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_redis_stores() {
    let mut seen = Seen::new("managed redis stores");
    let secret = SecretString::from(SECRET.to_owned());
    let urls = || {
        [
            format!("redis://user:{REDIS_PASSWORD}@127.0.0.1:1/0"),
            format!("redis://user:{REDIS_PASSWORD}@127.0.0.1:2/0"),
        ]
    };
    let builders = [
        RedisTokenStore::cluster_builder(urls(), &secret),
        RedisTokenStore::sentinel_builder(urls(), "mymaster", &secret),
    ];
    for builder in builders {
        let builder = builder.op_timeout(Duration::from_millis(200));
        seen.debug("managed redis builder", &builder);
        let store = Arc::new(builder.build().unwrap());
        seen.debug("managed redis store", &store);
        match store.get("credential").await {
            Ok(found) => seen.debug("get", &found),
            Err(error) => seen.error("get", &error),
        }
        let token = Token::builder(TOKEN).build().unwrap();
        if let Err(error) = store.put("credential", &token).await {
            seen.error("put", &error);
        }
        let cache = CachedTokenSource::builder(source())
            .store(store.clone(), "credential")
            .policy(RefreshPolicy::default().with_lease_ttl(Duration::from_millis(500)))
            .build();
        seen.debug("token", &cache.token().await.unwrap());
    }
    for bad in [
        [
            format!("redis://:{REDIS_PASSWORD}@[bad"),
            "redis://127.0.0.1:1".to_owned(),
        ],
        [
            format!("rediss://:{REDIS_PASSWORD}@127.0.0.1:1"),
            format!("redis://:{REDIS_PASSWORD}@127.0.0.1:2"),
        ],
    ] {
        match RedisTokenStore::cluster_builder(bad.clone(), &secret).build() {
            Ok(store) => seen.debug("odd cluster store", &store),
            Err(error) => seen.token_error("cluster urls", &error),
        }
        match RedisTokenStore::sentinel_builder(bad, "m", &secret).build() {
            Ok(store) => seen.debug("odd sentinel store", &store),
            Err(error) => seen.token_error("sentinel urls", &error),
        }
    }

    // A "key" file whose content is the secret, and one that is a well-formed PEM block of it.
    let dir = tempfile::tempdir().unwrap();
    let raw_key = dir.path().join("raw.key");
    std::fs::write(&raw_key, SECRET).unwrap();
    let pem_key = dir.path().join("pem.key");
    std::fs::write(
        &pem_key,
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, SECRET)
        ),
    )
    .unwrap();
    let pki = tokensource_testkit::tls::TestPki::new();
    for key in [&raw_key, &pem_key] {
        let builder =
            RedisTokenStore::builder(&format!("rediss://:{REDIS_PASSWORD}@localhost:1"), &secret)
                .ca_file(key)
                .client_identity_files(pki.client_cert_file(), key);
        seen.debug("tls builder", &builder);
        let error = builder.build().unwrap_err();
        seen.token_error("tls files", &error);
        let error = RedisTokenStore::builder("rediss://localhost:1", &secret)
            .client_identity(
                std::fs::read(pki.client_cert_file()).unwrap(),
                std::fs::read(key).unwrap(),
            )
            .build()
            .unwrap_err();
        seen.token_error("tls pem", &error);
    }
    seen.check();
}
