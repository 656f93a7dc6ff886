//! 2xx replies that must not become tokens, and whose errors must not quote them.

use serde_json::json;
use tokensource_core::{ErrorKind, MAX_TOKEN_LEN};
use wiremock::ResponseTemplate;

use crate::fixtures::{ACCESS_TOKEN, fetch_error, json_reply, token_json};

async fn invalid(template: ResponseTemplate) -> String {
    let error = fetch_error(template).await;
    assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{error}");
    assert!(!error.is_retryable());
    error.detail().to_owned()
}

fn raw(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "application/json")
}

#[tokio::test]
async fn html_page_with_200() {
    let detail = invalid(
        ResponseTemplate::new(200).set_body_raw("<!DOCTYPE html><html>Sign in</html>", "text/html"),
    )
    .await;
    assert_eq!(detail, "the body is an HTML page, not JSON");
}

#[tokio::test]
async fn empty_and_blank_bodies() {
    assert_eq!(invalid(raw("")).await, "the body is empty");
    assert_eq!(invalid(raw(" \r\n ")).await, "the body is empty");
}

#[tokio::test]
async fn json_array_and_other_non_objects() {
    for body in [
        json!([ACCESS_TOKEN]),
        json!(ACCESS_TOKEN),
        json!(42),
        json!(null),
    ] {
        let detail = invalid(json_reply(200, &body)).await;
        assert_eq!(detail, "the body is not a JSON object", "{body}");
    }
}

#[tokio::test]
async fn truncated_json() {
    let detail = invalid(raw(format!(
        r#"{{"access_token":"{ACCESS_TOKEN}","token_ty"#
    )))
    .await;
    assert!(detail.starts_with("the JSON body is truncated"), "{detail}");
}

#[tokio::test]
async fn not_json_at_all() {
    let detail = invalid(raw(format!(
        "access_token={ACCESS_TOKEN}&token_type=bearer"
    )))
    .await;
    assert!(detail.starts_with("the body is not valid JSON"), "{detail}");
}

#[tokio::test]
async fn cr_lf_and_other_illegal_token_characters() {
    for token in [
        "abc\r\nX-Injected: 1",
        "TOKEN-4b1d\n",
        "has space",
        "nul\0",
        "tök",
        "",
    ] {
        let detail = invalid(json_reply(
            200,
            &json!({ "access_token": token, "token_type": "Bearer" }),
        ))
        .await;
        assert!(
            detail.starts_with("the access token"),
            "{token:?}: {detail}"
        );
        assert!(!detail.contains("Injected"), "{detail}");
    }
}

#[tokio::test]
async fn oversized_token() {
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    let detail = invalid(json_reply(
        200,
        &json!({ "access_token": long, "token_type": "Bearer" }),
    ))
    .await;
    assert!(detail.contains("over the limit"), "{detail}");
}

#[tokio::test]
async fn negative_lifetimes() {
    for negative in [json!(-1), json!(-3600.5), json!(i64::MIN)] {
        let detail = invalid(json_reply(
            200,
            &token_json(json!({ "expires_in": negative })),
        ))
        .await;
        assert!(
            detail.starts_with("`expires_in` is invalid: the lifetime is negative"),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn non_numeric_lifetimes() {
    for bad in [
        json!("TOKEN-4b1d"),
        json!("-5"),
        json!("1h"),
        json!(true),
        json!([3600]),
        json!({}),
    ] {
        let detail = invalid(json_reply(200, &token_json(json!({ "expires_in": bad })))).await;
        assert!(
            detail.starts_with("`expires_in` is invalid: the lifetime is not a number"),
            "{bad}: {detail}"
        );
    }
}

#[tokio::test]
async fn token_type_mac_and_missing_token_type() {
    let detail = invalid(json_reply(
        200,
        &json!({ "access_token": ACCESS_TOKEN, "token_type": "mac" }),
    ))
    .await;
    assert!(
        detail.contains("\"mac\"") && detail.contains("Bearer"),
        "{detail}"
    );
    let detail = invalid(json_reply(
        200,
        &json!({ "access_token": ACCESS_TOKEN, "token_type": "DPoP" }),
    ))
    .await;
    assert!(detail.contains("\"dpop\""), "{detail}");
    let detail = invalid(json_reply(200, &json!({ "access_token": ACCESS_TOKEN }))).await;
    assert!(detail.starts_with("missing field `token_type`"), "{detail}");
    let detail = invalid(json_reply(
        200,
        &json!({ "access_token": ACCESS_TOKEN, "token_type": null }),
    ))
    .await;
    assert!(
        detail.starts_with("`token_type` is not a string"),
        "{detail}"
    );
}

#[tokio::test]
async fn fields_of_the_wrong_type_never_quote_the_body() {
    let cases = [
        (
            json!({ "access_token": 4_815_162_342_u64, "token_type": "Bearer" }),
            "`access_token` is not a string",
        ),
        (
            json!({ "token_type": "Bearer" }),
            "missing field `access_token`",
        ),
        (
            token_json(json!({ "scope": ["read"] })),
            "`scope` is not a string",
        ),
        (
            token_json(json!({ "refresh_token": { "value": ACCESS_TOKEN } })),
            "`refresh_token` is not a string",
        ),
    ];
    for (body, expected) in cases {
        let detail = invalid(json_reply(200, &body)).await;
        assert!(detail.starts_with(expected), "{body}: {detail}");
        assert!(!detail.contains("4815162342"), "{detail}");
    }
}

#[tokio::test]
async fn duplicate_fields() {
    let detail = invalid(raw(format!(
        r#"{{"access_token":"{ACCESS_TOKEN}","access_token":"{ACCESS_TOKEN}","token_type":"Bearer"}}"#
    )))
    .await;
    assert!(
        detail.starts_with("duplicate field `access_token`"),
        "{detail}"
    );
}
