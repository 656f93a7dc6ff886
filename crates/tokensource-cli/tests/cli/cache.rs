//! The disk cache between runs: one fetch for sequential and concurrent runs, private files,
//! keys bound to the secret, the refresh margin, `--no-cache`, and profile `store` tables.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokensource_testkit::{Fault, MockServer, OAuth2Mock};

use crate::support::{CLIENT_ID, SECRET, SECRET_VAR, Setup, files_in, oauth2_profile, path_str};

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

fn token_files(dir: &Path) -> Vec<PathBuf> {
    files_in(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "token"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_fetch_once_and_the_files_are_private() {
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let first = setup.run_cached(&["token"]).await;
    let second = setup.run_cached(&["token"]).await;
    assert_eq!(first.success(), second.success());
    assert_eq!(
        first.success(),
        format!("{}\n", server.last_token().unwrap())
    );
    assert_eq!(server.token_hits(), 1);
    assert_eq!(token_files(&setup.cache_dir()).len(), 1);

    #[cfg(unix)]
    {
        use crate::support::mode;
        assert_eq!(mode(&setup.cache_dir()), 0o700);
        let files = files_in(&setup.cache_dir());
        assert!(!files.is_empty());
        for file in files {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
}

/// Starts `runs` runs of `token` together and checks they print one token, fetched once.
async fn runs_together_fetch_once(server: &MockServer, runs: usize) {
    let setup = setup_for(server);
    let config = setup.config();
    let cache = setup.cache_dir();
    let args = [
        "token",
        "--config",
        path_str(&config),
        "--cache-dir",
        path_str(&cache),
    ];
    let runs = setup.run_together(runs, &args).await;
    let token = format!("{}\n", server.last_token().unwrap());
    for run in &runs {
        assert_eq!(run.success(), token);
    }
    assert_eq!(server.token_hits(), 1, "{runs:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_started_together_fetch_once() {
    let server = oauth2_server().await;
    // A slow answer, so that every run is waiting while it is fetched.
    server.fail_next(Fault::Slow(Duration::from_millis(300)));
    runs_together_fetch_once(&server, 6).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_started_together_fetch_once_when_the_answer_is_quick() {
    // A quick answer is the racy case: a run that found no token may ask for the lease just
    // after the fetching run stored its token and released the lease.
    let server = oauth2_server().await;
    runs_together_fetch_once(&server, 8).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_cache_fetches_every_run_and_writes_nothing() {
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let config = setup.config();
    let args = ["token", "--config", path_str(&config), "--no-cache"];
    let first = setup.run(&args).await;
    let first = first.success().to_owned();
    let second = setup.run(&args).await;
    assert_ne!(first, second.success());
    assert_eq!(server.token_hits(), 2);
    assert!(!setup.cache_dir().exists());
    assert!(!setup.user_cache_dir().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_cache_is_in_the_users_cache_folder() {
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let config = setup.config();
    let args = ["token", "--config", path_str(&config)];
    let first = setup.run(&args).await;
    let second = setup.run(&args).await;
    assert_eq!(first.success(), second.success());
    assert_eq!(server.token_hits(), 1);
    let dir = setup.user_cache_dir().join("tokensource");
    assert_eq!(token_files(&dir).len(), 1, "{}", dir.display());
    #[cfg(unix)]
    assert_eq!(crate::support::mode(&dir), 0o700);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_secret_never_gets_the_old_token() {
    let server = oauth2_server().await;
    let mut setup = setup_for(&server);
    let old = setup.run_cached(&["token"]).await.success().to_owned();

    // The server refuses the new secret: the run asked it (and did not serve the cached token).
    setup.set_env(SECRET_VAR, "rotated-secret-9d1e");
    let run = setup.run_cached(&["token"]).await;
    let line = run.failure(3, &[old.trim_end().to_owned()]);
    assert!(!line.contains("rotated-secret-9d1e"), "{line}");
    assert_eq!(server.token_hits(), 2);

    // Back to the old secret: its token is still cached.
    setup.set_env(SECRET_VAR, SECRET);
    assert_eq!(setup.run_cached(&["token"]).await.success(), old);
    assert_eq!(server.token_hits(), 2);
}

/// Rewrites the cached token's issue time so that `left` of its lifetime remains.
fn age_cached_token(cache_dir: &Path, left: Duration) {
    let files = token_files(cache_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let lifetime_ms = record["lifetime_ms"].as_u64().unwrap();
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let left_ms = u64::try_from(left.as_millis()).unwrap();
    record["issued_at_ms"] = (now_ms + left_ms - lifetime_ms).into();
    // Writing in place keeps the file's mode 0600.
    std::fs::write(&files[0], record.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_inside_its_refresh_margin_is_not_reused() {
    let server = oauth2_server().await; // tokens live an hour; the margin is 60 s
    let setup = setup_for(&server);
    let first = setup.run_cached(&["token"]).await.success().to_owned();

    age_cached_token(&setup.cache_dir(), Duration::from_secs(600));
    assert_eq!(setup.run_cached(&["token"]).await.success(), first);
    assert_eq!(server.token_hits(), 1);

    age_cached_token(&setup.cache_dir(), Duration::from_secs(30));
    let third = setup.run_cached(&["token"]).await.success().to_owned();
    assert_ne!(third, first);
    assert_eq!(server.token_hits(), 2);
    // The fresh token replaced the old one on disk.
    assert_eq!(setup.run_cached(&["token"]).await.success(), third);
    assert_eq!(server.token_hits(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_cache_file_is_ignored_and_replaced() {
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let first = setup.run_cached(&["token"]).await.success().to_owned();
    let files = token_files(&setup.cache_dir());
    std::fs::write(&files[0], b"{\"v\":1,\"access_token\":").unwrap();
    let second = setup.run_cached(&["token"]).await.success().to_owned();
    assert_ne!(first, second);
    assert_eq!(setup.run_cached(&["token"]).await.success(), second);
    assert_eq!(server.token_hits(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_store_tables_are_honoured() {
    let server = oauth2_server().await;
    let url = server.token_url();
    let setup = Setup::new(&format!(
        "{}{}",
        oauth2_profile("memory", &url, "[profiles.memory.store]\nkind = \"memory\""),
        oauth2_profile(
            "files",
            &url,
            "[profiles.files.store]\nkind = \"file\"\ndir = \"own-cache\""
        ),
    ));

    // kind = "memory": nothing on disk, a fetch per run.
    for _ in 0..2 {
        setup
            .run_cached(&["token", "--profile", "memory"])
            .await
            .success();
    }
    assert_eq!(server.token_hits(), 2);
    assert!(token_files(setup.dir()).is_empty());

    // kind = "file" with its own folder (relative to the configuration file).
    for _ in 0..2 {
        setup
            .run_cached(&["token", "--profile", "files"])
            .await
            .success();
    }
    assert_eq!(server.token_hits(), 3);
    assert_eq!(token_files(&setup.dir().join("own-cache")).len(), 1);
    assert!(token_files(&setup.cache_dir()).is_empty());

    // --no-cache overrides the table.
    let config = setup.config();
    let args = [
        "token",
        "--profile",
        "files",
        "--config",
        path_str(&config),
        "--no-cache",
    ];
    setup.run(&args).await.success();
    assert_eq!(server.token_hits(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn profiles_of_one_client_with_different_scopes_do_not_share_a_token() {
    // The cache is keyed by profile and credential: a token granted for one profile's scopes is
    // never handed to another profile of the same client.
    let server = oauth2_server().await;
    let url = server.token_url();
    let setup = Setup::new(&format!(
        "{}{}",
        oauth2_profile("reader", &url, "scopes = [\"read\"]"),
        oauth2_profile("writer", &url, "scopes = [\"write\"]"),
    ));
    let reader = setup.run_cached(&["token", "--profile", "reader"]).await;
    let writer = setup.run_cached(&["token", "--profile", "writer"]).await;
    assert_ne!(reader.success(), writer.success());
    assert_eq!(server.token_hits(), 2);
    let again = setup.run_cached(&["token", "--profile", "reader"]).await;
    assert_eq!(again.success(), reader.success());
    assert_eq!(server.token_hits(), 2);
}

/// The test Redis (started by the test kit if `TOKENSOURCE_TEST_REDIS_URL` is not set).
fn redis_url() -> String {
    tokensource_testkit::redis_server::redis_url(module_path!())
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_on_one_redis_store_fetch_once() {
    let redis = redis_url();
    let server = oauth2_server().await;
    // A slow answer, so that every run is waiting while one of them fetches.
    server.fail_next(Fault::Slow(Duration::from_millis(300)));
    let setup = Setup::new(&oauth2_profile(
        "fleet",
        &server.token_url(),
        &format!("[profiles.fleet.store]\nkind = \"redis\"\nurl = \"{redis}\""),
    ));
    let config = setup.config();
    // --no-cache would disable the shared store too; the disk cache is not used with a store table.
    let runs = setup
        .run_together(6, &["token", "--config", path_str(&config)])
        .await;
    let token = format!("{}\n", server.last_token().unwrap());
    for run in &runs {
        assert_eq!(run.success(), token);
    }
    assert_eq!(server.token_hits(), 1, "{runs:#?}");
    assert!(token_files(&setup.cache_dir()).is_empty());
    assert!(token_files(&setup.user_cache_dir()).is_empty());
}

/// How many keys a Redis holds, through `redis-cli` on its plain port.
fn keys_in(server: &tokensource_testkit::redis_server::RedisServer) -> u64 {
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "dbsize"])
        .output()
        .expect("redis-cli (install redis-tools)");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_whose_certificate_fails_is_not_used_and_the_run_says_so_once() {
    use tokensource_testkit::redis_server::RedisServer;
    use tokensource_testkit::tls::{ClientAuth, TestPki};
    let pki = TestPki::new();
    let server = RedisServer::started_tls(
        "a_redis_whose_certificate_fails_is_not_used_and_the_run_says_so_once",
        &pki,
        ClientAuth::None,
    );
    let token_server = oauth2_server().await;
    // Without the CA: the system roots do not know the test CA.
    let untrusting = Setup::new(&oauth2_profile(
        "fleet",
        &token_server.token_url(),
        &format!(
            "[profiles.fleet.store]\nkind = \"redis\"\nurl = \"{}\"",
            server.tls_url()
        ),
    ));
    let config = untrusting.config();
    let run = untrusting
        .run(&["token", "--config", path_str(&config)])
        .await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(
        run.stdout,
        format!("{}\n", token_server.last_token().unwrap())
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(
        run.stderr.starts_with("tokensource: ")
            && run.stderr.contains("certificate failed verification")
            && run.stderr.contains("fetched without the store"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(SECRET));
    assert_eq!(
        keys_in(&server),
        0,
        "nothing is written to an unverified Redis"
    );

    // With the CA (a path relative to the configuration file): the store is used, silently.
    let trusting = Setup::new(&oauth2_profile(
        "fleet",
        &token_server.token_url(),
        &format!(
            "[profiles.fleet.store]\nkind = \"redis\"\nurl = \"{}\"\nca_file = \"redis-ca.pem\"",
            server.tls_url()
        ),
    ));
    std::fs::copy(pki.ca_file(), trusting.dir().join("redis-ca.pem")).unwrap();
    let config = trusting.config();
    let first = trusting
        .run(&["token", "--config", path_str(&config)])
        .await;
    let second = trusting
        .run(&["token", "--config", path_str(&config)])
        .await;
    assert_eq!(first.success(), second.success());
    assert_eq!(
        token_server.token_hits(),
        2,
        "one fetch without the store, one with it"
    );
    assert!(keys_in(&server) >= 1);

    // An unreadable ca_file is a configuration error naming the key.
    std::fs::remove_file(trusting.dir().join("redis-ca.pem")).unwrap();
    let run = trusting
        .run(&["token", "--config", path_str(&config)])
        .await;
    let line = run.failure(2, &[]);
    assert!(line.contains("profiles.fleet.store.ca_file"), "{line}");
    let run = trusting
        .run(&["check-config", "--config", path_str(&config)])
        .await;
    let line = run.failure(2, &[]);
    assert!(line.contains("profiles.fleet.store.ca_file"), "{line}");
}
