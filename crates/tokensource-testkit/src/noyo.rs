//! Noyo's token endpoint.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::protocol::{
    Grant, Protocol, SharedSecret, basic_credentials, has_media_type, json_response,
};
use crate::tokens::{Issued, Refusal, TokenSettings};

const TOKEN_PATH: &str = "/auth/public/token";

/// A mock of Noyo's token endpoint, `POST /auth/public/token`, as Noyo's authentication page
/// documents it.
///
/// It checks each request as Noyo does:
///
/// - `Authorization: Basic base64(CLIENT_ID:CLIENT_SECRET)` with the raw pair (as `curl -u` sends
///   it: no URL-encoding), else `401 {"message": "Invalid credentials"}`;
/// - `Content-Type: application/json`, else `415`;
/// - the JSON body `{"grant_type": "client_credentials"}`, else `400 {"message": ...}`.
///
/// It answers `{"access_token": <JWT>, "expires_in": <milliseconds>, "token_type": "Bearer"}`.
/// Tokens are unsigned JWTs with `iat` and `exp` (Noyo's are JWTs) valid for 10 minutes unless
/// [`lifetime`](NoyoMock::lifetime) says otherwise. The mock API refuses tokens with Noyo's three
/// documented messages: `Missing credentials`, `Malformed JWT`, `Expired token`.
///
/// Noyo's own example answer, `"expires_in": 864000`, contradicts its text (10 minutes, in
/// milliseconds); [`advertised_expires_in`](NoyoMock::advertised_expires_in) reproduces it:
///
/// ```
/// use std::time::Duration;
/// use tokensource_testkit::{MockServer, NoyoMock};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = MockServer::noyo(
///     NoyoMock::new("client-id", "client-secret")
///         .lifetime(Duration::from_secs(600))
///         .advertised_expires_in(serde_json::json!(864000)),
/// )
/// .start()
/// .await;
/// assert!(server.token_url().ends_with("/auth/public/token"));
/// # }
/// ```
#[derive(Clone)]
pub struct NoyoMock {
    client_id: String,
    client_secret: SharedSecret,
    settings: TokenSettings,
}

impl NoyoMock {
    /// A mock that accepts `client_id` and `client_secret`.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        NoyoMock {
            client_id: client_id.into(),
            client_secret: SharedSecret::new(client_secret.into()),
            settings: TokenSettings::new(Duration::from_secs(600), true),
        }
    }

    /// How long issued tokens live (default 10 minutes, Noyo's): sent as `expires_in` in
    /// milliseconds, put in the JWT's `exp`, and enforced by the mock API.
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.lifetime = lifetime;
        self
    }

    /// Whether access tokens are unsigned JWTs with `iat`/`exp` claims (default) or opaque strings.
    #[must_use]
    pub fn jwt(mut self, jwt: bool) -> Self {
        self.settings.jwt = jwt;
        self
    }

    /// Sends this value as `expires_in` instead of the true lifetime in milliseconds (which still
    /// governs `exp` and the mock API).
    #[must_use]
    pub fn advertised_expires_in(mut self, value: Value) -> Self {
        self.settings.advertised_expires_in = Some(value);
        self
    }
}

impl fmt::Debug for NoyoMock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoyoMock")
            .field("client_id", &self.client_id)
            .field("client_secret", &"** redacted **")
            .field("settings", &self.settings)
            .finish()
    }
}

fn message(status: u16, text: &str) -> ResponseTemplate {
    json_response(status, &json!({ "message": text }))
}

impl Protocol for NoyoMock {
    fn rotate_secret(&self, secret: &str) {
        self.client_secret.set(secret);
    }

    fn name(&self) -> &'static str {
        "noyo"
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
            return Err(message(405, "Method not allowed").insert_header("allow", "POST"));
        }
        let Some((client_id, client_secret)) = basic_credentials(request) else {
            return Err(message(401, "Missing credentials"));
        };
        if client_id != self.client_id || !self.client_secret.is(&client_secret) {
            return Err(self.rejection());
        }
        if !has_media_type(request, "application/json") {
            return Err(message(415, "Content-Type must be application/json"));
        }
        let body: Value = serde_json::from_slice(&request.body)
            .map_err(|_| message(400, "The request body is not valid JSON"))?;
        match body.get("grant_type").and_then(Value::as_str) {
            Some("client_credentials") => Ok(Grant {
                subject: client_id,
                scope: None,
            }),
            Some(_) => Err(message(400, "Unsupported grant_type")),
            None => Err(message(400, "grant_type is required")),
        }
    }

    fn issued(&self, _request: &Request, issued: &Issued, _grant: &Grant) -> ResponseTemplate {
        json_response(
            200,
            &json!({
                "access_token": issued.access_token,
                "expires_in": self.settings.expires_in_millis(),
                "token_type": "Bearer",
            }),
        )
    }

    fn rejection(&self) -> ResponseTemplate {
        message(401, "Invalid credentials")
    }

    fn api_refusal(&self, refusal: Refusal) -> ResponseTemplate {
        message(
            401,
            match refusal {
                Refusal::Missing => "Missing credentials",
                Refusal::Unknown => "Malformed JWT",
                Refusal::Expired => "Expired token",
            },
        )
    }
}
