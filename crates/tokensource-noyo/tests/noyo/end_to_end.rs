//! The whole flow through the cache, against the test kit's Noyo mock.

use std::time::Duration;

use serde_json::json;
use tokensource_core::{CachedTokenSource, ErrorKind, Token, TokenSource};
use tokensource_noyo::NoyoTokenSource;
use tokensource_testkit::{Fault, MockServer, NoyoMock};

const ID: &str = "client-id";
const SECRET: &str = "client:secret+é";

fn source(server: &MockServer, secret: &str) -> NoyoTokenSource {
    NoyoTokenSource::builder(ID, secret)
        .token_url(server.token_url())
        .build()
        .unwrap()
}

async fn api_status(server: &MockServer, token: &Token) -> u16 {
    reqwest::Client::new()
        .get(server.api_url())
        .header("authorization", token.authorization_header())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn one_fetch_serves_many_calls_and_the_api_accepts_it() {
    let server = MockServer::noyo(NoyoMock::new(ID, SECRET)).start().await;
    let cache = CachedTokenSource::new(source(&server, SECRET));
    let token = cache.token().await.unwrap();
    for _ in 0..50 {
        assert!(cache.token().await.unwrap().same_secret(&token));
    }
    assert_eq!(server.token_hits(), 1);
    let lifetime = token.lifetime().unwrap();
    assert!(lifetime <= Duration::from_secs(600) && lifetime > Duration::from_secs(590));
    assert_eq!(api_status(&server, &token).await, 200);
}

#[tokio::test]
async fn the_documented_inconsistency_is_bounded_by_the_jwt() {
    let server = MockServer::noyo(
        NoyoMock::new(ID, SECRET)
            .lifetime(Duration::from_secs(120))
            .advertised_expires_in(json!(864000)),
    )
    .start()
    .await;
    let token = source(&server, SECRET).token().await.unwrap();
    let lifetime = token.lifetime().unwrap();
    assert!(lifetime <= Duration::from_secs(120), "{lifetime:?}");
}

#[tokio::test]
async fn wrong_credentials_and_faults() {
    let server = MockServer::noyo(NoyoMock::new(ID, SECRET)).start().await;
    let error = CachedTokenSource::new(source(&server, "wrong"))
        .token()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(error.provider_message(), Some("Invalid credentials"));

    server.fail_times(Fault::ServerError, 2);
    let cache = CachedTokenSource::new(source(&server, SECRET));
    cache.token().await.expect("retried to success");
    assert_eq!(server.tokens_issued(), 1);
}

#[tokio::test]
async fn an_expired_token_is_replaced_after_invalidate() {
    let server = MockServer::noyo(NoyoMock::new(ID, SECRET)).start().await;
    let cache = CachedTokenSource::new(source(&server, SECRET));
    let first = cache.token().await.unwrap();
    server.expire_all();
    assert_eq!(api_status(&server, &first).await, 401);
    cache.invalidate(&first).await;
    let second = cache.token().await.unwrap();
    assert!(!second.same_secret(&first));
    assert_eq!(api_status(&server, &second).await, 200);
}
