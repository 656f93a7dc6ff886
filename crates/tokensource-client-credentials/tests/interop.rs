//! Interoperability with a real OAuth2 authorization server that nobody here wrote: panva's
//! `oidc-provider` (npm), installed by `interop/setup.sh` and started on a free loopback port by
//! each test. The server form-decodes `client_secret_basic` credentials as RFC 6749 2.3.1 says,
//! and its introspection endpoint (RFC 7662) tells whether it accepts a token it issued.
//!
//! The server is looked for in `interop/` beside this crate's manifest, or in the folder that env
//! `TOKENSOURCE_INTEROP` names (`TOKENSOURCE_INTEROP=1` keeps the usual folder). When it is not
//! installed, the first test installs it (`interop/setup.sh`, `npm ci` of the pinned version);
//! without node or npm the tests fail and say what to install. They never pass by skipping.
//!
//! Clients without a shared secret: `private_key_jwt` with RS256 (a PKCS#1 key), PS256 (PKCS#8)
//! and ES256 (SEC1 and PKCS#8), their keys made by the server when it starts and their public
//! keys registered as the clients' JWKS, and `client_secret_jwt` (HS256). And `tls_client_auth`
//! (RFC 8705 2.1) over the server's HTTPS listener, with a client certificate made by the test.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokensource_client_credentials::{
    AuthStyle, ClientCredentialsBuilder, ClientCredentialsTokenSource, SigningAlgorithm,
};
use tokensource_core::{ErrorKind, SecretSource, TokenSource};
use tokensource_http::reqwest;
use tokensource_testkit::oidc::OidcServer;
use tokensource_testkit::tls::TestPki;

/// A secret with every character that RFC 6749 2.3.1's form-encoding must protect.
const SECRET: &str = "s3cr:t+%&= x";
const BASIC_CLIENT: &str = "tokensource-basic";
const POST_CLIENT: &str = "tokensource-post";
/// The resource indicator the server knows (see `interop/server.mjs`).
const RESOURCE: &str = "urn:tokensource:interop-api";

/// The server's folder: `interop/` beside this crate's manifest, or the one env
/// `TOKENSOURCE_INTEROP` names (`1`, `true` or `yes` keep the usual one).
fn interop_dir() -> PathBuf {
    std::env::var_os("TOKENSOURCE_INTEROP")
        .filter(|v| !matches!(v.to_str(), Some("1" | "true" | "yes")))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop"))
}

/// The running server; killed when dropped.
struct AuthorizationServer(OidcServer);

impl std::ops::Deref for AuthorizationServer {
    type Target = OidcServer;

    fn deref(&self) -> &OidcServer {
        &self.0
    }
}

impl AuthorizationServer {
    /// Starts the server, installing it first (once per test run) when it is not installed.
    fn start_or_fail(test: &str) -> AuthorizationServer {
        AuthorizationServer(OidcServer::start_or_fail(test, &interop_dir(), SECRET))
    }

    /// RFC 7662 introspection of `token`, authenticated as the Basic client.
    async fn introspect(&self, token: &str) -> serde_json::Value {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        let reply = reqwest::Client::new()
            .post(self.url("/oauth/v2/introspect"))
            .header("authorization", rfc6749_basic(BASIC_CLIENT, SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .expect("introspection answers");
        assert_eq!(reply.status(), 200, "introspection: {}", self.stderr_text());
        serde_json::from_slice(&reply.bytes().await.unwrap()).expect("introspection JSON")
    }

    /// A token for `source`, failing with the server's own words.
    async fn token_for(&self, source: &ClientCredentialsTokenSource) -> tokensource_core::Token {
        match source.token().await {
            Ok(token) => token,
            Err(error) => panic!("{error}; server said: {}", self.stderr_text()),
        }
    }
}

/// A client refused by the server: `invalid_client`, in the server's own words.
fn assert_invalid_client(error: &tokensource_core::Error) {
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected, "{error}");
    assert!(
        error
            .provider_message()
            .is_some_and(|m| m.starts_with("invalid_client")),
        "{error}"
    );
}

/// `Basic` credentials as RFC 6749 2.3.1 wants them, built here independently of oauth2.
fn rfc6749_basic(id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

#[tokio::test]
async fn basic_auth_with_a_special_character_secret_yields_an_active_token() {
    let server = AuthorizationServer::start_or_fail("basic_auth");
    let source =
        ClientCredentialsTokenSource::builder(server.url("/oauth/v2/token"), BASIC_CLIENT, SECRET)
            .scopes(["api:read"])
            .auth_style(AuthStyle::Basic)
            .build()
            .unwrap();
    let token = match source.token().await {
        Ok(token) => token,
        Err(error) => panic!("{error}; server said: {}", server.stderr_text()),
    };
    assert_eq!(token.token_type(), "Bearer");
    assert_eq!(token.lifetime(), Some(Duration::from_secs(600)));
    assert_eq!(token.scopes(), ["api:read"]);

    let introspection = server.introspect(token.expose_secret()).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["client_id"], BASIC_CLIENT, "{introspection}");
    assert_eq!(introspection["scope"], "api:read", "{introspection}");
    // And the check means something: a token the server did not issue is inactive.
    let forged = server.introspect("not-a-token-this-server-issued").await;
    assert_eq!(forged["active"], false, "{forged}");
}

#[tokio::test]
async fn the_server_is_strict_about_basic_encoding() {
    let server = AuthorizationServer::start_or_fail("strict_server");
    // Plain Basic (no form-encoding, as curl -u or reqwest's basic_auth would send it) is refused:
    // this server really decodes RFC 6749 2.3.1 credentials, so the success above is meaningful.
    let naive = format!(
        "Basic {}",
        STANDARD.encode(format!("{BASIC_CLIENT}:{SECRET}"))
    );
    let reply = reqwest::Client::new()
        .post(server.url("/oauth/v2/token"))
        .header("authorization", naive)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert!(
        matches!(reply.status().as_u16(), 400 | 401),
        "naive Basic got {}",
        reply.status()
    );
}

#[tokio::test]
async fn request_body_auth_with_a_resource_indicator() {
    let server = AuthorizationServer::start_or_fail("request_body");
    let source =
        ClientCredentialsTokenSource::builder(server.url("/oauth/v2/token"), POST_CLIENT, SECRET)
            .auth_style(AuthStyle::RequestBody)
            .extra_param("resource", RESOURCE)
            .build()
            .unwrap();
    let token = match source.token().await {
        Ok(token) => token,
        Err(error) => panic!("{error}; server said: {}", server.stderr_text()),
    };
    assert_eq!(token.lifetime(), Some(Duration::from_secs(600)));
    let introspection = server.introspect(token.expose_secret()).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["client_id"], POST_CLIENT, "{introspection}");
    assert_eq!(introspection["aud"], RESOURCE, "{introspection}");
}

#[tokio::test]
async fn wrong_credentials_are_rejected_with_the_servers_message() {
    let server = AuthorizationServer::start_or_fail("rejected");
    let token_url = server.url("/oauth/v2/token");
    let wrong_secret =
        ClientCredentialsTokenSource::builder(&token_url, BASIC_CLIENT, "s3cr:t+%&= y")
            .build()
            .unwrap();
    let error = wrong_secret.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected, "{error}");
    assert_eq!(error.status(), Some(401));
    assert!(
        error
            .provider_message()
            .is_some_and(|m| m.starts_with("invalid_client")),
        "{error}"
    );
    assert!(!error.to_string().contains("s3cr"), "{error}");

    // An unknown client is refused the same way.
    let unknown = ClientCredentialsTokenSource::builder(&token_url, "nobody", SECRET)
        .auth_style(AuthStyle::RequestBody)
        .build()
        .unwrap();
    let error = unknown.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected, "{error}");
    assert_eq!(error.status(), Some(401));
}

#[tokio::test]
async fn granted_scopes_come_from_the_server() {
    let server = AuthorizationServer::start_or_fail("granted_scopes");
    // oidc-provider grants the scopes the client may have and drops the rest.
    let source =
        ClientCredentialsTokenSource::builder(server.url("/oauth/v2/token"), BASIC_CLIENT, SECRET)
            .scopes(["api:write", "admin"])
            .build()
            .unwrap();
    let token = source.token().await.unwrap();
    assert_eq!(token.scopes(), ["api:write"]);
}

/// The private key file of a `private_key_jwt` client.
fn key_file(server: &AuthorizationServer, name: &str) -> SecretSource {
    SecretSource::file(server.key_dir().join(name))
}

#[tokio::test]
async fn private_key_jwt_rs256_ps256_es256_tokens_are_active() {
    let server = AuthorizationServer::start_or_fail("private_key_jwt");
    let cases = [
        ("tokensource-rs256", "rs256.pem", None),
        (
            "tokensource-ps256",
            "ps256.pem",
            Some(SigningAlgorithm::Ps256),
        ),
        ("tokensource-es256", "es256.pem", None),
        (
            "tokensource-es256",
            "es256-pkcs8.pem",
            Some(SigningAlgorithm::Es256),
        ),
    ];
    for (client, key, alg) in cases {
        let mut builder = ClientCredentialsBuilder::new(server.url("/oauth/v2/token"), client)
            .private_key(key_file(&server, key))
            .key_id(format!("{client}-key"))
            .scopes(["api:read"]);
        if let Some(alg) = alg {
            builder = builder.signing_alg(alg);
        }
        let source = builder.build().unwrap();
        // Twice: each assertion has its own jti, which the server checks for replays.
        for _ in 0..2 {
            let token = server.token_for(&source).await;
            let introspection = server.introspect(token.expose_secret()).await;
            assert_eq!(
                introspection["active"], true,
                "{client} {key}: {introspection}"
            );
            assert_eq!(introspection["client_id"], client, "{introspection}");
        }
    }
}

#[tokio::test]
async fn private_key_jwt_with_the_issuer_as_audience() {
    let server = AuthorizationServer::start_or_fail("issuer_audience");
    let source = ClientCredentialsBuilder::new(server.url("/oauth/v2/token"), "tokensource-es256")
        .private_key(key_file(&server, "es256.pem"))
        .assertion_audience(server.issuer())
        .build()
        .unwrap();
    let token = server.token_for(&source).await;
    assert_eq!(
        server.introspect(token.expose_secret()).await["active"],
        true
    );
}

#[tokio::test]
async fn client_secret_jwt_token_is_active() {
    let server = AuthorizationServer::start_or_fail("client_secret_jwt");
    let source = ClientCredentialsBuilder::new(server.url("/oauth/v2/token"), "tokensource-hs256")
        .client_secret(SECRET)
        .auth_style(AuthStyle::ClientSecretJwt)
        .build()
        .unwrap();
    let token = server.token_for(&source).await;
    let introspection = server.introspect(token.expose_secret()).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["client_id"], "tokensource-hs256");
}

#[tokio::test]
async fn a_wrong_key_or_secret_is_rejected() {
    let server = AuthorizationServer::start_or_fail("wrong_key");
    // Another RSA key, made here: the server knows only the client's registered one.
    let stranger =
        rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            .unwrap()
            .serialize_pem();
    let wrong_key =
        ClientCredentialsBuilder::new(server.url("/oauth/v2/token"), "tokensource-rs256")
            .private_key(stranger)
            .build()
            .unwrap();
    let error = wrong_key.token().await.unwrap_err();
    assert_invalid_client(&error);

    // A key of the right client with the wrong algorithm for its registration.
    let wrong_alg =
        ClientCredentialsBuilder::new(server.url("/oauth/v2/token"), "tokensource-rs256")
            .private_key(key_file(&server, "rs256.pem"))
            .signing_alg(SigningAlgorithm::Ps256)
            .build()
            .unwrap();
    assert_eq!(
        wrong_alg.token().await.unwrap_err().kind(),
        ErrorKind::CredentialsRejected
    );

    let wrong_secret =
        ClientCredentialsBuilder::new(server.url("/oauth/v2/token"), "tokensource-hs256")
            .client_secret("not the secret")
            .auth_style(AuthStyle::ClientSecretJwt)
            .build()
            .unwrap();
    assert_eq!(
        wrong_secret.token().await.unwrap_err().kind(),
        ErrorKind::CredentialsRejected
    );
}

/// A `tls_client_auth` client of the server's HTTPS listener, presenting the client certificate
/// of `identity` (a [`TestPki`]) and trusting `pki`'s CA for the server.
fn tls_client(
    server: &AuthorizationServer,
    pki: &TestPki,
    identity: &TestPki,
) -> ClientCredentialsTokenSource {
    let options = tokensource_http::HttpOptions::default()
        .with_proxy(tokensource_http::Proxy::None)
        .with_ca_file(pki.ca_file())
        .with_client_identity_files(identity.client_cert_file(), identity.client_key_file());
    ClientCredentialsBuilder::new(server.tls_url("/oauth/v2/token"), "tokensource-mtls")
        .auth_style(AuthStyle::TlsClientAuth)
        .http_options(options)
        .build()
        .unwrap()
}

/// RFC 8705 2.1 against a server that checks it: the certificate the transport presents is the
/// client's credential. One from another CA, with the same subject, is refused as
/// `invalid_client` (the handshake itself succeeds: the server, not TLS, refuses).
#[tokio::test]
async fn tls_client_auth_token_is_active_and_a_stranger_certificate_is_rejected() {
    let pki = TestPki::new();
    let server = AuthorizationServer(OidcServer::start_tls_or_fail(
        "tls_client_auth",
        &interop_dir(),
        SECRET,
        &pki,
    ));
    let token = server.token_for(&tls_client(&server, &pki, &pki)).await;
    let introspection = server.introspect(token.expose_secret()).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["client_id"], "tokensource-mtls");

    let stranger = TestPki::new();
    let error = tls_client(&server, &pki, &stranger)
        .token()
        .await
        .unwrap_err();
    assert_invalid_client(&error);
}
