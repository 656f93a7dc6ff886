//! The token endpoint misbehaves while 200 callers share one `CachedTokenSource`.
//!
//! Real providers talk real HTTP to the test kit (its mocks, or its raw TCP responder for resets
//! and refused connections), so these tests run in real time with tokens that live 3 s. They
//! assert what the cache promises, with bounds derived from the [`Backoff`] policy rather than from
//! timings:
//!
//! - while a valid token exists, no caller sees an error, whatever the endpoint does;
//! - once it has expired, callers get a clear `Unavailable` error (not a hang, not a panic);
//! - the endpoint sees at most one request per backoff step, however many callers there are;
//! - a flapping endpoint is absorbed inside one flight, and recovery costs one request.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokensource::{
    CachedTokenSource, Error, ErrorKind, HttpOptions, RefreshPolicy, Token, TokenSource,
    async_trait,
};
use tokensource_testkit::raw::{RawServer, Script, http_response};
use tokensource_testkit::{Fault, MockServer};
use tokio::sync::Barrier;

use crate::providers::Provider;

/// How long the endpoint's tokens live.
const LIFETIME: Duration = Duration::from_secs(3);
/// Callers sharing the cache.
const CALLERS: usize = 200;
/// The pause between two calls of one caller, so that 200 callers do not starve the runtime.
const PACE: Duration = Duration::from_millis(10);
/// The HTTP timeout of every source here.
const HTTP_TIMEOUT: Duration = Duration::from_secs(1);
/// Added to measured windows: the cache's coarse clock and the test's clock may differ by a
/// few milliseconds.
const CLOCK_SLACK: Duration = Duration::from_millis(100);

/// The retry settings of these tests, and the most requests they allow.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    initial: Duration,
    max: Duration,
    attempts: u32,
    min_interval: Duration,
}

const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(200),
    max: Duration::from_millis(800),
    attempts: 2,
    min_interval: Duration::from_millis(250),
};

impl Backoff {
    fn policy(&self) -> RefreshPolicy {
        RefreshPolicy::default()
            .with_backoff(self.initial, self.max)
            .with_max_attempts(self.attempts)
            .with_min_interval(self.min_interval)
    }

    /// The shortest delay after the `n`-th consecutive failure: half the exponential delay (the
    /// policy's "equal jitter" picks between half and all of it).
    fn shortest_delay(&self, n: u32) -> Duration {
        let exponent = n.saturating_sub(1).min(20);
        self.initial.saturating_mul(1 << exponent).min(self.max) / 2
    }

    /// The most requests an endpoint that always fails can see within `window`, whatever the
    /// number of callers: one flight at a time, each making at most `attempts` requests spaced by
    /// the backoff; the next flight no sooner than the backoff after the last failure and the
    /// minimum interval after the last flight started. Every delay is taken at its shortest and
    /// every request as instantaneous, so the real count can only be lower.
    fn max_requests(&self, window: Duration) -> usize {
        let mut at = Duration::ZERO;
        let mut requests = 0;
        let mut failed_flights = 0;
        loop {
            let flight_start = at;
            for attempt in 1..=self.attempts {
                if at > window {
                    return requests;
                }
                requests += 1;
                if attempt < self.attempts {
                    at += self.shortest_delay(attempt);
                }
            }
            failed_flights += 1;
            at = (at + self.shortest_delay(failed_flights)).max(flight_start + self.min_interval);
        }
    }
}

/// A source that counts the fetches the cache asks of it: requests, where the endpoint cannot
/// count them (a refused connection).
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn TokenSource>,
    fetches: Arc<AtomicUsize>,
}

#[async_trait]
impl TokenSource for Counted {
    async fn token(&self) -> Result<Token, Error> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.inner.token().await
    }
}

fn cache(
    source: Arc<dyn TokenSource>,
    backoff: Backoff,
) -> (CachedTokenSource<Counted>, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = Counted {
        inner: source,
        fetches: Arc::clone(&fetches),
    };
    let cache = CachedTokenSource::builder(counted)
        .policy(backoff.policy())
        .build();
    (cache, fetches)
}

fn options() -> HttpOptions {
    HttpOptions::default().with_timeout(HTTP_TIMEOUT)
}

/// What the callers saw.
#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    tokens: HashMap<String, u64>,
    errors: HashMap<(ErrorKind, Option<u16>), u64>,
    slowest: Duration,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.calls += other.calls;
        for (token, n) in other.tokens {
            *self.tokens.entry(token).or_default() += n;
        }
        for (error, n) in other.errors {
            *self.errors.entry(error).or_default() += n;
        }
        self.slowest = self.slowest.max(other.slowest);
    }

    fn successes(&self) -> u64 {
        self.tokens.values().sum()
    }

    fn failures(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// `CALLERS` tasks call `cache` every `PACE` until `until`.
async fn hammer(cache: &CachedTokenSource<Counted>, until: Instant) -> Tally {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < until {
                    let started = Instant::now();
                    let result = cache.token().await;
                    tally.slowest = tally.slowest.max(started.elapsed());
                    tally.calls += 1;
                    match result {
                        Ok(token) => {
                            *tally
                                .tokens
                                .entry(token.expose_secret().to_owned())
                                .or_default() += 1;
                        }
                        Err(error) => {
                            *tally
                                .errors
                                .entry((error.kind(), error.status()))
                                .or_default() += 1;
                        }
                    }
                    tokio::time::sleep(PACE).await;
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.expect("a caller panicked"));
    }
    total
}

/// An honest token response from a raw server, living [`LIFETIME`].
fn raw_token(provider: Provider, access_token: &str) -> Script {
    let body = Value::Object(provider.token_body(access_token, LIFETIME.as_secs())).to_string();
    Script::respond(http_response(
        200,
        &[("content-type", "application/json")],
        body,
    ))
}

/// How the endpoint fails once the first token is out.
enum Outage {
    /// The mock answers `503` with an HTML page.
    ServerErrors(MockServer),
    /// The mock answers after 3 s, beyond the 1 s timeout.
    Slow(MockServer),
    /// The raw server resets every connection after the first.
    Resets(RawServer),
    /// The raw server is gone: connections are refused.
    Refused(Option<RawServer>),
}

impl Outage {
    fn name(&self) -> &'static str {
        match self {
            Outage::ServerErrors(_) => "503 errors",
            Outage::Slow(_) => "slow answers",
            Outage::Resets(_) => "connection resets",
            Outage::Refused(_) => "connections refused",
        }
    }

    fn token_url(&self, provider: Provider) -> String {
        match self {
            Outage::ServerErrors(server) | Outage::Slow(server) => server.token_url(),
            Outage::Resets(raw) | Outage::Refused(Some(raw)) => raw.url(provider.token_path()),
            Outage::Refused(None) => unreachable!("the url is taken before the outage"),
        }
    }

    fn begin(&mut self) {
        match self {
            Outage::ServerErrors(server) => server.fail_always(Fault::ServerError),
            Outage::Slow(server) => server.fail_always(Fault::Slow(Duration::from_secs(3))),
            // The script already resets every connection after the first.
            Outage::Resets(_) => {}
            Outage::Refused(raw) => drop(raw.take()),
        }
    }

    /// Requests counted at the endpoint, when it can count them.
    fn endpoint_requests(&self) -> Option<usize> {
        match self {
            Outage::ServerErrors(server) | Outage::Slow(server) => Some(server.token_hits()),
            Outage::Resets(raw) => Some(raw.connections()),
            Outage::Refused(_) => None,
        }
    }

    /// The status errors carry after expiry.
    fn status(&self) -> Option<u16> {
        match self {
            Outage::ServerErrors(_) => Some(503),
            _ => None,
        }
    }
}

/// One provider through one outage: a token is fetched, the endpoint starts failing, 200 callers
/// keep calling through refresh-ahead and past expiry.
async fn ride_out(provider: Provider, mut outage: Outage) -> String {
    let name = outage.name();
    let (cache, fetches) = cache(
        provider.source(&outage.token_url(provider), options()),
        BACKOFF,
    );

    let before_first = Instant::now();
    let first = cache.token().await.expect("the first token");
    let first_ready = Instant::now();
    outage.begin();
    let outage_began = Instant::now();

    // The token expires LIFETIME after its fetch ended, so no sooner than LIFETIME after
    // `before_first`; refresh-ahead starts half way (the margin is at most half the lifetime).
    // Callers stop well before the earliest expiry.
    let valid = hammer(&cache, before_first + LIFETIME - Duration::from_millis(800)).await;
    assert_eq!(
        valid.failures(),
        0,
        "{provider} / {name}: callers saw errors while the token was valid: {:?}",
        valid.errors
    );
    assert_eq!(
        valid.tokens.keys().collect::<Vec<_>>(),
        [first.expose_secret()],
        "{provider} / {name}: only the first token exists"
    );
    assert!(
        fetches.load(Ordering::SeqCst) >= 2,
        "{provider} / {name}: refresh-ahead never tried to fetch"
    );

    // Past the latest expiry: clear, retryable errors.
    tokio::time::sleep_until((first_ready + LIFETIME + Duration::from_millis(300)).into()).await;
    let expired = hammer(&cache, Instant::now() + Duration::from_millis(1500)).await;
    let window = outage_began.elapsed() + CLOCK_SLACK;
    assert_eq!(
        expired.successes(),
        0,
        "{provider} / {name}: a token after expiry during an outage"
    );
    assert!(expired.failures() > 0, "{provider} / {name}: no call made");
    let expected: HashSet<_> = [(ErrorKind::Unavailable, outage.status())].into();
    assert_eq!(
        expired.errors.keys().copied().collect::<HashSet<_>>(),
        expected,
        "{provider} / {name}: errors after expiry"
    );

    // One flight at a time, spaced by the backoff: the bound does not grow with the callers.
    let allowed = BACKOFF.max_requests(window);
    let during_outage = fetches.load(Ordering::SeqCst) - 1;
    assert!(
        during_outage <= allowed,
        "{provider} / {name}: {during_outage} fetches in {window:?}, the policy allows {allowed}"
    );
    if let Some(requests) = outage.endpoint_requests() {
        let requests = requests - 1;
        assert!(
            requests <= allowed,
            "{provider} / {name}: the endpoint saw {requests} requests in {window:?}, the policy allows {allowed}"
        );
    }
    format!(
        "{provider} / {name}: {} calls while valid (slowest {:?}), {} after expiry (slowest {:?}), \
         {during_outage} requests during the outage (policy bound {allowed} in {:.1} s)",
        valid.calls,
        valid.slowest,
        expired.calls,
        expired.slowest,
        window.as_secs_f64(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_ride_out_outages_during_refresh_ahead_and_get_clear_errors_after_expiry() {
    let _shared = crate::EXCLUSIVE.read().await;
    let mock = |provider: Provider| provider.mock(LIFETIME);
    let servers = Outage::ServerErrors(mock(Provider::YouniumV1).await);
    let slow = Outage::Slow(mock(Provider::Noyo).await);
    let resets = Outage::Resets(RawServer::sequence([
        raw_token(Provider::YouniumV2, "raw-token-1"),
        Script::new().reset(),
    ]));
    // On an address of its own, so that no other test server takes its port once it is gone.
    let refused = Outage::Refused(Some(RawServer::sequence_on(
        [127, 0, 0, 77].into(),
        [raw_token(Provider::OAuth2, "raw-token-1")],
    )));
    let reports = tokio::join!(
        ride_out(Provider::YouniumV1, servers),
        ride_out(Provider::Noyo, slow),
        ride_out(Provider::YouniumV2, resets),
        ride_out(Provider::OAuth2, refused),
    );
    for report in [reports.0, reports.1, reports.2, reports.3] {
        crate::report(&report);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_costs_one_request_per_backoff_step_and_recovery_one_fetch() {
    let _shared = crate::EXCLUSIVE.read().await;
    let server = Provider::OAuth2.mock(LIFETIME).await;
    server.fail_always(Fault::ServerError);
    let (cache, _) = cache(
        Provider::OAuth2.source(&server.token_url(), options()),
        BACKOFF,
    );

    let started = Instant::now();
    let outage = hammer(&cache, started + Duration::from_secs(3)).await;
    let window = started.elapsed() + CLOCK_SLACK;
    let hits = server.token_hits();
    let allowed = BACKOFF.max_requests(window);
    assert_eq!(outage.successes(), 0);
    assert_eq!(
        outage.errors.keys().copied().collect::<Vec<_>>(),
        [(ErrorKind::Unavailable, Some(503))]
    );
    assert!(
        (2..=allowed).contains(&hits),
        "{} calls made {hits} requests in {window:?}; the policy allows 2..={allowed}",
        outage.calls
    );

    // Recovery: every caller gets the one new token, fetched once.
    server.clear_faults();
    let barrier = Arc::new(Barrier::new(CALLERS));
    let deadline = Instant::now() + BACKOFF.max + Duration::from_secs(3);
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                loop {
                    match cache.token().await {
                        Ok(token) => return token.expose_secret().to_owned(),
                        Err(error) if Instant::now() < deadline => {
                            assert_eq!(error.kind(), ErrorKind::Unavailable);
                            tokio::time::sleep(PACE).await;
                        }
                        Err(error) => panic!("no recovery before the deadline: {error}"),
                    }
                }
            })
        })
        .collect();
    let mut tokens = HashSet::new();
    for caller in callers {
        tokens.insert(caller.await.expect("a caller panicked"));
    }
    assert_eq!(tokens.len(), 1, "every caller got the same token");
    assert_eq!(server.tokens_issued(), 1, "recovery cost one token");
    assert_eq!(server.token_hits(), hits + 1, "recovery cost one request");
    crate::report(&format!(
        "outage: {} calls from {CALLERS} callers made {hits} requests in {:.1} s (policy bound {allowed}); recovery: 1 request",
        outage.calls,
        window.as_secs_f64()
    ));
}

/// 200 callers arrive at once at an empty cache whose endpoint fails twice, then answers.
async fn flap(cache: &CachedTokenSource<Counted>) -> HashSet<String> {
    let barrier = Arc::new(Barrier::new(CALLERS));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                cache.token().await.map(|t| t.expose_secret().to_owned())
            })
        })
        .collect();
    let mut tokens = HashSet::new();
    for caller in callers {
        let token = caller
            .await
            .expect("a caller panicked")
            .unwrap_or_else(|e| panic!("a caller saw the flapping: {e}"));
        tokens.insert(token);
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_endpoint_is_absorbed_by_one_flight() {
    let _shared = crate::EXCLUSIVE.read().await;
    // Three attempts per flight: two failures and the success fit in one.
    let backoff = Backoff {
        attempts: 3,
        ..BACKOFF
    };

    let server = Provider::Noyo.mock(LIFETIME).await;
    server.fail_times(Fault::ServerError, 2);
    let (cached, fetches) = cache(
        Provider::Noyo.source(&server.token_url(), options()),
        backoff,
    );
    assert_eq!(flap(&cached).await.len(), 1);
    assert_eq!((server.token_hits(), server.tokens_issued()), (3, 1));
    assert_eq!(fetches.load(Ordering::SeqCst), 3);

    let raw = RawServer::sequence([
        Script::new().reset(),
        Script::new().reset(),
        raw_token(Provider::YouniumV1, "after-two-resets"),
    ]);
    let source = Provider::YouniumV1.source(&raw.url("/auth/token"), options());
    let (cached, fetches) = cache(source, backoff);
    let tokens = flap(&cached).await;
    assert_eq!(tokens, HashSet::from(["after-two-resets".to_owned()]));
    assert_eq!(raw.connections(), 3);
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_during_refresh_ahead_is_invisible_to_callers() {
    let _shared = crate::EXCLUSIVE.read().await;
    let backoff = Backoff {
        attempts: 3,
        ..BACKOFF
    };
    let server = Provider::YouniumV2.mock(LIFETIME).await;
    let (cache, _) = cache(
        Provider::YouniumV2.source(&server.token_url(), options()),
        backoff,
    );
    let first = cache.token().await.expect("the first token");
    let first_ready = Instant::now();
    server.fail_times(Fault::ServerError, 2);

    // Through the refresh (which fails twice, then succeeds) and past the first token's expiry.
    let tally = hammer(&cache, first_ready + LIFETIME + Duration::from_millis(300)).await;
    assert_eq!(
        tally.failures(),
        0,
        "callers saw errors: {:?}",
        tally.errors
    );
    assert!(tally.tokens.contains_key(first.expose_secret()));
    assert!(tally.tokens.len() >= 2, "the token was refreshed");
    // The first fetch, one flight of two failures and a success, and at most one more refresh
    // (the second token's own refresh-ahead may begin before the callers stop).
    let hits = server.token_hits();
    assert!((4..=5).contains(&hits), "{hits} requests");
    crate::report(&format!(
        "flapping during refresh-ahead: {} calls, {} tokens, {hits} requests, no error",
        tally.calls,
        tally.tokens.len()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_spaces_the_requests() {
    let _shared = crate::EXCLUSIVE.read().await;
    let server = Provider::YouniumV1.mock(LIFETIME).await;
    let retry_after = Duration::from_secs(1);
    server.fail_always(Fault::RateLimited {
        retry_after: Some(retry_after),
    });
    let backoff = Backoff {
        attempts: 1,
        max: Duration::from_secs(2),
        ..BACKOFF
    };
    let (cache, _) = cache(
        Provider::YouniumV1.source(&server.token_url(), options()),
        backoff,
    );
    let started = Instant::now();
    let tally = hammer(&cache, started + Duration::from_millis(2500)).await;
    let window = started.elapsed() + CLOCK_SLACK;
    assert_eq!(
        tally.errors.keys().copied().collect::<Vec<_>>(),
        [(ErrorKind::Unavailable, Some(429))]
    );
    // Every request waits at least Retry-After after the previous one.
    let allowed = 1 + (window.as_millis() / retry_after.as_millis()) as usize;
    let hits = server.token_hits();
    assert!(
        (1..=allowed).contains(&hits),
        "{hits} requests in {window:?} with Retry-After {retry_after:?}"
    );
}

#[test]
fn the_bound_follows_the_policy() {
    // One attempt per flight, no minimum interval: 0 | +100 | +200 | +400 | +400 ms ...
    let single = Backoff {
        attempts: 1,
        min_interval: Duration::ZERO,
        ..BACKOFF
    };
    assert_eq!(single.max_requests(Duration::ZERO), 1);
    assert_eq!(single.max_requests(Duration::from_millis(99)), 1);
    assert_eq!(single.max_requests(Duration::from_millis(100)), 2);
    assert_eq!(single.max_requests(Duration::from_millis(700)), 4);
    assert_eq!(single.max_requests(Duration::from_millis(1100)), 5);
    // Two attempts per flight, flights at least 250 ms apart.
    assert_eq!(BACKOFF.max_requests(Duration::ZERO), 1);
    assert_eq!(BACKOFF.max_requests(Duration::from_millis(100)), 2);
    assert_eq!(BACKOFF.max_requests(Duration::from_millis(250)), 3);
}
