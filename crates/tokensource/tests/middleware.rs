//! The reqwest middleware over real loopback HTTP (wiremock).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokensource::middleware::{AuthRules, ConfigError, token_error};
use tokensource::reqwest::{Body, Client, StatusCode};
use tokensource::reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tokensource::{
    CachedTokenSource, Error, ErrorKind, RefreshPolicy, StaticTokenSource, Token, TokenSource,
    from_fn,
};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::{counting_source, extra_headers, header_str, requests};

fn client_for(source: Arc<dyn TokenSource>, origin: &str) -> ClientWithMiddleware {
    let auth = AuthRules::builder(source)
        .extra_headers(extra_headers())
        .allow_origin(origin)
        .unwrap()
        .build()
        .unwrap()
        .middleware();
    ClientBuilder::new(Client::new()).with(auth).build()
}

#[tokio::test]
async fn credentials_go_to_the_allowed_origin_only() {
    let api = MockServer::start().await;
    let other = MockServer::start().await;
    for server in [&api, &other] {
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .mount(server)
            .await;
    }
    let (source, fetches) = counting_source();
    let client = client_for(source, &api.uri());

    let response = client
        .get(format!("{}/x", other.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        0,
        "no token for another origin"
    );
    let seen = &requests(&other).await[0];
    for name in ["authorization", "legal-entity", "api-version"] {
        assert!(
            seen.headers.get(name).is_none(),
            "{name} leaked to another origin"
        );
    }

    let response = client.get(format!("{}/x", api.uri())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = &requests(&api).await[0];
    assert_eq!(header_str(seen, "authorization"), Some("Bearer token-0"));
    assert_eq!(header_str(seen, "legal-entity"), Some("entity-secret-42"));
    assert_eq!(header_str(seen, "api-version"), Some("2.1"));

    // The same server under another host name is another origin.
    let other_host_name = format!("http://localhost:{}/x", api.address().port());
    client.get(other_host_name).send().await.unwrap();
    let seen = &requests(&api).await[1];
    assert!(seen.headers.get("authorization").is_none());
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn request_headers_override_extras_but_not_authorization() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&api)
        .await;
    let (source, _) = counting_source();
    let client = client_for(source, &api.uri());

    client
        .get(api.uri())
        .header("api-version", "3.0")
        .header("authorization", "Bearer stale")
        .send()
        .await
        .unwrap();
    let seen = &requests(&api).await[0];
    let versions: Vec<_> = seen.headers.get_all("api-version").iter().collect();
    assert_eq!(versions, ["3.0"]);
    let auth: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(auth, ["Bearer token-0"]);
}

#[tokio::test]
async fn a_401_is_retried_once_with_a_new_token() {
    let api = MockServer::start().await;
    Mock::given(header("authorization", "Bearer token-0"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&api)
        .await;
    Mock::given(header("authorization", "Bearer token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_string("hello"))
        .mount(&api)
        .await;
    let (source, fetches) = counting_source();
    let client = client_for(source, &api.uri());

    let response = client
        .post(format!("{}/invoices", api.uri()))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "hello");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let seen = requests(&api).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body, b"payload");
    assert_eq!(
        header_str(&seen[1], "legal-entity"),
        Some("entity-secret-42")
    );

    // The new token is cached: the next request uses it without a fetch.
    let response = client.get(api.uri()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_401_for_every_token_is_retried_once_then_returned() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&api)
        .await;
    let (source, fetches) = counting_source();
    let client = client_for(source, &api.uri());

    let response = client.get(api.uri()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let seen = requests(&api).await;
    assert_eq!(seen.len(), 2, "exactly one retry");
    assert_eq!(
        header_str(&seen[0], "authorization"),
        Some("Bearer token-0")
    );
    assert_eq!(
        header_str(&seen[1], "authorization"),
        Some("Bearer token-1")
    );
}

#[tokio::test]
async fn a_streaming_body_is_not_retried_but_the_token_is_invalidated() {
    let api = MockServer::start().await;
    Mock::given(header("authorization", "Bearer token-0"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&api)
        .await;
    Mock::given(header("authorization", "Bearer token-1"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&api)
        .await;
    let (source, fetches) = counting_source();
    let client = client_for(source, &api.uri());

    // `Body::wrap` makes a streaming body, which `Request::try_clone` cannot copy.
    let body = Body::wrap(String::from("streamed"));
    let response = client.post(api.uri()).body(body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(requests(&api).await.len(), 1, "no retry");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    let response = client.get(api.uri()).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the next request has a new token"
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_same_token_after_invalidation_is_not_retried() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&api)
        .await;
    let source = Arc::new(StaticTokenSource::new(Token::bearer("api-key").unwrap()));
    let client = client_for(source, &api.uri());

    let response = client.get(api.uri()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(requests(&api).await.len(), 1);
}

#[tokio::test]
async fn token_errors_surface_as_middleware_errors() {
    let api = MockServer::start().await;
    let source = Arc::new(from_fn("failing", || async {
        Err(Error::credentials_rejected(
            "failing",
            401,
            Some("bad secret".into()),
        ))
    }));
    let client = client_for(source, &api.uri());

    let err = client.get(api.uri()).send().await.unwrap_err();
    assert!(err.is_middleware());
    let token_err = token_error(&err).expect("a tokensource::Error");
    assert_eq!(token_err.kind(), ErrorKind::CredentialsRejected);
    // The documented way without the helper: downcast the wrapped anyhow error.
    let tokensource::reqwest_middleware::Error::Middleware(inner) = &err else {
        panic!("not a middleware error: {err}");
    };
    assert!(inner.downcast_ref::<Error>().is_some());
    assert!(
        requests(&api).await.is_empty(),
        "nothing sent without a token"
    );
}

#[tokio::test]
async fn a_failed_refetch_after_a_401_is_an_error() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&api)
        .await;
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let source = CachedTokenSource::builder(from_fn("flaky", move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Token::builder("first")
                    .expires_in(Duration::from_secs(3600))
                    .build()
                    .map_err(Error::from)
            } else {
                Err(Error::credentials_rejected("flaky", 400, None))
            }
        }
    }))
    .policy(RefreshPolicy::default().with_min_interval(Duration::ZERO))
    .build();
    let client = client_for(Arc::new(source), &api.uri());

    let err = client.get(api.uri()).send().await.unwrap_err();
    assert_eq!(
        token_error(&err).map(Error::kind),
        Some(ErrorKind::CredentialsRejected)
    );
    assert_eq!(requests(&api).await.len(), 1);
}

#[tokio::test]
async fn a_redirect_to_another_origin_drops_authorization() {
    let api = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", format!("{}/landed", other.uri())),
        )
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&other)
        .await;
    let (source, _) = counting_source();
    let client = client_for(source, &api.uri());

    let response = client.get(api.uri()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_str(&requests(&api).await[0], "authorization"),
        Some("Bearer token-0")
    );
    let landed = &requests(&other).await[0];
    assert!(landed.headers.get("authorization").is_none());
}

#[test]
fn building_needs_a_valid_secure_origin() {
    let source: Arc<dyn TokenSource> =
        Arc::new(StaticTokenSource::new(Token::bearer("k").unwrap()));
    let builder = || AuthRules::builder(Arc::clone(&source));

    assert_eq!(builder().build().unwrap_err(), ConfigError::NoAllowedOrigin);
    for bad in [
        "not a url",
        "https://api.example.com/v2?key=1",
        "ftp://example.com",
    ] {
        assert!(matches!(
            builder().allow_origin(bad).unwrap_err(),
            ConfigError::InvalidOrigin { .. }
        ));
    }
    // An API base URL with a path names its origin.
    let base = builder()
        .allow_origin("https://api.example.com/v2")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(base.origins()[0].to_string(), "https://api.example.com");
    let insecure = builder().allow_origin("http://api.example.com").unwrap();
    assert!(matches!(
        insecure.build().unwrap_err(),
        ConfigError::InsecureOrigin { .. }
    ));
    builder()
        .allow_origin("http://api.example.com")
        .unwrap()
        .allow_insecure_http(true)
        .build()
        .unwrap();
    builder()
        .allow_origin("http://127.0.0.1:8080")
        .unwrap()
        .build()
        .unwrap();

    let as_error: Error = ConfigError::NoAllowedOrigin.into();
    assert_eq!(as_error.kind(), ErrorKind::Configuration);
}

#[test]
fn debug_shows_no_secret() {
    let source: Arc<dyn TokenSource> = Arc::new(StaticTokenSource::new(
        Token::bearer("s3cr3t-token").unwrap(),
    ));
    let builder = AuthRules::builder(source)
        .extra_headers(extra_headers())
        .allow_origin("https://api.younium.com")
        .unwrap();
    let builder_debug = format!("{builder:?}");
    let middleware = builder.build().unwrap().middleware();
    let debug = format!("{middleware:?}");
    for shown in [&debug, &builder_debug] {
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(!shown.contains("entity-secret-42"), "{shown}");
        assert!(shown.contains("legal-entity"), "{shown}");
        assert!(shown.contains("https://api.younium.com"), "{shown}");
    }
}
