//! Failures before or around the body: unavailable endpoints, redirects, timeouts, the body cap.

use std::time::{Duration, Instant};

use tokensource_client_credentials::ClientCredentialsTokenSource;
use tokensource_core::{ErrorKind, TokenSource};
use tokensource_http::HttpOptions;
use wiremock::{MockServer, ResponseTemplate};

use crate::fixtures::{
    CLIENT_ID, SECRET, assert_clean, fetch_error, json_reply, server_answering, token_json,
};

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let error = fetch_error(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "7")
            .set_body_raw(r#"{"error":"slow_down"}"#, "application/json"),
    )
    .await;
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn service_unavailable() {
    let error = fetch_error(ResponseTemplate::new(503).insert_header("retry-after", "2")).await;
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
}

#[tokio::test]
async fn html_502_page_is_unavailable_and_not_echoed() {
    let error = fetch_error(ResponseTemplate::new(502).set_body_raw(
        "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
        "text/html",
    ))
    .await;
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(error.status(), Some(502));
    assert!(!error.to_string().contains("nginx"), "{error}");
}

#[tokio::test]
async fn redirects_are_not_followed_to_another_origin() {
    let elsewhere = MockServer::start().await;
    for status in [301, 302, 303, 307, 308] {
        let location = format!("{}/steal", elsewhere.uri());
        let error =
            fetch_error(ResponseTemplate::new(status).insert_header("location", location.as_str()))
                .await;
        assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{status}");
        assert_eq!(error.status(), Some(status));
    }
    let stolen = elsewhere.received_requests().await.unwrap();
    assert!(
        stolen.is_empty(),
        "the other origin got {} request(s)",
        stolen.len()
    );
}

#[tokio::test]
async fn other_statuses_are_invalid_responses() {
    let error = fetch_error(ResponseTemplate::new(404).set_body_string("not found")).await;
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert_eq!(error.status(), Some(404));
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let source = ClientCredentialsTokenSource::builder(
        format!("http://127.0.0.1:{port}/oauth/v2/token"),
        CLIENT_ID,
        SECRET,
    )
    .build()
    .unwrap();
    let error = source.token().await.unwrap_err();
    assert_clean(&error);
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.is_retryable());
    assert_eq!(error.status(), None);
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let server = server_answering(
        json_reply(200, &token_json(serde_json::json!({}))).set_delay(Duration::from_secs(10)),
    )
    .await;
    let source = ClientCredentialsTokenSource::builder(
        format!("{}/oauth/v2/token", server.uri()),
        CLIENT_ID,
        SECRET,
    )
    .http_options(HttpOptions::default().with_timeout(Duration::from_millis(300)))
    .build()
    .unwrap();
    let started = Instant::now();
    let error = source.token().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_clean(&error);
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.detail().contains("0.3 s"), "{error}");
}

#[tokio::test]
async fn a_10_mb_body_is_refused_at_the_cap() {
    let huge = format!(
        r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
        "A".repeat(10 * 1024 * 1024)
    );
    let error =
        fetch_error(ResponseTemplate::new(200).set_body_raw(huge, "application/json")).await;
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert!(error.detail().contains("limit"), "{error}");
}
