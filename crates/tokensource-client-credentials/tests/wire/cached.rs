//! The provider under tokensource-core's cache: transient failures retried, refusals not, tokens reused.

use std::time::Duration;

use serde_json::json;
use tokensource_core::{CachedTokenSource, ErrorKind, RefreshPolicy, TokenSource};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::{builder, json_reply, token_json};

fn quick_retries() -> RefreshPolicy {
    RefreshPolicy::default().with_backoff(Duration::from_millis(10), Duration::from_millis(20))
}

#[tokio::test]
async fn a_503_is_retried_and_the_token_reused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(json_reply(200, &token_json(json!({ "expires_in": 3600 }))))
        .mount(&server)
        .await;
    let cached = CachedTokenSource::builder(builder(&server).build().unwrap())
        .policy(quick_retries())
        .build();
    let first = cached.token().await.unwrap();
    let second = cached.token().await.unwrap();
    assert!(first.same_secret(&second));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "one 503, one token"
    );
}

#[tokio::test]
async fn rejected_credentials_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(json_reply(401, &json!({ "error": "invalid_client" })))
        .mount(&server)
        .await;
    let cached = CachedTokenSource::builder(builder(&server).build().unwrap())
        .policy(quick_retries())
        .build();
    let error = cached.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
