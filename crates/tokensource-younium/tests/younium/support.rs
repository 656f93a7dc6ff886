//! A wiremock server standing in for Younium, and a source pointed at it.

use std::time::Duration;

use tokensource_core::{Error, ErrorKind, Token, TokenSource};
use tokensource_younium::{HttpOptions, YouniumAuthVersion, YouniumTokenSource};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const CLIENT_ID: &str = "client-0042";
pub(crate) const SECRET: &str = "s3cr3t-Ünïcode \"quoted\"";

/// A source for `version` whose token URL is `path` on `server`.
pub(crate) fn source(server: &MockServer, version: YouniumAuthVersion) -> YouniumTokenSource {
    YouniumTokenSource::builder(CLIENT_ID, SECRET)
        .auth_version(version)
        .token_url(format!("{}{}", server.uri(), version.path()))
        .http_options(HttpOptions::default().with_timeout(Duration::from_millis(750)))
        .build()
        .expect("a valid configuration")
}

/// One token fetch against a server that answers every request with `template`.
pub(crate) async fn fetch_with(template: ResponseTemplate) -> Result<Token, Error> {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    source(&server, YouniumAuthVersion::V1).token().await
}

/// The error of a fetch that must fail with `kind`; checks that neither secret nor token leaks.
pub(crate) async fn failure(template: ResponseTemplate, kind: ErrorKind) -> Error {
    let error = fetch_with(template).await.expect_err("the fetch must fail");
    assert_eq!(error.kind(), kind, "{error}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("s3cr3t"), "the secret leaked: {shown}");
    error
}

/// A 200 with a JSON body given as text.
pub(crate) fn json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "application/json")
}
