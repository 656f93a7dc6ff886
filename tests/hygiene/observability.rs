//! The cache's and the HTTP integrations' reports on their observability paths: the fetch span
//! and its fields, refresh ahead, invalidation and a 401 replay by the tower layer, with sentinel
//! tokens (metric labels included, checked by [`Seen::check`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response};
use tokensource::clock::TokioClock;
use tokensource::rules::AuthRules;
use tokensource::{CachedTokenSource, Token, TokenSource, from_fn};
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::sentinel::{CLIENT_ID, REFRESH, Seen, TOKEN};

#[tokio::test(start_paused = true)]
async fn observed_paths() {
    let mut seen = Seen::new("observed paths");
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    // Each fetch a new sentinel token, living 100 s.
    let cache = Arc::new(
        CachedTokenSource::builder(from_fn("hygiene", move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(Token::builder(format!("{TOKEN}-{n}"))
                    .refresh_token(REFRESH)
                    .expires_in(Duration::from_secs(100))
                    .build()?)
            }
        }))
        .provider(CLIENT_ID)
        .clock(TokioClock::new())
        .build(),
    );
    seen.debug("cache", &cache);
    let first = cache.token().await.unwrap();

    // Refresh ahead: the cached token is served, the new one fetched in the background.
    tokio::time::sleep(Duration::from_secs(50)).await;
    cache.token().await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    // An API refuses the token the tower layer sends first: invalidated, replayed once.
    let source: Arc<dyn TokenSource> = cache.clone();
    let refused = cache.token().await.unwrap();
    assert!(!refused.same_secret(&first));
    let refused = refused.expose_secret().to_owned();
    let api = service_fn(move |request: Request<String>| {
        let refused = format!("Bearer {refused}");
        async move {
            let status = if request.headers()["authorization"] == refused.as_str() {
                401
            } else {
                200
            };
            Ok::<_, Infallible>(
                Response::builder()
                    .status(status)
                    .body(String::new())
                    .unwrap(),
            )
        }
    });
    let mut service = AuthRules::builder(source)
        .allow_origin("https://api.example.com")
        .unwrap()
        .build()
        .unwrap()
        .layer()
        .layer(api);
    let request = Request::get("https://api.example.com/items")
        .body(String::new())
        .unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
    seen.debug("response", &response);
    seen.debug("cache after use", &cache);
    seen.check();
}
