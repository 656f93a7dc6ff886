//! Keys and assertions are secrets: the private key, a signed assertion, a ready assertion and
//! the signer never show in `Debug`, errors or tracing, also when the server echoes them back.

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use tokensource::client_credentials::{AssertionSigner, AuthStyle, ClientCredentialsBuilder};
use tokensource::{SecretSource, TokenSource};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::sentinel::{CLIENT_ID, SECRET, Seen};

/// A ready assertion holding the sentinel.
const ASSERTION: &str = "eyJ.SENTINEL-ASSERTION-0c4e.sig";

/// Answers 401 with an RFC 6749 error that quotes the whole request body back.
struct Echo;

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let decoded: Vec<String> = url::form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client",
            "error_description": format!("bad request: {body} {}", decoded.join(" ")),
        }))
    }
}

#[tokio::test]
async fn keys_and_assertions_never_show() {
    let mut seen = Seen::new("client authentication");
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let pem = key.serialize_pem();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    seen.forbid(body[..24].to_owned());
    seen.forbid(body[body.len() - 24..].to_owned());

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Echo)
        .mount(&server)
        .await;
    let url = format!("{}/token", server.uri());

    let signer = AssertionSigner::private_key(pem.clone(), None).unwrap();
    seen.debug("signer", &signer);
    let signed = signer.sign(CLIENT_ID, &url).unwrap();
    let signed = secrecy::ExposeSecret::expose_secret(&signed).to_owned();
    // The signature part is what an attacker could replay: never shown.
    seen.forbid(signed.rsplit('.').next().unwrap().to_owned());

    let builders = [
        ClientCredentialsBuilder::new(&url, CLIENT_ID).private_key(pem.clone()),
        ClientCredentialsBuilder::new(&url, CLIENT_ID).client_assertion(ASSERTION),
        ClientCredentialsBuilder::new(&url, CLIENT_ID)
            .client_secret(SECRET)
            .auth_style(AuthStyle::ClientSecretJwt),
    ];
    for builder in builders {
        seen.debug("builder", &builder);
        let source = builder.build().unwrap();
        seen.debug("source", &source);
        seen.token_error("echoed", &source.token().await.unwrap_err());
    }

    // Keys that do not work: the errors name the setting, never the key.
    let not_a_key = format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n");
    for bad in [not_a_key, format!("{pem}{SECRET}"), SECRET.to_owned()] {
        if let Err(error) = AssertionSigner::private_key(bad.clone(), None) {
            seen.token_error("bad key", &error);
        }
        if let Err(error) = ClientCredentialsBuilder::new(&url, CLIENT_ID)
            .private_key(bad)
            .build()
        {
            seen.token_error("bad key in a builder", &error);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let assertion_file = dir.path().join("token");
    std::fs::write(&assertion_file, format!("{ASSERTION}\n")).unwrap();
    let from_file = ClientCredentialsBuilder::new(&url, CLIENT_ID)
        .client_assertion(SecretSource::file(&assertion_file))
        .build()
        .unwrap();
    std::fs::write(&assertion_file, format!("{ASSERTION}\n\u{7}")).unwrap();
    seen.token_error(
        "assertion with a control character",
        &from_file.token().await.unwrap_err(),
    );
    seen.check();
}
