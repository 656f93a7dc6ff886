//! How the client authenticates, and the builder that checks a configuration before any request.

use std::fmt;
use std::str::FromStr;

use secrecy::ExposeSecret;
use tokensource_core::{Error, SecretSource};
use tokensource_http::{HttpOptions, TokenEndpoint};

use crate::PROVIDER;
use crate::source::ClientCredentialsTokenSource;

/// How the client id and secret travel to the token endpoint (RFC 6749 section 2.3.1).
///
/// Parses from the configuration values `basic` and `request-body` (also `client_secret_basic`
/// and `client_secret_post`, the OAuth2 metadata names).
///
/// ```
/// use tokensource_client_credentials::AuthStyle;
///
/// assert_eq!("basic".parse::<AuthStyle>()?, AuthStyle::Basic);
/// assert_eq!("request-body".parse::<AuthStyle>()?, AuthStyle::RequestBody);
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
}

impl AuthStyle {
    /// The configuration value: `basic` or `request-body`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStyle::Basic => "basic",
            AuthStyle::RequestBody => "request-body",
        }
    }

    pub(crate) fn to_oauth2(self) -> oauth2::AuthType {
        match self {
            AuthStyle::Basic => oauth2::AuthType::BasicAuth,
            AuthStyle::RequestBody => oauth2::AuthType::RequestBody,
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
        match value.trim().to_ascii_lowercase().as_str() {
            "basic" | "client_secret_basic" => Ok(AuthStyle::Basic),
            "request-body" | "request_body" | "client_secret_post" => Ok(AuthStyle::RequestBody),
            _ => Err(Error::configuration(
                "auth_style",
                "must be \"basic\" or \"request-body\"",
            )),
        }
    }
}

/// Parameters that oauth2 writes itself; an extra parameter must not repeat them.
const MANAGED_PARAMS: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];

/// Builds a [`ClientCredentialsTokenSource`]; see [`ClientCredentialsTokenSource::builder`].
///
/// Nothing is checked until [`build`](Self::build), which reports the first bad setting as a
/// [`Configuration`](tokensource_core::ErrorKind::Configuration) error naming it.
#[must_use = "a builder does nothing until build() is called"]
pub struct ClientCredentialsBuilder {
    token_url: String,
    client_id: String,
    client_secret: SecretSource,
    scopes: Vec<String>,
    extra_params: Vec<(String, String)>,
    auth_style: AuthStyle,
    http_options: HttpOptions,
}

impl ClientCredentialsBuilder {
    pub(crate) fn new(token_url: String, client_id: String, client_secret: SecretSource) -> Self {
        ClientCredentialsBuilder {
            token_url,
            client_id,
            client_secret,
            scopes: Vec::new(),
            extra_params: Vec::new(),
            auth_style: AuthStyle::default(),
            http_options: HttpOptions::default(),
        }
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

    /// Adds a form parameter to the token request, such as `audience` or `resource`
    /// (RFC 8707). May be called repeatedly, also with the same name.
    pub fn extra_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_params.push((name.into(), value.into()));
        self
    }

    /// How the client authenticates (default [`AuthStyle::Basic`]).
    pub fn auth_style(mut self, style: AuthStyle) -> Self {
        self.auth_style = style;
        self
    }

    /// The HTTP settings: timeouts, body cap, plain http for non-loopback hosts.
    pub fn http_options(mut self, options: HttpOptions) -> Self {
        self.http_options = options;
        self
    }

    /// Checks the configuration and builds the source. No request is made.
    ///
    /// Fails with a configuration error when the token URL does not parse, is plain `http` to a
    /// non-loopback host (unless allowed by the [`HttpOptions`]) or carries credentials; when the
    /// client id or secret is empty or holds a control character (a trailing newline from a
    /// secret file, say); when a scope is not an RFC 6749 `scope-token`; or when an extra
    /// parameter has no name or repeats one that the grant writes itself (`grant_type`, `scope`,
    /// `client_id`, `client_secret`).
    pub fn build(self) -> Result<ClientCredentialsTokenSource, Error> {
        check_credential("client_id", &self.client_id)?;
        // A file is read now, so that a missing one is an error before any request.
        check_credential(
            "client_secret",
            self.client_secret
                .read_for("client_secret")?
                .expose_secret(),
        )?;
        for scope in &self.scopes {
            check_scope(scope)?;
        }
        for (name, _) in &self.extra_params {
            check_extra_param(name)?;
        }
        let endpoint = TokenEndpoint::new(PROVIDER, &self.token_url, self.http_options)?;
        // oauth2 turns the URL into an `http::Uri`; refuse here what it would refuse per request.
        if http::Uri::try_from(endpoint.url().as_str()).is_err() {
            return Err(Error::configuration(
                "token_url",
                "is not a URL that an HTTP request can be sent to",
            ));
        }
        let token_url = oauth2::TokenUrl::from_url(endpoint.url().clone());
        Ok(ClientCredentialsTokenSource::new(
            endpoint,
            token_url,
            self.client_id,
            self.client_secret,
            self.scopes,
            self.extra_params,
            self.auth_style,
        ))
    }
}

impl fmt::Debug for ClientCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsBuilder")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"** redacted **")
            .field("scopes", &self.scopes)
            .field("extra_params", &ParamNames(&self.extra_params))
            .field("auth_style", &self.auth_style)
            .field("http_options", &self.http_options)
            .finish()
    }
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
            format!(
                "{name:?} is written by the client-credentials grant itself; use the dedicated setting"
            ),
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
