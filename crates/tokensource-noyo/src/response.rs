//! Reading Noyo's token response.

use std::time::SystemTime;

use serde_json::Value;
use tokensource_core::lifetime::{LifetimeUnit, lifetime_from_json};
use tokensource_core::{Error, Token};

use crate::PROVIDER;

/// Parses the body of a successful (2xx) reply from Noyo's token endpoint into a [`Token`],
/// exactly as [`NoyoTokenSource`](crate::NoyoTokenSource) does: `access_token`, `expires_in` in
/// **milliseconds**, and `token_type` (Bearer, any case, or absent).
///
/// `issued_at` is when the request was sent, which the lifetime counts from. The result is either
/// a valid token or an [`InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) error
/// (as for HTTP 200) naming the field that was wrong, never quoting a value. Any bytes are
/// accepted without panicking, which the crate's property tests and the workspace's fuzz target
/// check. Unlike the source, this function knows no client secret to redact from a server's
/// error message.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tokensource_noyo::parse_token_response;
///
/// let body = br#"{"access_token": "t0k3n", "expires_in": 600000, "token_type": "Bearer"}"#;
/// let token = parse_token_response(body, SystemTime::now())?;
/// assert_eq!(token.expose_secret(), "t0k3n");
/// assert_eq!(token.lifetime(), Some(Duration::from_secs(600)));
///
/// let error = parse_token_response(br#"{"access_token": "a b"}"#, SystemTime::now()).unwrap_err();
/// assert_eq!(error.kind(), tokensource_core::ErrorKind::InvalidResponse);
/// # Ok::<(), tokensource_core::Error>(())
/// ```
pub fn parse_token_response(body: &[u8], issued_at: SystemTime) -> Result<Token, Error> {
    parse_token(body, 200, issued_at, |message| message)
}

/// Parses a successful (2xx) token response, `{"access_token", "expires_in", "token_type"}`, with
/// `expires_in` in milliseconds. `issued_at` is when the request was sent; `redact` cleans
/// server-written text of secrets. Error details name the field and never quote a value.
pub(crate) fn parse_token(
    body: &[u8],
    status: u16,
    issued_at: SystemTime,
    redact: impl Fn(String) -> String,
) -> Result<Token, Error> {
    let invalid = |detail: String| Error::invalid_response(PROVIDER, detail).with_status(status);
    let value: Value = tokensource_http::parse_json(PROVIDER, status, body)?;
    let Some(object) = value.as_object() else {
        return Err(invalid("the body is JSON but not an object".into()));
    };
    let field = |name: &str| object.get(name).filter(|v| !v.is_null());

    let access_token = match field("access_token") {
        None => {
            let error = invalid("the response has no `access_token`".into());
            // A 200 that carries an error message: show it, it explains the missing token.
            return Err(match tokensource_http::json_error_message(body) {
                Some(message) => error.with_provider_message(redact(message)),
                None => error,
            });
        }
        Some(Value::String(token)) if token.is_empty() => {
            return Err(invalid("`access_token` is empty".into()));
        }
        Some(Value::String(token)) => token.as_str(),
        Some(_) => return Err(invalid("`access_token` is not a string".into())),
    };

    match field("token_type") {
        None => {}
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err(invalid("`token_type` is not Bearer".into())),
    }

    let mut builder = Token::builder(access_token).issued_at(issued_at);
    if let Some(value) = field("expires_in") {
        // Milliseconds, as Noyo documents; the JWT's `exp` bounds it in the core.
        let lifetime = lifetime_from_json(value, LifetimeUnit::Milliseconds)
            .map_err(|e| invalid(format!("`expires_in`: {e}")))?;
        builder = builder.expires_in(lifetime);
    }
    builder
        .build()
        .map_err(|e| invalid(format!("`access_token`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokensource_core::ErrorKind;

    fn parse(body: &str) -> Result<Token, Error> {
        parse_token(body.as_bytes(), 200, SystemTime::now(), |m| {
            m.replace("hunter2", "***")
        })
    }

    fn detail(body: &str) -> String {
        let err = parse(body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        assert_eq!(err.status(), Some(200));
        err.detail().to_owned()
    }

    #[test]
    fn milliseconds() {
        let token = parse(r#"{"access_token": "t", "expires_in": 600000, "token_type": "Bearer"}"#)
            .unwrap();
        assert_eq!(token.lifetime(), Some(Duration::from_secs(600)));
        assert_eq!(token.token_type(), "Bearer");
        let no_lifetime = parse(r#"{"access_token": "t", "expires_in": null}"#).unwrap();
        assert_eq!(no_lifetime.lifetime(), None);
        let lower = parse(r#"{"access_token": "t", "token_type": "bearer"}"#).unwrap();
        assert_eq!(lower.token_type(), "Bearer");
    }

    #[test]
    fn field_errors() {
        assert_eq!(
            detail(r#"{"expires_in": 1}"#),
            "the response has no `access_token`"
        );
        assert_eq!(detail(r#"{"access_token": ""}"#), "`access_token` is empty");
        assert_eq!(
            detail(r#"{"access_token": 1}"#),
            "`access_token` is not a string"
        );
        assert_eq!(
            detail(r#"{"access_token": "t", "token_type": "MAC"}"#),
            "`token_type` is not Bearer"
        );
        assert_eq!(
            detail(r#"{"access_token": "t", "token_type": 1}"#),
            "`token_type` is not Bearer"
        );
        assert_eq!(
            detail(r#"{"access_token": "t", "expires_in": -5}"#),
            "`expires_in`: the lifetime is negative"
        );
        assert_eq!(
            detail(r#"{"access_token": "t", "expires_in": "ten minutes"}"#),
            "`expires_in`: the lifetime is not a number"
        );
        assert_eq!(detail("[]"), "the body is JSON but not an object");
        assert!(detail("{\"access_token\": \"zq\\nxw\"}").starts_with("`access_token`: "));
    }

    #[test]
    fn an_error_body_with_200_is_explained_and_redacted() {
        let err = parse(r#"{"message": "bad hunter2"}"#).unwrap_err();
        assert_eq!(err.provider_message(), Some("bad ***"));
    }
}

#[cfg(test)]
mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
            prop::collection::vec(any::<i32>().prop_map(Value::from), 0..3).prop_map(Value::from),
        ]
    }

    fn check(body: &[u8]) {
        // Either a token or a classified error; never a panic.
        if let Err(e) = parse_token(body, 200, SystemTime::now(), |m| m) {
            assert_eq!(e.kind(), tokensource_core::ErrorKind::InvalidResponse);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
            check(&body);
        }

        #[test]
        fn arbitrary_objects(
            fields in prop::collection::vec(
                (prop_oneof![Just("access_token"), Just("expires_in"), Just("token_type"), Just("message")], any_value()),
                0..5,
            )
        ) {
            let object: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            check(Value::Object(object).to_string().as_bytes());
        }
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};
    use tokensource_core::lifetime::MAX_LIFETIME;

    proptest! {
        /// A valid response gives back its token and its lifetime in milliseconds (clamped to a
        /// year), whatever the case of `token_type` and whether it is there.
        #[test]
        fn valid_responses_round_trip(
            secret in "[!-~]{1,200}",
            lifetime_ms in prop_oneof![0u64..10_000_000, any::<u64>()],
            token_type in proptest::option::of(prop_oneof![Just("Bearer"), Just("bearer"), Just("BEARER")]),
        ) {
            let mut body = serde_json::json!({ "access_token": secret, "expires_in": lifetime_ms });
            if let Some(token_type) = token_type {
                body["token_type"] = Value::from(token_type);
            }
            let issued_at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let token = parse_token_response(body.to_string().as_bytes(), issued_at)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(token.expose_secret(), secret.as_str());
            prop_assert_eq!(token.token_type(), "Bearer");
            prop_assert_eq!(token.issued_at(), issued_at);
            // Milliseconds become seconds through an f64, exact to well under a microsecond.
            let expected = Duration::from_millis(lifetime_ms).min(MAX_LIFETIME);
            let lifetime = token.lifetime().unwrap_or_default();
            let error = lifetime.abs_diff(expected);
            prop_assert!(error < Duration::from_micros(1), "{lifetime:?} != {expected:?}");
        }
    }
}
