//! What successful runs print: `token`, `token --json`, `headers`, `check-config`, and how the
//! configuration file and the profile are chosen.

use std::time::{SystemTime, UNIX_EPOCH};

use tokensource_testkit::{MockServer, NoyoMock, OAuth2Mock, YouniumMock};

use crate::support::{CLIENT_ID, SECRET, SECRET_VAR, Setup, oauth2_profile, path_str};

async fn oauth2_server() -> MockServer {
    MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET))
        .start()
        .await
}

/// Seconds since 1970 of an RFC 3339 UTC time with whole seconds (`2030-01-31T12:00:00Z`).
fn parse_rfc3339_utc(text: &str) -> u64 {
    let bytes = text.as_bytes();
    assert_eq!(text.len(), 20, "{text}");
    assert_eq!(
        (
            bytes[4], bytes[7], bytes[10], bytes[13], bytes[16], bytes[19]
        ),
        (b'-', b'-', b'T', b':', b':', b'Z'),
        "{text}"
    );
    let number = |range: std::ops::Range<usize>| text[range].parse::<u64>().unwrap();
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    // Days from civil (Howard Hinnant), for years from 1970.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + number(11..13) * 3600 + number(14..16) * 60 + number(17..19)
}

#[tokio::test(flavor = "multi_thread")]
async fn token_json_has_the_contract_shape() {
    let server = oauth2_server().await; // tokens live an hour
    let setup = Setup::new(&oauth2_profile("partner", &server.token_url(), ""));
    for _ in 0..2 {
        // A fresh token, then the cached one: the same shape.
        let run = setup.run_cached(&["token", "--json"]).await;
        let stdout = run.success();
        assert_eq!(stdout.matches('\n').count(), 1);
        let value: serde_json::Value = serde_json::from_str(stdout).unwrap();
        let object = value.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["access_token", "expires_at", "expires_in", "token_type"]
        );
        assert_eq!(value["access_token"], server.last_token().unwrap().as_str());
        assert_eq!(value["token_type"], "Bearer");
        let expires_in = value["expires_in"].as_u64().unwrap();
        assert!((3590..=3600).contains(&expires_in), "{expires_in}");
        let expires_at = parse_rfc3339_utc(value["expires_at"].as_str().unwrap());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(expires_at.abs_diff(now + expires_in) <= 2, "{value}");
    }
    assert_eq!(server.token_hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_for_client_credentials_are_authorization_only() {
    let server = oauth2_server().await;
    let setup = Setup::new(&oauth2_profile("partner", &server.token_url(), ""));
    let run = setup.run_cached(&["headers"]).await;
    let token = server.last_token().unwrap();
    assert_eq!(run.success(), format!("Authorization: Bearer {token}\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_for_younium_add_legal_entity_and_api_version() {
    let server =
        MockServer::younium(YouniumMock::new(CLIENT_ID, SECRET).require_legal_entity("Acme AB"))
            .start()
            .await;
    let setup = Setup::new(&format!(
        "default_profile = \"younium\"\n\n[profiles.younium]\nprovider = \"younium\"\n\
         client_id = \"{CLIENT_ID}\"\nsecret = {{ env = \"{SECRET_VAR}\" }}\n\
         token_url = \"{}\"\nlegal_entity = \"Acme AB\"\napi_version = \"2.1\"\n\n\
         [profiles.plain]\nprovider = \"younium\"\nclient_id = \"{CLIENT_ID}\"\n\
         secret = {{ env = \"{SECRET_VAR}\" }}\ntoken_url = \"{}\"\n",
        server.token_url(),
        server.token_url(),
    ));
    let run = setup.run_cached(&["headers"]).await;
    let token = server.last_token().unwrap();
    assert_eq!(
        run.success(),
        format!("Authorization: Bearer {token}\nlegal-entity: Acme AB\napi-version: 2.1\n")
    );

    let run = setup.run_cached(&["headers", "--profile", "plain"]).await;
    let token = server.last_token().unwrap();
    assert_eq!(run.success(), format!("Authorization: Bearer {token}\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn younium_and_noyo_tokens_print() {
    let younium = MockServer::younium(YouniumMock::new(CLIENT_ID, SECRET))
        .start()
        .await;
    let noyo = MockServer::noyo(NoyoMock::new(CLIENT_ID, SECRET))
        .start()
        .await;
    let setup = Setup::new(&format!(
        "[profiles.younium]\nprovider = \"younium\"\nclient_id = \"{CLIENT_ID}\"\n\
         secret = {{ env = \"{SECRET_VAR}\" }}\ntoken_url = \"{}\"\n\n\
         [profiles.noyo]\nprovider = \"noyo\"\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret = {{ env = \"{SECRET_VAR}\" }}\ntoken_url = \"{}\"\n",
        younium.token_url(),
        noyo.token_url(),
    ));
    for (profile, server) in [("younium", &younium), ("noyo", &noyo)] {
        let run = setup.run_cached(&["token", "--profile", profile]).await;
        assert_eq!(run.success(), format!("{}\n", server.last_token().unwrap()));
        let run = setup
            .run_cached(&["token", "--profile", profile, "--json"])
            .await;
        let value: serde_json::Value = serde_json::from_str(run.success()).unwrap();
        assert!(value["expires_in"].as_u64().unwrap() > 0, "{value}");
        assert_eq!(server.token_hits(), 1, "{profile}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_environment_chooses_the_file_and_the_profile() {
    let a = oauth2_server().await;
    let b = oauth2_server().await;
    let mut setup = Setup::new(&format!(
        "default_profile = \"a\"\n\n{}{}",
        oauth2_profile("a", &a.token_url(), ""),
        oauth2_profile("b", &b.token_url(), ""),
    ));
    let config = setup.config();
    setup.set_env("TOKENSOURCE_CONFIG", path_str(&config));
    let token = |server: &MockServer| format!("{}\n", server.last_token().unwrap());

    // TOKENSOURCE_CONFIG and the file's default_profile.
    let run = setup.run(&["token", "--no-cache"]).await;
    assert_eq!(run.success(), token(&a));

    // TOKENSOURCE_PROFILE.
    setup.set_env("TOKENSOURCE_PROFILE", "b");
    let run = setup.run(&["token", "--no-cache"]).await;
    assert_eq!(run.success(), token(&b));

    // --profile wins over TOKENSOURCE_PROFILE.
    let run = setup.run(&["token", "--no-cache", "--profile", "a"]).await;
    assert_eq!(run.success(), token(&a));

    // --config wins over TOKENSOURCE_CONFIG.
    setup.set_env("TOKENSOURCE_CONFIG", "/nonexistent/tokensource.toml");
    let run = setup
        .run(&["headers", "--no-cache", "--config", path_str(&config)])
        .await;
    assert_eq!(
        run.success(),
        format!("Authorization: Bearer {}", token(&b))
    );
    let run = setup.run(&["headers", "--no-cache"]).await;
    assert!(
        run.failure(2, &[])
            .contains("/nonexistent/tokensource.toml")
    );

    // check-config reads TOKENSOURCE_CONFIG too.
    setup.set_env("TOKENSOURCE_CONFIG", path_str(&config));
    assert_eq!(setup.run(&["check-config"]).await.success(), "a\nb\n");
    assert_eq!((a.token_hits(), b.token_hits()), (2, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_default_the_only_profile_is_used_and_several_need_a_choice() {
    let server = oauth2_server().await;
    let setup = Setup::new(&oauth2_profile("only", &server.token_url(), ""));
    assert!(!setup.run_cached(&["token"]).await.success().is_empty());

    let setup = Setup::new(&format!(
        "{}{}",
        oauth2_profile("one", &server.token_url(), ""),
        oauth2_profile("two", &server.token_url(), ""),
    ));
    let line = setup
        .run_cached(&["token"])
        .await
        .failure(2, &[])
        .to_owned();
    assert!(line.contains("profile"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_lists_every_profile_without_network() {
    let oauth2 = oauth2_server().await;
    let younium = MockServer::younium(YouniumMock::new(CLIENT_ID, SECRET))
        .start()
        .await;
    let setup = Setup::new(&format!(
        "default_profile = \"partner\"\n\n{}\
         [profiles.younium]\nprovider = \"younium\"\nclient_id = \"{CLIENT_ID}\"\n\
         secret = {{ env = \"{SECRET_VAR}\" }}\ntoken_url = \"{}\"\nlegal_entity = \"Acme AB\"\n\n\
         [profiles.noyo]\nprovider = \"noyo\"\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret = {{ env = \"{SECRET_VAR}\" }}\n\n\
         [profiles.shared]\nprovider = \"client-credentials\"\ntoken_url = \"{}\"\n\
         client_id = \"{CLIENT_ID}\"\nclient_secret = \"literal\"\n\
         [profiles.shared.store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:1/0\"\n",
        oauth2_profile("partner", &oauth2.token_url(), ""),
        younium.token_url(),
        oauth2.token_url(),
    ));
    let config = setup.config();
    let run = setup
        .run(&["check-config", "--config", path_str(&config)])
        .await;
    assert_eq!(run.success(), "noyo\npartner\nshared\nyounium\n");
    assert_eq!((oauth2.token_hits(), younium.token_hits()), (0, 0));
    assert!(
        !setup.user_cache_dir().exists(),
        "check-config created a cache"
    );
}
