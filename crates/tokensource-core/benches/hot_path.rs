//! The cache's hot path (a fresh token) against the usual ways of caching a token, on 1 and 2
//! threads: `cargo bench -p tokensource-core --bench hot_path`.
//!
//! Criterion groups `hot_path/1_thread` and `hot_path/2_threads` measure the per-call cost of every
//! variant below. With 2 threads both OS threads (pinned to different CPUs) call the same shared
//! instance (async variants on a current-thread runtime per thread); the time is per call per
//! thread. At the end the ratios the README reports are printed from the same samples.
//!
//! Variants:
//! - `cache_dyn`: `CachedTokenSource` through `Arc<dyn TokenSource>`, `source.token().await`.
//! - `cache_deref_dyn`: the same cache, `(*source).token().await`.
//! - `cache_sync`: `CachedTokenSource::cached_token()`.
//! - `a_tokio_mutex`: `tokio::sync::Mutex<Option<(Arc<Token>, Instant)>>` locked per call.
//! - `b_tokio_rwlock`: `tokio::sync::RwLock<Option<(Token, Instant)>>` read, re-checked under the
//!   write lock to refresh (object_store's token cache design).
//! - `c_std_rwlock`: `std::sync::RwLock<(Token, Instant)>` read.
//! - `d_floor`: a `Token` clone (one `Arc` increment) plus an `Instant::now()` expiry check.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::{
    Floor, HOT_MARGIN, StdRwLockCache, TokioMutexCache, TokioRwLockCache, current_thread_runtime,
    fresh_token, refresh_deadline,
};
use criterion::Criterion;
use tokensource_core::{CachedTokenSource, StaticTokenSource, TokenSource};

/// Criterion settings: keep the whole run under ~3 minutes on 2 cores.
const SAMPLE_SIZE: usize = 30;
const WARM_UP: Duration = Duration::from_millis(400);
const MEASUREMENT: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------
// Hot path
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    CacheDyn,
    CacheDerefDyn,
    CacheSync,
    TokioMutex,
    TokioRwLock,
    StdRwLock,
    Floor,
}

impl Variant {
    const ALL: [Variant; 7] = [
        Variant::CacheDyn,
        Variant::CacheDerefDyn,
        Variant::CacheSync,
        Variant::TokioMutex,
        Variant::TokioRwLock,
        Variant::StdRwLock,
        Variant::Floor,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::CacheDyn => "cache_dyn",
            Variant::CacheDerefDyn => "cache_deref_dyn",
            Variant::CacheSync => "cache_sync",
            Variant::TokioMutex => "a_tokio_mutex",
            Variant::TokioRwLock => "b_tokio_rwlock",
            Variant::StdRwLock => "c_std_rwlock",
            Variant::Floor => "d_floor",
        }
    }
}

/// One instance of every variant, each holding a fresh token, shared by the threads of a sample.
#[derive(Debug)]
struct HotFixtures {
    cache: CachedTokenSource<StaticTokenSource>,
    dyn_source: Arc<dyn TokenSource>,
    mutex: TokioMutexCache,
    rwlock: TokioRwLockCache,
    std_rwlock: StdRwLockCache,
    floor: Floor,
}

impl HotFixtures {
    fn new() -> Self {
        let token = fresh_token();
        let upstream: Arc<dyn TokenSource> = Arc::new(StaticTokenSource::new(token.clone()));
        let cache = CachedTokenSource::new(StaticTokenSource::new(token.clone()));
        let dyn_source: Arc<dyn TokenSource> = Arc::new(cache.clone());
        let fixtures = HotFixtures {
            cache,
            dyn_source,
            mutex: TokioMutexCache::new(Arc::clone(&upstream), HOT_MARGIN),
            rwlock: TokioRwLockCache::new(upstream, HOT_MARGIN),
            std_rwlock: StdRwLockCache {
                slot: std::sync::RwLock::new((token.clone(), refresh_deadline(&token, HOT_MARGIN))),
            },
            floor: Floor {
                refresh_at: refresh_deadline(&token, HOT_MARGIN),
                token,
            },
        };
        // Prime the async caches (the first call fetches).
        current_thread_runtime().block_on(async {
            fixtures.dyn_source.token().await.expect("prime the cache");
            fixtures.mutex.token().await.expect("prime (a)");
            fixtures.rwlock.token().await.expect("prime (b)");
        });
        assert!(
            fixtures.cache.cached_token().is_some(),
            "the token is fresh"
        );
        assert!(fixtures.std_rwlock.cached().is_some());
        assert!(fixtures.floor.cached().is_some());
        fixtures
    }
}

/// Runs `n` calls of `variant` on this thread once every thread is ready; returns their time.
fn timed_calls(fx: &HotFixtures, variant: Variant, n: u64, ready: &Barrier) -> Sample {
    match variant {
        Variant::CacheDyn => {
            let rt = current_thread_runtime();
            let source = &fx.dyn_source;
            ready.wait();
            rt.block_on(async {
                let timer = Timer::start();
                for _ in 0..n {
                    let _ = black_box(source.token().await);
                }
                timer.stop()
            })
        }
        Variant::CacheDerefDyn => {
            let rt = current_thread_runtime();
            let source: &dyn TokenSource = &*fx.dyn_source;
            ready.wait();
            rt.block_on(async {
                let timer = Timer::start();
                for _ in 0..n {
                    let _ = black_box(source.token().await);
                }
                timer.stop()
            })
        }
        Variant::TokioMutex => {
            let rt = current_thread_runtime();
            ready.wait();
            rt.block_on(async {
                let timer = Timer::start();
                for _ in 0..n {
                    let _ = black_box(fx.mutex.token().await);
                }
                timer.stop()
            })
        }
        Variant::TokioRwLock => {
            let rt = current_thread_runtime();
            ready.wait();
            rt.block_on(async {
                let timer = Timer::start();
                for _ in 0..n {
                    let _ = black_box(fx.rwlock.token().await);
                }
                timer.stop()
            })
        }
        Variant::CacheSync => {
            ready.wait();
            let timer = Timer::start();
            for _ in 0..n {
                black_box(fx.cache.cached_token());
            }
            timer.stop()
        }
        Variant::StdRwLock => {
            ready.wait();
            let timer = Timer::start();
            for _ in 0..n {
                black_box(fx.std_rwlock.cached());
            }
            timer.stop()
        }
        Variant::Floor => {
            ready.wait();
            let timer = Timer::start();
            for _ in 0..n {
                black_box(fx.floor.cached());
            }
            timer.stop()
        }
    }
}

/// How long a timed loop took.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
}

/// Times a loop on the wall clock.
struct Timer {
    started: Instant,
}

impl Timer {
    fn start() -> Self {
        Timer {
            started: Instant::now(),
        }
    }

    fn stop(self) -> Sample {
        Sample {
            wall: self.started.elapsed(),
        }
    }
}

/// What a run of `threads` threads measured.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// The mean wall time of one thread.
    wall: Duration,
}

/// Pins this thread to the `index`-th CPU it may run on, so that the threads of a run are on
/// different CPUs (the scheduler may otherwise stack them on one when another process keeps the
/// other CPU busy). Best effort: does nothing where it cannot.
#[cfg(target_os = "linux")]
fn pin_to_cpu(index: usize) {
    // SAFETY: `cpu_set_t` is plain data, valid when zeroed; the calls only read and write `set`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut set) != 0 {
            return;
        }
        let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect();
        if allowed.len() < 2 {
            return;
        }
        let mut pinned: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(allowed[index % allowed.len()], &mut pinned);
        let _ = libc::sched_setaffinity(0, size, &pinned);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to_cpu(_index: usize) {}

/// `threads` OS threads each make `n` calls on the same fixtures.
fn run_threads(threads: usize, n: u64, call: impl Fn(u64, &Barrier) -> Sample + Sync) -> Run {
    let samples: Vec<Sample> = if threads == 1 {
        vec![call(n, &Barrier::new(1))]
    } else {
        let ready = Barrier::new(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|index| {
                    let (ready, call) = (&ready, &call);
                    scope.spawn(move || {
                        pin_to_cpu(index);
                        call(n, ready)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a bench thread panicked"))
                .collect()
        })
    };
    let wall = samples.iter().map(|s| s.wall).sum::<Duration>()
        / u32::try_from(samples.len()).expect("few threads");
    Run { wall }
}

// ---------------------------------------------------------------------------------------------
// Samples, kept for the summary
// ---------------------------------------------------------------------------------------------

/// Every sample criterion took, as ns per call, by benchmark id.
static SAMPLES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn record(id: &str, iters: u64, elapsed: Duration) {
    if iters == 0 {
        return;
    }
    let per_call = elapsed.as_secs_f64() * 1e9 / iters as f64;
    SAMPLES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(id.to_owned())
        .or_default()
        .push(per_call);
}

/// The median ns per call over the measurement samples (the last `SAMPLE_SIZE`; the earlier ones
/// are criterion's warm-up).
fn median_ns(id: &str) -> Option<f64> {
    let samples = SAMPLES.lock().unwrap_or_else(PoisonError::into_inner);
    let all = samples.get(id)?;
    let mut last: Vec<f64> = all[all.len().saturating_sub(SAMPLE_SIZE)..].to_vec();
    last.sort_by(f64::total_cmp);
    last.get(last.len() / 2).copied()
}

/// Runs a criterion benchmark through `iter_custom`, recording every sample.
fn bench_custom(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    group_name: &str,
    name: &str,
    mut routine: impl FnMut(u64) -> Duration,
) {
    let id = format!("{group_name}/{name}");
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let elapsed = routine(iters);
            record(&id, iters, elapsed);
            elapsed
        });
    });
}

fn hot_path_groups(c: &mut Criterion, fixtures: &HotFixtures) {
    for threads in [1usize, 2] {
        let group_name = if threads == 1 {
            "hot_path/1_thread"
        } else {
            "hot_path/2_threads"
        };
        let mut group = c.benchmark_group(group_name);
        group
            .sample_size(SAMPLE_SIZE)
            .warm_up_time(WARM_UP)
            .measurement_time(MEASUREMENT);
        for variant in Variant::ALL {
            let fx = fixtures;
            bench_custom(&mut group, group_name, variant.name(), |iters| {
                run_threads(threads, iters, |n, ready| {
                    timed_calls(fx, variant, n, ready)
                })
                .wall
            });
        }
        group.finish();
    }
}

/// The ratios the README reports, from criterion's own samples (medians).
fn print_ratios() {
    let ns = |threads: &str, variant: &str| median_ns(&format!("hot_path/{threads}/{variant}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    };
    println!("\nhot path, ns per call per thread (criterion medians):");
    println!("| variant | 1 thread | 2 threads |");
    println!("|---|---:|---:|");
    for variant in Variant::ALL {
        let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "| {} | {} | {} |",
            variant.name(),
            show(ns("1_thread", variant.name())),
            show(ns("2_threads", variant.name()))
        );
    }
    println!("\n| ratio | measured | target |");
    println!("|---|---:|---:|");
    println!(
        "| async path / floor, 1 thread | {} | <= 1.6 |",
        ratio(ns("1_thread", "cache_dyn"), ns("1_thread", "d_floor"))
    );
    println!(
        "| (b) tokio RwLock / async path, 2 threads | {} | >= 2.5 |",
        ratio(
            ns("2_threads", "b_tokio_rwlock"),
            ns("2_threads", "cache_dyn")
        )
    );
    println!(
        "| synchronous accessor / floor, 1 and 2 threads | {}, {} | <= 1.0 |",
        ratio(ns("1_thread", "cache_sync"), ns("1_thread", "d_floor")),
        ratio(ns("2_threads", "cache_sync"), ns("2_threads", "d_floor"))
    );
}

fn main() {
    let fixtures = HotFixtures::new();
    let mut criterion = Criterion::default().configure_from_args();
    hot_path_groups(&mut criterion, &fixtures);
    criterion.final_summary();
    print_ratios();
}
