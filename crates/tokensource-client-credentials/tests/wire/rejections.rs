//! 400, 401 and 403: the credentials were refused, with the server's RFC 6749 5.2 message.

use serde_json::json;
use tokensource_core::ErrorKind;
use wiremock::ResponseTemplate;

use crate::fixtures::{SECRET, fetch_error, json_reply};

#[tokio::test]
async fn invalid_client_with_description_and_uri() {
    let error = fetch_error(json_reply(
        400,
        &json!({
            "error": "invalid_client",
            "error_description": "Client authentication failed",
            "error_uri": "https://auth.example.com/docs/errors#invalid_client"
        }),
    ))
    .await;
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(error.status(), Some(400));
    assert!(!error.is_retryable());
    assert_eq!(
        error.provider_message(),
        Some(
            "invalid_client: Client authentication failed \
             (see https://auth.example.com/docs/errors#invalid_client)"
        )
    );
    assert_eq!(error.provider(), "client-credentials");
    assert!(
        error
            .to_string()
            .contains("invalid_client: Client authentication failed")
    );
}

#[tokio::test]
async fn unregistered_error_codes_are_kept() {
    let error = fetch_error(json_reply(400, &json!({ "error": "invalid_scope" }))).await;
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(error.provider_message(), Some("invalid_scope"));
    let error = fetch_error(json_reply(
        400,
        &json!({ "error": "vendor_specific_thing" }),
    ))
    .await;
    assert_eq!(error.provider_message(), Some("vendor_specific_thing"));
}

#[tokio::test]
async fn a_server_echoing_the_secret_is_redacted() {
    let error = fetch_error(json_reply(
        401,
        &json!({
            "error": "invalid_client",
            "error_description": format!("secret {SECRET} is wrong (s3cr%3At%2B%25%26%3D+x)")
        }),
    ))
    .await;
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(
        error.provider_message(),
        Some("invalid_client: secret *** is wrong (***)")
    );
}

#[tokio::test]
async fn html_401_is_still_rejected_credentials() {
    let error = fetch_error(
        ResponseTemplate::new(401)
            .insert_header("www-authenticate", "Basic realm=\"api\"")
            .set_body_raw(
                "<html><body><h1>401 Unauthorized</h1></body></html>",
                "text/html",
            ),
    )
    .await;
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(error.status(), Some(401));
    assert_eq!(
        error.provider_message(),
        None,
        "an HTML page is never echoed"
    );
    assert!(!error.to_string().contains("html"), "{error}");
}

#[tokio::test]
async fn empty_401_is_rejected_credentials() {
    let error = fetch_error(ResponseTemplate::new(401)).await;
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(error.status(), Some(401));
}

#[tokio::test]
async fn non_rfc_json_401_keeps_its_message() {
    let error = fetch_error(json_reply(
        401,
        &json!({ "message": "Invalid client secret" }),
    ))
    .await;
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(error.provider_message(), Some("Invalid client secret"));
}

#[tokio::test]
async fn forbidden_403() {
    let error = fetch_error(json_reply(
        403,
        &json!({ "error": "unauthorized_client", "error_description": "grant not allowed" }),
    ))
    .await;
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(error.status(), Some(403));
    assert_eq!(
        error.provider_message(),
        Some("unauthorized_client: grant not allowed")
    );
}

#[tokio::test]
async fn control_characters_in_messages_are_removed() {
    let error = fetch_error(json_reply(
        400,
        &json!({ "error": "invalid_client", "error_description": "bad\r\nX-Injected: 1" }),
    ))
    .await;
    let message = error.provider_message().unwrap();
    assert!(
        !message.contains('\r') && !message.contains('\n'),
        "{message:?}"
    );
}
