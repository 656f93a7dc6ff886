//! `git-credential`: the real git, with the binary as its credential helper, against a smart-HTTP
//! server (`git http-backend`) that demands the token as the Basic password; and the helper
//! protocol's actions, run directly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tokensource_testkit::{Fault, MockServer, OAuth2Mock};

use crate::git_http::GitHttpServer;
use crate::support::{
    BINARY, CLIENT_ID, SECRET, Setup, files_in, oauth2_profile, output_of, path_str,
    require_program,
};

async fn oauth2_server() -> MockServer {
    MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET))
        .start()
        .await
}

fn setup_for(server: &MockServer) -> Setup {
    Setup::new(&oauth2_profile(
        "partner",
        &server.token_url(),
        "timeout_secs = 2",
    ))
}

fn require_git() -> PathBuf {
    require_program("git", "git (Debian: apt-get install git)")
}

/// `git` with no configuration but the command line's: no system or user configuration, no
/// prompts.
fn git(setup: &Setup, git: &Path) -> Command {
    let mut command = setup.program(git);
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("XDG_CONFIG_HOME", setup.dir().join("home/.config"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .env_remove("GIT_CONFIG_GLOBAL")
        .env_remove("GIT_DIR");
    command
}

/// A bare repository `repo.git` in `root` with one commit on `main`.
fn make_repository(setup: &Setup, git_path: &Path, root: &Path) {
    let work = setup.dir().join("work");
    let run = |command: &mut Command| {
        let output = command.output().unwrap();
        assert!(output.status.success(), "{command:?}: {output:?}");
    };
    run(git(setup, git_path)
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(root.join("repo.git")));
    run(git(setup, git_path)
        .args(["init", "-q", "-b", "main"])
        .arg(&work));
    run(git(setup, git_path)
        .current_dir(&work)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(["commit", "-q", "--allow-empty", "-m", "first"]));
    run(git(setup, git_path)
        .current_dir(&work)
        .args(["push", "-q"])
        .arg(root.join("repo.git"))
        .arg("main"));
}

/// The helper configuration: every other helper cleared, then this binary.
fn helper_args(setup: &Setup) -> Vec<String> {
    let helper = format!(
        "!'{BINARY}' git-credential --config '{}' --profile partner --cache-dir '{}'",
        path_str(&setup.config()),
        path_str(&setup.cache_dir()),
    );
    vec![
        "-c".into(),
        "credential.helper=".into(),
        "-c".into(),
        format!("credential.helper={helper}"),
    ]
}

async fn ls_remote(setup: &Setup, git_path: &Path, url: &str) -> Output {
    let mut command = git(setup, git_path);
    command.args(helper_args(setup)).args(["ls-remote", url]);
    output_of(command).await
}

fn token_files(setup: &Setup) -> Vec<PathBuf> {
    files_in(&setup.cache_dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "token"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn git_uses_the_token_and_erase_makes_the_next_get_fetch_a_new_one() {
    let git_path = require_git();
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let root = setup.dir().join("repos");
    std::fs::create_dir(&root).unwrap();
    make_repository(&setup, &git_path, &root);
    let http = GitHttpServer::start(&root, &git_path, server.address());
    let url = http.url("/repo.git");

    // git asks the helper after the server's 401 challenge, and sends the token.
    let first = ls_remote(&setup, &git_path, &url).await;
    assert!(first.status.success(), "git failed: {first:?}");
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("refs/heads/main"),
        "{first:?}"
    );
    let token = server.last_token().unwrap();
    assert_eq!(server.token_hits(), 1);
    assert!(http.refused() >= 1, "git was challenged first");
    let accepted = http.accepted();
    assert!(
        !accepted.is_empty() && accepted.iter().all(|p| *p == token),
        "{accepted:?}"
    );

    // Another git run: the cached token, no token request.
    let second = ls_remote(&setup, &git_path, &url).await;
    assert!(second.status.success(), "git failed: {second:?}");
    assert_eq!(server.token_hits(), 1);

    // The server stops accepting the token: git fails, and tells the helper to erase it.
    assert!(server.revoke(&token));
    let refused = ls_remote(&setup, &git_path, &url).await;
    assert!(!refused.status.success(), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !stderr.contains(SECRET) && !stderr.contains(&token),
        "{stderr}"
    );
    assert_eq!(server.token_hits(), 1, "get still had the cached token");
    assert!(
        token_files(&setup).is_empty(),
        "erase dropped the cached token"
    );

    // The next get fetches a new token, which the server accepts.
    let fourth = ls_remote(&setup, &git_path, &url).await;
    assert!(fourth.status.success(), "git failed: {fourth:?}");
    assert_eq!(server.token_hits(), 2, "one new token");
    let new_token = server.last_token().unwrap();
    assert_ne!(new_token, token);
    assert_eq!(http.accepted().last(), Some(&new_token));
}

/// Runs the helper's `action` with `stdin` as git's request.
async fn helper(setup: &Setup, args: &[&str], stdin: &str) -> Output {
    let mut command = setup.program(BINARY);
    command
        .arg("git-credential")
        .args([
            "--config",
            path_str(&setup.config()),
            "--profile",
            "partner",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        // A run that fails on its command line never reads its input.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

const REQUEST: &str = "protocol=https\nhost=git.example.com\npath=repo.git\n\
    capability[]=authtype\nwwwauth[]=Basic realm=\"x\"\n\n";

#[tokio::test(flavor = "multi_thread")]
async fn get_prints_username_password_and_expiry() {
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let cache = setup.cache_dir();
    let before = std::time::SystemTime::now();
    let output = helper(&setup, &["--cache-dir", path_str(&cache), "get"], REQUEST).await;
    assert!(output.status.success(), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    let token = server.last_token().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], "username=x-access-token");
    assert_eq!(lines[1], format!("password={token}"));
    let expiry: u64 = lines[2]
        .strip_prefix("password_expiry_utc=")
        .unwrap()
        .parse()
        .unwrap();
    // The mock's tokens live an hour.
    let now = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 3500..=now + 3700).contains(&expiry),
        "{expiry} vs {now}"
    );

    // --username; and the input may end at EOF without a blank line.
    let output = helper(
        &setup,
        &["--cache-dir", path_str(&cache), "--username", "bot", "get"],
        "protocol=https\nhost=x",
    )
    .await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("username=bot\npassword="), "{stdout}");
    assert_eq!(server.token_hits(), 1, "the cached token");
}

#[tokio::test(flavor = "multi_thread")]
async fn store_does_nothing_and_erase_drops_only_the_token_git_names() {
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let cache = setup.cache_dir();
    let cache = path_str(&cache);

    // store: nothing printed, nothing fetched, exit 0.
    let output = helper(&setup, &["--cache-dir", cache, "store"], REQUEST).await;
    assert!(output.status.success() && output.stdout.is_empty() && output.stderr.is_empty());
    assert_eq!(server.token_hits(), 0);

    helper(&setup, &["--cache-dir", cache, "get"], REQUEST).await;
    let token = server.last_token().unwrap();
    assert_eq!(token_files(&setup).len(), 1);

    // erase of another password (another helper's, a stale token): the cached token stays.
    for other in [
        "password=not-the-token\n",
        "password=\n",
        "username=x\n",
        "password=a b\r\n",
    ] {
        let request = format!("protocol=https\nhost=x\n{other}\n");
        let output = helper(&setup, &["--cache-dir", cache, "erase"], &request).await;
        assert!(
            output.status.success() && output.stdout.is_empty(),
            "{output:?}"
        );
        assert!(output.stderr.is_empty(), "{output:?}");
    }
    helper(&setup, &["--cache-dir", cache, "get"], REQUEST).await;
    assert_eq!(server.token_hits(), 1);

    // erase of the token: dropped; the next get fetches.
    let request = format!("protocol=https\nhost=x\nusername=x-access-token\npassword={token}\n\n");
    let output = helper(&setup, &["--cache-dir", cache, "erase"], &request).await;
    assert!(output.status.success() && output.stdout.is_empty() && output.stderr.is_empty());
    assert!(token_files(&setup).is_empty());
    assert_eq!(server.token_hits(), 1, "erase fetches nothing");
    let output = helper(&setup, &["--cache-dir", cache, "get"], REQUEST).await;
    assert!(output.status.success());
    assert_eq!(server.token_hits(), 2);
    assert_ne!(server.last_token().unwrap(), token);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_fails_as_token_does_and_bad_arguments_are_usage_errors() {
    let server = oauth2_server().await;
    server.fail_always(Fault::RejectCredentials);
    let setup = setup_for(&server);
    let output = helper(&setup, &["--no-cache", "get"], REQUEST).await;
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("tokensource: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET));

    for args in [
        &["fill"][..],
        &[],
        &["--username", "a\nb", "get"],
        &["--username", "", "get"],
    ] {
        let output = helper(&setup, args, REQUEST).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(output.stdout.is_empty());
    }
    assert_eq!(server.token_hits(), 1);
}
