//! Hostile and broken bodies: each is a classified error, never a panic, never an echo.

use tokensource_core::ErrorKind;
use tokensource_core::lifetime::MAX_LIFETIME;
use wiremock::ResponseTemplate;

use crate::support::{failure, fetch_with, json};

async fn invalid(template: ResponseTemplate) -> String {
    failure(template, ErrorKind::InvalidResponse)
        .await
        .detail()
        .to_owned()
}

#[tokio::test]
async fn html_empty_array_truncated() {
    assert_eq!(
        invalid(
            ResponseTemplate::new(200).set_body_raw("<!DOCTYPE html><html></html>", "text/html")
        )
        .await,
        "the body is an HTML page, not JSON"
    );
    let gateway = failure(
        ResponseTemplate::new(502).set_body_raw("<html>502 Bad Gateway</html>", "text/html"),
        ErrorKind::Unavailable,
    )
    .await;
    assert!(!gateway.to_string().contains("Gateway"));
    assert_eq!(invalid(json("")).await, "the body is empty");
    assert_eq!(
        invalid(json(r#"[{"access_token": "t"}]"#)).await,
        "the body is JSON but not an object"
    );
    assert!(
        invalid(json(r#"{"access_token": "ey"#))
            .await
            .starts_with("the JSON body is truncated")
    );
}

#[tokio::test]
async fn ten_megabytes_are_refused_at_the_cap() {
    let mut body = br#"{"access_token": ""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    body.extend(br#""}"#);
    assert!(
        invalid(ResponseTemplate::new(200).set_body_bytes(body))
            .await
            .contains("limit")
    );
}

#[tokio::test]
async fn illegal_or_missing_tokens() {
    for body in [
        "{\"access_token\": \"abc\\r\\nSet-Cookie: x\"}",
        "{\"access_token\": \"abc\\u0000\"}",
        "{\"access_token\": \"abc def\"}",
        "{\"access_token\": \"ab\u{e9}c\"}",
    ] {
        let detail = invalid(json(body)).await;
        assert!(detail.starts_with("`access_token`: "), "{detail}");
        assert!(!detail.contains("abc"), "{detail}");
    }
    assert_eq!(
        invalid(json(r#"{"expires_in": 600000}"#)).await,
        "the response has no `access_token`"
    );
    assert_eq!(
        invalid(json(r#"{"access_token": ""}"#)).await,
        "`access_token` is empty"
    );
    assert_eq!(
        invalid(json(r#"{"access_token": 12}"#)).await,
        "`access_token` is not a string"
    );
    assert_eq!(
        invalid(json(r#"{"access_token": "t", "token_type": "MAC"}"#)).await,
        "`token_type` is not Bearer"
    );
}

#[tokio::test]
async fn bad_and_absurd_lifetimes() {
    assert_eq!(
        invalid(json(r#"{"access_token": "t", "expires_in": -600000}"#)).await,
        "`expires_in`: the lifetime is negative"
    );
    assert_eq!(
        invalid(json(r#"{"access_token": "t", "expires_in": "10 minutes"}"#)).await,
        "`expires_in`: the lifetime is not a number"
    );
    assert_eq!(
        invalid(json(r#"{"access_token": "t", "expires_in": {"ms": 1}}"#)).await,
        "`expires_in`: the lifetime is not a number"
    );
    let huge = fetch_with(json(r#"{"access_token": "t", "expires_in": 1e300}"#))
        .await
        .unwrap();
    assert_eq!(huge.lifetime(), Some(MAX_LIFETIME));
    let digits = fetch_with(json(r#"{"access_token": "t", "expires_in": "600000"}"#))
        .await
        .unwrap();
    assert_eq!(digits.lifetime(), Some(std::time::Duration::from_secs(600)));
}
