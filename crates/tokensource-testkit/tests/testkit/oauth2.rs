//! OAuth2 client credentials, RFC 6749 sections 2.3.1, 4.4 and 5.

use serde_json::json;
use tokensource_testkit::{ClientAuthMethod, MockServer, OAuth2Mock};

use crate::support::{Reply, api, basic, client, send};

const ID: &str = "my client";
const SECRET: &str = "s3cret:with+symbols/é";
/// ID and SECRET, each form-urlencoded as RFC 6749 2.3.1 requires.
const ID_ENCODED: &str = "my+client";
const SECRET_ENCODED: &str = "s3cret%3Awith%2Bsymbols%2F%C3%A9";

const FORM: &str = "application/x-www-form-urlencoded";

async fn token(server: &MockServer, authorization: Option<&str>, body: &str) -> Reply {
    let request = client()
        .post(server.token_url())
        .header("content-type", FORM)
        .body(body.to_owned());
    send(match authorization {
        Some(value) => request.header("authorization", value),
        None => request,
    })
    .await
}

fn assert_error(reply: &Reply, status: u16, error: &str) {
    assert_eq!(
        reply.status,
        status,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["error"], error);
    assert!(reply.json()["error_description"].is_string());
}

#[tokio::test]
async fn basic_with_form_urlencoded_credentials_succeeds() {
    let server = MockServer::oauth2(OAuth2Mock::new(ID, SECRET))
        .start()
        .await;
    assert!(server.token_url().ends_with("/oauth/v2/token"));
    let reply = token(
        &server,
        Some(&basic(ID_ENCODED, SECRET_ENCODED)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], json!(3600));
    assert!(body.get("scope").is_none());
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(api(&server.api_url(), Some(access)).await.status, 200);
}

#[tokio::test]
async fn the_raw_pair_is_refused_when_it_needs_encoding() {
    let server = MockServer::oauth2(OAuth2Mock::new(ID, SECRET))
        .start()
        .await;
    let reply = token(
        &server,
        Some(&basic(ID, SECRET)),
        "grant_type=client_credentials",
    )
    .await;
    assert_error(&reply, 401, "invalid_client");
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );

    let wrong = token(
        &server,
        Some(&basic(ID_ENCODED, "nope")),
        "grant_type=client_credentials",
    )
    .await;
    assert_error(&wrong, 401, "invalid_client");
    let none = token(&server, None, "grant_type=client_credentials").await;
    assert_error(&none, 401, "invalid_client");
}

#[tokio::test]
async fn the_client_must_use_the_configured_method_and_only_one() {
    let basic_only = MockServer::oauth2(OAuth2Mock::new("id", "secret"))
        .start()
        .await;
    let in_body = token(
        &basic_only,
        None,
        "grant_type=client_credentials&client_id=id&client_secret=secret",
    )
    .await;
    assert_error(&in_body, 401, "invalid_client");

    let body_only =
        MockServer::oauth2(OAuth2Mock::new(ID, SECRET).client_auth(ClientAuthMethod::RequestBody))
            .start()
            .await;
    let ok = token(
        &body_only,
        None,
        &format!(
            "grant_type=client_credentials&client_id={ID_ENCODED}&client_secret={SECRET_ENCODED}"
        ),
    )
    .await;
    assert_eq!(ok.status, 200);
    let as_basic = token(
        &body_only,
        Some(&basic(ID_ENCODED, SECRET_ENCODED)),
        "grant_type=client_credentials",
    )
    .await;
    assert_error(&as_basic, 401, "invalid_client");
    let both = token(
        &body_only,
        Some(&basic(ID_ENCODED, SECRET_ENCODED)),
        &format!(
            "grant_type=client_credentials&client_id={ID_ENCODED}&client_secret={SECRET_ENCODED}"
        ),
    )
    .await;
    assert_error(&both, 400, "invalid_request");
}

#[tokio::test]
async fn grant_type_content_type_and_repeats_are_checked() {
    let server = MockServer::oauth2(OAuth2Mock::new("id", "secret"))
        .start()
        .await;
    let auth = basic("id", "secret");
    assert_error(
        &token(&server, Some(&auth), "").await,
        400,
        "invalid_request",
    );
    assert_error(
        &token(&server, Some(&auth), "grant_type=password").await,
        400,
        "unsupported_grant_type",
    );
    assert_error(
        &token(
            &server,
            Some(&auth),
            "grant_type=client_credentials&grant_type=client_credentials",
        )
        .await,
        400,
        "invalid_request",
    );
    let json_body = send(
        client()
            .post(server.token_url())
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(r#"{"grant_type": "client_credentials"}"#),
    )
    .await;
    assert_error(&json_body, 400, "invalid_request");
    assert_eq!(server.tokens_issued(), 0);
}

#[tokio::test]
async fn scopes_are_checked_and_echoed() {
    let server =
        MockServer::oauth2(OAuth2Mock::new("id", "secret").allowed_scopes(["read", "write"]))
            .start()
            .await;
    let auth = basic("id", "secret");
    let ok = token(
        &server,
        Some(&auth),
        "grant_type=client_credentials&scope=read+write",
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["scope"], "read write");
    assert_error(
        &token(
            &server,
            Some(&auth),
            "grant_type=client_credentials&scope=admin",
        )
        .await,
        400,
        "invalid_scope",
    );
    let recorded = &server.token_requests()[0];
    assert!(
        recorded
            .form()
            .contains(&("scope".to_owned(), "read write".to_owned()))
    );
}

#[tokio::test]
async fn the_api_refuses_as_rfc_6750_says() {
    let server = MockServer::oauth2(OAuth2Mock::new("id", "secret"))
        .start()
        .await;
    let missing = api(&server.api_url(), None).await;
    assert_eq!(missing.status, 401);
    assert!(
        missing
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let unknown = api(&server.api_url(), Some("forged")).await;
    assert_eq!(unknown.status, 401);
    assert!(
        unknown
            .header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
}
