//! Where credentials go: the origins the HTTP integrations attach a token to, and the headers they
//! add. Shared by the reqwest middleware and the tower layer so that both apply the same rule.

use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use tokensource_core::{Token, TokenSource};
use url::{Host, Url};

/// An origin credentials are sent to: a scheme (`https` or `http`), a host and a port.
///
/// Parse one from a string such as `"https://api.younium.com"` or `"http://127.0.0.1:8080"`. The
/// port defaults to the scheme's (443 or 80). A path other than `/`, a query, a fragment or user
/// credentials are refused, because credentials are attached per origin, never per path.
///
/// ```
/// # #[cfg(feature = "middleware")] {
/// use tokensource::middleware::Origin;
///
/// let origin: Origin = "https://API.younium.com/".parse()?;
/// assert_eq!(origin.to_string(), "https://api.younium.com");
/// assert_eq!(origin.port(), 443);
/// assert!("https://api.younium.com/v2".parse::<Origin>().is_err());
/// # }
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
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
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
    #[cfg(feature = "middleware")]
    pub(crate) fn contains_url(&self, url: &Url) -> bool {
        url.scheme() == self.scheme.as_str()
            && url.host_str() == Some(self.host.as_str())
            && url.port_or_known_default() == Some(self.port)
    }

    /// Whether an absolute `uri` is on this origin. Hosts compare ASCII case-insensitively; a host
    /// written differently from its normalized form (an IPv6 address not in its shortest form, say)
    /// does not match, so the comparison can only fail closed.
    #[cfg(feature = "tower")]
    pub(crate) fn contains_uri(&self, uri: &http::Uri) -> bool {
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

/// What both builders collect: the token source, the extra headers and the allowed origins.
pub(crate) struct ScopeBuilder {
    source: Arc<dyn TokenSource>,
    extra_headers: HeaderMap,
    origins: Vec<Origin>,
    allow_insecure_http: bool,
}

impl ScopeBuilder {
    pub(crate) fn new(source: Arc<dyn TokenSource>) -> Self {
        ScopeBuilder {
            source,
            extra_headers: HeaderMap::new(),
            origins: Vec::new(),
            allow_insecure_http: false,
        }
    }

    pub(crate) fn extra_headers(&mut self, headers: HeaderMap) {
        self.extra_headers = headers;
    }

    pub(crate) fn allow(&mut self, origin: Origin) {
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
    }

    pub(crate) fn allow_insecure_http(&mut self, allow: bool) {
        self.allow_insecure_http = allow;
    }

    pub(crate) fn build(self) -> Result<Scope, ConfigError> {
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
        Ok(Scope {
            source: self.source,
            extra_headers: self.extra_headers,
            origins: self.origins,
        })
    }

    pub(crate) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("source", &self.source)
            .field("extra_headers", &HeaderNames(&self.extra_headers))
            .field("allowed_origins", &self.origins)
            .field("allow_insecure_http", &self.allow_insecure_http);
    }
}

/// The built configuration: immutable, shared by every clone of a middleware or service.
pub(crate) struct Scope {
    pub(crate) source: Arc<dyn TokenSource>,
    extra_headers: HeaderMap,
    origins: Vec<Origin>,
}

impl Scope {
    #[cfg(feature = "middleware")]
    pub(crate) fn allows_url(&self, url: &Url) -> bool {
        self.origins.iter().any(|o| o.contains_url(url))
    }

    #[cfg(feature = "tower")]
    pub(crate) fn allows_uri(&self, uri: &http::Uri) -> bool {
        self.origins.iter().any(|o| o.contains_uri(uri))
    }

    /// Sets `Authorization` from `token` (replacing any value the request had) and adds each
    /// extra header the request does not already carry.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, token: &Token) {
        headers.insert(AUTHORIZATION, token.authorization_header());
        for name in self.extra_headers.keys() {
            if !headers.contains_key(name) {
                for value in self.extra_headers.get_all(name) {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
    }

    pub(crate) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("source", &self.source)
            .field("extra_headers", &HeaderNames(&self.extra_headers))
            .field("allowed_origins", &self.origins);
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

    #[cfg(feature = "tower")]
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

    #[cfg(feature = "middleware")]
    #[test]
    fn matches_urls() {
        let o = Origin::parse("https://api.younium.com").unwrap();
        assert!(o.contains_url(&Url::parse("https://API.younium.com:443/x").unwrap()));
        assert!(!o.contains_url(&Url::parse("https://api.younium.com:444/x").unwrap()));
        assert!(!o.contains_url(&Url::parse("http://api.younium.com/x").unwrap()));
        assert!(!o.contains_url(&Url::parse("https://evil.com/x").unwrap()));
    }
}
