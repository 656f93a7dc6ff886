//! Every error class, mapped onto the core's kinds with Younium's own message.

use std::time::Duration;

use tokensource_core::{ErrorKind, TokenSource};
use tokensource_younium::{HttpOptions, YouniumTokenSource};
use wiremock::ResponseTemplate;

use crate::support::{SECRET, failure};

fn json_status(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

#[tokio::test]
async fn errors_array_on_401_is_the_provider_message() {
    let error = failure(
        json_status(401, r#"{"errors": ["Invalid client credentials"]}"#),
        ErrorKind::CredentialsRejected,
    )
    .await;
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.provider(), "younium");
    assert_eq!(error.provider_message(), Some("Invalid client credentials"));
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        "younium: credentials rejected by the token endpoint (HTTP 401): Invalid client credentials"
    );
}

#[tokio::test]
async fn legacy_error_string_on_400_is_the_provider_message() {
    let error = failure(
        json_status(400, r#"{"error": "The secret has expired"}"#),
        ErrorKind::CredentialsRejected,
    )
    .await;
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.provider_message(), Some("The secret has expired"));
}

#[tokio::test]
async fn several_errors_are_joined() {
    let error = failure(
        json_status(
            400,
            r#"{"errors": ["clientId is required", "secret is required"]}"#,
        ),
        ErrorKind::CredentialsRejected,
    )
    .await;
    assert_eq!(
        error.provider_message(),
        Some("clientId is required; secret is required")
    );
}

#[tokio::test]
async fn forbidden_is_rejected_credentials() {
    let error = failure(
        json_status(
            403,
            r#"{"errors": ["API access is disabled for this user"]}"#,
        ),
        ErrorKind::CredentialsRejected,
    )
    .await;
    assert_eq!(error.status(), Some(403));
}

#[tokio::test]
async fn a_server_that_echoes_the_secret_has_it_redacted() {
    let body = serde_json::json!({ "errors": [format!("secret {SECRET} is not valid")] });
    let error = failure(
        json_status(401, &body.to_string()),
        ErrorKind::CredentialsRejected,
    )
    .await;
    assert_eq!(error.provider_message(), Some("secret *** is not valid"));
}

#[tokio::test]
async fn a_rejection_without_a_readable_message_still_classifies() {
    for body in [
        "",
        "<html>Unauthorized</html>",
        "Unauthorized",
        "[]",
        r#"{"errors": []}"#,
    ] {
        let error = failure(
            ResponseTemplate::new(401).set_body_string(body),
            ErrorKind::CredentialsRejected,
        )
        .await;
        assert_eq!(error.provider_message(), None, "{body:?}");
    }
}

#[tokio::test]
async fn rate_limiting_is_unavailable_with_retry_after() {
    let error = failure(
        ResponseTemplate::new(429).insert_header("retry-after", "17"),
        ErrorKind::Unavailable,
    )
    .await;
    assert_eq!(error.retry_after(), Some(Duration::from_secs(17)));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn server_errors_are_unavailable() {
    for status in [500, 502, 503, 504] {
        let error = failure(
            json_status(status, r#"{"errors": ["down"]}"#),
            ErrorKind::Unavailable,
        )
        .await;
        assert_eq!(error.status(), Some(status));
    }
}

#[tokio::test]
async fn redirects_are_invalid_and_not_followed() {
    let error = failure(
        ResponseTemplate::new(302).insert_header("location", "https://evil.example/steal"),
        ErrorKind::InvalidResponse,
    )
    .await;
    assert_eq!(error.status(), Some(302));
}

#[tokio::test]
async fn other_statuses_are_invalid_responses() {
    for status in [404, 405, 415] {
        let error = failure(
            json_status(status, r#"{"errors": ["nope"]}"#),
            ErrorKind::InvalidResponse,
        )
        .await;
        assert_eq!(error.status(), Some(status));
    }
}

#[tokio::test]
async fn a_slow_endpoint_times_out_as_unavailable() {
    let error = failure(
        ResponseTemplate::new(200).set_delay(Duration::from_secs(5)),
        ErrorKind::Unavailable,
    )
    .await;
    assert!(error.detail().contains("within"), "{error}");
}

#[tokio::test]
async fn a_dead_endpoint_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let source = YouniumTokenSource::builder("id", "secret")
        .token_url(format!("http://127.0.0.1:{port}/auth/token"))
        .http_options(HttpOptions::default().with_timeout(Duration::from_secs(2)))
        .build()
        .unwrap();
    let error = source.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
}
