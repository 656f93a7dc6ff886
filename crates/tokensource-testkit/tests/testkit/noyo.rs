//! Noyo: Basic credentials with the raw pair, JSON grant type, milliseconds.

use std::time::Duration;

use serde_json::json;
use tokensource_testkit::{MockServer, NoyoMock};

use crate::support::{api, basic, client, jwt_claims, send};

const ID: &str = "client-id";
const SECRET: &str = "p@ss:w+rd/é";

fn token_request(server: &MockServer, authorization: &str) -> reqwest::RequestBuilder {
    client()
        .post(server.token_url())
        .header("authorization", authorization)
        .header("content-type", "application/json")
        .body(r#"{"grant_type": "client_credentials"}"#)
}

#[tokio::test]
async fn the_raw_pair_gets_a_jwt_with_expires_in_in_milliseconds() {
    let server = MockServer::noyo(NoyoMock::new(ID, SECRET)).start().await;
    assert!(server.token_url().ends_with("/auth/public/token"));
    let reply = send(token_request(&server, &basic(ID, SECRET))).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["expires_in"], json!(600_000));
    assert_eq!(body["token_type"], "Bearer");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
}

#[tokio::test]
async fn the_documented_example_value_can_be_advertised() {
    let server = MockServer::noyo(
        NoyoMock::new(ID, SECRET)
            .lifetime(Duration::from_secs(600))
            .advertised_expires_in(json!(864000)),
    )
    .start()
    .await;
    let body = send(token_request(&server, &basic(ID, SECRET)))
        .await
        .json();
    assert_eq!(body["expires_in"], json!(864000));
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
}

#[tokio::test]
async fn bad_requests_are_refused_with_noyo_messages() {
    let server = MockServer::noyo(NoyoMock::new(ID, SECRET)).start().await;
    // Form-urlencoding the pair (as RFC 6749 would) is not what Noyo expects.
    let encoded = basic(ID, "p%40ss%3Aw%2Brd%2F%C3%A9");
    let reply = send(token_request(&server, &encoded)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json(), json!({ "message": "Invalid credentials" }));

    let missing = send(
        client()
            .post(server.token_url())
            .header("content-type", "application/json")
            .body(r#"{"grant_type": "client_credentials"}"#),
    )
    .await;
    assert_eq!(
        (missing.status, missing.json()["message"].as_str()),
        (401, Some("Missing credentials"))
    );

    let grant = send(
        client()
            .post(server.token_url())
            .header("authorization", basic(ID, SECRET))
            .header("content-type", "application/json")
            .body(r#"{"grant_type": "password"}"#),
    )
    .await;
    assert_eq!(grant.status, 400);

    let form = send(
        client()
            .post(server.token_url())
            .header("authorization", basic(ID, SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(form.status, 415);
    assert_eq!(server.tokens_issued(), 0);
}

#[tokio::test]
async fn the_api_answers_with_noyo_s_three_messages() {
    let server = MockServer::noyo(NoyoMock::new(ID, SECRET)).start().await;
    let message = |reply: crate::support::Reply| {
        assert_eq!(reply.status, 401);
        reply.json()["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        message(api(&server.api_url(), None).await),
        "Missing credentials"
    );
    assert_eq!(
        message(api(&server.api_url(), Some("eyJ.truncated")).await),
        "Malformed JWT"
    );
    let token = send(token_request(&server, &basic(ID, SECRET)))
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api(&server.api_url(), Some(&token)).await.status, 200);
    server.expire_all();
    assert_eq!(
        message(api(&server.api_url(), Some(&token)).await),
        "Expired token"
    );
}
