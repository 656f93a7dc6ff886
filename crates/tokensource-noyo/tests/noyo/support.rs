//! A wiremock server standing in for Noyo, and a source pointed at it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokensource_core::{Error, ErrorKind, Token, TokenSource};
use tokensource_noyo::{HttpOptions, NoyoTokenSource};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const CLIENT_ID: &str = "ck_live_0042";
pub(crate) const CLIENT_SECRET: &str = "s3cr3t:with+symbols/é";

pub(crate) fn source(server: &MockServer) -> NoyoTokenSource {
    NoyoTokenSource::builder(CLIENT_ID, CLIENT_SECRET)
        .token_url(format!("{}/auth/public/token", server.uri()))
        .http_options(HttpOptions::default().with_timeout(Duration::from_millis(750)))
        .build()
        .expect("a valid configuration")
}

pub(crate) async fn fetch_with(template: ResponseTemplate) -> Result<Token, Error> {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    source(&server).token().await
}

/// The error of a fetch that must fail with `kind`; checks that the secret does not leak.
pub(crate) async fn failure(template: ResponseTemplate, kind: ErrorKind) -> Error {
    let error = fetch_with(template).await.expect_err("the fetch must fail");
    assert_eq!(error.kind(), kind, "{error}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("s3cr3t"), "the secret leaked: {shown}");
    error
}

pub(crate) fn json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

/// An unsigned JWT expiring `exp_in` from now.
pub(crate) fn jwt_expiring_in(exp_in: Duration) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = format!(r#"{{"iat":{now},"exp":{}}}"#, now + exp_in.as_secs());
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims))
}
