//! Ways to make the token endpoint misbehave.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use wiremock::ResponseTemplate;

/// A misbehaviour of the mock token endpoint, scheduled with
/// [`MockServer::fail_next`](crate::MockServer::fail_next),
/// [`fail_times`](crate::MockServer::fail_times) or
/// [`fail_always`](crate::MockServer::fail_always).
///
/// Faults apply to token requests only; the mock API keeps answering. Every faulted request still
/// counts as a [token hit](crate::MockServer::token_hits).
///
/// ```
/// use std::time::Duration;
/// use tokensource_testkit::{Fault, RawResponse};
///
/// let faults = [
///     Fault::ServerError,
///     Fault::RateLimited { retry_after: Some(Duration::from_secs(1)) },
///     Fault::Slow(Duration::from_secs(3)),
///     Fault::MalformedBody,
///     Fault::RejectCredentials,
///     Fault::Raw(RawResponse::new(200).json(&serde_json::json!({"access_token": "a b"}))),
/// ];
/// # let _ = faults;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fault {
    /// `503 Service Unavailable` with a small HTML page, as a gateway in front of the service answers.
    ServerError,
    /// `429 Too Many Requests`, with `Retry-After` in whole seconds when given.
    RateLimited {
        /// The `Retry-After` delay to send, if any.
        retry_after: Option<Duration>,
    },
    /// Answers normally (a valid request still gets a token), but only after this delay.
    Slow(Duration),
    /// `200 OK` with a truncated JSON body.
    MalformedBody,
    /// The provider's documented credentials rejection, whatever the credentials.
    RejectCredentials,
    /// Exactly this response, for hostile-response tests.
    Raw(RawResponse),
}

/// An arbitrary HTTP response: status, headers and body, sent exactly as given.
///
/// No `Content-Type` is added unless you set one (or use [`json`](RawResponse::json)).
///
/// ```
/// use tokensource_testkit::RawResponse;
///
/// let html = RawResponse::new(502)
///     .header("content-type", "text/html")
///     .body("<html><body>Bad gateway</body></html>");
/// let redirect = RawResponse::new(302).header("location", "https://elsewhere.example/token");
/// let huge = RawResponse::new(200).body(vec![b'x'; 10 * 1024 * 1024]);
/// # let _ = (html, redirect, huge);
/// ```
#[derive(Clone)]
pub struct RawResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    delay: Option<Duration>,
}

impl RawResponse {
    /// A response with `status` and an empty body.
    ///
    /// # Panics
    /// If `status` is not in `100..=999`.
    pub fn new(status: u16) -> Self {
        RawResponse {
            status: StatusCode::from_u16(status)
                .unwrap_or_else(|_| panic!("{status} is not an HTTP status code")),
            headers: HeaderMap::new(),
            body: Vec::new(),
            delay: None,
        }
    }

    /// Appends a header. The value may hold any bytes a header value can carry.
    ///
    /// # Panics
    /// If the name is not a legal header name or the value not a legal header value (for example
    /// one with CR or LF).
    #[must_use]
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let name = HeaderName::try_from(name)
            .unwrap_or_else(|_| panic!("{name:?} is not a legal header name"));
        let value = HeaderValue::from_bytes(value.as_ref())
            .unwrap_or_else(|_| panic!("the value for {name} is not a legal header value"));
        self.headers.append(name, value);
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    #[must_use]
    pub fn json(self, body: &serde_json::Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Delays the response.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub(crate) fn to_template(&self) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(self.status.as_u16())
            .append_headers(self.headers.iter().map(|(n, v)| (n.clone(), v.clone())))
            .set_body_bytes(self.body.clone());
        if let Some(delay) = self.delay {
            template = template.set_delay(delay);
        }
        template
    }
}

impl fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .field("delay", &self.delay)
            .finish()
    }
}

impl From<RawResponse> for Fault {
    /// [`Fault::Raw`], so that `server.fail_next(RawResponse::new(502))` reads naturally.
    fn from(response: RawResponse) -> Self {
        Fault::Raw(response)
    }
}

/// The queue of scheduled faults.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    queue: std::collections::VecDeque<(Fault, usize)>,
    always: Option<Fault>,
}

impl FaultPlan {
    pub(crate) fn push(&mut self, fault: Fault, times: usize) {
        if times > 0 {
            self.queue.push_back((fault, times));
        }
    }

    pub(crate) fn set_always(&mut self, fault: Fault) {
        self.always = Some(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.always = None;
    }

    /// The fault for the next token request, if any.
    pub(crate) fn next(&mut self) -> Option<Fault> {
        if let Some((fault, remaining)) = self.queue.front_mut() {
            let fault = fault.clone();
            *remaining -= 1;
            if *remaining == 0 {
                self.queue.pop_front();
            }
            return Some(fault);
        }
        self.always.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_order() {
        let mut plan = FaultPlan::default();
        plan.push(Fault::ServerError, 2);
        plan.push(Fault::MalformedBody, 1);
        plan.push(Fault::RejectCredentials, 0);
        assert!(matches!(plan.next(), Some(Fault::ServerError)));
        assert!(matches!(plan.next(), Some(Fault::ServerError)));
        assert!(matches!(plan.next(), Some(Fault::MalformedBody)));
        assert!(plan.next().is_none());
        plan.set_always(Fault::RejectCredentials);
        assert!(matches!(plan.next(), Some(Fault::RejectCredentials)));
        plan.clear();
        assert!(plan.next().is_none());
    }
}
