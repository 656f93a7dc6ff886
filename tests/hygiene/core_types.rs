//! The core types: `Token`, `TokenBuilder`, `InvalidToken`, the stored record's errors, the
//! memory store, the cache and the closure and static sources, and the cache's `tracing` events
//! when a source fails.

use std::sync::Arc;
use std::time::Duration;

use tokensource::extend::decode;
use tokensource::store::{MemoryStore, StoreError, TokenStore};
use tokensource::{
    CachedTokenSource, Error, RefreshPolicy, StaticTokenSource, Token, TokenSource, from_fn,
};

use crate::sentinel::{REFRESH, Seen, TOKEN};

fn token() -> Token {
    Token::builder(TOKEN)
        .token_type("bearer")
        .expires_in(Duration::from_secs(3600))
        .refresh_token(REFRESH)
        .scopes(["read", "write"])
        .build()
        .unwrap()
}

#[tokio::test]
async fn tokens_and_sources() {
    let mut seen = Seen::new("core types");
    let builder = Token::builder(TOKEN).refresh_token(REFRESH);
    seen.debug("token builder", &builder);
    let token = token();
    seen.debug("token", &token);
    seen.debug("header", &token.authorization_header());
    seen.debug("refresh token", &token.refresh_token());

    for bad in [
        format!("{TOKEN}\r\nX-Injected: {TOKEN}"),
        format!("{TOKEN} {TOKEN}"),
        format!("{TOKEN}\0"),
        format!("{TOKEN}é"),
        TOKEN.repeat(2000),
    ] {
        let error = Token::builder(bad.as_str())
            .refresh_token(REFRESH)
            .build()
            .unwrap_err();
        seen.error("invalid token", &error);
        // As a provider would report it.
        seen.token_error(
            "invalid response",
            &Error::invalid_response("p", error.to_string()),
        );
    }

    let record = format!(
        r#"{{"v":1,"access_token":"{TOKEN} x","token_type":"Bearer","issued_at_ms":0,"refresh_token":"{REFRESH}"}}"#
    );
    for bytes in [
        record.as_bytes(),
        TOKEN.as_bytes(),
        &record.as_bytes()[..20],
    ] {
        if let Err(error) = decode(bytes) {
            seen.error("decode", &error);
        }
    }
    seen.error("store error", &StoreError::new("cannot write"));

    let store = MemoryStore::new();
    store.put("key", &token).await.unwrap();
    let lease = store
        .try_lease("key", Duration::from_secs(1))
        .await
        .unwrap();
    seen.debug("memory store", &store);
    seen.debug("lease", &lease);

    let fixed = StaticTokenSource::new(token.clone());
    seen.debug("static source", &fixed);
    let closure = from_fn("custom", move || {
        let token = token.clone();
        async move { Ok(token) }
    });
    seen.debug("closure source", &closure);
    let cache = CachedTokenSource::builder(closure).store(Arc::new(store), "key");
    seen.debug("cache builder", &cache);
    let cache = cache.build();
    let fetched = cache.token().await.unwrap();
    seen.debug("cached token", &fetched);
    seen.debug("cache", &cache);
    seen.debug("cached", &cache.cached_token());
    seen.check();
}

#[tokio::test]
async fn failing_sources_through_the_cache() {
    let mut seen = Seen::new("failing sources");
    // A custom source whose error is built from a bad token's description.
    let source = from_fn("custom", || async {
        let error = Token::bearer(format!("{TOKEN}\n")).unwrap_err();
        Err::<Token, _>(Error::invalid_response("custom", error.to_string()))
    });
    let flaky = from_fn("flaky", || async {
        Err::<Token, _>(Error::unavailable("flaky", "HTTP 503").with_status(503))
    });
    let policy = RefreshPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(10));
    for source in [
        Arc::new(source) as Arc<dyn TokenSource>,
        Arc::new(flaky) as Arc<dyn TokenSource>,
    ] {
        let cache = CachedTokenSource::builder(source)
            .policy(policy.clone())
            .build();
        let error = cache.token().await.unwrap_err();
        seen.token_error("cache", &error);
        seen.debug("cache", &cache);
        cache.invalidate(&Token::bearer(TOKEN).unwrap()).await;
    }
    seen.check();
}
