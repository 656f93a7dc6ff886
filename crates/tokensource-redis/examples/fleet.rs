//! A fleet on one machine: K processes × M tasks call `token()` over a few token lifetimes, with
//! each process caching on its own, then sharing through Redis: a standalone server, the same
//! over TLS (`rediss://` with a CA made for the run, given as `ca_file`), and a Redis Cluster of
//! three primaries. Prints the token endpoint's hits and the latency of `token()` as a markdown
//! table.
//!
//! ```sh
//! cargo run --release -p tokensource-redis --example fleet
//! FLEET_TARGETS=none,cluster cargo run --release -p tokensource-redis --example fleet
//! ```
//!
//! The example starts the Redis servers it needs (`redis-server` and `redis-cli` must be
//! installed); `TOKENSOURCE_TEST_REDIS_URL` names a running standalone server to use instead.
//! Optional settings: `FLEET_TARGETS` (`none,standalone,tls,cluster`), `FLEET_PROCESSES` (4),
//! `FLEET_TASKS` (50), `FLEET_LIFETIME_SECS` (4), `FLEET_LIFETIMES` (3),
//! `FLEET_CALL_INTERVAL_MS` (10), `FLEET_ENDPOINT_DELAY_MS` (50). The token endpoint is a local
//! mock that answers after `FLEET_ENDPOINT_DELAY_MS`; the processes are this example started
//! again.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokensource_core::{CachedTokenSource, Error, Token, TokenSource, from_fn};
use tokensource_redis::{RedisTokenStore, SecretString, credential_key};
use tokensource_testkit::redis_server::{RedisCluster, RedisServer};
use tokensource_testkit::tls::{ClientAuth, TestPki};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const REDIS_URL_VAR: &str = "TOKENSOURCE_TEST_REDIS_URL";
const CHILD_VAR: &str = "FLEET_CHILD";
const CLIENT_SECRET: &str = "fleet-example-client-secret";

fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {value:?}")),
        Err(_) => default,
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if std::env::var_os(CHILD_VAR).is_some() {
        runtime.block_on(child());
    } else {
        runtime.block_on(parent());
    }
}

/// Answers `tok-1`, `tok-2`, ... living `lifetime` seconds, after `delay`.
struct Endpoint {
    hits: AtomicUsize,
    lifetime_secs: u64,
    delay: Duration,
}

impl Respond for Endpoint {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.hits.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({
                "access_token": format!("tok-{n}"),
                "token_type": "Bearer",
                "expires_in": self.lifetime_secs,
            }))
            .set_delay(self.delay)
    }
}

struct Run {
    label: &'static str,
    calls: usize,
    errors: usize,
    hits: usize,
    latencies_ns: Vec<u64>,
}

/// Where a run's processes share their token.
enum Target {
    None,
    Standalone(String),
    Tls { url: String, ca_file: String },
    Cluster(Vec<String>),
}

impl Target {
    fn label(&self) -> &'static str {
        match self {
            Target::None => "none (each process caches)",
            Target::Standalone(_) => "Redis",
            Target::Tls { .. } => "Redis over TLS (`rediss://`, `ca_file`)",
            Target::Cluster(_) => "Redis Cluster (3 primaries)",
        }
    }

    /// What a child process is told: its mode, its URLs, its CA file.
    fn env(&self) -> [(&'static str, String); 3] {
        let (mode, urls, ca) = match self {
            Target::None => ("none", String::new(), String::new()),
            Target::Standalone(url) => ("standalone", url.clone(), String::new()),
            Target::Tls { url, ca_file } => ("standalone", url.clone(), ca_file.clone()),
            Target::Cluster(urls) => ("cluster", urls.join(","), String::new()),
        };
        [
            ("FLEET_MODE", mode.to_owned()),
            ("FLEET_REDIS", urls),
            ("FLEET_CA_FILE", ca),
        ]
    }
}

/// The servers the runs use, kept alive until the end.
#[derive(Default)]
struct Servers {
    standalone: Option<RedisServer>,
    tls: Option<(TestPki, RedisServer)>,
    cluster: Option<RedisCluster>,
}

async fn parent() {
    let processes = setting("FLEET_PROCESSES", 4);
    let tasks = setting("FLEET_TASKS", 50);
    let lifetime = setting("FLEET_LIFETIME_SECS", 4);
    let lifetimes = setting("FLEET_LIFETIMES", 3);
    let interval = setting("FLEET_CALL_INTERVAL_MS", 10);
    let delay = setting("FLEET_ENDPOINT_DELAY_MS", 50);
    let run_ms = lifetime * lifetimes * 1000;
    let wanted =
        std::env::var("FLEET_TARGETS").unwrap_or_else(|_| "none,standalone,tls,cluster".into());

    let mut servers = Servers::default();
    let mut targets = Vec::new();
    for name in wanted.split(',').map(str::trim) {
        targets.push(match name {
            "none" => Target::None,
            "standalone" => Target::Standalone(match std::env::var(REDIS_URL_VAR) {
                Ok(url) if !url.is_empty() => url,
                _ => servers
                    .standalone
                    .insert(RedisServer::started("the fleet example"))
                    .url(),
            }),
            "tls" => {
                let pki = TestPki::new();
                let server = RedisServer::started_tls("the fleet example", &pki, ClientAuth::None);
                let target = Target::Tls {
                    url: server.tls_url(),
                    ca_file: pki.ca_file().display().to_string(),
                };
                servers.tls = Some((pki, server));
                target
            }
            "cluster" => Target::Cluster(
                servers
                    .cluster
                    .insert(RedisCluster::start("the fleet example", 3))
                    .urls(),
            ),
            other => {
                eprintln!(
                    "FLEET_TARGETS: unknown target {other:?} (none, standalone, tls, cluster)"
                );
                std::process::exit(2);
            }
        });
    }

    let mut runs = Vec::new();
    for target in &targets {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Endpoint {
                hits: AtomicUsize::new(0),
                lifetime_secs: lifetime,
                delay: Duration::from_millis(delay),
            })
            .mount(&server)
            .await;
        let key = credential_key(
            "fleet-example",
            &server.uri(),
            &format!("client-{:x}", rand::random::<u64>()),
        );
        let start_at = unix_ms() + 1000;
        let mut env: Vec<(&str, String)> = vec![
            (CHILD_VAR, "1".to_owned()),
            ("FLEET_ENDPOINT", format!("{}/token", server.uri())),
            ("FLEET_KEY", key),
            ("FLEET_TASKS", tasks.to_string()),
            ("FLEET_RUN_MS", run_ms.to_string()),
            ("FLEET_INTERVAL_MS", interval.to_string()),
            ("FLEET_START_AT_MS", start_at.to_string()),
        ];
        env.extend(target.env());
        let children: Vec<Child> = (0..processes).map(|_| spawn(&env)).collect();
        let results = tokio::task::spawn_blocking(move || {
            children.into_iter().map(collect).collect::<Vec<_>>()
        })
        .await
        .expect("children collected");
        let mut run = Run {
            label: target.label(),
            calls: 0,
            errors: 0,
            hits: server.received_requests().await.map_or(0, |r| r.len()),
            latencies_ns: Vec::new(),
        };
        for (errors, latencies) in results {
            run.errors += errors;
            run.calls += latencies.len() + errors;
            run.latencies_ns.extend(latencies);
        }
        run.latencies_ns.sort_unstable();
        runs.push(run);
    }
    drop(servers);

    println!(
        "{processes} processes × {tasks} tasks, each calling token() every {interval} ms for \
         {lifetimes} token lifetimes of {lifetime} s (refresh margin: half the lifetime); the \
         token endpoint answers after {delay} ms.\n"
    );
    println!(
        "| shared store | token endpoint hits | token() calls | errors | p50 | p99 | p99.9 | max |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for run in &runs {
        let p = |q: f64| percentile(&run.latencies_ns, q);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            run.label,
            run.hits,
            run.calls,
            run.errors,
            p(0.50),
            p(0.99),
            p(0.999),
            p(1.0),
        );
    }
}

fn spawn(env: &[(&str, String)]) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("this example's path"));
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("start a fleet process")
}

/// A child's error count and latencies (ns).
fn collect(mut child: Child) -> (usize, Vec<u64>) {
    let stdout = child.stdout.take().expect("piped stdout");
    let (mut errors, mut latencies) = (0, Vec::new());
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read a fleet process's output");
        if let Some(n) = line.strip_prefix("FLEET-ERRORS ") {
            errors = n.parse().expect("an error count");
        } else if let Some(samples) = line.strip_prefix("FLEET-LATENCIES ") {
            latencies.extend(samples.split(' ').filter_map(|s| s.parse::<u64>().ok()));
        }
    }
    let status = child.wait().expect("wait for a fleet process");
    assert!(status.success(), "a fleet process failed: {status}");
    (errors, latencies)
}

fn percentile(sorted: &[u64], q: f64) -> String {
    if sorted.is_empty() {
        return "-".to_owned();
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    let ns = sorted[index.min(sorted.len() - 1)];
    match ns {
        0..=999 => format!("{ns} ns"),
        1_000..=999_999 => format!("{:.1} µs", ns as f64 / 1e3),
        _ => format!("{:.1} ms", ns as f64 / 1e6),
    }
}

/// One fleet process: `FLEET_TASKS` tasks call `token()` every `FLEET_INTERVAL_MS` for
/// `FLEET_RUN_MS`, then the process prints its error count and latencies.
async fn child() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let number = |name: &str| -> u64 { var(name).parse().expect("a number") };
    let (endpoint, redis, key) = (var("FLEET_ENDPOINT"), var("FLEET_REDIS"), var("FLEET_KEY"));
    let (mode, ca_file) = (var("FLEET_MODE"), var("FLEET_CA_FILE"));
    let (tasks, run_ms, interval) = (
        number("FLEET_TASKS"),
        number("FLEET_RUN_MS"),
        number("FLEET_INTERVAL_MS"),
    );

    let client = reqwest::Client::new();
    let endpoint = Arc::new(endpoint);
    let source = from_fn("fleet-endpoint", move || {
        let (client, endpoint) = (client.clone(), Arc::clone(&endpoint));
        async move { fetch(&client, &endpoint).await }
    });
    let mut builder = CachedTokenSource::builder(source);
    let secret = SecretString::from(CLIENT_SECRET);
    let store = match mode.as_str() {
        "standalone" => Some(RedisTokenStore::builder(&redis, &secret)),
        "cluster" => Some(RedisTokenStore::cluster_builder(redis.split(','), &secret)),
        _ => None,
    };
    if let Some(mut store) = store {
        if !ca_file.is_empty() {
            store = store.ca_file(&ca_file);
        }
        let store = store.build().expect("valid Redis settings");
        builder = builder.store(Arc::new(store), key);
    }
    let cache = builder.build();

    let wait = number("FLEET_START_AT_MS").saturating_sub(unix_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let end = Instant::now() + Duration::from_millis(run_ms);
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let (mut errors, mut latencies) = (0usize, Vec::new());
                let mut ticks = tokio::time::interval(Duration::from_millis(interval));
                while Instant::now() < end {
                    ticks.tick().await;
                    let started = Instant::now();
                    let result = cache.token().await;
                    let elapsed = started.elapsed();
                    match result {
                        Ok(_) => {
                            latencies.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
                        }
                        Err(_) => errors += 1,
                    }
                }
                (errors, latencies)
            })
        })
        .collect();
    let (mut errors, mut latencies) = (0, Vec::new());
    for handle in handles {
        let (e, l) = handle.await.expect("a fleet task");
        errors += e;
        latencies.extend(l);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    writeln!(out, "FLEET-ERRORS {errors}").expect("write results");
    write!(out, "FLEET-LATENCIES").expect("write results");
    for ns in latencies {
        write!(out, " {ns}").expect("write results");
    }
    writeln!(out).expect("write results");
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Token, Error> {
    let unavailable = |e: reqwest::Error| Error::unavailable("fleet-endpoint", e.to_string());
    let body = client
        .post(url)
        .body("grant_type=client_credentials")
        .send()
        .await
        .map_err(unavailable)?
        .text()
        .await
        .map_err(unavailable)?;
    let json: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| Error::invalid_response("fleet-endpoint", e.to_string()))?;
    let access_token = json["access_token"]
        .as_str()
        .ok_or_else(|| Error::invalid_response("fleet-endpoint", "no access_token"))?;
    let lifetime = json["expires_in"].as_u64().unwrap_or(60);
    Token::builder(access_token)
        .expires_in(Duration::from_secs(lifetime))
        .build()
        .map_err(Error::from)
}
