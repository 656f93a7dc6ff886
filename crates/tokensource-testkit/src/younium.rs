//! Younium's token endpoint, auth v1 and v2.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::protocol::{Grant, Protocol, SharedSecret, has_media_type, json_response};
use crate::tokens::{Issued, Refusal, TokenSettings};

/// The auth v1 token path (camelCase response).
const V1_PATH: &str = "/auth/token";
/// The auth v2 token path (snake_case response).
const V2_PATH: &str = "/auth/v2/token";

/// A mock of Younium's token endpoint, as its "Get started" pages document it.
///
/// The server answers both `POST /auth/token` (auth v1: `accessToken`, `refreshToken`,
/// `expiresIn`, `expires`) and `POST /auth/v2/token` (auth v2: the same in snake_case), like the
/// real hosts. Each checks the request as Younium does:
///
/// - `Content-Type: application/json`, else `415`;
/// - a JSON object body with string `clientId` and `secret`, else `400 {"errors": [...]}`;
/// - the right credentials, else `401 {"errors": ["Invalid client credentials"]}`.
///
/// Tokens are unsigned JWTs with `iat` and `exp` by default (Younium's are JWTs), valid for 24
/// hours unless [`lifetime`](YouniumMock::lifetime) says otherwise. With
/// [`require_legal_entity`](YouniumMock::require_legal_entity), the mock API answers `403` to
/// requests without the right `legal-entity` header, as Younium does.
///
/// ```
/// use std::time::Duration;
/// use tokensource_testkit::{MockServer, YouniumMock};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = MockServer::younium(
///     YouniumMock::new("my-client", "my-secret")
///         .lifetime(Duration::from_secs(3600))
///         .require_legal_entity("Acme AB"),
/// )
/// .start()
/// .await;
/// assert!(server.token_url().ends_with("/auth/token"));
/// # }
/// ```
#[derive(Clone)]
pub struct YouniumMock {
    client_id: String,
    secret: SharedSecret,
    settings: TokenSettings,
    v2: bool,
    legal_entity: Option<String>,
}

impl YouniumMock {
    /// A mock that accepts `client_id` and `secret`.
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        YouniumMock {
            client_id: client_id.into(),
            secret: SharedSecret::new(secret.into()),
            settings: TokenSettings::new(Duration::from_secs(24 * 3600), true),
            v2: false,
            legal_entity: None,
        }
    }

    /// How long issued tokens live (default 24 hours, Younium's): sent as `expiresIn` (seconds)
    /// and `expires`, put in the JWT's `exp`, and enforced by the mock API.
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

    /// Sends this value as `expiresIn`/`expires_in` instead of the true lifetime (which still
    /// governs `exp` and the mock API), for tests of inconsistent or hostile answers.
    #[must_use]
    pub fn advertised_expires_in(mut self, value: Value) -> Self {
        self.settings.advertised_expires_in = Some(value);
        self
    }

    /// Makes [`MockServer::token_url`](crate::MockServer::token_url) point at the auth v2 path
    /// `/auth/v2/token` (both paths are served either way).
    #[must_use]
    pub fn auth_v2(mut self) -> Self {
        self.v2 = true;
        self
    }

    /// Makes the mock API require `legal-entity: <name>` (else `403`, as Younium answers an
    /// invalid or missing legal entity).
    #[must_use]
    pub fn require_legal_entity(mut self, name: impl Into<String>) -> Self {
        self.legal_entity = Some(name.into());
        self
    }
}

impl fmt::Debug for YouniumMock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YouniumMock")
            .field("client_id", &self.client_id)
            .field("secret", &"** redacted **")
            .field("settings", &self.settings)
            .field("v2", &self.v2)
            .field("legal_entity", &self.legal_entity)
            .finish()
    }
}

fn errors(status: u16, message: &str) -> ResponseTemplate {
    json_response(status, &json!({ "errors": [message] }))
}

impl Protocol for YouniumMock {
    fn rotate_secret(&self, secret: &str) {
        self.secret.set(secret);
    }

    fn name(&self) -> &'static str {
        "younium"
    }

    fn token_paths(&self) -> &'static [&'static str] {
        &[V1_PATH, V2_PATH]
    }

    fn token_path(&self) -> &'static str {
        if self.v2 { V2_PATH } else { V1_PATH }
    }

    fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    fn authenticate(&self, request: &Request) -> Result<Grant, ResponseTemplate> {
        if request.method != http::Method::POST {
            return Err(errors(405, "Method not allowed").insert_header("allow", "POST"));
        }
        if !has_media_type(request, "application/json") {
            return Err(errors(415, "Content-Type must be application/json"));
        }
        let body: Value = serde_json::from_slice(&request.body)
            .map_err(|_| errors(400, "The request body is not valid JSON"))?;
        let (Some(client_id), Some(secret)) = (
            body.get("clientId").and_then(Value::as_str),
            body.get("secret").and_then(Value::as_str),
        ) else {
            return Err(errors(400, "The fields clientId and secret are required"));
        };
        if client_id != self.client_id || !self.secret.is(secret) {
            return Err(self.rejection());
        }
        Ok(Grant {
            subject: client_id.to_owned(),
            scope: None,
        })
    }

    fn issued(&self, request: &Request, issued: &Issued, _grant: &Grant) -> ResponseTemplate {
        let expires = httpdate::fmt_http_date(issued.expires_at);
        let expires_in = self.settings.expires_in_seconds();
        let body = if request.url.path() == V2_PATH {
            json!({
                "access_token": issued.access_token,
                "refresh_token": issued.refresh_token,
                "expires_in": expires_in,
                "expires": expires,
            })
        } else {
            json!({
                "expires": expires,
                "expiresIn": expires_in,
                "accessToken": issued.access_token,
                "refreshToken": issued.refresh_token,
            })
        };
        json_response(200, &body)
    }

    fn rejection(&self) -> ResponseTemplate {
        errors(401, "Invalid client credentials")
    }

    fn api_refusal(&self, refusal: Refusal) -> ResponseTemplate {
        let message = match refusal {
            Refusal::Missing => "Missing access token",
            Refusal::Unknown => "Invalid access token",
            Refusal::Expired => "The access token has expired",
        };
        errors(401, message).insert_header("www-authenticate", "Bearer")
    }

    fn api_forbidden(&self, request: &Request) -> Option<ResponseTemplate> {
        let required = self.legal_entity.as_deref()?;
        let sent = request
            .headers
            .get("legal-entity")
            .map(|v| v.as_bytes() == required.as_bytes());
        match sent {
            Some(true) => None,
            Some(false) => Some(errors(403, "Legal entity not found")),
            None => Some(errors(
                403,
                "The legal-entity header is required for this tenant",
            )),
        }
    }
}
