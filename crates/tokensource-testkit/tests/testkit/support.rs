//! A plain HTTP client and small readers for the tests.

use base64::Engine as _;
use serde_json::Value;

/// A reply read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(crate) async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the mock server answers");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub(crate) async fn post(url: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Reply {
    send(
        client()
            .post(url)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

pub(crate) async fn api(url: &str, token: Option<&str>) -> Reply {
    let request = client().get(url);
    send(match token {
        Some(token) => request.header("authorization", format!("Bearer {token}")),
        None => request,
    })
    .await
}

/// `Basic base64(user:password)` with the pair as given.
pub(crate) fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// The claims of an unsigned JWT.
pub(crate) fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
