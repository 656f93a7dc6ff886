//! The RFC 6749 section 5.1 token response as oauth2 parses it, and oauth2's errors as ours.

use std::time::{Duration, SystemTime};

use oauth2::basic::{BasicErrorResponse, BasicTokenType};
use oauth2::{AccessToken, RefreshToken, RequestTokenError, Scope, TokenResponse, helpers};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokensource_core::lifetime::{LifetimeUnit, lifetime_from_json};
use tokensource_core::{Error, Token};
use tokensource_http::{json_error_message, parse_json, redact};

use crate::PROVIDER;

/// The fields of RFC 6749 section 5.1, deserialized by oauth2 (through its `TokenResponse`
/// trait) with oauth2's own helpers for `token_type` (case-insensitive) and `scope`
/// (space-delimited).
///
/// It differs from oauth2's `BasicTokenResponse` in one field: `expires_in` is read with
/// [`lifetime_from_json`], like every tokensource provider, rather than as a `u64`. So `3599.5`
/// and `"3599"` (Azure AD's v1 endpoint sends a string; oauth2-rs issue #191) are accepted,
/// values beyond a year are clamped to a year, and a negative or non-numeric lifetime is an
/// invalid response whose description we wrote, never the value.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct TokenReply {
    access_token: AccessToken,
    #[serde(deserialize_with = "helpers::deserialize_untagged_enum_case_insensitive")]
    token_type: BasicTokenType,
    #[serde(
        default,
        deserialize_with = "deserialize_lifetime",
        serialize_with = "serialize_lifetime",
        skip_serializing_if = "Option::is_none"
    )]
    expires_in: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<RefreshToken>,
    #[serde(
        rename = "scope",
        default,
        deserialize_with = "helpers::deserialize_space_delimited_vec",
        serialize_with = "helpers::serialize_space_delimited_vec",
        skip_serializing_if = "Option::is_none"
    )]
    scopes: Option<Vec<Scope>>,
}

impl TokenResponse for TokenReply {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

/// Marks our own lifetime messages, so that only they are repeated from a serde error.
const LIFETIME_PREFIX: &str = "tokensource lifetime: ";

fn deserialize_lifetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => lifetime_from_json(&value, LifetimeUnit::Seconds)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format_args!("{LIFETIME_PREFIX}{e}"))),
    }
}

fn serialize_lifetime<S: Serializer>(lifetime: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match lifetime {
        Some(lifetime) => s.serialize_u64(lifetime.as_secs()),
        None => s.serialize_none(),
    }
}

impl TokenReply {
    /// Turns the reply (HTTP `status`) into a validated [`Token`] obtained at `issued_at`.
    pub(crate) fn into_token(self, status: u16, issued_at: SystemTime) -> Result<Token, Error> {
        let invalid =
            |detail: String| Error::invalid_response(PROVIDER, detail).with_status(status);
        if self.token_type != BasicTokenType::Bearer {
            return Err(invalid(describe_token_type(&self.token_type)));
        }
        let mut builder = Token::builder(self.access_token.into_secret())
            .token_type("Bearer")
            .issued_at(issued_at);
        if let Some(lifetime) = self.expires_in {
            builder = builder.expires_in(lifetime);
        }
        if let Some(refresh_token) = self.refresh_token {
            builder = builder.refresh_token(refresh_token.into_secret());
        }
        if let Some(scopes) = self.scopes {
            // "a  b" splits into an empty scope between the spaces; it names nothing.
            builder = builder.scopes(
                scopes
                    .into_iter()
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty()),
            );
        }
        builder.build().map_err(|e| invalid(e.to_string()))
    }
}

/// The token type is named when it is a short plain word (`mac`, `DPoP`), never otherwise.
fn describe_token_type(token_type: &BasicTokenType) -> String {
    let name = token_type.as_ref();
    let plain = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        format!("the token type is {name:?}; only Bearer tokens (RFC 6750) are supported")
    } else {
        "the token type is not Bearer; only Bearer tokens (RFC 6750) are supported".to_owned()
    }
}

/// Parses the body of a successful (2xx) reply from an RFC 6749 token endpoint into a [`Token`],
/// exactly as [`ClientCredentialsTokenSource`](crate::ClientCredentialsTokenSource) does: the
/// same checks and errors as the source (which hands the body to oauth2, whose parse this
/// repeats: `serde_path_to_error` over `serde_json`, into the same response type).
///
/// `issued_at` is when the request was sent, which the lifetime counts from. The result is either
/// a valid Bearer token or an [`InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse)
/// error (as for HTTP 200) saying what was wrong, never quoting a value. Any bytes are accepted
/// without panicking, which the workspace's property tests and fuzz target check.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tokensource_client_credentials::parse_token_response;
///
/// let body = br#"{"access_token": "t0k3n", "token_type": "bearer", "expires_in": 3600, "scope": "read"}"#;
/// let token = parse_token_response(body, SystemTime::now())?;
/// assert_eq!(token.expose_secret(), "t0k3n");
/// assert_eq!(token.lifetime(), Some(Duration::from_secs(3600)));
/// assert_eq!(token.scopes(), ["read"]);
///
/// let error = parse_token_response(br#"{"access_token": "t0k3n"}"#, SystemTime::now()).unwrap_err();
/// assert_eq!(error.kind(), tokensource_core::ErrorKind::InvalidResponse);
/// # Ok::<(), tokensource_core::Error>(())
/// ```
pub fn parse_token_response(body: &[u8], issued_at: SystemTime) -> Result<Token, Error> {
    const STATUS: u16 = 200;
    // What the transport answers before oauth2 sees the body: an empty body, or one that is not
    // exactly one JSON text, is refused.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid_response(PROVIDER, "the body is empty").with_status(STATUS));
    }
    parse_json::<serde::de::IgnoredAny>(PROVIDER, STATUS, body)?;
    // What oauth2 does with a 200 (its `endpoint_response`), then what the source does with
    // oauth2's answer.
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, TokenReply>(&mut deserializer) {
        Ok(reply) => reply.into_token(STATUS, issued_at),
        Err(error) => {
            let error: RequestTokenError<Error, BasicErrorResponse> =
                RequestTokenError::Parse(error, body.to_vec());
            Err(map_error(error, Some(STATUS), &[]))
        }
    }
}

/// oauth2's error for the token request, as the one [`Error`] a caller branches on.
///
/// `status` is the status of the reply oauth2 judged (see the transport); `secrets` are blanked
/// out of anything the server wrote. oauth2's `Parse` error is never shown or kept as a source:
/// its message can quote a value of the body, and it carries the whole body.
pub(crate) fn map_error(
    error: RequestTokenError<Error, BasicErrorResponse>,
    status: Option<u16>,
    secrets: &[&str],
) -> Error {
    let rejected = status.filter(|s| matches!(s, 400 | 401 | 403));
    match (error, rejected) {
        (RequestTokenError::Request(error), _) => error,
        // An RFC 6749 section 5.2 error: `error`, then `: error_description`, then ` (see error_uri)`.
        (RequestTokenError::ServerResponse(response), status) => Error::credentials_rejected(
            PROVIDER,
            status.unwrap_or(400),
            Some(redact(response.to_string(), secrets)),
        ),
        // Not RFC 6749 JSON (an HTML page, `{"message": ...}`, an empty body): still a refusal.
        (RequestTokenError::Parse(_, body), Some(status)) => Error::credentials_rejected(
            PROVIDER,
            status,
            json_error_message(&body).map(|m| redact(m, secrets)),
        ),
        (RequestTokenError::Other(_), Some(status)) => {
            Error::credentials_rejected(PROVIDER, status, None)
        }
        (RequestTokenError::Parse(error, body), None) => {
            Error::invalid_response(PROVIDER, describe_parse_error(&error, &body))
                .with_status(status.unwrap_or(200))
        }
        (RequestTokenError::Other(message), None) => match status {
            // No reply was judged: oauth2 could not build the request.
            None => Error::configuration("token_url", "the token request could not be built")
                .with_source(message),
            Some(code) => Error::invalid_response(PROVIDER, "the token response was refused")
                .with_status(code),
        },
    }
}

/// What was wrong with a token response body, never quoting a value from it.
fn describe_parse_error(
    error: &serde_path_to_error::Error<serde_json::Error>,
    body: &[u8],
) -> String {
    // Not JSON at all (empty, an HTML page, truncated): tokensource-http words it.
    if let Err(not_json) = parse_json::<serde::de::IgnoredAny>(PROVIDER, 200, body) {
        return not_json.detail().to_owned();
    }
    let inner = error.inner();
    let at = format!("line {} column {}", inner.line(), inner.column());
    let text = inner.to_string();
    let message = text.split(" at line ").next().unwrap_or_default();
    let field = error.path().to_string();
    if let Some(reason) = message.strip_prefix(LIFETIME_PREFIX) {
        return format!("`expires_in` is invalid: {reason} ({at})");
    }
    if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
        return format!("{message} ({at})");
    }
    match field.as_str() {
        "access_token" | "token_type" | "refresh_token" | "scope" => {
            format!("`{field}` is not a string ({at})")
        }
        _ if !body.trim_ascii_start().starts_with(b"{") => {
            "the body is not a JSON object".to_owned()
        }
        _ => format!("the token response has the wrong shape ({at})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokensource_core::ErrorKind;

    fn parse(body: &str) -> Result<TokenReply, String> {
        let mut de = serde_json::Deserializer::from_str(body);
        serde_path_to_error::deserialize::<_, TokenReply>(&mut de)
            .map_err(|e| describe_parse_error(&e, body.as_bytes()))
    }

    #[test]
    fn parses_rfc_6749_replies() {
        let reply = parse(
            r#"{"access_token":"a.b","token_type":"BEARER","expires_in":3600,"scope":"x  y","refresh_token":"r"}"#,
        )
        .unwrap();
        let token = reply.into_token(200, SystemTime::now()).unwrap();
        assert_eq!(token.token_type(), "Bearer");
        assert_eq!(token.lifetime(), Some(Duration::from_secs(3600)));
        assert_eq!(token.scopes(), ["x", "y"]);
        assert!(token.refresh_token().is_some());

        let minimal = parse(r#"{"access_token":"a","token_type":"bearer","expires_in":null}"#)
            .unwrap()
            .into_token(200, SystemTime::now())
            .unwrap();
        assert_eq!(minimal.lifetime(), None);
        assert!(minimal.scopes().is_empty());
    }

    #[test]
    fn lifetimes() {
        let lifetime = |value: &str| {
            parse(&format!(
                r#"{{"access_token":"a","token_type":"Bearer","expires_in":{value}}}"#
            ))
            .map(|r| r.expires_in)
        };
        assert_eq!(lifetime("\"3599\""), Ok(Some(Duration::from_secs(3599))));
        assert_eq!(lifetime("1.5"), Ok(Some(Duration::from_millis(1500))));
        let year = tokensource_core::lifetime::MAX_LIFETIME;
        assert_eq!(lifetime("1e300"), Ok(Some(year)));
        assert_eq!(lifetime("18446744073709551615"), Ok(Some(year)));
        assert_eq!(lifetime("123456789012345678901234567890"), Ok(Some(year)));
        let negative = lifetime("-60").unwrap_err();
        assert!(
            negative.starts_with("`expires_in` is invalid: the lifetime is negative"),
            "{negative}"
        );
        let word = lifetime("\"s3cr3t-soon\"").unwrap_err();
        assert!(
            word.starts_with("`expires_in` is invalid: the lifetime is not a number"),
            "{word}"
        );
        assert!(!word.contains("s3cr3t"), "{word}");
    }

    #[test]
    fn parse_errors_never_quote_the_body() {
        let cases = [
            (
                r#"{"access_token": 12345678, "token_type": "Bearer"}"#,
                "`access_token` is not a string",
            ),
            (
                r#"{"access_token": "s3cr3t", "token_type": ["s3cr3t"]}"#,
                "`token_type` is not a string",
            ),
            (
                r#"{"access_token": "s3cr3t", "token_type": "Bearer", "scope": 7}"#,
                "`scope` is not a string",
            ),
            (
                r#"{"access_token": "s3cr3t"}"#,
                "missing field `token_type`",
            ),
            (r#"["s3cr3t"]"#, "the body is not a JSON object"),
            (r#"{"access_token": "s3cr3t"#, "the JSON body is truncated"),
            ("<html>s3cr3t</html>", "the body is an HTML page, not JSON"),
        ];
        for (body, expected) in cases {
            let detail = parse(body).unwrap_err();
            assert!(detail.starts_with(expected), "{body}: {detail}");
            assert!(
                !detail.contains("s3cr3t") && !detail.contains("12345678"),
                "{detail}"
            );
        }
    }

    #[test]
    fn token_type_must_be_bearer() {
        for (token_type, shown) in [("mac", true), ("N\\u0000pe \\r\\n", false)] {
            let error = parse(&format!(
                r#"{{"access_token":"a","token_type":"{token_type}"}}"#
            ))
            .unwrap()
            .into_token(200, SystemTime::now())
            .unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidResponse);
            assert_eq!(error.detail().contains("\"mac\""), shown, "{error}");
        }
    }

    #[test]
    fn illegal_tokens_are_invalid_responses() {
        let error = parse(r#"{"access_token":"ab\r\nX-Evil: 1","token_type":"Bearer"}"#)
            .unwrap()
            .into_token(200, SystemTime::now())
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidResponse);
        assert!(!error.to_string().contains("Evil"), "{error}");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value};
    use std::time::UNIX_EPOCH;
    use tokensource_core::ErrorKind;
    use tokensource_core::lifetime::MAX_LIFETIME;

    /// A JSON value of any type, for the fields the parser reads.
    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
            prop_oneof![Just("Bearer"), Just("bearer"), Just("mac")].prop_map(Value::from),
            prop::collection::vec(".{0,8}".prop_map(Value::from), 0..3).prop_map(Value::from),
            Just(serde_json::json!({"nested": true})),
        ]
    }

    fn any_field() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("access_token"),
            Just("token_type"),
            Just("expires_in"),
            Just("refresh_token"),
            Just("scope"),
            Just("error"),
            Just("error_description"),
        ]
    }

    /// Either a token or an invalid response that carries no value of the body; never a panic.
    fn check(body: &[u8]) {
        if let Err(e) = parse_token_response(body, SystemTime::now()) {
            assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{e}");
            assert_eq!(e.status(), Some(200));
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
            check(&body);
        }

        #[test]
        fn arbitrary_objects_never_panic(fields in prop::collection::vec((any_field(), any_value()), 0..7)) {
            let object: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            check(Value::Object(object).to_string().as_bytes());
        }

        /// A valid RFC 6749 5.1 response gives back its token, lifetime (clamped to a year),
        /// refresh token and scopes.
        #[test]
        fn valid_responses_round_trip(
            secret in "[!-~]{1,200}",
            lifetime_secs in proptest::option::of(prop_oneof![0u64..200_000, any::<u64>()]),
            token_type in prop_oneof![Just("Bearer"), Just("bearer"), Just("BEARER")],
            refresh in proptest::option::of("[!-~]{1,40}"),
            scopes in prop::collection::vec("[!#-\\[\\]-~]{1,12}", 0..4),
        ) {
            let mut body = serde_json::json!({ "access_token": secret, "token_type": token_type });
            if let Some(secs) = lifetime_secs {
                body["expires_in"] = Value::from(secs);
            }
            if let Some(refresh) = &refresh {
                body["refresh_token"] = Value::from(refresh.as_str());
            }
            if !scopes.is_empty() {
                body["scope"] = Value::from(scopes.join(" "));
            }
            let issued_at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let token = parse_token_response(body.to_string().as_bytes(), issued_at)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(token.expose_secret(), secret.as_str());
            prop_assert_eq!(token.token_type(), "Bearer");
            prop_assert_eq!(token.issued_at(), issued_at);
            prop_assert_eq!(
                token.lifetime(),
                lifetime_secs.map(|s| Duration::from_secs(s).min(MAX_LIFETIME))
            );
            prop_assert_eq!(
                token.refresh_token().map(secrecy::ExposeSecret::expose_secret),
                refresh.as_deref()
            );
            prop_assert_eq!(token.scopes(), scopes.as_slice());
        }
    }
}
