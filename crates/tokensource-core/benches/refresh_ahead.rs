//! Refresh ahead: callers arriving inside the refresh margin while the token endpoint takes
//! 50 ms. The cache hands out the still-valid token at once and refreshes in the background; the
//! baselines make callers wait for the endpoint. `cargo bench -p tokensource-core --bench
//! refresh_ahead` prints each variant's caller latency percentiles over 20 rounds;
//! `cargo test --benches` runs one round as a smoke test.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TokioMutexCache, TokioRwLockCache};
use tokensource_core::{CachedTokenSource, Error, RefreshPolicy, Token, TokenSource, from_fn};

// ---------------------------------------------------------------------------------------------
// Refresh ahead
// ---------------------------------------------------------------------------------------------

/// How long the token endpoint takes.
const RA_FETCH: Duration = Duration::from_millis(50);
/// The lifetime of the tokens it hands out.
const RA_LIFETIME: Duration = Duration::from_millis(200);
/// The refresh margin (the same for every variant): refresh from 100 ms of age on.
const RA_MARGIN: Duration = Duration::from_millis(100);
/// When the burst comes, after the token was obtained: inside the margin, 80 ms before expiry.
const RA_BURST_AT: Duration = Duration::from_millis(120);
const RA_CALLERS: usize = 64;

/// A token endpoint that takes [`RA_FETCH`] per token.
fn slow_endpoint() -> Arc<dyn TokenSource> {
    Arc::new(from_fn("slow-endpoint", || async {
        tokio::time::sleep(RA_FETCH).await;
        Token::builder("refreshed-token")
            .expires_in(RA_LIFETIME)
            .build()
            .map_err(Error::from)
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RaVariant {
    Cache,
    TokioMutex,
    TokioRwLock,
}

impl RaVariant {
    const ALL: [RaVariant; 3] = [
        RaVariant::Cache,
        RaVariant::TokioMutex,
        RaVariant::TokioRwLock,
    ];

    fn name(self) -> &'static str {
        match self {
            RaVariant::Cache => "cache (Arc<dyn TokenSource>)",
            RaVariant::TokioMutex => "(a) tokio Mutex",
            RaVariant::TokioRwLock => "(b) tokio RwLock",
        }
    }

    fn build(self) -> RaTarget {
        match self {
            RaVariant::Cache => RaTarget::Cache(Arc::new(
                CachedTokenSource::builder(slow_endpoint())
                    .policy(
                        RefreshPolicy::default()
                            .with_margin(RA_MARGIN)
                            .with_min_interval(Duration::from_millis(10)),
                    )
                    .build(),
            )),
            RaVariant::TokioMutex => {
                RaTarget::TokioMutex(Arc::new(TokioMutexCache::new(slow_endpoint(), RA_MARGIN)))
            }
            RaVariant::TokioRwLock => {
                RaTarget::TokioRwLock(Arc::new(TokioRwLockCache::new(slow_endpoint(), RA_MARGIN)))
            }
        }
    }
}

#[derive(Debug, Clone)]
enum RaTarget {
    Cache(Arc<dyn TokenSource>),
    TokioMutex(Arc<TokioMutexCache>),
    TokioRwLock(Arc<TokioRwLockCache>),
}

impl RaTarget {
    async fn call(&self) -> bool {
        match self {
            RaTarget::Cache(source) => source.token().await.is_ok(),
            RaTarget::TokioMutex(cache) => cache.token().await.is_ok(),
            RaTarget::TokioRwLock(cache) => cache.token().await.is_ok(),
        }
    }
}

/// One round: a new cache obtains a token, then 64 callers arrive together inside the margin.
/// Returns each caller's latency.
async fn burst_round(variant: RaVariant) -> Vec<Duration> {
    let target = variant.build();
    assert!(target.call().await, "the first fetch succeeds");
    tokio::time::sleep(RA_BURST_AT).await;
    let go = Arc::new(tokio::sync::Barrier::new(RA_CALLERS));
    let tasks: Vec<_> = (0..RA_CALLERS)
        .map(|_| {
            let target = target.clone();
            let go = Arc::clone(&go);
            tokio::spawn(async move {
                go.wait().await;
                let start = Instant::now();
                let ok = target.call().await;
                (start.elapsed(), ok)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(RA_CALLERS);
    for task in tasks {
        let (latency, ok) = task.await.expect("a caller task panicked");
        assert!(ok, "{}: a caller got an error", variant.name());
        latencies.push(latency);
    }
    // Let a background refresh land before the next round.
    tokio::time::sleep(RA_FETCH + Duration::from_millis(10)).await;
    latencies
}

/// 64 callers call in a loop, 1 ms apart, for `duration`: tokens expire and get refreshed every
/// ~150 ms (fetch + fresh period) along the way. Returns every call's latency.
async fn steady_traffic(variant: RaVariant, duration: Duration) -> Vec<Duration> {
    let target = variant.build();
    assert!(target.call().await, "the first fetch succeeds");
    let end = Instant::now() + duration;
    let tasks: Vec<_> = (0..RA_CALLERS)
        .map(|_| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < end {
                    let start = Instant::now();
                    let ok = target.call().await;
                    latencies.push(start.elapsed());
                    assert!(ok, "a caller got an error");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a caller task panicked"));
    }
    latencies
}

#[derive(Debug, Clone, Copy, Default)]
struct Percentiles {
    count: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
}

fn percentiles(mut latencies: Vec<Duration>) -> Percentiles {
    latencies.sort_unstable();
    let at = |q: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    Percentiles {
        count: latencies.len(),
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        p999: at(0.999),
        max: latencies.last().copied().unwrap_or_default(),
    }
}

fn fmt_latency(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// The refresh-ahead results: burst p-values and steady-traffic p-values per variant.
type RaResults = Vec<(RaVariant, Percentiles, Percentiles)>;

fn refresh_ahead(rounds: usize, steady: Duration) -> RaResults {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-thread runtime");
    let mut results = Vec::new();
    for variant in RaVariant::ALL {
        let (burst, steady) = rt.block_on(async {
            let mut burst = Vec::new();
            for _ in 0..rounds {
                burst.extend(burst_round(variant).await);
            }
            let steady = if steady.is_zero() {
                Vec::new()
            } else {
                steady_traffic(variant, steady).await
            };
            (burst, steady)
        });
        results.push((variant, percentiles(burst), percentiles(steady)));
    }
    results
}

fn print_refresh_ahead(results: &RaResults, rounds: usize, steady: Duration) {
    println!();
    println!(
        "refresh ahead: endpoint {} ms, token lifetime {} ms, margin {} ms, {RA_CALLERS} callers, \
         multi-thread runtime with 2 workers",
        RA_FETCH.as_millis(),
        RA_LIFETIME.as_millis(),
        RA_MARGIN.as_millis()
    );
    println!(
        "  burst: {rounds} rounds, all {RA_CALLERS} callers arrive together {} ms after the token \
         was obtained (inside the margin, token still valid)",
        RA_BURST_AT.as_millis()
    );
    println!(
        "  {:<30} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "variant", "calls", "p50", "p90", "p99", "max"
    );
    for (variant, burst, _) in results {
        println!(
            "  {:<30} {:>7} {:>10} {:>10} {:>10} {:>10}",
            variant.name(),
            burst.count,
            fmt_latency(burst.p50),
            fmt_latency(burst.p90),
            fmt_latency(burst.p99),
            fmt_latency(burst.max)
        );
    }
    if !steady.is_zero() {
        println!(
            "  steady: each caller calls every ~1 ms for {} s (refresh every ~{} ms)",
            steady.as_secs_f64(),
            (RA_LIFETIME - RA_MARGIN).as_millis()
        );
        println!(
            "  {:<30} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "variant", "calls", "p50", "p90", "p99", "p99.9", "max"
        );
        for (variant, _, steady) in results {
            println!(
                "  {:<30} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
                variant.name(),
                steady.count,
                fmt_latency(steady.p50),
                fmt_latency(steady.p90),
                fmt_latency(steady.p99),
                fmt_latency(steady.p999),
                fmt_latency(steady.max)
            );
        }
    }
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let (rounds, steady) = if benchmarking {
        (20, Duration::from_secs(2))
    } else {
        (1, Duration::ZERO)
    };
    let results = refresh_ahead(rounds, steady);
    print_refresh_ahead(&results, rounds, steady);
}
