//! Younium auth v1 and v2.

use std::time::{Duration, SystemTime};

use serde_json::json;
use tokensource_testkit::{MockServer, YouniumMock};

use crate::support::{api, client, jwt_claims, post, send};

const CREDENTIALS: &str = r#"{"clientId": "id", "secret": "secret"}"#;

#[tokio::test]
async fn v1_answers_camel_case_and_v2_snake_case() {
    let server =
        MockServer::younium(YouniumMock::new("id", "secret").lifetime(Duration::from_secs(3600)))
            .start()
            .await;
    assert_eq!(server.token_url(), server.url("/auth/token"));

    let v1 = post(&server.token_url(), "application/json", CREDENTIALS).await;
    assert_eq!(v1.status, 200);
    assert_eq!(v1.header("content-type"), Some("application/json"));
    let body = v1.json();
    assert_eq!(body["expiresIn"], json!(3600));
    assert!(body["accessToken"].is_string() && body["refreshToken"].is_string());
    let expires = httpdate::parse_http_date(body["expires"].as_str().unwrap()).unwrap();
    let ahead = expires.duration_since(SystemTime::now()).unwrap();
    assert!(ahead > Duration::from_secs(3590) && ahead <= Duration::from_secs(3600));
    let claims = jwt_claims(body["accessToken"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    assert_eq!(claims["sub"], "id");

    let v2 = post(
        &server.url("/auth/v2/token"),
        "application/json; charset=utf-8",
        CREDENTIALS,
    )
    .await;
    assert_eq!(v2.status, 200);
    let body = v2.json();
    assert_eq!(body["expires_in"], json!(3600));
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
    assert!(body.get("accessToken").is_none());

    assert_eq!((server.token_hits(), server.tokens_issued()), (2, 2));
    assert_ne!(v1.json()["accessToken"], body["access_token"]);
}

#[tokio::test]
async fn auth_v2_moves_the_token_url() {
    let server = MockServer::younium(YouniumMock::new("id", "secret").auth_v2())
        .start()
        .await;
    assert!(server.token_url().ends_with("/auth/v2/token"));
}

#[tokio::test]
async fn opaque_tokens_and_advertised_lifetimes() {
    let server = MockServer::younium(
        YouniumMock::new("id", "secret")
            .jwt(false)
            .advertised_expires_in(json!("86400")),
    )
    .start()
    .await;
    let body = post(&server.token_url(), "application/json", CREDENTIALS)
        .await
        .json();
    assert_eq!(body["expiresIn"], json!("86400"));
    assert!(!body["accessToken"].as_str().unwrap().contains('.'));
    assert_eq!(server.last_token().as_deref(), body["accessToken"].as_str());
}

#[tokio::test]
async fn bad_requests_are_refused_as_younium_does() {
    let server = MockServer::younium(YouniumMock::new("id", "secret"))
        .start()
        .await;
    let url = server.token_url();

    let wrong = post(
        &url,
        "application/json",
        r#"{"clientId": "id", "secret": "nope"}"#,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.json(),
        json!({ "errors": ["Invalid client credentials"] })
    );

    let missing = post(&url, "application/json", r#"{"clientId": "id"}"#).await;
    assert_eq!(missing.status, 400);
    assert!(missing.json()["errors"][0].is_string());

    let snake = post(
        &url,
        "application/json",
        r#"{"client_id": "id", "secret": "secret"}"#,
    )
    .await;
    assert_eq!(
        snake.status, 400,
        "the request body is camelCase in both versions"
    );

    assert_eq!(
        post(&url, "application/json", "{not json").await.status,
        400
    );
    assert_eq!(
        post(
            &url,
            "application/x-www-form-urlencoded",
            "clientId=id&secret=secret"
        )
        .await
        .status,
        415
    );
    assert_eq!(send(client().get(&url)).await.status, 405);
    assert_eq!(server.tokens_issued(), 0);
    assert_eq!(server.token_hits(), 6);
}

#[tokio::test]
async fn the_api_requires_the_legal_entity_when_told_to() {
    let server =
        MockServer::younium(YouniumMock::new("id", "secret").require_legal_entity("Acme AB"))
            .start()
            .await;
    let token = post(&server.token_url(), "application/json", CREDENTIALS)
        .await
        .json()["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let without = api(&server.api_url(), Some(&token)).await;
    assert_eq!(without.status, 403);
    assert!(without.json()["errors"][0].is_string());
    let wrong = send(
        client()
            .get(server.api_url())
            .bearer_auth(&token)
            .header("legal-entity", "Other AB"),
    )
    .await;
    assert_eq!(wrong.status, 403);
    let right = send(
        client()
            .get(server.api_url())
            .bearer_auth(&token)
            .header("legal-entity", "Acme AB"),
    )
    .await;
    assert_eq!(right.status, 200);
    assert_eq!(right.json()["client_id"], "id");
    assert_eq!(
        server.api_requests()[2].header("legal-entity"),
        Some("Acme AB")
    );
}
