//! The `tokensource` CLI, run for every exit code with the sentinel secret (literal, from the
//! environment, from a file) and sentinel tokens: stderr never holds a sentinel, and stdout holds
//! the token only when `token` or `headers` succeed.
//!
//! The binary is the workspace's `target/<profile>/tokensource` (`cargo test --workspace` builds
//! it); it is built first if it is not there, and `TOKENSOURCE_CLI` names another.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokensource_testkit::{Fault, MockServer, OAuth2Mock, RawResponse};

use crate::sentinel::{
    CLIENT_ID, REDIS_PASSWORD, REFRESH, SECRET, TOKEN, basic_credentials, forbidden_in,
    form_encoded_secret,
};

const SECRET_VAR: &str = "TOKENSOURCE_HYGIENE_SECRET";

/// The CLI binary, built first if it is missing or older than a source it is built from.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TOKENSOURCE_CLI") {
        return path.into();
    }
    // This test runs as target/<profile>/deps/hygiene-<hash>.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let binary = profile_dir.join(format!("tokensource{}", std::env::consts::EXE_SUFFIX));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
    let stale = built.is_none_or(|built| newest_source(&workspace.join("crates")) > built)
        || built.is_none_or(|built| newest_source(&workspace.join("Cargo.lock")) > built);
    if stale {
        let mut build = Command::new(env!("CARGO"));
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "tokensource-cli",
                "--bin",
                "tokensource",
            ])
            .current_dir(&workspace)
            .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(
            status.success() && binary.exists(),
            "could not build the CLI"
        );
    }
    binary
}

/// The latest modification time of `path` and, for a folder, of the Rust sources and manifests
/// under it.
fn newest_source(path: &Path) -> SystemTime {
    let Ok(metadata) = std::fs::metadata(path) else {
        return SystemTime::UNIX_EPOCH;
    };
    if !metadata.is_dir() {
        return metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return SystemTime::UNIX_EPOCH;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| {
            p.is_dir() && !p.ends_with("node_modules") && !p.ends_with("tests")
                || p.extension().is_some_and(|e| e == "rs" || e == "toml")
        })
        .map(|p| newest_source(&p))
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// A folder with a configuration file, a secret file and a home, and runs of the CLI in it.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tokensource.toml"), config).unwrap();
        std::fs::write(dir.path().join("secret.txt"), format!("{SECRET}\n")).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Setup { dir }
    }

    /// The agent's token file.
    fn sink(&self) -> PathBuf {
        self.dir.path().join("sink")
    }

    /// Runs the CLI with `args` and this setup's configuration. `git-credential` gets a request
    /// naming the sentinel token as the password git used; `agent` writes to [`sink`](Self::sink),
    /// and what it wrote is appended to stdout, to be checked as if it had been printed.
    fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if args[0] == "git-credential" {
            // A run that fails on its command line never reads it.
            let _ = stdin.write_all(
                format!("protocol=https\nhost=git.example.com\nusername=x\npassword={TOKEN}\n\n")
                    .as_bytes(),
            );
        }
        drop(stdin);
        let mut output = child.wait_with_output().unwrap();
        if args[0] == "agent"
            && let Ok(written) = std::fs::read(self.sink())
        {
            output.stdout.extend_from_slice(&written);
        }
        output
    }

    /// The CLI with `args` and this setup's configuration, environment and pipes.
    fn command(&self, args: &[&str]) -> Command {
        let config = self.dir.path().join("tokensource.toml");
        let cache = self.dir.path().join("cache");
        let mut command = Command::new(binary());
        command.args(args).arg("--config").arg(&config);
        match args[0] {
            "check-config" => {}
            "agent" => {
                command.arg("--sink").arg(self.sink());
            }
            _ => {
                command.arg("--cache-dir").arg(&cache);
            }
        }
        command
            .current_dir(self.dir.path().join("home"))
            .env_remove("TOKENSOURCE_CONFIG")
            .env_remove("TOKENSOURCE_PROFILE")
            .env_remove("KUBERNETES_EXEC_INFO")
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CACHE_HOME", self.dir.path().join("home/.cache"))
            .env(SECRET_VAR, SECRET)
            .env("RUST_LOG", "trace")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// The profile `p` for `url`, with the secret written as `secret` (a TOML value).
fn profile(url: &str, secret: &str, extra: &str) -> String {
    format!(
        "[profiles.p]\nprovider = \"client-credentials\"\ntoken_url = \"{url}\"\n\
         client_id = \"{CLIENT_ID}\"\nclient_secret = {secret}\ntimeout_secs = 5\n{extra}\n"
    )
}

/// The three ways to write the secret.
fn secret_values() -> [String; 3] {
    [
        toml::Value::String(SECRET.to_owned()).to_string(),
        format!("{{ env = \"{SECRET_VAR}\" }}"),
        "{ file = \"secret.txt\" }".to_owned(),
    ]
}

/// Checks one run: its exit code, and that only a successful `token`/`headers` prints the token.
fn check(what: &str, args: &[&str], output: &Output, code: i32, tokens: &[String]) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: {args:?}: stderr {stderr}"
    );
    if let Some(found) = forbidden_in(&stderr, tokens) {
        panic!("{what}: {args:?}: stderr holds {found:?}: {stderr}");
    }
    // The agent's "stdout" here is what it wrote to its file.
    let may_print_token = code == 0
        && (matches!(args[0], "token" | "headers" | "exec-credential" | "agent")
            || args.starts_with(&["git-credential", "get"]));
    if may_print_token {
        // Only the token: not the secret, nor the refresh token.
        let without_token = stdout.replace(TOKEN, "<token>");
        let without_token = tokens
            .iter()
            .fold(without_token, |s, t| s.replace(t.as_str(), "<token>"));
        if let Some(found) = forbidden_in(&without_token, &[]) {
            panic!("{what}: {args:?}: stdout holds {found:?}: {stdout}");
        }
    } else if let Some(found) = forbidden_in(&stdout, tokens) {
        panic!("{what}: {args:?}: stdout holds {found:?}: {stdout}");
    }
}

const COMMANDS: [&[&str]; 10] = [
    &["token"],
    &["token", "--json"],
    &["headers"],
    &["check-config"],
    &["exec-credential"],
    &["git-credential", "get"],
    &["git-credential", "erase"],
    &["agent", "--once"],
    &["agent", "--once", "--format", "json"],
    &["agent", "--once", "--format", "headers"],
];

/// The commands that fetch a token.
const FETCHING: [&[&str]; 6] = [
    &["token"],
    &["headers"],
    &["exec-credential"],
    &["git-credential", "get"],
    &["agent", "--once"],
    &["agent", "--once", "--format", "json"],
];

#[tokio::test(flavor = "multi_thread")]
async fn every_exit_code() {
    let server = MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET))
        .start()
        .await;
    let url = server.token_url();
    let run = |setup: Setup, args: Vec<&'static str>| {
        tokio::task::spawn_blocking(move || {
            let output = setup.run(&args);
            (setup, args, output)
        })
    };

    // 0: success, with the mock's tokens and then the sentinel token, each way of giving the secret.
    for secret in secret_values() {
        for sentinel_token in [false, true] {
            server.clear_faults();
            if sentinel_token {
                server.fail_always(RawResponse::new(200).json(&json!({
                    "access_token": TOKEN, "refresh_token": REFRESH, "token_type": "Bearer", "expires_in": 3600
                })));
            }
            for args in COMMANDS {
                let setup = Setup::new(&profile(&url, &secret, ""));
                let (_, args, output) = run(setup, args.to_vec()).await.unwrap();
                let issued: Vec<String> = server.last_token().into_iter().collect();
                check("success", &args, &output, 0, &issued);
            }
        }
    }

    // 0 with a Redis store that cannot be used (nothing listens; its URLs hold the Redis
    // password): the run fetches without it and says so in one stderr line, without the password.
    server.clear_faults();
    let store = |lines: &str| format!("[profiles.p.store]\nkind = \"redis\"\n{lines}");
    let down = format!("redis://u:{REDIS_PASSWORD}@127.0.0.1:1");
    for store in [
        store(&format!("url = \"{down}\"")),
        store(&format!("mode = \"cluster\"\nurls = [\"{down}\"]")),
        store(&format!(
            "mode = \"sentinel\"\nmaster_name = \"m\"\nurls = [\"{down}\"]"
        )),
    ] {
        for args in [&["token"][..], &["headers"]] {
            let setup = Setup::new(&profile(&url, &secret_values()[1], &store));
            let (_, args, output) = run(setup, args.to_vec()).await.unwrap();
            let issued: Vec<String> = server.last_token().into_iter().collect();
            check("store unavailable", &args, &output, 0, &issued);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stderr.lines().count(), 1, "{store}: {args:?}: {stderr}");
        }
    }

    // 2: configuration errors around the secret, for every command.
    let dir_secret = format!("{{ file = \"{}\" }}", "no-such-secret.txt");
    let configs = [
        profile(&url, &format!("\"{SECRET}"), ""),
        profile(&url, SECRET, ""),
        profile(
            &url,
            &toml::Value::String(format!("{SECRET}\n")).to_string(),
            "",
        ),
        profile(
            &url,
            &toml::Value::String(SECRET.to_owned()).to_string(),
            &format!("colour = \"{SECRET}\""),
        ),
        profile(&url, &dir_secret, ""),
        format!("[profiles]\nclient_secret = \"{SECRET}\"\n"),
        profile(
            &url,
            &toml::Value::String(SECRET.to_owned()).to_string(),
            &format!("store = {{ kind = \"redis\", url = \"http://u:{SECRET}@127.0.0.1:1\" }}"),
        ),
        profile(
            "http://auth.example.com/token",
            &toml::Value::String(SECRET.to_owned()).to_string(),
            "",
        ),
    ];
    for config in configs {
        for args in COMMANDS {
            let (_, args, output) = run(Setup::new(&config), args.to_vec()).await.unwrap();
            check("configuration error", &args, &output, 2, &[]);
        }
    }
    let setup = Setup::new(&profile(&url, &secret_values()[1], ""));
    let (_, args, output) = run(setup, vec!["token", "--profile", "nope"])
        .await
        .unwrap();
    check("unknown profile", &args, &output, 2, &[]);

    // 3: rejected, by servers echoing every form of the secret.
    // Every form the client-credentials provider sends the secret in (RFC 6749 Basic by default).
    let [_, rfc_basic] = basic_credentials();
    for form in [
        SECRET.to_owned(),
        form_encoded_secret(),
        rfc_basic.clone(),
        format!("Basic {rfc_basic}"),
    ] {
        for status in [400, 401, 403] {
            server.clear_faults();
            server.fail_always(RawResponse::new(status).json(&json!({
                "error": "invalid_client",
                "error_description": format!("the secret {form} is wrong"),
            })));
            for args in FETCHING {
                let setup = Setup::new(&profile(&url, &secret_values()[1], ""));
                let (_, args, output) = run(setup, args.to_vec()).await.unwrap();
                check("rejected", &args, &output, 3, &[]);
            }
        }
    }
    server.clear_faults();
    server.fail_always(Fault::RejectCredentials);
    let (_, args, output) = run(
        Setup::new(&profile(&url, &secret_values()[0], "")),
        vec!["token"],
    )
    .await
    .unwrap();
    check("rejected", &args, &output, 3, &[]);

    // 4: unavailable, with a body echoing the secret and the token.
    server.clear_faults();
    server.fail_always(RawResponse::new(503).body(format!("<html>{SECRET} {TOKEN}</html>")));
    for args in [&["headers"][..], &["exec-credential"], &["agent", "--once"]] {
        let (_, args, output) = run(
            Setup::new(&profile(&url, &secret_values()[2], "")),
            args.to_vec(),
        )
        .await
        .unwrap();
        check("unavailable", &args, &output, 4, &[]);
    }
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://127.0.0.1:{}/token",
            listener.local_addr().unwrap().port()
        )
    };
    let (_, args, output) = run(
        Setup::new(&profile(&closed, &secret_values()[0], "")),
        vec!["token"],
    )
    .await
    .unwrap();
    check("connection refused", &args, &output, 4, &[]);

    // 5: invalid responses holding the token.
    let invalid = [
        RawResponse::new(200).json(
            &json!({"access_token": format!("{TOKEN}\r\nX-Injected: 1"), "token_type": "Bearer"}),
        ),
        RawResponse::new(200).json(&json!({"access_token": [TOKEN], "token_type": "Bearer"})),
        RawResponse::new(200)
            .json(&json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": TOKEN})),
        RawResponse::new(200).json(
            &json!({"access_token": TOKEN, "token_type": "Bearer", "refresh_token": [REFRESH]}),
        ),
        RawResponse::new(200)
            .header("content-type", "text/html")
            .body(format!("<html>{TOKEN}</html>")),
        RawResponse::new(200).body(format!("{{\"access_token\": \"{TOKEN}\"")),
        RawResponse::new(302).header("location", format!("https://elsewhere.example/?t={TOKEN}")),
    ];
    for reply in invalid {
        server.clear_faults();
        server.fail_always(reply);
        for args in FETCHING {
            let setup = Setup::new(&profile(&url, &secret_values()[1], ""));
            let (_, args, output) = run(setup, args.to_vec()).await.unwrap();
            check("invalid response", &args, &output, 5, &[]);
        }
    }
}

#[cfg(unix)]
/// Runs the long-running agent until its stderr has `lines` lines, then stops it with SIGTERM;
/// returns its exit code, stdout, stderr and what its file holds.
async fn agent_until(setup: Setup, lines: usize) -> (Option<i32>, String, String, Option<String>) {
    tokio::task::spawn_blocking(move || {
        let mut child = setup.command(&["agent"]).spawn().unwrap();
        drop(child.stdin.take());
        let stderr = child.stderr.take().unwrap();
        let (sender, received) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = sender.send(());
            }
            all
        });
        for _ in 0..lines {
            if received.recv_timeout(Duration::from_secs(30)).is_err() {
                let _ = child.kill();
                panic!(
                    "the agent printed fewer than {lines} lines: {:?}",
                    reader.join()
                );
            }
        }
        let pid = rustix::process::Pid::from_raw(child.id().try_into().unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = reader.join().unwrap();
        let sink = std::fs::read_to_string(setup.sink()).ok();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
            sink,
        )
    })
    .await
    .unwrap()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_agents_failure_lines_hold_no_sentinel() {
    let server = MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET))
        .start()
        .await;
    let url = server.token_url();
    // The sentinel token, living 3 s; then failures whose bodies echo every sentinel, until the
    // token has expired (the agent says so on a second line).
    server.fail_next(RawResponse::new(200).json(&json!({
        "access_token": TOKEN, "refresh_token": REFRESH, "token_type": "Bearer", "expires_in": 3
    })));
    server.fail_always(
        RawResponse::new(503).body(format!("<html>{SECRET} {TOKEN} {REFRESH}</html>")),
    );
    let setup = Setup::new(&profile(
        &url,
        &secret_values()[1],
        "refresh_margin_secs = 1",
    ));
    let (code, stdout, stderr, sink) = agent_until(setup, 2).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    if let Some(found) = forbidden_in(&stderr, &[]) {
        panic!("the agent's stderr holds {found:?}: {stderr}");
    }
    assert_eq!(sink.as_deref(), Some(format!("{TOKEN}\n").as_str()));

    // Rejected from the start, by a server echoing the secret: one line, no file.
    let [_, rfc_basic] = basic_credentials();
    server.clear_faults();
    server.fail_always(RawResponse::new(401).json(&json!({
        "error": "invalid_client",
        "error_description": format!("{SECRET} {} {rfc_basic} is wrong", form_encoded_secret()),
    })));
    let setup = Setup::new(&profile(&url, &secret_values()[2], ""));
    let sink_path = setup.sink();
    let (code, _, stderr, sink) = agent_until(setup, 1).await;
    assert_eq!(code, Some(0), "{stderr}");
    if let Some(found) = forbidden_in(&stderr, &[]) {
        panic!("the agent's stderr holds {found:?}: {stderr}");
    }
    assert_eq!(sink, None, "{}", sink_path.display());
}
