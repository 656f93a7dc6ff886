//! RFC 6749 5.1 replies that yield a token.

use std::time::{Duration, SystemTime};

use secrecy::ExposeSecret;
use serde_json::json;
use tokensource_core::lifetime::MAX_LIFETIME;
use wiremock::ResponseTemplate;

use crate::fixtures::{ACCESS_TOKEN, fetch, json_reply, token_json};

#[tokio::test]
async fn the_documented_reply() {
    let before = SystemTime::now();
    let token = fetch(json_reply(
        200,
        &json!({ "token_type": "Bearer", "expires_in": 3600, "access_token": ACCESS_TOKEN }),
    ))
    .await
    .unwrap();
    assert_eq!(token.expose_secret(), ACCESS_TOKEN);
    assert_eq!(token.token_type(), "Bearer");
    assert_eq!(token.lifetime(), Some(Duration::from_secs(3600)));
    assert!(token.issued_at() >= before && token.issued_at() <= SystemTime::now());
    assert_eq!(
        token.authorization_header().to_str().unwrap(),
        format!("Bearer {ACCESS_TOKEN}")
    );
    assert!(token.scopes().is_empty());
    assert!(token.refresh_token().is_none());
}

#[tokio::test]
async fn token_type_is_case_insensitive() {
    for token_type in ["bearer", "BEARER", "beArEr"] {
        let token = fetch(json_reply(
            200,
            &json!({ "access_token": "t", "token_type": token_type }),
        ))
        .await
        .unwrap();
        assert_eq!(token.token_type(), "Bearer");
    }
}

#[tokio::test]
async fn without_expires_in_the_lifetime_is_unknown() {
    let token = fetch(json_reply(200, &token_json(json!({}))))
        .await
        .unwrap();
    assert_eq!(
        token.lifetime(),
        None,
        "the cache applies its default lifetime"
    );
    let token = fetch(json_reply(200, &token_json(json!({ "expires_in": null }))))
        .await
        .unwrap();
    assert_eq!(token.lifetime(), None);
}

#[tokio::test]
async fn granted_scopes_and_refresh_token_go_onto_the_token() {
    let token = fetch(json_reply(
        200,
        &token_json(json!({ "expires_in": 60, "scope": "read write:all", "refresh_token": "r-1" })),
    ))
    .await
    .unwrap();
    assert_eq!(token.scopes(), ["read", "write:all"]);
    assert_eq!(
        token.refresh_token().map(|r| r.expose_secret()),
        Some("r-1")
    );
    assert!(!format!("{token:?}").contains("r-1"));
}

#[tokio::test]
async fn lenient_where_servers_commonly_deviate() {
    // `expires_in` as a string of digits (Azure AD v1) and as a float.
    let token = fetch(json_reply(
        200,
        &token_json(json!({ "expires_in": "3599" })),
    ))
    .await
    .unwrap();
    assert_eq!(token.lifetime(), Some(Duration::from_secs(3599)));
    let token = fetch(json_reply(200, &token_json(json!({ "expires_in": 59.5 }))))
        .await
        .unwrap();
    assert_eq!(token.lifetime(), Some(Duration::from_millis(59_500)));
    // JSON labelled text/plain: the body decides, not the label.
    let token =
        fetch(ResponseTemplate::new(200).set_body_string(token_json(json!({})).to_string()))
            .await
            .unwrap();
    assert_eq!(token.expose_secret(), ACCESS_TOKEN);
    // Unknown fields are ignored; 2xx other than 200 is success.
    let token = fetch(json_reply(
        201,
        &token_json(json!({ "ext_expires_in": 1, "id_token": "x" })),
    ))
    .await
    .unwrap();
    assert_eq!(token.expose_secret(), ACCESS_TOKEN);
}

#[tokio::test]
async fn absurd_lifetimes_are_clamped_to_a_year() {
    for absurd in [json!(u64::MAX), json!(1e300), json!(1_000_000_000_000_u64)] {
        let token = fetch(json_reply(
            200,
            &token_json(json!({ "expires_in": absurd })),
        ))
        .await
        .unwrap();
        assert_eq!(token.lifetime(), Some(MAX_LIFETIME), "{absurd}");
    }
    // An integer too large for any machine type.
    let body = format!(
        r#"{{"access_token":"{ACCESS_TOKEN}","token_type":"Bearer","expires_in":123456789012345678901234567890}}"#
    );
    let token = fetch(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .await
        .unwrap();
    assert_eq!(token.lifetime(), Some(MAX_LIFETIME));
}

#[tokio::test]
async fn zero_lifetime_is_kept() {
    let token = fetch(json_reply(200, &token_json(json!({ "expires_in": 0 }))))
        .await
        .unwrap();
    assert_eq!(token.lifetime(), Some(Duration::ZERO));
}
