//! Scheduled misbehaviour of the token endpoint.

use std::time::{Duration, Instant};

use serde_json::json;
use tokensource_testkit::{Fault, MockServer, RawResponse, YouniumMock};

use crate::support::{Reply, post};

const CREDENTIALS: &str = r#"{"clientId": "id", "secret": "secret"}"#;

async fn server() -> MockServer {
    MockServer::younium(YouniumMock::new("id", "secret"))
        .start()
        .await
}

async fn request(server: &MockServer) -> Reply {
    post(&server.token_url(), "application/json", CREDENTIALS).await
}

#[tokio::test]
async fn server_errors_n_times_then_success() {
    let server = server().await;
    server.fail_times(Fault::ServerError, 2);
    let first = request(&server).await;
    assert_eq!(first.status, 503);
    assert!(
        first
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(request(&server).await.status, 503);
    assert_eq!(request(&server).await.status, 200);
    assert_eq!((server.token_hits(), server.tokens_issued()), (3, 1));
}

#[tokio::test]
async fn faults_queue_in_order() {
    let server = server().await;
    server.fail_next(Fault::RateLimited {
        retry_after: Some(Duration::from_secs(2)),
    });
    server.fail_next(Fault::MalformedBody);
    server.fail_next(Fault::RejectCredentials);
    let limited = request(&server).await;
    assert_eq!(
        (limited.status, limited.header("retry-after")),
        (429, Some("2"))
    );
    let malformed = request(&server).await;
    assert_eq!(malformed.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&malformed.body).is_err());
    let rejected = request(&server).await;
    assert_eq!(rejected.status, 401);
    assert_eq!(
        rejected.json(),
        json!({ "errors": ["Invalid client credentials"] })
    );
    assert_eq!(request(&server).await.status, 200);
}

#[tokio::test]
async fn slow_answers_still_issue_tokens() {
    let server = server().await;
    server.fail_next(Fault::Slow(Duration::from_millis(300)));
    let started = Instant::now();
    let reply = request(&server).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(server.tokens_issued(), 1);
}

#[tokio::test]
async fn raw_responses_are_sent_exactly() {
    let server = server().await;
    server.fail_next(
        RawResponse::new(302)
            .header("location", "https://elsewhere.example/token")
            .header("x-custom", [0xC3, 0xA9]),
    );
    server.fail_next(Fault::Raw(
        RawResponse::new(200).body(vec![b'x'; 2 * 1024 * 1024]),
    ));
    server.fail_next(Fault::Raw(
        RawResponse::new(200).json(&json!({"accessToken": "a\r\nb"})),
    ));

    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(server.token_url())
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        redirect.headers()["location"],
        "https://elsewhere.example/token"
    );
    assert_eq!(redirect.headers()["x-custom"].as_bytes(), [0xC3, 0xA9]);
    assert!(redirect.headers().get("content-type").is_none());

    assert_eq!(request(&server).await.body.len(), 2 * 1024 * 1024);
    assert_eq!(request(&server).await.json()["accessToken"], "a\r\nb");
}

#[tokio::test]
async fn fail_always_until_cleared() {
    let server = server().await;
    server.fail_always(Fault::ServerError);
    server.fail_next(Fault::RejectCredentials);
    assert_eq!(request(&server).await.status, 401);
    for _ in 0..3 {
        assert_eq!(request(&server).await.status, 503);
    }
    server.clear_faults();
    assert_eq!(request(&server).await.status, 200);
}
