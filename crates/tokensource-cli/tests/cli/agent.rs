//! `agent`: the binary runs as a sidecar against the mock token server with short-lived tokens
//! while a reader polls its file in a tight loop; signals end it with exit 0; `--once`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use tokensource_testkit::{Fault, MockServer, OAuth2Mock};

use crate::support::{
    BINARY, CLIENT_ID, SECRET, Setup, closed_port_url, mode, oauth2_profile, path_str,
};

async fn oauth2_server(lifetime: Duration) -> MockServer {
    MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET).lifetime(lifetime))
        .start()
        .await
}

fn setup_for(server: &MockServer, margin_secs: u64) -> Setup {
    Setup::new(&oauth2_profile(
        "partner",
        &server.token_url(),
        &format!("timeout_secs = 2\nrefresh_margin_secs = {margin_secs}"),
    ))
}

/// A running agent, its stderr collected line by line. Killed if dropped while running.
struct Agent {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    fn start(setup: &Setup, sink: &Path, args: &[&str]) -> Agent {
        let mut command = setup.program(BINARY);
        command
            .args([
                "agent",
                "--config",
                path_str(&setup.config()),
                "--profile",
                "partner",
            ])
            .args(["--sink", path_str(sink)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let pipe = child.stderr.take().unwrap();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
        Agent {
            child,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends `signal` and waits for the exit (failing the test if it takes over 20 s); returns
    /// the status, stdout and stderr's lines.
    async fn stop(mut self, signal: rustix::process::Signal) -> (ExitStatus, String, Vec<String>) {
        let pid = rustix::process::Pid::from_raw(self.child.id().try_into().unwrap()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the agent did not exit within 20 s of {signal:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut stdout = self.child.stdout.take().unwrap();
        let reader = self.stderr_reader.take().unwrap();
        let stdout = tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
            // The pipe closed with the exit: the reader has every line.
            reader.join().unwrap();
            text
        })
        .await
        .unwrap();
        (status, stdout, self.stderr())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a reader polling the sink in a tight loop saw.
#[derive(Debug, Default)]
struct Seen {
    reads: usize,
    /// Each distinct content, in order, with when it was first read.
    contents: Vec<(SystemTime, String)>,
    /// Reads that were not a whole token file (empty, partial, vanished).
    bad: Vec<String>,
}

/// A thread reading the sink as fast as it can until dropped.
struct Reader {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
}

impl Reader {
    /// `whole` says whether a content is a whole file of the format under test.
    fn start(path: &Path, whole: fn(&str) -> bool) -> Reader {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (path, shared, stopped) = (path.to_path_buf(), Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let read = std::fs::read(&path);
                let now = SystemTime::now();
                let mut seen = shared.lock().unwrap();
                seen.reads += 1;
                match read {
                    Ok(bytes) => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        if !whole(&text) {
                            seen.bad.push(text);
                        } else if seen.contents.last().is_none_or(|(_, last)| *last != text) {
                            seen.contents.push((now, text));
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if !seen.contents.is_empty() {
                            seen.bad.push("the file vanished".into());
                        }
                    }
                    Err(e) => seen.bad.push(e.to_string()),
                }
                drop(seen);
                std::thread::yield_now();
            }
        });
        Reader { seen, stop }
    }

    fn contents(&self) -> Vec<(SystemTime, String)> {
        self.seen.lock().unwrap().contents.clone()
    }

    fn finish(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn whole_token_line(text: &str) -> bool {
    text.ends_with('\n') && text.len() > 1 && text.matches('\n').count() == 1
}

fn whole_json(text: &str) -> bool {
    text.ends_with('\n')
        && serde_json::from_str::<serde_json::Value>(text)
            .is_ok_and(|v| v["access_token"].as_str().is_some_and(|t| !t.is_empty()))
}

/// Waits up to `limit` for `done`, checking every 20 ms.
async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sink_in(setup: &Setup) -> PathBuf {
    let dir = setup.dir().join("shared");
    std::fs::create_dir(&dir).unwrap();
    dir.join("token")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_file_is_rewritten_before_each_token_expires_and_never_seen_partial() {
    // 5 s tokens refreshed in their last 2 s: a refresh about every 2.5 s.
    let server = oauth2_server(Duration::from_secs(5)).await;
    let setup = setup_for(&server, 2);
    let sink = sink_in(&setup);
    let reader = Reader::start(&sink, whole_json);
    let agent = Agent::start(&setup, &sink, &["--format", "json"]);
    wait_for("three tokens in the file", Duration::from_secs(30), || {
        reader.contents().len() >= 3
    })
    .await;
    assert_eq!(mode(&sink), 0o600);
    let (status, stdout, lines) = agent.stop(rustix::process::Signal::TERM).await;
    assert!(lines.is_empty(), "{lines:?}");
    let seen = reader.finish();
    assert!(
        status.success(),
        "SIGTERM must end the agent with exit 0: {status:?}"
    );
    assert_eq!(stdout, "");
    assert!(seen.bad.is_empty(), "the reader saw {:?}", seen.bad);
    assert!(
        seen.reads > 1000,
        "the reader read only {} times",
        seen.reads
    );

    let records: Vec<(SystemTime, serde_json::Value)> = seen
        .contents
        .iter()
        .map(|(at, text)| (*at, serde_json::from_str(text).unwrap()))
        .collect();
    for pair in records.windows(2) {
        let (_, old) = &pair[0];
        let (replaced_at, new) = &pair[1];
        assert_ne!(old["access_token"], new["access_token"]);
        // Before the old token's expiry (stated in whole seconds, so at or before the real one).
        let expiry = humantime::parse_rfc3339(old["expires_at"].as_str().unwrap()).unwrap();
        assert!(
            *replaced_at < expiry,
            "the file was replaced {:?} after its token expired",
            replaced_at.duration_since(expiry).unwrap_or_default()
        );
    }
    // One fetch per token written (the last fetch may have ended just as the signal came).
    let fetches = server.token_hits();
    assert!(
        fetches == records.len() || fetches == records.len() + 1,
        "{fetches} fetches for {} tokens",
        records.len()
    );
    assert_eq!(
        records.last().unwrap().1["access_token"],
        json!(server.last_token().unwrap()),
        "the file keeps the last token"
    );
    // The file is left as it is.
    let left: serde_json::Value = serde_json::from_slice(&std::fs::read(&sink).unwrap()).unwrap();
    assert_eq!(left, records.last().unwrap().1);
    // Cached in memory only: nothing in the user's cache folder.
    assert!(!setup.user_cache_dir().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_ends_the_agent_with_exit_0_leaving_the_file() {
    let server = oauth2_server(Duration::from_secs(3600)).await;
    let setup = setup_for(&server, 60);
    let sink = sink_in(&setup);
    let agent = Agent::start(&setup, &sink, &[]);
    wait_for("the token file", Duration::from_secs(20), || sink.exists()).await;
    let (status, stdout, lines) = agent.stop(rustix::process::Signal::INT).await;
    assert!(lines.is_empty(), "{lines:?}");
    assert!(status.success(), "{status:?}");
    assert_eq!(stdout, "");
    let token = server.last_token().unwrap();
    assert_eq!(
        std::fs::read_to_string(&sink).unwrap(),
        format!("{token}\n")
    );
    assert_eq!(mode(&sink), 0o600);
    assert_eq!(server.token_hits(), 1);
    // Only the sink is in its folder: no temporary file is left.
    let names: Vec<_> = std::fs::read_dir(sink.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["token"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_endpoint_keeps_the_file_and_says_so_once_per_episode() {
    // 6 s tokens (margin: half the lifetime, 3 s): the refresh starts about 2.3 s after issue.
    let server = oauth2_server(Duration::from_secs(6)).await;
    let setup = setup_for(&server, 4);
    let sink = sink_in(&setup);
    let reader = Reader::start(&sink, whole_token_line);
    let agent = Agent::start(&setup, &sink, &[]);
    wait_for("the first token", Duration::from_secs(20), || {
        !reader.contents().is_empty()
    })
    .await;
    let first = server.last_token().unwrap();

    // Episode 1: refreshes fail until the token has expired.
    server.fail_always(Fault::ServerError);
    wait_for("the expiry to be reported", Duration::from_secs(20), || {
        agent.stderr().len() >= 2
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&sink).unwrap(),
        format!("{first}\n")
    );
    let hits_in_outage = server.token_hits();
    assert!(hits_in_outage > 2, "refreshes were attempted");
    server.clear_faults();
    wait_for(
        "the token after the outage",
        Duration::from_secs(70),
        || reader.contents().len() >= 2,
    )
    .await;

    // Episode 2: one failed refresh, then the endpoint recovers before the token expires.
    server.fail_always(Fault::ServerError);
    wait_for(
        "the second failure to be reported",
        Duration::from_secs(20),
        || agent.stderr().len() >= 3,
    )
    .await;
    server.clear_faults();
    wait_for(
        "the token after the second outage",
        Duration::from_secs(70),
        || reader.contents().len() >= 3,
    )
    .await;
    let (status, _, lines) = agent.stop(rustix::process::Signal::TERM).await;
    let seen = reader.finish();
    assert!(status.success(), "{status:?}");
    assert!(seen.bad.is_empty(), "the reader saw {:?}", seen.bad);

    // The file held each token in turn, and nothing else: the old one through each outage.
    let tokens: Vec<String> = seen
        .contents
        .iter()
        .map(|(_, text)| text.trim_end().to_owned())
        .collect();
    assert_eq!(tokens.len(), 3, "{tokens:?}");
    assert_eq!(tokens[0], first);
    assert_eq!(tokens[2], server.last_token().unwrap());

    // One line per episode, and one when the token expired during the first.
    let sink_name = path_str(&sink);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for (line, what) in [(0, "cannot refresh"), (1, "expired"), (2, "cannot refresh")] {
        let line = &lines[line];
        assert!(line.starts_with("tokensource: agent: "), "{line}");
        assert!(line.contains(what) && line.contains(sink_name), "{line}");
        assert!(!line.contains(SECRET), "{line}");
        for token in &tokens {
            assert!(!line.contains(token.as_str()), "a token leaked: {line}");
        }
    }
    assert!(lines[0].contains("valid until"), "{}", lines[0]);
}

/// Runs `agent --once` with `args`.
async fn once(setup: &Setup, sink: &Path, args: &[&str]) -> crate::support::Run {
    let config = setup.config();
    let mut all = vec![
        "agent",
        "--config",
        path_str(&config),
        "--profile",
        "partner",
    ];
    all.extend(["--sink", path_str(sink), "--once"]);
    all.extend_from_slice(args);
    setup.run(&all).await
}

#[tokio::test(flavor = "multi_thread")]
async fn once_writes_the_file_in_each_format_and_exits_0() {
    let server = oauth2_server(Duration::from_secs(3600)).await;
    let setup = setup_for(&server, 60);
    let sink = sink_in(&setup);

    once(&setup, &sink, &[]).await.success();
    let token = server.last_token().unwrap();
    assert_eq!(
        std::fs::read_to_string(&sink).unwrap(),
        format!("{token}\n")
    );
    assert_eq!(mode(&sink), 0o600);
    assert_eq!(server.token_hits(), 1);

    once(&setup, &sink, &["--format", "headers"])
        .await
        .success();
    let token = server.last_token().unwrap();
    assert_eq!(
        std::fs::read_to_string(&sink).unwrap(),
        format!("Authorization: Bearer {token}\n")
    );

    once(&setup, &sink, &["--format", "json"]).await.success();
    let token = server.last_token().unwrap();
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sink).unwrap()).unwrap();
    assert_eq!(value["access_token"], token.as_str());
    assert_eq!(value["token_type"], "Bearer");
    assert!(value["expires_in"].as_u64().unwrap() > 3500);
    // Each run fetched: the agent caches in memory, not on disk.
    assert_eq!(server.token_hits(), 3);
    assert!(!setup.user_cache_dir().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn once_writes_nothing_on_failure_and_exits_as_token_does() {
    let server = oauth2_server(Duration::from_secs(3600)).await;
    let setup = setup_for(&server, 60);
    let sink = sink_in(&setup);
    std::fs::write(&sink, "old\n").unwrap();
    for (fault, code) in [(Fault::RejectCredentials, 3), (Fault::MalformedBody, 5)] {
        server.clear_faults();
        server.fail_always(fault);
        once(&setup, &sink, &[]).await.failure(code, &[]);
        assert_eq!(std::fs::read_to_string(&sink).unwrap(), "old\n");
    }
    let fresh = sink.with_file_name("fresh");
    server.clear_faults();
    server.fail_always(Fault::RejectCredentials);
    once(&setup, &fresh, &[]).await.failure(3, &[]);
    assert!(!fresh.exists());

    let unreachable = Setup::new(&oauth2_profile(
        "partner",
        &closed_port_url(),
        "timeout_secs = 1",
    ));
    let sink = sink_in(&unreachable);
    once(&unreachable, &sink, &[]).await.failure(4, &[]);
    assert!(!sink.exists());

    // A folder that does not exist: a usage error before any request.
    let hits = server.token_hits();
    let missing = setup.dir().join("no-such-folder").join("token");
    let line = once(&setup, &missing, &[]).await.failure(2, &[]).to_owned();
    assert!(line.contains("--sink"), "{line}");
    let run = setup
        .run(&[
            "agent",
            "--config",
            path_str(&setup.config()),
            "--sink",
            path_str(&missing),
        ])
        .await;
    run.failure(2, &[]);
    assert_eq!(server.token_hits(), hits);
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_sharing_a_redis_store_fetch_once_per_refresh() {
    let redis = tokensource_testkit::redis_server::redis_url(module_path!());
    let server = oauth2_server(Duration::from_secs(5)).await;
    let setup = Setup::new(&oauth2_profile(
        "partner",
        &server.token_url(),
        &format!(
            "timeout_secs = 2\nrefresh_margin_secs = 2\n\
             [profiles.partner.store]\nkind = \"redis\"\nurl = \"{redis}\""
        ),
    ));
    let sinks = [setup.dir().join("a"), setup.dir().join("b")];
    for dir in &sinks {
        std::fs::create_dir(dir).unwrap();
    }
    let sinks = sinks.map(|dir| dir.join("token"));
    let readers = [
        Reader::start(&sinks[0], whole_token_line),
        Reader::start(&sinks[1], whole_token_line),
    ];
    let agents = [
        Agent::start(&setup, &sinks[0], &[]),
        Agent::start(&setup, &sinks[1], &[]),
    ];
    wait_for("two tokens in both files", Duration::from_secs(30), || {
        readers.iter().all(|r| r.contents().len() >= 2)
    })
    .await;
    for agent in agents {
        let (status, _, lines) = agent.stop(rustix::process::Signal::TERM).await;
        assert!(status.success() && lines.is_empty(), "{status:?} {lines:?}");
    }
    let [a, b] = readers.map(|r| {
        let seen = r.finish();
        assert!(seen.bad.is_empty(), "{:?}", seen.bad);
        seen.contents
            .into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
    });
    // Both files held the same tokens, each fetched once for both agents.
    let shared = a.len().min(b.len());
    assert_eq!(a[..shared], b[..shared]);
    let fetches = server.token_hits();
    let tokens = a.len().max(b.len());
    assert!(
        fetches == tokens || fetches == tokens + 1,
        "{fetches} fetches for {tokens} tokens shared by two agents"
    );
    assert!(!setup.user_cache_dir().exists());
}
