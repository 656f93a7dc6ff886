//! The cache's metrics (feature `metrics`): fetches by outcome, their durations, store errors,
//! the token's remaining life, and nothing on the hot path.
//!
//! One recorder for the whole binary ([`MetricsRecorder::global`]): fetches run in spawned tasks,
//! on worker threads a thread-local recorder would not see. Each test uses a provider (or store)
//! label of its own and reads only those series.

mod support;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use support::{FlakyStore, Scripted, Step, fail, one_attempt, retried_twice, token};
use tokensource_core::clock::TokioClock;
use tokensource_core::observability::{
    FETCH_DURATION_SECONDS, FETCHES_TOTAL, STORE_ERRORS_TOTAL, TOKEN_EXPIRES_IN_SECONDS,
};
use tokensource_core::{CachedTokenSource, Error, TokenSource};
use tokensource_testkit::observe::MetricsRecorder;

const HOUR: Duration = Duration::from_secs(3600);
const OUTCOMES: [&str; 5] = ["ok", "rejected", "unavailable", "invalid", "other"];

fn recorder() -> &'static MetricsRecorder {
    MetricsRecorder::global()
}

fn fetches(provider: &str, outcome: &str) -> u64 {
    recorder().counter(
        FETCHES_TOTAL,
        &[("provider", provider), ("outcome", outcome)],
    )
}

/// `provider`'s fetch counts by outcome, in the order of [`OUTCOMES`].
fn all_fetches(provider: &str) -> [u64; 5] {
    OUTCOMES.map(|outcome| fetches(provider, outcome))
}

fn durations(provider: &str) -> Vec<f64> {
    recorder().histogram(FETCH_DURATION_SECONDS, &[("provider", provider)])
}

fn expires_in(provider: &str) -> Option<f64> {
    recorder().gauge(TOKEN_EXPIRES_IN_SECONDS, &[("provider", provider)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_callers_on_a_cold_cache_record_one_successful_fetch() {
    recorder();
    let provider = "meters-cold";
    let source = Scripted::new(vec![Step::Token {
        lifetime: HOUR,
        delay: Duration::from_millis(50),
    }]);
    let cache = CachedTokenSource::builder(source.clone())
        .provider(provider)
        .build();
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap().unwrap();
    }
    assert_eq!(source.calls(), 1);
    assert_eq!(all_fetches(provider), [1, 0, 0, 0, 0]);
    let durations = durations(provider);
    assert_eq!(durations.len(), 1, "{durations:?}");
    assert!(
        durations[0] >= 0.05,
        "the fetch took at least the source's 50 ms: {durations:?}"
    );
    let left = expires_in(provider).unwrap();
    assert!((3590.0..3600.0).contains(&left), "{left}");
}

#[tokio::test(start_paused = true)]
async fn each_outcome_is_counted_under_its_name() {
    recorder();
    let cases: Vec<(&str, Step, &str)> = vec![
        (
            "meters-rejected",
            fail(Error::credentials_rejected("scripted", 401, None)),
            "rejected",
        ),
        (
            "meters-invalid",
            fail(Error::invalid_response("scripted", "not JSON")),
            "invalid",
        ),
        (
            "meters-unavailable",
            fail(Error::unavailable("scripted", "HTTP 503").with_status(503)),
            "unavailable",
        ),
        (
            "meters-configuration",
            fail(Error::configuration("token_url", "missing")),
            "other",
        ),
        (
            "meters-other",
            fail(Error::other("scripted", io::Error::other("sealed"))),
            "other",
        ),
        ("meters-panic", Step::Panic, "other"),
        ("meters-deadline", Step::Hang, "unavailable"),
    ];
    for (provider, step, outcome) in cases {
        let cache = one_attempt(provider, step, Duration::from_secs(2));
        cache.token().await.unwrap_err();
        let expected = OUTCOMES.map(|o| u64::from(o == outcome));
        assert_eq!(all_fetches(provider), expected, "{provider}");
        assert_eq!(durations(provider).len(), 1, "{provider}");
        assert_eq!(expires_in(provider), Some(0.0), "{provider}: no token");
    }
    let deadline = durations("meters-deadline");
    assert!(
        deadline[0] >= 2.0,
        "the abandoned attempt lasted its 2 s deadline: {deadline:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn every_attempt_of_a_retried_fetch_is_counted() {
    recorder();
    let provider = "meters-retries";
    let cache = retried_twice(provider);
    cache.token().await.unwrap();
    assert_eq!(all_fetches(provider), [1, 0, 2, 0, 0]);
    assert_eq!(durations(provider).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn each_failed_store_operation_is_counted() {
    recorder();
    let store = FlakyStore::new("meters-flaky");
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(HOUR)]))
        .provider("meters-store")
        .store(Arc::new(store.clone()), "credential")
        .clock(TokioClock::new())
        .build();
    let errors = || recorder().counter(STORE_ERRORS_TOTAL, &[("store", "meters-flaky")]);

    cache.token().await.unwrap();
    assert_eq!(errors(), 0, "a working store");
    store.set_failing(true);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(61)).await;
        let token = cache.token().await.unwrap();
        cache.invalidate(&token).await;
        cache.token().await.unwrap();
    }
    assert!(store.failed() >= 6, "{}", store.failed());
    assert_eq!(
        errors(),
        store.failed() as u64,
        "one count per failed operation"
    );
    assert_eq!(all_fetches("meters-store"), [4, 0, 0, 0, 0]);
}

#[tokio::test(start_paused = true)]
async fn the_expiry_gauge_follows_the_cached_token() {
    recorder();
    let provider = "meters-expiry";
    let lifetime = Duration::from_secs(100);
    let slow = Step::Token {
        lifetime,
        delay: Duration::from_secs(5),
    };
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(lifetime), slow]))
        .provider(provider)
        .clock(TokioClock::new())
        .build();
    let gauge = || expires_in(provider).unwrap();

    let first = cache.token().await.unwrap();
    // 100 s, less the second before expiry when the cache stops handing it out.
    assert_eq!(gauge(), 99.0);

    // Inside the refresh margin: the refresh starts, the gauge says what is left.
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert!(cache.token().await.unwrap().same_secret(&first));
    assert_eq!(gauge(), 49.0);

    // The new token (after the 5 s fetch).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let second = cache.token().await.unwrap();
    assert!(!second.same_secret(&first));
    assert_eq!(gauge(), 99.0);

    cache.invalidate(&second).await;
    assert_eq!(gauge(), 0.0, "no token after the invalidation");
}

/// Between the cache's own looks at its token, a task of its runtime keeps the gauge counting
/// down, so that a scrape reads the token's remaining life, not the one at the last fetch; the
/// task ends with the cache, leaving zero (no token) behind.
#[tokio::test(start_paused = true)]
async fn the_expiry_gauge_counts_down_while_nobody_calls() {
    recorder();
    let provider = "meters-countdown";
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(Duration::from_secs(100))]))
        .provider(provider)
        .clock(TokioClock::new())
        .build();
    cache.token().await.unwrap();
    let gauge = || expires_in(provider).unwrap();
    assert_eq!(gauge(), 99.0);

    // Half a second off the ticks, so that the last one has run.
    tokio::time::sleep(Duration::from_millis(30_500)).await;
    assert_eq!(gauge(), 69.0, "30 s later, without a call");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(gauge(), 59.0);

    let runtime = tokio::runtime::Handle::current();
    drop(cache);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(gauge(), 0.0, "the cache is gone, and its token with it");
    assert_eq!(
        runtime.metrics().num_alive_tasks(),
        0,
        "the gauge's task ended with the cache"
    );
}

/// A runtime that shuts down takes the gauge's task with it; the cache's next flight, on
/// another runtime, starts a new one.
#[test]
fn the_expiry_gauge_keeps_counting_on_the_next_runtime() {
    recorder();
    let provider = "meters-countdown-runtimes";
    let clock = tokensource_core::clock::ManualClock::new();
    let lifetime = Duration::from_secs(100);
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(lifetime), token(lifetime)]))
        .provider(provider)
        .clock(clock.clone())
        .build();
    let paused = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    };
    let gauge = || expires_in(provider).unwrap();

    let first = paused();
    first.block_on(async {
        cache.token().await.unwrap();
        clock.advance(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(1500)).await;
    });
    assert_eq!(gauge(), 89.0);
    drop(first);

    // Past the token's life: the first fetch fails on the runtime the cache held, which has
    // shut down (and starts no ticker there); after the backoff, the next runs on this one.
    clock.advance(Duration::from_secs(100));
    let second = paused();
    second.block_on(async {
        let error = cache.token().await.unwrap_err();
        assert!(error.to_string().contains("shut down"), "{error}");
        clock.advance(Duration::from_secs(2));
        cache.token().await.unwrap();
        assert_eq!(gauge(), 99.0);
        clock.advance(Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(gauge(), 79.0, "counting down on the second runtime");
    });
}

#[tokio::test(flavor = "current_thread")]
async fn the_hot_path_records_nothing() {
    let recorder = recorder();
    let cache = CachedTokenSource::builder(Scripted::new(vec![token(HOUR)]))
        .provider("meters-hot-path")
        .build();
    cache.token().await.unwrap();
    tokio::task::yield_now().await;

    let before = recorder.operations_on_this_thread();
    assert!(before > 0, "the fetch was recorded on this thread");
    for _ in 0..1000 {
        cache.token().await.unwrap();
        cache.cached_token().unwrap();
    }
    assert_eq!(
        recorder.operations_on_this_thread(),
        before,
        "a call answered from the cached token touched a metric"
    );
}
