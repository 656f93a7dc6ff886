//! Hostile and broken bodies: each is a classified error, never a panic, never an echo.

use tokensource_core::ErrorKind;
use wiremock::ResponseTemplate;

use crate::support::{failure, fetch_with, json};

async fn invalid(template: ResponseTemplate) -> String {
    let error = failure(template, ErrorKind::InvalidResponse).await;
    error.detail().to_owned()
}

#[tokio::test]
async fn an_html_page_with_200_is_invalid() {
    let detail = invalid(
        ResponseTemplate::new(200).set_body_raw("<html><body>Login</body></html>", "text/html"),
    )
    .await;
    assert_eq!(detail, "the body is an HTML page, not JSON");
}

#[tokio::test]
async fn an_html_502_page_is_unavailable_not_echoed() {
    let error = failure(
        ResponseTemplate::new(502).set_body_raw(
            "<html><body><h1>502 Bad Gateway</h1> s3cr3t</body></html>",
            "text/html",
        ),
        ErrorKind::Unavailable,
    )
    .await;
    assert!(!error.to_string().contains("Bad Gateway"), "{error}");
}

#[tokio::test]
async fn broken_json_bodies_are_invalid() {
    assert_eq!(invalid(json("")).await, "the body is empty");
    assert_eq!(
        invalid(json("[1, 2]")).await,
        "the body is JSON but not an object"
    );
    assert_eq!(
        invalid(json("null")).await,
        "the body is JSON but not an object"
    );
    assert!(
        invalid(json(r#"{"accessToken": "eyJhbGciOi"#))
            .await
            .starts_with("the JSON body is truncated")
    );
    assert!(
        invalid(json("{accessToken: tok}"))
            .await
            .starts_with("the body is not valid JSON")
    );
}

#[tokio::test]
async fn a_ten_megabyte_body_is_refused_at_the_cap() {
    let mut body = br#"{"accessToken": ""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    body.extend(br#""}"#);
    let detail = invalid(ResponseTemplate::new(200).set_body_bytes(body)).await;
    assert!(detail.contains("limit"), "{detail}");
}

#[tokio::test]
async fn illegal_tokens_are_invalid_and_not_quoted() {
    let cases = [
        "{\"accessToken\": \"abc\\r\\nX-Injected: evil\"}",
        "{\"accessToken\": \"abc\\u0000def\"}",
        "{\"accessToken\": \"abc def\"}",
        "{\"accessToken\": \"t\u{f6}ken\"}",
        "{\"accessToken\": \"abc\\tdef\"}",
    ];
    for body in cases {
        let detail = invalid(json(body)).await;
        assert!(detail.starts_with("`accessToken`: "), "{detail}");
        assert!(
            !detail.contains("abc") && !detail.contains("Injected"),
            "{detail}"
        );
    }
    let long = format!(r#"{{"accessToken": "{}"}}"#, "a".repeat(20_000));
    assert!(invalid(json(&long)).await.contains("over the limit"));
}

#[tokio::test]
async fn missing_empty_or_mistyped_tokens_are_invalid() {
    assert_eq!(
        invalid(json(r#"{"expiresIn": 86400}"#)).await,
        "the response has no `accessToken`"
    );
    assert_eq!(
        invalid(json(r#"{"accessToken": ""}"#)).await,
        "`accessToken` is empty"
    );
    assert_eq!(
        invalid(json(r#"{"accessToken": {"value": "x"}}"#)).await,
        "`accessToken` is not a string"
    );
    assert_eq!(
        invalid(json(r#"{"accessToken": true}"#)).await,
        "`accessToken` is not a string"
    );
}

#[tokio::test]
async fn bad_lifetimes_are_invalid() {
    assert_eq!(
        invalid(json(r#"{"accessToken": "tok", "expiresIn": -86400}"#)).await,
        "`expiresIn`: the lifetime is negative"
    );
    assert_eq!(
        invalid(json(r#"{"accessToken": "tok", "expiresIn": "a day"}"#)).await,
        "`expiresIn`: the lifetime is not a number"
    );
    assert_eq!(
        invalid(json(r#"{"accessToken": "tok", "expiresIn": [86400]}"#)).await,
        "`expiresIn`: the lifetime is not a number"
    );
    assert_eq!(
        invalid(json(r#"{"accessToken": "tok", "expires": "next week"}"#)).await,
        "`expires` is not an HTTP date"
    );
}

#[tokio::test]
async fn absurd_lifetimes_are_clamped_not_overflowed() {
    use tokensource_core::lifetime::MAX_LIFETIME;
    for value in ["1e300", "18446744073709551615", "1.7976931348623157e308"] {
        let body = format!(r#"{{"accessToken": "tok", "expiresIn": {value}}}"#);
        let token = fetch_with(json(&body)).await.expect("a clamped token");
        assert_eq!(token.lifetime(), Some(MAX_LIFETIME), "{value}");
    }
    // A string of digits is accepted, as some servers send numbers as strings.
    let token = fetch_with(json(r#"{"accessToken": "tok", "expiresIn": "3600"}"#))
        .await
        .unwrap();
    assert_eq!(token.lifetime(), Some(std::time::Duration::from_secs(3600)));
}

#[tokio::test]
async fn a_wrong_token_type_is_invalid() {
    assert_eq!(
        invalid(json(r#"{"accessToken": "tok", "token_type": "MAC"}"#)).await,
        "`token_type` is not Bearer"
    );
}
