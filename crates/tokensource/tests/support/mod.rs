//! What the middleware and tower layer tests share: a counting token source, the extra headers,
//! and reading what a wiremock server received.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokensource::{CachedTokenSource, Error, RefreshPolicy, Token, TokenSource, from_fn};

/// A cached source whose fetches yield `token-0`, `token-1`, ... and are counted.
pub fn counting_source() -> (Arc<dyn TokenSource>, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let source = from_fn("test", move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            Token::builder(format!("token-{n}"))
                .expires_in(Duration::from_secs(3600))
                .build()
                .map_err(Error::from)
        }
    });
    let cached = CachedTokenSource::builder(source)
        .policy(RefreshPolicy::default().with_min_interval(Duration::ZERO))
        .build();
    (Arc::new(cached), fetches)
}

/// The provider headers both integrations must add (Younium's, with a secret-looking value).
pub fn extra_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "legal-entity",
        http::HeaderValue::from_static("entity-secret-42"),
    );
    headers.insert("api-version", http::HeaderValue::from_static("2.1"));
    headers
}

/// Every request `server` received so far.
pub async fn requests(server: &wiremock::MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

/// A request header as text.
pub fn header_str<'a>(request: &'a wiremock::Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}
