//! Reading token responses and error messages without echoing what should stay private.

use serde::de::DeserializeOwned;
use tokensource_core::Error;

/// Parses a JSON body into `T`, mapping failures to an invalid-response error.
///
/// The error says what was wrong (not JSON, truncated, a missing field, a wrong type) and where,
/// but never quotes the body, which may hold a token.
pub fn parse_json<T: DeserializeOwned>(
    provider: &'static str,
    status: u16,
    body: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        let detail = describe_json_error(&e, body);
        Error::invalid_response(provider, detail).with_status(status)
    })
}

fn describe_json_error(error: &serde_json::Error, body: &[u8]) -> String {
    use serde_json::error::Category;
    let text = error.to_string();
    let at = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        _ if body.iter().all(u8::is_ascii_whitespace) => "the body is empty".to_owned(),
        _ if looks_like_html(body) => "the body is an HTML page, not JSON".to_owned(),
        Category::Eof => format!("the JSON body is truncated ({at})"),
        Category::Syntax => format!("the body is not valid JSON ({at})"),
        Category::Io => "the body could not be read".to_owned(),
        Category::Data => {
            // serde's own words are kept only where they name a field, never a value.
            let field_message = ["missing field `", "unknown field `", "duplicate field `"]
                .iter()
                .any(|prefix| text.starts_with(prefix));
            if field_message {
                let message = text.split(" at line").next().unwrap_or(&text);
                format!("{message} ({at})")
            } else {
                format!("a JSON value has the wrong type or shape ({at})")
            }
        }
    }
}

/// HTML error pages (and XML) start with `<` once leading white space is skipped.
fn looks_like_html(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// The error message in a JSON error body, in the shapes token endpoints use:
/// `{"errors": ["a", "b"]}` (Younium), `{"error": "x", "error_description": "y"}` (RFC 6749),
/// `{"error": "x"}`, `{"message": "x"}`, `{"error": {"message": "x"}}`. `None` for anything else
/// (HTML pages, plain text, empty bodies): those are never echoed.
///
/// ```
/// use tokensource_http::json_error_message;
///
/// assert_eq!(json_error_message(br#"{"errors":["Invalid client id"]}"#).as_deref(), Some("Invalid client id"));
/// assert_eq!(
///     json_error_message(br#"{"error":"invalid_client","error_description":"bad secret"}"#).as_deref(),
///     Some("invalid_client: bad secret")
/// );
/// assert_eq!(json_error_message(b"<html>oops</html>"), None);
/// ```
pub fn json_error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let text = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            serde_json::Value::Array(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .filter_map(|i| match i {
                        serde_json::Value::String(s) => Some(s.trim().to_owned()),
                        serde_json::Value::Object(o) => o
                            .get("message")
                            .and_then(|m| m.as_str())
                            .map(|m| m.trim().to_owned()),
                        _ => None,
                    })
                    .filter(|s| !s.is_empty())
                    .collect();
                (!parts.is_empty()).then(|| parts.join("; "))
            }
            serde_json::Value::Object(o) => o
                .get("message")
                .and_then(|m| m.as_str())
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty()),
            _ => None,
        }
    };
    let error = object.get("error").and_then(text);
    let description = object.get("error_description").and_then(text);
    match (error, description) {
        (Some(e), Some(d)) => Some(format!("{e}: {d}")),
        (Some(e), None) => Some(e),
        (None, Some(d)) => Some(d),
        (None, None) => ["errors", "message", "error_message", "detail"]
            .iter()
            .find_map(|key| object.get(*key).and_then(text)),
    }
}

/// Replaces every occurrence of each non-empty secret in `message` with `***`, for messages a
/// server wrote (a server that echoes the request must not make us print the secret).
pub fn redact(message: String, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(message, |m, secret| m.replace(secret, "***"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Reply {
        access_token: String,
        expires_in: u64,
    }

    fn detail(body: &[u8]) -> String {
        parse_json::<Reply>("p", 200, body)
            .unwrap_err()
            .detail()
            .to_owned()
    }

    #[test]
    fn json_errors_never_quote_values() {
        assert_eq!(detail(b""), "the body is empty");
        assert_eq!(
            detail(b"<html><body>502</body></html>"),
            "the body is an HTML page, not JSON"
        );
        assert!(detail(br#"{"access_token": "abc"#).starts_with("the JSON body is truncated"));
        assert!(detail(b"{nope}").starts_with("the body is not valid JSON"));
        assert!(detail(br#"{"expires_in": 5}"#).starts_with("missing field `access_token`"));
        let wrong = detail(br#"{"access_token": "s3cret", "expires_in": "s3cret-too"}"#);
        assert!(!wrong.contains("s3cret"), "{wrong}");
        assert!(detail(b"[1,2]").contains("wrong type"));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            json_error_message(br#"{"errors":["a","b"]}"#).as_deref(),
            Some("a; b")
        );
        assert_eq!(
            json_error_message(br#"{"error":"x"}"#).as_deref(),
            Some("x")
        );
        assert_eq!(
            json_error_message(br#"{"message":"Expired token"}"#).as_deref(),
            Some("Expired token")
        );
        assert_eq!(
            json_error_message(br#"{"error":{"message":"m"}}"#).as_deref(),
            Some("m")
        );
        assert_eq!(json_error_message(br#"{"other":1}"#), None);
        assert_eq!(json_error_message(b"plain text"), None);
    }

    #[test]
    fn redacts() {
        assert_eq!(
            redact("bad secret hunter2 for hunter2".into(), &["hunter2", ""]),
            "bad secret *** for ***"
        );
    }
}
