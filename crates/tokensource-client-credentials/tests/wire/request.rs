//! What goes on the wire: method, path, headers, client authentication and the form body.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokensource_client_credentials::AuthStyle;
use tokensource_core::TokenSource;
use wiremock::{MockServer, Request};

use crate::fixtures::{
    CLIENT_ID, SECRET, TOKEN_PATH, builder, json_reply, server_answering, token_json,
};

async fn token_server() -> MockServer {
    server_answering(json_reply(
        200,
        &token_json(serde_json::json!({ "expires_in": 3600 })),
    ))
    .await
}

async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.expect("recording is on");
    assert_eq!(requests.len(), 1, "exactly one request");
    requests.remove(0)
}

fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers
        .get(name)
        .map(|v| v.to_str().expect("ASCII header"))
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Undoes `application/x-www-form-urlencoded` for one value.
fn form_decode(value: &str) -> String {
    let pairs = form(format!("v={value}").as_bytes());
    assert_eq!(pairs.len(), 1, "{value:?} must be one encoded value");
    pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default()
}

#[tokio::test]
async fn basic_auth_request_is_exactly_rfc_6749() {
    let server = token_server().await;
    let source = builder(&server)
        .scopes(["read", "write"])
        .extra_param("audience", "https://api.example.com")
        .extra_param("resource", "urn:example:api")
        .build()
        .unwrap();
    source.token().await.unwrap();

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), TOKEN_PATH);
    assert_eq!(request.url.query(), None);
    assert_eq!(
        header(&request, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(header(&request, "accept"), Some("application/json"));

    // RFC 6749 2.3.1: form-urlencode id and secret, join with ':', then Base64. The expected
    // value is written out by hand: space -> '+', ':' -> %3A, '+' -> %2B, '%' -> %25, '&' -> %26,
    // '=' -> %3D.
    let expected = STANDARD.encode("my+client%3A1:s3cr%3At%2B%25%26%3D+x");
    let authorization = header(&request, "authorization").expect("an Authorization header");
    assert_eq!(authorization, format!("Basic {expected}"));

    // And what a strict server does: Base64-decode, split at the only raw ':', form-decode.
    let credentials = authorization.strip_prefix("Basic ").unwrap();
    let decoded = String::from_utf8(STANDARD.decode(credentials).unwrap()).unwrap();
    let (id, secret) = decoded.split_once(':').unwrap();
    assert_eq!(form_decode(id), CLIENT_ID);
    assert_eq!(form_decode(secret), SECRET);

    let body = String::from_utf8(request.body.clone()).unwrap();
    assert_eq!(
        body,
        "grant_type=client_credentials&scope=read+write\
         &audience=https%3A%2F%2Fapi.example.com&resource=urn%3Aexample%3Aapi"
    );
    assert!(
        !body.contains("client_secret") && !body.contains("client_id"),
        "{body}"
    );
}

#[tokio::test]
async fn request_body_auth_puts_the_credentials_in_the_form() {
    let server = token_server().await;
    let source = builder(&server)
        .auth_style(AuthStyle::RequestBody)
        .build()
        .unwrap();
    source.token().await.unwrap();

    let request = only_request(&server).await;
    assert_eq!(header(&request, "authorization"), None);
    assert_eq!(
        header(&request, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        form(&request.body),
        [
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), CLIENT_ID.to_owned()),
            ("client_secret".to_owned(), SECRET.to_owned()),
        ]
    );
    let body = String::from_utf8(request.body).unwrap();
    assert!(
        body.contains("client_secret=s3cr%3At%2B%25%26%3D+x"),
        "{body}"
    );
}

#[tokio::test]
async fn no_scope_parameter_without_scopes() {
    let server = token_server().await;
    builder(&server).build().unwrap().token().await.unwrap();
    let request = only_request(&server).await;
    assert_eq!(
        String::from_utf8(request.body).unwrap(),
        "grant_type=client_credentials"
    );
}

#[tokio::test]
async fn extra_parameter_values_are_form_encoded() {
    let server = token_server().await;
    let awkward = "a&b=c d+e%f/é\"";
    builder(&server)
        .extra_param("audience", awkward)
        .extra_param("resource", "urn:one")
        .extra_param("resource", "urn:two")
        .build()
        .unwrap()
        .token()
        .await
        .unwrap();
    let request = only_request(&server).await;
    let pairs = form(&request.body);
    assert_eq!(pairs[1], ("audience".to_owned(), awkward.to_owned()));
    assert_eq!(pairs[2], ("resource".to_owned(), "urn:one".to_owned()));
    assert_eq!(pairs[3], ("resource".to_owned(), "urn:two".to_owned()));
}

#[tokio::test]
async fn each_call_is_one_request() {
    let server = token_server().await;
    let source = builder(&server).build().unwrap();
    source.token().await.unwrap();
    source.token().await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}
