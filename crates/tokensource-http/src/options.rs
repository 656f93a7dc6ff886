//! Settings shared by every provider's HTTP client: timeouts, the body cap, plain http, and the
//! transport (proxy, extra root certificates, a client certificate, a base client builder).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokensource_core::Error;
use url::Url;
use zeroize::Zeroizing;

/// HTTP settings for a token endpoint.
///
/// ```
/// use std::time::Duration;
/// use tokensource_http::{HttpOptions, Proxy};
///
/// let options = HttpOptions::default()
///     .with_timeout(Duration::from_secs(5))
///     .with_proxy("http://proxy.internal:3128".parse::<Proxy>()?)
///     .with_ca_file("certs/internal-ca.pem")
///     .with_client_identity_files("certs/client.pem", "certs/client.key");
/// assert_eq!(options.timeout(), Duration::from_secs(5));
/// assert_eq!(options.max_body_bytes(), 1024 * 1024);
/// # Ok::<(), tokensource_core::Error>(())
/// ```
///
/// # Transport
/// - **Proxy** ([`with_proxy`](Self::with_proxy)): [`Proxy::System`] (the default) follows
///   `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`; [`Proxy::None`] ignores them;
///   [`Proxy::Url`] sends every request through that proxy (`NO_PROXY` does not apply to it).
/// - **Extra roots** ([`with_ca_file`](Self::with_ca_file), [`with_ca_pem`](Self::with_ca_pem)):
///   PEM certificates trusted in addition to the system's roots, for a private CA.
/// - **A client certificate** ([`with_client_identity_files`](Self::with_client_identity_files),
///   [`with_client_identity_pem`](Self::with_client_identity_pem)) for servers that require
///   TLS client authentication (mTLS).
///
/// Files are read when the endpoint is built (an unreadable file, or one without the PEM block it
/// should hold, is a configuration error naming `ca_file`, `client_cert_file` or
/// `client_key_file`) and again before each request: a renewed certificate is used without a
/// restart. A file that can no longer be read or parsed fails that request with a configuration
/// error; a cache in front keeps serving its still-valid token meanwhile.
///
/// Whatever the transport, the rules hold: redirects are never followed, the timeouts and the body
/// cap apply, and plain `http` is refused off loopback unless allowed. That is true also of a client
/// made from your own [`reqwest::ClientBuilder`] ([`with_client_builder`](Self::with_client_builder)):
/// the rules are applied to it last.
#[derive(Clone)]
pub struct HttpOptions {
    timeout: Duration,
    connect_timeout: Duration,
    max_body_bytes: usize,
    allow_insecure_http: bool,
    proxy: Proxy,
    extra_roots: Vec<Pem>,
    client_identity: Option<ClientIdentity>,
    client_builder: Option<ClientBuilderFn>,
}

/// Makes the base [`reqwest::ClientBuilder`] before the rules are applied.
type ClientBuilderFn = Arc<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>;

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            allow_insecure_http: false,
            proxy: Proxy::System,
            extra_roots: Vec::new(),
            client_identity: None,
            client_builder: None,
        }
    }
}

impl HttpOptions {
    /// Bounds each whole request, from connecting to the last byte of the body (default 10 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Bounds connecting (default 5 s, and never more than the whole-request timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest response body read (default 1 MiB); a larger one is an invalid response.
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Allows plain `http://` to hosts other than loopback (default: refused). Only for networks
    /// you trust: the credentials and the token cross it in clear.
    #[must_use]
    pub fn with_allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Which proxy token requests go through (default [`Proxy::System`]).
    #[must_use]
    pub fn with_proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    /// Trusts the PEM certificates in the file at `path` in addition to the system's roots. May be
    /// called repeatedly. The file is read again before each request.
    #[must_use]
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_roots.push(Pem::File(path.into()));
        self
    }

    /// Trusts the PEM certificates in `pem` in addition to the system's roots. May be called
    /// repeatedly.
    #[must_use]
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots
            .push(Pem::Text(Arc::new(Zeroizing::new(pem.into()))));
        self
    }

    /// Presents the certificate chain in the PEM file `cert` with the private key in the PEM file
    /// `key` (PKCS#8, PKCS#1 or SEC1; it may be the same file) to servers that ask for a client
    /// certificate. Both files are read again before each request.
    #[must_use]
    pub fn with_client_identity_files(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client_identity = Some(ClientIdentity {
            cert: Pem::File(cert.into()),
            key: Pem::File(key.into()),
        });
        self
    }

    /// Presents the PEM certificate chain `cert` with the PEM private key `key` to servers that ask
    /// for a client certificate. The key is kept zeroized on drop and never shown.
    #[must_use]
    pub fn with_client_identity_pem(
        mut self,
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_identity = Some(ClientIdentity {
            cert: Pem::Text(Arc::new(Zeroizing::new(cert.into()))),
            key: Pem::Text(Arc::new(Zeroizing::new(key.into()))),
        });
        self
    }

    /// Starts every HTTP client from the builder `make` returns, for settings these options do
    /// not have (a DNS resolver, local address, HTTP/2 tuning, a TLS setting). The rules are
    /// applied after it and win: no redirects, these timeouts, the body cap, the proxy when it is
    /// not [`Proxy::System`], these extra roots and client certificate.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use tokensource_http::HttpOptions;
    ///
    /// let options = HttpOptions::default().with_client_builder(|| {
    ///     tokensource_http::reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
    /// });
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn with_client_builder(
        mut self,
        make: impl Fn() -> reqwest::ClientBuilder + Send + Sync + 'static,
    ) -> Self {
        self.client_builder = Some(Arc::new(make));
        self
    }

    /// The whole-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.min(self.timeout)
    }

    /// The body cap in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Whether plain `http://` is allowed for any host.
    pub fn allow_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    /// The proxy setting.
    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// Whether a client certificate is configured (for TLS client authentication).
    pub fn has_client_identity(&self) -> bool {
        self.client_identity.is_some()
    }

    pub(crate) fn extra_roots(&self) -> &[Pem] {
        &self.extra_roots
    }

    pub(crate) fn client_identity(&self) -> Option<&ClientIdentity> {
        self.client_identity.as_ref()
    }

    pub(crate) fn base_builder(&self) -> reqwest::ClientBuilder {
        match &self.client_builder {
            Some(make) => make(),
            None => reqwest::Client::builder(),
        }
    }

    /// Whether any setting is a file that must be read again before each request.
    pub(crate) fn reads_files(&self) -> bool {
        self.extra_roots.iter().any(Pem::is_file)
            || self
                .client_identity
                .as_ref()
                .is_some_and(|id| id.cert.is_file() || id.key.is_file())
    }
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HttpOptions");
        d.field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("proxy", &self.proxy);
        if !self.extra_roots.is_empty() {
            d.field("extra_roots", &self.extra_roots);
        }
        if let Some(identity) = &self.client_identity {
            d.field("client_identity", identity);
        }
        if self.client_builder.is_some() {
            d.field("client_builder", &"<function>");
        }
        d.finish()
    }
}

/// Which proxy token requests go through.
///
/// Parses from the configuration values `system`, `none` or a proxy URL (`http://` or
/// `https://`, with optional `user:password@`):
///
/// ```
/// use tokensource_http::Proxy;
///
/// assert_eq!("system".parse::<Proxy>()?, Proxy::System);
/// assert_eq!("none".parse::<Proxy>()?, Proxy::None);
/// let proxy: Proxy = "http://user:pw@proxy.internal:3128".parse()?;
/// assert!(matches!(proxy, Proxy::Url(_)));
/// assert!(!format!("{proxy:?}").contains("pw")); // a proxy password is never shown
/// assert!("ftp://proxy".parse::<Proxy>().is_err());
/// # Ok::<(), tokensource_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Proxy {
    /// The proxy the environment names (`HTTPS_PROXY` for https, `HTTP_PROXY` for http,
    /// `ALL_PROXY` for both, in upper or lower case), except for hosts in `NO_PROXY`. The default.
    #[default]
    System,
    /// No proxy, whatever the environment says.
    None,
    /// Every request through this proxy (`http://` or `https://`); `NO_PROXY` does not apply.
    Url(Url),
}

impl FromStr for Proxy {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value.trim() {
            "system" => return Ok(Proxy::System),
            "none" => return Ok(Proxy::None),
            _ => {}
        }
        // The value may carry a password: the error never quotes it.
        let url = Url::parse(value.trim()).map_err(|e| {
            Error::configuration(
                "proxy",
                format!(
                    "expected \"system\", \"none\" or a proxy URL such as http://proxy:3128 ({e})"
                ),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::configuration(
                "proxy",
                format!(
                    "a proxy URL must be http:// or https:// with a host (got a {} URL)",
                    url.scheme()
                ),
            ));
        }
        Ok(Proxy::Url(url))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proxy::System => f.write_str("System"),
            Proxy::None => f.write_str("None"),
            Proxy::Url(url) => {
                let mut shown = url.clone();
                if shown.password().is_some() {
                    let _ = shown.set_password(Some("redacted"));
                }
                f.debug_tuple("Url").field(&shown.as_str()).finish()
            }
        }
    }
}

/// PEM material: a file read again before each request, or text given once.
#[derive(Clone)]
pub(crate) enum Pem {
    File(PathBuf),
    Text(Arc<Zeroizing<Vec<u8>>>),
}

impl Pem {
    fn is_file(&self) -> bool {
        matches!(self, Pem::File(_))
    }

    /// The file's path, if it is one.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Pem::File(path) => Some(path),
            Pem::Text(_) => None,
        }
    }
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(path) => f.debug_tuple("File").field(path).finish(),
            Pem::Text(text) => write!(f, "Pem({} bytes)", text.len()),
        }
    }
}

/// A client certificate chain and its private key.
#[derive(Clone)]
pub(crate) struct ClientIdentity {
    pub(crate) cert: Pem,
    pub(crate) key: Pem,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key: &dyn fmt::Debug = match &self.key {
            Pem::File(path) => path,
            Pem::Text(_) => &"** redacted **",
        };
        f.debug_struct("ClientIdentity")
            .field("cert", &self.cert)
            .field("key", key)
            .finish()
    }
}
