//! Successful answers, in both documented shapes.

use std::time::{Duration, SystemTime};

use secrecy::ExposeSecret;
use tokensource_core::TokenSource;
use tokensource_younium::YouniumAuthVersion;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use crate::support::{fetch_with, json, source};

const V1: &str = r#"{
    "expires": "Thu, 21 Sep 2025 11:12:01 GMT",
    "expiresIn": 86400,
    "accessToken": "eyJhbGciOiJSUzI1NiIsInR5cC.eyJzdWIiOiIxIn0.c2ln",
    "refreshToken": "4baf4774-5ef9-4983-a8d8-f4fdae7f7000"
}"#;

const V2: &str = r#"{
    "access_token": "eyJhbGciOiJSUzI1NiIsInR5cC.eyJzdWIiOiIxIn0.c2ln",
    "refresh_token": "4baf4774-5ef9-4983-a8d8-f4fdae7f7000",
    "expires_in": 86400,
    "expires": "Thu, 21 Sep 2025 11:12:01 GMT"
}"#;

#[tokio::test]
async fn documented_responses_parse_under_either_version() {
    for version in [YouniumAuthVersion::V1, YouniumAuthVersion::V2] {
        for body in [V1, V2] {
            let server = MockServer::start().await;
            Mock::given(any())
                .respond_with(json(body))
                .mount(&server)
                .await;
            let before = SystemTime::now();
            let token = source(&server, version).token().await.expect("a token");
            assert_eq!(
                token.expose_secret(),
                "eyJhbGciOiJSUzI1NiIsInR5cC.eyJzdWIiOiIxIn0.c2ln"
            );
            assert_eq!(token.token_type(), "Bearer");
            // expiresIn wins over the (past, wrong-weekday) `expires`.
            assert_eq!(token.lifetime(), Some(Duration::from_secs(86400)));
            assert!(token.issued_at() >= before - Duration::from_secs(1));
            assert_eq!(
                token.refresh_token().unwrap().expose_secret(),
                "4baf4774-5ef9-4983-a8d8-f4fdae7f7000"
            );
            assert_eq!(
                token.authorization_header().to_str().unwrap(),
                "Bearer eyJhbGciOiJSUzI1NiIsInR5cC.eyJzdWIiOiIxIn0.c2ln"
            );
        }
    }
}

#[tokio::test]
async fn expires_alone_gives_the_lifetime_even_with_a_wrong_weekday() {
    // Pick a date a day ahead and write it with a deliberately wrong weekday.
    let at = SystemTime::now() + Duration::from_secs(24 * 3600);
    let correct = httpdate::fmt_http_date(at);
    let weekday = &correct[..3];
    let wrong = if weekday == "Mon" { "Tue" } else { "Mon" };
    let body = format!(
        r#"{{"accessToken": "tok", "expires": "{wrong}{}"}}"#,
        &correct[3..]
    );
    let token = fetch_with(json(&body)).await.expect("a token");
    let lifetime = token.lifetime().unwrap();
    assert!(
        lifetime > Duration::from_secs(24 * 3600 - 60),
        "{lifetime:?}"
    );
    assert!(lifetime <= Duration::from_secs(24 * 3600), "{lifetime:?}");
}

#[tokio::test]
async fn a_jwt_exp_sooner_than_expires_in_bounds_the_lifetime() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let exp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let jwt = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(&format!(r#"{{"exp":{exp}}}"#))
    );
    let body = format!(r#"{{"accessToken": "{jwt}", "expiresIn": 86400}}"#);
    let token = fetch_with(json(&body)).await.expect("a token");
    let lifetime = token.lifetime().unwrap();
    assert!(lifetime <= Duration::from_secs(600) && lifetime > Duration::from_secs(590));
}

#[tokio::test]
async fn unknown_fields_and_a_bearer_token_type_are_fine() {
    let token = fetch_with(json(
        r#"{"accessToken": "tok", "expiresIn": 10, "tokenType": "bearer", "scope": "all", "extra": {"x": [1]}}"#,
    ))
    .await
    .expect("a token");
    assert_eq!(token.lifetime(), Some(Duration::from_secs(10)));
}
