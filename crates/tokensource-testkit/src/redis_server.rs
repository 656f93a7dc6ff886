//! Real Redis for tests, started by the test itself:
//!
//! - [`redis_url`] gives every test of a process one server (the one
//!   `TOKENSOURCE_TEST_REDIS_URL` names, or one started on a free loopback port);
//! - [`RedisServer`] runs one a test can start, kill and restart, in plain TCP or with TLS
//!   ([`RedisServer::started_tls`], certificates from a [`TestPki`]);
//! - [`RedisCluster`] runs a Redis Cluster of primaries on loopback (made with
//!   `redis-cli --cluster create`), plain or TLS; [`RedisCluster::shared`] gives one to every
//!   test of a process;
//! - [`RedisSentinelSet`] runs a primary, a replica and a Sentinel watching them, and fails the
//!   primary over on demand.
//!
//! Without `redis-server` (or `redis-cli`, for clusters and sentinels) on `PATH` they panic and
//! say what to install: a test that needs Redis never passes by skipping. Every server they
//! start is stopped when its owner is dropped, and in any case when the test process exits.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tls::{ClientAuth, TestPki};

/// The environment variable naming a running Redis server for the tests.
pub const REDIS_URL_VAR: &str = "TOKENSOURCE_TEST_REDIS_URL";

/// What to install, for the panics of this module.
const INSTALL: &str = "install redis (Debian/Ubuntu: `apt-get install redis-server redis-tools`, \
     whose redis-server 7 is built with TLS; macOS: `brew install redis`)";

/// How long a server, cluster or sentinel set may take to come up.
const START_LIMIT: Duration = Duration::from_secs(20);

/// The Redis URL to test against: `TOKENSOURCE_TEST_REDIS_URL` if set, else a `redis-server`
/// this test process starts once (on a free loopback port, gone when the process exits).
///
/// # Panics
/// When the variable is not set and `redis-server` cannot be run: these tests never pass by
/// skipping.
pub fn redis_url(test: &str) -> String {
    static OWN: std::sync::OnceLock<RedisServer> = std::sync::OnceLock::new();
    match std::env::var(REDIS_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => OWN.get_or_init(|| RedisServer::started(test)).url(),
    }
}

/// A free loopback TCP port (free when asked; good enough for a test).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Panics, saying what to install, unless `program --version` runs.
fn require_program(program: &str, test: &str) {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{test} needs `{program}`, which cannot be run: {INSTALL}; the tests start their own \
         servers with it"
    );
}

/// A folder for a server's files (configuration, logs), removed on drop.
#[derive(Debug)]
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(what: &str) -> WorkDir {
        let dir = std::env::temp_dir().join(format!(
            "tokensource-{what}-{}-{:016x}",
            std::process::id(),
            rand_u64()
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        // Removed on drop, and in any case once this process has exited (a shared cluster is a
        // static, never dropped; a test may be killed).
        let script = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; rm -rf '{}'",
            std::process::id(),
            dir.display()
        );
        run_watcher(&script);
        WorkDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// A `redis-server` process with its command line, so that it can be started again.
#[derive(Debug)]
struct Process {
    args: Vec<String>,
    /// The port to wait for: the plain port, or the TLS port of a TLS-only server.
    ready_port: u16,
    log: Option<PathBuf>,
    child: Option<Child>,
}

impl Process {
    fn new(args: Vec<String>, ready_port: u16, log: Option<PathBuf>) -> Process {
        Process {
            args,
            ready_port,
            log,
            child: None,
        }
    }

    /// Starts the server, stopped as well when this test process exits (a watcher shell kills
    /// it then: statics are never dropped, and a test may be killed), and waits until it
    /// accepts connections.
    fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server: {e}; {INSTALL}"));
        reap_with_this_process(child.id());
        self.child = Some(child);
        self.wait_until_up();
    }

    fn wait_until_up(&mut self) {
        let address = SocketAddr::from(([127, 0, 0, 1], self.ready_port));
        let deadline = Instant::now() + START_LIMIT;
        while TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_err() {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "redis-server {} exited ({status}) at start: {}",
                    self.args.join(" "),
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        match &self.log {
            Some(log) => {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(15)..].join("\n")
            }
            None => "(no log)".to_owned(),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills process `pid` once this test process has exited (or at once if it already did).
fn reap_with_this_process(pid: u32) {
    let script = format!(
        "while kill -0 {parent} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         kill {pid} 2>/dev/null",
        parent = std::process::id()
    );
    run_watcher(&script);
}

/// Runs the shell `script` in the background, as a watcher that outlives this process if it
/// must; reaped when it ends while this process still runs. A watcher that cannot start is
/// left out (the cleanup it would do is a courtesy).
fn run_watcher(script: &str) {
    if let Ok(mut watcher) = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        std::thread::spawn(move || watcher.wait());
    }
}

/// The common arguments of a test server: loopback only, no persistence.
fn base_args(port: u16, dir: Option<&Path>) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(dir) = dir {
        args.extend(["--dir".to_owned(), dir.display().to_string()]);
        args.extend([
            "--logfile".to_owned(),
            dir.join(format!("redis-{port}.log")).display().to_string(),
        ]);
    }
    args
}

/// The arguments that make a server speak TLS with the [`TestPki`]'s server certificate, and
/// present its client certificate where it connects to another server (the cluster bus,
/// replication: the server certificate is for servers only).
fn tls_args(pki: &TestPki, client_auth: ClientAuth) -> Vec<String> {
    vec![
        "--tls-cert-file".to_owned(),
        pki.server_cert_file().display().to_string(),
        "--tls-key-file".to_owned(),
        pki.server_key_file().display().to_string(),
        "--tls-client-cert-file".to_owned(),
        pki.client_cert_file().display().to_string(),
        "--tls-client-key-file".to_owned(),
        pki.client_key_file().display().to_string(),
        "--tls-ca-cert-file".to_owned(),
        pki.ca_file().display().to_string(),
        "--tls-auth-clients".to_owned(),
        match client_auth {
            ClientAuth::Required => "yes",
            ClientAuth::None => "no",
        }
        .to_owned(),
    ]
}

/// How `redis-cli` reaches a TLS server.
#[derive(Debug, Clone)]
struct CliTls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl CliTls {
    fn of(pki: &TestPki) -> CliTls {
        CliTls {
            ca: pki.ca_file(),
            cert: pki.client_cert_file(),
            key: pki.client_key_file(),
        }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--tls".to_owned(),
            "--cacert".to_owned(),
            self.ca.display().to_string(),
            "--cert".to_owned(),
            self.cert.display().to_string(),
            "--key".to_owned(),
            self.key.display().to_string(),
        ]
    }
}

/// How long one `redis-cli` command may run (a cluster that never joins would keep
/// `--cluster create` waiting forever).
const CLI_LIMIT: Duration = Duration::from_secs(30);

/// Runs `redis-cli -p port args...` and returns its output, or what went wrong.
fn redis_cli(port: u16, tls: Option<&CliTls>, args: &[&str]) -> Result<String, String> {
    let mut command = Command::new("redis-cli");
    command.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    if let Some(tls) = tls {
        command.args(tls.args());
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run redis-cli: {e}; {INSTALL}"))?;
    let deadline = Instant::now() + CLI_LIMIT;
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "redis-cli {} ran over {CLI_LIMIT:?}",
                args.join(" ")
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success()
        && !stdout.starts_with("ERR")
        && !stdout.contains("Could not connect")
    {
        Ok(stdout)
    } else {
        Err(format!(
            "redis-cli {} failed ({}): {stdout}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Polls `check` every 50 ms until it is true, panicking with `what` after `limit`.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> Result<bool, String>) {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    loop {
        match check() {
            Ok(true) => return,
            Ok(false) => {}
            Err(error) => last = error,
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?} ({last})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `redis-server` this test runs, without persistence: plain TCP, or TLS
/// ([`started_tls`](RedisServer::started_tls)) with a plain port beside it for the test to look
/// inside.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    tls_port: Option<u16>,
    process: Process,
    _dir: Option<WorkDir>,
}

impl RedisServer {
    /// Panics, saying what to install, unless `redis-server` can be run.
    pub fn require(test: &str) {
        require_program("redis-server", test);
    }

    /// A running server on a free port, for a test that needs one of its own.
    pub fn started(test: &str) -> Self {
        RedisServer::require(test);
        let mut server = RedisServer::stopped(free_port());
        server.start();
        server
    }

    /// A running server speaking TLS with the [`TestPki`]'s server certificate (for
    /// `localhost` and `127.0.0.1`) on [`tls_url`](RedisServer::tls_url), demanding a client
    /// certificate signed by the test CA when `client_auth` is [`ClientAuth::Required`]. It
    /// also listens in plain TCP on [`url`](RedisServer::url), for the test to see what was
    /// written.
    ///
    /// # Panics
    /// When `redis-server` is missing or was built without TLS.
    pub fn started_tls(test: &str, pki: &TestPki, client_auth: ClientAuth) -> Self {
        RedisServer::require(test);
        let dir = WorkDir::new("redis-tls");
        let (port, tls_port) = (free_port(), free_port());
        let mut args = base_args(port, Some(dir.path()));
        args.extend(["--tls-port".to_owned(), tls_port.to_string()]);
        args.extend(tls_args(pki, client_auth));
        let log = dir.path().join(format!("redis-{port}.log"));
        let mut server = RedisServer {
            port,
            tls_port: Some(tls_port),
            process: Process::new(args, tls_port, Some(log)),
            _dir: Some(dir),
        };
        server.start();
        server
    }

    /// A server that is not running yet, for port `port`.
    pub fn stopped(port: u16) -> Self {
        RedisServer {
            port,
            tls_port: None,
            process: Process::new(base_args(port, None), port, None),
            _dir: None,
        }
    }

    /// The server's plain TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's `redis://` URL (plain TCP).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's `rediss://` URL, on `localhost` (a server started with TLS only).
    ///
    /// # Panics
    /// For a server without TLS.
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("a server started with started_tls");
        format!("rediss://localhost:{port}")
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start(&mut self) {
        self.process.start();
    }

    /// Kills the server (no shutdown, no save) and waits for it to exit.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}

/// A Redis Cluster of primaries (no replicas) on loopback: each node a `redis-server
/// --cluster-enabled yes` on free ports in a folder of its own, joined with `redis-cli
/// --cluster create`, the 16384 slots split evenly. A node that is killed leaves its slots
/// uncovered; the others keep serving theirs (`cluster-require-full-coverage no`).
#[derive(Debug)]
pub struct RedisCluster {
    ports: Vec<u16>,
    nodes: Vec<Process>,
    tls: Option<CliTls>,
    _dir: WorkDir,
}

impl RedisCluster {
    /// A plain cluster of `primaries` nodes, running and with every slot served.
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing, or the cluster does not form.
    pub fn start(test: &str, primaries: usize) -> RedisCluster {
        RedisCluster::start_with(test, primaries, 0, None)
    }

    /// A plain cluster of `primaries` nodes with `replicas` replicas each (nodes
    /// `primaries..` are the replicas at first), for failover tests: when a primary dies, one of
    /// its replicas is promoted after the cluster node timeout (2 s).
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing, or the cluster does not form.
    pub fn start_with_replicas(test: &str, primaries: usize, replicas: usize) -> RedisCluster {
        RedisCluster::start_with(test, primaries, replicas, None)
    }

    /// A cluster speaking only TLS (clients and cluster bus) with the [`TestPki`]'s server
    /// certificate; clients need not present one.
    pub fn start_tls(test: &str, primaries: usize, pki: &TestPki) -> RedisCluster {
        RedisCluster::start_with(test, primaries, 0, Some(pki))
    }

    /// One plain 3-primary cluster for every test of this process, stopped when it exits.
    pub fn shared(test: &str) -> &'static RedisCluster {
        static SHARED: std::sync::OnceLock<RedisCluster> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| RedisCluster::start(test, 3))
    }

    fn start_with(
        test: &str,
        primaries: usize,
        replicas: usize,
        pki: Option<&TestPki>,
    ) -> RedisCluster {
        assert!(primaries >= 3, "a Redis Cluster needs at least 3 primaries");
        require_program("redis-server", test);
        require_program("redis-cli", test);
        let dir = WorkDir::new("redis-cluster");
        let ports: Vec<u16> = (0..primaries * (1 + replicas))
            .map(|_| free_port())
            .collect();
        let mut nodes = Vec::new();
        for &port in &ports {
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("a node folder");
            // TLS nodes take their client port from --tls-port and close the plain one.
            let mut args = base_args(if pki.is_some() { 0 } else { port }, Some(&node_dir));
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-require-full-coverage",
                    "no",
                    // Replicas sync at once (the default waits 5 s for more replicas to come):
                    // a replica that never synced cannot take over.
                    "--repl-diskless-sync-delay",
                    "0",
                    // The bus port must be given: port + 10000 may be past 65535.
                    "--cluster-port",
                    &free_port().to_string(),
                ]
                .map(str::to_owned),
            );
            if let Some(pki) = pki {
                args.extend(["--tls-port".to_owned(), port.to_string()]);
                args.extend(["--tls-cluster".to_owned(), "yes".to_owned()]);
                args.extend(tls_args(pki, ClientAuth::None));
            }
            let log = node_dir.join(format!(
                "redis-{}.log",
                if pki.is_some() { 0 } else { port }
            ));
            let mut node = Process::new(args, port, Some(log));
            node.start();
            nodes.push(node);
        }
        let tls = pki.map(CliTls::of);
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut create: Vec<&str> = vec!["--cluster", "create"];
        create.extend(addresses.iter().map(String::as_str));
        let replicas = replicas.to_string();
        create.extend(["--cluster-replicas", &replicas, "--cluster-yes"]);
        redis_cli(ports[0], tls.as_ref(), &create)
            .unwrap_or_else(|e| panic!("cannot create the cluster: {e}"));
        let cluster = RedisCluster {
            ports,
            nodes,
            tls,
            _dir: dir,
        };
        for &port in &cluster.ports {
            wait_for(
                "every cluster node reports cluster_state:ok",
                START_LIMIT,
                || {
                    let info = redis_cli(port, cluster.tls.as_ref(), &["cluster", "info"])?;
                    Ok(info.contains("cluster_state:ok"))
                },
            );
        }
        // `--cluster create` returns before the replicas have attached to their primaries:
        // wait until every node sees each replica as one (a failover needs it).
        let expected_replicas = primaries * replicas.parse::<usize>().unwrap_or(0);
        for &port in &cluster.ports {
            wait_for("every replica attached to its primary", START_LIMIT, || {
                let nodes = redis_cli(port, cluster.tls.as_ref(), &["cluster", "nodes"])?;
                let attached = nodes
                    .lines()
                    .filter(|line| {
                        let fields: Vec<&str> = line.split_whitespace().collect();
                        fields.len() >= 8
                            && fields[2].contains("slave")
                            && fields[3] != "-"
                            && fields[7] == "connected"
                    })
                    .count();
                Ok(attached == expected_replicas)
            });
            wait_for("every replica synced with its primary", START_LIMIT, || {
                let info = redis_cli(port, cluster.tls.as_ref(), &["info", "replication"])?;
                Ok(!info.contains("role:slave") || info.contains("master_link_status:up"))
            });
        }
        cluster
    }

    /// The nodes' URLs (`redis://127.0.0.1:PORT`, or `rediss://` for a TLS cluster), to give
    /// as seed nodes.
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        self.ports
            .iter()
            .map(|port| format!("{scheme}://127.0.0.1:{port}"))
            .collect()
    }

    /// The nodes' client ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Runs a `redis-cli` command on node `node` and returns its output.
    ///
    /// # Panics
    /// When the command fails.
    pub fn cli(&self, node: usize, args: &[&str]) -> String {
        redis_cli(self.ports[node], self.tls.as_ref(), args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The index of the node serving `key`'s slot (from `CLUSTER KEYSLOT` and `CLUSTER
    /// NODES`).
    ///
    /// # Panics
    /// When no node serves it.
    pub fn node_of(&self, key: &str) -> usize {
        self.node_of_asking(key, 0)
    }

    /// [`node_of`](Self::node_of), asking node `ask` (one that is alive).
    ///
    /// # Panics
    /// When no node serves the key, or `ask` does not answer.
    pub fn node_of_asking(&self, key: &str, ask: usize) -> usize {
        self.serving(key, ask)
            .unwrap_or_else(|| panic!("no node serves the slot of {key}"))
    }

    /// Waits until a node other than `dead` serves `key`'s slot, as node `ask` sees it, and
    /// `ask` reports `cluster_state:ok`: the failover after `dead` was killed is over.
    ///
    /// # Panics
    /// When that takes longer than `limit`.
    pub fn wait_for_failover(&self, key: &str, dead: usize, ask: usize, limit: Duration) {
        wait_for("a replica serves the dead primary's slots", limit, || {
            let info = redis_cli(self.ports[ask], self.tls.as_ref(), &["cluster", "info"])?;
            Ok(info.contains("cluster_state:ok")
                && self.serving(key, ask).is_some_and(|node| node != dead))
        });
    }

    fn serving(&self, key: &str, ask: usize) -> Option<usize> {
        let slot: u16 = self
            .cli(ask, &["cluster", "keyslot", key])
            .trim()
            .parse()
            .expect("a slot number");
        let nodes = self.cli(ask, &["cluster", "nodes"]);
        for line in nodes.lines() {
            // <id> <ip:port@bus> <flags> <primary> <ping> <pong> <epoch> <link> <slot ranges>...
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 {
                continue;
            }
            let owns = fields[8..].iter().any(|range| {
                let (start, end) = range.split_once('-').unwrap_or((range, range));
                matches!((start.parse::<u16>(), end.parse::<u16>()),
                    (Ok(start), Ok(end)) if (start..=end).contains(&slot))
            });
            let port = fields[1]
                .split('@')
                .next()
                .and_then(|address| address.rsplit(':').next())
                .and_then(|port| port.parse::<u16>().ok());
            let failed = fields[2].contains("fail");
            if owns
                && !failed
                && let Some(node) = port.and_then(|p| self.ports.iter().position(|&q| q == p))
            {
                return Some(node);
            }
        }
        None
    }

    /// Kills node `node` (without replicas, its slots stay uncovered).
    pub fn kill_node(&mut self, node: usize) {
        self.nodes[node].kill();
    }
}

/// A primary, a replica and a Sentinel watching them (`redis-server --sentinel` with a
/// generated `sentinel.conf`: quorum 1, `down-after-milliseconds` 500, `failover-timeout`
/// 3000), on loopback, in a folder of their own; plain, or speaking TLS
/// ([`start_tls`](RedisSentinelSet::start_tls)).
#[derive(Debug)]
pub struct RedisSentinelSet {
    master_name: String,
    /// The plain ports, which the test kit's own commands use.
    primary_port: u16,
    replica_port: u16,
    sentinel_port: u16,
    /// The TLS ports of a TLS set: the ones the sentinel names and clients use.
    tls: Option<SentinelTlsPorts>,
    /// Killed by a test, possibly while others use the set.
    primary: std::sync::Mutex<Process>,
    // Held to be stopped on drop.
    _replica: Process,
    _sentinel: Process,
    _dir: WorkDir,
}

impl RedisSentinelSet {
    /// The set, running: the replica in sync, and the sentinel knowing both and able to fail
    /// over.
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing, or the set does not come up.
    pub fn start(test: &str) -> RedisSentinelSet {
        RedisSentinelSet::start_with(test, None)
    }

    /// The set speaking TLS with the [`TestPki`]'s server certificate: clients, replication and
    /// the sentinel's own connections, each server demanding a client certificate signed by
    /// the test CA when `client_auth` is [`ClientAuth::Required`]. The sentinel names the
    /// servers by their TLS ports; [`sentinel_urls`](RedisSentinelSet::sentinel_urls) are
    /// `rediss://localhost:...`. Each process also listens in plain TCP, for the test kit's
    /// own commands and [`server_urls`](RedisSentinelSet::server_urls).
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing or built without TLS, or the set does not
    /// come up.
    pub fn start_tls(test: &str, pki: &TestPki, client_auth: ClientAuth) -> RedisSentinelSet {
        RedisSentinelSet::start_with(test, Some((pki, client_auth)))
    }

    fn start_with(test: &str, tls: Option<(&TestPki, ClientAuth)>) -> RedisSentinelSet {
        require_program("redis-server", test);
        require_program("redis-cli", test);
        let dir = WorkDir::new("redis-sentinel");
        let master_name = "tokensource-test".to_owned();
        let (primary_port, replica_port, sentinel_port) = (free_port(), free_port(), free_port());
        let tls_ports = tls.map(|_| SentinelTlsPorts {
            primary: free_port(),
            replica: free_port(),
            sentinel: free_port(),
        });
        // What a TLS process adds: its TLS port, the certificates, and TLS for the
        // connections it makes to other servers (replication, the sentinel's).
        let tls_extra = |tls_port: u16| -> Vec<String> {
            let Some((pki, client_auth)) = tls else {
                return Vec::new();
            };
            let mut args = vec!["--tls-port".to_owned(), tls_port.to_string()];
            args.extend(tls_args(pki, client_auth));
            args.extend(["--tls-replication".to_owned(), "yes".to_owned()]);
            args
        };
        // The port the sentinel and replication use for a server.
        let announced = |plain: u16, tls_port: fn(&SentinelTlsPorts) -> u16| {
            tls_ports.as_ref().map_or(plain, tls_port)
        };
        let server = |port: u16, extra: &[String]| {
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("a node folder");
            let mut args = base_args(port, Some(&node_dir));
            // Full syncs start at once (the default waits 5 s for more replicas).
            args.extend(["--repl-diskless-sync-delay".to_owned(), "0".to_owned()]);
            args.extend(extra.iter().cloned());
            let log = node_dir.join(format!("redis-{port}.log"));
            Process::new(args, port, Some(log))
        };
        let mut primary = server(
            primary_port,
            &tls_extra(announced(primary_port, |p| p.primary)),
        );
        primary.start();
        let mut replica_args = vec![
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            announced(primary_port, |p| p.primary).to_string(),
        ];
        replica_args.extend(tls_extra(announced(replica_port, |p| p.replica)));
        let mut replica = server(replica_port, &replica_args);
        replica.start();
        wait_for("the replica is in sync", START_LIMIT, || {
            Ok(redis_cli(replica_port, None, &["info", "replication"])?
                .contains("master_link_status:up"))
        });

        let sentinel_dir = dir.path().join("sentinel");
        std::fs::create_dir_all(&sentinel_dir).expect("a sentinel folder");
        let config = sentinel_dir.join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\ndir {dir}\nlogfile {dir}/sentinel.log\n\
                 sentinel monitor {master_name} 127.0.0.1 {primary} 1\n\
                 sentinel down-after-milliseconds {master_name} 500\n\
                 sentinel failover-timeout {master_name} 3000\n\
                 sentinel parallel-syncs {master_name} 1\n",
                dir = sentinel_dir.display(),
                primary = announced(primary_port, |p| p.primary),
            ),
        )
        .expect("write sentinel.conf");
        let mut sentinel_args = vec![config.display().to_string(), "--sentinel".to_owned()];
        sentinel_args.extend(tls_extra(announced(sentinel_port, |p| p.sentinel)));
        let mut sentinel = Process::new(
            sentinel_args,
            sentinel_port,
            Some(sentinel_dir.join("sentinel.log")),
        );
        sentinel.start();
        let replica_announced = announced(replica_port, |p| p.replica).to_string();
        wait_for(
            "the sentinel knows the replica and its link to the primary",
            START_LIMIT,
            || {
                let replicas =
                    redis_cli(sentinel_port, None, &["sentinel", "replicas", &master_name])?;
                Ok(replicas.contains(&replica_announced)
                    && replicas.contains("master-link-status\nok"))
            },
        );
        RedisSentinelSet {
            master_name,
            primary_port,
            replica_port,
            sentinel_port,
            tls: tls_ports,
            primary: std::sync::Mutex::new(primary),
            _replica: replica,
            _sentinel: sentinel,
            _dir: dir,
        }
    }

    /// The name the sentinel knows the primary by.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// The sentinel's URL, to give as `urls`: `rediss://localhost:...` for a TLS set.
    pub fn sentinel_urls(&self) -> Vec<String> {
        vec![match &self.tls {
            Some(tls) => format!("rediss://localhost:{}", tls.sentinel),
            None => format!("redis://127.0.0.1:{}", self.sentinel_port),
        }]
    }

    /// The port the sentinel names the replica by (its TLS port in a TLS set).
    fn replica_announced_port(&self) -> u16 {
        self.tls.as_ref().map_or(self.replica_port, |p| p.replica)
    }

    /// The primary's and the replica's plain URLs as they were started (the replica becomes
    /// the primary after a failover), for the test to look inside.
    pub fn server_urls(&self) -> (String, String) {
        (
            format!("redis://127.0.0.1:{}", self.primary_port),
            format!("redis://127.0.0.1:{}", self.replica_port),
        )
    }

    /// The port of the primary the sentinel names now (a TLS port in a TLS set).
    pub fn current_primary_port(&self) -> u16 {
        let output = redis_cli(
            self.sentinel_port,
            None,
            &["sentinel", "get-master-addr-by-name", &self.master_name],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        output
            .lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("no primary address in {output:?}"))
    }

    /// Kills the primary: the sentinel notices after `down-after-milliseconds` and promotes
    /// the replica.
    pub fn kill_primary(&self) {
        self.primary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .kill();
    }

    /// Asks the sentinel to fail over now (`SENTINEL FAILOVER`): the replica is promoted and
    /// the old primary, still running, is turned into its replica.
    ///
    /// # Panics
    /// When the sentinel refuses.
    pub fn failover(&self) {
        redis_cli(
            self.sentinel_port,
            None,
            &["sentinel", "failover", &self.master_name],
        )
        .unwrap_or_else(|e| panic!("SENTINEL FAILOVER: {e}"));
    }

    /// Makes the first primary a replica of the second server (what the sentinel does, some
    /// seconds after a failover, to an old primary it sees running): its writes then answer
    /// READONLY.
    ///
    /// # Panics
    /// When the server refuses.
    pub fn demote_first_primary(&self) {
        redis_cli(
            self.primary_port,
            None,
            &[
                "replicaof",
                "127.0.0.1",
                &self.replica_announced_port().to_string(),
            ],
        )
        .unwrap_or_else(|e| panic!("REPLICAOF: {e}"));
    }

    /// Waits until the sentinel names the replica as the primary.
    ///
    /// # Panics
    /// After `limit`.
    pub fn wait_for_promotion(&self, limit: Duration) {
        wait_for("the sentinel promotes the replica", limit, || {
            Ok(self.current_primary_port() == self.replica_announced_port()
                && redis_cli(self.replica_port, None, &["role"])?.starts_with("master"))
        });
    }
}

/// The TLS ports of a TLS sentinel set.
#[derive(Debug)]
struct SentinelTlsPorts {
    primary: u16,
    replica: u16,
    sentinel: u16,
}
