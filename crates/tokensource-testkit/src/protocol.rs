//! What each mocked provider implements: how it checks a token request and how it answers.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use wiremock::{Request, ResponseTemplate};

use crate::tokens::{Issued, Refusal, TokenSettings};

/// Who a successful token request was for.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// The client id, recorded as the token's subject.
    pub(crate) subject: String,
    /// The scope the client asked for (OAuth2), echoed in the response.
    pub(crate) scope: Option<String>,
}

/// One provider's protocol, as its documentation describes it.
pub(crate) trait Protocol: Send + Sync + fmt::Debug + 'static {
    /// The provider's name, used in tokens and messages.
    fn name(&self) -> &'static str;

    /// Every path served as a token endpoint.
    fn token_paths(&self) -> &'static [&'static str];

    /// The path [`MockServer::token_url`](crate::MockServer::token_url) points at.
    fn token_path(&self) -> &'static str;

    /// How tokens are issued.
    fn settings(&self) -> &TokenSettings;

    /// Checks a token request as the real service would.
    // The error is the response to send; boxing it would buy nothing on this cold path.
    #[allow(clippy::result_large_err)]
    fn authenticate(&self, request: &Request) -> Result<Grant, ResponseTemplate>;

    /// The success response carrying a token just issued.
    fn issued(&self, request: &Request, issued: &Issued, grant: &Grant) -> ResponseTemplate;

    /// The documented answer to bad credentials.
    fn rejection(&self) -> ResponseTemplate;

    /// The API's answer to a refused bearer token.
    fn api_refusal(&self, refusal: Refusal) -> ResponseTemplate;

    /// The secret the token endpoint accepts from now on.
    fn rotate_secret(&self, secret: &str);

    /// Further checks of an API request that carries a valid token; `Some` answer refuses it.
    fn api_forbidden(&self, _request: &Request) -> Option<ResponseTemplate> {
        None
    }
}

/// A client secret the mock accepts, which a test may rotate while the server runs.
#[derive(Clone)]
pub(crate) struct SharedSecret(Arc<RwLock<String>>);

impl SharedSecret {
    pub(crate) fn new(secret: String) -> Self {
        SharedSecret(Arc::new(RwLock::new(secret)))
    }

    /// Whether `given` is the secret now.
    pub(crate) fn is(&self, given: &str) -> bool {
        *self.0.read().unwrap_or_else(PoisonError::into_inner) == given
    }

    pub(crate) fn set(&self, secret: &str) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = secret.to_owned();
    }
}

/// A JSON response with `Content-Type: application/json`.
pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

/// Whether the request's `Content-Type` media type is `expected` (parameters such as `charset`
/// are allowed, case is ignored).
pub(crate) fn has_media_type(request: &Request, expected: &str) -> bool {
    request
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected))
}

/// The credentials of an `Authorization: Basic` header, decoded from base64 and split at the
/// first colon, but not otherwise decoded. `None` when there is no such header or it is malformed.
pub(crate) fn basic_credentials(request: &Request) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = request
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The bearer token of the request, or why there is none.
pub(crate) fn bearer_token(request: &Request) -> Result<&str, Refusal> {
    let value = request
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(Refusal::Missing)?
        .to_str()
        .map_err(|_| Refusal::Unknown)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token)
        }
        _ => Err(Refusal::Unknown),
    }
}
