//! Every error class, mapped onto the core's kinds with Noyo's own message.

use std::time::Duration;

use base64::Engine as _;
use tokensource_core::{ErrorKind, TokenSource};
use tokensource_noyo::{HttpOptions, NoyoTokenSource};
use wiremock::ResponseTemplate;

use crate::support::{CLIENT_ID, CLIENT_SECRET, failure};

fn json_status(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

#[tokio::test]
async fn rejections_carry_noyo_s_message() {
    for status in [400, 401, 403] {
        let error = failure(
            json_status(status, r#"{"message": "Invalid credentials"}"#),
            ErrorKind::CredentialsRejected,
        )
        .await;
        assert_eq!(error.status(), Some(status));
        assert_eq!(error.provider(), "noyo");
        assert_eq!(error.provider_message(), Some("Invalid credentials"));
    }
}

#[tokio::test]
async fn echoed_secrets_and_credentials_are_redacted() {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let body = serde_json::json!({
        "message": format!("bad secret {CLIENT_SECRET} in Basic {encoded}")
    });
    let error = failure(
        json_status(401, &body.to_string()),
        ErrorKind::CredentialsRejected,
    )
    .await;
    assert_eq!(
        error.provider_message(),
        Some("bad secret *** in Basic ***")
    );
}

#[tokio::test]
async fn transient_failures_are_unavailable() {
    let limited = failure(
        ResponseTemplate::new(429).insert_header("retry-after", "3"),
        ErrorKind::Unavailable,
    )
    .await;
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
    for status in [500, 502, 503, 504] {
        failure(ResponseTemplate::new(status), ErrorKind::Unavailable).await;
    }
    failure(
        ResponseTemplate::new(200).set_delay(Duration::from_secs(5)),
        ErrorKind::Unavailable,
    )
    .await;
}

#[tokio::test]
async fn redirects_and_odd_statuses_are_invalid() {
    failure(
        ResponseTemplate::new(307).insert_header("location", "https://evil.example/"),
        ErrorKind::InvalidResponse,
    )
    .await;
    failure(ResponseTemplate::new(404), ErrorKind::InvalidResponse).await;
}

#[tokio::test]
async fn a_dead_endpoint_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let source = NoyoTokenSource::builder("id", "secret")
        .token_url(format!("http://127.0.0.1:{port}/auth/public/token"))
        .http_options(HttpOptions::default().with_timeout(Duration::from_secs(2)))
        .build()
        .unwrap();
    assert_eq!(
        source.token().await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
}
