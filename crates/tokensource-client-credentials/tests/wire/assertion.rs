//! Client authentication without a shared secret on the wire: signed assertions (their header,
//! claims and signature, checked with the public key), no `Authorization` header, a ready
//! assertion read again from its file, `tls_client_auth` over real TLS, `audience` and
//! `resource`. Keys are generated when the test runs.

use std::collections::HashSet;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, RsaKeySize};
use serde::Deserialize;
use tokensource_client_credentials::{
    AuthStyle, ClientCredentialsBuilder, JWT_BEARER_ASSERTION_TYPE, SigningAlgorithm,
};
use tokensource_core::{ErrorKind, SecretSource, TokenSource};
use tokensource_http::HttpOptions;
use tokensource_testkit::tls::{ClientAuth, TestPki, TlsFront};
use wiremock::{MockServer, Request};

use crate::fixtures::{CLIENT_ID, SECRET, TOKEN_PATH, json_reply, server_answering, token_json};

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    jti: String,
    iat: u64,
    exp: u64,
}

async fn token_server() -> MockServer {
    server_answering(json_reply(
        200,
        &token_json(serde_json::json!({ "expires_in": 3600 })),
    ))
    .await
}

fn token_url(server: &MockServer) -> String {
    format!("{}{TOKEN_PATH}", server.uri())
}

fn new_builder(server: &MockServer) -> ClientCredentialsBuilder {
    ClientCredentialsBuilder::new(token_url(server), CLIENT_ID)
        .http_options(HttpOptions::default().with_timeout(Duration::from_secs(2)))
}

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn param(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// The assertion of each request `server` received, with the request's form.
async fn assertions(server: &MockServer) -> Vec<(String, Vec<(String, String)>)> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .map(|request| {
            assert!(
                request.headers.get("authorization").is_none(),
                "no Authorization header"
            );
            let form = form(request);
            assert_eq!(
                param(&form, "grant_type").as_deref(),
                Some("client_credentials")
            );
            assert_eq!(param(&form, "client_id").as_deref(), Some(CLIENT_ID));
            assert_eq!(param(&form, "client_secret"), None);
            assert_eq!(
                param(&form, "client_assertion_type").as_deref(),
                Some(JWT_BEARER_ASSERTION_TYPE)
            );
            (
                param(&form, "client_assertion").expect("an assertion"),
                form,
            )
        })
        .collect()
}

/// Verifies `jwt` with `key` and `algorithm` and returns its claims, checking the RFC 7523 rules.
fn verified(jwt: &str, key: &DecodingKey, algorithm: Algorithm, audience: &str) -> Claims {
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let data = jsonwebtoken::decode::<Claims>(jwt, key, &validation)
        .unwrap_or_else(|e| panic!("the assertion does not verify: {e}"));
    let claims = data.claims;
    assert_eq!(
        (claims.iss.as_str(), claims.sub.as_str()),
        (CLIENT_ID, CLIENT_ID)
    );
    assert_eq!(claims.aud, audience);
    assert!(
        claims.exp > claims.iat && claims.exp - claims.iat <= 300,
        "{claims:?}"
    );
    assert_eq!(data.header.alg, algorithm);
    claims
}

fn rsa_key() -> KeyPair {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap()
}

#[tokio::test]
async fn private_key_jwt_rs256_ps256_es256() {
    let rsa = rsa_key();
    let ec = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cases = [
        (&rsa, None, Algorithm::RS256),
        (&rsa, Some(SigningAlgorithm::Ps256), Algorithm::PS256),
        (&ec, None, Algorithm::ES256),
        (&ec, Some(SigningAlgorithm::Es256), Algorithm::ES256),
    ];
    for (key, alg, expected) in cases {
        let server = token_server().await;
        let mut builder = new_builder(&server)
            .private_key(key.serialize_pem())
            .key_id("2026-11");
        if let Some(alg) = alg {
            builder = builder.signing_alg(alg);
        }
        let source = builder.build().unwrap();
        assert_eq!(source.auth_style(), AuthStyle::PrivateKeyJwt);
        source.token().await.unwrap();
        source.token().await.unwrap();

        let public = key.public_key_pem();
        let decoding = match expected {
            Algorithm::ES256 => DecodingKey::from_ec_pem(public.as_bytes()).unwrap(),
            _ => DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        };
        let sent = assertions(&server).await;
        assert_eq!(sent.len(), 2);
        let mut ids = HashSet::new();
        for (jwt, _) in &sent {
            let header = jsonwebtoken::decode_header(jwt).unwrap();
            assert_eq!(header.kid.as_deref(), Some("2026-11"));
            let claims = verified(jwt, &decoding, expected, &token_url(&server));
            ids.insert(claims.jti);
        }
        assert_eq!(ids.len(), 2, "jti differs across two fetches");
        // Another key does not verify it: the check above means something.
        let other = rsa_key().public_key_pem();
        if expected != Algorithm::ES256 {
            let wrong = DecodingKey::from_rsa_pem(other.as_bytes()).unwrap();
            assert!(
                jsonwebtoken::decode::<Claims>(&sent[0].0, &wrong, &Validation::new(expected))
                    .is_err()
            );
        }
    }
}

#[tokio::test]
async fn an_assertion_audience_and_the_key_file_read_again() {
    let server = token_server().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("client.pem");
    let first = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(&key_file, first.serialize_pem()).unwrap();
    let source = new_builder(&server)
        .private_key(SecretSource::file(&key_file))
        .assertion_audience("https://issuer.example/")
        .build()
        .unwrap();
    source.token().await.unwrap();
    let second = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(&key_file, second.serialize_pem()).unwrap();
    source.token().await.unwrap();

    let sent = assertions(&server).await;
    for ((jwt, _), key) in sent.iter().zip([&first, &second]) {
        let decoding = DecodingKey::from_ec_pem(key.public_key_pem().as_bytes()).unwrap();
        verified(jwt, &decoding, Algorithm::ES256, "https://issuer.example/");
    }
    // The key file is gone: the fetch fails before any request, naming the file.
    std::fs::remove_file(&key_file).unwrap();
    let error = source.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration, "{error}");
    assert_eq!(error.field(), Some("private_key"));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn client_secret_jwt_is_hs256_with_the_secret() {
    let server = token_server().await;
    let source = new_builder(&server)
        .client_secret(SECRET)
        .auth_style(AuthStyle::ClientSecretJwt)
        .build()
        .unwrap();
    source.token().await.unwrap();
    let sent = assertions(&server).await;
    let (jwt, form) = &sent[0];
    assert!(
        !form.iter().any(|(_, v)| v.contains(SECRET)),
        "the secret itself never travels"
    );
    verified(
        jwt,
        &DecodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        Algorithm::HS256,
        &token_url(&server),
    );
    let wrong = DecodingKey::from_secret(b"another secret").unwrap();
    assert!(
        jsonwebtoken::decode::<Claims>(jwt, &wrong, &Validation::new(Algorithm::HS256)).is_err()
    );
}

#[tokio::test]
async fn a_client_assertion_file_is_read_before_every_fetch() {
    let server = token_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "eyJ.first.sig\n").unwrap();
    let source = new_builder(&server)
        .client_assertion(SecretSource::file(&file))
        .build()
        .unwrap();
    assert_eq!(source.auth_style(), AuthStyle::ClientAssertion);
    source.token().await.unwrap();
    std::fs::write(&file, "eyJ.second.sig\n").unwrap();
    source.token().await.unwrap();
    let sent: Vec<String> = assertions(&server)
        .await
        .into_iter()
        .map(|(jwt, _)| jwt)
        .collect();
    assert_eq!(sent, ["eyJ.first.sig", "eyJ.second.sig"]);
}

#[tokio::test]
async fn audience_and_resources_are_form_parameters() {
    let server = token_server().await;
    let source = new_builder(&server)
        .client_assertion("eyJ.a.b")
        .audience("https://api.example.com")
        .resource("https://api.example.com/")
        .resource("urn:example:reports")
        .build()
        .unwrap();
    source.token().await.unwrap();
    let (_, form) = assertions(&server).await.remove(0);
    assert_eq!(
        param(&form, "audience").as_deref(),
        Some("https://api.example.com")
    );
    let resources: Vec<&str> = form
        .iter()
        .filter(|(n, _)| n == "resource")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        resources,
        ["https://api.example.com/", "urn:example:reports"]
    );
}

#[tokio::test]
async fn tls_client_auth_sends_the_client_id_over_a_client_certificate() {
    let pki = TestPki::new();
    let server = token_server().await;
    let front = TlsFront::start(&pki, *server.address(), ClientAuth::Required);
    let url = front.url(TOKEN_PATH);
    let options = HttpOptions::default()
        .with_proxy(tokensource_http::Proxy::None)
        .with_ca_file(pki.ca_file());

    // Without a client certificate there is nothing to authenticate with.
    let error = ClientCredentialsBuilder::new(&url, CLIENT_ID)
        .auth_style(AuthStyle::TlsClientAuth)
        .http_options(options.clone())
        .build()
        .unwrap_err();
    assert_eq!(error.field(), Some("client_cert_file"), "{error}");

    let source = ClientCredentialsBuilder::new(&url, CLIENT_ID)
        .auth_style(AuthStyle::TlsClientAuth)
        .http_options(
            options.with_client_identity_files(pki.client_cert_file(), pki.client_key_file()),
        )
        .build()
        .unwrap();
    source.token().await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get("authorization").is_none());
    let form = form(&requests[0]);
    assert_eq!(param(&form, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(param(&form, "client_secret"), None);
    assert_eq!(param(&form, "client_assertion"), None);
    assert_eq!(front.handshakes(), 1);
}

#[tokio::test]
async fn credentials_that_do_not_fit_the_style_are_configuration_errors() {
    let server = token_server().await;
    let ec = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let rsa = rsa_key().serialize_pem();
    let field = |builder: ClientCredentialsBuilder| {
        let error = builder.build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{error}");
        error.field().unwrap_or_default().to_owned()
    };
    assert_eq!(field(new_builder(&server)), "client_secret");
    assert_eq!(
        field(new_builder(&server).auth_style(AuthStyle::PrivateKeyJwt)),
        "private_key"
    );
    assert_eq!(
        field(new_builder(&server).private_key("not a key")),
        "private_key"
    );
    assert_eq!(
        field(new_builder(&server).private_key(SecretSource::file("/nonexistent/key.pem"))),
        "private_key"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .private_key(ec.clone())
                .signing_alg(SigningAlgorithm::Rs256)
        ),
        "signing_alg"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .private_key(rsa.clone())
                .signing_alg(SigningAlgorithm::Es256)
        ),
        "signing_alg"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .private_key(rsa.clone())
                .signing_alg(SigningAlgorithm::Hs256)
        ),
        "signing_alg"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .private_key(rsa.clone())
                .auth_style(AuthStyle::Basic)
        ),
        "private_key"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .client_secret(SECRET)
                .private_key(rsa.clone())
        ),
        "client_secret"
    );
    assert_eq!(
        field(new_builder(&server).client_secret(SECRET).key_id("k")),
        "key_id"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .client_assertion("a")
                .assertion_audience("x")
        ),
        "assertion_audience"
    );
    assert_eq!(
        field(new_builder(&server).client_assertion("a\nb")),
        "client_assertion"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .client_assertion("a")
                .resource("not absolute")
        ),
        "resource"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .client_assertion("a")
                .resource("https://a/#frag")
        ),
        "resource"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .client_assertion("a")
                .audience("x")
                .extra_param("audience", "y")
        ),
        "audience"
    );
    assert_eq!(
        field(
            new_builder(&server)
                .client_assertion("a")
                .extra_param("client_assertion", "y")
        ),
        "extra_params"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}
