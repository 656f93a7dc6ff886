//! A standard OAuth2 client-credentials token endpoint (RFC 6749 section 4.4).

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::protocol::{
    Grant, Protocol, SharedSecret, basic_credentials, has_media_type, json_response,
};
use crate::tokens::{Issued, Refusal, TokenSettings};

const TOKEN_PATH: &str = "/oauth/v2/token";

/// Where [`OAuth2Mock`] requires the client credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))`, RFC 6749 section 2.3.1:
    /// the id and the secret are each `application/x-www-form-urlencoded` before base64. The
    /// default, and the method every server must support.
    #[default]
    Basic,
    /// `client_id` and `client_secret` form parameters in the request body.
    RequestBody,
}

/// A mock of a standard OAuth2 client-credentials token endpoint, `POST /oauth/v2/token`.
///
/// It checks each request as RFC 6749 prescribes, strictly, so that a client's mistakes show:
///
/// - `Content-Type: application/x-www-form-urlencoded` and no repeated parameter, else
///   `400 invalid_request`;
/// - exactly one client authentication method, the configured one ([`ClientAuthMethod`]); with
///   HTTP Basic, the id and secret must be form-urlencoded before base64 (a character that
///   form-urlencoding escapes, such as `:` `@` `/` `+` or a space, arriving raw is refused), else
///   `401 invalid_client` with `WWW-Authenticate: Basic`;
/// - `grant_type=client_credentials`, else `400 invalid_request` or `400 unsupported_grant_type`;
/// - with [`allowed_scopes`](OAuth2Mock::allowed_scopes), every requested `scope` among them,
///   else `400 invalid_scope`.
///
/// Success is RFC 6749 section 5.1: `{"access_token", "token_type": "Bearer", "expires_in",
/// "scope"}` (scope echoed when requested) with `Cache-Control: no-store`; errors are section 5.2:
/// `{"error": "invalid_client", "error_description": ...}`. Tokens are opaque strings valid for an
/// hour by default; [`jwt`](OAuth2Mock::jwt) makes them unsigned JWTs. The mock API refuses bad
/// tokens as RFC 6750 does (`401`, `WWW-Authenticate: Bearer error="invalid_token"`).
///
/// ```
/// use tokensource_testkit::{ClientAuthMethod, MockServer, OAuth2Mock};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = MockServer::oauth2(
///     OAuth2Mock::new("my-client", "s3cret:with+symbols")
///         .client_auth(ClientAuthMethod::Basic)
///         .allowed_scopes(["read", "write"]),
/// )
/// .start()
/// .await;
/// assert!(server.token_url().ends_with("/oauth/v2/token"));
/// # }
/// ```
#[derive(Clone)]
pub struct OAuth2Mock {
    client_id: String,
    client_secret: SharedSecret,
    settings: TokenSettings,
    client_auth: ClientAuthMethod,
    allowed_scopes: Option<HashSet<String>>,
}

impl OAuth2Mock {
    /// A mock that accepts `client_id` and `client_secret`.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        OAuth2Mock {
            client_id: client_id.into(),
            client_secret: SharedSecret::new(client_secret.into()),
            settings: TokenSettings::new(Duration::from_secs(3600), false),
            client_auth: ClientAuthMethod::Basic,
            allowed_scopes: None,
        }
    }

    /// How long issued tokens live (default 1 hour): sent as `expires_in` in seconds and enforced
    /// by the mock API (and put in `exp` with [`jwt`](OAuth2Mock::jwt)).
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.lifetime = lifetime;
        self
    }

    /// Whether access tokens are unsigned JWTs with `iat`/`exp` claims or opaque strings (default).
    #[must_use]
    pub fn jwt(mut self, jwt: bool) -> Self {
        self.settings.jwt = jwt;
        self
    }

    /// Sends this value as `expires_in` instead of the true lifetime (which still governs the
    /// mock API and any `exp` claim).
    #[must_use]
    pub fn advertised_expires_in(mut self, value: Value) -> Self {
        self.settings.advertised_expires_in = Some(value);
        self
    }

    /// Where the client must authenticate (default [`ClientAuthMethod::Basic`]); the other
    /// method is refused with `invalid_client`.
    #[must_use]
    pub fn client_auth(mut self, method: ClientAuthMethod) -> Self {
        self.client_auth = method;
        self
    }

    /// The scopes a client may request (default: any). A request for another is refused with
    /// `400 invalid_scope`.
    #[must_use]
    pub fn allowed_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    #[allow(clippy::result_large_err)] // the error is the response to send
    fn check_client(
        &self,
        request: &Request,
        form: &[(String, String)],
    ) -> Result<String, ResponseTemplate> {
        let param = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let has_basic = request.headers.contains_key(http::header::AUTHORIZATION);
        let has_body = param("client_id").is_some() || param("client_secret").is_some();
        if has_basic && has_body {
            return Err(oauth_error(
                400,
                "invalid_request",
                "more than one client authentication method was used",
            ));
        }
        let (id, secret) = match self.client_auth {
            ClientAuthMethod::Basic => {
                if has_body {
                    return Err(invalid_client(
                        "client credentials in the request body are not accepted; use HTTP Basic",
                    ));
                }
                let (id, secret) = basic_credentials(request).ok_or_else(|| {
                    invalid_client("client authentication by HTTP Basic is required")
                })?;
                match (form_decode(&id), form_decode(&secret)) {
                    (Some(id), Some(secret)) => (id, secret),
                    _ => {
                        return Err(invalid_client(
                            "the Basic credentials are not application/x-www-form-urlencoded (RFC 6749 section 2.3.1)",
                        ));
                    }
                }
            }
            ClientAuthMethod::RequestBody => {
                if has_basic {
                    return Err(invalid_client(
                        "HTTP Basic client authentication is not accepted; send client_id and client_secret in the body",
                    ));
                }
                match (param("client_id"), param("client_secret")) {
                    (Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
                    _ => {
                        return Err(invalid_client(
                            "client_id and client_secret are required in the request body",
                        ));
                    }
                }
            }
        };
        if id != self.client_id || !self.client_secret.is(&secret) {
            return Err(invalid_client("client authentication failed"));
        }
        Ok(id)
    }
}

impl fmt::Debug for OAuth2Mock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Mock")
            .field("client_id", &self.client_id)
            .field("client_secret", &"** redacted **")
            .field("settings", &self.settings)
            .field("client_auth", &self.client_auth)
            .field("allowed_scopes", &self.allowed_scopes)
            .finish()
    }
}

/// An RFC 6749 section 5.2 error response.
fn oauth_error(status: u16, error: &str, description: &str) -> ResponseTemplate {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
    .insert_header("cache-control", "no-store")
    .insert_header("pragma", "no-cache")
}

fn invalid_client(description: &str) -> ResponseTemplate {
    oauth_error(401, "invalid_client", description)
        .insert_header("www-authenticate", r#"Basic realm="tokensource-testkit""#)
}

/// Decodes one `application/x-www-form-urlencoded` value strictly: `+` is a space, `%XX` a byte,
/// and only characters that form-urlencoding leaves alone (letters, digits, `*-._~`) may appear
/// raw. `None` for anything else or for bytes that are not UTF-8.
fn form_decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b if b.is_ascii_alphanumeric() || b"*-._~".contains(&b) => out.push(b),
            _ => return None,
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl Protocol for OAuth2Mock {
    fn rotate_secret(&self, secret: &str) {
        self.client_secret.set(secret);
    }

    fn name(&self) -> &'static str {
        "oauth2"
    }

    fn token_paths(&self) -> &'static [&'static str] {
        &[TOKEN_PATH]
    }

    fn token_path(&self) -> &'static str {
        TOKEN_PATH
    }

    fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    fn authenticate(&self, request: &Request) -> Result<Grant, ResponseTemplate> {
        if request.method != http::Method::POST {
            return Err(
                oauth_error(405, "invalid_request", "use POST").insert_header("allow", "POST")
            );
        }
        if !has_media_type(request, "application/x-www-form-urlencoded") {
            return Err(oauth_error(
                400,
                "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut seen = HashSet::new();
        if let Some((repeated, _)) = form.iter().find(|(k, _)| !seen.insert(k.as_str())) {
            return Err(oauth_error(
                400,
                "invalid_request",
                &format!("the parameter {repeated} is repeated"),
            ));
        }
        let subject = self.check_client(request, &form)?;
        let param = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match param("grant_type") {
            Some("client_credentials") => {}
            Some(_) => {
                return Err(oauth_error(
                    400,
                    "unsupported_grant_type",
                    "only client_credentials is supported",
                ));
            }
            None => {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    "grant_type is required",
                ));
            }
        }
        let scope = param("scope").map(str::to_owned);
        if let (Some(allowed), Some(requested)) = (&self.allowed_scopes, &scope)
            && let Some(unknown) = requested.split(' ').find(|s| !allowed.contains(*s))
        {
            return Err(oauth_error(
                400,
                "invalid_scope",
                &format!("the scope {unknown:?} is not allowed"),
            ));
        }
        Ok(Grant { subject, scope })
    }

    fn issued(&self, _request: &Request, issued: &Issued, grant: &Grant) -> ResponseTemplate {
        let mut body = json!({
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": self.settings.expires_in_seconds(),
        });
        if let Some(scope) = &grant.scope {
            body["scope"] = json!(scope);
        }
        json_response(200, &body)
            .insert_header("cache-control", "no-store")
            .insert_header("pragma", "no-cache")
    }

    fn rejection(&self) -> ResponseTemplate {
        invalid_client("client authentication failed")
    }

    fn api_refusal(&self, refusal: Refusal) -> ResponseTemplate {
        let description = match refusal {
            Refusal::Missing => {
                return json_response(
                    401,
                    &json!({ "error": "invalid_token", "error_description": "no access token" }),
                )
                .insert_header("www-authenticate", r#"Bearer realm="tokensource-testkit""#);
            }
            Refusal::Unknown => "the access token is invalid",
            Refusal::Expired => "the access token expired",
        };
        json_response(
            401,
            &json!({ "error": "invalid_token", "error_description": description }),
        )
        .insert_header(
            "www-authenticate",
            format!(r#"Bearer realm="tokensource-testkit", error="invalid_token", error_description="{description}""#),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn strict_form_decoding() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(
            form_decode("plain-id_1.x~*").as_deref(),
            Some("plain-id_1.x~*")
        );
        assert_eq!(form_decode("raw:colon"), None);
        assert_eq!(form_decode("bad%zz"), None);
        assert_eq!(form_decode("trunc%4"), None);
        assert_eq!(form_decode("%C3%A5").as_deref(), Some("å"));
        assert_eq!(form_decode("%FF"), None);
    }
}
