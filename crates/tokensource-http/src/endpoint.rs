//! A token endpoint: one URL, one client that follows the rules, one way to read replies.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, header};
use tokensource_core::Error;
use url::{Host, Url};

use crate::HttpOptions;
use crate::transport::{self, Transport};

/// The longest `Retry-After` believed; the cache caps it further by its own backoff limit.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A provider's token endpoint and the HTTP client that talks to it.
///
/// ```
/// use tokensource_http::{HttpOptions, TokenEndpoint};
///
/// let endpoint = TokenEndpoint::new("younium", "https://api.younium.com/auth/token", HttpOptions::default())?;
/// assert_eq!(endpoint.url().path(), "/auth/token");
///
/// // Plain http is for loopback only, unless explicitly allowed.
/// assert!(TokenEndpoint::new("younium", "http://api.younium.com/auth/token", HttpOptions::default()).is_err());
/// assert!(TokenEndpoint::new("younium", "http://127.0.0.1:8080/auth/token", HttpOptions::default()).is_ok());
/// # Ok::<(), tokensource_core::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenEndpoint {
    provider: &'static str,
    url: Url,
    transport: Arc<Transport>,
}

impl TokenEndpoint {
    /// An endpoint at `url` for `provider` (the name errors carry).
    ///
    /// Fails with a configuration error when the URL does not parse, carries a user name or
    /// password, or is plain `http` to a non-loopback host without
    /// [`HttpOptions::with_allow_insecure_http`].
    pub fn new(provider: &'static str, url: &str, options: HttpOptions) -> Result<Self, Error> {
        let url = Url::parse(url).map_err(|e| {
            Error::configuration("token_url", format!("not a valid URL ({e})"))
                .with_provider(provider)
        })?;
        check_url(&url, options.allow_insecure_http())?;
        let transport = Transport::new(options).map_err(|e| e.with_provider(provider))?;
        Ok(TokenEndpoint {
            provider,
            url,
            transport: Arc::new(transport),
        })
    }

    /// The provider name errors carry.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The HTTP options in force.
    pub fn options(&self) -> &HttpOptions {
        self.transport.options()
    }

    /// A `POST` request to the endpoint, to add headers and a body to and pass to [`send`](Self::send).
    pub fn post(&self) -> reqwest::RequestBuilder {
        // Only builds the request: `send` sends it with the client the transport files make now.
        self.transport.any_client().post(self.url.clone())
    }

    /// Sends `request` and reads the whole reply, within the timeout and the body cap.
    ///
    /// Transport failures (connect errors, resets, timeouts) are [`Unavailable`](tokensource_core::ErrorKind::Unavailable);
    /// a body over the cap is an invalid response. The status is not judged here: see
    /// [`Reply::error_for_status`].
    ///
    /// Certificate and key files of the [`HttpOptions`] are read again first; one that can no
    /// longer be read or parsed fails the request with a configuration error naming it.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply, Error> {
        let client = self
            .transport
            .client()
            .map_err(|e| e.with_provider(self.provider))?;
        let request = request.build().map_err(|e| {
            Error::configuration("token_url", "the request could not be built")
                .with_provider(self.provider)
                .with_source(e.without_url())
        })?;
        let mut response = client
            .execute(request)
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let cap = self.options().max_body_bytes();
        let too_big = || {
            Error::invalid_response(
                self.provider,
                format!("the body is larger than the {cap}-byte limit"),
            )
            .with_status(status.as_u16())
        };
        if response
            .content_length()
            .is_some_and(|len| len > cap as u64)
        {
            return Err(too_big());
        }
        let headers = std::mem::take(response.headers_mut());
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            if body.len() + chunk.len() > cap {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            provider: self.provider,
            status,
            headers,
            body: body.freeze(),
        })
    }

    fn transport_error(&self, error: reqwest::Error) -> Error {
        let detail = if error.is_timeout() {
            format!(
                "no complete answer within {:.1} s",
                self.options().timeout().as_secs_f64()
            )
        } else if let Some(why) = transport::tls_failure(&error) {
            format!(
                "the TLS handshake failed ({why}): check the server's certificate against the trusted roots (ca_file), and the client certificate if the server requires one"
            )
        } else if error.is_connect() {
            "could not connect".to_owned()
        } else if error.is_body() || error.is_decode() {
            "the connection failed while reading the body".to_owned()
        } else {
            "the request failed".to_owned()
        };
        Error::unavailable(self.provider, detail).with_source(error.without_url())
    }
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("provider", &self.provider)
            .field("url", &self.url.as_str())
            .field("options", self.options())
            .finish()
    }
}

/// Checks the rules for a token URL: `https`, or `http` to a loopback host (`localhost`,
/// `127.0.0.0/8`, `::1`) or with `allow_insecure_http`; no user name or password in it.
pub fn check_url(url: &Url, allow_insecure_http: bool) -> Result<(), Error> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::configuration(
            "token_url",
            "must not contain a user name or password; configure credentials separately",
        ));
    }
    let host = url
        .host()
        .ok_or_else(|| Error::configuration("token_url", "has no host"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(&host) => Ok(()),
        "http" => Err(Error::configuration(
            "token_url",
            format!(
                "plain http is refused for the non-loopback host {host}: use https, or set allow_insecure_http"
            ),
        )),
        other => Err(Error::configuration(
            "token_url",
            format!("unsupported scheme {other:?}: use https"),
        )),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(domain) => domain.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// A token endpoint's complete reply: status, headers and a body within the cap.
#[derive(Clone)]
pub struct Reply {
    provider: &'static str,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body (at most the cap). It may hold a token: never log it.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Keeps a 2xx reply; maps any other status onto an [`Error`]:
    /// - 3xx: invalid response (redirects are never followed);
    /// - 400, 401, 403: credentials rejected, with `message(body)` as the provider's message;
    /// - 408, 429, 5xx: unavailable, with `Retry-After` when present;
    /// - anything else: invalid response, with `message(body)` when it finds one.
    pub fn error_for_status(
        self,
        message: impl FnOnce(&[u8]) -> Option<String>,
    ) -> Result<Reply, Error> {
        let status = self.status;
        let code = status.as_u16();
        if status.is_success() {
            return Ok(self);
        }
        let provider = self.provider;
        let error = if status.is_redirection() {
            Error::invalid_response(
                provider,
                "the token endpoint answered with a redirect, which is not followed so that credentials stay with the configured origin",
            )
        } else if matches!(code, 400 | 401 | 403) {
            Error::credentials_rejected(provider, code, message(&self.body))
        } else if code == 408 || code == 429 || status.is_server_error() {
            let error = Error::unavailable(provider, format!("HTTP {code}"));
            match retry_after(&self.headers) {
                Some(delay) => error.with_retry_after(delay),
                None => error,
            }
        } else {
            let error = Error::invalid_response(provider, format!("unexpected HTTP status {code}"));
            match message(&self.body) {
                Some(m) => error.with_provider_message(m),
                None => error,
            }
        };
        Err(error.with_status(code))
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("provider", &self.provider)
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// `Retry-After` as seconds or an HTTP date, capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokensource_core::ErrorKind;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn endpoint(server: &MockServer) -> TokenEndpoint {
        TokenEndpoint::new(
            "test",
            &format!("{}/token", server.uri()),
            HttpOptions::default().with_timeout(Duration::from_millis(500)),
        )
        .unwrap()
    }

    async fn reply_for(template: ResponseTemplate) -> Result<Reply, Error> {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(template)
            .mount(&server)
            .await;
        let endpoint = endpoint(&server);
        let reply = endpoint.send(endpoint.post()).await?;
        reply.error_for_status(crate::json_error_message)
    }

    #[test]
    fn url_rules() {
        let ok = |u: &str| check_url(&Url::parse(u).unwrap(), false).is_ok();
        assert!(ok("https://example.com/token"));
        assert!(ok("http://localhost:1/token"));
        assert!(ok("http://127.0.0.2/token"));
        assert!(ok("http://[::1]:8080/token"));
        assert!(!ok("http://example.com/token"));
        assert!(!ok("http://10.0.0.1/token"));
        assert!(!ok("ftp://example.com/token"));
        assert!(!ok("https://user:pw@example.com/token"));
        assert!(check_url(&Url::parse("http://example.com/t").unwrap(), true).is_ok());
    }

    #[tokio::test]
    async fn status_mapping() {
        let ok = reply_for(ResponseTemplate::new(200).set_body_string("{}"))
            .await
            .unwrap();
        assert_eq!(ok.body(), b"{}");

        let rejected = reply_for(
            ResponseTemplate::new(401).set_body_string(r#"{"errors":["Invalid secret"]}"#),
        )
        .await
        .unwrap_err();
        assert_eq!(rejected.kind(), ErrorKind::CredentialsRejected);
        assert_eq!(rejected.provider_message(), Some("Invalid secret"));

        let busy = reply_for(ResponseTemplate::new(429).insert_header("retry-after", "7"))
            .await
            .unwrap_err();
        assert_eq!(busy.kind(), ErrorKind::Unavailable);
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(7)));

        let down =
            reply_for(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
                .await
                .unwrap_err();
        assert_eq!(
            (down.kind(), down.status()),
            (ErrorKind::Unavailable, Some(502))
        );

        let redirect = reply_for(
            ResponseTemplate::new(302).insert_header("location", "https://evil.example/steal"),
        )
        .await
        .unwrap_err();
        assert_eq!(redirect.kind(), ErrorKind::InvalidResponse);

        let missing = reply_for(ResponseTemplate::new(404)).await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::InvalidResponse);
    }

    #[tokio::test]
    async fn body_cap_and_timeout() {
        let huge =
            reply_for(ResponseTemplate::new(200).set_body_bytes(vec![b'a'; 2 * 1024 * 1024]))
                .await
                .unwrap_err();
        assert_eq!(huge.kind(), ErrorKind::InvalidResponse);

        let slow = reply_for(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert_eq!(slow.kind(), ErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn dead_endpoint_is_unavailable() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let endpoint = TokenEndpoint::new(
            "test",
            &format!("http://127.0.0.1:{port}/token"),
            HttpOptions::default(),
        )
        .unwrap();
        let error = endpoint.send(endpoint.post()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert!(error.is_retryable());
    }
}
