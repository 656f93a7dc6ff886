//! Settings shared by every provider's HTTP client.

use std::time::Duration;

/// HTTP settings for a token endpoint.
///
/// ```
/// use std::time::Duration;
/// use tokensource_http::HttpOptions;
///
/// let options = HttpOptions::default().with_timeout(Duration::from_secs(5));
/// assert_eq!(options.timeout(), Duration::from_secs(5));
/// assert_eq!(options.max_body_bytes(), 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    timeout: Duration,
    connect_timeout: Duration,
    max_body_bytes: usize,
    allow_insecure_http: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            allow_insecure_http: false,
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
}
