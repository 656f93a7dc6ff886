//! The cache's `tracing` reports: the `tokensource.fetch` span (fields, link to the caller's
//! span), its events (refresh ahead, invalidation, the store's outages), nothing on the hot path,
//! and no token anywhere.
//!
//! One capture for the whole binary ([`TraceCapture::global`]): fetches run in spawned tasks, on
//! worker threads a thread-local subscriber would not see. Each test uses a provider name of its
//! own and reads only what carries it.

mod support;

use std::io;
use std::time::Duration;

use support::{FlakyStore, SECRET_PREFIX, Scripted, Step, fail, one_attempt, retried_twice, token};
use tokensource_core::clock::TokioClock;
use tokensource_core::observability::FETCH_SPAN;
use tokensource_core::{CachedTokenSource, Error, TokenSource};
use tokensource_testkit::observe::{EventRecord, SpanRecord, TraceCapture};
use tracing::{Instrument, Level};

const HOUR: Duration = Duration::from_secs(3600);

fn capture() -> &'static TraceCapture {
    TraceCapture::global()
}

/// The `tokensource.fetch` spans of `provider`, oldest first.
fn fetch_spans(provider: &str) -> Vec<SpanRecord> {
    capture()
        .spans_named(FETCH_SPAN)
        .into_iter()
        .filter(|s| s.fields.get("provider").is_some_and(|p| p == provider))
        .collect()
}

/// The events of `provider` with `message`.
fn events(provider: &str, message: &str) -> Vec<EventRecord> {
    capture()
        .events()
        .into_iter()
        .filter(|e| e.message == message && e.fields.get("provider").is_some_and(|p| p == provider))
        .collect()
}

/// Waits (on tokio's clock) until `provider`'s fetch spans number `count` and have all ended.
async fn flights_done(provider: &str, count: usize) -> Vec<SpanRecord> {
    for _ in 0..1000 {
        let spans = fetch_spans(provider);
        if spans.len() >= count && spans.iter().all(|s| s.closed) {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{provider}: {count} fetch spans never ended: {:?}",
        fetch_spans(provider)
    );
}

/// No token issued by the scripted sources (nor the panic message quoting one) was reported.
fn assert_no_token_reported() {
    capture(); // installed before anything is reported
    let text = capture().text();
    if let Some(line) = text.lines().find(|l| l.contains(SECRET_PREFIX)) {
        panic!("a report holds a token: {line}");
    }
}

fn field<'a>(span: &'a SpanRecord, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_the_caller_waits_for_is_a_child_of_the_callers_span() {
    capture(); // installed before anything is reported
    let provider = "traces-child";
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(HOUR)]))
        .provider(provider)
        .build();
    let caller = tracing::info_span!("caller", test = provider);
    cache.token().instrument(caller.clone()).await.unwrap();
    drop(caller);

    let caller = capture().find_span("caller", "test", provider).unwrap();
    let spans = flights_done(provider, 1).await;
    assert_eq!(spans.len(), 1, "{spans:?}");
    let fetch = &spans[0];
    assert_eq!(fetch.parent, Some(caller.id), "{fetch:?}");
    assert!(fetch.follows_from.is_empty());
    assert_eq!(fetch.level, Level::INFO);
    assert_eq!(field(fetch, "reason"), Some("no_token"));
    assert_eq!(field(fetch, "attempt"), Some("1"));
    assert_eq!(field(fetch, "origin"), Some("provider"));
    assert_eq!(field(fetch, "outcome"), Some("ok"));
    assert_eq!(field(fetch, "status"), None, "a success has no status");
    let duration: u64 = field(fetch, "duration_ms").unwrap().parse().unwrap();
    assert!(duration < 60_000);

    // The attempt's events are inside the span.
    let inside: Vec<_> = capture()
        .events_in(fetch.id)
        .into_iter()
        .map(|e| (e.message, e.fields.get("outcome").cloned()))
        .collect();
    assert_eq!(
        inside,
        [
            ("fetching a token".to_owned(), None),
            (
                "token fetch attempt finished".to_owned(),
                Some("ok".to_owned())
            ),
        ]
    );
    assert_no_token_reported();
}

#[tokio::test(start_paused = true)]
async fn a_refresh_ahead_follows_from_the_callers_span_and_does_not_hold_it_open() {
    capture(); // installed before anything is reported
    let provider = "traces-refresh-ahead";
    let lifetime = Duration::from_secs(100);
    let slow = Step::Token {
        lifetime,
        delay: Duration::from_secs(5),
    };
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(lifetime), slow]))
        .provider(provider)
        .clock(TokioClock::new())
        .build();
    let first = cache.token().await.unwrap();
    tokio::time::sleep(Duration::from_secs(50)).await; // inside the refresh margin

    let caller = tracing::info_span!("caller", test = provider);
    let served = cache.token().instrument(caller.clone()).await.unwrap();
    drop(caller);
    assert!(
        served.same_secret(&first),
        "the valid token is served at once"
    );
    tokio::time::sleep(Duration::from_secs(1)).await; // the refresh is running (5 s)

    let caller = capture().find_span("caller", "test", provider).unwrap();
    let spans = fetch_spans(provider);
    assert_eq!(spans.len(), 2, "{spans:?}");
    let refresh = &spans[1];
    assert_eq!(field(refresh, "reason"), Some("refresh_ahead"));
    assert_eq!(refresh.parent, None, "a background refresh is a root span");
    assert_eq!(refresh.follows_from, [caller.id]);
    assert!(
        caller.closed && !refresh.closed,
        "the caller's span ended while the refresh it started still runs"
    );

    let started = events(
        provider,
        "refreshing the token ahead of expiry; the cached token is served meanwhile",
    );
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].span, Some(caller.id));
    let left: u64 = started[0].fields["expires_in_ms"].parse().unwrap();
    assert!((40_000..=50_000).contains(&left), "{left}");

    let spans = flights_done(provider, 2).await;
    assert_eq!(field(&spans[1], "outcome"), Some("ok"));
    let duration: u64 = field(&spans[1], "duration_ms").unwrap().parse().unwrap();
    assert!(
        duration >= 5_000,
        "the slow fetch took 5 s of tokio's clock: {duration}"
    );
    assert_no_token_reported();
}

#[tokio::test(start_paused = true)]
async fn retries_are_attempts_inside_one_span() {
    capture(); // installed before anything is reported
    let provider = "traces-retries";
    let cache = retried_twice(provider);
    cache.token().await.unwrap();

    let spans = flights_done(provider, 1).await;
    assert_eq!(spans.len(), 1, "one flight: {spans:?}");
    let fetch = &spans[0];
    assert_eq!(field(fetch, "attempt"), Some("3"));
    assert_eq!(field(fetch, "outcome"), Some("ok"));
    let attempts: Vec<_> = capture()
        .events_in(fetch.id)
        .into_iter()
        .filter(|e| e.message == "token fetch attempt finished")
        .map(|e| {
            (
                e.fields["attempt"].clone(),
                e.fields["outcome"].clone(),
                e.fields.get("status").cloned(),
            )
        })
        .collect();
    let expected = [
        ("1", "unavailable", Some("503")),
        ("2", "unavailable", Some("503")),
        ("3", "ok", None),
    ]
    .map(|(a, o, s)| (a.to_owned(), o.to_owned(), s.map(str::to_owned)));
    assert_eq!(attempts, expected);
    let retries = capture()
        .events_in(fetch.id)
        .into_iter()
        .filter(|e| e.message == "token fetch failed, retrying")
        .count();
    assert_eq!(retries, 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_fetch_records_its_outcome_and_status() {
    capture(); // installed before anything is reported
    let cases: Vec<(&str, Step, &str, Option<&str>)> = vec![
        (
            "traces-rejected",
            fail(Error::credentials_rejected("scripted", 401, None)),
            "rejected",
            Some("401"),
        ),
        (
            "traces-invalid",
            fail(Error::invalid_response("scripted", "not JSON").with_status(200)),
            "invalid",
            Some("200"),
        ),
        (
            "traces-unavailable",
            fail(Error::unavailable("scripted", "HTTP 503").with_status(503)),
            "unavailable",
            Some("503"),
        ),
        (
            "traces-configuration",
            fail(Error::configuration("token_url", "missing")),
            "other",
            None,
        ),
        (
            "traces-other",
            fail(Error::other("scripted", io::Error::other("sealed"))),
            "other",
            None,
        ),
        ("traces-panic", Step::Panic, "other", None),
        ("traces-deadline", Step::Hang, "unavailable", None),
    ];
    for (provider, step, outcome, status) in cases {
        let cache = one_attempt(provider, step, Duration::from_secs(1));
        cache.token().await.unwrap_err();
        let spans = flights_done(provider, 1).await;
        assert_eq!(spans.len(), 1, "{provider}: {spans:?}");
        assert_eq!(field(&spans[0], "outcome"), Some(outcome), "{provider}");
        assert_eq!(field(&spans[0], "status"), status, "{provider}");
        assert_eq!(field(&spans[0], "origin"), None, "{provider}");
        let warned = events(provider, "token fetch failed");
        assert_eq!(warned.len(), 1, "{provider}: {warned:?}");
        assert_eq!(warned[0].level, Level::WARN);
    }
    assert_no_token_reported();
}

#[tokio::test(start_paused = true)]
async fn expiry_and_invalidation_are_the_reasons_of_their_fetches() {
    capture(); // installed before anything is reported
    let provider = "traces-reasons";
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(Duration::from_secs(10))]))
        .provider(provider)
        .clock(TokioClock::new())
        .build();
    cache.token().await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await; // nobody asked inside the margin
    let second = cache.token().await.unwrap();
    cache.invalidate(&second).await;
    let invalidated = events(provider, "cached token invalidated");
    assert_eq!(invalidated.len(), 1, "{invalidated:?}");
    assert_eq!(invalidated[0].level, Level::INFO);
    cache.token().await.unwrap();

    let spans = flights_done(provider, 3).await;
    let reasons: Vec<_> = spans.iter().map(|s| field(s, "reason").unwrap()).collect();
    assert_eq!(reasons, ["no_token", "expired", "invalidated"]);
    assert_no_token_reported();
}

#[tokio::test(start_paused = true)]
async fn store_outages_and_recoveries_are_reported_once_per_episode() {
    capture(); // installed before anything is reported
    let provider = "traces-store";
    let store = FlakyStore::new("flaky-traces");
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(HOUR)]))
        .provider(provider)
        .store(std::sync::Arc::new(store.clone()), "credential")
        .clock(TokioClock::new())
        .build();
    let outage = "token store unavailable; fetching tokens locally until it is back";
    let back = "token store is back; sharing tokens again";

    // Refused tokens older than the longest backoff start no refusal streak: each
    // invalidation drops the token, and the next call fetches.
    let refetch = async |cache: &CachedTokenSource<Scripted>| {
        tokio::time::sleep(Duration::from_secs(61)).await;
        let token = cache.token().await.unwrap();
        cache.invalidate(&token).await;
        cache.token().await.unwrap();
    };

    store.set_failing(true);
    cache.token().await.unwrap(); // fetched locally
    refetch(&cache).await;
    refetch(&cache).await;
    assert!(store.failed() >= 5, "{} failed operations", store.failed());
    assert_eq!(
        events(provider, outage).len(),
        1,
        "one report for the whole outage"
    );
    assert!(events(provider, back).is_empty());

    store.set_failing(false);
    refetch(&cache).await;
    refetch(&cache).await;
    assert_eq!(
        events(provider, back).len(),
        1,
        "one report for the recovery"
    );

    store.set_failing(true);
    refetch(&cache).await;
    let outages = events(provider, outage);
    assert_eq!(outages.len(), 2, "a second outage is a second episode");
    for event in outages {
        assert_eq!(event.level, Level::WARN);
        assert_eq!(event.fields["store"], "flaky-traces");
        assert!(event.fields["error"].contains("the flaky store is down"));
    }
    let recovered = &events(provider, back)[0];
    assert_eq!(recovered.level, Level::INFO);
    assert_eq!(recovered.fields["store"], "flaky-traces");
    assert_no_token_reported();
}

#[test]
fn a_fetch_dropped_with_its_runtime_records_an_outcome() {
    capture(); // installed before anything is reported
    let provider = "traces-dropped";
    let fetches = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cache = CachedTokenSource::builder(Scripted::new(vec![Step::Hang]))
        .provider(provider)
        .runtime(fetches.handle().clone())
        .build();
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    caller.block_on(async {
        let waited = tokio::time::timeout(Duration::from_millis(100), cache.token()).await;
        assert!(waited.is_err(), "the source hangs");
    });
    drop(fetches); // drops the flight's task
    let spans = fetch_spans(provider);
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(field(&spans[0], "outcome"), Some("unavailable"));
    assert!(spans[0].closed);
}

#[tokio::test(flavor = "current_thread")]
async fn the_hot_path_reports_nothing() {
    capture(); // installed before anything is reported
    let provider = "traces-hot-path";
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(HOUR)]))
        .provider(provider)
        .build();
    cache.token().await.unwrap();
    flights_done(provider, 1).await;

    let before = capture().reported_on_this_thread();
    for _ in 0..1000 {
        cache.token().await.unwrap();
        cache.cached_token().unwrap();
    }
    assert_eq!(
        capture().reported_on_this_thread(),
        before,
        "a call answered from the cached token created a span or an event"
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_read_from_the_shared_store_is_a_flight_without_attempts() {
    capture(); // installed before anything is reported
    let store = std::sync::Arc::new(tokensource_core::store::MemoryStore::new());
    let fetching = CachedTokenSource::builder(Scripted::new(vec![token(HOUR)]))
        .provider("traces-store-fetcher")
        .store(store.clone(), "credential")
        .clock(TokioClock::new())
        .build();
    let reading = CachedTokenSource::builder(Scripted::new(vec![token(HOUR)]))
        .provider("traces-store-reader")
        .store(store, "credential")
        .clock(TokioClock::new())
        .build();
    let fetched = fetching.token().await.unwrap();
    let read = reading.token().await.unwrap();
    assert!(read.same_secret(&fetched));

    let fetcher = flights_done("traces-store-fetcher", 1).await;
    assert_eq!(field(&fetcher[0], "origin"), Some("provider"));
    assert_eq!(field(&fetcher[0], "attempt"), Some("1"));
    let reader = flights_done("traces-store-reader", 1).await;
    assert_eq!(field(&reader[0], "origin"), Some("store"));
    assert_eq!(field(&reader[0], "attempt"), Some("0"));
    assert_eq!(field(&reader[0], "outcome"), Some("ok"));
    assert_no_token_reported();
}
