//! What `AuthMiddleware` costs per request, against plain reqwest with a static `Authorization`
//! header, over a keep-alive HTTP/1.1 connection to a minimal server in the same process.
//!
//! `cargo bench -p tokensource --features middleware --bench middleware_overhead` runs:
//! 1. criterion group `request`: sequential GET requests (response body read), one variant each:
//!    - `plain`: `reqwest::Client`, `Authorization` set per request from a static `HeaderValue`;
//!    - `stack_only`: the same through a `ClientWithMiddleware` with no middleware, to separate
//!      reqwest-middleware's own cost from ours;
//!    - `middleware`: `ClientWithMiddleware` with an `AuthMiddleware` over a `CachedTokenSource`
//!      holding a fresh token (the hot path: no fetch).
//! 2. an interleaved run: in each round a block of requests per variant, in rotating order, so that
//!    drift (CPU frequency, other load) hits all alike; the median of the per-round ratios.
//! 3. a summary: median ns per request from criterion's samples, and both ratios against the target
//!    (middleware/plain < 1.05).
//!
//! The server is a tokio `TcpListener` that answers every request head with a fixed 200 response:
//! lighter than wiremock, so that the server's cost does not drown the difference. It runs on its
//! own thread (current-thread runtime); the client runs on a current-thread runtime in the main
//! thread, so each side has one of the machine's two cores and the client path is deterministic.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use criterion::Criterion;
use tokensource::reqwest::Client;
use tokensource::reqwest::header::{AUTHORIZATION, HeaderValue};
use tokensource::reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tokensource::rules::AuthRules;
use tokensource::{CachedTokenSource, Error, Token, TokenSource, from_fn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

const SAMPLE_SIZE: usize = 50;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(4);
/// Interleaved run: blocks of this many requests per variant, this many rounds.
const AB_BLOCK: u32 = 100;
const AB_ROUNDS: usize = 150;
const TARGET_RATIO: f64 = 1.05;

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";

/// Starts the server on its own thread and single-threaded runtime (one core for the server, one
/// for the client on this 2-core machine), and returns its address.
fn start_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            serve(TcpListener::from_std(listener).expect("listener")).await;
        });
    });
    addr
}

/// Serves every connection: answers each complete request head (no request bodies here).
async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_connection(stream));
    }
}

async fn serve_connection(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if stream.write_all(RESPONSE).await.is_err() {
                return;
            }
        }
    }
}

struct Fixture {
    url: String,
    plain: Client,
    stack_only: ClientWithMiddleware,
    middleware: ClientWithMiddleware,
    header: HeaderValue,
}

impl Fixture {
    fn new(rt: &Runtime) -> Fixture {
        let addr = start_server();
        let url = format!("http://{addr}/v1/items");
        let source: Arc<dyn TokenSource> =
            Arc::new(CachedTokenSource::new(from_fn("bench", || async {
                Token::builder("bench-token-0123456789abcdef")
                    .expires_in(Duration::from_secs(3600))
                    .build()
                    .map_err(Error::from)
            })));
        let auth = AuthRules::builder(Arc::clone(&source))
            .allow_origin(&format!("http://{addr}"))
            .expect("origin")
            .build()
            .expect("middleware")
            .middleware();
        let header = rt.block_on(async {
            // Warm the cache so that the measured requests take the hot path.
            source.token().await.expect("token").authorization_header()
        });
        Fixture {
            url,
            plain: Client::new(),
            stack_only: ClientBuilder::new(Client::new()).build(),
            middleware: ClientBuilder::new(Client::new()).with(auth).build(),
            header,
        }
    }

    async fn request(&self, variant: Variant) {
        let response = match variant {
            Variant::Plain => self
                .plain
                .get(&self.url)
                .header(AUTHORIZATION, self.header.clone())
                .send()
                .await
                .expect("plain request"),
            Variant::StackOnly => self
                .stack_only
                .get(&self.url)
                .header(AUTHORIZATION, self.header.clone())
                .send()
                .await
                .expect("stack-only request"),
            Variant::Middleware => self
                .middleware
                .get(&self.url)
                .send()
                .await
                .expect("middleware request"),
        };
        assert!(response.status().is_success());
        black_box(response.bytes().await.expect("body"));
    }

    async fn timed(&self, variant: Variant, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.request(variant).await;
        }
        start.elapsed()
    }
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    Plain,
    StackOnly,
    Middleware,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Plain, Variant::StackOnly, Variant::Middleware];

    fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::StackOnly => "stack_only",
            Variant::Middleware => "middleware",
        }
    }
}

/// Every sample criterion took, as ns per request, by variant.
static SAMPLES: Mutex<BTreeMap<&'static str, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn record(name: &'static str, iters: u64, elapsed: Duration) {
    if iters == 0 {
        return;
    }
    SAMPLES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(name)
        .or_default()
        .push(elapsed.as_secs_f64() * 1e9 / iters as f64);
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// The median over the measurement samples (the last `SAMPLE_SIZE`; earlier ones are warm-up).
fn median_ns(name: &str) -> Option<f64> {
    let samples = SAMPLES.lock().unwrap_or_else(PoisonError::into_inner);
    let all = samples.get(name)?;
    median(all[all.len().saturating_sub(SAMPLE_SIZE)..].to_vec())
}

fn criterion_groups(c: &mut Criterion, rt: &Runtime, fixture: &Fixture) {
    let mut group = c.benchmark_group("request");
    group
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT);
    for variant in Variant::ALL {
        group.bench_function(variant.name(), |b| {
            b.to_async(rt).iter_custom(|iters| async move {
                let elapsed = fixture.timed(variant, iters).await;
                record(variant.name(), iters, elapsed);
                elapsed
            });
        });
    }
    group.finish();
}

/// Median ratios to `plain` from interleaved blocks of every variant (the order rotates each
/// round): `(middleware/plain, stack_only/plain)`.
fn interleaved_ratios(rt: &Runtime, fixture: &Fixture) -> (f64, f64) {
    rt.block_on(async {
        let mut middleware = Vec::with_capacity(AB_ROUNDS);
        let mut stack_only = Vec::with_capacity(AB_ROUNDS);
        for round in 0..AB_ROUNDS {
            let mut times = [Duration::ZERO; 3];
            for i in 0..3 {
                let v = (round + i) % 3;
                times[v] = fixture.timed(Variant::ALL[v], AB_BLOCK.into()).await;
            }
            let [plain, stack, mw] = times.map(|t| t.as_secs_f64());
            middleware.push(mw / plain);
            stack_only.push(stack / plain);
        }
        (
            median(middleware).unwrap_or(f64::NAN),
            median(stack_only).unwrap_or(f64::NAN),
        )
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let listing = has("--list");
    // `cargo bench` passes --bench; `cargo test --benches` does not (criterion's test mode).
    let benchmarking = has("--bench") && !has("--test") && !listing;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = Fixture::new(&rt);

    let mut criterion = Criterion::default().configure_from_args();
    criterion_groups(&mut criterion, &rt, &fixture);
    criterion.final_summary();
    if !benchmarking {
        return;
    }

    let (ab, ab_stack) = interleaved_ratios(&rt, &fixture);
    println!();
    println!(
        "==== middleware overhead (median ns per request over criterion's samples, this run) ===="
    );
    for variant in Variant::ALL {
        if let Some(ns) = median_ns(variant.name()) {
            println!("{:<12} {:>10.0} ns", variant.name(), ns);
        }
    }
    let verdict = |ratio: f64| {
        if ratio < TARGET_RATIO {
            "ok"
        } else {
            "OVER TARGET"
        }
    };
    if let (Some(m), Some(p), Some(s)) = (
        median_ns("middleware"),
        median_ns("plain"),
        median_ns("stack_only"),
    ) {
        let ratio = m / p;
        println!(
            "ratio middleware/plain (criterion medians): {ratio:.3} (target < {TARGET_RATIO}) {}",
            verdict(ratio)
        );
        println!(
            "  of which reqwest-middleware's stack: stack_only/plain {:.3}; AuthMiddleware itself: middleware/stack_only {:.3}",
            s / p,
            m / s
        );
    }
    println!(
        "ratio middleware/plain (interleaved, median of {AB_ROUNDS} rounds x {AB_BLOCK} requests): {ab:.3} (target < {TARGET_RATIO}) {}",
        verdict(ab)
    );
    println!("  stack_only/plain (interleaved): {ab_stack:.3}");
}
