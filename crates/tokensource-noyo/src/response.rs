//! Reading Noyo's token response.

use std::time::SystemTime;

use serde_json::Value;
use tokensource_core::lifetime::{LifetimeUnit, lifetime_from_json};
use tokensource_core::{Error, Token};

use crate::PROVIDER;

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
