//! [`YouniumTokenSource`] and its builder.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokensource_core::SecretSource;
use tokensource_core::{Error, Token, TokenSource};
use tokensource_http::{HttpOptions, TokenEndpoint, json_error_message, redact};
use url::Url;

use crate::response::{Context, parse_token};
use crate::{PROVIDER, YouniumAuthVersion, YouniumEnvironment};

/// The `legal-entity` request header: which legal entity an API call reads and writes.
pub const LEGAL_ENTITY: HeaderName = HeaderName::from_static("legal-entity");
/// The `api-version` request header: which version of the API answers (Younium's default is 2.1).
pub const API_VERSION: HeaderName = HeaderName::from_static("api-version");

/// Access tokens from Younium's token endpoint (`POST /auth/token` or `POST /auth/v2/token`,
/// with the client id and secret of a Younium API token in a JSON body).
///
/// Every call to [`token`](TokenSource::token) fetches a new token: wrap the source in a
/// [`CachedTokenSource`](tokensource_core::CachedTokenSource) to reuse it for its lifetime (24 hours
/// at Younium). The token's lifetime comes from `expiresIn` (relative, so a skewed local clock does
/// not matter), else from `expires`; the JWT's `exp` claim bounds it too; the refresh token is kept
/// on the [`Token`].
///
/// # Errors
/// - Rejected credentials (HTTP 400, 401, 403): [`ErrorKind::CredentialsRejected`](tokensource_core::ErrorKind::CredentialsRejected)
///   with Younium's message (`{"errors": [...]}` or `{"error": ...}`), the secret redacted from it.
/// - 429, 5xx, connection failures and timeouts: [`ErrorKind::Unavailable`](tokensource_core::ErrorKind::Unavailable)
///   (`Retry-After` honoured by the cache).
/// - A redirect, a body over the size cap or not JSON, a missing or empty access token, one that is
///   not a legal header value, a wrong field type, a negative lifetime:
///   [`ErrorKind::InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) naming the field.
///
/// # Calling the API
/// Send [`api_headers`](YouniumTokenSource::api_headers) (`legal-entity`, `api-version`) with every
/// API request, besides `Authorization: Bearer <token>`. A `403 Forbidden` from the API (not from
/// the token endpoint) usually means the `legal-entity` header is missing, empty or names no legal
/// entity of the tenant — it is required when the tenant has several — or that the API user lacks a
/// permission; a new token will not help.
///
/// ```no_run
/// use tokensource_core::{CachedTokenSource, TokenSource};
/// use tokensource_younium::{YouniumAuthVersion, YouniumEnvironment, YouniumTokenSource};
///
/// # async fn run() -> Result<(), tokensource_core::Error> {
/// let younium = YouniumTokenSource::builder("my-client-id", std::env::var("YOUNIUM_SECRET").unwrap())
///     .environment(YouniumEnvironment::Sandbox)
///     .auth_version(YouniumAuthVersion::V2)
///     .legal_entity("Acme AB")
///     .api_version("2.1")
///     .build()?;
/// let headers = younium.api_headers();
/// assert_eq!(younium.api_base_url().unwrap().as_str(), "https://api.sandbox.younium.com/");
/// let source = CachedTokenSource::new(younium);
/// let token = source.token().await?;
/// # let _ = (headers, token);
/// # Ok(())
/// # }
/// ```
pub struct YouniumTokenSource {
    client_id: String,
    secret: SecretSource,
    endpoint: TokenEndpoint,
    environment: YouniumEnvironment,
    auth_version: YouniumAuthVersion,
    api_base_url: Option<Url>,
    api_headers: HeaderMap,
}

/// Builds a [`YouniumTokenSource`]; see [`YouniumTokenSource::builder`].
///
/// Nothing is checked until [`build`](YouniumBuilder::build), which reports the first wrong setting
/// as a configuration error naming its key.
pub struct YouniumBuilder {
    client_id: String,
    secret: SecretSource,
    environment: YouniumEnvironment,
    auth_version: YouniumAuthVersion,
    token_url: Option<String>,
    api_base_url: Option<String>,
    legal_entity: Option<String>,
    api_version: Option<String>,
    http_options: HttpOptions,
}

impl YouniumTokenSource {
    /// Starts building a source for the API token with `client_id` and `secret` (from Younium's
    /// Privacy & Security → Personal Tokens page). Defaults: production, auth v1.
    ///
    /// The secret may be a [`SecretSource::file`], read again before each token request (see
    /// [`SecretSource`] for the rotation rule).
    pub fn builder(
        client_id: impl Into<String>,
        secret: impl Into<SecretSource>,
    ) -> YouniumBuilder {
        YouniumBuilder {
            client_id: client_id.into(),
            secret: secret.into(),
            environment: YouniumEnvironment::default(),
            auth_version: YouniumAuthVersion::default(),
            token_url: None,
            api_base_url: None,
            legal_entity: None,
            api_version: None,
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

    /// The environment configured (it does not matter to the token request when a custom token
    /// URL is set).
    pub fn environment(&self) -> YouniumEnvironment {
        self.environment
    }

    /// The auth version, which decides the response's casing preference and, without a custom
    /// token URL, the path.
    pub fn auth_version(&self) -> YouniumAuthVersion {
        self.auth_version
    }

    /// The headers every Younium API request needs besides `Authorization`: `legal-entity` and
    /// `api-version`, each when configured (empty otherwise). Validated when the source was built.
    ///
    /// A `403 Forbidden` from the API usually means a missing or wrong `legal-entity` (required
    /// when the tenant has several legal entities) or a missing permission of the API user.
    pub fn api_headers(&self) -> HeaderMap {
        self.api_headers.clone()
    }

    /// The origin of the Younium API the tokens are for (for example `https://api.younium.com/`),
    /// for an allow-list of where tokens may be sent: the one set with
    /// [`YouniumBuilder::api_base_url`], else the environment's — `None` when a custom token URL
    /// replaced the environment and no API base URL was set.
    pub fn api_base_url(&self) -> Option<Url> {
        self.api_base_url.clone()
    }

    /// The secret now (read again from its file, if it is one).
    fn secret(&self) -> Result<SecretString, Error> {
        let secret = self.secret.read_for("secret")?;
        if secret.expose_secret().is_empty() {
            return Err(Error::configuration("secret", "must not be empty"));
        }
        Ok(secret)
    }
}

#[async_trait]
impl TokenSource for YouniumTokenSource {
    async fn token(&self) -> Result<Token, Error> {
        let secret = self.secret()?;
        let redact = |m: String| redact(m, &[secret.expose_secret()]);
        // The secret is borrowed into the body only for serialization.
        let body = serde_json::to_vec(&serde_json::json!({
            "clientId": self.client_id,
            "secret": secret.expose_secret(),
        }))
        .map_err(|e| {
            Error::configuration("secret", "could not be encoded as JSON").with_source(e)
        })?;
        let request = self
            .endpoint
            .post()
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body);
        // Counting the lifetime from before the request keeps it on the safe side.
        let issued_at = SystemTime::now();
        let reply = self.endpoint.send(request).await?;
        let status = reply.status().as_u16();
        let reply = reply.error_for_status(|body| json_error_message(body).map(redact))?;
        parse_token(
            reply.body(),
            &Context {
                status,
                version: self.auth_version,
                issued_at,
                redact: &redact,
            },
        )
    }
}

impl fmt::Debug for YouniumTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YouniumTokenSource")
            .field("client_id", &self.client_id)
            .field("secret", &"** redacted **")
            .field("token_url", &self.endpoint.url().as_str())
            .field("environment", &self.environment)
            .field("auth_version", &self.auth_version)
            .field("api_base_url", &self.api_base_url.as_ref().map(Url::as_str))
            .field("api_headers", &self.api_headers)
            .finish()
    }
}

impl YouniumBuilder {
    /// The environment (default [`YouniumEnvironment::Production`]).
    #[must_use]
    pub fn environment(mut self, environment: YouniumEnvironment) -> Self {
        self.environment = environment;
        self
    }

    /// The auth version (default [`YouniumAuthVersion::V1`]).
    #[must_use]
    pub fn auth_version(mut self, version: YouniumAuthVersion) -> Self {
        self.auth_version = version;
        self
    }

    /// A token endpoint URL that overrides the environment's and the auth version's path (for a
    /// proxy, or a mock server in tests). It must be `https`, or `http` to a loopback host, unless
    /// [`HttpOptions::with_allow_insecure_http`] allows otherwise.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The API origin reported by [`YouniumTokenSource::api_base_url`], when it is not the
    /// environment's (for example behind a proxy or in tests).
    #[must_use]
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base_url = Some(url.into());
        self
    }

    /// The legal entity (id or name) for the `legal-entity` API header; required by Younium when the
    /// tenant has several legal entities.
    #[must_use]
    pub fn legal_entity(mut self, legal_entity: impl Into<String>) -> Self {
        self.legal_entity = Some(legal_entity.into());
        self
    }

    /// The API version for the `api-version` API header (Younium answers with 2.1 when absent).
    #[must_use]
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = Some(api_version.into());
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
    /// A configuration error naming the key: `client_id` or `secret` empty, `token_url` or
    /// `api_base_url` not a URL or insecure, `legal_entity` or `api_version` empty or with a
    /// character a header value cannot carry (CR, LF or another control character).
    pub fn build(self) -> Result<YouniumTokenSource, Error> {
        if self.client_id.trim().is_empty() {
            return Err(Error::configuration("client_id", "must not be empty"));
        }
        // A file is read now, so that a missing one is an error before any request.
        if self.secret.read_for("secret")?.expose_secret().is_empty() {
            return Err(Error::configuration("secret", "must not be empty"));
        }
        let custom_token_url = self.token_url.is_some();
        let token_url = match self.token_url {
            Some(url) => url,
            None => self.environment.token_url(self.auth_version).into(),
        };
        let endpoint = TokenEndpoint::new(PROVIDER, &token_url, self.http_options.clone())?;

        let api_base_url = match self.api_base_url {
            Some(url) => {
                let url = Url::parse(&url).map_err(|e| {
                    Error::configuration("api_base_url", format!("not a valid URL ({e})"))
                })?;
                tokensource_http::check_url(&url, self.http_options.allow_insecure_http())
                    .map_err(|e| e.with_field("api_base_url"))?;
                Some(url)
            }
            None if custom_token_url => None,
            None => Some(self.environment.api_base_url(self.auth_version)),
        };

        let mut api_headers = HeaderMap::new();
        if let Some(value) = &self.legal_entity {
            api_headers.insert(LEGAL_ENTITY, header_value("legal_entity", value)?);
        }
        if let Some(value) = &self.api_version {
            api_headers.insert(API_VERSION, header_value("api_version", value)?);
        }

        Ok(YouniumTokenSource {
            client_id: self.client_id,
            secret: self.secret,
            endpoint,
            environment: self.environment,
            auth_version: self.auth_version,
            api_base_url,
            api_headers,
        })
    }
}

impl fmt::Debug for YouniumBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YouniumBuilder")
            .field("client_id", &self.client_id)
            .field("secret", &"** redacted **")
            .field("environment", &self.environment)
            .field("auth_version", &self.auth_version)
            .field("token_url", &self.token_url)
            .field("api_base_url", &self.api_base_url)
            .field("legal_entity", &self.legal_entity)
            .field("api_version", &self.api_version)
            .field("http_options", &self.http_options)
            .finish()
    }
}

/// A configured value as a header value: non-empty, no control characters (CR and LF above all,
/// which would let a value inject headers). Non-ASCII text is sent as its UTF-8 bytes.
fn header_value(key: &'static str, value: &str) -> Result<HeaderValue, Error> {
    if value.trim().is_empty() {
        return Err(Error::configuration(key, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::configuration(
            key,
            "must not contain control characters such as CR or LF (it is sent as an HTTP header)",
        ));
    }
    HeaderValue::from_bytes(value.trim().as_bytes())
        .map_err(|_| Error::configuration(key, "is not a legal HTTP header value"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokensource_core::ErrorKind;

    fn builder() -> YouniumBuilder {
        YouniumTokenSource::builder("client", "hunter2")
    }

    #[test]
    fn defaults_and_urls() {
        let source = builder().build().unwrap();
        assert_eq!(
            source.token_url().as_str(),
            "https://api.younium.com/auth/token"
        );
        assert_eq!(
            source.api_base_url().unwrap().as_str(),
            "https://api.younium.com/"
        );
        assert!(source.api_headers().is_empty());

        let v2 = builder()
            .environment(YouniumEnvironment::UsSandbox)
            .auth_version(YouniumAuthVersion::V2)
            .build()
            .unwrap();
        assert_eq!(
            v2.token_url().as_str(),
            "https://api.sandbox.us.younium.com/auth/v2/token"
        );
        assert_eq!(
            v2.api_base_url().unwrap().as_str(),
            "https://api.sandbox.us.younium.com/"
        );

        let custom = builder()
            .environment(YouniumEnvironment::Sandbox)
            .auth_version(YouniumAuthVersion::V2)
            .token_url("http://127.0.0.1:9/custom")
            .build()
            .unwrap();
        assert_eq!(custom.token_url().as_str(), "http://127.0.0.1:9/custom");
        assert_eq!(custom.api_base_url(), None);

        let proxied = builder()
            .token_url("http://127.0.0.1:9/auth/token")
            .api_base_url("http://127.0.0.1:9/")
            .build()
            .unwrap();
        assert_eq!(
            proxied.api_base_url().unwrap().as_str(),
            "http://127.0.0.1:9/"
        );
    }

    #[test]
    fn api_headers() {
        let source = builder()
            .legal_entity("Acme Sverige AB")
            .api_version("2.1")
            .build()
            .unwrap();
        let headers = source.api_headers();
        assert_eq!(headers.get("legal-entity").unwrap(), "Acme Sverige AB");
        assert_eq!(headers.get("api-version").unwrap(), "2.1");
        let utf8 = builder().legal_entity("Åkesson AB").build().unwrap();
        assert_eq!(
            utf8.api_headers().get(LEGAL_ENTITY).unwrap().as_bytes(),
            "Åkesson AB".as_bytes()
        );
    }

    #[test]
    fn configuration_errors_name_the_key() {
        let key = |b: YouniumBuilder| {
            let err = b.build().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
            err.field().unwrap_or_default().to_owned()
        };
        assert_eq!(key(YouniumTokenSource::builder(" ", "s")), "client_id");
        assert_eq!(key(YouniumTokenSource::builder("c", "")), "secret");
        assert_eq!(key(builder().token_url("not a url")), "token_url");
        assert_eq!(
            key(builder().token_url("http://example.com/auth/token")),
            "token_url"
        );
        assert_eq!(
            key(builder().api_base_url("http://example.com/")),
            "api_base_url"
        );
        assert_eq!(key(builder().api_base_url("::")), "api_base_url");
        assert_eq!(
            key(builder().legal_entity("Acme\r\nX-Evil: 1")),
            "legal_entity"
        );
        assert_eq!(key(builder().legal_entity("Acme\n")), "legal_entity");
        assert_eq!(key(builder().legal_entity("")), "legal_entity");
        assert_eq!(key(builder().api_version("2.1\0")), "api_version");
        assert_eq!(key(builder().api_version("  ")), "api_version");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let b = builder().legal_entity("Acme");
        assert!(!format!("{b:?}").contains("hunter2"));
        let source = b.build().unwrap();
        let debug = format!("{source:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("client"), "{debug}");
    }
}
