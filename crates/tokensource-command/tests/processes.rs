//! Real processes (`sh` scripts written at test time), no mocks.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokensource_command::{CommandTokenSource, OutputFormat};
use tokensource_core::{CachedTokenSource, ErrorKind, TokenSource};

/// Writes an executable `sh` script named `name` into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn source(program: &Path) -> CommandTokenSource {
    CommandTokenSource::builder([program.display().to_string()])
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn json_with_expires_in_and_expires_at_and_a_bare_token() {
    let dir = tempfile::tempdir().unwrap();
    let json = script(
        dir.path(),
        "json",
        r#"echo '{"access_token":"tok-json","expires_in":120,"token_type":"Bearer"}'"#,
    );
    let token = source(&json).token().await.unwrap();
    assert_eq!(token.expose_secret(), "tok-json");
    assert_eq!(token.lifetime(), Some(Duration::from_secs(120)));

    let at = script(
        dir.path(),
        "at",
        r#"echo "{\"access_token\":\"tok-at\",\"expires_at\":\"$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)\"}""#,
    );
    let token = source(&at).token().await.unwrap();
    let lifetime = token.lifetime().unwrap();
    assert!(
        lifetime > Duration::from_secs(3500) && lifetime <= Duration::from_secs(3600),
        "{lifetime:?}"
    );

    let bare = script(dir.path(), "bare", "printf 'tok-bare\\n'");
    let token = source(&bare).token().await.unwrap();
    assert_eq!(
        (token.expose_secret(), token.lifetime()),
        ("tok-bare", None)
    );
}

/// A program file still open for writing (here by this test, as by a child that another thread
/// forked while the file was being written) cannot be executed for a moment (`ETXTBSY`): the
/// command is tried again, and runs once the file is closed.
#[tokio::test]
async fn a_program_file_busy_for_a_moment_is_run_once_it_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), "busy", "echo tok-busy");
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&program)
        .unwrap();
    let closing = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(40)).await;
        drop(writer);
    });
    let token = source(&program).token().await.unwrap();
    assert_eq!(token.expose_secret(), "tok-busy");
    closing.await.unwrap();

    // Busy for longer than the retries: a clear error, which the cache retries after its
    // backoff.
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&program)
        .unwrap();
    let error = source(&program).token().await.unwrap_err();
    drop(writer);
    assert_eq!(
        error.kind(),
        tokensource_core::ErrorKind::Unavailable,
        "{error}"
    );
    assert!(error.to_string().contains("cannot start"), "{error}");
}

#[tokio::test]
async fn a_bare_jwt_gets_its_lifetime_from_exp() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let jwt = format!(
        "{}.{}.sig",
        b64(r#"{"alg":"none"}"#),
        b64(&format!(r#"{{"exp":{exp}}}"#))
    );
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), "jwt", &format!("echo {jwt}"));
    let token = source(&program).token().await.unwrap();
    let left = token
        .jwt_expires_at()
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        left <= Duration::from_secs(300) && left > Duration::from_secs(290),
        "{left:?}"
    );
}

#[tokio::test]
async fn failures_have_their_kinds_and_never_show_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let exit1 = script(dir.path(), "exit1", "echo sekrit-output; exit 1");
    let error = source(&exit1).token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(!error.to_string().contains("sekrit"), "{error}");

    let nothing = script(dir.path(), "nothing", "true");
    assert_eq!(
        source(&nothing).token().await.unwrap_err().kind(),
        ErrorKind::InvalidResponse
    );

    let huge = script(
        dir.path(),
        "huge",
        "head -c 10000000 /dev/zero | tr '\\0' a",
    );
    let error = source(&huge).token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert!(error.to_string().contains("more than"), "{error}");

    let missing = CommandTokenSource::builder(["tokensource-no-such-program-anywhere"])
        .build()
        .unwrap();
    let error = missing.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert_eq!(error.field(), Some("command"));

    let bad = script(
        dir.path(),
        "bad",
        "echo '{\"access_token\":\"sekrit\",\"token_type\":\"mac\"}'",
    );
    let error = source(&bad).token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert!(!error.to_string().contains("sekrit"), "{error}");
}

/// Whether a process with this pid exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.split(' ').nth(2).is_none_or(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Whether `pid` is a zombie (exited, never reaped).
fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.split(' ').nth(2) == Some("Z"))
}

fn read_pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A script that starts a long `sleep` child, writes its own pid and the child's, and waits;
/// the source running it with `timeout`. Returns the folder (kept alive), the pid file and the
/// source.
fn hanging(timeout: Duration) -> (tempfile::TempDir, PathBuf, CommandTokenSource) {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let program = script(
        dir.path(),
        "hang",
        &format!("sleep 300 & echo $$ $! > {}; wait", pids.display()),
    );
    let source = CommandTokenSource::builder([program.display().to_string()])
        .timeout(timeout)
        .build()
        .unwrap();
    (dir, pids, source)
}

/// The script's two pids, once every one of them satisfies `gone` (or after about 2 s).
async fn pids_once(pids: &Path, gone: impl Fn(u32) -> bool) -> Vec<u32> {
    let pids = read_pids(pids);
    assert_eq!(pids.len(), 2, "the script wrote its pid and its child's");
    // Give the kernel a moment to tear the processes down.
    for _ in 0..100 {
        if pids.iter().all(|&p| gone(p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pids
}

#[tokio::test]
async fn a_hanging_command_and_its_child_are_killed_at_the_timeout_and_reaped() {
    let (_dir, pids, source) = hanging(Duration::from_millis(500));
    let error = source.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.to_string().contains("killed"), "{error}");
    for pid in pids_once(&pids, |p| !alive(p) && !zombie(p)).await {
        assert!(!alive(pid), "process {pid} survived the timeout");
        assert!(!zombie(pid), "process {pid} was never reaped");
    }
}

#[tokio::test]
async fn a_cancelled_fetch_kills_the_command_and_its_child() {
    let (_dir, pids, source) = hanging(Duration::from_secs(60));
    let cancelled = tokio::time::timeout(Duration::from_millis(500), source.token()).await;
    assert!(cancelled.is_err());
    for pid in pids_once(&pids, |p| !alive(p)).await {
        assert!(!alive(pid), "process {pid} survived the cancelled fetch");
    }
}

#[tokio::test]
async fn a_child_holding_the_output_open_does_not_hold_the_fetch() {
    let dir = tempfile::tempdir().unwrap();
    // Prints the token, then leaves a child with stdout open and exits.
    let program = script(dir.path(), "daemon", "echo tok-daemon; sleep 20 &");
    let source = CommandTokenSource::builder([program.display().to_string()])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = tokio::time::timeout(Duration::from_secs(10), source.token())
        .await
        .expect("the fetch ends when the command exits")
        .unwrap();
    assert_eq!(token.expose_secret(), "tok-daemon");
}

#[tokio::test]
async fn relative_paths_the_environment_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    script(
        &dir.path().join("bin"),
        "env",
        "read -r line && exit 3; echo \"tok-$TOKENSOURCE_PROFILE\"",
    );
    let source = CommandTokenSource::builder(["bin/env"])
        .base_dir(dir.path())
        .env("TOKENSOURCE_PROFILE", "vault")
        .output(OutputFormat::Token)
        .build()
        .unwrap();
    // stdin is closed: `read` fails at once instead of waiting, and the script goes on.
    assert_eq!(source.token().await.unwrap().expose_secret(), "tok-vault");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_callers_run_the_command_once() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let program = script(
        dir.path(),
        "counted",
        &format!("echo run >> {}; sleep 0.3; echo tok-once", runs.display()),
    );
    let cache = Arc::new(CachedTokenSource::new(source(&program)));
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap().unwrap().expose_secret(), "tok-once");
    }
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 1);
}
