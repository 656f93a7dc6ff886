//! The token request is exactly what Noyo's curl snippet sends.

use base64::Engine as _;
use serde_json::json;
use tokensource_core::TokenSource;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer};

use crate::support::{CLIENT_ID, CLIENT_SECRET, json, source};

#[tokio::test]
async fn basic_credentials_with_the_raw_pair_and_a_json_grant() {
    let server = MockServer::start().await;
    // `curl -u CLIENT_ID:CLIENT_SECRET`: base64 of the raw pair, no URL-encoding.
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    Mock::given(method("POST"))
        .and(path("/auth/public/token"))
        .and(header("authorization", expected.as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({ "grant_type": "client_credentials" })))
        .respond_with(json(
            r#"{"access_token": "tok", "expires_in": 600000, "token_type": "Bearer"}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let token = source(&server).token().await.expect("a token");
    assert_eq!(token.expose_secret(), "tok");

    let requests = server.received_requests().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body, json!({ "grant_type": "client_credentials" }));
    assert!(requests[0].url.query().is_none());
}

#[test]
fn the_default_url_is_noyo_s() {
    assert_eq!(
        tokensource_noyo::DEFAULT_TOKEN_URL,
        "https://accounts.noyo.com/auth/public/token"
    );
}
