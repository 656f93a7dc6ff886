//! `{ file = ... }` secrets are read again before each fetch: for every provider, a secret file
//! rotated between two fetches is used at the next fetch (the server accepting only the new
//! secret by then), and a file that became unreadable fails the refresh while the still-valid
//! token keeps being served, with attempts one backoff step apart (no error burst, no loop).
//!
//! The providers are built by their configuration factories (so the file secret is the profile's
//! `{ file = "secret.txt" }`) and cached on a manual clock; tokens are re-stamped with the manual
//! clock's time so that their lifetimes follow it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokensource::clock::{Clock, ManualClock};
use tokensource::config::{ProfileSettings, Registry};
use tokensource::{
    CachedTokenSource, Error, ErrorKind, RefreshPolicy, Token, TokenSource, from_fn,
};
use tokensource_testkit::Provider;

const LIFETIME: Duration = Duration::from_secs(3600);
const MARGIN: Duration = Duration::from_secs(600);

/// The profile table for `provider` at `token_url` with its secret in `secret.txt`.
fn profile(provider: Provider, token_url: &str) -> String {
    let (name, secret_key, extra) = match provider {
        Provider::YouniumV1 => ("younium", "secret", "auth_version = \"v1\""),
        Provider::YouniumV2 => ("younium", "secret", "auth_version = \"v2\""),
        Provider::Noyo => ("noyo", "client_secret", ""),
        Provider::OAuth2Basic => (
            "client-credentials",
            "client_secret",
            "auth_style = \"basic\"",
        ),
        Provider::OAuth2RequestBody => (
            "client-credentials",
            "client_secret",
            "auth_style = \"request-body\"",
        ),
    };
    format!(
        "provider = \"{name}\"\nclient_id = \"client\"\n{secret_key} = {{ file = \"secret.txt\" }}\n\
         token_url = \"{token_url}\"\n{extra}\n"
    )
}

/// Counts the provider's fetches (started and finished) and keeps the last error.
#[derive(Default)]
struct Calls {
    started: AtomicUsize,
    finished: AtomicUsize,
    last_error: Mutex<Option<Error>>,
}

impl Calls {
    /// Waits (yielding to the background refresh) until `n` fetches have finished.
    async fn wait_finished(&self, n: usize) {
        for _ in 0..2_000 {
            if self.finished.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("fetch {n} never finished");
    }
}

#[tokio::test]
async fn a_rotated_secret_file_is_used_at_the_next_fetch_and_a_missing_one_keeps_the_token() {
    for provider in Provider::ALL {
        let server = provider
            .mock_with("client", "old-secret", Some(LIFETIME), Some(false))
            .start()
            .await;
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret.txt");
        std::fs::write(&secret_file, "old-secret\n").unwrap();
        let table: toml::Table = profile(provider, &server.token_url()).parse().unwrap();
        let settings = ProfileSettings::new("rotating", &table, Some(dir.path()));
        let factory_name = table["provider"].as_str().unwrap();
        let built = Registry::builtins()
            .get(factory_name)
            .unwrap()
            .build(&settings)
            .unwrap();
        let (inner, ..) = built.into_parts();

        let clock = ManualClock::new();
        let calls = Arc::new(Calls::default());
        let restamped = {
            let (clock, calls) = (clock.clone(), Arc::clone(&calls));
            from_fn("rotating", move || {
                let (inner, clock, calls) = (Arc::clone(&inner), clock.clone(), Arc::clone(&calls));
                async move {
                    calls.started.fetch_add(1, Ordering::SeqCst);
                    let result = inner.token().await.and_then(|token| {
                        Ok(Token::builder(token.expose_secret())
                            .issued_at(clock.system_time())
                            .expires_in(LIFETIME)
                            .build()?)
                    });
                    if let Err(error) = &result {
                        *calls.last_error.lock().unwrap() = Some(error.clone());
                    }
                    calls.finished.fetch_add(1, Ordering::SeqCst);
                    result
                }
            })
        };
        let cache = CachedTokenSource::builder(restamped)
            .clock(clock.clone())
            .policy(RefreshPolicy::default().with_margin(MARGIN))
            .build();

        let first = cache.token().await.unwrap();
        assert_eq!(server.token_hits(), 1, "{provider:?}");

        // Rotation: the file and the server change together. The valid token stays in use.
        std::fs::write(&secret_file, "new-secret\n").unwrap();
        server.rotate_secret("new-secret");
        assert!(cache.token().await.unwrap().same_secret(&first));
        assert_eq!(server.token_hits(), 1, "a rotation alone costs no fetch");

        // The refresh reads the new file and succeeds: one fetch, no error.
        clock.advance(LIFETIME - MARGIN + Duration::from_secs(100));
        assert!(
            cache.token().await.unwrap().same_secret(&first),
            "served while refreshing"
        );
        calls.wait_finished(2).await;
        let second = cache.token().await.unwrap();
        assert!(
            !second.same_secret(&first),
            "{provider:?}: the refresh failed: {:?}",
            calls.last_error.lock().unwrap()
        );
        assert_eq!(
            (server.token_hits(), server.tokens_issued()),
            (2, 2),
            "{provider:?}"
        );

        // The file disappears: refreshes fail, the valid token keeps being served, and the
        // attempts are a backoff step apart however often callers ask.
        std::fs::remove_file(&secret_file).unwrap();
        clock.advance(LIFETIME - MARGIN + Duration::from_secs(100));
        let before = calls.started.load(Ordering::SeqCst);
        for _ in 0..100 {
            let token = cache.token().await.expect("a still-valid token is served");
            assert!(token.same_secret(&second));
            // Let a refresh the call started run, and end, before time moves on.
            tokio::time::sleep(Duration::from_millis(2)).await;
            let started = calls.started.load(Ordering::SeqCst);
            calls.wait_finished(started).await;
            clock.advance(Duration::from_secs(4));
        }
        let attempts = calls.started.load(Ordering::SeqCst) - before;
        // 400 s of callers with a 60 s backoff after each failure: about 7 attempts, never 100.
        assert!(
            (1..=8).contains(&attempts),
            "{provider:?}: {attempts} attempts"
        );
        let error = calls.last_error.lock().unwrap().clone().unwrap();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{error}");
        assert!(error.to_string().contains("secret.txt"), "{error}");
        assert!(!error.to_string().contains("secret\n"), "{error}");
        assert_eq!(
            server.token_hits(),
            2,
            "no request goes out without the secret"
        );

        // The file is back: the next attempt succeeds.
        std::fs::write(&secret_file, "new-secret").unwrap();
        clock.advance(Duration::from_secs(61));
        assert!(cache.token().await.unwrap().same_secret(&second));
        let started = calls.started.load(Ordering::SeqCst);
        calls.wait_finished(started + 1).await;
        assert!(
            !cache.token().await.unwrap().same_secret(&second),
            "{provider:?}"
        );
        assert_eq!(server.token_hits(), 3, "{provider:?}");
    }
}

/// With a Redis store, the seal follows the secret file: a process started before a rotation
/// seals its next token with the new secret, so a process started after it (which knows only
/// the new secret) shares that token instead of fetching its own.
#[tokio::test]
async fn processes_on_redis_share_tokens_across_a_rotation() {
    let redis = tokensource_testkit::redis_server::redis_url(module_path!());
    let server = Provider::OAuth2Basic
        .mock_with("client", "old-secret", Some(LIFETIME), Some(false))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "old-secret\n").unwrap();
    let path = dir.path().join("tokensource.toml");
    std::fs::write(
        &path,
        format!(
            "[profiles.p]\n{}[profiles.p.store]\nkind = \"redis\"\nurl = \"{redis}\"\n",
            profile(Provider::OAuth2Basic, &server.token_url())
        ),
    )
    .unwrap();
    let before = tokensource::config::Config::load(&path)
        .unwrap()
        .build("p")
        .unwrap();
    let first = before.source().token().await.unwrap();
    assert_eq!(server.token_hits(), 1);

    // Rotation; the API refuses the old token, so the old process fetches with the new secret.
    std::fs::write(dir.path().join("secret.txt"), "new-secret\n").unwrap();
    server.rotate_secret("new-secret");
    before.source().invalidate(&first).await;
    let second = before.source().token().await.unwrap();
    assert!(!second.same_secret(&first));
    assert_eq!(server.token_hits(), 2);

    // A process started now reads the token the old one stored: no fetch of its own.
    let after = tokensource::config::Config::load(&path)
        .unwrap()
        .build("p")
        .unwrap();
    let shared = after.source().token().await.unwrap();
    assert!(
        shared.same_secret(&second),
        "the new process fetched a token of its own"
    );
    assert_eq!(server.token_hits(), 2);
}
