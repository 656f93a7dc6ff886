//! Running the real `tokensource` binary against the test kit's mock token servers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The client secret every test uses: it must never show on stderr.
pub(crate) const SECRET: &str = "sentinel-secret-3f9a71c2";
/// The environment variable configurations read the secret from.
pub(crate) const SECRET_VAR: &str = "TOKENSOURCE_TEST_SECRET";
/// The client id every test uses.
pub(crate) const CLIENT_ID: &str = "cli-test-client";

/// What one run of the binary did.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

impl Run {
    fn from_output(output: Output, elapsed: Duration) -> Self {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
        }
    }

    /// Asserts success with an empty stderr, and returns stdout.
    pub(crate) fn success(&self) -> &str {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        assert_eq!(self.stderr, "", "{self:#?}");
        &self.stdout
    }

    /// Asserts a failure with `code`: empty stdout, one line on stderr without the secret or any
    /// of `tokens`; returns that line.
    pub(crate) fn failure(&self, code: i32, tokens: &[String]) -> &str {
        assert_eq!(self.code, Some(code), "expected exit {code}: {self:#?}");
        assert_eq!(
            self.stdout, "",
            "stdout must be empty on failure: {self:#?}"
        );
        assert!(
            self.stderr.starts_with("tokensource: ")
                && self.stderr.ends_with('\n')
                && self.stderr.matches('\n').count() == 1,
            "stderr must be one line: {self:#?}"
        );
        assert!(
            !self.stderr.contains(SECRET),
            "the secret leaked: {self:#?}"
        );
        for token in tokens {
            assert!(
                !self.stderr.contains(token.as_str()),
                "a token leaked: {self:#?}"
            );
        }
        self.stderr.trim_end()
    }
}

/// A configuration file in a temporary folder, with a cache folder and a home beside it, and the
/// environment runs of the binary get.
#[derive(Debug)]
pub(crate) struct Setup {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    unset: Vec<String>,
}

impl Setup {
    /// A setup whose `tokensource.toml` holds `config`; `SECRET_VAR` is set to [`SECRET`].
    pub(crate) fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tokensource.toml"), config).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Setup {
            dir,
            env: vec![(SECRET_VAR.to_owned(), SECRET.to_owned())],
            unset: Vec::new(),
        }
    }

    /// The folder everything is in.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration file.
    pub(crate) fn config(&self) -> PathBuf {
        self.dir.path().join("tokensource.toml")
    }

    /// The folder tests pass as `--cache-dir`.
    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// The user's cache folder runs see (HOME and XDG_CACHE_HOME point into the setup).
    pub(crate) fn user_cache_dir(&self) -> PathBuf {
        self.dir.path().join("home").join(".cache")
    }

    /// Sets an environment variable for later runs.
    pub(crate) fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// Removes an environment variable from later runs (one the test process may have).
    pub(crate) fn unset_env(&mut self, name: &str) {
        self.env.retain(|(n, _)| n != name);
        self.unset.push(name.to_owned());
    }

    /// Unsets an environment variable set with [`set_env`](Setup::set_env).
    pub(crate) fn remove_env(&mut self, name: &str) {
        self.env.retain(|(n, _)| n != name);
    }

    fn command(&self, args: &[String]) -> Command {
        let mut command = self.program(BINARY);
        command.args(args);
        command
    }

    /// A command running `program` (a path, or a name looked up on PATH) in this setup's
    /// environment: its home, cache folder and secret, no configuration or profile from the
    /// environment.
    pub(crate) fn program(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            // Not the configuration's folder, so relative paths must resolve against the file.
            .current_dir(self.dir.path().join("home"))
            .env_remove("TOKENSOURCE_CONFIG")
            .env_remove("TOKENSOURCE_PROFILE")
            .env_remove("KUBERNETES_EXEC_INFO")
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CACHE_HOME", self.user_cache_dir());
        for name in &self.unset {
            command.env_remove(name);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Runs the binary with `args` (off the async runtime, which serves the mock server).
    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        let mut command = self.command(&owned(args));
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let output = command.output().unwrap();
            Run::from_output(output, start.elapsed())
        })
        .await
        .unwrap()
    }

    /// Starts `n` runs with `args` at the same moment and waits for them all.
    pub(crate) async fn run_together(&self, n: usize, args: &[&str]) -> Vec<Run> {
        let barrier = Arc::new(Barrier::new(n));
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let mut command = self.command(&owned(args));
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let output = command.output().unwrap();
                    Run::from_output(output, start.elapsed())
                })
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|thread| thread.join().unwrap())
                .collect()
        })
        .await
        .unwrap()
    }

    /// `token --no-cache --config <file>`: a token fetched now.
    pub(crate) async fn token_now(&self) -> Run {
        let config = self.config();
        self.run(&["token", "--no-cache", "--config", path_str(&config)])
            .await
    }

    /// `args` followed by `--config <file> --cache-dir <dir>`.
    pub(crate) async fn run_cached(&self, args: &[&str]) -> Run {
        let config = self.config();
        let cache = self.cache_dir();
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--config",
            path_str(&config),
            "--cache-dir",
            path_str(&cache),
        ]);
        self.run(&all).await
    }
}

/// The `tokensource` binary under test.
pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_tokensource");

/// The path of `program` on PATH; fails the test, naming what to install, when it is missing.
pub(crate) fn require_program(program: &str, install: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("this test runs the real `{program}`, which is not on PATH: install {install}")
    })
}

/// Runs `command` to its end off the async runtime (which serves the mock servers).
pub(crate) async fn output_of(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A client-credentials profile named `name` for the token endpoint at `token_url`, with the
/// secret from [`SECRET_VAR`] and `extra` lines.
pub(crate) fn oauth2_profile(name: &str, token_url: &str, extra: &str) -> String {
    format!(
        "[profiles.{name}]\nprovider = \"client-credentials\"\ntoken_url = \"{token_url}\"\n\
         client_id = \"{CLIENT_ID}\"\nclient_secret = {{ env = \"{SECRET_VAR}\" }}\n{extra}\n"
    )
}

/// A URL on a loopback port nothing listens on.
pub(crate) fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/oauth/v2/token")
}

/// The regular files in `dir`, recursively.
pub(crate) fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_in(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A file's permission bits.
#[cfg(unix)]
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
