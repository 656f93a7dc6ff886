//! What a successful run prints. Every function returns the whole text, so that nothing is
//! written until everything has succeeded; the text holds the token and is zeroized when dropped.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokensource::Token;
use zeroize::Zeroizing;

/// `token`: the access token and a newline.
pub(crate) fn plain(token: &Token) -> Zeroizing<String> {
    let secret = token.expose_secret();
    let mut text = Zeroizing::new(String::with_capacity(secret.len() + 1));
    text.push_str(secret);
    text.push('\n');
    text
}

#[derive(Serialize)]
struct TokenJson<'a> {
    access_token: &'a str,
    token_type: &'a str,
    expires_at: String,
    expires_in: u64,
}

/// `token --json`: one JSON object and a newline. The expiry is the token's own when known,
/// else `default_lifetime` after it was issued (the lifetime the cache assumed for it).
pub(crate) fn json(
    token: &Token,
    default_lifetime: Duration,
    now: SystemTime,
) -> Zeroizing<String> {
    let expires_at = expiry(token, default_lifetime);
    let record = TokenJson {
        access_token: token.expose_secret(),
        token_type: token.token_type(),
        expires_at: rfc3339(expires_at),
        expires_in: expires_at
            .duration_since(now)
            .map_or(0, |left| left.as_secs()),
    };
    json_line(&record, record.access_token.len() + record.token_type.len())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential<'a> {
    api_version: &'a str,
    kind: &'a str,
    status: ExecCredentialStatus<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatus<'a> {
    token: &'a str,
    expiration_timestamp: String,
}

/// `exec-credential`: one Kubernetes ExecCredential object of `api_version` and a newline. The
/// expiry is the token's own when known, else `default_lifetime` after it was issued.
pub(crate) fn exec_credential(
    token: &Token,
    api_version: &str,
    default_lifetime: Duration,
) -> Zeroizing<String> {
    let record = ExecCredential {
        api_version,
        kind: "ExecCredential",
        status: ExecCredentialStatus {
            token: token.expose_secret(),
            expiration_timestamp: rfc3339(expiry(token, default_lifetime)),
        },
    };
    json_line(&record, record.status.token.len())
}

/// `git-credential get`: git's `key=value` lines. `username` is one line (checked when parsed);
/// a token never holds a line break.
pub(crate) fn git_credential(
    token: &Token,
    username: &str,
    default_lifetime: Duration,
) -> Zeroizing<String> {
    let secret = token.expose_secret();
    let mut text = Zeroizing::new(String::with_capacity(secret.len() + username.len() + 96));
    let expiry_secs = expiry(token, default_lifetime)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "username={username}\npassword={secret}\npassword_expiry_utc={expiry_secs}\n"
    );
    text
}

/// When `token` expires: its own expiry when known, else `default_lifetime` after its issue
/// (the lifetime the cache assumed for it).
pub(crate) fn expiry(token: &Token, default_lifetime: Duration) -> SystemTime {
    token
        .expires_at()
        .unwrap_or_else(|| token.issued_at() + default_lifetime)
}

/// `record` as one JSON line, in a buffer that is zeroized when dropped; `secret_len` is the
/// length of the secret strings in it.
fn json_line(record: &impl Serialize, secret_len: usize) -> Zeroizing<String> {
    // Room for the worst case (every character escaped), so the buffer is never reallocated
    // and no unzeroized copy of the token is left behind.
    let capacity = 6 * secret_len + 256;
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    // Serializing strings and integers into memory cannot fail.
    let _ = serde_json::to_writer(&mut *bytes, record);
    bytes.push(b'\n');
    // serde_json writes UTF-8.
    Zeroizing::new(String::from_utf8(std::mem::take(&mut *bytes)).unwrap_or_default())
}

/// `headers`: `Authorization: <type> <token>`, then `extra` (name, value) headers, one a line.
pub(crate) fn headers<'a>(
    token: &Token,
    extra: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Zeroizing<String> {
    let secret = token.expose_secret();
    let mut text = Zeroizing::new(String::with_capacity(secret.len() + 256));
    // Writing to a String cannot fail.
    let _ = writeln!(text, "Authorization: {} {secret}", token.token_type());
    for (name, value) in extra {
        // Header values are bytes; a configured value is UTF-8 (anything else is shown lossily).
        let _ = writeln!(text, "{name}: {}", String::from_utf8_lossy(value));
    }
    text
}

/// `time` in RFC 3339, UTC, whole seconds: `2030-01-31T12:00:00Z`. Times before 1970 or after
/// 9999 (which RFC 3339 cannot express) are clamped.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    const MAX_SECS: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
        .min(MAX_SECS);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_709_208_000)), "2024-02-29T12:00:00Z");
        assert_eq!(rfc3339(at(1_735_689_599)), "2024-12-31T23:59:59Z");
        assert_eq!(rfc3339(at(4_107_542_400)), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339(at(253_402_300_799)), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(at(u64::MAX / 2)), "9999-12-31T23:59:59Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339(at(1_700_000_000) + Duration::from_millis(999)),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn rfc3339_agrees_with_httpdate() {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let mut secs = 0;
        while secs <= 253_402_300_799 {
            // "Thu, 29 Feb 2024 12:00:00 GMT"
            let http = httpdate::fmt_http_date(at(secs));
            let parts: Vec<&str> = http.split([' ', ',']).filter(|p| !p.is_empty()).collect();
            let month = MONTHS.iter().position(|m| *m == parts[2]).unwrap() + 1;
            let expected = format!("{}-{month:02}-{}T{}Z", parts[3], parts[1], parts[4]);
            assert_eq!(rfc3339(at(secs)), expected, "at {secs}");
            secs += 86_400 * 13 + 3_607;
        }
    }

    #[test]
    fn json_shape_and_expiry() {
        let now = at(1_700_000_000);
        let token = Token::builder("a\"b\\c")
            .issued_at(now - Duration::from_secs(100))
            .expires_in(Duration::from_secs(3600))
            .build()
            .unwrap();
        let text = json(&token, Duration::from_secs(600), now);
        assert!(text.ends_with('\n'));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["access_token"], "a\"b\\c");
        assert_eq!(value["token_type"], "Bearer");
        assert_eq!(value["expires_in"], 3500);
        assert_eq!(
            value["expires_at"],
            rfc3339(now + Duration::from_secs(3500))
        );
        assert_eq!(value.as_object().unwrap().len(), 4);

        // Unknown lifetime: the default one, counted from issue.
        let unknown = Token::builder("opaque").issued_at(now).build().unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&json(&unknown, Duration::from_secs(600), now)).unwrap();
        assert_eq!(value["expires_in"], 600);

        // Already expired: zero, never negative.
        let old = Token::builder("old")
            .issued_at(now - Duration::from_secs(7200))
            .expires_in(Duration::from_secs(60))
            .build()
            .unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&json(&old, Duration::from_secs(600), now)).unwrap();
        assert_eq!(value["expires_in"], 0);
    }

    #[test]
    fn exec_credential_shape() {
        let issued = at(1_700_000_000);
        let token = Token::builder("a\"b")
            .issued_at(issued)
            .expires_in(Duration::from_secs(3600))
            .build()
            .unwrap();
        let text = exec_credential(
            &token,
            "client.authentication.k8s.io/v1beta1",
            Duration::ZERO,
        );
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "kind": "ExecCredential",
                "status": {"token": "a\"b", "expirationTimestamp": "2023-11-14T23:13:20Z"}
            })
        );
        // Unknown lifetime: the default one, counted from issue.
        let unknown = Token::builder("t").issued_at(issued).build().unwrap();
        let value: serde_json::Value = serde_json::from_str(&exec_credential(
            &unknown,
            "client.authentication.k8s.io/v1",
            Duration::from_secs(600),
        ))
        .unwrap();
        assert_eq!(
            value["status"]["expirationTimestamp"],
            "2023-11-14T22:23:20Z"
        );
    }

    #[test]
    fn git_credential_lines() {
        let token = Token::builder("tok")
            .issued_at(at(1_700_000_000))
            .expires_in(Duration::from_millis(3_600_900))
            .build()
            .unwrap();
        assert_eq!(
            *git_credential(&token, "x-access-token", Duration::ZERO),
            "username=x-access-token\npassword=tok\npassword_expiry_utc=1700003600\n"
        );
        let unknown = Token::builder("tok").issued_at(at(1_000)).build().unwrap();
        assert_eq!(
            *git_credential(&unknown, "bot", Duration::from_secs(600)),
            "username=bot\npassword=tok\npassword_expiry_utc=1600\n"
        );
    }

    #[test]
    fn plain_and_headers() {
        let token = Token::bearer("tok").unwrap();
        assert_eq!(*plain(&token), "tok\n");
        let extra: [(&str, &[u8]); 2] = [("legal-entity", b"Acme AB"), ("api-version", b"2.1")];
        assert_eq!(
            *headers(&token, extra),
            "Authorization: Bearer tok\nlegal-entity: Acme AB\napi-version: 2.1\n"
        );
    }
}
