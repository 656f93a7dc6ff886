//! Reading what the command printed.

use std::time::SystemTime;

use serde_json::Value;
use tokensource_core::lifetime::{LifetimeUnit, lifetime_from_json};
use tokensource_core::{Error, Token};

use crate::{OutputFormat, PROVIDER};

/// Reads a command's stdout as `format` says, exactly as [`CommandTokenSource`](crate::CommandTokenSource)
/// does; `issued_at` is when the command started. Errors are
/// [`InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) naming what was wrong,
/// never quoting the output. Never panics, whatever the bytes.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tokensource_command::{OutputFormat, parse_output};
///
/// let json = br#"{"access_token": "t0k3n", "expires_in": 300}"#;
/// let token = parse_output(json, OutputFormat::Auto, SystemTime::now())?;
/// assert_eq!(token.lifetime(), Some(Duration::from_secs(300)));
/// let bare = parse_output(b"t0k3n\n", OutputFormat::Auto, SystemTime::now())?;
/// assert_eq!(bare.expose_secret(), "t0k3n");
/// # Ok::<(), tokensource_core::Error>(())
/// ```
pub fn parse_output(
    output: &[u8],
    format: OutputFormat,
    issued_at: SystemTime,
) -> Result<Token, Error> {
    let invalid = |what: &str| Error::invalid_response(PROVIDER, what.to_owned());
    let text = std::str::from_utf8(output).map_err(|_| invalid("the output is not UTF-8"))?;
    let json = match format {
        OutputFormat::Json => true,
        OutputFormat::Token => false,
        OutputFormat::Auto => text.trim_start().starts_with('{'),
    };
    if !json {
        let token = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        if token.is_empty() {
            return Err(invalid("the command printed no token"));
        }
        return Token::builder(token)
            .issued_at(issued_at)
            .build()
            .map_err(|e| invalid(&format!("the printed token is not valid: {e}")));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|_| invalid("the output is not a JSON object"))?;
    let Value::Object(object) = value else {
        return Err(invalid("the output is not a JSON object"));
    };
    let access_token = match object.get("access_token") {
        Some(Value::String(token)) if !token.is_empty() => token.as_str(),
        _ => return Err(invalid("no access_token string in the output")),
    };
    match object.get("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err(invalid("token_type is not Bearer")),
    }
    let mut expiries = Vec::new();
    if let Some(value) = object.get("expires_in").filter(|v| !v.is_null()) {
        let lifetime = lifetime_from_json(value, LifetimeUnit::Seconds)
            .map_err(|e| invalid(&format!("expires_in: {e}")))?;
        expiries.push(issued_at.checked_add(lifetime).unwrap_or(issued_at));
    }
    if let Some(value) = object.get("expires_at").filter(|v| !v.is_null()) {
        let Value::String(text) = value else {
            return Err(invalid("expires_at is not an RFC 3339 string"));
        };
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid("expires_at is not an RFC 3339 time"))?;
        let at = SystemTime::from(at);
        expiries.push(at);
    }
    let mut builder = Token::builder(access_token).issued_at(issued_at);
    // With both, the earlier wins.
    if let Some(at) = expiries.into_iter().min() {
        builder = builder.expires_at(at);
    }
    builder
        .build()
        .map_err(|e| invalid(&format!("access_token is not valid: {e}")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn parse(output: &str, format: OutputFormat) -> Result<Token, Error> {
        parse_output(
            output.as_bytes(),
            format,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
    }

    #[test]
    fn json_and_bare_forms() {
        let t = parse(
            r#"{"access_token":"a","expires_in":60,"token_type":"BEARER"}"#,
            OutputFormat::Auto,
        )
        .unwrap();
        assert_eq!(t.lifetime(), Some(Duration::from_secs(60)));
        let t = parse(
            r#"{"access_token":"a","expires_at":"2023-11-14T22:23:20Z"}"#,
            OutputFormat::Json,
        )
        .unwrap();
        assert_eq!(t.lifetime(), Some(Duration::from_secs(600)));
        let t = parse(
            r#"{"access_token":"a","expires_at":"2023-11-14T23:23:20+01:00","expires_in":3600}"#,
            OutputFormat::Auto,
        )
        .unwrap();
        assert_eq!(
            t.lifetime(),
            Some(Duration::from_secs(600)),
            "the earlier wins"
        );
        let t = parse("bare-token\r\n", OutputFormat::Auto).unwrap();
        assert_eq!((t.expose_secret(), t.lifetime()), ("bare-token", None));
        let t = parse("{not json", OutputFormat::Token);
        assert!(
            t.is_err(),
            "a brace in a bare token is not a valid token character"
        );
    }

    #[test]
    fn bad_output_is_invalid_and_never_quoted() {
        for bad in [
            "",
            "\n",
            "two words\n",
            "tok\nextra\n",
            r#"{"access_token":"sekrit","token_type":"mac"}"#,
            r#"{"access_token":"sekrit","expires_in":"soon"}"#,
            r#"{"access_token":"sekrit","expires_at":"tomorrow"}"#,
            r#"{"token":"sekrit"}"#,
        ] {
            let error = parse(bad, OutputFormat::Auto).unwrap_err();
            assert_eq!(
                error.kind(),
                tokensource_core::ErrorKind::InvalidResponse,
                "{bad:?}"
            );
            assert!(!error.to_string().contains("sekrit"), "{error}");
        }
    }

    #[test]
    fn json_format_wants_an_object() {
        // Auto reads JSON only when the output starts with a brace; json insists.
        assert!(parse(r#"["sekrit"]"#, OutputFormat::Json).is_err());
        assert!(parse(r#"["sekrit"]"#, OutputFormat::Auto).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for format in [OutputFormat::Auto, OutputFormat::Json, OutputFormat::Token] {
                let _ = parse_output(&bytes, format, SystemTime::now());
            }
        }
    }
}
