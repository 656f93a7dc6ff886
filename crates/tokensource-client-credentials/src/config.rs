//! How the client authenticates, and the builder that checks a configuration before any request.

use std::fmt;
use std::str::FromStr;

use secrecy::ExposeSecret;
use tokensource_core::{Error, SecretSource};
use tokensource_http::{HttpOptions, TokenEndpoint};

use crate::PROVIDER;
use crate::assertion::{AssertionSigner, SigningAlgorithm};
use crate::source::ClientCredentialsTokenSource;

/// How the client authenticates to the token endpoint.
///
/// Parses from the configuration values `basic`, `request-body`, `private-key-jwt`,
/// `client-secret-jwt`, `client-assertion` and `tls-client-auth` (also the OAuth2 metadata
/// names `client_secret_basic`, `client_secret_post`, `private_key_jwt`, `client_secret_jwt`,
/// `tls_client_auth`).
///
/// ```
/// use tokensource_client_credentials::AuthStyle;
///
/// assert_eq!("basic".parse::<AuthStyle>()?, AuthStyle::Basic);
/// assert_eq!("request-body".parse::<AuthStyle>()?, AuthStyle::RequestBody);
/// assert_eq!("private_key_jwt".parse::<AuthStyle>()?, AuthStyle::PrivateKeyJwt);
/// assert_eq!(AuthStyle::default(), AuthStyle::Basic);
/// assert!("digest".parse::<AuthStyle>().is_err());
/// # Ok::<(), tokensource_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AuthStyle {
    /// HTTP Basic authentication (`client_secret_basic`), the default: the client id and the secret
    /// are each `application/x-www-form-urlencoded`, joined with `:` and Base64-encoded, as RFC 6749
    /// section 2.3.1 requires. A secret holding `:`, `+`, `%`, `&` or a space reaches a strict
    /// server intact.
    #[default]
    Basic,
    /// `client_id` and `client_secret` as form parameters in the request body
    /// (`client_secret_post`), for servers that do not accept Basic authentication.
    RequestBody,
    /// A JWT client assertion signed with the client's private key (`private_key_jwt`, RFC 7523
    /// section 2.2, OpenID Connect Core section 9); no shared secret.
    PrivateKeyJwt,
    /// A JWT client assertion signed HS256 with the client secret (`client_secret_jwt`); the
    /// secret itself never travels.
    ClientSecretJwt,
    /// A ready client assertion, such as a platform-issued JWT (a Kubernetes projected
    /// service-account token), read before every fetch.
    ClientAssertion,
    /// TLS client authentication (`tls_client_auth`, RFC 8705 section 2.1): `client_id` in the
    /// body, the identity from the transport's client certificate.
    TlsClientAuth,
}

impl AuthStyle {
    /// The configuration value: `basic`, `request-body`, `private-key-jwt`, `client-secret-jwt`,
    /// `client-assertion` or `tls-client-auth`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStyle::Basic => "basic",
            AuthStyle::RequestBody => "request-body",
            AuthStyle::PrivateKeyJwt => "private-key-jwt",
            AuthStyle::ClientSecretJwt => "client-secret-jwt",
            AuthStyle::ClientAssertion => "client-assertion",
            AuthStyle::TlsClientAuth => "tls-client-auth",
        }
    }
}

impl fmt::Display for AuthStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthStyle {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "basic" | "client-secret-basic" => Ok(AuthStyle::Basic),
            "request-body" | "client-secret-post" => Ok(AuthStyle::RequestBody),
            "private-key-jwt" => Ok(AuthStyle::PrivateKeyJwt),
            "client-secret-jwt" => Ok(AuthStyle::ClientSecretJwt),
            "client-assertion" => Ok(AuthStyle::ClientAssertion),
            "tls-client-auth" => Ok(AuthStyle::TlsClientAuth),
            _ => Err(Error::configuration(
                "auth_style",
                "must be basic, request-body, private-key-jwt, client-secret-jwt, client-assertion or tls-client-auth",
            )),
        }
    }
}

/// Parameters that the grant or the client authentication writes itself; an extra parameter
/// must not repeat them.
const MANAGED_PARAMS: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];

/// What the assertion styles also write.
const ASSERTION_PARAMS: [&str; 2] = ["client_assertion", "client_assertion_type"];

/// Builds a [`ClientCredentialsTokenSource`]; start with
/// [`ClientCredentialsTokenSource::builder`] (a client secret) or
/// [`ClientCredentialsBuilder::new`] (then a private key, a client assertion, or a TLS client
/// certificate).
///
/// Nothing is checked until [`build`](Self::build), which reports the first bad setting as a
/// [`Configuration`](tokensource_core::ErrorKind::Configuration) error naming it.
///
/// ```no_run
/// use tokensource_client_credentials::ClientCredentialsBuilder;
/// use tokensource_core::SecretSource;
///
/// # fn run() -> Result<(), tokensource_core::Error> {
/// // private_key_jwt: no shared secret; the key file is read again before each fetch.
/// let source = ClientCredentialsBuilder::new("https://auth.example.com/oauth2/token", "my-client")
///     .private_key(SecretSource::file("keys/client.pem"))
///     .key_id("2026-11")
///     .audience("https://api.example.com")
///     .build()?;
///
/// // A platform-issued JWT (a projected service-account token) as the client assertion.
/// let workload = ClientCredentialsBuilder::new("https://auth.example.com/oauth2/token", "my-workload")
///     .client_assertion(SecretSource::file("/var/run/secrets/tokens/token"))
///     .build()?;
/// # let _ = (source, workload);
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct ClientCredentialsBuilder {
    token_url: String,
    client_id: String,
    client_secret: Option<SecretSource>,
    private_key: Option<SecretSource>,
    key_id: Option<String>,
    signing_alg: Option<SigningAlgorithm>,
    client_assertion: Option<SecretSource>,
    assertion_audience: Option<String>,
    audience: Option<String>,
    resources: Vec<String>,
    scopes: Vec<String>,
    extra_params: Vec<(String, String)>,
    auth_style: Option<AuthStyle>,
    http_options: HttpOptions,
}

impl ClientCredentialsBuilder {
    /// A builder for `client_id` at `token_url`, with no client authentication yet: set a
    /// [`client_secret`](Self::client_secret), a [`private_key`](Self::private_key), a
    /// [`client_assertion`](Self::client_assertion), or
    /// [`AuthStyle::TlsClientAuth`] with a client certificate in the
    /// [`HttpOptions`].
    pub fn new(token_url: impl Into<String>, client_id: impl Into<String>) -> Self {
        ClientCredentialsBuilder {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: None,
            private_key: None,
            key_id: None,
            signing_alg: None,
            client_assertion: None,
            assertion_audience: None,
            audience: None,
            resources: Vec::new(),
            scopes: Vec::new(),
            extra_params: Vec::new(),
            auth_style: None,
            http_options: HttpOptions::default(),
        }
    }

    /// The client secret, for [`AuthStyle::Basic`] (the default with a secret),
    /// [`AuthStyle::RequestBody`] or [`AuthStyle::ClientSecretJwt`]. A
    /// [`SecretSource::file`] is read again before each fetch.
    pub fn client_secret(mut self, secret: impl Into<SecretSource>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// The PEM private key for [`AuthStyle::PrivateKeyJwt`] (the default with a key): RSA
    /// (PKCS#8 or PKCS#1) or EC P-256 (PKCS#8 or SEC1). A [`SecretSource::file`] is read again
    /// before each fetch.
    pub fn private_key(mut self, pem: impl Into<SecretSource>) -> Self {
        self.private_key = Some(pem.into());
        self
    }

    /// The JWS `kid` of signed assertions (the key's id in the client's registered JWKS).
    pub fn key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    /// The algorithm private-key assertions are signed with: RS256 (the default for RSA keys),
    /// PS256 or ES256 (the default for EC keys).
    pub fn signing_alg(mut self, algorithm: SigningAlgorithm) -> Self {
        self.signing_alg = Some(algorithm);
        self
    }

    /// A ready client assertion for [`AuthStyle::ClientAssertion`] (the default with an
    /// assertion), such as `SecretSource::file("/var/run/secrets/tokens/token")`: read before
    /// every fetch, one trailing newline removed.
    pub fn client_assertion(mut self, assertion: impl Into<SecretSource>) -> Self {
        self.client_assertion = Some(assertion.into());
        self
    }

    /// The `aud` of signed assertions (default: the token URL). Servers that accept only their
    /// issuer identifier need it.
    pub fn assertion_audience(mut self, audience: impl Into<String>) -> Self {
        self.assertion_audience = Some(audience.into());
        self
    }

    /// The `audience` form parameter: which API the token is for (Auth0, Okta and others).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Adds an RFC 8707 `resource` parameter (an absolute URI without a fragment); may be called
    /// repeatedly, each is sent.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// The scopes to request, sent space-separated as the `scope` parameter (none by default,
    /// and then no `scope` parameter is sent). Replaces scopes set before.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a form parameter to the token request. May be called repeatedly, also with the same
    /// name. (`audience` and `resource` have their own settings, which say what they are.)
    pub fn extra_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_params.push((name.into(), value.into()));
        self
    }

    /// How the client authenticates. Without it: [`AuthStyle::PrivateKeyJwt`] with a private
    /// key, [`AuthStyle::ClientAssertion`] with an assertion, else [`AuthStyle::Basic`].
    pub fn auth_style(mut self, style: AuthStyle) -> Self {
        self.auth_style = Some(style);
        self
    }

    /// The HTTP settings: timeouts, body cap, plain http for non-loopback hosts, the transport
    /// (proxy, extra roots, the client certificate [`AuthStyle::TlsClientAuth`] needs).
    pub fn http_options(mut self, options: HttpOptions) -> Self {
        self.http_options = options;
        self
    }

    /// The authentication style in force: the one set, else the one the credential implies.
    fn style(&self) -> AuthStyle {
        self.auth_style.unwrap_or(if self.private_key.is_some() {
            AuthStyle::PrivateKeyJwt
        } else if self.client_assertion.is_some() {
            AuthStyle::ClientAssertion
        } else {
            AuthStyle::Basic
        })
    }

    /// Checks the configuration and builds the source. No request is made; secret, key and
    /// assertion files are read once (a missing one is an error now).
    ///
    /// Fails with a configuration error naming the setting when the token URL does not parse,
    /// is plain `http` to a non-loopback host (unless allowed by the [`HttpOptions`]) or carries
    /// credentials; when the client id, secret or assertion is empty or holds a control
    /// character; when the credential does not fit the [`AuthStyle`] (a `private-key-jwt`
    /// without a key, a key with `basic`, `tls-client-auth` without a client certificate); when
    /// the key is not a usable RSA or EC P-256 PEM key or does not fit `signing_alg`; when a
    /// scope is not an RFC 6749 `scope-token`, a `resource` is not an absolute URI without a
    /// fragment, or an extra parameter has no name or repeats one the request writes itself.
    pub fn build(self) -> Result<ClientCredentialsTokenSource, Error> {
        let style = self.style();
        check_credential("client_id", &self.client_id)?;
        let needs = |field: &'static str, what: &str| {
            Error::configuration(
                field,
                format!("is required with auth_style = \"{style}\" ({what})"),
            )
        };
        let unused = |field: &'static str, present: bool| {
            if present {
                Err(Error::configuration(
                    field,
                    format!("is not used with auth_style = \"{style}\""),
                ))
            } else {
                Ok(())
            }
        };
        let secret_styles = matches!(
            style,
            AuthStyle::Basic | AuthStyle::RequestBody | AuthStyle::ClientSecretJwt
        );
        unused(
            "client_secret",
            !secret_styles && self.client_secret.is_some(),
        )?;
        unused(
            "private_key",
            style != AuthStyle::PrivateKeyJwt && self.private_key.is_some(),
        )?;
        unused(
            "client_assertion",
            style != AuthStyle::ClientAssertion && self.client_assertion.is_some(),
        )?;
        let signs = matches!(style, AuthStyle::PrivateKeyJwt | AuthStyle::ClientSecretJwt);
        unused(
            "key_id",
            style != AuthStyle::PrivateKeyJwt && self.key_id.is_some(),
        )?;
        unused(
            "signing_alg",
            style != AuthStyle::PrivateKeyJwt
                && self
                    .signing_alg
                    .is_some_and(|alg| !(signs && alg == SigningAlgorithm::Hs256)),
        )?;
        unused(
            "assertion_audience",
            !signs && self.assertion_audience.is_some(),
        )?;

        let credential = match style {
            AuthStyle::Basic | AuthStyle::RequestBody | AuthStyle::ClientSecretJwt => {
                let secret = self
                    .client_secret
                    .ok_or_else(|| needs("client_secret", "the client's shared secret"))?;
                // A file is read now, so that a missing one is an error before any request.
                check_credential(
                    "client_secret",
                    secret.read_for("client_secret")?.expose_secret(),
                )?;
                if style == AuthStyle::ClientSecretJwt {
                    Credential::Signed(AssertionSigner::client_secret(secret)?)
                } else {
                    Credential::Secret(secret)
                }
            }
            AuthStyle::PrivateKeyJwt => {
                let key = self
                    .private_key
                    .ok_or_else(|| needs("private_key", "a PEM private key"))?;
                let mut signer = AssertionSigner::private_key(key, self.signing_alg)?;
                if let Some(key_id) = self.key_id {
                    check_credential("key_id", &key_id)?;
                    signer = signer.with_key_id(key_id);
                }
                Credential::Signed(signer)
            }
            AuthStyle::ClientAssertion => {
                let assertion = self
                    .client_assertion
                    .ok_or_else(|| needs("client_assertion", "a JWT, usually a file"))?;
                check_credential(
                    "client_assertion",
                    assertion.read_for("client_assertion")?.expose_secret(),
                )?;
                Credential::Assertion(assertion)
            }
            AuthStyle::TlsClientAuth => {
                if !self.http_options.has_client_identity() {
                    return Err(needs(
                        "client_cert_file",
                        "the client certificate the server identifies the client by, with client_key_file",
                    ));
                }
                Credential::TlsCertificate
            }
        };
        for scope in &self.scopes {
            check_scope(scope)?;
        }
        if let Some(audience) = &self.audience {
            check_credential("audience", audience)?;
        }
        for resource in &self.resources {
            check_resource(resource)?;
        }
        let writes_assertion = matches!(
            style,
            AuthStyle::PrivateKeyJwt | AuthStyle::ClientSecretJwt | AuthStyle::ClientAssertion
        );
        for (name, _) in &self.extra_params {
            check_extra_param(name)?;
            if writes_assertion && ASSERTION_PARAMS.contains(&name.as_str()) {
                return Err(Error::configuration(
                    "extra_params",
                    format!("{name:?} is written by auth_style = \"{style}\" itself"),
                ));
            }
            if name == "audience" && self.audience.is_some() {
                return Err(Error::configuration(
                    "audience",
                    "is set twice: as audience and as an extra parameter",
                ));
            }
        }
        let endpoint = TokenEndpoint::new(PROVIDER, &self.token_url, self.http_options)?;
        // oauth2 turns the URL into an `http::Uri`; refuse here what it would refuse per request.
        if http::Uri::try_from(endpoint.url().as_str()).is_err() {
            return Err(Error::configuration(
                "token_url",
                "is not a URL that an HTTP request can be sent to",
            ));
        }
        let assertion_audience = self
            .assertion_audience
            .unwrap_or_else(|| endpoint.url().as_str().to_owned());
        let mut params = self.extra_params;
        if let Some(audience) = self.audience {
            params.push(("audience".to_owned(), audience));
        }
        for resource in self.resources {
            params.push(("resource".to_owned(), resource));
        }
        Ok(ClientCredentialsTokenSource::new(Settings {
            endpoint,
            client_id: self.client_id,
            credential,
            style,
            assertion_audience,
            scopes: self.scopes,
            params,
        }))
    }
}

impl fmt::Debug for ClientCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |present: bool| if present { "** redacted **" } else { "none" };
        f.debug_struct("ClientCredentialsBuilder")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(self.client_secret.is_some()))
            .field("private_key", &redacted(self.private_key.is_some()))
            .field(
                "client_assertion",
                &redacted(self.client_assertion.is_some()),
            )
            .field("key_id", &self.key_id)
            .field("signing_alg", &self.signing_alg)
            .field("assertion_audience", &self.assertion_audience)
            .field("audience", &self.audience)
            .field("resources", &self.resources)
            .field("scopes", &self.scopes)
            .field("extra_params", &ParamNames(&self.extra_params))
            .field("auth_style", &self.style())
            .field("http_options", &self.http_options)
            .finish()
    }
}

/// What the client proves itself with, checked by the builder.
#[derive(Clone)]
pub(crate) enum Credential {
    /// A client secret sent as is (Basic or in the body).
    Secret(SecretSource),
    /// A JWT assertion signed for each request (private key or client secret).
    Signed(AssertionSigner),
    /// A ready assertion, read for each request.
    Assertion(SecretSource),
    /// The TLS client certificate of the transport.
    TlsCertificate,
}

/// Everything a built source holds.
pub(crate) struct Settings {
    pub(crate) endpoint: TokenEndpoint,
    pub(crate) client_id: String,
    pub(crate) credential: Credential,
    pub(crate) style: AuthStyle,
    pub(crate) assertion_audience: String,
    pub(crate) scopes: Vec<String>,
    /// Extra parameters, `audience` and `resource` included.
    pub(crate) params: Vec<(String, String)>,
}

/// Shows the names of extra parameters only: a value may be sensitive (an assertion, say).
pub(crate) struct ParamNames<'a>(pub(crate) &'a [(String, String)]);

impl fmt::Debug for ParamNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

pub(crate) fn check_credential(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::configuration(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::configuration(
            field,
            "must not contain control characters (a trailing newline from a file, for example)",
        ));
    }
    Ok(())
}

/// RFC 6749 section 3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn check_scope(scope: &str) -> Result<(), Error> {
    let legal = |b: u8| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b);
    if scope.is_empty() || !scope.bytes().all(legal) {
        return Err(Error::configuration(
            "scopes",
            "each scope must be a non-empty RFC 6749 scope-token: visible ASCII without spaces, '\"' or '\\'",
        ));
    }
    Ok(())
}

/// RFC 8707 section 2: an absolute URI without a fragment.
fn check_resource(resource: &str) -> Result<(), Error> {
    match url::Url::parse(resource) {
        Ok(url) if url.fragment().is_none() => Ok(()),
        _ => Err(Error::configuration(
            "resource",
            "each resource must be an absolute URI without a fragment (RFC 8707)",
        )),
    }
}

fn check_extra_param(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::configuration(
            "extra_params",
            "a parameter name must not be empty",
        ));
    }
    if MANAGED_PARAMS.contains(&name) {
        return Err(Error::configuration(
            "extra_params",
            format!("{name:?} is written by the token request itself; use the dedicated setting"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokensource_core::ErrorKind;

    fn builder() -> ClientCredentialsBuilder {
        ClientCredentialsTokenSource::builder("https://auth.example.com/oauth/v2/token", "id", "pw")
    }

    fn field_of(result: Result<ClientCredentialsTokenSource, Error>) -> String {
        let error = result.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{error}");
        error.provider().to_owned()
    }

    #[test]
    fn builds_a_valid_configuration() {
        let source = builder()
            .scopes(["read", "write:all", "https://api.example.com/.default"])
            .extra_param("audience", "https://api.example.com")
            .auth_style(AuthStyle::RequestBody)
            .build()
            .unwrap();
        let debug = format!("{source:?}");
        assert!(
            debug.contains("RequestBody") && debug.contains("audience"),
            "{debug}"
        );
    }

    #[test]
    fn rejects_bad_settings_naming_the_key() {
        let b = |id: &str, secret: &str| {
            ClientCredentialsTokenSource::builder("https://a.example/token", id, secret)
        };
        assert_eq!(field_of(b("", "pw").build()), "client_id");
        assert_eq!(field_of(b("id", "").build()), "client_secret");
        assert_eq!(field_of(b("id", "pw\n").build()), "client_secret");
        assert_eq!(field_of(builder().scopes(["a b"]).build()), "scopes");
        assert_eq!(field_of(builder().scopes([""]).build()), "scopes");
        assert_eq!(field_of(builder().scopes(["quo\"te"]).build()), "scopes");
        assert_eq!(
            field_of(builder().extra_param("", "x").build()),
            "extra_params"
        );
        assert_eq!(
            field_of(builder().extra_param("client_secret", "x").build()),
            "extra_params"
        );
        assert_eq!(
            field_of(
                ClientCredentialsTokenSource::builder("http://auth.example.com/t", "id", "pw")
                    .build()
            ),
            "token_url"
        );
        assert_eq!(
            field_of(
                ClientCredentialsTokenSource::builder("https://u:p@auth.example.com/t", "id", "pw")
                    .build()
            ),
            "token_url"
        );
        assert!(
            ClientCredentialsTokenSource::builder("http://auth.example.com/t", "id", "pw")
                .http_options(HttpOptions::default().with_allow_insecure_http(true))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn auth_style_names() {
        for style in [AuthStyle::Basic, AuthStyle::RequestBody] {
            assert_eq!(style.to_string().parse::<AuthStyle>().unwrap(), style);
        }
        assert_eq!(
            "client_secret_post".parse::<AuthStyle>().unwrap(),
            AuthStyle::RequestBody
        );
        let error = "bearer".parse::<AuthStyle>().unwrap_err();
        assert_eq!(error.field(), Some("auth_style"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let b =
            ClientCredentialsTokenSource::builder("https://a.example/t", "id", "hunter2-secret")
                .extra_param("client_assertion_hint", "sensitive-value");
        let debug = format!("{b:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("sensitive-value"), "{debug}");
        let debug = format!("{:?}", b.build().unwrap());
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("sensitive-value"), "{debug}");
    }
}
