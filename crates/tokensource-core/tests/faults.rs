//! Fetches that end without a result, runtimes that are gone or lack a timer, sources that never
//! answer, APIs that keep refusing tokens, many threads: the cache answers every caller with a
//! token or an error, and the source sees a bounded number of calls. Counts, never timings.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokensource_core::clock::{ManualClock, TokioClock};
use tokensource_core::store::{MemoryStore, TokenStore};
use tokensource_core::{CachedTokenSource, Error, ErrorKind, RefreshPolicy, Token, TokenSource};
use tokio::time::advance;

fn token(n: usize, lifetime: Duration) -> Token {
    Token::builder(format!("token-{n}"))
        .expires_in(lifetime)
        .build()
        .unwrap()
}

/// A source that counts its calls and does what `behaviour` says for call `n`.
#[derive(Clone)]
struct Counting {
    calls: Arc<AtomicUsize>,
    behaviour: Arc<dyn Fn(usize) -> Behaviour + Send + Sync>,
}

enum Behaviour {
    Token(Duration),
    Panic,
    Hang,
    FailAfter(Duration),
}

impl std::fmt::Debug for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counting")
    }
}

impl Counting {
    fn new(behaviour: impl Fn(usize) -> Behaviour + Send + Sync + 'static) -> Self {
        Counting {
            calls: Arc::new(AtomicUsize::new(0)),
            behaviour: Arc::new(behaviour),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl TokenSource for Counting {
    async fn token(&self) -> Result<Token, Error> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match (self.behaviour)(n) {
            Behaviour::Token(lifetime) => Ok(token(n, lifetime)),
            Behaviour::Panic => panic!("source bug"),
            Behaviour::Hang => std::future::pending().await,
            Behaviour::FailAfter(delay) => {
                tokio::time::sleep(delay).await;
                Err(Error::unavailable("endpoint", "HTTP 503").with_status(503))
            }
        }
    }
}

/// Runs `f` on a thread and fails the test if it has not returned after a minute (a hang).
fn without_hanging<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the cache hung (or the thread panicked)")
}

#[tokio::test(start_paused = true)]
async fn a_panicking_source_gives_every_waiter_an_error_and_backs_off() {
    let source = Counting::new(|_| Behaviour::Panic);
    let cache = Arc::new(
        CachedTokenSource::builder(source.clone())
            .clock(TokioClock::new())
            .build(),
    );
    let waiters: Vec<_> = (0..100)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    for waiter in waiters {
        let error = waiter.await.unwrap().unwrap_err();
        assert!(error.to_string().contains("panicked"), "{error}");
        assert!(
            !error.is_retryable(),
            "a panic is a bug, not a transient fault"
        );
    }
    assert_eq!(source.calls(), 1, "a panic is not retried within the fetch");

    // Calls every 100 ms for 60 s: one attempt per backoff step (0.5 s doubling to 60 s).
    for _ in 0..600 {
        assert!(cache.token().await.is_err());
        advance(Duration::from_millis(100)).await;
    }
    assert!(
        (2..=10).contains(&source.calls()),
        "{} calls of a panicking source in 60 s",
        source.calls()
    );
}

#[test]
fn a_runtime_without_a_timer_gets_a_configuration_error() {
    let source = Counting::new(|n| Behaviour::Token(Duration::from_secs(3600 + n as u64)));
    let calls = source.calls.clone();
    let kinds = without_hanging(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let cache = CachedTokenSource::new(source);
            let first = cache.token().await;
            if let Ok(token) = &first {
                cache.invalidate(token).await;
            }
            let second = cache.token().await;
            [first, second].map(|r| r.map(|_| ()).map_err(|e| (e.kind(), e.to_string())))
        })
    });
    for result in kinds {
        let (kind, message) = result.unwrap_err();
        assert_eq!(kind, ErrorKind::Configuration);
        assert!(message.contains("enable_time"), "{message}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn outside_any_runtime_the_cache_says_so() {
    let source = Counting::new(|_| Behaviour::Token(Duration::from_secs(3600)));
    let cache = CachedTokenSource::new(source.clone());
    let error = futures_executor_block_on(cache.token()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert_eq!(source.calls(), 0);
}

/// Polls a future to completion on this thread, outside any tokio runtime.
fn futures_executor_block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}

#[test]
fn a_runtime_that_shut_down_fails_one_fetch_and_the_next_runs_on_a_live_one() {
    let source = Counting::new(|_| Behaviour::Token(Duration::from_secs(3600)));
    let clock = ManualClock::new();
    let cache = Arc::new(
        CachedTokenSource::builder(source.clone())
            .clock(clock.clone())
            .build(),
    );
    // The cache takes the first runtime it is used on, which then shuts down.
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = first.block_on(cache.token()).unwrap();
    drop(first);

    let (cache2, source2) = (Arc::clone(&cache), source.clone());
    let results = without_hanging(move || {
        let live = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        live.block_on(async move {
            cache2.invalidate(&token).await;
            let on_dead = cache2.token().await.map(|_| ()).map_err(|e| e.to_string());
            // Past the minimum interval and the first backoff step.
            clock.advance(Duration::from_secs(2));
            tokio::time::sleep(Duration::from_secs(2)).await;
            let on_live = cache2.token().await.map(|t| t.expose_secret().to_owned());
            (on_dead, on_live, source2.calls())
        })
    });
    let (on_dead, on_live, calls) = results;
    let error = on_dead.unwrap_err();
    assert!(error.contains("shut down"), "{error}");
    assert_eq!(on_live.unwrap(), "token-1");
    assert_eq!(calls, 2, "one fetch per runtime, no spinning");
}

#[test]
fn fetches_run_on_the_runtime_the_cache_holds() {
    let fetch_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("cache-fetches")
        .enable_all()
        .build()
        .unwrap();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&threads);
    let source = tokensource_core::from_fn("named", move || {
        seen.lock()
            .unwrap()
            .push(std::thread::current().name().map(str::to_owned));
        async { Ok(token(0, Duration::from_secs(3600))) }
    });
    let cache = CachedTokenSource::builder(source)
        .runtime(fetch_runtime.handle().clone())
        .build();
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    caller.block_on(cache.token()).unwrap();
    assert_eq!(*threads.lock().unwrap(), [Some("cache-fetches".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn every_fetch_has_a_deadline() {
    let source = Counting::new(|_| Behaviour::Hang);
    let cache = CachedTokenSource::builder(source.clone())
        .policy(
            RefreshPolicy::default()
                .with_fetch_timeout(Duration::from_secs(5))
                .with_max_attempts(2),
        )
        .clock(TokioClock::new())
        .build();
    let error = cache.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.to_string().contains("deadline"), "{error}");
    assert_eq!(source.calls(), 2, "each attempt abandoned at its deadline");
}

#[tokio::test(start_paused = true)]
async fn an_api_that_keeps_refusing_tokens_costs_one_fetch_per_backoff_step() {
    let source = Counting::new(|n| Behaviour::Token(Duration::from_secs(3600 + n as u64)));
    let cache = CachedTokenSource::builder(source.clone())
        .clock(TokioClock::new())
        .build();

    // The first recovery is fast: the new token comes within the minimum interval (1 s).
    let first = cache.token().await.unwrap();
    cache.invalidate(&first).await;
    let second = tokio::time::timeout(Duration::from_millis(1100), cache.token())
        .await
        .expect("first recovery within about a second")
        .unwrap();
    assert_eq!(second.expose_secret(), "token-1");

    // Every request is refused, 10 per second, for 5 minutes.
    for _ in 0..3000 {
        let token = cache.token().await.unwrap();
        cache.invalidate(&token).await;
        advance(Duration::from_millis(100)).await;
    }
    // Intervals 2, 4, 8, 16, 32, then 60 s: about 9 fetches in 300 s, not 3000.
    assert!(
        (6..=14).contains(&source.calls()),
        "{} fetches in 5 minutes of refusals",
        source.calls()
    );

    // A token that survives resets the interval: the next refusal recovers within a second.
    // The refused token is served until its refetch, which then runs in the background.
    advance(Duration::from_secs(60)).await;
    let refused = cache.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let survivor = cache.token().await.unwrap();
    assert!(!survivor.same_secret(&refused));
    advance(Duration::from_secs(61)).await;
    let before = source.calls();
    cache.invalidate(&survivor).await;
    let fresh = tokio::time::timeout(Duration::from_millis(1100), cache.token())
        .await
        .expect("fast recovery after a surviving token")
        .unwrap();
    assert!(!fresh.same_secret(&survivor));
    assert_eq!(source.calls(), before + 1);
}

#[tokio::test(start_paused = true)]
async fn a_fleet_on_one_store_sends_one_request_per_backoff_step_during_an_outage() {
    // The endpoint hangs 10 s, then fails; 50 caches share one store.
    let source = Counting::new(|_| Behaviour::FailAfter(Duration::from_secs(10)));
    let store = Arc::new(MemoryStore::new());
    let caches: Vec<_> = (0..50)
        .map(|_| {
            Arc::new(
                CachedTokenSource::builder(source.clone())
                    .policy(RefreshPolicy::default().with_max_attempts(1))
                    .clock(TokioClock::new())
                    .store(store.clone(), "fleet")
                    .build(),
            )
        })
        .collect();
    // Every cache asks once a second for 5 minutes.
    let mut tasks = Vec::new();
    for cache in &caches {
        let cache = Arc::clone(cache);
        tasks.push(tokio::spawn(async move {
            let mut errors = 0;
            for _ in 0..300 {
                if cache.token().await.is_err() {
                    errors += 1;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            errors
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap() > 0);
    }
    // Backoff steps of 0.25-0.5, 0.5-1, ... up to 30-60 s, each after a 10 s attempt: about 9
    // steps in 5 minutes. One request per step for the whole fleet, not one per cache.
    assert!(
        (5..=15).contains(&source.calls()),
        "{} requests from 50 caches in 5 minutes",
        source.calls()
    );
    let failure = store
        .failure("fleet")
        .await
        .unwrap()
        .expect("a shared failure");
    assert!(failure.failures >= 5);
}

#[tokio::test(start_paused = true)]
async fn a_holder_renews_its_lease_so_a_slow_fetch_is_not_duplicated() {
    // Fetches take 70 s, over twice the 30 s lease time to live.
    #[derive(Debug, Clone, Default)]
    struct Slow(Arc<AtomicUsize>);
    #[async_trait::async_trait]
    impl TokenSource for Slow {
        async fn token(&self) -> Result<Token, Error> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(70)).await;
            Ok(token(n, Duration::from_secs(3600)))
        }
    }
    let source = Slow::default();
    let store = Arc::new(MemoryStore::new());
    let caches: Vec<_> = (0..20)
        .map(|_| {
            Arc::new(
                CachedTokenSource::builder(source.clone())
                    .policy(RefreshPolicy::default().with_fetch_timeout(Duration::from_secs(120)))
                    .clock(TokioClock::new())
                    .store(store.clone(), "slow")
                    .build(),
            )
        })
        .collect();
    let tasks: Vec<_> = caches
        .iter()
        .map(|cache| {
            let cache = Arc::clone(cache);
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().expose_secret(), "token-0");
    }
    assert_eq!(source.0.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stored_token_of_unknown_expiry_is_replaced_by_a_fresh_one() {
    let store = Arc::new(MemoryStore::new());
    let old = Token::builder("old")
        .issued_at(SystemTime::now() - Duration::from_secs(3600))
        .build()
        .unwrap();
    store.put("k", &old).await.unwrap();
    let source = Counting::new(|n| Behaviour::Token(Duration::from_secs(600 + n as u64)));
    let caches: Vec<_> = (0..2)
        .map(|_| {
            CachedTokenSource::builder(source.clone())
                .clock(TokioClock::new())
                .store(store.clone(), "k")
                .build()
        })
        .collect();
    assert_eq!(caches[0].token().await.unwrap().expose_secret(), "token-0");
    let stored = store.get("k").await.unwrap().unwrap();
    assert_eq!(
        stored.expose_secret(),
        "token-0",
        "the fresh token replaced the old"
    );
    // So the next process uses it instead of fetching again.
    assert_eq!(caches[1].token().await.unwrap().expose_secret(), "token-0");
    assert_eq!(source.calls(), 1);
}

#[test]
fn many_threads_across_refresh_ahead_expiry_and_invalidation() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let source = Counting::new(|n| Behaviour::Token(Duration::from_secs(120 + n as u64 % 2)));
    // Refetches after refused tokens are at most a second apart.
    let policy =
        RefreshPolicy::default().with_backoff(Duration::from_millis(100), Duration::from_secs(1));
    let cache = Arc::new(
        CachedTokenSource::builder(source.clone())
            .policy(policy)
            .clock(clock.clone())
            .build(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let invalidations = Arc::new(AtomicUsize::new(0));
    let calls = runtime.block_on(async {
        let mut callers = Vec::new();
        for i in 0..2000 {
            let (cache, stop, invalidations) = (
                Arc::clone(&cache),
                Arc::clone(&stop),
                Arc::clone(&invalidations),
            );
            callers.push(tokio::spawn(async move {
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let token = cache.token().await.expect("a token every time");
                    calls += 1;
                    if i % 500 == 0 && calls.is_multiple_of(200) {
                        invalidations.fetch_add(1, Ordering::Relaxed);
                        cache.invalidate(&token).await;
                    }
                    tokio::task::yield_now().await;
                }
                calls
            }));
        }
        // 40 steps of 30 s: through refresh margins, expiries and invalidations.
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            clock.advance(Duration::from_secs(30));
        }
        stop.store(true, Ordering::Relaxed);
        let mut total = 0;
        for caller in callers {
            total += caller.await.unwrap();
        }
        total
    });
    assert!(calls > 2000);
    let bound = 40 + invalidations.load(Ordering::Relaxed) + 1;
    assert!(
        source.calls() <= bound,
        "{} fetches for 40 clock steps and {} invalidations",
        source.calls(),
        invalidations.load(Ordering::Relaxed)
    );
}
