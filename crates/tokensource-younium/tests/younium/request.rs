//! The token request is exactly what Younium documents.

use serde_json::json;
use tokensource_core::TokenSource;
use tokensource_younium::{YouniumAuthVersion, YouniumTokenSource};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer};

use crate::support::{CLIENT_ID, SECRET, json, source};

async fn exact_request(version: YouniumAuthVersion, expected_path: &str) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(expected_path))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(body_json(
            json!({ "clientId": CLIENT_ID, "secret": SECRET }),
        ))
        .respond_with(json(r#"{"accessToken": "tok", "expiresIn": 60}"#))
        .expect(1)
        .mount(&server)
        .await;
    let token = source(&server, version).token().await.expect("a token");
    assert_eq!(token.expose_secret(), "tok");

    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    // The body is exactly the two documented fields, and valid UTF-8 JSON (the secret has
    // non-ASCII characters and quotes).
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body.as_object().unwrap().len(), 2);
    // Nothing else goes to the token endpoint: no Authorization, no API headers.
    assert!(request.headers.get("authorization").is_none());
    assert!(request.headers.get("legal-entity").is_none());
    assert!(request.url.query().is_none());
}

#[tokio::test]
async fn v1_posts_json_credentials_to_auth_token() {
    exact_request(YouniumAuthVersion::V1, "/auth/token").await;
}

#[tokio::test]
async fn v2_posts_the_same_body_to_auth_v2_token() {
    exact_request(YouniumAuthVersion::V2, "/auth/v2/token").await;
}

#[tokio::test]
async fn api_headers_stay_off_the_token_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(json(r#"{"accessToken": "tok"}"#))
        .mount(&server)
        .await;
    let younium = YouniumTokenSource::builder(CLIENT_ID, SECRET)
        .token_url(format!("{}/auth/token", server.uri()))
        .legal_entity("Acme AB")
        .api_version("2.1")
        .build()
        .unwrap();
    younium.token().await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].headers.get("legal-entity").is_none());
    assert!(requests[0].headers.get("api-version").is_none());
    assert_eq!(younium.api_headers().len(), 2);
}
