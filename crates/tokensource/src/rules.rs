//! [`AuthRules`]: which requests get credentials, what is added to them, and what happens after
//! a `401`. The reqwest middleware and the tower layer are both built from one set of rules, so
//! they attach tokens under the same rule.
//!
//! ```
//! use std::sync::Arc;
//! use tokensource::rules::AuthRules;
//! use tokensource::{StaticTokenSource, Token};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(StaticTokenSource::new(Token::bearer("t0k3n")?));
//! let rules = AuthRules::builder(source)
//!     // An API base URL: its origin (scheme, host, port) is what is allowed.
//!     .allow_origin("https://api.younium.com/v2")?
//!     .build()?;
//! assert_eq!(rules.origins()[0].to_string(), "https://api.younium.com");
//! # #[cfg(feature = "middleware")]
//! let _middleware = rules.middleware();
//! # #[cfg(feature = "tower")]
//! let _layer = rules.layer();
//! # Ok(())
//! # }
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use tokensource_core::{Error, Token, TokenSource};
use url::{Host, Url};

/// An origin credentials are sent to: a scheme (`https` or `http`), a host and a port.
///
/// Parse one from a string such as `"https://api.younium.com"` or `"http://127.0.0.1:8080"`. The
/// port defaults to the scheme's (443 or 80). A path other than `/`, a query, a fragment or user
/// credentials are refused, because credentials are attached per origin, never per path.
///
/// ```
/// use tokensource::rules::Origin;
///
/// let origin: Origin = "https://API.younium.com/".parse()?;
/// assert_eq!(origin.to_string(), "https://api.younium.com");
/// assert_eq!(origin.port(), 443);
/// assert!("https://api.younium.com/v2".parse::<Origin>().is_err());
/// // An API base URL names its origin.
/// assert_eq!(Origin::of_base_url("https://api.younium.com/v2")?, origin);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    /// As `url` normalizes it: lowercase, punycode, IPv6 in brackets.
    host: String,
    port: u16,
    loopback: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl Origin {
    /// Parses an origin; see the type's documentation for what is accepted.
    pub fn parse(input: &str) -> Result<Origin, ConfigError> {
        Origin::parse_with(input, false)
    }

    /// The origin of an API base URL such as `"https://api.example.com/v2"`: a path is allowed
    /// (and dropped: credentials go to the whole origin); a query, a fragment or user credentials
    /// are still refused.
    pub fn of_base_url(input: &str) -> Result<Origin, ConfigError> {
        Origin::parse_with(input, true)
    }

    /// The origin of a parsed URL (its path, if any, ignored).
    pub fn of_url(url: &Url) -> Result<Origin, ConfigError> {
        Origin::of_base_url(url.as_str())
    }

    fn parse_with(input: &str, path_allowed: bool) -> Result<Origin, ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidOrigin {
            origin: shown_input(input),
            reason,
        };
        let url = Url::parse(input.trim()).map_err(|e| invalid(e.to_string()))?;
        let scheme = match url.scheme() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            other => {
                return Err(invalid(format!(
                    "the scheme {other:?} is not http or https"
                )));
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "an origin must not contain user credentials".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "credentials are sent per origin: remove the query and fragment".into(),
            ));
        }
        if url.path() != "/" && !path_allowed {
            return Err(invalid(
                "an origin is a scheme, host and port only: remove the path, query and fragment"
                    .into(),
            ));
        }
        let (host, loopback) = match url.host() {
            Some(Host::Domain(domain)) => (domain.to_owned(), domain == "localhost"),
            Some(Host::Ipv4(ip)) => (ip.to_string(), IpAddr::V4(ip).is_loopback()),
            Some(Host::Ipv6(ip)) => (format!("[{ip}]"), IpAddr::V6(ip).is_loopback()),
            None => return Err(invalid("the origin has no host".into())),
        };
        Ok(Origin {
            scheme,
            host,
            port: url.port().unwrap_or(scheme.default_port()),
            loopback,
        })
    }

    /// The scheme: `https` or `http`.
    pub fn scheme(&self) -> &str {
        self.scheme.as_str()
    }

    /// The host, normalized (lowercase; an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether credentials would travel unencrypted to another machine: `http` to a host that is
    /// not loopback.
    fn is_insecure(&self) -> bool {
        self.scheme == Scheme::Http && !self.loopback
    }

    /// Whether `url` is on this origin.
    pub fn contains_url(&self, url: &Url) -> bool {
        url.scheme() == self.scheme.as_str()
            && url.host_str() == Some(self.host.as_str())
            && url.port_or_known_default() == Some(self.port)
    }

    /// Whether an absolute `uri` is on this origin. Hosts compare ASCII case-insensitively; a host
    /// written differently from its normalized form (an IPv6 address not in its shortest form, say)
    /// does not match, so the comparison can only fail closed.
    pub fn contains_uri(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        scheme.eq_ignore_ascii_case(self.scheme.as_str())
            && host.eq_ignore_ascii_case(&self.host)
            && uri.port_u16().unwrap_or(self.scheme.default_port()) == self.port
    }
}

impl std::str::FromStr for Origin {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Origin::parse(s)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin({self})")
    }
}

/// The input of a failed parse as an error shows it: never with user credentials, never long.
fn shown_input(input: &str) -> String {
    if input.contains('@') {
        return "<redacted: contains credentials>".to_owned();
    }
    let mut shown: String = input
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if input.chars().count() > 200 {
        shown.push('…');
    }
    shown
}

/// Why an authenticating middleware or layer could not be built.
///
/// It converts into [`tokensource::Error`](crate::Error) (of kind
/// [`Configuration`](crate::ErrorKind::Configuration)) for callers that propagate one error type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// An allowed origin does not parse or is not an origin (it has a path, say).
    InvalidOrigin {
        /// The origin as given (redacted when it contains user credentials).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An allowed origin uses plain `http` to a host that is not loopback, and
    /// `allow_insecure_http(true)` was not set.
    InsecureOrigin {
        /// The origin.
        origin: Origin,
    },
    /// No origin was allowed: the middleware would never attach credentials.
    NoAllowedOrigin,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidOrigin { origin, reason } => {
                write!(f, "invalid allowed origin {origin:?}: {reason}")
            }
            ConfigError::InsecureOrigin { origin } => write!(
                f,
                "allowed origin {origin} would send the token over plain http; use https, \
                 or allow_insecure_http(true) on a trusted network"
            ),
            ConfigError::NoAllowedOrigin => f.write_str(
                "no allowed origin: name the API's origin with allow_origin(\"https://...\")",
            ),
        }
    }
}

impl StdError for ConfigError {}

impl From<ConfigError> for tokensource_core::Error {
    fn from(error: ConfigError) -> Self {
        tokensource_core::Error::configuration("allow_origin", error.to_string()).with_source(error)
    }
}

/// The rules of the HTTP integrations: the token source, the origins that get credentials, the
/// headers added to their requests, and the `401` decision. Build the
/// [`AuthMiddleware`](crate::middleware::AuthMiddleware) and the
/// [`AuthLayer`](crate::tower::AuthLayer) from it; see the [module documentation](self).
///
/// Cloning is cheap (one reference count); clones share the rules.
#[derive(Clone)]
pub struct AuthRules {
    inner: Arc<Rules>,
}

struct Rules {
    source: Arc<dyn TokenSource>,
    extra_headers: HeaderMap,
    origins: Vec<Origin>,
}

/// Builds [`AuthRules`]; see [`AuthRules::builder`].
pub struct AuthRulesBuilder {
    source: Arc<dyn TokenSource>,
    extra_headers: HeaderMap,
    origins: Vec<Origin>,
    allow_insecure_http: bool,
}

impl AuthRules {
    /// Starts building rules that take tokens from `source`. Pass a
    /// [`CachedTokenSource`](crate::CachedTokenSource): the integrations ask the source for a
    /// token on every request.
    pub fn builder(source: Arc<dyn TokenSource>) -> AuthRulesBuilder {
        AuthRulesBuilder {
            source,
            extra_headers: HeaderMap::new(),
            origins: Vec::new(),
            allow_insecure_http: false,
        }
    }

    /// The token source.
    pub fn source(&self) -> &Arc<dyn TokenSource> {
        &self.inner.source
    }

    /// The origins whose requests get credentials.
    pub fn origins(&self) -> &[Origin] {
        &self.inner.origins
    }

    /// Whether a request to `url` gets credentials.
    pub fn allows_url(&self, url: &Url) -> bool {
        self.inner.origins.iter().any(|o| o.contains_url(url))
    }

    /// Whether a request to an absolute `uri` gets credentials (a relative one never does).
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        self.inner.origins.iter().any(|o| o.contains_uri(uri))
    }

    /// The token for a request.
    pub async fn token(&self) -> Result<Token, Error> {
        self.inner.source.token().await
    }

    /// Sets `Authorization` from `token` (replacing any value the request had) and adds each
    /// extra header the request does not already carry.
    pub fn apply(&self, headers: &mut HeaderMap, token: &Token) {
        headers.insert(AUTHORIZATION, token.authorization_header());
        let extra = &self.inner.extra_headers;
        for name in extra.keys() {
            if !headers.contains_key(name) {
                for value in extra.get_all(name) {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
    }

    /// The `401` decision, after the API refused a request made with `used`: reports `used` to
    /// the source ([`TokenSource::invalidate`]) and returns the token to send the request once
    /// more with, or `None` when it should not be resent: it cannot be (`replayable` is false;
    /// the next request gets the new token), or the source hands back the same token (a
    /// [`StaticTokenSource`](crate::StaticTokenSource), say), which would be refused again.
    ///
    /// # Errors
    /// The source's error when the new token cannot be fetched.
    pub async fn after_unauthorized(
        &self,
        used: &Token,
        replayable: bool,
    ) -> Result<Option<Token>, Error> {
        self.inner.source.invalidate(used).await;
        if !replayable {
            tracing::debug!("the API refused the token (401); the request cannot be replayed");
            return Ok(None);
        }
        let fresh = self.inner.source.token().await?;
        if fresh.same_secret(used) {
            tracing::debug!(
                "the API refused the token (401); the source gives the same token, so the \
                 request is not replayed"
            );
            return Ok(None);
        }
        Ok(Some(fresh))
    }

    /// Reports a request resent after a 401 by `integration` (`"middleware"` or `"tower"`): an
    /// event, and the `tokensource_replays_total` counter with the `metrics` feature.
    pub(crate) fn replaying(&self, integration: &'static str) {
        tracing::info!(
            integration,
            "the API refused the token (401); replaying the request with a new token"
        );
        tokensource_core::observability::record_replay();
    }

    /// A reqwest middleware applying these rules.
    #[cfg(feature = "middleware")]
    #[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
    pub fn middleware(&self) -> crate::middleware::AuthMiddleware {
        crate::middleware::AuthMiddleware::new(self.clone())
    }

    /// A tower layer applying these rules, with the default settings of
    /// [`AuthLayer::builder`](crate::tower::AuthLayer::builder).
    #[cfg(feature = "tower")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
    pub fn layer(&self) -> crate::tower::AuthLayer {
        crate::tower::AuthLayer::new(self.clone())
    }
}

impl AuthRulesBuilder {
    /// Headers the provider requires besides `Authorization` (for example Younium's
    /// `legal-entity` and `api-version`), added to each request to an allowed origin that does not
    /// set them itself. Replaces headers given before.
    #[must_use]
    pub fn extra_headers(mut self, headers: HeaderMap) -> Self {
        self.extra_headers = headers;
        self
    }

    /// Allows the origin of `url`, an origin such as `"https://api.younium.com"` or an API base
    /// URL such as `"https://api.example.com/v2"` (credentials then go to the whole origin).
    /// Call it once per origin.
    ///
    /// # Errors
    /// [`ConfigError::InvalidOrigin`] when `url` does not parse, is not `http` or `https`, or has
    /// user credentials, a query or a fragment.
    pub fn allow_origin(self, url: &str) -> Result<Self, ConfigError> {
        Ok(self.allow(Origin::of_base_url(url)?))
    }

    /// Allows an already parsed origin.
    #[must_use]
    pub fn allow(mut self, origin: Origin) -> Self {
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
        self
    }

    /// Allows plain `http` origins on hosts other than loopback (default: refused, because the
    /// token would travel unencrypted). Only for trusted networks.
    #[must_use]
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Builds the rules.
    ///
    /// # Errors
    /// [`ConfigError::NoAllowedOrigin`] when no origin was allowed,
    /// [`ConfigError::InsecureOrigin`] for a plain `http` origin other than loopback without
    /// [`allow_insecure_http`](Self::allow_insecure_http).
    pub fn build(self) -> Result<AuthRules, ConfigError> {
        if self.origins.is_empty() {
            return Err(ConfigError::NoAllowedOrigin);
        }
        let insecure = (!self.allow_insecure_http)
            .then(|| self.origins.iter().find(|o| o.is_insecure()))
            .flatten();
        if let Some(origin) = insecure {
            return Err(ConfigError::InsecureOrigin {
                origin: origin.clone(),
            });
        }
        Ok(AuthRules {
            inner: Arc::new(Rules {
                source: self.source,
                extra_headers: self.extra_headers,
                origins: self.origins,
            }),
        })
    }
}

impl fmt::Debug for AuthRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRules")
            .field("source", &self.inner.source)
            .field("extra_headers", &HeaderNames(&self.inner.extra_headers))
            .field("allowed_origins", &self.inner.origins)
            .finish()
    }
}

impl fmt::Debug for AuthRulesBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRulesBuilder")
            .field("source", &self.source)
            .field("extra_headers", &HeaderNames(&self.extra_headers))
            .field("allowed_origins", &self.origins)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

/// Shows the names of headers, never their values (which may be secrets).
struct HeaderNames<'a>(&'a HeaderMap);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        let o = Origin::parse("https://API.Younium.com").unwrap();
        assert_eq!(
            (o.scheme(), o.host(), o.port()),
            ("https", "api.younium.com", 443)
        );
        assert_eq!(o, Origin::parse("https://api.younium.com:443/").unwrap());
        let local = Origin::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(local.to_string(), "http://127.0.0.1:8080");
        assert!(!local.is_insecure());
        let v6 = Origin::parse("http://[::1]:9000").unwrap();
        assert_eq!(v6.host(), "[::1]");
        assert!(!v6.is_insecure());
        assert!(Origin::parse("http://example.com").unwrap().is_insecure());
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for input in [
            "",
            "api.younium.com",
            "ftp://example.com",
            "https://example.com/v2",
            "https://example.com/?a=b",
            "https://example.com/#f",
            "https://user:secret@example.com",
            "https://exa mple.com",
        ] {
            let err = Origin::parse(input).unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidOrigin { .. }),
                "{input}: {err}"
            );
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn matches_uris() {
        let o = Origin::parse("https://api.younium.com").unwrap();
        let yes = [
            "https://api.younium.com/x",
            "HTTPS://API.YOUNIUM.COM:443/x?y",
            "https://user@api.younium.com/",
        ];
        for uri in yes {
            assert!(o.contains_uri(&uri.parse().unwrap()), "{uri}");
        }
        let no = [
            "/relative",
            "http://api.younium.com/x",
            "https://api.younium.com:8443/x",
            "https://api.younium.com.evil.com/x",
            "https://evil.com/api.younium.com",
        ];
        for uri in no {
            assert!(!o.contains_uri(&uri.parse().unwrap()), "{uri}");
        }
        let v6 = Origin::parse("http://[::1]:9000").unwrap();
        assert!(v6.contains_uri(&"http://[::1]:9000/".parse().unwrap()));
    }

    #[test]
    fn base_urls_name_their_origin() {
        let origin = Origin::parse("https://api.example.com").unwrap();
        for base in [
            "https://api.example.com/v2",
            "https://api.example.com/v2/",
            "https://API.example.com:443/a/b",
        ] {
            assert_eq!(Origin::of_base_url(base).unwrap(), origin, "{base}");
        }
        for bad in [
            "https://api.example.com/v2?x=1",
            "https://api.example.com/#f",
            "https://user:secret@api.example.com/v2",
            "ftp://api.example.com/v2",
        ] {
            let error = Origin::of_base_url(bad).unwrap_err();
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[test]
    fn matches_urls() {
        let o = Origin::parse("https://api.younium.com").unwrap();
        assert!(o.contains_url(&Url::parse("https://API.younium.com:443/x").unwrap()));
        assert!(!o.contains_url(&Url::parse("https://api.younium.com:444/x").unwrap()));
        assert!(!o.contains_url(&Url::parse("http://api.younium.com/x").unwrap()));
        assert!(!o.contains_url(&Url::parse("https://evil.com/x").unwrap()));
    }
}
