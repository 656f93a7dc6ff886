//! The tower layer over real loopback HTTP (wiremock), with reqwest as the inner HTTP client.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode, Uri};
use tokensource::reqwest;
use tokensource::tower::{AuthLayer, AuthRules, AuthService, ConfigError, NoReplay};
use tokensource::{BoxError, Error, ErrorKind, Token, TokenSource, from_fn};
use tower::{Layer, Service, ServiceExt};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::{counting_source, extra_headers, header_str, requests};

/// An HTTP client as a tower service: reqwest behind `http::Request`/`http::Response`, checked
/// to be driven by the book (`poll_ready` before each `call`, on the same instance).
#[derive(Clone, Debug)]
struct HttpClient {
    client: reqwest::Client,
    ready: bool,
    calls: Arc<AtomicUsize>,
}

impl HttpClient {
    fn new() -> Self {
        HttpClient {
            client: reqwest::Client::new(),
            ready: false,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl<B: Into<reqwest::Body>> Service<Request<B>> for HttpClient {
    type Response = Response<reqwest::Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        assert!(
            std::mem::take(&mut self.ready),
            "call without poll_ready on this instance"
        );
        self.calls.fetch_add(1, Ordering::SeqCst);
        let client = self.client.clone();
        let req = reqwest::Request::try_from(req);
        Box::pin(async move {
            let response = client.execute(req?).await?;
            Ok(Response::from(response))
        })
    }
}

fn layer_for(source: Arc<dyn TokenSource>, origin: &str) -> AuthLayer {
    AuthRules::builder(source)
        .extra_headers(extra_headers())
        .allow_origin(origin)
        .unwrap()
        .build()
        .unwrap()
        .layer()
}

async fn send<S, B>(service: &mut S, req: Request<B>) -> Result<S::Response, S::Error>
where
    S: Service<Request<B>>,
{
    service.ready().await?.call(req).await
}

fn get(uri: impl AsRef<str>) -> Request<String> {
    Request::get(uri.as_ref()).body(String::new()).unwrap()
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
    let mut service = layer_for(source, &api.uri()).layer(HttpClient::new());

    let response = send(&mut service, get(format!("{}/x", other.uri())))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 0);
    let seen = &requests(&other).await[0];
    for name in ["authorization", "legal-entity", "api-version"] {
        assert!(seen.headers.get(name).is_none(), "{name} leaked");
    }

    let response = send(&mut service, get(format!("{}/x", api.uri())))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = &requests(&api).await[0];
    assert_eq!(header_str(seen, "authorization"), Some("Bearer token-0"));
    assert_eq!(header_str(seen, "legal-entity"), Some("entity-secret-42"));
    assert_eq!(header_str(seen, "api-version"), Some("2.1"));
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

/// Stands for an inner layer that sends relative requests to the API's base URL.
#[derive(Clone)]
struct BaseUrl<S> {
    base: Uri,
    inner: S,
}

impl<S: Service<Request<String>>> Service<Request<String>> for BaseUrl<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<String>) -> S::Future {
        if req.uri().authority().is_none() {
            let mut parts = self.base.clone().into_parts();
            parts.path_and_query = req.uri().path_and_query().cloned();
            *req.uri_mut() = Uri::from_parts(parts).unwrap();
        }
        self.inner.call(req)
    }
}

#[tokio::test]
async fn relative_uris_get_credentials_only_when_allowed() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&api)
        .await;
    let (source, _) = counting_source();
    let inner = BaseUrl {
        base: api.uri().parse().unwrap(),
        inner: HttpClient::new(),
    };

    let mut refusing = layer_for(Arc::clone(&source), &api.uri()).layer(inner.clone());
    send(&mut refusing, get("/relative")).await.unwrap();
    assert!(
        requests(&api).await[0]
            .headers
            .get("authorization")
            .is_none()
    );

    let rules = AuthRules::builder(source)
        .allow_origin(&api.uri())
        .unwrap()
        .build()
        .unwrap();
    let mut allowing = AuthLayer::builder(rules)
        .allow_relative_uris(true)
        .build()
        .layer(inner);
    send(&mut allowing, get("/relative")).await.unwrap();
    assert_eq!(
        header_str(&requests(&api).await[1], "authorization"),
        Some("Bearer token-0")
    );
}

#[tokio::test]
async fn a_401_is_retried_once_with_a_new_token() {
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
    let client = HttpClient::new();
    let calls = Arc::clone(&client.calls);
    let mut service = layer_for(source, &api.uri()).layer(client);

    let request = Request::post(format!("{}/invoices", api.uri()))
        .body(String::from("payload"))
        .unwrap();
    let response = send(&mut service, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let seen = requests(&api).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body, b"payload");
    assert_eq!(header_str(&seen[1], "api-version"), Some("2.1"));
}

#[tokio::test]
async fn a_401_for_every_token_is_retried_once_then_returned() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&api)
        .await;
    let (source, fetches) = counting_source();
    let mut service = layer_for(source, &api.uri()).layer(HttpClient::new());

    let response = send(&mut service, get(api.uri())).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(requests(&api).await.len(), 2, "exactly one retry");
}

#[tokio::test]
async fn bodies_that_cannot_be_replayed_are_not_retried() {
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
    // `reqwest::Body` is not `Clone`: copy it when it is bytes, give up when it is a stream.
    let replay = |body: &reqwest::Body| body.as_bytes().map(|b| reqwest::Body::from(b.to_vec()));
    let rules = AuthRules::builder(Arc::clone(&source))
        .allow_origin(&api.uri())
        .unwrap()
        .build()
        .unwrap();
    let mut service = AuthLayer::builder(rules)
        .replay_body(replay)
        .build()
        .layer(HttpClient::new());

    let streamed = Request::post(api.uri())
        .body(reqwest::Body::wrap(String::from("streamed")))
        .unwrap();
    let response = send(&mut service, streamed).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(requests(&api).await.len(), 1, "no retry");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // The token was invalidated: the next request gets token-1.
    let bytes = Request::post(api.uri())
        .body(reqwest::Body::from("bytes"))
        .unwrap();
    let response = send(&mut service, bytes).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn no_replay_never_retries() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&api)
        .await;
    let (source, fetches) = counting_source();
    let rules = AuthRules::builder(source)
        .allow_origin(&api.uri())
        .unwrap()
        .build()
        .unwrap();
    let mut service = AuthLayer::builder(rules)
        .replay_body(NoReplay)
        .build()
        .layer(HttpClient::new());

    let response = send(&mut service, get(api.uri())).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(requests(&api).await.len(), 1);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    send(&mut service, get(api.uri())).await.unwrap();
    let seen = requests(&api).await;
    assert_eq!(
        header_str(&seen[1], "authorization"),
        Some("Bearer token-1")
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn token_errors_surface_as_boxed_errors() {
    let api = MockServer::start().await;
    let source = Arc::new(from_fn("failing", || async {
        Err(Error::unavailable("failing", "connection refused"))
    }));
    let mut service = layer_for(source, &api.uri()).layer(HttpClient::new());

    let err = send(&mut service, get(api.uri())).await.unwrap_err();
    let token_err = err.downcast_ref::<Error>().expect("a tokensource::Error");
    assert_eq!(token_err.kind(), ErrorKind::Unavailable);
    assert!(requests(&api).await.is_empty());
}

#[test]
fn building_needs_an_origin_and_debug_shows_no_secret() {
    let source: Arc<dyn TokenSource> = Arc::new(tokensource::StaticTokenSource::new(
        Token::bearer("s3cr3t-token").unwrap(),
    ));
    // Relative URIs are a layer setting; the rules still need an origin.
    let err = AuthRules::builder(Arc::clone(&source)).build().unwrap_err();
    assert_eq!(err, ConfigError::NoAllowedOrigin);

    let layer = AuthRules::builder(source)
        .extra_headers(extra_headers())
        .allow_origin("https://api.younium.com")
        .unwrap()
        .build()
        .unwrap()
        .layer();
    let service: AuthService<HttpClient> = layer.layer(HttpClient::new());
    for shown in [format!("{layer:?}"), format!("{service:?}")] {
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(!shown.contains("entity-secret-42"), "{shown}");
    }
}
