//! Reading Younium's token response, in either casing.

use std::time::SystemTime;

use serde_json::{Map, Value};
use tokensource_core::lifetime::{LifetimeUnit, lifetime_from_json};
use tokensource_core::{Error, Token};

use crate::PROVIDER;
use crate::YouniumAuthVersion;
use crate::expires::parse_http_date_ignoring_weekday;

/// A response field's two spellings: the version's own first.
#[derive(Debug, Clone, Copy)]
struct Field {
    camel: &'static str,
    snake: &'static str,
}

const ACCESS_TOKEN: Field = Field {
    camel: "accessToken",
    snake: "access_token",
};
const REFRESH_TOKEN: Field = Field {
    camel: "refreshToken",
    snake: "refresh_token",
};
const EXPIRES_IN: Field = Field {
    camel: "expiresIn",
    snake: "expires_in",
};
const TOKEN_TYPE: Field = Field {
    camel: "tokenType",
    snake: "token_type",
};
const EXPIRES: &str = "expires";

/// What the response parser needs to know besides the body.
pub(crate) struct Context<'a> {
    pub(crate) status: u16,
    pub(crate) version: YouniumAuthVersion,
    /// When the request was sent: lifetimes count from then, so the token never outlives the
    /// server's idea of it.
    pub(crate) issued_at: SystemTime,
    /// Redacts secrets from server-written text.
    pub(crate) redact: &'a dyn Fn(String) -> String,
}

impl Context<'_> {
    fn invalid(&self, detail: impl Into<String>) -> Error {
        Error::invalid_response(PROVIDER, detail).with_status(self.status)
    }

    /// The field's name as this version spells it, for messages.
    fn name(&self, field: Field) -> &'static str {
        match self.version {
            YouniumAuthVersion::V2 => field.snake,
            _ => field.camel,
        }
    }

    /// The field's value under either spelling (the version's own first), ignoring `null`, with
    /// the spelling found.
    fn get<'v>(
        &self,
        object: &'v Map<String, Value>,
        field: Field,
    ) -> Option<(&'static str, &'v Value)> {
        let (first, second) = match self.version {
            YouniumAuthVersion::V2 => (field.snake, field.camel),
            _ => (field.camel, field.snake),
        };
        [first, second]
            .into_iter()
            .find_map(|name| object.get(name).filter(|v| !v.is_null()).map(|v| (name, v)))
    }
}

/// Parses the body of a successful (2xx) reply from Younium's token endpoint into a [`Token`],
/// exactly as [`YouniumTokenSource`](crate::YouniumTokenSource) does.
///
/// `version` says which casing to prefer (either is accepted); `issued_at` is when the request
/// was sent, which the lifetime counts from. The result is either a valid token or an
/// [`InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) error (as for HTTP 200)
/// naming the field that was wrong, never quoting a value. Any bytes are accepted without
/// panicking, which the crate's property tests and the workspace's fuzz target check.
///
/// A `200` whose body is an error message carries that message as the error's provider message;
/// unlike the source, this function knows no client secret to redact from it.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tokensource_younium::{parse_token_response, YouniumAuthVersion};
///
/// let body = br#"{"accessToken": "a.b.c", "expiresIn": 86400, "refreshToken": "r"}"#;
/// let token = parse_token_response(body, YouniumAuthVersion::V1, SystemTime::now())?;
/// assert_eq!(token.expose_secret(), "a.b.c");
/// assert_eq!(token.lifetime(), Some(Duration::from_secs(86400)));
///
/// let error = parse_token_response(b"<html>", YouniumAuthVersion::V2, SystemTime::now()).unwrap_err();
/// assert_eq!(error.kind(), tokensource_core::ErrorKind::InvalidResponse);
/// # Ok::<(), tokensource_core::Error>(())
/// ```
pub fn parse_token_response(
    body: &[u8],
    version: YouniumAuthVersion,
    issued_at: SystemTime,
) -> Result<Token, Error> {
    let unchanged = |message: String| message;
    parse_token(
        body,
        &Context {
            status: 200,
            version,
            issued_at,
            redact: &unchanged,
        },
    )
}

/// Parses a successful (2xx) token response into a [`Token`].
///
/// Error details name the field that was wrong and never quote a value.
pub(crate) fn parse_token(body: &[u8], cx: &Context<'_>) -> Result<Token, Error> {
    let value: Value = tokensource_http::parse_json(PROVIDER, cx.status, body)?;
    let Some(object) = value.as_object() else {
        return Err(cx.invalid("the body is JSON but not an object"));
    };

    let access_token = match cx.get(object, ACCESS_TOKEN) {
        None => {
            let error = cx.invalid(format!("the response has no `{}`", cx.name(ACCESS_TOKEN)));
            // A 200 that carries an error message: show it, it explains the missing token.
            return Err(match tokensource_http::json_error_message(body) {
                Some(message) => error.with_provider_message((cx.redact)(message)),
                None => error,
            });
        }
        Some((name, Value::String(token))) if token.is_empty() => {
            return Err(cx.invalid(format!("`{name}` is empty")));
        }
        Some((name, Value::String(token))) => (name, token),
        Some((name, _)) => return Err(cx.invalid(format!("`{name}` is not a string"))),
    };

    let mut builder = Token::builder(access_token.1.as_str()).issued_at(cx.issued_at);

    // The relative lifetime first: it does not depend on the two clocks agreeing.
    if let Some((name, value)) = cx.get(object, EXPIRES_IN) {
        let lifetime = lifetime_from_json(value, LifetimeUnit::Seconds)
            .map_err(|e| cx.invalid(format!("`{name}`: {e}")))?;
        builder = builder.expires_in(lifetime);
    } else if let Some(value) = object.get(EXPIRES).filter(|v| !v.is_null()) {
        let Some(text) = value.as_str() else {
            return Err(cx.invalid(format!("`{EXPIRES}` is not a string")));
        };
        let expires_at = parse_http_date_ignoring_weekday(text)
            .ok_or_else(|| cx.invalid(format!("`{EXPIRES}` is not an HTTP date")))?;
        builder = builder.expires_at(expires_at);
    }

    match cx.get(object, REFRESH_TOKEN) {
        Some((_, Value::String(refresh))) if !refresh.is_empty() => {
            builder = builder.refresh_token(refresh.as_str());
        }
        Some((_, Value::String(_))) | None => {}
        Some((name, _)) => return Err(cx.invalid(format!("`{name}` is not a string"))),
    }

    // Younium sends no token type; if one appears it must be Bearer, the only kind sent as
    // `Authorization: Bearer`.
    match cx.get(object, TOKEN_TYPE) {
        Some((_, Value::String(kind))) if kind.eq_ignore_ascii_case("bearer") => {}
        None => {}
        Some((name, _)) => return Err(cx.invalid(format!("`{name}` is not Bearer"))),
    }

    builder
        .build()
        .map_err(|e| cx.invalid(format!("`{}`: {e}", access_token.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokensource_core::ErrorKind;

    fn parse(version: YouniumAuthVersion, body: &str) -> Result<Token, Error> {
        let redact = |m: String| m.replace("hunter2", "***");
        let cx = Context {
            status: 200,
            version,
            issued_at: SystemTime::now(),
            redact: &redact,
        };
        parse_token(body.as_bytes(), &cx)
    }

    fn detail(version: YouniumAuthVersion, body: &str) -> String {
        let err = parse(version, body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err}");
        assert_eq!(err.status(), Some(200));
        err.detail().to_owned()
    }

    #[test]
    fn both_casings_whatever_the_version() {
        let v1 = r#"{"expires": "Thu, 21 Sep 2025 11:12:01 GMT", "expiresIn": 86400, "accessToken": "a.b.c", "refreshToken": "r-1"}"#;
        let v2 = r#"{"access_token": "a.b.c", "refresh_token": "r-1", "expires_in": 86400, "expires": "Thu, 21 Sep 2025 11:12:01 GMT"}"#;
        for version in [YouniumAuthVersion::V1, YouniumAuthVersion::V2] {
            for body in [v1, v2] {
                let token = parse(version, body).unwrap();
                assert_eq!(token.expose_secret(), "a.b.c");
                assert_eq!(token.lifetime(), Some(Duration::from_secs(86400)));
                assert!(token.refresh_token().is_some());
                assert_eq!(token.token_type(), "Bearer");
            }
        }
    }

    #[test]
    fn expires_is_the_fallback() {
        let at = SystemTime::now() + Duration::from_secs(7200);
        let body = format!(
            r#"{{"accessToken": "t", "expires": "{}"}}"#,
            httpdate::fmt_http_date(at)
        );
        let lifetime = parse(YouniumAuthVersion::V1, &body)
            .unwrap()
            .lifetime()
            .unwrap();
        assert!(lifetime > Duration::from_secs(7190) && lifetime <= Duration::from_secs(7200));
        // In the past: a zero lifetime, not an error.
        let past = r#"{"accessToken": "t", "expires": "Thu, 21 Sep 2000 11:12:01 GMT"}"#;
        assert_eq!(
            parse(YouniumAuthVersion::V1, past).unwrap().lifetime(),
            Some(Duration::ZERO)
        );
        // Neither: unknown (the cache assumes its default).
        assert_eq!(
            parse(YouniumAuthVersion::V1, r#"{"accessToken": "t"}"#)
                .unwrap()
                .lifetime(),
            None
        );
        // A broken `expires` is ignored when `expiresIn` is there.
        let both = r#"{"accessToken": "t", "expiresIn": 60, "expires": "soon"}"#;
        assert_eq!(
            parse(YouniumAuthVersion::V1, both).unwrap().lifetime(),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn field_errors_name_the_field() {
        use YouniumAuthVersion::{V1, V2};
        assert_eq!(
            detail(V1, r#"{"expiresIn": 5}"#),
            "the response has no `accessToken`"
        );
        assert_eq!(
            detail(V2, r#"{"expires_in": 5}"#),
            "the response has no `access_token`"
        );
        assert_eq!(
            detail(V1, r#"{"accessToken": null}"#),
            "the response has no `accessToken`"
        );
        assert_eq!(
            detail(V1, r#"{"accessToken": ""}"#),
            "`accessToken` is empty"
        );
        assert_eq!(
            detail(V1, r#"{"accessToken": 42}"#),
            "`accessToken` is not a string"
        );
        assert_eq!(
            detail(V2, r#"{"accessToken": ["x"]}"#),
            "`accessToken` is not a string"
        );
        assert_eq!(
            detail(V1, r#"{"accessToken": "t", "expiresIn": -1}"#),
            "`expiresIn`: the lifetime is negative"
        );
        assert_eq!(
            detail(V1, r#"{"accessToken": "t", "expiresIn": "soon"}"#),
            "`expiresIn`: the lifetime is not a number"
        );
        assert_eq!(
            detail(V1, r#"{"accessToken": "t", "expires": 5}"#),
            "`expires` is not a string"
        );
        assert_eq!(
            detail(V1, r#"{"accessToken": "t", "expires": "tomorrow"}"#),
            "`expires` is not an HTTP date"
        );
        assert_eq!(
            detail(V1, r#"{"accessToken": "t", "refreshToken": 7}"#),
            "`refreshToken` is not a string"
        );
        assert_eq!(
            detail(V1, r#"{"accessToken": "t", "tokenType": "MAC"}"#),
            "`tokenType` is not Bearer"
        );
        assert_eq!(detail(V1, "[1, 2]"), "the body is JSON but not an object");
        let bad = detail(V1, "{\"accessToken\": \"zq\\r\\nxw\"}");
        assert!(bad.starts_with("`accessToken`: "), "{bad}");
        assert!(!bad.contains("zq") && !bad.contains("xw"), "{bad}");
    }

    #[test]
    fn an_error_body_with_200_is_explained_and_redacted() {
        let err = parse(
            YouniumAuthVersion::V1,
            r#"{"errors": ["bad secret hunter2"]}"#,
        )
        .unwrap_err();
        assert_eq!(err.detail(), "the response has no `accessToken`");
        assert_eq!(err.provider_message(), Some("bad secret ***"));
    }

    #[test]
    fn string_lifetimes_of_digits_are_accepted() {
        let token = parse(
            YouniumAuthVersion::V1,
            r#"{"accessToken": "t", "expiresIn": "3600"}"#,
        )
        .unwrap();
        assert_eq!(token.lifetime(), Some(Duration::from_secs(3600)));
    }
}

#[cfg(test)]
mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// A JSON value of any type, for the fields the parser reads.
    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
            "[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9:]{8} GMT".prop_map(Value::from),
            prop::collection::vec(any::<i32>().prop_map(Value::from), 0..3).prop_map(Value::from),
        ]
    }

    fn any_field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("accessToken".to_owned()),
            Just("access_token".to_owned()),
            Just("expiresIn".to_owned()),
            Just("expires_in".to_owned()),
            Just("expires".to_owned()),
            Just("refreshToken".to_owned()),
            Just("token_type".to_owned()),
            Just("errors".to_owned()),
        ]
    }

    fn check(body: &[u8]) {
        let redact = |m: String| m;
        for version in [YouniumAuthVersion::V1, YouniumAuthVersion::V2] {
            let cx = Context {
                status: 200,
                version,
                issued_at: SystemTime::now(),
                redact: &redact,
            };
            // Either a token or a classified error; never a panic.
            if let Err(e) = parse_token(body, &cx) {
                assert_eq!(e.kind(), tokensource_core::ErrorKind::InvalidResponse);
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
            check(&body);
        }

        #[test]
        fn arbitrary_objects(fields in prop::collection::vec((any_field(), any_value()), 0..6)) {
            let object: Map<String, Value> = fields.into_iter().collect();
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

    fn any_version() -> impl Strategy<Value = YouniumAuthVersion> {
        prop_oneof![Just(YouniumAuthVersion::V1), Just(YouniumAuthVersion::V2)]
    }

    /// The response's field names in one casing: camelCase (v1) or snake_case (v2).
    fn names(snake: bool) -> [&'static str; 3] {
        let pick = |f: Field| if snake { f.snake } else { f.camel };
        [pick(ACCESS_TOKEN), pick(EXPIRES_IN), pick(REFRESH_TOKEN)]
    }

    proptest! {
        /// A valid response, in either casing whatever the version, gives back its token, its
        /// lifetime (clamped to a year) and its refresh token.
        #[test]
        fn valid_responses_round_trip(
            version in any_version(),
            snake in any::<bool>(),
            secret in "[!-~]{1,200}",
            lifetime_secs in prop_oneof![0u64..200_000, any::<u64>()],
            refresh in proptest::option::of("[!-~]{1,40}"),
        ) {
            let [access, expires_in, refresh_name] = names(snake);
            let mut body = serde_json::json!({ access: secret, expires_in: lifetime_secs });
            if let Some(refresh) = &refresh {
                body[refresh_name] = Value::from(refresh.as_str());
            }
            let issued_at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let token = parse_token_response(body.to_string().as_bytes(), version, issued_at)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(token.expose_secret(), secret.as_str());
            prop_assert_eq!(
                token.lifetime(),
                Some(Duration::from_secs(lifetime_secs).min(MAX_LIFETIME))
            );
            prop_assert_eq!(token.issued_at(), issued_at);
            prop_assert_eq!(
                token.refresh_token().map(secrecy::ExposeSecret::expose_secret),
                refresh.as_deref()
            );
        }

        /// Without `expiresIn`, the `expires` date gives the lifetime, counted from the issue time.
        #[test]
        fn expires_dates_round_trip(
            version in any_version(),
            secret in "[!-~]{1,64}",
            issued_secs in 0u64..4_000_000_000,
            lifetime_secs in 0u64..100_000_000,
        ) {
            let issued_at = UNIX_EPOCH + Duration::from_secs(issued_secs);
            let expires = httpdate::fmt_http_date(issued_at + Duration::from_secs(lifetime_secs));
            let body = serde_json::json!({ "accessToken": secret, "expires": expires });
            let token = parse_token_response(body.to_string().as_bytes(), version, issued_at)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(token.expose_secret(), secret.as_str());
            prop_assert_eq!(
                token.lifetime(),
                Some(Duration::from_secs(lifetime_secs).min(MAX_LIFETIME))
            );
        }
    }
}
