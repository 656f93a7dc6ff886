//! The protected API, hit counts and recorded requests.

use tokensource_testkit::{MockServer, YouniumMock};

use crate::support::{api, client, post, send};

const CREDENTIALS: &str = r#"{"clientId": "id", "secret": "secret"}"#;

async fn issue(server: &MockServer) -> String {
    post(&server.token_url(), "application/json", CREDENTIALS)
        .await
        .json()["accessToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn only_valid_tokens_of_this_server_pass() {
    let server = MockServer::younium(YouniumMock::new("id", "secret"))
        .start()
        .await;
    let other = MockServer::younium(YouniumMock::new("id", "secret"))
        .start()
        .await;
    let token = issue(&server).await;
    let foreign = issue(&other).await;
    assert_ne!(token, foreign);

    assert_eq!(api(&server.api_url(), Some(&token)).await.status, 200);
    assert_eq!(
        api(&server.url("/api/v2/accounts?x=1"), Some(&token))
            .await
            .status,
        200
    );
    assert_eq!(api(&server.api_url(), Some(&foreign)).await.status, 401);
    assert_eq!(api(&server.api_url(), None).await.status, 401);
    let basic = send(
        client()
            .get(server.api_url())
            .header("authorization", format!("Basic {token}")),
    )
    .await;
    assert_eq!(basic.status, 401);
    assert_eq!(server.api_hits(), 5);
    assert_eq!(
        send(client().get(server.url("/elsewhere"))).await.status,
        404
    );
    assert_eq!(server.api_hits(), 5);
}

#[tokio::test]
async fn revocation_and_expiry() {
    let server = MockServer::younium(YouniumMock::new("id", "secret"))
        .start()
        .await;
    let first = issue(&server).await;
    let second = issue(&server).await;
    assert!(server.revoke(&first));
    assert!(!server.revoke("never-issued"));
    assert_eq!(api(&server.api_url(), Some(&first)).await.status, 401);
    assert_eq!(api(&server.api_url(), Some(&second)).await.status, 200);
    server.revoke_all();
    assert_eq!(api(&server.api_url(), Some(&second)).await.status, 401);
    let third = issue(&server).await;
    assert_eq!(api(&server.api_url(), Some(&third)).await.status, 200);
    server.expire_all();
    assert_eq!(api(&server.api_url(), Some(&third)).await.status, 401);
}

#[tokio::test]
async fn short_lifetimes_expire_on_the_real_clock() {
    let server = MockServer::younium(
        YouniumMock::new("id", "secret").lifetime(std::time::Duration::from_millis(50)),
    )
    .start()
    .await;
    let token = issue(&server).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(api(&server.api_url(), Some(&token)).await.status, 401);
}

#[tokio::test]
async fn requests_are_recorded_and_debug_hides_bodies() {
    let server = MockServer::younium(YouniumMock::new("id", "secret"))
        .start()
        .await;
    let token = issue(&server).await;
    api(&server.api_url(), Some(&token)).await;
    let recorded = server.token_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method(), "POST");
    assert_eq!(recorded[0].path(), "/auth/token");
    assert_eq!(recorded[0].json().unwrap()["secret"], "secret");
    let debug = format!("{:?} {server:?}", recorded[0]);
    assert!(!debug.contains("\"secret\""), "{debug}");
    assert_eq!(
        server.api_requests()[0].header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(server.last_token(), Some(token));
    assert!(format!("{:?}", YouniumMock::new("id", "hunter2")).contains("redacted"));
    assert!(!format!("{:?}", YouniumMock::new("id", "hunter2")).contains("hunter2"));
}
