//! A mock token endpoint and the source that talks to it.

use std::time::Duration;

use tokensource_client_credentials::{ClientCredentialsBuilder, ClientCredentialsTokenSource};
use tokensource_core::{Error, Token, TokenSource};
use tokensource_http::HttpOptions;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The vendor's documented token path.
pub const TOKEN_PATH: &str = "/oauth/v2/token";
/// A client id that needs form-encoding.
pub const CLIENT_ID: &str = "my client:1";
/// A secret with every character that RFC 6749 2.3.1's form-encoding must protect.
pub const SECRET: &str = "s3cr:t+%&= x";
/// The access token the mock hands out; never to appear in an error.
pub const ACCESS_TOKEN: &str = "eyJhbGciOiJub25lIn0.TOKEN-4b1d.sig";

/// A JSON token response with `fields` added to a Bearer `access_token`.
pub fn token_json(fields: serde_json::Value) -> serde_json::Value {
    let mut reply = serde_json::json!({ "access_token": ACCESS_TOKEN, "token_type": "Bearer" });
    if let (Some(reply), Some(fields)) = (reply.as_object_mut(), fields.as_object()) {
        reply.extend(fields.clone());
    }
    reply
}

/// A server whose token endpoint answers `template` to every POST.
pub async fn server_answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

/// A builder for `server`'s token endpoint with a short timeout.
pub fn builder(server: &MockServer) -> ClientCredentialsBuilder {
    ClientCredentialsTokenSource::builder(
        format!("{}{TOKEN_PATH}", server.uri()),
        CLIENT_ID,
        SECRET,
    )
    .http_options(HttpOptions::default().with_timeout(Duration::from_millis(800)))
}

/// One token from a server that answers `template`.
pub async fn fetch(template: ResponseTemplate) -> Result<Token, Error> {
    let server = server_answering(template).await;
    builder(&server).build()?.token().await
}

/// One error from a server that answers `template`, checked to be free of secrets.
pub async fn fetch_error(template: ResponseTemplate) -> Error {
    let error = fetch(template).await.expect_err("the fetch should fail");
    assert_clean(&error);
    error
}

/// Neither the secret (raw or encoded) nor the access token appears in the error.
pub fn assert_clean(error: &Error) {
    let shown = format!("{error} {error:?}");
    for needle in [SECRET, "s3cr%3At", "s3cr:t", "TOKEN-4b1d"] {
        assert!(!shown.contains(needle), "{needle:?} leaked into: {shown}");
    }
}

/// The JSON body as an `application/json` reply.
pub fn json_reply(status: u16, body: &serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}
