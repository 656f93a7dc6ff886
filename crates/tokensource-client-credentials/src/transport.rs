//! The adapter that lets oauth2 send its requests through a [`TokenEndpoint`].
//!
//! oauth2 builds the request (form body, `Authorization: Basic`, `Accept`) and parses the answer;
//! this adapter sends it with the endpoint's client, so tokensource's HTTP rules hold: no
//! redirects, the timeouts, the body cap, https only. It decides which replies oauth2 sees:
//!
//! - 2xx with a body that is one JSON text: handed over as `200 OK` without its `Content-Type`, so
//!   that the body alone decides (JSON labelled `text/plain` is still JSON);
//! - 400, 401, 403: handed over as they are, for oauth2's RFC 6749 section 5.2 error parsing;
//! - everything else (3xx, 408, 429, 5xx, other 4xx), transport failures, a 2xx body that is
//!   empty or not JSON (an HTML page, bytes after the object): our own [`Error`], returned as the
//!   adapter's error type, which oauth2 hands back inside `RequestTokenError::Request`.
//!
//! The status of the last reply is kept so that an oauth2 error can be told apart: a parse
//! failure on a 401 is still rejected credentials, on a 200 it is an invalid response.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};

use http::StatusCode;
use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};
use tokensource_core::Error;
use tokensource_http::{TokenEndpoint, json_error_message, parse_json};

/// Sends oauth2's requests through a [`TokenEndpoint`]; see the module docs.
pub(crate) struct EndpointClient<'a> {
    endpoint: &'a TokenEndpoint,
    /// Secrets to blank out of any message the server writes.
    secrets: &'a [&'a str],
    /// The status of the last reply handed to oauth2; 0 before any.
    status: AtomicU16,
}

impl<'a> EndpointClient<'a> {
    pub(crate) fn new(endpoint: &'a TokenEndpoint, secrets: &'a [&'a str]) -> Self {
        EndpointClient {
            endpoint,
            secrets,
            status: AtomicU16::new(0),
        }
    }

    /// The status of the reply oauth2 judged, if one was handed to it.
    pub(crate) fn status(&self) -> Option<u16> {
        Some(self.status.load(Ordering::Relaxed)).filter(|s| *s != 0)
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let (parts, body) = request.into_parts();
        // oauth2 always POSTs to the token URL it was configured with, which is the endpoint's
        // own: `post()` targets that URL, so the method and URI of `parts` carry nothing new.
        let reply = self
            .endpoint
            .send(self.endpoint.post().headers(parts.headers).body(body))
            .await?;
        let status = reply.status();
        let code = status.as_u16();
        let provider = self.endpoint.provider();

        if status.is_success() {
            if reply.body().iter().all(u8::is_ascii_whitespace) {
                return Err(
                    Error::invalid_response(provider, "the body is empty").with_status(code)
                );
            }
            // oauth2 reads the first JSON value of the body and ignores whatever follows it, so
            // `{..token..} trailing` or two objects in a row would yield a token. Such a body is
            // not JSON: refuse it here, as the other providers do (one pass, nothing allocated).
            parse_json::<serde::de::IgnoredAny>(provider, code, reply.body())?;
            self.status.store(code, Ordering::Relaxed);
            return Ok(response(StatusCode::OK, reply.body()));
        }
        if matches!(code, 400 | 401 | 403) {
            self.status.store(code, Ordering::Relaxed);
            return Ok(response(status, reply.body()));
        }
        let secrets = self.secrets;
        let error = reply
            .error_for_status(|body| {
                json_error_message(body).map(|m| tokensource_http::redact(m, secrets))
            })
            .err()
            // error_for_status refuses every status that is not 2xx, so this is only a fallback.
            .unwrap_or_else(|| {
                Error::invalid_response(provider, format!("unexpected HTTP status {code}"))
                    .with_status(code)
            });
        Err(error)
    }
}

/// The reply as oauth2 sees it: a status and a body, no headers (oauth2 reads none but
/// `Content-Type`, which the body's parse supersedes).
fn response(status: StatusCode, body: &[u8]) -> HttpResponse {
    let mut response = http::Response::new(body.to_vec());
    *response.status_mut() = status;
    response
}

impl<'c> AsyncHttpClient<'c> for EndpointClient<'_> {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
