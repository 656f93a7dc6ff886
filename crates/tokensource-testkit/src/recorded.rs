//! Requests the mock server received, for assertions.

use std::fmt;

use http::HeaderMap;

/// A request the mock server received: see [`MockServer::token_requests`](crate::MockServer::token_requests)
/// and [`MockServer::api_requests`](crate::MockServer::api_requests).
///
/// It holds whatever the client sent, credentials included; its `Debug` shows only the method,
/// the path, the header names and the body length.
#[derive(Clone)]
pub struct RecordedRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl RecordedRequest {
    pub(crate) fn from_wiremock(request: &wiremock::Request) -> Self {
        RecordedRequest {
            method: request.method.as_str().to_owned(),
            path: request.url.path().to_owned(),
            query: request.url.query().map(str::to_owned),
            headers: request.headers.clone(),
            body: request.body.clone(),
        }
    }

    /// The method, for example `"POST"`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, for example `"/auth/token"`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string without the `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// All headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive), when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body parsed as `application/x-www-form-urlencoded` pairs (decoded), in order.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}
