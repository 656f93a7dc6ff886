//! [`NoyoTokenSource`] and its builder.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use tokensource_core::SecretSource;
use tokensource_core::{Error, Token, TokenSource};
use tokensource_http::{HttpOptions, TokenEndpoint, Url, json_error_message, redact};
use zeroize::Zeroizing;

use crate::PROVIDER;
use crate::response::parse_token;

/// Noyo's token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://accounts.noyo.com/auth/public/token";

/// Access tokens from Noyo's token endpoint (`POST https://accounts.noyo.com/auth/public/token`
/// with the API key's `CLIENT_ID` and `CLIENT_SECRET` as HTTP Basic credentials and the JSON body
/// `{"grant_type": "client_credentials"}`).
///
/// Every call to [`token`](TokenSource::token) fetches a new token: wrap the source in a
/// [`CachedTokenSource`](tokensource_core::CachedTokenSource) to reuse it. Noyo's tokens are
/// short-lived (about 10 minutes).
///
/// # Lifetime: milliseconds, and the JWT's `exp`
/// Noyo documents `expires_in` as "the number of milliseconds until the API token expires", and it
/// is read as milliseconds (`600000` is 10 minutes). Noyo's own example answer, though, says
/// `"expires_in": 864000` — 14.4 minutes in milliseconds, or 10 days if it were seconds — which
/// matches neither its "10 minutes" text nor itself. The access token is a JWT, and its `exp`
/// claim is an independent statement of the expiry: the token's lifetime is the **earlier** of the
/// two (the core does this for every JWT), so whichever way `expires_in` is off, the token is
/// refreshed before Noyo stops accepting it.
///
/// # Credentials
/// The `Authorization: Basic` header carries `base64(CLIENT_ID:CLIENT_SECRET)` with the raw pair,
/// exactly as `curl -u CLIENT_ID:CLIENT_SECRET` sends it (not form-urlencoded as RFC 6749 would
/// have it). So the client id must not contain `:`; the secret may.
///
/// # Errors
/// - Rejected credentials (HTTP 400, 401, 403): [`ErrorKind::CredentialsRejected`](tokensource_core::ErrorKind::CredentialsRejected)
///   with Noyo's message (for example `{"message": "..."}`), the secret redacted from it.
/// - 429, 5xx, connection failures and timeouts: [`ErrorKind::Unavailable`](tokensource_core::ErrorKind::Unavailable).
/// - A redirect, a body over the cap or not JSON, a missing or empty `access_token`, one that is not
///   a legal header value, a `token_type` other than Bearer, a negative or non-numeric `expires_in`:
///   [`ErrorKind::InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) naming the field.
///
/// When the Noyo API itself answers `401`, its message says why: `Missing credentials` (no
/// `Authorization: Bearer` header), `Malformed JWT` (the token was altered or truncated), `Expired
/// token` (fetch a new one: call [`invalidate`](TokenSource::invalidate) on the cache).
///
/// ```no_run
/// use tokensource_core::{CachedTokenSource, TokenSource};
/// use tokensource_noyo::NoyoTokenSource;
///
/// # async fn run() -> Result<(), tokensource_core::Error> {
/// let noyo = NoyoTokenSource::builder("CLIENT_ID", std::env::var("NOYO_CLIENT_SECRET").unwrap())
///     .build()?;
/// let source = CachedTokenSource::new(noyo);
/// let token = source.token().await?;
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
pub struct NoyoTokenSource {
    client_id: String,
    client_secret: SecretSource,
    endpoint: TokenEndpoint,
}

/// Builds a [`NoyoTokenSource`]; see [`NoyoTokenSource::builder`].
///
/// Nothing is checked until [`build`](NoyoBuilder::build), which reports the first wrong setting as
/// a configuration error naming its key.
pub struct NoyoBuilder {
    client_id: String,
    client_secret: SecretSource,
    token_url: Option<String>,
    http_options: HttpOptions,
}

impl NoyoTokenSource {
    /// Starts building a source for the API key with `client_id` and `client_secret` (from Noyo's
    /// Command Center).
    ///
    /// The secret may be a [`SecretSource::file`], read again before each token request (see
    /// [`SecretSource`] for the rotation rule).
    pub fn builder(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretSource>,
    ) -> NoyoBuilder {
        NoyoBuilder {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            token_url: None,
            http_options: HttpOptions::default(),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The token endpoint requested.
    pub fn token_url(&self) -> &Url {
        self.endpoint.url()
    }

    /// `Basic base64(id:secret)`, marked sensitive so that `http`'s `Debug` hides it.
    fn authorization(&self, secret: &SecretString) -> Result<HeaderValue, Error> {
        let pair = Zeroizing::new(format!("{}:{}", self.client_id, secret.expose_secret()));
        let value = Zeroizing::new(format!("Basic {}", STANDARD.encode(pair.as_bytes())));
        let mut header = HeaderValue::from_str(&value).map_err(|_| {
            // base64 is always a legal header value; map rather than panic anyway.
            Error::configuration("client_secret", "cannot be sent in an HTTP header")
        })?;
        header.set_sensitive(true);
        Ok(header)
    }

    /// Redacts the secret, and the encoded credentials a server might echo, from server text.
    fn redact(&self, message: String, secret: &SecretString) -> String {
        let secret = secret.expose_secret();
        let encoded = Zeroizing::new(STANDARD.encode(format!("{}:{secret}", self.client_id)));
        redact(message, &[secret, encoded.as_str()])
    }
}

#[async_trait]
impl TokenSource for NoyoTokenSource {
    async fn token(&self) -> Result<Token, Error> {
        let secret = self.client_secret.read_for("client_secret")?;
        let request = self
            .endpoint
            .post()
            .header(AUTHORIZATION, self.authorization(&secret)?)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(r#"{"grant_type":"client_credentials"}"#);
        // Counting the lifetime from before the request keeps it on the safe side.
        let issued_at = SystemTime::now();
        let reply = self.endpoint.send(request).await?;
        let status = reply.status().as_u16();
        let reply = reply
            .error_for_status(|body| json_error_message(body).map(|m| self.redact(m, &secret)))?;
        parse_token(reply.body(), status, issued_at, |m| self.redact(m, &secret))
    }
}

impl fmt::Debug for NoyoTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoyoTokenSource")
            .field("client_id", &self.client_id)
            .field("client_secret", &"** redacted **")
            .field("token_url", &self.endpoint.url().as_str())
            .finish()
    }
}

impl NoyoBuilder {
    /// A token endpoint URL other than [`DEFAULT_TOKEN_URL`] (for a proxy, or a mock server in
    /// tests). It must be `https`, or `http` to a loopback host, unless
    /// [`HttpOptions::with_allow_insecure_http`] allows otherwise.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// Timeouts, body cap and the plain-http rule for the token endpoint.
    #[must_use]
    pub fn http_options(mut self, options: HttpOptions) -> Self {
        self.http_options = options;
        self
    }

    /// Checks the settings and builds the source. No request is made.
    ///
    /// # Errors
    /// A configuration error naming the key: `client_id` empty or containing `:` (HTTP Basic
    /// splits at the first colon), `client_secret` empty, `token_url` not a URL or insecure.
    pub fn build(self) -> Result<NoyoTokenSource, Error> {
        if self.client_id.trim().is_empty() {
            return Err(Error::configuration("client_id", "must not be empty"));
        }
        if self.client_id.contains(':') {
            return Err(Error::configuration(
                "client_id",
                "must not contain ':' (HTTP Basic authentication splits the user name at the first colon)",
            ));
        }
        // A file is read now, so that a missing one is an error before any request.
        if self
            .client_secret
            .read_for("client_secret")?
            .expose_secret()
            .is_empty()
        {
            return Err(Error::configuration("client_secret", "must not be empty"));
        }
        let url = self.token_url.as_deref().unwrap_or(DEFAULT_TOKEN_URL);
        let endpoint = TokenEndpoint::new(PROVIDER, url, self.http_options)?;
        Ok(NoyoTokenSource {
            client_id: self.client_id,
            client_secret: self.client_secret,
            endpoint,
        })
    }
}

impl fmt::Debug for NoyoBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoyoBuilder")
            .field("client_id", &self.client_id)
            .field("client_secret", &"** redacted **")
            .field("token_url", &self.token_url)
            .field("http_options", &self.http_options)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokensource_core::ErrorKind;

    #[test]
    fn defaults() {
        let source = NoyoTokenSource::builder("id", "hunter2").build().unwrap();
        assert_eq!(source.token_url().as_str(), DEFAULT_TOKEN_URL);
        assert_eq!(source.client_id(), "id");
        let header = source
            .authorization(&SecretString::from("hunter2"))
            .unwrap();
        assert!(header.is_sensitive());
        // base64("id:hunter2")
        assert_eq!(header.to_str().unwrap(), "Basic aWQ6aHVudGVyMg==");
    }

    #[test]
    fn configuration_errors_name_the_key() {
        let key = |b: NoyoBuilder| {
            let err = b.build().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
            err.field().unwrap_or_default().to_owned()
        };
        assert_eq!(key(NoyoTokenSource::builder("", "s")), "client_id");
        assert_eq!(key(NoyoTokenSource::builder("a:b", "s")), "client_id");
        assert_eq!(key(NoyoTokenSource::builder("id", "")), "client_secret");
        assert_eq!(
            key(NoyoTokenSource::builder("id", "s").token_url("nope")),
            "token_url"
        );
        assert_eq!(
            key(NoyoTokenSource::builder("id", "s").token_url("http://accounts.noyo.com/x")),
            "token_url"
        );
    }

    #[test]
    fn debug_and_redaction() {
        let builder = NoyoTokenSource::builder("id", "hunter2");
        assert!(!format!("{builder:?}").contains("hunter2"));
        let source = builder.build().unwrap();
        assert!(!format!("{source:?}").contains("hunter2"));
        assert_eq!(
            source.redact(
                "echo hunter2 aWQ6aHVudGVyMg==".into(),
                &SecretString::from("hunter2")
            ),
            "echo *** ***"
        );
    }
}
