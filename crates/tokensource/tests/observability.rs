//! What the facade reports, against real test-kit servers: a profile's fetches labelled with its
//! provider, a 503 counted as `unavailable` with its status on the span, and 401 replays by the
//! middleware and the tower layer (an event and `tokensource_replays_total`).
//!
//! One trace capture and one metrics recorder for the whole binary (the fetches run on worker
//! threads); each test reads only its own provider's series. `tokensource_replays_total` has no
//! label, so one test makes every replay of this binary, one after the other.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response};
use tokensource::config::{BuildOptions, Config, Registry};
use tokensource::observability::{
    FETCH_DURATION_SECONDS, FETCH_SPAN, FETCHES_TOTAL, REPLAYS_TOTAL,
};
use tokensource::reqwest_middleware::ClientBuilder;
use tokensource::rules::AuthRules;
use tokensource::tower::NoReplay;
use tokensource::younium::YouniumTokenSource;
use tokensource::{CachedTokenSource, RefreshPolicy, Token, TokenSource, from_fn};
use tokensource_testkit::observe::{MetricsRecorder, TraceCapture};
use tokensource_testkit::{Fault, MockServer, YouniumMock};
use tower::{Layer, Service, ServiceExt, service_fn};

const REPLAYING: &str = "the API refused the token (401); replaying the request with a new token";

fn replays() -> u64 {
    MetricsRecorder::global().counter(REPLAYS_TOTAL, &[])
}

fn replay_events(integration: &str) -> usize {
    TraceCapture::global()
        .events()
        .iter()
        .filter(|e| e.message == REPLAYING && e.fields["integration"] == integration)
        .count()
}

/// Neither `secrets` nor any token `server` issued appears in a span, an event or a metric label.
fn assert_nothing_secret_reported(server: &MockServer, secrets: &[&str]) {
    let mut forbidden: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
    forbidden.extend(server.last_token());
    let traced = TraceCapture::global().text();
    let labels = format!("{:?}", MetricsRecorder::global().keys());
    for secret in &forbidden {
        assert!(
            !traced.contains(secret.as_str()),
            "a report holds {secret:?}"
        );
        assert!(
            !labels.contains(secret.as_str()),
            "a label holds {secret:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_labels_its_fetches_with_its_provider_and_a_503_is_unavailable() {
    let (traces, metrics) = (TraceCapture::global(), MetricsRecorder::global());
    let server = MockServer::younium(YouniumMock::new("obs-client", "obs-secret-1"))
        .start()
        .await;
    server.fail_always(Fault::ServerError);
    let config = Config::from_toml(&format!(
        "[profiles.billing]\nprovider = \"younium\"\nclient_id = \"obs-client\"\n\
         secret = \"obs-secret-1\"\ntoken_url = \"{}\"\n",
        server.token_url()
    ))
    .unwrap();
    let options =
        BuildOptions::default().with_policy(RefreshPolicy::default().with_max_attempts(1));
    let profile = config
        .build_with_options("billing", Registry::builtins(), &options)
        .unwrap();

    let error = profile.source().token().await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    let count = |outcome| {
        metrics.counter(
            FETCHES_TOTAL,
            &[("provider", "younium"), ("outcome", outcome)],
        )
    };
    assert_eq!((count("unavailable"), count("ok")), (1, 0));
    assert_eq!(
        metrics
            .histogram(FETCH_DURATION_SECONDS, &[("provider", "younium")])
            .len(),
        1
    );
    let spans: Vec<_> = traces
        .spans_named(FETCH_SPAN)
        .into_iter()
        .filter(|s| s.fields["provider"] == "younium")
        .collect();
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].fields["outcome"], "unavailable");
    assert_eq!(spans[0].fields["status"], "503");

    // Then the endpoint recovers (after the backoff the error is no longer handed out).
    server.clear_faults();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    profile.source().token().await.unwrap();
    assert_eq!((count("unavailable"), count("ok")), (1, 1));
    assert_nothing_secret_reported(&server, &["obs-secret-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_after_a_401_are_counted_by_the_middleware_and_the_tower_layer() {
    TraceCapture::global();
    MetricsRecorder::global();

    // The middleware, against a real server that stops accepting its token.
    let server = MockServer::younium(YouniumMock::new("obs-client", "obs-secret-2"))
        .start()
        .await;
    let source = YouniumTokenSource::builder("obs-client", "obs-secret-2".to_owned())
        .token_url(server.token_url())
        .build()
        .unwrap();
    let cache = CachedTokenSource::builder(source)
        .provider("younium-middleware")
        .build();
    let middleware = AuthRules::builder(Arc::new(cache))
        .allow_origin(&server.uri())
        .unwrap()
        .build()
        .unwrap()
        .middleware();
    let client = ClientBuilder::new(tokensource::reqwest::Client::new())
        .with(middleware)
        .build();
    assert_eq!(
        client.get(server.api_url()).send().await.unwrap().status(),
        200
    );
    let before = (replays(), replay_events("middleware"));
    server.revoke_all();
    assert_eq!(
        client.get(server.api_url()).send().await.unwrap().status(),
        200
    );
    assert_eq!(server.tokens_issued(), 2);
    assert_eq!(
        (replays(), replay_events("middleware")),
        (before.0 + 1, before.1 + 1),
        "one 401, one replay"
    );
    assert_nothing_secret_reported(&server, &["obs-secret-2"]);

    // The tower layer, before a service that refuses the first token it sees.
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let source: Arc<dyn TokenSource> = Arc::new(
        CachedTokenSource::builder(from_fn("tower-test", move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Token::builder(format!("obs-token-{n}")).build()?) }
        }))
        .provider("tower-test")
        .policy(RefreshPolicy::default().with_min_interval(Duration::ZERO))
        .build(),
    );
    let api = service_fn(|request: Request<String>| async move {
        let refused = request.headers()["authorization"] == "Bearer obs-token-0";
        let status = if refused { 401 } else { 200 };
        Ok::<_, Infallible>(
            Response::builder()
                .status(status)
                .body(String::new())
                .unwrap(),
        )
    });
    let rules = AuthRules::builder(source)
        .allow_origin("https://api.example.com")
        .unwrap()
        .build()
        .unwrap();
    let request = || {
        Request::get("https://api.example.com/items")
            .body(String::new())
            .unwrap()
    };

    let before = (replays(), replay_events("tower"));
    let mut service = rules.layer().layer(api);
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(
        (replays(), replay_events("tower")),
        (before.0 + 1, before.1 + 1),
        "one 401, one replay"
    );

    // A 401 that is not replayed (the body cannot be) counts nothing.
    let refusing = service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::builder().status(401).body(String::new()).unwrap())
    });
    let mut service = tokensource::tower::AuthLayer::builder(rules)
        .replay_body(NoReplay)
        .build()
        .layer(refusing);
    let before = replays();
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(replays(), before);
}
