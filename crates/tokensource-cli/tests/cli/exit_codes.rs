//! Every exit code of the contract, with stdout empty and one secret-free line on stderr on
//! failure.

use std::time::Duration;

use tokensource_testkit::{Fault, MockServer, NoyoMock, OAuth2Mock, RawResponse, YouniumMock};

use crate::support::{
    CLIENT_ID, SECRET, SECRET_VAR, Setup, closed_port_url, files_in, oauth2_profile, path_str,
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

fn issued(server: &MockServer) -> Vec<String> {
    server.last_token().into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn success_is_0_with_the_token_on_stdout() {
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let run = setup.run_cached(&["token"]).await;
    let token = server.last_token().unwrap();
    assert_eq!(run.success(), format!("{token}\n"));
    assert_eq!(server.token_hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn help_is_0_and_shows_examples() {
    let setup = Setup::new("");
    let run = setup.run(&["--help"]).await;
    let help = run.success();
    assert!(help.contains("Examples:"), "{help}");
    assert!(help.contains("tokensource token --config"), "{help}");
    assert!(help.contains("Exit codes:"), "{help}");
    let run = setup.run(&["token", "--help"]).await;
    assert!(run.success().contains("expires_in"));
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_are_2() {
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let config = setup.config();
    let config = path_str(&config);
    let cases: [&[&str]; 6] = [
        &[],
        &["fetch"],
        &["token"],
        &["token", "--config", config, "--bogus"],
        &[
            "token",
            "--config",
            config,
            "--cache-dir",
            "x",
            "--no-cache",
        ],
        &["check-config", "--config", config, "--profile", "partner"],
    ];
    for args in cases {
        let run = setup.run(args).await;
        let line = run.failure(2, &[]);
        assert!(line.contains("--help"), "{args:?}: {line}");
    }
    assert_eq!(server.token_hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_is_2_naming_the_field() {
    let server = oauth2_server().await;
    let url = server.token_url();
    let cases = [
        ("[profiles.partner\n".to_owned(), "config"),
        (
            oauth2_profile("partner", &url, "colour = \"blue\""),
            "profiles.partner.colour",
        ),
        (
            oauth2_profile("partner", &url, "timeout_secs = -1"),
            "profiles.partner.timeout_secs",
        ),
        (
            "[profiles.partner]\nprovider = \"nope\"\n".to_owned(),
            "profiles.partner.provider",
        ),
        (
            format!(
                "[profiles.partner]\nprovider = \"client-credentials\"\ntoken_url = \"{url}\"\n\
                 client_id = \"{CLIENT_ID}\"\nclient_secret = {{ env = \"TOKENSOURCE_TEST_UNSET\" }}\n"
            ),
            "profiles.partner.client_secret",
        ),
        (
            format!(
                "[profiles.partner]\nprovider = \"client-credentials\"\ntoken_url = \"{url}\"\n\
                 client_id = \"{CLIENT_ID}\"\nclient_secret = {{ file = \"missing-secret.txt\" }}\n"
            ),
            "profiles.partner.client_secret",
        ),
        (
            oauth2_profile("partner", "http://api.example.com/token", ""),
            "profiles.partner",
        ),
    ];
    for (config, field) in cases {
        let setup = Setup::new(&config);
        for command in ["token", "headers"] {
            let run = setup.run_cached(&[command]).await;
            let line = run.failure(2, &[]);
            assert!(line.contains(field), "{config}: {line}");
        }
        let config_path = setup.config();
        let run = setup
            .run(&["check-config", "--config", path_str(&config_path)])
            .await;
        let line = run.failure(2, &[]);
        assert!(line.contains(field), "{config}: {line}");
    }
    assert_eq!(
        server.token_hits(),
        0,
        "config errors are found before any request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_file_and_unknown_profile_are_2() {
    let server = oauth2_server().await;
    let setup = setup_for(&server);
    let run = setup
        .run(&["token", "--config", "does-not-exist.toml", "--no-cache"])
        .await;
    assert!(run.failure(2, &[]).contains("does-not-exist.toml"));

    let run = setup.run_cached(&["token", "--profile", "nope"]).await;
    assert!(run.failure(2, &[]).contains("nope"));

    let mut setup = setup_for(&server);
    setup.set_env("TOKENSOURCE_PROFILE", "also-nope");
    let run = setup.run_cached(&["headers"]).await;
    assert!(run.failure(2, &[]).contains("also-nope"));
    assert_eq!(server.token_hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_file_is_read_relative_to_the_config() {
    let server = oauth2_server().await;
    let setup = Setup::new(&format!(
        "[profiles.partner]\nprovider = \"client-credentials\"\ntoken_url = \"{}\"\n\
         client_id = \"{CLIENT_ID}\"\nclient_secret = {{ file = \"secrets/partner.txt\" }}\n",
        server.token_url()
    ));
    std::fs::create_dir(setup.dir().join("secrets")).unwrap();
    std::fs::write(
        setup.dir().join("secrets/partner.txt"),
        format!("{SECRET}\n"),
    )
    .unwrap();
    // Run from another folder: the path is relative to the configuration file, not the cwd.
    let run = setup.run_cached(&["token"]).await;
    assert_eq!(run.success(), format!("{}\n", server.last_token().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_credentials_are_3_with_the_providers_message_and_no_retry() {
    let server = MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, "the-server-expects-another"))
        .start()
        .await;
    let setup = setup_for(&server);
    let run = setup.run_cached(&["token"]).await;
    let line = run.failure(3, &[]);
    assert!(line.contains("401"), "{line}");
    assert!(line.contains("invalid_client"), "{line}");
    assert!(line.contains("client authentication failed"), "{line}");
    assert_eq!(
        server.token_hits(),
        1,
        "rejected credentials are never retried"
    );

    // The same for `headers`, and for a server whose rejection is scheduled.
    let run = setup.run_cached(&["headers"]).await;
    run.failure(3, &[]);
    let server = oauth2_server().await;
    server.fail_always(Fault::RejectCredentials);
    let setup = setup_for(&server);
    let run = setup.run_cached(&["token", "--json"]).await;
    assert!(run.failure(3, &[]).contains("invalid_client"));
    assert_eq!(server.token_hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn younium_and_noyo_rejections_are_3_with_their_messages() {
    let younium = MockServer::younium(YouniumMock::new(CLIENT_ID, "expects-another"))
        .start()
        .await;
    let noyo = MockServer::noyo(NoyoMock::new(CLIENT_ID, "expects-another"))
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
    let run = setup.run_cached(&["token", "--profile", "younium"]).await;
    let line = run.failure(3, &[]);
    assert!(line.contains("Invalid client credentials"), "{line}");
    let run = setup.run_cached(&["headers", "--profile", "noyo"]).await;
    let line = run.failure(3, &[]);
    assert!(line.contains("Invalid credentials"), "{line}");
    assert_eq!((younium.token_hits(), noyo.token_hits()), (1, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_endpoint_is_4() {
    let setup = Setup::new(&oauth2_profile(
        "partner",
        &closed_port_url(),
        "timeout_secs = 2",
    ));
    let run = setup.run_cached(&["token"]).await;
    let line = run.failure(4, &[]);
    assert!(line.contains("unavailable"), "{line}");
    assert!(run.elapsed < Duration::from_secs(30), "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_4_after_three_attempts() {
    let server = oauth2_server().await;
    server.fail_always(Fault::ServerError);
    let setup = setup_for(&server);
    let run = setup.run_cached(&["token"]).await;
    let line = run.failure(4, &[]);
    assert!(line.contains("503"), "{line}");
    assert_eq!(server.token_hits(), 3);
    assert!(run.elapsed < Duration::from_secs(30), "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_error_is_retried_to_success() {
    let server = oauth2_server().await;
    server.fail_times(Fault::ServerError, 2);
    let setup = setup_for(&server);
    let run = setup.run_cached(&["token"]).await;
    assert_eq!(run.success(), format!("{}\n", server.last_token().unwrap()));
    assert_eq!(server.token_hits(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_retry_after_still_ends_in_bounded_time() {
    let server = oauth2_server().await;
    server.fail_always(Fault::RateLimited {
        retry_after: Some(Duration::from_secs(86_400)),
    });
    let setup = setup_for(&server);
    let run = setup.run_cached(&["token"]).await;
    run.failure(4, &[]);
    assert_eq!(server.token_hits(), 3);
    // Two waits of at most 4 s each.
    assert!(run.elapsed < Duration::from_secs(12), "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_endpoint_times_out_as_4() {
    let server = oauth2_server().await;
    server.fail_always(Fault::Slow(Duration::from_secs(20)));
    let setup = Setup::new(&oauth2_profile(
        "partner",
        &server.token_url(),
        "timeout_secs = 1",
    ));
    let run = setup.run_cached(&["token"]).await;
    run.failure(4, &[]);
    assert!(run.elapsed < Duration::from_secs(30), "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_body_is_5_without_retry() {
    let server = oauth2_server().await;
    server.fail_always(Fault::MalformedBody);
    let setup = setup_for(&server);
    let run = setup.run_cached(&["token"]).await;
    let line = run.failure(5, &["eyJhbGciOiJub25lIn0".to_owned()]);
    assert!(line.contains("invalid response"), "{line}");
    assert_eq!(server.token_hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_is_5_and_not_followed() {
    let server = oauth2_server().await;
    server.fail_always(Fault::Raw(
        RawResponse::new(307).header("location", server.url("/api/stolen-credentials")),
    ));
    let setup = setup_for(&server);
    let run = setup.run_cached(&["token"]).await;
    let line = run.failure(5, &[]);
    assert!(line.contains("307"), "{line}");
    assert_eq!(server.token_hits(), 1);
    assert_eq!(server.api_hits(), 0, "the redirect was followed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_one_mib_is_5() {
    let server = oauth2_server().await;
    let filler = "x".repeat(2 * 1024 * 1024);
    server.fail_always(Fault::Raw(
        RawResponse::new(200)
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"access_token": "abc", "token_type": "Bearer", "pad": "{filler}"}}"#
            )),
    ));
    let setup = setup_for(&server);
    let run = setup.run_cached(&["token"]).await;
    run.failure(5, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_with_illegal_characters_is_5_and_not_echoed() {
    let server = oauth2_server().await;
    let hostile = "evil token\r\nX-Injected: 1";
    server.fail_always(Fault::Raw(RawResponse::new(200).json(&serde_json::json!({
        "access_token": hostile,
        "token_type": "Bearer",
        "expires_in": 3600,
    }))));
    let setup = setup_for(&server);
    let run = setup.run_cached(&["headers"]).await;
    run.failure(5, &["evil token".to_owned(), "X-Injected".to_owned()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_leave_no_token_in_the_cache() {
    let server = oauth2_server().await;
    server.fail_always(Fault::MalformedBody);
    let setup = setup_for(&server);
    setup
        .run_cached(&["token"])
        .await
        .failure(5, &issued(&server));
    let tokens: Vec<_> = files_in(&setup.cache_dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "token"))
        .collect();
    assert!(tokens.is_empty(), "{tokens:?}");
}
