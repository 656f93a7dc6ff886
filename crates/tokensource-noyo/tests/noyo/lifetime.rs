//! `expires_in` is milliseconds, and the JWT's `exp` bounds it whichever is sooner.

use std::time::Duration;

use crate::support::{fetch_with, json, jwt_expiring_in};

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

#[tokio::test]
async fn expires_in_is_read_as_milliseconds() {
    let token = fetch_with(json(
        r#"{"access_token": "opaque", "expires_in": 600000, "token_type": "Bearer"}"#,
    ))
    .await
    .unwrap();
    assert_eq!(token.lifetime(), Some(Duration::from_secs(600)));
    let short = fetch_with(json(r#"{"access_token": "opaque", "expires_in": 1500}"#))
        .await
        .unwrap();
    assert_eq!(short.lifetime(), Some(Duration::from_millis(1500)));
}

#[tokio::test]
async fn a_jwt_exp_sooner_than_expires_in_wins() {
    // Noyo's documented example: expires_in 864000 (14.4 min in ms), JWT valid 10 minutes.
    let jwt = jwt_expiring_in(Duration::from_secs(600));
    let body =
        format!(r#"{{"access_token": "{jwt}", "expires_in": 864000, "token_type": "Bearer"}}"#);
    let token = fetch_with(json(&body)).await.unwrap();
    let lifetime = token.lifetime().unwrap();
    assert!((598..=600).contains(&secs(lifetime)), "{lifetime:?}");
    assert!(token.jwt_expires_at().is_some());
}

#[tokio::test]
async fn expires_in_sooner_than_the_jwt_exp_wins() {
    let jwt = jwt_expiring_in(Duration::from_secs(3600));
    let body = format!(r#"{{"access_token": "{jwt}", "expires_in": 600000}}"#);
    let token = fetch_with(json(&body)).await.unwrap();
    assert_eq!(token.lifetime(), Some(Duration::from_secs(600)));
}

#[tokio::test]
async fn without_expires_in_the_jwt_decides() {
    let jwt = jwt_expiring_in(Duration::from_secs(300));
    let token = fetch_with(json(&format!(r#"{{"access_token": "{jwt}"}}"#)))
        .await
        .unwrap();
    assert!((298..=300).contains(&secs(token.lifetime().unwrap())));
    let opaque = fetch_with(json(r#"{"access_token": "opaque"}"#))
        .await
        .unwrap();
    assert_eq!(
        opaque.lifetime(),
        None,
        "unknown: the cache assumes its default"
    );
}

#[tokio::test]
async fn token_type_bearer_in_any_case() {
    for kind in ["Bearer", "bearer", "BEARER"] {
        let body = format!(r#"{{"access_token": "t", "token_type": "{kind}"}}"#);
        assert_eq!(
            fetch_with(json(&body)).await.unwrap().token_type(),
            "Bearer"
        );
    }
}
