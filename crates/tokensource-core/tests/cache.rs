//! The cache's contract, on tokio's paused clock: counts of fetches, never timings.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokensource_core::clock::TokioClock;
use tokensource_core::store::MemoryStore;
use tokensource_core::{CachedTokenSource, Error, ErrorKind, RefreshPolicy, Token, TokenSource};
use tokio::time::{Instant, advance, sleep};

/// What the scripted source does on each fetch.
#[derive(Debug, Clone)]
enum Step {
    /// A token with this lifetime, after this delay.
    Token { lifetime: Duration, delay: Duration },
    /// An error of this kind, after this delay.
    Fail { kind: ErrorKind, delay: Duration },
    /// Never completes.
    Hang,
}

/// A token source that follows a script (the last step repeats) and records each fetch's start.
#[derive(Debug, Clone, Default)]
struct Scripted {
    inner: Arc<ScriptedInner>,
}

#[derive(Debug, Default)]
struct ScriptedInner {
    fetches: AtomicUsize,
    started: Mutex<Vec<Instant>>,
    script: Mutex<Vec<Step>>,
}

impl Scripted {
    fn new(steps: Vec<Step>) -> Self {
        let s = Scripted::default();
        *s.inner.script.lock().unwrap() = steps;
        s
    }

    fn set(&self, steps: Vec<Step>) {
        *self.inner.script.lock().unwrap() = steps;
    }

    fn fetches(&self) -> usize {
        self.inner.fetches.load(Ordering::SeqCst)
    }

    fn started(&self) -> Vec<Instant> {
        self.inner.started.lock().unwrap().clone()
    }
}

#[async_trait]
impl TokenSource for Scripted {
    async fn token(&self) -> Result<Token, Error> {
        let n = self.inner.fetches.fetch_add(1, Ordering::SeqCst);
        self.inner.started.lock().unwrap().push(Instant::now());
        let step = {
            let script = self.inner.script.lock().unwrap();
            script.get(n).or(script.last()).cloned().expect("a script")
        };
        match step {
            Step::Token { lifetime, delay } => {
                sleep(delay).await;
                Ok(Token::builder(format!("token-{n}"))
                    .expires_in(lifetime)
                    .build()
                    .unwrap())
            }
            Step::Fail { kind, delay } => {
                sleep(delay).await;
                Err(match kind {
                    ErrorKind::CredentialsRejected => {
                        Error::credentials_rejected("scripted", 401, Some("bad secret".into()))
                    }
                    ErrorKind::Unavailable => {
                        Error::unavailable("scripted", "HTTP 503").with_status(503)
                    }
                    _ => Error::invalid_response("scripted", "garbage"),
                })
            }
            Step::Hang => std::future::pending().await,
        }
    }
}

fn ok(lifetime_secs: u64) -> Step {
    Step::Token {
        lifetime: Duration::from_secs(lifetime_secs),
        delay: Duration::from_millis(100),
    }
}

fn fail(kind: ErrorKind) -> Step {
    Step::Fail {
        kind,
        delay: Duration::from_millis(100),
    }
}

fn cache(source: &Scripted, policy: RefreshPolicy) -> Arc<CachedTokenSource<Scripted>> {
    Arc::new(
        CachedTokenSource::builder(source.clone())
            .policy(policy)
            .clock(TokioClock::new())
            .build(),
    )
}

/// Runs `n` concurrent callers and returns their results.
async fn herd(cache: &Arc<CachedTokenSource<Scripted>>, n: usize) -> Vec<Result<Token, Error>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let cache = Arc::clone(cache);
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

fn secret(result: &Result<Token, Error>) -> &str {
    result.as_ref().unwrap().expose_secret()
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_callers_one_fetch() {
    let source = Scripted::new(vec![ok(3600)]);
    let cache = cache(&source, RefreshPolicy::default());
    let results = herd(&cache, 10_000).await;
    assert_eq!(source.fetches(), 1);
    assert!(results.iter().all(|r| secret(r) == "token-0"));
}

#[tokio::test(start_paused = true)]
async fn errors_are_shared_by_all_waiters() {
    let source = Scripted::new(vec![fail(ErrorKind::CredentialsRejected)]);
    let cache = cache(&source, RefreshPolicy::default());
    let results = herd(&cache, 10_000).await;
    assert_eq!(source.fetches(), 1, "rejected credentials are not retried");
    for result in &results {
        let error = result.as_ref().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
        assert_eq!(error.provider_message(), Some("bad secret"));
    }
    // During the backoff, callers get the error at once and the endpoint sees nothing.
    herd(&cache, 100).await;
    assert_eq!(source.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_never_blocks_a_caller_holding_a_valid_token() {
    let source = Scripted::new(vec![ok(120), Step::Hang]);
    let cache = cache(&source, RefreshPolicy::default());
    assert_eq!(secret(&cache.token().await), "token-0");

    // 70 s later the token is inside its 60 s margin but valid; the refresh hangs forever.
    advance(Duration::from_secs(70)).await;
    for _ in 0..1000 {
        // On the paused clock a blocked call would run the clock to the timeout and fail.
        let token = tokio::time::timeout(Duration::from_millis(1), cache.token())
            .await
            .expect("a caller with a valid token must not wait");
        assert_eq!(secret(&token), "token-0");
    }
    tokio::task::yield_now().await;
    assert_eq!(source.fetches(), 2, "exactly one background refresh");
    assert!(
        cache.cached_token().is_none(),
        "inside the margin is not fresh"
    );
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_replaces_the_token_with_one_fetch() {
    let source = Scripted::new(vec![ok(120), ok(120)]);
    let cache = cache(&source, RefreshPolicy::default());
    cache.token().await.unwrap();
    advance(Duration::from_secs(70)).await;
    let during = herd(&cache, 500).await;
    assert!(during.iter().all(|r| secret(r) == "token-0"));
    sleep(Duration::from_millis(200)).await; // the background fetch takes 100 ms
    assert_eq!(secret(&cache.token().await), "token-1");
    assert_eq!(source.fetches(), 2);
    assert_eq!(
        cache
            .cached_token()
            .map(|t| t.expose_secret().to_owned())
            .as_deref(),
        Some("token-1")
    );
}

#[tokio::test(start_paused = true)]
async fn failed_background_refresh_keeps_serving_the_valid_token() {
    let source = Scripted::new(vec![ok(120), fail(ErrorKind::Unavailable)]);
    let policy = RefreshPolicy::default().with_max_attempts(1);
    let cache = cache(&source, policy);
    cache.token().await.unwrap();
    advance(Duration::from_secs(70)).await;
    for _ in 0..40 {
        assert_eq!(secret(&cache.token().await), "token-0");
        advance(Duration::from_secs(1)).await;
    }
    // Refreshes were attempted, but one per backoff step, not one per call.
    let attempts = source.fetches() - 1;
    assert!(
        (1..=10).contains(&attempts),
        "{attempts} refresh attempts in 40 s"
    );
    // Once expired with no new token, callers get the error.
    advance(Duration::from_secs(60)).await;
    let error = cache.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
}

#[tokio::test(start_paused = true)]
async fn retries_inside_one_flight_then_succeeds() {
    let source = Scripted::new(vec![
        fail(ErrorKind::Unavailable),
        fail(ErrorKind::Unavailable),
        ok(3600),
    ]);
    let cache = cache(&source, RefreshPolicy::default().with_max_attempts(3));
    let results = herd(&cache, 100).await;
    assert!(results.iter().all(|r| secret(r) == "token-2"));
    assert_eq!(source.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn backoff_spaces_attempts_whatever_the_number_of_callers() {
    let source = Scripted::new(vec![fail(ErrorKind::Unavailable)]);
    let initial = Duration::from_secs(1);
    let max = Duration::from_secs(8);
    let policy = RefreshPolicy::default()
        .with_max_attempts(1)
        .with_backoff(initial, max);
    let cache = cache(&source, policy);
    // 50 callers every 100 ms for 60 s: 30,000 calls.
    for _ in 0..600 {
        for result in herd(&cache, 50).await {
            assert!(result.unwrap_err().is_retryable());
        }
        advance(Duration::from_millis(100)).await;
    }
    let started = source.started();
    assert!(started.len() <= 16, "{} fetches in 60 s", started.len());
    for (i, pair) in started.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        // Attempt i+1 failed; the next waits at least half the exponential delay (jitter).
        let exponential = initial.saturating_mul(1 << i.min(10)).min(max);
        assert!(
            gap >= exponential / 2,
            "gap {gap:?} after failure {} is under {:?}",
            i + 1,
            exponential / 2
        );
    }
}

#[tokio::test(start_paused = true)]
async fn invalidate_drops_only_the_current_token() {
    let source = Scripted::new(vec![ok(3600)]);
    let cache = cache(&source, RefreshPolicy::default());
    let first = cache.token().await.unwrap();
    cache.invalidate(&first).await;
    let second = cache.token().await.unwrap();
    assert_eq!(second.expose_secret(), "token-1");
    assert_eq!(source.fetches(), 2);

    // A 401 seen on the old token must not throw away the fresh one.
    cache.invalidate(&first).await;
    assert_eq!(secret(&cache.token().await), "token-1");
    assert_eq!(source.fetches(), 2);

    // Invalidations in a burst cost one fetch. The token was refused soon after the last
    // refusal, so it is served until the (longer) refetch interval has passed.
    let third_before = source.fetches();
    let current = cache.token().await.unwrap();
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let cache = Arc::clone(&cache);
            let current = current.clone();
            tokio::spawn(async move {
                cache.invalidate(&current).await;
                cache.token().await
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap().unwrap();
    }
    assert_eq!(source.fetches(), third_before);
    advance(Duration::from_secs(3)).await;
    cache.token().await.unwrap();
    sleep(Duration::from_millis(200)).await;
    assert_eq!(secret(&cache.token().await), "token-2");
    assert_eq!(source.fetches(), third_before + 1);
}

#[tokio::test(start_paused = true)]
async fn zero_lifetime_tokens_do_not_cause_a_refetch_loop() {
    let source = Scripted::new(vec![ok(0)]);
    let cache = cache(&source, RefreshPolicy::default());
    for _ in 0..1000 {
        cache.token().await.unwrap();
    }
    assert_eq!(source.fetches(), 1);
    // One fetch per minimum interval (1 s), however many calls.
    for _ in 0..10 {
        advance(Duration::from_millis(1100)).await;
        for _ in 0..100 {
            cache.token().await.unwrap();
        }
    }
    assert!(source.fetches() <= 11, "{} fetches", source.fetches());
}

#[tokio::test(start_paused = true)]
async fn short_lived_tokens_refresh_at_half_life() {
    let source = Scripted::new(vec![ok(2)]);
    let cache = cache(&source, RefreshPolicy::default());
    cache.token().await.unwrap();
    assert!(cache.cached_token().is_some());
    advance(Duration::from_millis(1050)).await;
    assert!(
        cache.cached_token().is_none(),
        "inside the 1 s margin of a 2 s token"
    );
    assert_eq!(secret(&cache.token().await), "token-0");
    sleep(Duration::from_millis(200)).await;
    assert_eq!(secret(&cache.token().await), "token-1");
}

#[tokio::test(start_paused = true)]
async fn unknown_lifetime_uses_the_default() {
    #[derive(Debug)]
    struct NoExpiry(AtomicUsize);
    #[async_trait]
    impl TokenSource for NoExpiry {
        async fn token(&self) -> Result<Token, Error> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Token::bearer(format!("t{n}")).unwrap())
        }
    }
    let source = Arc::new(NoExpiry(AtomicUsize::new(0)));
    let cache = CachedTokenSource::builder(Arc::clone(&source))
        .policy(RefreshPolicy::default().with_default_lifetime(Duration::from_secs(300)))
        .clock(TokioClock::new())
        .build();
    cache.token().await.unwrap();
    advance(Duration::from_secs(200)).await;
    cache.token().await.unwrap();
    assert_eq!(source.0.load(Ordering::SeqCst), 1);
    advance(Duration::from_secs(50)).await; // inside the 60 s margin of 300 s
    cache.token().await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(source.0.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn caches_sharing_a_store_fetch_once() {
    let store = Arc::new(MemoryStore::new());
    let source = Scripted::new(vec![ok(3600)]);
    let caches: Vec<_> = (0..8)
        .map(|_| {
            Arc::new(
                CachedTokenSource::builder(source.clone())
                    .clock(TokioClock::new())
                    .store(store.clone(), "credential-key")
                    .build(),
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for cache in &caches {
        for _ in 0..50 {
            let cache = Arc::clone(cache);
            tasks.push(tokio::spawn(async move { cache.token().await }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().expose_secret(), "token-0");
    }
    assert_eq!(source.fetches(), 1);

    // An invalidated token is removed from the store and never reloaded from it.
    let token = caches[0].token().await.unwrap();
    caches[0].invalidate(&token).await;
    assert_eq!(secret(&caches[0].token().await), "token-1");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn works_as_a_trait_object() {
    let source = Scripted::new(vec![ok(3600)]);
    let dynamic: Arc<dyn TokenSource> = cache(&source, RefreshPolicy::default());
    let token = dynamic.token().await.unwrap();
    dynamic.invalidate(&token).await;
    assert_eq!(secret(&dynamic.token().await), "token-1");
    source.set(vec![ok(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_token_is_not_handed_out_in_its_last_second() {
    let source = Scripted::new(vec![ok(100)]);
    let cache = cache(&source, RefreshPolicy::default().with_max_attempts(1));
    assert_eq!(secret(&cache.token().await), "token-0");
    // The background refresh at the margin fails to happen (no caller inside it); at 99.5 s the
    // token has half a second left, under the one-second safety margin.
    advance(Duration::from_millis(99_500)).await;
    assert_eq!(secret(&cache.token().await), "token-1");
}

/// A cache on `store` under one key, over `source`.
fn cache_on(
    source: &Scripted,
    store: &Arc<MemoryStore>,
    policy: RefreshPolicy,
) -> Arc<CachedTokenSource<Scripted>> {
    Arc::new(
        CachedTokenSource::builder(source.clone())
            .policy(policy)
            .clock(TokioClock::new())
            .store(store.clone(), "credential-key")
            .build(),
    )
}

#[tokio::test(start_paused = true)]
async fn next_token_refreshes_before_the_margin_and_returns_the_new_token() {
    let source = Scripted::new(vec![ok(120)]);
    let cache = cache(&source, RefreshPolicy::default());
    let start = Instant::now();
    let first = cache.token().await.unwrap();
    let mut previous = first;
    for n in 1..=3 {
        let next = cache.next_token(Some(&previous)).await.unwrap();
        assert_eq!(next.expose_secret(), format!("token-{n}"));
        previous = next;
    }
    assert_eq!(source.fetches(), 4, "one fetch per refresh");
    // Each refresh started before its token entered its last 60 s (120 s lifetime, fetched
    // 100 ms after it started), and not long before: within the margin's jitter of a tenth and
    // the second of safety before expiry.
    let started = source.started();
    for (n, pair) in started.windows(2).enumerate() {
        let issued = pair[0] + Duration::from_millis(100);
        let margin_starts = issued + Duration::from_secs(60);
        assert!(
            pair[1] < margin_starts && pair[1] >= margin_starts - Duration::from_secs(8),
            "refresh {n} started {:?} after the token was issued",
            pair[1] - issued
        );
    }
    assert!(start.elapsed() < Duration::from_secs(3 * 60));
}

#[tokio::test(start_paused = true)]
async fn next_token_returns_a_refresh_it_missed_at_once() {
    let source = Scripted::new(vec![ok(120)]);
    let cache = cache(&source, RefreshPolicy::default());
    let first = cache.token().await.unwrap();
    advance(Duration::from_secs(70)).await;
    cache.token().await.unwrap(); // a caller inside the margin starts the refresh
    sleep(Duration::from_millis(200)).await;
    let next = tokio::time::timeout(Duration::from_millis(1), cache.next_token(Some(&first)))
        .await
        .expect("the refresh already happened")
        .unwrap();
    assert_eq!(next.expose_secret(), "token-1");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn next_token_reports_each_failed_refresh_and_waits_out_the_backoff() {
    let source = Scripted::new(vec![
        ok(120),
        fail(ErrorKind::Unavailable),
        fail(ErrorKind::Unavailable),
        fail(ErrorKind::Unavailable),
        ok(120),
    ]);
    let policy = RefreshPolicy::default()
        .with_max_attempts(1)
        .with_backoff(Duration::from_secs(4), Duration::from_secs(60));
    let cache = cache(&source, policy);
    let first = cache.token().await.unwrap();
    for attempt in 1..=3 {
        let error = cache.next_token(Some(&first)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unavailable, "attempt {attempt}");
        assert_eq!(source.fetches(), 1 + attempt, "one fetch per call");
        // Meanwhile the valid token is still served.
        assert_eq!(secret(&cache.token().await), "token-0");
    }
    assert_eq!(secret(&cache.next_token(Some(&first)).await), "token-4");
    assert_eq!(source.fetches(), 5);
    // The attempts were spaced by the backoff (at least half of 4 s, 8 s, 16 s), not retried
    // at once.
    let started = source.started();
    for (i, pair) in started[1..].windows(2).enumerate() {
        let least = Duration::from_secs(2 << i);
        assert!(
            pair[1] - pair[0] >= least,
            "gap {i}: {:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn next_token_after_expiry_keeps_trying_once_per_backoff_step() {
    let source = Scripted::new(vec![ok(10), fail(ErrorKind::Unavailable)]);
    let policy = RefreshPolicy::default()
        .with_max_attempts(1)
        .with_backoff(Duration::from_secs(1), Duration::from_secs(8));
    let cache = cache(&source, policy);
    let first = cache.token().await.unwrap();
    let start = Instant::now();
    let mut errors = 0;
    while start.elapsed() < Duration::from_secs(120) {
        assert!(cache.next_token(Some(&first)).await.is_err());
        errors += 1;
    }
    // 120 s of backoff steps of 4 to 8 s once grown: a bounded number of fetches, each
    // returned as an error (no spin, no silent retry).
    assert_eq!(source.fetches(), 1 + errors);
    assert!((10..=40).contains(&errors), "{errors} attempts in 120 s");
    assert!(cache.token().await.is_err(), "the token has expired");
}

#[tokio::test(start_paused = true)]
async fn next_token_follows_a_refresh_made_by_another_process_through_the_store() {
    use tokensource_core::clock::Clock;
    // Tokens issued on the caches' clock, so that the store's view of their expiry (wall
    // time) agrees with the paused monotonic time.
    let clock = TokioClock::new();
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let source = Arc::new(tokensource_core::from_fn("fleet", move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            sleep(Duration::from_millis(100)).await;
            Ok(Token::builder(format!("token-{n}"))
                .issued_at(clock.system_time())
                .expires_in(Duration::from_secs(120))
                .build()?)
        }
    }));
    let store = Arc::new(MemoryStore::new());
    let cache = || {
        CachedTokenSource::builder(Arc::clone(&source))
            .clock(clock)
            .store(store.clone(), "credential-key")
            .build()
    };
    let (here, other) = (cache(), cache());
    let first = here.token().await.unwrap();
    assert_eq!(secret(&other.token().await), "token-0");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // Both hold token-0; whichever refreshes first fetches, the other reads the store (and may
    // read token-0 again first, while it is still outside its margin there).
    let (mine, theirs) = tokio::join!(
        here.next_token(Some(&first)),
        other.next_token(Some(&first))
    );
    assert_eq!(secret(&mine), "token-1");
    assert_eq!(secret(&theirs), "token-1");
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "one fetch for both caches"
    );
}

#[tokio::test(start_paused = true)]
async fn next_token_needs_a_runtime_with_a_time_driver() {
    let source = Scripted::new(vec![ok(120)]);
    let cache = CachedTokenSource::builder(source)
        .policy(RefreshPolicy::default())
        .build();
    let token = Token::bearer("t").unwrap();
    let error = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(cache.next_token(Some(&token)))
    })
    .join()
    .unwrap()
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
}

#[tokio::test(start_paused = true)]
async fn invalidate_removes_a_token_from_the_store_that_this_cache_never_held() {
    let store = Arc::new(MemoryStore::new());
    let source = Scripted::new(vec![ok(3600)]);
    let first_run = cache_on(&source, &store, RefreshPolicy::default());
    let token = first_run.token().await.unwrap();
    drop(first_run);

    // A later process is told that token was refused (git's `erase`): it never loaded it.
    let eraser = cache_on(&source, &store, RefreshPolicy::default());
    // Another token than the stored one removes nothing.
    eraser
        .invalidate(&Token::bearer("unrelated").unwrap())
        .await;
    let reader = cache_on(&source, &store, RefreshPolicy::default());
    assert_eq!(secret(&reader.token().await), "token-0");
    assert_eq!(source.fetches(), 1);

    eraser.invalidate(&token).await;
    let next_run = cache_on(&source, &store, RefreshPolicy::default());
    assert_eq!(secret(&next_run.token().await), "token-1");
    assert_eq!(source.fetches(), 2);
    // The new token is not removed by a late report about the old one.
    cache_on(&source, &store, RefreshPolicy::default())
        .invalidate(&token)
        .await;
    let last_run = cache_on(&source, &store, RefreshPolicy::default());
    assert_eq!(secret(&last_run.token().await), "token-1");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn next_token_without_a_previous_token_fetches_the_first_per_backoff_step() {
    let source = Scripted::new(vec![
        fail(ErrorKind::Unavailable),
        fail(ErrorKind::Unavailable),
        ok(120),
    ]);
    let policy = RefreshPolicy::default()
        .with_max_attempts(1)
        .with_backoff(Duration::from_secs(4), Duration::from_secs(60));
    let cache = cache(&source, policy);
    assert!(cache.next_token(None).await.is_err());
    assert!(cache.next_token(None).await.is_err());
    assert_eq!(secret(&cache.next_token(None).await), "token-2");
    assert_eq!(source.fetches(), 3);
    let started = source.started();
    assert!(started[1] - started[0] >= Duration::from_secs(2));
    assert!(started[2] - started[1] >= Duration::from_secs(4));
    // A valid cached token is the first token: no fetch.
    let again = tokio::time::timeout(Duration::from_millis(1), cache.next_token(None))
        .await
        .expect("a valid token is cached");
    assert_eq!(secret(&again), "token-2");
    // An expired one is not: the next is fetched.
    source.set(vec![ok(120)]);
    advance(Duration::from_secs(121)).await;
    assert_eq!(secret(&cache.next_token(None).await), "token-3");
}
